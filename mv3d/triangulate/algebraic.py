"""Algebraic (DLT) triangulation, batched over every point at once, in numpy and torch.

The linear system of a point seen in camera c at undistorted normalised coordinates
(x, y) with normalised projection matrix P = [R | t] is

    (x P3 - P1) . [X, 1] = 0,   (y P3 - P2) . [X, 1] = 0.

Divided by the depth z = P3 . [X, 1] these residuals are exactly the reprojection error in
normalised coordinates, and multiplied by the focal length they are pixels. So the
weighted normal equations ``sum_c w_c f_c^2 / z_c^2 A_c^T A_c`` (3x3 for the inhomogeneous
point, solved in closed form by ``mv3d.geometry``) give, after one re-weighting with the depths of a first
solution, a confidence-weighted least-squares estimate in pixels: the "iterative DLT".
No Python loop over frames, joints or cameras.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mv3d.errors import InputError
from mv3d.geometry import outer_terms, sym3_solve

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mv3d.camera import CameraRig

def depths(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Depth of points X (..., N, 3) in each camera: (C, ..., N)."""
    z = np.matmul(X, P[:, 2, :3].T)  # (..., N, C); matmul is far faster than einsum here
    return np.moveaxis(z, -1, 0) + P[:, 2, 3].reshape((-1,) + (1,) * (X.ndim - 1))


