"""Constant-acceleration Kalman filter with Rauch-Tung-Striebel smoothing, batched over tracks.

Each coordinate of each track is a state (position, velocity, acceleration) driven by white
jerk. The coordinates are filtered independently (the measurement noise is diagonal), so a
(F, ..., D) array is one batch of N = prod(...) * D scalar tracks, updated with numpy
operations on (N, 3) states and (N, 3, 3) covariances; only the loop over frames remains.

Smoothness is given as a cutoff frequency: for white jerk of spectral density q and
measurement noise of variance r at interval dt, the steady-state smoother is a low-pass
filter ``1 / (1 + r dt (2 pi f)^6 / q)``, at half power where ``q = r dt (2 pi cutoff)^6``.
Measurement variance grows as the confidence drops (``r = noise_std^2 / conf^2``), so
unsure detections pull the track less; confidence 0 or NaN coordinates are no measurement.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mv3d.errors import InputError


class KalmanResult(NamedTuple):
    """Smoothed positions (F, ..., D), velocities (F, ..., D) per second and position std (F, ..., D);
    NaN where a gap is longer than ``max_gap`` or before the first / after the last measurement."""

    positions: np.ndarray
    velocities: np.ndarray
    std: np.ndarray


def transition(dt: float) -> tuple[np.ndarray, np.ndarray]:
    """State transition F (3, 3) and unit-density white-jerk process noise Q (3, 3) for one step."""
    F = np.array([[1.0, dt, 0.5 * dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    Q = np.array([[dt ** 5 / 20, dt ** 4 / 8, dt ** 3 / 6],
                  [dt ** 4 / 8, dt ** 3 / 3, dt ** 2 / 2],
                  [dt ** 3 / 6, dt ** 2 / 2, dt]])
    return F, Q


def _gap_mask(measured: np.ndarray, max_gap: int) -> np.ndarray:
    """(F, N) True where the smoothed value is kept: measured frames, interior gaps <= max_gap."""
    n_frames = measured.shape[0]
    idx = np.arange(n_frames)[:, None]
    last = np.maximum.accumulate(np.where(measured, idx, -1), axis=0)
    nxt = np.where(measured, idx, n_frames)[::-1]
    nxt = np.minimum.accumulate(nxt, axis=0)[::-1]
    gap_len = nxt - last - 1  # length of the run of missing frames this frame belongs to
    return measured | ((last >= 0) & (nxt < n_frames) & (gap_len <= max_gap))


def kalman_smooth(x: np.ndarray, conf: np.ndarray | None, fs: float, cutoff: float = 6.0,
                  noise_std: float = 1.0, max_gap: int = 10, min_conf: float = 0.0) -> KalmanResult:
    """RTS-smooth tracks x (F, ..., D) with confidences conf (F, ...) (None: all 1).

    fs: sampling rate (Hz); cutoff: half-power frequency (Hz) of the smoother at confidence 1;
    noise_std: measurement std at confidence 1 (units of x; sets the reported std only);
    max_gap: longest run of missing frames bridged; min_conf: confidences <= this are ignored.
    Works for 2D pixels, 3D metres or any dimension D.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim < 2:
        raise InputError(f"kalman_smooth expects tracks of shape (F, ..., D), got {x.shape}")
    if not 0 < cutoff < fs / 2:
        raise InputError(f"kalman_smooth: cutoff {cutoff} Hz must lie between 0 and fs/2 = {fs / 2} Hz")
    n_frames, dim = x.shape[0], x.shape[-1]
    c = np.ones(x.shape[:-1]) if conf is None else np.asarray(conf, dtype=float)
    if c.shape != x.shape[:-1]:
        raise InputError(f"kalman_smooth: confidences of shape {c.shape} do not match tracks {x.shape}")
    c = np.where(np.isfinite(x).all(-1) & np.isfinite(c) & (c > min_conf), c, 0.0)
    z = np.nan_to_num(x).reshape(n_frames, -1)  # (F, N)
    c = np.repeat(c.reshape(n_frames, -1, 1), dim, axis=-1).reshape(n_frames, -1)
    measured = c > 0
    r = noise_std ** 2 / np.where(measured, c, 1.0) ** 2
    n = z.shape[1]

    dt = 1.0 / fs
    F, Q = transition(dt)
    Q = Q * noise_std ** 2 * dt * (2 * np.pi * cutoff) ** 6

    # Initial state: the first measurement of each track, vague velocity and acceleration.
    first = np.argmax(measured, axis=0)
    state = np.zeros((n, 3))
    state[:, 0] = z[first, np.arange(n)]
    scale = np.abs(z).max(axis=0) + noise_std
    P = np.zeros((n, 3, 3))
    P[:, 0, 0] = scale ** 2
    P[:, 1, 1] = (scale * fs) ** 2
    P[:, 2, 2] = (scale * fs * fs) ** 2

    xs_pred = np.empty((n_frames, n, 3))
    Ps_pred = np.empty((n_frames, n, 3, 3))
    xs_filt = np.empty((n_frames, n, 3))
    Ps_filt = np.empty((n_frames, n, 3, 3))
    for k in range(n_frames):
        if k:
            state = state @ F.T
            P = F @ P @ F.T + Q
        xs_pred[k], Ps_pred[k] = state, P
        m = measured[k]
        s = P[:, 0, 0] + r[k]
        gain = np.where(m[:, None], P[:, :, 0] / s[:, None], 0.0)  # (N, 3)
        state = state + gain * (z[k] - state[:, 0])[:, None]
        P = P - gain[:, :, None] * P[:, None, 0, :]
        xs_filt[k], Ps_filt[k] = state, P

    xs, Ps = xs_filt.copy(), Ps_filt.copy()
    for k in range(n_frames - 2, -1, -1):
        # C = P_f F^T P_pred^-1, solved as P_pred C^T = F P_f (P_pred symmetric).
        C = np.linalg.solve(Ps_pred[k + 1], (F @ Ps_filt[k])).transpose(0, 2, 1)
        xs[k] = xs_filt[k] + np.einsum("nij,nj->ni", C, xs[k + 1] - xs_pred[k + 1])
        Ps[k] = Ps_filt[k] + C @ (Ps[k + 1] - Ps_pred[k + 1]) @ C.transpose(0, 2, 1)

    keep = _gap_mask(measured, max_gap)
    out = [np.where(keep, v, np.nan).reshape(x.shape) for v in
           (xs[..., 0], xs[..., 1], np.sqrt(np.maximum(Ps[..., 0, 0], 0.0)))]
    return KalmanResult(*out)


