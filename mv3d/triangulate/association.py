"""Which detected person is the subject in each view: cross-view association per frame.

For each frame every pair of cameras and every pair of their detected people gives a
hypothesis skeleton (two-view DLT of all joints). The hypothesis is projected into every
camera and compared with every person there (median pixel distance over joints seen by
both); its score is the sum over cameras of the best person's distance, truncated at
``max_px``. The best hypothesis of the frame chooses, in every camera, the person closest
to it, or nobody when no one is within ``max_px``. Vectorised over frames, camera pairs,
person pairs and joints.
"""
from __future__ import annotations

import logging
import warnings
from itertools import combinations, product
from typing import TYPE_CHECKING

import numpy as np

from mv3d.errors import InputError
from mv3d.geometry import normal_terms, sym3_solve

if TYPE_CHECKING:  # pragma: no cover
    from mv3d.camera import CameraRig

log = logging.getLogger(__name__)


def _median_distance(proj: np.ndarray, cands: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Median over joints of |proj - cand|: proj (C, F, H, J, 2), cands (C, F, P, J, 2) -> (C, F, H, P)."""
    d = np.linalg.norm(proj[:, :, :, None] - cands[:, :, None], axis=-1)  # (C, F, H, P, J)
    d = np.where(ok[:, :, None] & np.isfinite(d), d, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(d, axis=-1)
    enough = (np.isfinite(d).sum(-1) >= 4)
    return np.where(enough, med, np.inf)


def associate_people(rig: CameraRig, candidates: np.ndarray, min_confidence: float = 0.3,
                     max_px: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Choose the subject among the people detected in each camera and frame.

    rig: C cameras; candidates: (C, F, P, J, 3) every detected person (x, y, confidence;
    absent people all-NaN or zero confidence). Returns keypoints (C, F, J, 3) of the chosen
    person (NaN, confidence 0 where nobody matches) and chosen (C, F) person index (-1: none).
    """
    cand = np.asarray(candidates, dtype=float)
    if cand.ndim != 5 or cand.shape[-1] != 3:
        raise InputError(f"candidates must have shape (C, F, P, J, 3), got {cand.shape}")
    C, F, P, J, _ = cand.shape
    if C != len(rig):
        raise InputError(f"candidates hold {C} cameras but the calibration has {len(rig)}")
    ok = np.isfinite(cand[..., :2]).all(-1) & (np.nan_to_num(cand[..., 2]) >= min_confidence)
    uv = np.where(ok[..., None], cand[..., :2], 0.0)
    xy = rig.undistort_points(uv.reshape(C, -1, 2)).reshape(C, F, P, J, 2)
    ok &= np.isfinite(xy).all(-1)
    xy = np.where(ok[..., None], xy, 0.0)
    Pm = rig.normalized_projection_matrices()
    focal = rig.focal_lengths
    M, b = normal_terms(Pm, xy.reshape(C, -1, 2), ok.reshape(C, -1) * (focal ** 2)[:, None])
    M, b = M.reshape(C, F, P, J, 6), b.reshape(C, F, P, J, 3)
    hyps = [(ca, cb, pa, pb) for ca, cb in combinations(range(C), 2) for pa, pb in product(range(P), range(P))]
    ca, cb, pa, pb = (np.array(h) for h in zip(*hyps))
    X = sym3_solve(M[ca, :, pa] + M[cb, :, pb], b[ca, :, pa] + b[cb, :, pb])  # (H, F, J, 3)
    X = np.where((ok[ca, :, pa] & ok[cb, :, pb])[..., None], X, np.nan)
    X = np.moveaxis(X, 0, 1)  # (F, H, J, 3)
    proj = rig.project(X)  # (C, F, H, J, 2)
    dist = _median_distance(proj, np.where(ok[..., None], cand[..., :2], np.nan), ok)  # (C, F, H, P)
    best_person = np.argmin(dist, axis=-1)  # (C, F, H)
    best_dist = np.take_along_axis(dist, best_person[..., None], -1)[..., 0]
    score = np.minimum(best_dist, max_px).sum(0)  # (F, H)
    h = np.argmin(score, axis=1)  # (F,)
    frames = np.arange(F)
    chosen = best_person[:, frames, h]  # (C, F)
    chosen = np.where(best_dist[:, frames, h] < max_px, chosen, -1)
    out = np.take_along_axis(cand, np.maximum(chosen, 0)[:, :, None, None, None], 2)[:, :, 0].copy()
    out[chosen < 0] = [np.nan, np.nan, 0.0]
    out[~np.isfinite(out[..., :2]).all(-1)] = [np.nan, np.nan, 0.0]
    log.info("person association: subject found in %s of %d frames per camera",
             (chosen >= 0).sum(1).tolist(), F)
    return out, chosen