def residuals_px(P: np.ndarray, focal: np.ndarray, xy: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Reprojection error in undistorted pixels (f * normalised distance): (C, ..., N).

    P: (C, 3, 4); focal: (C,); xy: (C, N, 2); X: (..., N, 3) one or several hypotheses.
    Points at or behind a camera get +inf in that camera.
    """
    extra = X.ndim - 2
    Xc = np.tensordot(P[:, :, :3], X, axes=([2], [X.ndim - 1]))  # (C, 3, ..., N)
    Xc += P[:, :, 3].reshape(P.shape[:2] + (1,) * (X.ndim - 1))
    xc, yc, zc = Xc[:, 0], Xc[:, 1], Xc[:, 2]
    obs = xy.reshape((xy.shape[0],) + (1,) * extra + xy.shape[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.hypot(xc / zc - obs[..., 0], yc / zc - obs[..., 1])
    err = err * focal.reshape((-1,) + (1,) * (err.ndim - 1))
    return np.where(zc > 1e-6, err, np.inf)


def solve_weighted(P: np.ndarray, focal: np.ndarray, O: np.ndarray, w: np.ndarray,
                   reweight: int = 1) -> np.ndarray:
    """Weighted DLT of N points from the views with w > 0, with depth re-weighting.

    P: (C, 3, 4); focal: (C,); O: (C, N, 9) ``outer_terms``; w: (C, N) >= 0. Returns X (N, 3),
    NaN where fewer than two views carry weight or the rays are degenerate.
    """
    w = w * (focal ** 2)[:, None]
    S = np.einsum("cn,cnk->nk", w, O)
    X = sym3_solve(S[:, :6], -S[:, 6:])
    for _ in range(reweight):
        z = depths(P, np.nan_to_num(X))
        S = np.einsum("cn,cnk->nk", w / np.where(z > 1e-6, z, np.inf) ** 2, O)
        X = sym3_solve(S[:, :6], -S[:, 6:])
    X[(w > 0).sum(0) < 2] = np.nan
    return X


def check_keypoints(rig: CameraRig, keypoints: np.ndarray) -> np.ndarray:
    """Validate 2D keypoints (C, ..., 3) against a rig; returns them as float64."""
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim < 2 or kp.shape[-1] != 3:
        raise InputError(f"keypoints must have shape (C, F, J, 3) = x, y, confidence; got {kp.shape}")
    if kp.shape[0] != len(rig):
        raise InputError(f"keypoints hold {kp.shape[0]} cameras but the calibration has {len(rig)} "
                         f"({', '.join(rig.names)}); select the matching cameras")
    if len(rig) < 2:
        raise InputError(f"triangulation needs at least 2 cameras, got {len(rig)} ({', '.join(rig.names)})")
    return kp


def triangulate_dlt(rig: CameraRig, keypoints: np.ndarray, weights: np.ndarray | None = None,
                    min_confidence: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence-weighted DLT of every point with every view (no outlier rejection).

    rig: C cameras; keypoints: (C, ..., 3) pixels + confidence (distorted image);
    weights: optional (C, ...) weights replacing the confidences. Views with confidence
    <= min_confidence or NaN coordinates are not used.
    Returns points (..., 3) (NaN where < 2 views), used (C, ...) bool, errors (C, ...) pixels
    (with distortion, NaN where the view has no detection).
    """
    kp = check_keypoints(rig, keypoints)
    shape = kp.shape[1:-1]
    uv = kp[..., :2].reshape(len(rig), -1, 2)
    conf = kp[..., 2].reshape(len(rig), -1) if weights is None else np.asarray(weights, float).reshape(len(rig), -1)
    valid = np.isfinite(uv).all(-1) & (kp[..., 2].reshape(len(rig), -1) > min_confidence) & (conf > 0)
    xy = np.nan_to_num(rig.undistort_points(np.where(valid[..., None], uv, 0.0)))
    P = rig.normalized_projection_matrices()
    X = solve_weighted(P, rig.focal_lengths, outer_terms(P, xy), np.where(valid, conf, 0.0))
    err = reprojection_errors(rig, uv, X)
    used = valid & np.isfinite(X).all(-1)[None]
    return X.reshape(shape + (3,)), used.reshape((len(rig),) + shape), err.reshape((len(rig),) + shape)


def reprojection_errors(rig: CameraRig, uv: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Pixel distance (C, N) between observations uv (C, N, 2) and rig.project(X (N, 3)), with distortion."""
    proj = rig.project(X)
    return np.hypot(*np.moveaxis(proj - uv, -1, 0))


# ------------------------------------------------------------------------------ torch

def triangulate_dlt_torch(P: torch.Tensor, xy: torch.Tensor, w: torch.Tensor,
                          focal: torch.Tensor | None = None, reweight: int = 1) -> torch.Tensor:
    """Differentiable confidence-weighted DLT (for training), batched.

    P: (C, 3, 4) or (B, C, 3, 4) normalised projection matrices; xy: (B, C, N, 2) undistorted
    normalised coordinates; w: (B, C, N) weights >= 0 (e.g. heatmap confidences);
    focal: optional (C,) or (B, C) pixels per normalised unit. Returns X (B, N, 3).
    Gradients flow to xy, w and P. At least two views per point must carry weight.
    """
    import torch

    if P.dim() == 3:
        P = P.unsqueeze(0).expand(xy.shape[0], -1, -1, -1)
    if focal is not None:
        f = focal if focal.dim() == 2 else focal.unsqueeze(0).expand(xy.shape[0], -1)
        w = w * f[..., None] ** 2
    rows = xy[..., :, None] * P[:, :, None, 2:3, :] - P[:, :, None, :2, :]  # (B, C, N, 2, 4)
    a, a4 = rows[..., :3], rows[..., 3]
    eye = 1e-12 * torch.eye(3, dtype=xy.dtype, device=xy.device)
    ww = w
    for it in range(reweight + 1):
        M = torch.einsum("bcn,bcnki,bcnkj->bnij", ww, a, a) + eye
        rhs = -torch.einsum("bcn,bcnki,bcnk->bni", ww, a, a4)
        X = torch.linalg.solve(M, rhs.unsqueeze(-1)).squeeze(-1)
        if it < reweight:
            z = torch.einsum("bck,bnk->bcn", P[:, :, 2, :3], X) + P[:, :, 2, 3, None]
            ww = w / z.clamp_min(1e-6) ** 2
    return X
