"""Algebraic (DLT) triangulation, batched over every point at once, in numpy and torch.

The linear system of a point seen in camera c at undistorted normalised coordinates
(x, y) with normalised projection matrix P = [R | t] is

    (x P3 - P1) . [X, 1] = 0,   (y P3 - P2) . [X, 1] = 0.

Divided by the depth z = P3 . [X, 1] these residuals are exactly the reprojection error in
normalised coordinates, and multiplied by the focal length they are pixels. So the
weighted normal equations ``sum_c w_c f_c^2 / z_c^2 A_c^T A_c`` (3x3 for the inhomogeneous
point, solved in closed form) give, after one re-weighting with the depths of a first
solution, a confidence-weighted least-squares estimate in pixels: the "iterative DLT".
No Python loop over frames, joints or cameras.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mv3d.camera import CameraRig

#: Below this |det| of the (scaled) 3x3 normal matrix a point is not triangulable (rays parallel).
_DET_EPS = 1e-12


#: Index pairs (i, j) of the products a_i a_j kept by ``outer_terms``: the upper triangle of
#: the 3x3 normal matrix (xx, xy, xz, yy, yz, zz), then the right-hand side terms (x4, y4, z4).
_OUTER_I = np.array([0, 0, 0, 1, 1, 2, 0, 1, 2])
_OUTER_J = np.array([0, 1, 2, 1, 2, 2, 3, 3, 3])


def outer_terms(P: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Unweighted per-observation normal-equation terms: (C, N, 9).

    P: (C, 3, 4); xy: (C, N, 2). Entries 0-5 are the upper triangle of A^T A restricted to X
    (xx, xy, xz, yy, yz, zz), 6-8 are A^T a4 (the right-hand side is minus them). With
    rows a = x p3 - p1 and b = y p3 - p2, a_i a_j + b_i b_j is linear in (x^2 + y^2, x, y, 1)
    with per-camera coefficients, so all terms are one batched matrix product. Any
    weighting is then a cheap contraction over cameras (``solve_weighted``).
    """
    p1, p2, p3 = P[:, 0], P[:, 1], P[:, 2]
    i, j = _OUTER_I, _OUTER_J
    coef = np.stack([p3[:, i] * p3[:, j],
                     -(p3[:, i] * p1[:, j] + p1[:, i] * p3[:, j]),
                     -(p3[:, i] * p2[:, j] + p2[:, i] * p3[:, j]),
                     p1[:, i] * p1[:, j] + p2[:, i] * p2[:, j]], axis=1)  # (C, 4, 9)
    x, y = xy[..., 0], xy[..., 1]
    basis = np.stack([x * x + y * y, x, y, np.ones_like(x)], axis=-1)  # (C, N, 4)
    return basis @ coef


def normal_terms(P: np.ndarray, xy: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-camera weighted normal-equation terms of the inhomogeneous DLT.

    P: (C, 3, 4); xy: (C, N, 2); w: (C, N) weights (0 = not used). Returns M (C, N, 6) — the upper
    triangle xx, xy, xz, yy, yz, zz of ``w A^T A`` — and b (C, N, 3) = ``-w A^T a4``.
    """
    O = outer_terms(P, xy) * w[..., None]
    return O[..., :6], -O[..., 6:]


def solve_sym3(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve symmetric 3x3 systems in closed form (cofactors).

    M: (..., 6) upper triangles (xx, xy, xz, yy, yz, zz); b: (..., 3). Returns X (..., 3),
    NaN where the system is singular (fewer than two independent rays).
    """
    a, b_, c, d, e, f = np.moveaxis(M, -1, 0)
    c00 = d * f - e * e
    c01 = c * e - b_ * f
    c02 = b_ * e - c * d
    c11 = a * f - c * c
    c12 = b_ * c - a * e
    c22 = a * d - b_ * b_
    det = a * c00 + b_ * c01 + c * c02
    scale = np.maximum(np.abs(a) + np.abs(d) + np.abs(f), 1e-300) ** 3
    ok = np.abs(det) > _DET_EPS * scale
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), np.nan)
    r0, r1, r2 = np.moveaxis(b, -1, 0)
    return np.stack([(c00 * r0 + c01 * r1 + c02 * r2) * inv,
                     (c01 * r0 + c11 * r1 + c12 * r2) * inv,
                     (c02 * r0 + c12 * r1 + c22 * r2) * inv], axis=-1)


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
    X = solve_sym3(S[:, :6], -S[:, 6:])
    for _ in range(reweight):
        z = depths(P, np.nan_to_num(X))
        S = np.einsum("cn,cnk->nk", w / np.where(z > 1e-6, z, np.inf) ** 2, O)
        X = solve_sym3(S[:, :6], -S[:, 6:])
    X[(w > 0).sum(0) < 2] = np.nan
    return X


def focal_lengths(rig: CameraRig) -> np.ndarray:
    """(C,) mean focal length in pixels of each camera (pixels per normalised unit)."""
    return 0.5 * (rig.K[:, 0, 0] + rig.K[:, 1, 1])


def triangulate_dlt(rig: CameraRig, keypoints: np.ndarray, weights: np.ndarray | None = None,
                    min_confidence: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence-weighted DLT of every point with every view (no outlier rejection).

    rig: C cameras; keypoints: (C, ..., 3) pixels + confidence (distorted image);
    weights: optional (C, ...) weights replacing the confidences. Views with confidence
    <= min_confidence or NaN coordinates are not used.
    Returns points (..., 3) (NaN where < 2 views), used (C, ...) bool, errors (C, ...) pixels
    (with distortion, NaN where the view has no detection).
    """
    from mv3d.triangulate.robust import check_keypoints

    kp = check_keypoints(rig, keypoints)
    shape = kp.shape[1:-1]
    uv = kp[..., :2].reshape(len(rig), -1, 2)
    conf = kp[..., 2].reshape(len(rig), -1) if weights is None else np.asarray(weights, float).reshape(len(rig), -1)
    valid = np.isfinite(uv).all(-1) & (kp[..., 2].reshape(len(rig), -1) > min_confidence) & (conf > 0)
    xy = np.nan_to_num(rig.undistort_points(np.where(valid[..., None], uv, 0.0)))
    P = rig.normalized_projection_matrices()
    X = solve_weighted(P, focal_lengths(rig), outer_terms(P, xy), np.where(valid, conf, 0.0))
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