def smooth_keypoints(keypoints: np.ndarray, fps: float, cutoff: float = 6.0, max_gap: int = 10,
                     noise_std: float = 2.0, min_conf: float = 0.0) -> np.ndarray:
    """Kalman-smooth 2D keypoints (C, F, J, 3) of all cameras at once; returns (C, F, J, 3).

    Coordinates are smoothed and gaps <= max_gap bridged; the confidence of a bridged frame is
    the smallest confidence of the camera's measured samples of that joint (a bridged point is
    usable but never trusted more than the detector), 0 where the output stays NaN.
    """
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim != 4 or kp.shape[-1] != 3:
        raise InputError(f"smooth_keypoints expects (C, F, J, 3) keypoints, got {kp.shape}")
    tracks = np.moveaxis(kp[..., :2], 1, 0)  # (F, C, J, 2)
    conf = np.moveaxis(kp[..., 2], 1, 0)
    res = kalman_smooth(tracks, conf, fps, cutoff=cutoff, noise_std=noise_std, max_gap=max_gap,
                        min_conf=min_conf)
    out = np.empty_like(kp)
    out[..., :2] = np.moveaxis(res.positions, 0, 1)
    c = np.nan_to_num(kp[..., 2])
    c = np.where(np.isfinite(kp[..., :2]).all(-1) & (c > min_conf), c, np.nan)
    floor = np.nanmin(np.where(np.isnan(c), np.inf, c), axis=1, keepdims=True)
    filled = np.where(np.isnan(c), np.broadcast_to(floor, c.shape), c)
    out[..., 2] = np.where(np.isfinite(out[..., :2]).all(-1), filled, 0.0)
    return out
