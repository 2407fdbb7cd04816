"""The reprojection cost that camera synchronisation (:mod:`mv3d.video.sync`) minimises over offsets.

Every camera's undistorted 2D tracks become a cubic spline over frame positions (:class:`Track`);
placed on the reference camera's frame times at a trial offset and clock rate, they are
triangulated with all cameras placed so far and re-projected (:class:`ReprojectionCost`), and
the cost is the mean truncated squared reprojection error after removing each camera's and
joint's mean residual (static biases must not pull the optimum).
"""
from __future__ import annotations

import numpy as np
from scipy import interpolate

from mv3d.camera import CameraRig
from mv3d.geometry import normal_terms, sym3_solve
from mv3d.timeseries import butter_lowpass, fill_nan_linear


class Track:
    """One camera's undistorted normalised 2D tracks as a cubic spline over frame positions."""

    def __init__(self, xy: np.ndarray, conf: np.ndarray) -> None:
        # xy (F, J, 2) normalised coordinates, conf (F, J); missing = NaN / 0.
        self.n = xy.shape[0]
        self.valid = np.isfinite(xy).all(-1) & (conf > 0)
        vals = np.concatenate([xy, conf[..., None]], axis=-1).reshape(self.n, -1)
        vals = np.where(np.repeat(self.valid, 3, axis=1), vals, np.nan)
        self.spline = interpolate.CubicSpline(np.arange(self.n), fill_nan_linear(vals, empty=0.0), axis=0)

    def at(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tracks at fractional frame positions pos (G,): xy (G, J, 2), weights (G, J) (0 = missing)."""
        inside = (pos >= 0) & (pos <= self.n - 1)
        p = np.clip(pos, 0, self.n - 1)
        lo = np.minimum(np.floor(p).astype(int), self.n - 1)
        hi = np.minimum(lo + 1, self.n - 1)
        ok = inside[:, None] & self.valid[lo] & self.valid[hi]
        vals = self.spline(p).reshape(len(pos), -1, 3)
        return vals[..., :2], np.where(ok, np.clip(vals[..., 2], 0.0, None), 0.0)


class ReprojectionCost:
    """Reprojection cost of all cameras' tracks placed on the reference's frame times.

    The DLT normal equations (``mv3d.geometry``) of the cameras held fixed are summed once per
    active set (``freeze``), so scoring an offset of one camera costs only
    that camera's terms, a batched 3x3 solve and the reprojection. Rows are weighted by
    confidence * (f / depth)^2 (depth: camera to scene centre) so residuals are ~pixels.
    """

    def __init__(self, rig: CameraRig, keypoints: np.ndarray, min_conf: float, ref: int,
                 fps: np.ndarray, robust_px: float, smooth_hz: float, center: bool = True,
                 step: int = 1) -> None:
        conf = np.nan_to_num(keypoints[..., 2])
        ok = np.isfinite(keypoints[..., :2]).all(-1) & (conf > min_conf)
        uv = np.where(ok[..., None], keypoints[..., :2], 0.0)
        xy = np.where(ok[..., None], rig.undistort_points(uv), np.nan)
        # Low-pass first: spline values between noisy samples are smoother than the samples
        # themselves, which would pull the cost minimum towards half-frame offsets.
        smooth = [butter_lowpass(xy[c], fps[c], min(smooth_hz, 0.4 * fps[c])) for c in range(len(rig))]
        self.tracks = [Track(smooth[c], np.where(ok[c], conf[c], 0.0)) for c in range(len(rig))]
        self.P = rig.normalized_projection_matrices()
        self.focal = rig.focal_lengths
        X0 = np.nanmedian(_dlt(self.P, np.nan_to_num(xy[:, ::5].reshape(len(rig), -1, 2)),
                               ok[:, ::5].reshape(len(rig), -1) * 1.0), axis=0)
        depth = np.linalg.norm(rig.centers - (X0 if np.isfinite(X0).all() else 0.0), axis=1)
        self.scale = (self.focal / depth) ** 2
        self.grid = np.arange(0, keypoints.shape[1], step) / fps[ref]  # reference frame times
        self.n_joints = keypoints.shape[2]
        self.center = center
        self.robust = robust_px
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.frozen: tuple[int, tuple[int, ...], np.ndarray, np.ndarray] | None = None

    def place(self, c: int, offset: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Camera c's tracks at the grid times given its offset (s) and rate (frames/s)."""
        return self.tracks[c].at((self.grid - offset) * rate)

    def set(self, c: int, offset: float, rate: float) -> None:
        self.cache[c] = self.place(c, offset, rate)
        self.frozen = None

    def _fixed(self, c: int, others: list[int]) -> tuple[np.ndarray, np.ndarray]:
        key = (c, tuple(others))
        if self.frozen is None or self.frozen[:2] != key:
            xy = np.stack([self.cache[a][0] for a in others]).reshape(len(others), -1, 2)
            w = np.stack([self.cache[a][1] for a in others]).reshape(len(others), -1)
            M, b = _normal(self.P[others], np.nan_to_num(xy), w * self.scale[others, None])
            self.frozen = (c, tuple(others), M, b)
        return self.frozen[2], self.frozen[3]

    def cost(self, c: int, offset: float, rate: float, active: list[int],
             mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Mean truncated squared reprojection error (px^2) at the points camera c sees, with
        the ``active`` cameras at their set offsets. mask (G, J): restrict to these points.
        Returns (cost, points used (G, J))."""
        others = [a for a in active if a != c]
        xy_c, w_c = self.place(c, offset, rate)
        if not others:
            return np.inf, w_c > 0
        w_o = np.stack([self.cache[a][1] for a in others])
        used = (w_c > 0) & (w_o > 0).any(0)
        if mask is not None:
            used &= mask
        if used.sum() < 10:
            return np.inf, used
        M_o, b_o = self._fixed(c, others)
        sel = used.ravel()
        xy1 = np.nan_to_num(xy_c.reshape(-1, 2)[sel])[None]
        w1 = (w_c.ravel()[sel] * self.scale[c])[None]
        M_c, b_c = _normal(self.P[[c]], xy1, w1)
        X = sym3_solve(M_o[sel] + M_c, b_o[sel] + b_c)
        cams = [c] + others
        xy = np.concatenate([xy1, np.stack([self.cache[a][0] for a in others]).reshape(len(others), -1, 2)[:, sel]])
        w = np.concatenate([w_c.ravel()[sel][None], w_o.reshape(len(others), -1)[:, sel]])
        proj = np.matmul(X[None], self.P[cams, :, :3].transpose(0, 2, 1)) + self.P[cams, None, :, 3]
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.nan_to_num(proj[..., :2] / proj[..., 2:] - xy) * self.focal[cams, None, None]
        if self.center:
            res = res - _joint_means(res, w, np.flatnonzero(sel) % self.n_joints, self.n_joints)
        e2 = (res ** 2).sum(-1)
        e2 = np.minimum(np.nan_to_num(e2, nan=self.robust ** 2), self.robust ** 2)
        total = w.sum()
        return (float((w * e2).sum() / total) if total > 0 else np.inf), used


def _joint_means(res: np.ndarray, w: np.ndarray, joint: np.ndarray, n_joints: int) -> np.ndarray:
    """Weighted mean residual of each camera and joint over frames, per point: (C, N, 2).

    res (C, N, 2) pixels, w (C, N), joint (N,) joint index of each point. Subtracting it keeps
    the frame-to-frame part of the reprojection error, the part an offset changes, and
    removes static biases (calibration error, detector habits) that would pull the optimum.
    """
    n_cams = res.shape[0]
    idx = (np.arange(n_cams)[:, None] * n_joints + joint[None]).ravel()
    size = n_cams * n_joints
    ws = np.maximum(np.bincount(idx, w.ravel(), size), 1e-12)
    means = np.stack([np.bincount(idx, (w * res[..., k]).ravel(), size) / ws for k in range(2)], -1)
    means = means.reshape(n_cams, n_joints, 2)
    return means[:, joint]


def _normal(P: np.ndarray, xy: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DLT normal equations summed over cameras: P (C, 3, 4), xy (C, N, 2), w (C, N) ->
    M (N, 6) packed, b (N, 3) (:func:`mv3d.geometry.normal_terms`)."""
    M, b = normal_terms(P, xy, w)
    return M.sum(0), b.sum(0)


def _dlt(P: np.ndarray, xy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted DLT points (N, 3) of xy (C, N, 2) with weights (C, N); NaN with < 2 views."""
    M, b = _normal(P, xy, w)
    X = sym3_solve(M, b)
    X[(w > 0).sum(0) < 2] = np.nan
    return X
