"""Bundle adjustment on synthetic truth: a walking stick figure and a moving board."""
from __future__ import annotations

import numpy as np
import pytest

from calibration.board import Checkerboard
from calibration.bundle import (_Reduced, _triangulate, bundle_adjust, calibrate_from_board,
                                calibrate_from_keypoints, estimate_height)
from calibration.synthetic import observe, perturb, ring_rig, stick_figure
from mv3d.errors import InputError
from mv3d.skeleton import MV3D23


def test_stick_figure_height_and_estimate():
    X = stick_figure(60, height=1.62)
    assert estimate_height(X, MV3D23) == pytest.approx(1.62, rel=1e-9)
    assert X[..., 2].min() > -0.01 and X[..., 2].max() < 1.62  # feet on the floor, head below the top


def test_reduced_jacobian_matches_finite_differences():
    rng = np.random.default_rng(3)
    truth = ring_rig(3)
    kp = observe(truth, stick_figure(12), 0.0, rng)
    obs, w = kp[..., :2].reshape(3, -1, 2), kp[..., 2].reshape(3, -1)
    ci, pi = np.nonzero(w > 0)
    prob = _Reduced(truth, ci, pi, obs[ci, pi], np.sqrt(w[ci, pi]), _triangulate(truth, obs, w), 0, True, True)
    x0 = prob.x0()
    J = prob.jacobian(x0)
    dense = np.stack([J.matvec(e) for e in np.eye(prob.n_params)], axis=1)
    fd = np.empty_like(dense)
    for i in range(prob.n_params):
        step = np.zeros(prob.n_params)
        step[i] = 1e-6
        cols = []
        for sign in (1, -1):
            prob._key = None
            prob.solve_points(x0 + sign * step, 5)
            prob._key = None
            cols.append(prob.residuals(x0 + sign * step).copy())
        fd[:, i] = (cols[0] - cols[1]) / 2e-6
    # at zero residual the variable-projection Jacobian is exact: agreement to FD precision
    assert np.abs(dense - fd).max() < 1e-4 * np.abs(fd).max()


@pytest.mark.slow
def test_keypoints_only_bundle_recovers_cameras_and_scale():
    rng = np.random.default_rng(0)
    truth = ring_rig(4)
    person = stick_figure(200, height=1.75)
    kp = observe(truth, person, noise_px=2.0, rng=rng, outlier_fraction=0.02)
    start = perturb(truth, rng, degrees=3.0, metres=0.10)
    res = calibrate_from_keypoints(start, kp, height=1.75)
    assert res.error_before.min() > 10  # the perturbation is really felt
    # acceptance figures: centres within 2 cm, median reprojection below 2.5 px (2 px noise)
    assert np.linalg.norm(res.rig.centers - truth.centers, axis=1).max() < 0.02
    assert np.median(res.error_after) < 2.5
    # metric scale from the height: camera baselines within 1 % of the truth
    d_true = np.linalg.norm(truth.centers[:, None] - truth.centers[None], axis=-1)
    d_est = np.linalg.norm(res.rig.centers[:, None] - res.rig.centers[None], axis=-1)
    off = ~np.eye(4, dtype=bool)
    assert np.abs(d_est[off] / d_true[off] - 1).max() < 0.01
    assert np.nanmedian(np.linalg.norm(res.points.reshape(person.shape) - person, axis=-1)) < 0.02
    # the gross outliers (30-120 px) are left out of the last round, the good observations kept
    gross = np.linalg.norm(kp[..., :2] - truth.project(person), axis=-1) > 20
    inliers = res.inliers.reshape(gross.shape)
    assert inliers[gross].mean() < 0.02 and inliers[~gross & (kp[..., 2] > 0)].mean() > 0.97
    np.testing.assert_array_equal(res.rig[0].R, truth[0].R)  # gauge camera untouched


def test_board_bundle_scale_from_square_size():
    rng = np.random.default_rng(1)
    truth = ring_rig(3, radius=3.0)
    board = Checkerboard(7, 5, 0.06)
    obj = board.object_points()
    views = []
    for _ in range(25):  # the board carried around the volume, tilted
        from scipy.spatial.transform import Rotation

        R = Rotation.from_euler("xyz", rng.uniform(-40, 40, 3), degrees=True).as_matrix()
        views.append(obj @ R.T + rng.uniform([-0.6, -0.6, 0.5], [0.6, 0.6, 1.5]))
    pts = np.array(views)  # (V, N, 3)
    uv = truth.project(pts) + rng.normal(0, 0.3, (3,) + pts.shape[:2] + (2,))
    uv[1, :5] = np.nan  # the second camera misses a few views
    start = perturb(truth, rng, degrees=2.0, metres=0.08)
    res = calibrate_from_board(start, uv, board.square_size, board.cols, board.rows)
    # 0.3 px corner noise: centres within 5 mm, scale within 0.5 %
    assert np.linalg.norm(res.rig.centers - truth.centers, axis=1).max() < 0.005
    assert res.scale == pytest.approx(1.0, abs=0.05)
    d_true = np.linalg.norm(truth.centers[1] - truth.centers[2])
    assert np.linalg.norm(res.rig.centers[1] - res.rig.centers[2]) == pytest.approx(d_true, rel=0.005)


def test_board_seen_by_one_camera_is_an_error():
    truth = ring_rig(3)
    obs = np.full((3, 40, 2), np.nan)
    obs[0] = truth.project(np.random.default_rng(0).uniform(-0.5, 0.5, (40, 3)) + [0, 0, 1])[0]
    with pytest.raises(InputError, match="only 0 points are seen by two or more cameras"):
        bundle_adjust(truth, obs)
    obs[1] = truth.project(np.random.default_rng(0).uniform(-0.5, 0.5, (40, 3)) + [0, 0, 1])[1]
    with pytest.raises(InputError, match=r"camera\(s\) cam2 share fewer than 6 points"):
        bundle_adjust(truth, obs)
