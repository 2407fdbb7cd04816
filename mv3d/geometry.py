"""Small shared geometry: OpenCV lens distortion, packed symmetric 3x3 algebra, DLT normal equations.

Everything is batched over leading axes and free of Python loops over points. The camera model
(:mod:`mv3d.camera`), triangulation, synchronisation and bundle adjustment all build on these;
no other module re-derives them.

Packed symmetric 3x3 matrices are (..., 6) arrays of their upper triangle (xx, xy, xz, yy, yz, zz).
"""
from __future__ import annotations

import numpy as np

#: Newton iterations and step tolerance of :func:`undistort` (normalised coordinates; Newton
#: converges quadratically, so after a step this small the error left is ~1e-13, ~1e-10 px).
UNDISTORT_ITERATIONS = 12
UNDISTORT_TOLERANCE = 1e-7

#: Below this |det| (relative to the cubed trace scale) a packed 3x3 matrix counts as singular.
SINGULAR_EPS = 1e-12


# ------------------------------------------------------------------------------ distortion

def _coefficients(dist: np.ndarray) -> tuple[np.ndarray, ...]:
    """(k1, k2, p1, p2, k3), each (...) from OpenCV coefficients (..., 5)."""
    return tuple(np.moveaxis(np.asarray(dist, dtype=float), -1, 0))


def distort(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Apply OpenCV distortion (k1, k2, p1, p2, k3) to normalised coordinates.

    xy: (..., 2) undistorted normalised coordinates; dist: (..., 5) coefficients broadcasting
    against xy's leading axes (e.g. (C, 1, 5) for xy (C, N, 2)). Returns (..., 2).
    """
    k1, k2, p1, p2, k3 = _coefficients(dist)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return np.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], axis=-1)


def distortion_jacobian(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """d(distorted) / d(undistorted) (..., 2, 2) at normalised points xy (..., 2); dist as in :func:`distort`."""
    jxx, jxy, jyy = _jacobian_terms(xy[..., 0], xy[..., 1], *_coefficients(dist))
    return np.stack([np.stack([jxx, jxy], -1), np.stack([jxy, jyy], -1)], -2)


def _jacobian_terms(x, y, k1, k2, p1, p2, k3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distortion Jacobian's entries (jxx, jxy = jyx, jyy) at (x, y)."""
    xx, yy, xy = x * x, y * y, x * y
    r2 = xx + yy
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    d_radial = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d r2
    return (radial + 2 * xx * d_radial + 2 * p1 * y + 6 * p2 * x,
            2 * xy * d_radial + 2 * p1 * x + 2 * p2 * y,
            radial + 2 * yy * d_radial + 6 * p1 * y + 2 * p2 * x)


def undistort(xy_d: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Invert :func:`distort` by Newton iterations (exact to ~1e-12 for realistic lenses).

    xy_d: (..., 2) distorted normalised coordinates; dist: (..., 5) as in :func:`distort`.
    Returns (..., 2).
    """
    if not np.any(dist):
        return np.array(xy_d, dtype=float)
    k = _coefficients(dist)
    k1, k2, _, _, k3 = k
    target = xy_d
    r2 = xy_d[..., 0] ** 2 + xy_d[..., 1] ** 2  # start from the radial fixed-point step: one iteration fewer
    xy = xy_d * (1.0 / (1 + r2 * (k1 + r2 * (k2 + r2 * k3))))[..., None]
    for _ in range(UNDISTORT_ITERATIONS):
        x, y = xy[..., 0], xy[..., 1]
        fx, fy = np.moveaxis(distort(xy, dist) - target, -1, 0)
        jxx, jxy, jyy = _jacobian_terms(x, y, *k)
        inv_det = 1.0 / (jxx * jyy - jxy * jxy)
        step = np.stack([(jyy * fx - jxy * fy) * inv_det, (jxx * fy - jxy * fx) * inv_det], axis=-1)
        xy = xy - step
        if not np.nanmax(np.abs(step), initial=0.0) > UNDISTORT_TOLERANCE:
            break  # converged (NaN-safe)
    return xy


# ------------------------------------------------------------------------ packed 3x3 algebra

def _sym3_cofactors(M: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Cofactors [c00, c01, c02, c11, c12, c22], determinant and its scale of packed matrices (..., 6)."""
    a, b, c, d, e, f = np.moveaxis(M, -1, 0)
    cof = [d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b]
    det = a * cof[0] + b * cof[1] + c * cof[2]
    scale = np.maximum(np.abs(a) + np.abs(d) + np.abs(f), 1e-300) ** 3
    return cof, det, scale


def sym3_solve(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve packed symmetric 3x3 systems in closed form (cofactors).

    M: (..., 6); b: (..., 3). Returns X (..., 3), NaN where the system is singular (e.g. a point
    seen along fewer than two independent rays).
    """
    (c00, c01, c02, c11, c12, c22), det, scale = _sym3_cofactors(M)
    ok = np.abs(det) > SINGULAR_EPS * scale
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), np.nan)
    r0, r1, r2 = np.moveaxis(b, -1, 0)
    return np.stack([(c00 * r0 + c01 * r1 + c02 * r2) * inv,
                     (c01 * r0 + c11 * r1 + c12 * r2) * inv,
                     (c02 * r0 + c12 * r1 + c22 * r2) * inv], axis=-1)


def sym3_inverse(M: np.ndarray) -> np.ndarray:
    """Inverses (..., 6) of packed symmetric 3x3 matrices (..., 6); zeros where singular."""
    cof, det, scale = _sym3_cofactors(M)
    ok = np.isfinite(det) & (np.abs(det) > SINGULAR_EPS * scale)
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    return np.stack(cof, -1) * inv[..., None]


def sym3_matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Packed symmetric matrices (..., 6) times vectors (..., 3)."""
    a, b, c, d, e, f = np.moveaxis(M, -1, 0)
    x, y, z = np.moveaxis(v, -1, 0)
    return np.stack([a * x + b * y + c * z, b * x + d * y + e * z, c * x + e * y + f * z], -1)


# -------------------------------------------------------------------- DLT normal equations

#: Index pairs (i, j) of the products a_i a_j kept by ``outer_terms``: the upper triangle of
#: the 3x3 normal matrix (xx, xy, xz, yy, yz, zz), then the right-hand side terms (x4, y4, z4).
_OUTER_I = np.array([0, 0, 0, 1, 1, 2, 0, 1, 2])
_OUTER_J = np.array([0, 1, 2, 1, 2, 2, 3, 3, 3])


def outer_terms(P: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Unweighted per-observation terms of the inhomogeneous DLT's normal equations: (C, N, 9).

    P: (C, 3, 4) normalised projection matrices [R | t]; xy: (C, N, 2) undistorted normalised
    coordinates. A point X seen at (x, y) gives the rows a = x p3 - p1 and b = y p3 - p2
    (``a . [X, 1] = 0``). Entries 0-5 are the packed upper triangle of A^T A restricted to X,
    6-8 are A^T a4 (the right-hand side is minus them). a_i a_j + b_i b_j is linear in
    (x^2 + y^2, x, y, 1) with per-camera coefficients, so all terms are one batched matrix
    product, and any weighting is a cheap contraction over cameras.
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
    """Per-camera weighted DLT normal equations: M (C, N, 6) packed ``w A^T A`` and b (C, N, 3) = ``-w A^T a4``.

    P: (C, 3, 4); xy: (C, N, 2); w: (C, N) weights (0 = not used). Summed over cameras they
    give the systems ``sym3_solve`` turns into points.
    """
    O = outer_terms(P, xy) * w[..., None]
    return O[..., :6], -O[..., 6:]
