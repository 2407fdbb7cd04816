"""Filtering of 3D trajectories: Butterworth and Kalman reduce noise, short gaps are bridged, long ones reported."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.triangulate.filtering import smooth_trajectory


def _noisy_track(seed: int = 0):
    fps = 60.0
    t = np.arange(300) / fps
    truth = np.stack([0.3 * np.sin(2 * np.pi * 0.8 * t), 0.9 + 0.1 * np.cos(2 * np.pi * 1.1 * t), 0 * t], -1)
    truth = np.repeat(truth[:, None], 2, axis=1)  # (F, J=2, 3)
    noisy = truth + np.random.default_rng(seed).normal(scale=0.01, size=truth.shape)
    return fps, truth, noisy


@pytest.mark.parametrize("spec", ["butterworth:6", "kalman:6", "kalman"])
def test_filters_reduce_noise_and_bridge_short_gaps(spec):
    fps, truth, noisy = _noisy_track()
    noisy[100:108, 0] = np.nan       # 8 frames: bridged
    noisy[200:240, 1] = np.nan       # 40 frames: longer than max_gap, stays missing
    smoothed, gaps = smooth_trajectory(noisy, fps, spec, max_gap=10)
    err_raw = np.sqrt(np.nanmean((noisy - truth) ** 2))
    err = np.sqrt(np.nanmean((smoothed - truth) ** 2))
    # 1 cm white noise on motion below 1.1 Hz: a 6 Hz smoother keeps ~1/3 of the noise power band
    assert err < 0.6 * err_raw, (err, err_raw)
    assert np.isfinite(smoothed[100:108, 0]).all()
    # the bridge rests on noisy samples at the gap's edges (1 cm noise): within 4 noise std
    assert np.abs(smoothed[100:108, 0] - truth[100:108, 0]).max() < 0.04
    assert np.isnan(smoothed[200:240, 1]).all()
    assert [(g.index[0], g.start, g.length) for g in gaps] == [(1, 200, 40)]


def test_filter_spec_errors():
    fps, _, noisy = _noisy_track()
    with pytest.raises(InputError, match="unknown filter 'median:3'"):
        smooth_trajectory(noisy, fps, "median:3")
    with pytest.raises(InputError, match="below half the frame rate"):
        smooth_trajectory(noisy, fps, "kalman:40")
