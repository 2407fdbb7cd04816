"""Time alignment of video-derived series with motion capture, across sample rates.

The offset ``d`` maps video time to mocap time: the mocap sample at ``t + d`` shows what the
video shows at ``t``. Both series are reduced to one signal each (mean speed of the
trajectories, frame independent so joint centres and skin markers compare; or the
standardised values themselves for joint angles), resampled on a fine common grid
(default 1 kHz) and cross-correlated over ``|d| <= max_offset``; the peak is refined to
sub-sample precision by minimising the squared difference between the video signal and
the spline of the mocap signal shifted by ``d`` (scale and bias fitted in closed form).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import interpolate, optimize

from mv3d.errors import InputError
from mv3d.timeseries import butter_lowpass, cross_correlation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alignment:
    """offset (s, video time + offset = mocap time), correlation peak (NCC in [-1, 1]),
    confidence in [0, 1] (peak height and margin over the next peak), rms of the fitted residual
    relative to the signal's std."""

    offset: float
    correlation: float
    confidence: float
    residual: float


def _speeds(times: np.ndarray, x: np.ndarray, cutoff: float) -> np.ndarray:
    """Speed (F, M) of each trajectory of x (F, M, D) (or (F, D): one), positions low-passed first."""
    fs = 1.0 / np.median(np.diff(times))
    x = x if x.ndim == 3 else x[:, None, :]
    if cutoff < fs / 2:
        x = butter_lowpass(x, fs, cutoff)
    return np.linalg.norm(np.gradient(x, times, axis=0), axis=-1)


def _zscores(x: np.ndarray) -> np.ndarray:
    """Values (F, ...) -> per-column z-scores (F, N)."""
    x = x.reshape(x.shape[0], -1)
    return (x - np.nanmean(x, 0)) / np.maximum(np.nanstd(x, 0), 1e-12)


def _on_grid(times: np.ndarray, s: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Column-wise cubic spline of s (F, N) at grid (G,); NaN outside each column's valid span."""
    out = np.full((grid.size, s.shape[1]), np.nan)
    for k in range(s.shape[1]):
        ok = np.isfinite(s[:, k])
        if ok.sum() < 4:
            continue
        inside = (grid >= times[ok][0]) & (grid <= times[ok][-1])
        out[inside, k] = interpolate.CubicSpline(times[ok], s[ok, k])(grid[inside])
    return out


def align_series(video_times: np.ndarray, video: np.ndarray, mocap_times: np.ndarray, mocap: np.ndarray,
                 signal_kind: str = "speed", max_offset: float = 1.0, grid_rate: float = 1000.0,
                 cutoff: float = 6.0) -> Alignment:
    """Offset between a video series and a mocap series sampled at any rates.

    video: (F, M, 3) trajectories (or (F, N) joint angles with signal_kind="values");
    mocap: (G, M', 3) markers / (G, N') angles; times in seconds of each own clock. With
    M == M' the trajectories are taken as corresponding points (a joint and the marker or
    marker cluster that follows it) and compared one by one; otherwise their mean speeds (or
    mean z-scores) are. cutoff: low-pass (Hz) of positions before differentiation.
    """
    vt, mt = np.asarray(video_times, float), np.asarray(mocap_times, float)
    video, mocap = np.asarray(video, float), np.asarray(mocap, float)
    if signal_kind == "speed":
        sv, sm = _speeds(vt, video, cutoff), _speeds(mt, mocap, cutoff)
    elif signal_kind == "values":
        sv, sm = _zscores(video), _zscores(mocap)
    else:
        raise InputError(f"signal_kind must be 'speed' or 'values', got {signal_kind!r}")
    if sv.shape[1] != sm.shape[1]:
        sv, sm = np.nanmean(sv, 1, keepdims=True), np.nanmean(sm, 1, keepdims=True)
    for name, x in (("video", sv), ("mocap", sm)):
        # Speeds below 1 um/s (or standardised values without spread) are numerically static.
        if (np.isfinite(x).sum(0) < 10).all() or not (np.nanstd(x, 0) > 1e-6).any():
            raise InputError(f"mocap alignment: the {name} series has no usable motion (fewer than 10 valid "
                             f"samples or constant); check the trajectories")
    # Coarse: cross-correlation on a fine common grid, summed over the columns.
    dt = 1.0 / grid_rate
    g_v = np.arange(vt[0], vt[-1], dt)
    g_m = np.arange(mt[0] - max_offset, mt[-1] + max_offset, dt)
    a = _on_grid(vt, sv, g_v)
    b = _on_grid(mt, sm, g_m)
    a = np.nan_to_num(a - np.nanmean(a, 0))
    b = np.nan_to_num(b - np.nanmean(b, 0))
    shift, full, _ = cross_correlation(b, a)
    _, energy_b, _ = cross_correlation(b ** 2, np.ones_like(a))  # mocap energy under the video window
    norm = np.sqrt(np.clip(energy_b, 0, None) * np.sum(a ** 2))
    ncc = np.where(norm > 1e-9 * norm.max(), full / np.maximum(norm, 1e-300), 0.0)
    lags = shift * dt + (g_m[0] - g_v[0])  # offset d of each lag
    window = np.abs(lags) <= max_offset
    if not window.any():
        raise InputError("mocap alignment: the series do not overlap within the allowed offset")
    idx = np.flatnonzero(window)
    best = idx[np.argmax(ncc[idx])]
    if best in (idx[0], idx[-1]):
        raise InputError(f"mocap alignment: best match at the edge of ±{max_offset} s; the offset is probably "
                         f"larger; raise max_offset")
    peak = float(ncc[best])
    d0 = float(lags[best])
    # Second peak: highest correlation at least 0.2 s away.
    far = idx[np.abs(lags[idx] - d0) > 0.2]
    second = float(ncc[far].max()) if far.size else 0.0

    # Fine: least squares between the video signal and the shifted mocap spline.
    def residual(d: float) -> tuple[float, float]:
        # Each column: video ~ scale * mocap(t + d) + bias, fitted in closed form.
        xq = _on_grid(mt, sm, vt + d)
        ok = np.isfinite(xq) & np.isfinite(sv)
        n = np.maximum(ok.sum(0), 1)
        x0, y0 = np.where(ok, xq, 0.0), np.where(ok, sv, 0.0)
        mx, my = x0.sum(0) / n, y0.sum(0) / n
        xc, yc = np.where(ok, x0 - mx, 0.0), np.where(ok, y0 - my, 0.0)
        scale = (xc * yc).sum(0) / np.maximum((xc * xc).sum(0), 1e-300)
        r = yc - scale * xc
        return float((r ** 2).sum() / n.sum()), float(np.sqrt((yc ** 2).sum() / n.sum()))

    step = float(np.median(np.diff(vt)))  # one video sample either side of the coarse peak
    res = optimize.minimize_scalar(lambda d: residual(d)[0], bounds=(d0 - step, d0 + step), method="bounded",
                                   options={"xatol": 1e-5})
    mse, sd = residual(float(res.x))
    conf = float(np.clip((peak - 0.3) / 0.4, 0, 1) * np.clip((peak - second) / (0.2 * peak), 0, 1))
    if conf < 0.5:
        log.warning("mocap alignment uncertain (confidence %.2f, correlation %.2f, next peak %.2f)",
                    conf, peak, second)
    return Alignment(float(res.x), peak, conf, float(np.sqrt(mse) / max(sd, 1e-12)))
