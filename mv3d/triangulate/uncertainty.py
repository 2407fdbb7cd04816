"""How precisely each triangulated point is known, from the views that saw it.

A view c with detection confidence w_c constrains the point X through its projection
Jacobian J_c (2, 3) (pinhole, pixels per metre); with image noise of std 1 / w_c pixels the
least-squares information is ``I = sum_c w_c^2 J_c^T J_c`` and the point's covariance ``I^-1``
(metres^2 per pixel^2 of noise at confidence 1). Its trace grows when a view is unsure, when
fewer views agree, and when the rays meet at a narrow angle.
"""
from __future__ import annotations

import numpy as np

from mv3d.errors import InputError


def point_covariance(rig, points: np.ndarray, used: np.ndarray, confidence: np.ndarray,
                     min_confidence: float = 0.05) -> np.ndarray:
    """Covariance (F, J, 3, 3) of each point for unit pixel noise at confidence 1.

    rig: CameraRig (C); points: (F, J, 3) world metres (NaN = missing: any finite placeholder
    is used, the result is meaningless there); used: (C, F, J) the views that count;
    confidence: (C, F, J) their detection confidences (floored at ``min_confidence``).
    Points seen by fewer than two views get a covariance of about 1e9 (unknown).
    """
    X = np.nan_to_num(np.asarray(points, dtype=float))
    if X.ndim != 3 or X.shape[-1] != 3 or np.shape(used) != (len(rig),) + X.shape[:2]:
        raise InputError(f"point_covariance expects points (F, J, 3) and used/confidence (C={len(rig)}, F, J); "
                         f"got {np.shape(points)} and {np.shape(used)}")
    Xc = rig.to_camera(X)  # (C, F, J, 3)
    z = np.where(np.abs(Xc[..., 2]) > 1e-6, Xc[..., 2], 1e-6)
    jac = np.zeros(Xc.shape[:-1] + (2, 3))  # d(normalised xy)/d(camera XYZ)
    jac[..., 0, 0] = jac[..., 1, 1] = 1.0 / z
    jac[..., 0, 2] = -Xc[..., 0] / z ** 2
    jac[..., 1, 2] = -Xc[..., 1] / z ** 2
    focal = rig.K[:, [0, 1], [0, 1]]  # (C, 2) pixels per normalised unit
    jac = focal[:, None, None, :, None] * jac @ rig.R[:, None, None]  # pixels per world metre
    w2 = np.where(used, np.maximum(np.nan_to_num(confidence), min_confidence), 0.0) ** 2
    info = np.einsum("cfj,cfjai,cfjak->fjik", w2, jac, jac) + 1e-9 * np.eye(3)
    return np.linalg.inv(info)


def relative_precision(rig, points: np.ndarray, used: np.ndarray, confidence: np.ndarray,
                       floor: float = 0.05) -> np.ndarray:
    """(F, J) weights: 1 / the point's positional std (root of the covariance trace), divided by
    that joint's median over the frames that two views or more saw (1: a typical frame of this
    joint). Points that no two views saw (bridged from bones and neighbours) get ``floor``,
    missing points 0."""
    cov = point_covariance(rig, points, used, confidence)
    precision = 1.0 / np.sqrt(np.trace(cov, axis1=-2, axis2=-1))
    finite = np.isfinite(points).all(-1)
    seen = finite & (np.asarray(used).sum(0) >= 2)
    typical = np.array([np.median(precision[seen[:, j], j]) if seen[:, j].any() else 1.0
                        for j in range(precision.shape[1])])
    return np.where(finite, np.maximum(precision / typical, floor), 0.0)
