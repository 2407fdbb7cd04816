"""Volumetric triangulation (exactness, network-heatmap path) and limb-constrained refinement."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.triangulate import reconstruct
from mv3d.triangulate.evaluation import bone_length_cv, corrupt_keypoints, mpjpe
from mv3d.triangulate.volumetric import HeatmapArrays, VolumetricParams, triangulate_volumetric

from tests.test_triangulate_algebraic import h36m_rig, walk  # noqa: F401  (fixtures)


def _exact(rig, X):
    uv = rig.project(X)
    return uv, np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)


def test_volumetric_noise_free_h36m_within_2mm(h36m_rig, walk):  # noqa: F811
    X = walk[::30]  # 6 frames of the real walk
    _, kp = _exact(h36m_rig, X)
    rng = np.random.default_rng(0)
    init = X + rng.normal(0, 0.03, X.shape)  # a 3 cm-off algebraic start
    out = triangulate_volumetric(h36m_rig, kp, init)
    # Spec: 2 mm. The first cube is 2 m wide with 12^3 voxels (17 cm); coarse-to-fine
    # soft-argmax of the product of exact Gaussian likelihoods reaches ~0.3 mm.
    assert np.abs(out - X).max() < 2e-3
    # The "sum" aggregation (Iskakov et al.) is biased by the single-view rays: ~3-5 mm.
    out_sum = triangulate_volumetric(h36m_rig, kp, init, params=VolumetricParams(aggregation="sum"))
    assert np.median(np.linalg.norm(out_sum - X, axis=-1)) < 8e-3


def test_volumetric_from_network_heatmaps(h36m_rig, walk):  # noqa: F811
    """Heatmaps as a top-down network gives them: 64x64 over a 400 px box per camera and frame."""
    X = walk[::50][:3]
    uv, kp = _exact(h36m_rig, X)
    H = W = 64
    centre = np.nanmean(uv, axis=2)  # (C, F, 2)
    boxes = np.concatenate([centre - 200, centre + 200], axis=-1)  # (C, F, 4)
    px = 400 / W
    gx = boxes[..., 0, None] + (np.arange(W) + 0.5) * px  # (C, F, W)
    gy = boxes[..., 1, None] + (np.arange(H) + 0.5) * px
    sigma = 2 * px  # 2 heatmap pixels, as the usual training targets
    hm = np.exp(-((gx[:, :, None, None, :] - uv[..., 0, None, None]) ** 2
                  + (gy[:, :, None, :, None] - uv[..., 1, None, None]) ** 2) / (2 * sigma ** 2))
    init = X + np.random.default_rng(1).normal(0, 0.03, X.shape)
    out = triangulate_volumetric(h36m_rig, kp, init, heatmaps=hm, heatmap_boxes=boxes,
                                 params=VolumetricParams(sigma_px=sigma))
    err = np.linalg.norm(out - X, axis=-1)
    # Bilinear sampling of a 6.25 px/pixel heatmap: a few millimetres at 5 m.
    assert np.median(err) < 5e-3, np.median(err)


def _rotated_heatmaps(uv: np.ndarray, angle: float, cell_px: float, sigma_cells: float = 1.5):
    """Heatmaps as BlazePose gives them: 64x64 over a rotated square region around each view's person, with
    their heatmap-cell -> image affines. uv (C, F, J, 2) -> maps (C, F, J, 64, 64), to_image (C, F, 2, 3)."""
    n = 64
    c, s = np.cos(angle), np.sin(angle)
    A = cell_px * np.array([[c, -s], [s, c]])
    centre = np.nanmean(uv, axis=2)                                   # (C, F, 2)
    t = centre - (A @ np.array([n / 2, n / 2]))
    to_image = np.concatenate([np.broadcast_to(A, t.shape[:2] + (2, 2)), t[..., None]], -1)
    cells = np.einsum("ab,cfjb->cfja", np.linalg.inv(A), uv - t[:, :, None])
    g = np.arange(n)
    maps = np.exp(-((g[None, :] - cells[..., 0, None, None]) ** 2 + (g[:, None] - cells[..., 1, None, None]) ** 2)
                  / (2 * sigma_cells ** 2))
    return maps, to_image


def test_volumetric_from_rotated_crop_heatmaps_and_left_right_swaps(h36m_rig, walk):  # noqa: F811
    """BlazePose's case: maps in rotated crops (affines), no map for the small toes (NaN: the keypoints'
    Gaussians), and a view whose left/right labels the triangulation exchanged back."""
    from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX

    X = walk[::50][:3]
    uv, kp = _exact(h36m_rig, X)
    maps, to_image = _rotated_heatmaps(uv, angle=0.3, cell_px=7.0)
    toes = [JOINT_INDEX["l_small_toe"], JOINT_INDEX["r_small_toe"]]
    maps[:, :, toes] = np.nan
    init = X + np.random.default_rng(1).normal(0, 0.03, X.shape)
    params = VolumetricParams(sigma_px=10.0)
    out = triangulate_volumetric(h36m_rig, kp, init, heatmaps=HeatmapArrays(maps, to_image), params=params)
    err = np.linalg.norm(out - X, axis=-1)
    assert np.median(err) < 5e-3 and err[:, toes].max() < 5e-3, (np.median(err), err[:, toes].max())
    # camera 0, frame 1: the network labelled the knees the wrong way round (keypoints and maps alike);
    # the triangulation swapped the keypoints back and tells which views it swapped
    knees = [JOINT_INDEX["l_knee"], JOINT_INDEX["r_knee"]]
    swapped = np.zeros(kp.shape[:3], bool)
    swapped[0, 1, knees] = True
    raw = maps.copy()
    raw[0, 1] = maps[0, 1][FLIP_INDEX]
    fixed = triangulate_volumetric(h36m_rig, kp, init, heatmaps=HeatmapArrays(raw, to_image), params=params,
                                   swapped=swapped)
    ignored = triangulate_volumetric(h36m_rig, kp, init, heatmaps=HeatmapArrays(raw, to_image), params=params)
    assert np.linalg.norm(fixed[1, knees] - X[1, knees], axis=-1).max() < 5e-3
    assert np.linalg.norm(ignored[1, knees] - X[1, knees], axis=-1).max() > 2e-2


def test_volumetric_in_reconstruct_is_robust_to_outliers(h36m_rig, walk):  # noqa: F811
    X = walk[:12]
    rng = np.random.default_rng(2)
    kp, _ = corrupt_keypoints(h36m_rig.project(X), rng, noise_px=2.0, outlier_rate=0.1)
    alg = reconstruct(h36m_rig, kp)
    vol = reconstruct(h36m_rig, kp, method="volumetric")
    both = np.isfinite(alg.points).all(-1)
    # The volumes use the robust inlier views: as accurate as the algebraic (same information).
    assert mpjpe(vol.points[both], X[both]) < 1.1 * mpjpe(alg.points[both], X[both])


def test_volumetric_bad_params():
    with pytest.raises(InputError, match="aggregation must be one of"):
        VolumetricParams(aggregation="max")


def test_limb_refinement_on_corrupted_walk(h36m_rig, walk):  # noqa: F811
    from mv3d.triangulate.limbs import estimate_limb_lengths
    from mv3d.triangulate.evaluation import bone_lengths

    rng = np.random.default_rng(3)
    kp, _ = corrupt_keypoints(h36m_rig.project(walk), rng, noise_px=2.0, outlier_rate=0.1, swap_rate=0.05)
    alg = reconstruct(h36m_rig, kp)
    ref = reconstruct(h36m_rig, kp, limb_constraints=True, fps=60.0)
    both = np.isfinite(alg.points).all(-1) & np.isfinite(ref.points).all(-1)
    e_alg, e_ref = mpjpe(alg.points[both], walk[both]), mpjpe(ref.points[both], walk[both])
    assert e_ref < 0.7 * e_alg, (e_alg, e_ref)
    cv = bone_length_cv(ref.points)
    assert cv.mean() < 0.01 and np.median(cv) < 0.005, cv
    assert bone_length_cv(alg.points).mean() > 0.02  # the algebraic bones do vary
    # The estimated lengths match the true constant lengths within 1 cm.
    true = bone_lengths(walk)[0]
    est = estimate_limb_lengths(alg.points, alg.used)
    assert np.abs(est - true).max() < 0.01
    # The refined points stay on the images: inlier reprojection errors ~ the 2 px noise.
    assert np.nanmedian(ref.errors[alg.used]) < 3.0


def test_limb_prior_from_height():
    from mv3d.skeleton import LIMBS
    from mv3d.triangulate.limbs import estimate_limb_lengths, limb_lengths_from_height

    prior = limb_lengths_from_height(1.80)
    thigh = LIMBS.index(("l_hip", "l_knee"))
    assert prior[thigh] == pytest.approx(0.245 * 1.80)
    no_data = np.full((5, 23, 3), np.nan)
    est = estimate_limb_lengths(no_data, height=1.80, prior_weight=1.0)
    assert est[thigh] == pytest.approx(0.441) and np.isnan(est[LIMBS.index(("nose", "l_eye"))])


def test_filter_fills_short_gaps_and_reports_long_ones(h36m_rig, walk):  # noqa: F811
    from mv3d.triangulate.filtering import FilterSpec

    rng = np.random.default_rng(4)
    kp, _ = corrupt_keypoints(h36m_rig.project(walk), rng, noise_px=2.0, outlier_rate=0.0)
    lk = 13  # l_knee
    kp[:, 40:45, lk] = [np.nan, np.nan, 0.0]  # 5-frame gap: filled
    kp[:, 80:110, lk] = [np.nan, np.nan, 0.0]  # 30-frame gap: reported, stays NaN
    raw = reconstruct(h36m_rig, kp)
    res = reconstruct(h36m_rig, kp, filter="butterworth:6", fps=60.0, max_gap=10)
    assert np.isnan(raw.points[40:45, lk]).all() and np.isfinite(res.points[40:45, lk]).all()
    assert np.abs(res.points[40:45, lk] - walk[40:45, lk]).max() < 0.02  # interpolated within 2 cm
    assert np.isnan(res.points[80:110, lk]).all()
    assert [(g.index[0], g.start, g.stop, g.reason) for g in res.gaps] == [(lk, 80, 110, "too long")]
    ok = np.isfinite(res.points).all(-1)
    assert mpjpe(res.points[ok], walk[ok]) < mpjpe(raw.points[ok], walk[ok])  # 6 Hz removes noise
    with pytest.raises(InputError, match="needs the frame rate"):
        reconstruct(h36m_rig, kp, filter="butterworth:6")
    with pytest.raises(InputError, match="unknown filter 'median:3'"):
        FilterSpec.parse("median:3")
    with pytest.raises(InputError, match="below half the frame rate"):
        reconstruct(h36m_rig, kp, filter="butterworth:40", fps=60.0)
