"""Algebraic triangulation: exactness on the real Human3.6M rig, robustness, torch version, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.triangulate import reconstruct, triangulate
from mv3d.triangulate.algebraic import triangulate_dlt
from mv3d.triangulate.evaluation import corrupt_keypoints, mpjpe
from mv3d.triangulate.robust import RobustParams, robust_triangulate


@pytest.fixture(scope="module")
def h36m_rig(shared_data):
    from calibration import load_rig

    return load_rig(shared_data / "mmpose-samples" / "h36m" / "cameras.pkl", subject="S1")


@pytest.fixture(scope="module")
def walk(shared_data):
    """Real walk (OpenSim Gait2354 markers) as MV3D23 joints with constant bones, in the H36M world (Z up)."""
    from mv3d.io import read_trc
    from mv3d.triangulate.evaluation import skeleton_from_gait_markers

    trc = read_trc(shared_data / "opensim-gait2354" / "subject01_walk1.trc")
    joints = skeleton_from_gait_markers(trc.points, trc.marker_names)
    y_up_to_z_up = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    joints = joints @ y_up_to_z_up.T
    joints[..., :2] -= joints[..., :2].reshape(-1, 2).mean(0)
    return joints


def _exact_keypoints(rig, X):
    uv = rig.project(X)
    return np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)


def test_noise_free_h36m_is_exact(h36m_rig):
    rng = np.random.default_rng(0)
    X = rng.uniform([-1.5, -1.5, 0.0], [1.5, 1.5, 1.9], (40, 23, 3))
    kp = _exact_keypoints(h36m_rig, X)
    # The H36M lenses are strongly distorted (k1 = -0.2): exactness proves the undistortion
    # and the DLT. 0.1 mm is the spec; double precision gives ~1e-9 m.
    Xd, used, err = triangulate_dlt(h36m_rig, kp)
    assert np.abs(Xd - X).max() < 1e-4
    assert used.all() and np.nanmax(err) < 1e-6
    Xr, used, err, swapped = robust_triangulate(h36m_rig, kp)
    assert np.abs(Xr - X).max() < 1e-4
    assert used.all() and not swapped.any()
    assert np.abs(triangulate(h36m_rig, kp) - X).max() < 1e-4


def test_confidence_weights_pull_towards_the_confident_view(h36m_rig):
    rng = np.random.default_rng(1)
    X = rng.uniform([-1, -1, 0.2], [1, 1, 1.6], (1, 50, 3))
    kp = _exact_keypoints(h36m_rig, X)
    kp[0, ..., :2] += 6.0  # camera 0 off by 6 px
    low = kp.copy()
    low[0, ..., 2] = 0.05
    e_equal = np.linalg.norm(triangulate_dlt(h36m_rig, kp)[0] - X, axis=-1).mean()
    e_low = np.linalg.norm(triangulate_dlt(h36m_rig, low)[0] - X, axis=-1).mean()
    assert e_low < 0.25 * e_equal  # a 20x smaller weight removes most of the bias


def test_robust_matches_inlier_oracle_on_corrupted_walk(h36m_rig, walk):
    rng = np.random.default_rng(2)
    kp, truth = corrupt_keypoints(h36m_rig.project(walk), rng, noise_px=2.0, outlier_rate=0.1,
                                  swap_rate=0.05)
    X, used, err, swapped = robust_triangulate(h36m_rig, kp)
    # Oracle: the same weighted DLT knowing exactly which views are inliers.
    good = ~truth.outlier & ~truth.swapped
    X_oracle = triangulate_dlt(h36m_rig, kp, weights=np.where(good, kp[..., 2], 0.0))[0]
    both = np.isfinite(X).all(-1) & np.isfinite(X_oracle).all(-1)
    e_robust, e_oracle = mpjpe(X[both], walk[both]), mpjpe(X_oracle[both], walk[both])
    assert e_robust < 1.15 * e_oracle, (e_robust, e_oracle)
    naive = triangulate_dlt(h36m_rig, kp)[0]
    assert mpjpe(naive, walk) > 5 * e_oracle  # the corruption is severe: all views together fail
    # Points the oracle can triangulate are (almost) all recovered; a point the oracle
    # cannot (fewer than 2 true inliers) is rarely reconstructed anyway.
    assert (np.isfinite(X_oracle).all(-1) & ~np.isfinite(X).all(-1)).mean() < 0.01
    assert (np.isfinite(X).all(-1) & ~np.isfinite(X_oracle).all(-1)).mean() < 0.02
    # Outlier views are excluded, inlier views kept.
    assert (used & truth.outlier).sum() < 0.02 * truth.outlier.sum()
    assert used[good].mean() > 0.97
    # Swapped views are recognised and swapped back (not only discarded).
    assert (swapped & truth.swapped).sum() > 0.4 * truth.swapped.sum()
    assert (swapped & ~truth.swapped).sum() < 0.05 * swapped.sum()
    # The reprojection errors of the inlier views are the 2 px noise, of the outliers large.
    assert np.nanmedian(err[used]) < 4.0
    assert np.nanmedian(err[truth.outlier]) > 40.0


def test_points_with_one_view_are_nan_and_flagged(h36m_rig):
    X = np.array([[[0.1, 0.2, 1.0], [0.3, -0.2, 0.5], [0.0, 0.0, 1.2]]])
    kp = _exact_keypoints(h36m_rig, X)
    kp[1:, 0, 0] = [np.nan, np.nan, 0.0]  # joint 0 seen by camera 0 only
    kp[:, 0, 2] = [np.nan, np.nan, 0.0]  # joint 2 seen by nobody
    res = reconstruct(h36m_rig, kp)
    assert np.isnan(res.points[0, [0, 2]]).all()
    assert res.missing[0].tolist() == [True, False, True]
    assert np.abs(res.points[0, 1] - X[0, 1]).max() < 1e-6
    assert not res.used[:, 0, 0].any() and not res.used[:, 0, 2].any()
    assert np.isnan(res.errors[:, 0, 2]).all()


def test_bad_input_gives_clear_errors(h36m_rig):
    X = np.zeros((5, 23, 3)) + [0, 0, 1]
    kp = _exact_keypoints(h36m_rig, X)
    with pytest.raises(InputError, match="at least 2 cameras"):
        triangulate(h36m_rig.subset([h36m_rig.names[0]]), kp[:1])
    with pytest.raises(InputError, match="4 cameras but the calibration has 3"):
        triangulate(h36m_rig.subset(h36m_rig.names[:3]), kp)
    with pytest.raises(InputError, match=r"differ in shape.*camera 1: 4 frames"):
        triangulate(h36m_rig, [kp[0], kp[1, :4], kp[2], kp[3]])
    with pytest.raises(InputError, match=r"shape \(C, F, J, 3\)"):
        triangulate(h36m_rig, kp[..., :2])
    with pytest.raises(InputError, match="unknown triangulation method 'dlt'"):
        triangulate(h36m_rig, kp, method="dlt")
    with pytest.raises(InputError, match="min_views must be at least 2"):
        RobustParams(min_views=1)
    nan_kp = np.full_like(kp, np.nan)
    nan_kp[..., 2] = 0
    out = triangulate(h36m_rig, nan_kp)
    assert out.shape == (5, 23, 3) and np.isnan(out).all()


def test_parallel_rays_are_nan_not_garbage():
    K = np.array([[1000.0, 0, 500], [0, 1000, 500], [0, 0, 1]])
    cams = [Camera("a", (1000, 1000), K, None, np.eye(3), [0, 0, 0]),
            Camera("b", (1000, 1000), K, None, np.eye(3), [0, 0, 0])]  # same centre: rays coincide
    rig = CameraRig(cams)
    kp = np.array([[[[500.0, 500.0, 1.0]]], [[[500.0, 500.0, 1.0]]]])
    assert np.isnan(triangulate_dlt(rig, kp)[0]).all()


def test_torch_dlt_matches_numpy_and_is_differentiable(h36m_rig):
    import torch

    from mv3d.triangulate.algebraic import triangulate_dlt_torch

    rng = np.random.default_rng(3)
    X = rng.uniform([-1, -1, 0.2], [1, 1, 1.6], (2, 30, 3))
    kp = _exact_keypoints(h36m_rig, X)
    kp[..., :2] += rng.normal(0, 3.0, kp[..., :2].shape)
    kp[..., 2] = rng.uniform(0.3, 1.0, kp.shape[:-1])
    X_np = triangulate_dlt(h36m_rig, kp)[0]
    xy = torch.tensor(h36m_rig.undistort_points(kp[..., :2]).transpose(1, 0, 2, 3), requires_grad=True)
    w = torch.tensor(kp[..., 2].transpose(1, 0, 2), requires_grad=True)
    P = torch.tensor(h36m_rig.normalized_projection_matrices())
    X_t = triangulate_dlt_torch(P, xy, w, focal=torch.tensor(h36m_rig.focal_lengths))
    assert np.abs(X_t.detach().numpy() - X_np).max() < 1e-9  # same estimator
    X_t.sum().backward()
    assert torch.isfinite(xy.grad).all() and xy.grad.abs().sum() > 0 and torch.isfinite(w.grad).all()
    # Gradient check of the whole solve on a small problem.
    P_small = P[:3]
    xy_s = xy.detach()[:1, :3, :2].clone().requires_grad_(True)
    w_s = w.detach()[:1, :3, :2].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: triangulate_dlt_torch(P_small, a, b), (xy_s, w_s))
