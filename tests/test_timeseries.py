"""Zero-lag Butterworth, gap filling and resampling against analytic signals."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.timeseries import butter_lowpass, corrected_cutoff, fill_gaps, resample


def _amplitude_phase(y: np.ndarray, t: np.ndarray, f: float) -> tuple[float, float]:
    """Least-squares amplitude and phase (rad) of the f-Hz component of y (samples may miss the peaks)."""
    basis = np.column_stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
    s, c = np.linalg.lstsq(basis, y, rcond=None)[0]
    return float(np.hypot(s, c)), float(np.arctan2(c, s))


@pytest.mark.parametrize("fs,cutoff,order", [(100.0, 6.0, 4), (60.0, 10.0, 4), (120.0, 12.0, 2), (30.0, 12.0, 6)])
def test_butterworth_is_minus_3db_at_cutoff_zero_phase(fs, cutoff, order):
    t = np.arange(int(20 * fs)) / fs
    y = butter_lowpass(np.sin(2 * np.pi * cutoff * t), fs, cutoff, order=order)
    mid = slice(len(t) // 4, 3 * len(t) // 4)  # away from the edge transients of the padding
    amp, phase = _amplitude_phase(y[mid], t[mid], cutoff)
    # The corrected design puts the combined response exactly at 1/sqrt(2): only the finite
    # window's leakage remains (measured < 1e-6).
    assert amp == pytest.approx(1 / np.sqrt(2), abs=1e-4)
    assert abs(phase) < 1e-4  # zero lag: filtfilt has no phase shift


def test_uncorrected_design_would_be_minus_6db():
    # Sanity check of the correction itself: the design frequency is above the cutoff,
    # and the filtfilt of an uncorrected filter is at 1/2 (checked via the formula).
    fs, fc = 100.0, 6.0
    assert corrected_cutoff(fc, fs, 4) > fc
    w, wd = np.tan(np.pi * fc / fs), np.tan(np.pi * corrected_cutoff(fc, fs, 4) / fs)
    assert 1 / (1 + (w / wd) ** 4) == pytest.approx(1 / np.sqrt(2), rel=1e-12)


def test_butterworth_keeps_dc_and_slow_signals_and_removes_noise():
    fs = 100.0
    t = np.arange(1000) / fs
    slow = 3.0 + np.sin(2 * np.pi * 0.5 * t)
    noise = 0.2 * np.sin(2 * np.pi * 30 * t)
    y = butter_lowpass(np.stack([slow + noise, np.full_like(t, 7.5)], axis=1), fs, 6.0)
    np.testing.assert_allclose(y[:, 1], 7.5, atol=1e-9)  # DC gain exactly 1
    # 0.5 Hz passes (gain > 0.9999 at fc/12) and 30 Hz is attenuated by > 50 dB (4th order at 5x fc).
    np.testing.assert_allclose(y[50:-50, 0], slow[50:-50], atol=2e-3)


def test_butterworth_nan_aware_runs_and_trailing_dims():
    fs = 60.0
    t = np.arange(600) / fs
    x = np.sin(2 * np.pi * 1.0 * t)[:, None, None] * np.array([1.0, 2.0, 3.0])[None, None, :]
    x = np.repeat(x, 2, axis=1)  # (F, 2, 3)
    x[200:230, 0, :] = np.nan      # a gap in joint 0 only
    x[400:405, 1, 2] = np.nan      # a gap in one coordinate
    x[575:580, 1, :] = np.nan
    x[589:, 1, :] = np.nan         # leaves a run of 9 samples (580-588), too short to filter
    y = butter_lowpass(x, fs, 6.0)
    assert y.shape == x.shape
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))  # NaN stay NaN, nothing else becomes NaN
    # Each run filtered on its own: a 1 Hz sine passes a 6 Hz low-pass (gain > 0.9999).
    np.testing.assert_allclose(y[60:140, 0], x[60:140, 0], atol=1e-3)  # away from run edges
    np.testing.assert_array_equal(y[580:589, 1], x[580:589, 1])  # short run left as is


def test_butterworth_rejects_bad_cutoff():
    with pytest.raises(InputError, match="Nyquist"):
        butter_lowpass(np.zeros(100), 60.0, 30.0)
    with pytest.raises(InputError, match="even"):
        butter_lowpass(np.zeros(100), 60.0, 6.0, order=3)


def test_fill_gaps_interpolates_short_gaps_only():
    t = np.linspace(0, 2 * np.pi, 200)
    truth = np.stack([np.sin(t), np.cos(2 * t)], axis=1)
    x = truth.copy()
    x[50:54, 0] = np.nan     # 4 samples: filled
    x[100:130, :] = np.nan   # 30 samples: too long
    x[:3, 1] = np.nan        # edge: never extrapolated
    res = fill_gaps(x, max_gap=5)
    filled = res.filled
    # Cubic spline (default) of a smooth signal, 32 samples per radian: the 4-sample gap at the
    # sine's peak is recovered to < 1e-5 (spline error ~ (gap width)^4 / 384 ~ 1e-7).
    np.testing.assert_allclose(filled[50:54, 0], truth[50:54, 0], atol=1e-5)
    assert np.isnan(filled[100:130]).all() and np.isnan(filled[:3, 1]).all()
    assert res.n_filled == 4
    left = {(g.index, g.start, g.stop, g.reason) for g in res.gaps_left}
    assert left == {((0,), 100, 130, "too long"), ((1,), 100, 130, "too long"), ((1,), 0, 3, "edge")}


def test_fill_gaps_pchip_does_not_overshoot_a_step():
    x = np.r_[np.zeros(20), np.ones(20)]
    x[21:25] = np.nan  # a gap just after a jump
    cubic = fill_gaps(x, 5, method="cubic").filled
    pchip = fill_gaps(x, 5, method="pchip").filled
    assert cubic.max() > 1.5                      # the spline overshoots after the jump (1.8)
    np.testing.assert_array_equal(pchip[21:25], 1.0)  # pchip keeps the flat part flat


def test_fill_gaps_with_uneven_times_and_cubic():
    times = np.cumsum(np.r_[0, np.random.default_rng(0).uniform(0.008, 0.012, 299)])
    truth = times ** 2
    x = truth.copy()
    x[[40, 41, 42, 150]] = np.nan
    res = fill_gaps(x[:, None], max_gap=3, times=times, method="cubic")
    # A cubic spline reproduces a quadratic exactly (to round-off).
    np.testing.assert_allclose(res.filled[:, 0], truth, atol=1e-9)
    assert res.gaps_left == []


def test_resample_accuracy_and_no_extrapolation():
    times = np.arange(0, 2.0, 1 / 60)
    x = np.stack([np.sin(2 * np.pi * 1.5 * times), times], axis=1)[:, None, :]  # (F, 1, 2)
    new = np.arange(-0.1, 2.1, 1 / 100)
    y = resample(times, x, new)
    inside = (new >= times[0]) & (new <= times[-1])
    assert y.shape == (new.size, 1, 2)
    assert np.isnan(y[~inside]).all()
    # Cubic spline error ~ h^4 f''''/384 = (1/60)^4 (2 pi 1.5)^4 / 384 ~ 1.7e-7; allow 1e-5.
    np.testing.assert_allclose(y[inside, 0, 0], np.sin(2 * np.pi * 1.5 * new[inside]), atol=1e-5)
    np.testing.assert_allclose(y[inside, 0, 1], new[inside], atol=1e-12)


def test_resample_keeps_gaps_missing():
    times = np.arange(100) * 0.01
    x = times.copy()
    x[40:50] = np.nan
    new = np.array([0.305, 0.395, 0.40, 0.445, 0.49, 0.495, 0.60])
    y = resample(times, x, new, kind="linear")
    np.testing.assert_allclose(y[[0, 6]], new[[0, 6]], atol=1e-12)
    assert np.isnan(y[[1, 2, 3, 4, 5]]).all()  # between 0.39 and 0.50 a bracketing sample is missing


def test_butterworth_axis_argument():
    x = np.random.default_rng(3).normal(size=(300, 4))
    np.testing.assert_allclose(butter_lowpass(x.T, 100.0, 10.0, axis=1), butter_lowpass(x, 100.0, 10.0).T,
                               rtol=0, atol=1e-12)
