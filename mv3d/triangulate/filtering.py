"""Gap filling and low-pass filtering of 3D trajectories (F, J, 3)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mv3d.errors import InputError
from mv3d.timeseries import butter_lowpass, fill_gaps
from mv3d.video.kalman import kalman_smooth

log = logging.getLogger(__name__)


KINDS = ("butterworth", "kalman", "weighted_kalman")


@dataclass(frozen=True)
class FilterSpec:
    """A parsed filter: kind ("none", "butterworth", "kalman" or "weighted_kalman") and its parameter
    (the cutoff in Hz: Butterworth's -3 dB point, the Kalman smoother's half-power frequency).
    weighted_kalman: the Kalman smoother with each point weighted by how precisely the views
    located it (``mv3d.triangulate.uncertainty``), so occluded frames lean on their neighbours."""

    kind: str = "none"
    value: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> FilterSpec:
        """Parse "butterworth:6", "kalman:6", "kalman" (6 Hz), "weighted_kalman:7" or "none"."""
        if text is None or text.strip().lower() in ("", "none", "off"):
            return cls()
        kind, _, value = text.strip().lower().partition(":")
        if kind not in KINDS:
            raise InputError(f"unknown filter {text!r}; use butterworth:CUTOFF_HZ (e.g. butterworth:6), "
                             f"kalman[:CUTOFF_HZ], weighted_kalman[:CUTOFF_HZ] or none")
        try:
            number = float(value) if value else None
        except ValueError:
            raise InputError(f"filter {text!r}: {value!r} is not a number") from None
        if (kind == "butterworth" and number is None) or (number is not None and number <= 0):
            raise InputError(f"filter {text!r}: give the cutoff frequency in Hz, e.g. {kind}:6")
        return cls(kind, number)


def smooth_trajectory(points: np.ndarray, fps: float, spec: FilterSpec | str | None = None,
                      max_gap: int = 10, weights: np.ndarray | None = None) -> tuple[np.ndarray, list]:
    """Fill gaps of at most max_gap frames, then low-pass filter.

    points: (F, J, 3) metres, NaN = missing; fps: frame rate (Hz). Returns the smoothed
    (F, J, 3) and the gaps left unfilled (``mv3d.timeseries.Gap``, index = (joint, axis)),
    which stay NaN. Butterworth: zero-lag, order 4 (``mv3d.timeseries.butter_lowpass``).
    Kalman: constant-acceleration RTS smoother (``mv3d.video.kalman``), which bridges the
    same gaps itself; its cutoff (default 6 Hz) is the half-power frequency at weight 1.
    weights: (F, J) for weighted_kalman (``uncertainty.relative_precision``): a point of weight w
    counts as a measurement with 1/w times the typical noise std.
    """
    spec = spec if isinstance(spec, FilterSpec) else FilterSpec.parse(spec)
    points = np.asarray(points, dtype=float)
    res = fill_gaps(points, max_gap) if points.shape[0] > 1 else None
    filled = points if res is None else res.filled
    gaps = [] if res is None else [g for g in res.gaps_left if g.index[1] == 0]
    for g in gaps:
        log.info("joint %d: frames %d-%d stay missing (%s gap of %d frames)", g.index[0], g.start, g.stop - 1,
                 g.reason, g.length)
    cutoff = spec.value if spec.value is not None else 6.0
    if spec.kind != "none" and cutoff >= fps / 2:
        raise InputError(f"{spec.kind} cutoff {cutoff} Hz must be below half the frame rate ({fps / 2} Hz)")
    if spec.kind == "butterworth":
        filled = butter_lowpass(filled, fs=fps, cutoff=cutoff, order=4)
    elif spec.kind in ("kalman", "weighted_kalman"):
        if spec.kind == "weighted_kalman" and (weights is None or np.shape(weights) != points.shape[:2]):
            raise InputError(f"filter {spec.kind} needs weights of shape {points.shape[:2]} (frames, joints), got "
                             f"{None if weights is None else np.shape(weights)}")
        conf = weights if spec.kind == "weighted_kalman" else None
        filled = kalman_smooth(points, conf, fps, cutoff=cutoff, max_gap=max_gap).positions
    return filled, gaps
