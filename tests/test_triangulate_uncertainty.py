"""Each point's precision from its views: the covariance matches the projection's Jacobian, unsure or
missing views widen it, and a smoother that weights points by it leans on the precise frames."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.simulate.rigs import make_rig
from mv3d.triangulate.filtering import smooth_trajectory
from mv3d.triangulate.uncertainty import point_covariance, relative_precision


def _rig_and_point():
    probe = make_rig("opencap2", np.zeros(3), np.array([1.0, 0.0, 0.0]), jitter=False)
    up = probe.R_to_opensim.T @ np.array([0.0, 1.0, 0.0])
    forward = np.cross(up, [0.0, 0.0, 1.0] if abs(up[2]) < 0.9 else [1.0, 0.0, 0.0])
    forward /= np.linalg.norm(forward)
    centre = 0.9 * up
    return make_rig("opencap2", centre, forward, jitter=False), centre


def _numeric_covariance(rig, X, weights):
    info = np.zeros((3, 3))
    for c in range(len(rig)):
        jac = np.stack([(rig.project(X + e)[c] - rig.project(X - e)[c]) / 2e-6 for e in 1e-6 * np.eye(3)], -1)
        info += weights[c] ** 2 * jac.T @ jac
    return np.linalg.inv(info)


def test_covariance_matches_the_projection_jacobian_and_grows_with_unsure_views():
    rig, X = _rig_and_point()
    points = np.tile(X, (3, 1, 1))  # (F=3, J=1, 3)
    used = np.ones((2, 3, 1), bool)
    used[1, 2] = False  # frame 2: one view only
    conf = np.array([[[1.0], [1.0], [1.0]], [[1.0], [0.3], [1.0]]])
    cov = point_covariance(rig, points, used, conf)
    # the rig's (slightly distorting) projection, differentiated numerically: within 5 %
    for f, w in ((0, [1.0, 1.0]), (1, [1.0, 0.3])):
        ref = _numeric_covariance(rig, X, np.array(w))
        np.testing.assert_allclose(np.trace(cov[f, 0]), np.trace(ref), rtol=0.05)
    sd = np.sqrt(np.trace(cov[:, 0], axis1=-2, axis2=-1))
    assert 1e-4 < sd[0] < 1e-2  # metres per pixel of noise: about 1 mm at 3 m with a 1000 px focal length
    assert sd[1] > 2 * sd[0]  # an unsure view at 0.3 widens the point
    assert sd[2] > 1e3  # one view: depth unknown


def test_relative_precision_is_one_for_a_typical_frame_floored_for_one_view_zero_when_missing():
    rig, X = _rig_and_point()
    points = np.tile(X, (10, 2, 1))
    points[9, 1] = np.nan
    used = np.ones((2, 10, 2), bool)
    used[1, 8] = False
    conf = np.ones((2, 10, 2))
    conf[1, 0] = 0.4
    w = relative_precision(rig, points, used, conf, floor=0.05)
    assert w.shape == (10, 2)
    np.testing.assert_allclose(w[1:8], 1.0)
    assert 0.05 < w[0, 0] < 0.7
    np.testing.assert_allclose(w[8], 0.05)
    assert w[9, 1] == 0.0 and w[9, 0] == pytest.approx(1.0)
    with pytest.raises(InputError, match="point_covariance expects"):
        point_covariance(rig, points, used[:, :5], conf)


def test_weighted_smoothing_leans_on_precise_neighbours_in_a_noisy_stretch():
    fps = 60.0
    t = np.arange(240) / fps
    truth = np.stack([0.3 * np.sin(2 * np.pi * 1.5 * t), 0.9 + 0.1 * np.cos(2 * np.pi * 2.0 * t), 0 * t], -1)
    truth = np.repeat(truth[:, None], 6, axis=1)  # 6 joints, independent noise
    std = np.full((240, 6), 0.005)
    std[100:112] = 0.03  # 0.2 s occluded in one view: 6 times the noise
    noisy = truth + np.random.default_rng(3).normal(size=truth.shape) * std[..., None]
    weights = 0.005 / std
    stretch = slice(100, 112)
    err = {}
    for spec in ("kalman:6", "weighted_kalman:6"):
        out, _ = smooth_trajectory(noisy, fps, spec, weights=weights if spec.startswith("weighted") else None)
        err[spec] = np.sqrt(np.mean((out[stretch] - truth[stretch]) ** 2))
    assert err["weighted_kalman:6"] < 0.7 * err["kalman:6"], err  # about 0.5
    with pytest.raises(InputError, match="needs weights of shape"):
        smooth_trajectory(noisy, fps, "weighted_kalman:6")
