"""Clocks of a simulated session: unsynchronised cameras and a mocap system.

Every camera starts at its own time (sub-frame offsets), may run at 59.94 instead of 60
frames/s, and drops a few frames; the mocap system samples at 100 Hz from its own start.
All times are on the motion's clock (seconds); forward kinematics is evaluated at exactly
these times, so the offsets in the truth are real.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mv3d.errors import InputError


@dataclass(frozen=True)
class TimingConfig:
    """fps: nominal camera rate; max_offset: camera start times spread uniformly over this (s);
    ntsc_probability: chance that a camera runs at fps * 1000/1001 (59.94); drop_rate: fraction of
    frames a camera drops; mocap_rate (Hz) and mocap_max_start (s): the mocap clock."""

    fps: float = 60.0
    max_offset: float = 0.12
    ntsc_probability: float = 0.3
    drop_rate: float = 0.002
    mocap_rate: float = 100.0
    mocap_max_start: float = 0.05


@dataclass
class CameraClock:
    """name; fps: the camera's true rate; start: motion time of its first frame (s);
    frame_index: (N,) nominal frame numbers of the frames it kept (gaps = dropped frames);
    times: (N,) motion times of those frames."""

    name: str
    fps: float
    start: float
    frame_index: np.ndarray
    times: np.ndarray

    @property
    def dropped(self) -> np.ndarray:
        """Nominal numbers of the dropped frames."""
        full = np.arange(self.frame_index[-1] + 1)
        return np.setdiff1d(full, self.frame_index)


@dataclass
class SessionTiming:
    """cameras: one clock per camera, in rig order; mocap_times: (M,) motion times of the mocap samples."""

    cameras: list[CameraClock]
    mocap_times: np.ndarray

    def offsets(self) -> dict[str, float]:
        """Camera name -> time of its first frame relative to the first camera's first frame (s)."""
        t0 = self.cameras[0].start
        return {c.name: float(c.start - t0) for c in self.cameras}


def make_timing(names: list[str], t_begin: float, t_end: float, config: TimingConfig,
                rng: np.random.Generator) -> SessionTiming:
    """Clocks for cameras ``names`` recording a motion that spans [t_begin, t_end] seconds."""
    if t_end - t_begin <= config.max_offset + 2.0 / config.fps:
        raise InputError(f"the motion lasts {t_end - t_begin:.3f} s; it must be longer than the camera start "
                         f"spread ({config.max_offset} s) plus two frames")
    clocks = []
    for name in names:
        fps = config.fps * (1000 / 1001 if rng.random() < config.ntsc_probability else 1.0)
        start = t_begin + rng.uniform(0.0, config.max_offset)
        n = int(np.floor((t_end - start) * fps + 1e-9)) + 1
        keep = rng.random(n) >= config.drop_rate
        keep[0] = keep[-1] = True
        index = np.flatnonzero(keep)
        clocks.append(CameraClock(name, fps, start, index, start + index / fps))
    m_start = t_begin + rng.uniform(0.0, config.mocap_max_start)
    m_n = int(np.floor((t_end - m_start) * config.mocap_rate + 1e-9)) + 1
    return SessionTiming(clocks, m_start + np.arange(m_n) / config.mocap_rate)
