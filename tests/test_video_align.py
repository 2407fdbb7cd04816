"""Time alignment of a video trajectory (60 Hz) with mocap markers (100 Hz), known offsets."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.video.align import align_series
from test_video_simdata import stick_figure


def _pair(offset: float, motion: str = "walk", seed: int = 0):
    """Video joints at 60 Hz (5 mm noise) and mocap markers at 100 Hz (1 mm noise, 3 cm off the
    joints) whose clock runs ``offset`` s ahead: mocap time t shows the body at t - offset."""
    rng = np.random.default_rng(seed)
    tv, tm = np.arange(600) / 60.0, np.arange(1000) / 100.0
    video = stick_figure(motion, tv) + rng.normal(0, 0.005, (600, 23, 3))
    mocap = stick_figure(motion, tm - offset) + 0.03 + rng.normal(0, 0.001, (1000, 23, 3))
    return tv, video, tm, mocap


@pytest.mark.parametrize("offset", [0.0373, -0.2114, 0.4987])
def test_align_video_with_mocap_to_2ms(offset):
    tv, video, tm, mocap = _pair(offset)
    res = align_series(tv, video, tm, mocap)
    print(f"true {offset * 1000:.1f} ms, found {res.offset * 1000:.2f} ms, confidence {res.confidence:.2f}")
    assert abs(res.offset - offset) < 0.002  # spec: within 2 ms (an eighth of a video frame)


def test_align_joint_angle_values():
    # Joint-angle-like series: the z coordinate of the knees, standardised ("values").
    tv, video, tm, mocap = _pair(0.123, motion="squat", seed=2)
    res = align_series(tv, video[:, 13:15, 2], tm, mocap[:, 13:15, 2], signal_kind="values")
    assert abs(res.offset - 0.123) < 0.004  # slow squats: a quarter frame


def test_align_rejects_static_and_far_offsets():
    tv, video, tm, mocap = _pair(0.0)
    with pytest.raises(InputError, match="the video series has no usable motion"):
        align_series(tv, np.ones_like(video), tm, mocap)
    tv, video, tm, mocap = _pair(0.8)
    with pytest.raises(InputError, match="edge of ±0.3 s"):
        align_series(tv, video, tm, mocap, max_offset=0.3)
