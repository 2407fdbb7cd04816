"""Time series over frames: zero-lag Butterworth low-pass, gap filling, resampling and the
cross-correlation lags that time alignment (camera sync, video vs mocap) is built on.

Every function takes arrays with frames on axis 0 (``(F, ...)``) and works on all trailing
dimensions at once. Missing samples are NaN. Columns that share the same pattern of missing
samples (the x, y, z of one joint, typically) are processed together in one call.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import interpolate, signal

from mv3d.errors import InputError

log = logging.getLogger(__name__)


def _as_columns(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, tuple[int, ...]]:
    """Move ``axis`` first and flatten the rest: (F, K) float array and the moved shape."""
    x = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    return x.reshape(x.shape[0], -1), x.shape


def _mask_groups(valid: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Group the columns of a (F, K) validity mask by identical pattern: yields (mask (F,), columns)."""
    patterns, inverse = np.unique(valid.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g, mask in enumerate(patterns):
        yield mask, np.flatnonzero(inverse == g)


def _runs(mask: np.ndarray) -> np.ndarray:
    """(R, 2) [start, stop) of the runs of True in a (F,) boolean mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)])


def corrected_cutoff(cutoff: float, fs: float, order: int) -> float:
    """Design cutoff (Hz) of each pass so the forward-backward filter is at -3 dB at ``cutoff``.

    A Butterworth of order n (= order / 2 here) with design frequency Wd has
    |H(W)|^2 = 1 / (1 + (W / Wd)^(2n)) in the bilinear-warped frequency W = tan(pi f / fs).
    Running it twice (filtfilt) gives the combined amplitude |H|^2, which equals 1/sqrt(2)
    at W = Wc = tan(pi cutoff / fs) when

        Wd = Wc / (sqrt(2) - 1) ** (1 / (2 n)),   f_design = fs / pi * arctan(Wd).

    (Winter's correction for multiple passes with the bilinear pre-warping.)
    """
    n = order // 2
    wc = np.tan(np.pi * cutoff / fs)
    wd = wc / (np.sqrt(2.0) - 1.0) ** (1.0 / (2 * n))
    return float(fs / np.pi * np.arctan(wd))


def butter_lowpass(x: np.ndarray, fs: float, cutoff: float, order: int = 4, axis: int = 0) -> np.ndarray:
    """Zero-lag Butterworth low-pass filter, NaN-aware.

    x: (F, ...) samples along ``axis``; fs, cutoff in Hz. ``order`` is the order of the
    combined zero-lag filter (even): a Butterworth of order/2 runs forward and backward,
    its design frequency corrected (``corrected_cutoff``) so the combined response is
    exactly -3 dB (amplitude 1/sqrt(2)) at ``cutoff``; DC gain 1, zero phase.
    Each contiguous run of finite samples is filtered on its own; NaN stay NaN. Runs too
    short for filtfilt's edge padding (<= 3 * (order / 2 + 1) samples, 9 for order 4) are
    returned unfiltered.
    Returns an array of x's shape.
    """
    if order < 2 or order % 2:
        raise InputError(f"butter_lowpass: order must be an even number >= 2 (the zero-lag order), got {order}")
    if not 0 < cutoff < fs / 2:
        raise InputError(f"butter_lowpass: cutoff {cutoff} Hz must lie between 0 and the Nyquist "
                         f"frequency {fs / 2} Hz (sampling rate {fs} Hz)")
    b, a = signal.butter(order // 2, corrected_cutoff(cutoff, fs, order), btype="low", fs=fs)
    padlen = 3 * max(len(a), len(b))
    cols, moved = _as_columns(x, axis)
    out = cols.copy()
    for mask, which in _mask_groups(np.isfinite(cols)):
        for start, stop in _runs(mask):
            if stop - start > padlen:
                out[start:stop, which] = signal.filtfilt(b, a, cols[start:stop, which], axis=0, padlen=padlen)
            else:
                log.debug("butter_lowpass: run of %d samples too short to filter, left as is", stop - start)
    return np.moveaxis(out.reshape(moved), 0, axis)


@dataclass(frozen=True)
class Gap:
    """A run of missing samples left after gap filling: column index (trailing dims), [start, stop)."""

    index: tuple[int, ...]
    start: int
    stop: int
    reason: str  # "too long" (interior, > max_gap) or "edge" (touches the first or last frame)

    @property
    def length(self) -> int:
        return self.stop - self.start


class GapFill(NamedTuple):
    """Result of ``fill_gaps``: the filled (F, ...) array, the number of samples filled and the gaps left."""

    filled: np.ndarray
    n_filled: int
    gaps_left: list[Gap]


_INTERPOLATORS = {"pchip": interpolate.PchipInterpolator, "cubic": interpolate.CubicSpline,
                  "linear": lambda t, y: interpolate.interp1d(t, y, axis=0)}


def fill_gaps(x: np.ndarray, max_gap: int, times: np.ndarray | None = None, method: str = "cubic") -> GapFill:
    """Interpolate interior runs of NaN of at most ``max_gap`` samples.

    x: (F, ...) with NaN for missing samples; times: (F,) sample times (default: indices),
    for unevenly sampled series. method: "cubic" (not-a-knot spline through all valid samples
    of the column: accurate on smooth motion), "pchip" (shape preserving, never overshoots
    but flattens peaks) or "linear". Gaps longer than ``max_gap`` and
    gaps touching the first or last frame stay NaN (never extrapolated) and are listed.
    Returns GapFill(filled (F, ...), n_filled, gaps_left).
    """
    if method not in _INTERPOLATORS:
        raise InputError(f"fill_gaps: method must be one of {', '.join(_INTERPOLATORS)}, got {method!r}")
    cols, shape = _as_columns(x)
    n = cols.shape[0]
    t = np.arange(n, dtype=float) if times is None else np.asarray(times, dtype=float)
    if t.shape != (n,):
        raise InputError(f"fill_gaps: times must have shape ({n},), got {t.shape}")
    out = cols.copy()
    valid = np.isfinite(cols)
    n_filled = 0
    gaps: list[Gap] = []
    trailing = shape[1:]
    for mask, which in _mask_groups(valid):
        if mask.all():
            continue
        holes = _runs(~mask)
        if mask.sum() < 2:
            fillable = np.zeros(len(holes), bool)
        else:
            interior = (holes[:, 0] > 0) & (holes[:, 1] < n)
            fillable = interior & (holes[:, 1] - holes[:, 0] <= max_gap)
        if fillable.any():
            need = np.concatenate([np.arange(s, e) for s, e in holes[fillable]])
            fit = _INTERPOLATORS[method](t[mask], cols[mask][:, which])
            out[np.ix_(need, which)] = fit(t[need])
            n_filled += need.size * which.size
        for (s, e), ok in zip(holes, fillable):
            if not ok:
                reason = "edge" if s == 0 or e == n else "too long"
                gaps.extend(Gap(tuple(int(i) for i in np.unravel_index(c, trailing)), int(s), int(e), reason)
                            for c in which)
    gaps.sort(key=lambda g: (g.index, g.start))
    return GapFill(out.reshape(shape), n_filled, gaps)


def fill_nan_linear(x: np.ndarray, times: np.ndarray | None = None, empty: float | None = None) -> np.ndarray:
    """Linear interpolation over the NaN of each column of (F, K), ends held (every gap, unlike
    :func:`fill_gaps`: for signals that must be finite, e.g. before filtering or a spline).

    times: (F,) sample times (default: indices). A column with fewer than two valid samples is
    left as it is, or set to ``empty`` when given. Returns (F, K).
    """
    out = np.array(x, dtype=float)
    t = np.arange(out.shape[0]) if times is None else np.asarray(times, dtype=float)
    for k in range(out.shape[1]):
        ok = np.isfinite(out[:, k])
        if ok.sum() >= 2:
            if not ok.all():
                out[:, k] = np.interp(t, t[ok], out[ok, k])
        elif empty is not None:
            out[:, k] = empty
    return out


def resample(times: np.ndarray, x: np.ndarray, new_times: np.ndarray, kind: str = "cubic") -> np.ndarray:
    """Interpolate a series sampled at ``times`` onto ``new_times``.

    times: (F,) increasing seconds; x: (F, ...); new_times: (G,). kind: "cubic" (not-a-knot
    spline), "pchip" or "linear". Returns (G, ...): NaN outside [first, last] valid time of
    each column (never extrapolated) and inside gaps of missing samples (a new time whose
    two bracketing input samples are not both valid).
    """
    if kind not in _INTERPOLATORS:
        raise InputError(f"resample: kind must be one of {', '.join(_INTERPOLATORS)}, got {kind!r}")
    times = np.asarray(times, dtype=float)
    new_times = np.asarray(new_times, dtype=float)
    cols, shape = _as_columns(x)
    if times.shape != (cols.shape[0],):
        raise InputError(f"resample: times has shape {times.shape} but x has {cols.shape[0]} frames")
    if np.any(np.diff(times) <= 0):
        raise InputError("resample: times must be strictly increasing")
    out = np.full((new_times.size, cols.shape[1]), np.nan)
    # The input samples bracketing each new time (the same one when the times coincide).
    left = np.searchsorted(times, new_times, side="right") - 1
    exact = (left >= 0) & (times[np.maximum(left, 0)] == new_times)
    right = np.where(exact, left, left + 1)
    inside = (left >= 0) & (right < times.size)
    left_c, right_c = np.clip(left, 0, times.size - 1), np.clip(right, 0, times.size - 1)
    for mask, which in _mask_groups(np.isfinite(cols)):
        if mask.sum() < 2:
            continue
        ok = inside & mask[left_c] & mask[right_c]
        if not ok.any():
            continue
        min_points = {"cubic": 4, "pchip": 2, "linear": 2}[kind]
        method = kind if mask.sum() >= min_points else "linear"
        fit = _INTERPOLATORS[method](times[mask], cols[mask][:, which])
        out[np.ix_(np.flatnonzero(ok), which)] = fit(new_times[ok])
    return out.reshape((new_times.size,) + shape[1:])


# ------------------------------------------------------------------------- cross-correlation

def cross_correlation(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full cross-correlation of column signals, summed over the columns, by FFT.

    a: (Fa, K), b: (Fb, K) (1-D: one column), finite. Returns lags (L,) in samples from
    -(Fb - 1) to Fa - 1, sums (L,) = sum over k and n of a[n + lag, k] * b[n, k], and overlap (L,)
    the number of sample pairs at each lag. Normalise the sums as the use needs (by the overlap,
    or by the signals' energies over the overlap for a normalised cross-correlation).
    """
    a = np.asarray(a, dtype=float).reshape(len(a), -1)
    b = np.asarray(b, dtype=float).reshape(len(b), -1)
    n = len(a) + len(b) - 1
    nfft = 1 << (n - 1).bit_length()
    spec = np.fft.rfft(a, nfft, axis=0) * np.conj(np.fft.rfft(b, nfft, axis=0))
    cc = np.fft.irfft(spec.sum(axis=1), nfft)
    lags = np.arange(-(len(b) - 1), len(a))
    sums = np.concatenate([cc[nfft - (len(b) - 1):], cc[:len(a)]])
    overlap = np.minimum(len(a), lags + len(b)) - np.maximum(0, lags)
    return lags, sums, overlap


def lagged_ncc(ref: np.ndarray, other: np.ndarray, lags: np.ndarray, min_overlap: int) -> np.ndarray:
    """Normalised cross-correlation (L, S) of signals ref (Fr, S) and other (Fo, S) at integer lags (L,), NaN-aware.

    At lag l, sample k of ``other`` is paired with sample k + l of ``ref``; only pairs with
    both finite count; NaN where fewer than ``min_overlap`` pairs or a flat signal.
    """
    k = np.arange(other.shape[0])
    i = k[None, :] + lags[:, None]  # (L, Fo)
    inside = (i >= 0) & (i < ref.shape[0])
    A = ref[np.clip(i, 0, ref.shape[0] - 1)]  # (L, Fo, S)
    B = np.broadcast_to(other[None], A.shape)
    m = inside[..., None] & np.isfinite(A) & np.isfinite(B)
    n = m.sum(1)
    A0, B0 = np.where(m, A, 0.0), np.where(m, B, 0.0)
    nn = np.maximum(n, 1)
    ma, mb = A0.sum(1) / nn, B0.sum(1) / nn
    cov = (A0 * B0).sum(1) / nn - ma * mb
    va = (A0 * A0).sum(1) / nn - ma * ma
    vb = (B0 * B0).sum(1) / nn - mb * mb
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = cov / np.sqrt(va * vb)
    ncc[(n < min_overlap) | ~(va > 0) | ~(vb > 0)] = np.nan
    return ncc


def local_maxima(curve: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of a (L,) curve (ends included, NaN ignored), highest first."""
    c = np.where(np.isfinite(curve), curve, -np.inf)
    left = np.concatenate([[-np.inf], c[:-1]])
    right = np.concatenate([c[1:], [-np.inf]])
    idx = np.flatnonzero((c >= left) & (c > right) & np.isfinite(c))
    return idx[np.argsort(-c[idx])]


def parabolic_peak(curve: np.ndarray, i: int) -> float:
    """Sub-sample position of the maximum near index i of a (L,) curve, by a parabola through its neighbours."""
    if i == 0 or i == len(curve) - 1 or not np.isfinite(curve[i - 1:i + 2]).all():
        return float(i)
    a, b, c = curve[i - 1:i + 2]
    den = a - 2 * b + c
    return float(i + (0.5 * (a - c) / den if den < 0 else 0.0))
