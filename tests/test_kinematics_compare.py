"""Video vs mocap comparison: time alignment, metrics (checked by hand), figures, marker-space errors."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml

from mv3d.errors import InputError
from mv3d.io.mot import write_mot
from mv3d.io.trc import write_trc
from mv3d.kinematics.compare import cmc_kadaba, compare_mot, compare_trc, coordinate_metrics

SHIFT = 0.037      # s: the video clock is 37 ms behind the mocap clock
OFFSET = 2.5       # deg added to every video angle
NOISE = 0.3        # deg, white noise on the video angles


def _mocap(t: np.ndarray) -> np.ndarray:
    """Three angles (deg) and one translation (m), smooth, walking-like."""
    return np.stack([30 * np.sin(2 * np.pi * 1.1 * t) + 10 * np.sin(2 * np.pi * 2.3 * t + 0.5),
                     20 * np.sin(2 * np.pi * 0.9 * t + 1.0) + 5 * np.cos(2 * np.pi * 3.1 * t),
                     8 * np.sin(2 * np.pi * 1.7 * t) + 3,
                     0.9 + 0.02 * np.sin(2 * np.pi * 1.1 * t)], axis=1)


COLUMNS = ["hip_flexion_r", "knee_angle_r", "ankle_angle_r", "pelvis_ty"]


@pytest.fixture()
def mots(tmp_path):
    t_m = np.arange(0.0, 4.0, 0.01)                       # mocap 100 Hz
    t_v = np.arange(0.3, 3.7, 1 / 60)                     # video 60 Hz
    rng = np.random.default_rng(7)
    video = _mocap(t_v + SHIFT)                           # video time t shows the motion of mocap time t + 37 ms
    video[:, :3] += OFFSET + rng.normal(0.0, NOISE, (len(t_v), 3))
    video[:, 3] += 0.01                                   # 1 cm offset of the pelvis height
    write_mot(tmp_path / "mocap.mot", t_m, _mocap(t_m), COLUMNS)
    write_mot(tmp_path / "video.mot", t_v, video, COLUMNS)
    return tmp_path / "video.mot", tmp_path / "mocap.mot"


def test_shift_offset_and_metrics_are_recovered(mots):
    res = compare_mot(*mots)
    # shift_s is added to the video times: video time t shows mocap time t + 37 ms, so +37 ms.
    assert res.alignment.shift_s == pytest.approx(SHIFT, abs=0.002)          # task: within 2 ms
    assert res.translations == ["pelvis_ty"]
    for j, name in enumerate(res.coordinates):
        m = res.metrics[name]
        e = res.video[:, j] - res.mocap[:, j]
        # Metrics by hand from the aligned series.
        assert m["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)))
        assert m["mae"] == pytest.approx(np.mean(np.abs(e)))
        assert m["bias"] == pytest.approx(np.mean(e))
        assert m["rom_error"] == pytest.approx(np.ptp(res.video[:, j]) - np.ptp(res.mocap[:, j]))
        # Kadaba's CMC for two waveforms: within-frame variance = mean(e^2) / 2, total = pooled variance.
        pooled = np.concatenate([res.video[:, j], res.mocap[:, j]])
        assert m["cmc"] == pytest.approx(np.sqrt(1 - np.mean(e**2) / 2 / np.var(pooled, ddof=1)))
        if name == "pelvis_ty":
            assert m["bias"] == pytest.approx(0.01, abs=1e-4)                 # metres, not converted
            continue
        # Against the construction: bias = offset (noise mean over ~340 samples: sd 0.02 deg),
        # RMSE^2 ~ offset^2 + noise^2 (cubic interpolation onto the mocap grid keeps most of the variance).
        assert m["bias"] == pytest.approx(OFFSET, abs=0.1)
        assert OFFSET - 0.1 < m["rmse"] < np.hypot(OFFSET, NOISE) + 0.1
        assert m["pearson_r"] > 0.998 and 0.9 < m["cmc"] < 1.0


def test_headings_are_compared_modulo_whole_turns(tmp_path):
    """A subject turning through 180 deg: the video's heading is continuous (170 -> 230 deg, as IK of the
    built-in model writes it), the mocap's wraps at +-180 deg; they agree, and so does the budget's table."""
    from mv3d.simulate.budget import angle_errors

    t = np.arange(0.0, 3.0, 0.01)
    heading = 170.0 + 20.0 * t + 5.0 * np.sin(2 * np.pi * 1.5 * t)
    wrapped = (heading + 180.0) % 360.0 - 180.0
    values = np.stack([heading, _mocap(t)[:, 0]], axis=1)
    write_mot(tmp_path / "video.mot", t, values + 0.5, ["pelvis_rotation", "hip_flexion_r"])
    write_mot(tmp_path / "mocap.mot", t, np.stack([wrapped, values[:, 1]], axis=1), ["pelvis_rotation", "hip_flexion_r"])
    res = compare_mot(tmp_path / "video.mot", tmp_path / "mocap.mot", shift_s=0.0)
    m = res.metrics["pelvis_rotation"]
    assert m["rmse"] == pytest.approx(0.5, abs=0.01) and m["rom_error"] == pytest.approx(0.0, abs=0.01)
    table = angle_errors(values[:, :1] - 360.0, wrapped[:, None], ["pelvis_rotation"])
    assert table.column("rmse_deg")["pelvis_rotation"] == pytest.approx(0.0, abs=1e-9)
    assert table.column("rom_error_deg")["pelvis_rotation"] == pytest.approx(0.0, abs=1e-9)


def test_metrics_and_cmc_by_hand():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 2.0, 5.0])
    m = coordinate_metrics(a, b)
    # e = [1, 0, 1, -1]
    assert m["rmse"] == pytest.approx(np.sqrt(3 / 4))
    assert m["mae"] == pytest.approx(0.75) and m["bias"] == pytest.approx(0.25)
    assert m["rom_error"] == pytest.approx(3 - 5)
    assert m["pearson_r"] == pytest.approx(7.5 / np.sqrt(5 * 12.75))
    # Kadaba: within = 1.5 / (4 * 1) = 0.375; total = 17.875 / 7; CMC = sqrt(1 - 0.375 / (17.875 / 7)).
    assert m["cmc"] == pytest.approx(np.sqrt(1 - 0.375 / (17.875 / 7)))
    assert m["cmc"] == pytest.approx(0.923659, abs=1e-6)
    assert cmc_kadaba(a, a) == pytest.approx(1.0)
    assert np.isnan(cmc_kadaba(a, -a))                      # opposite waveforms: no real CMC


def test_cli_writes_metrics_alignment_and_figures(mots, tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import cli

    out = tmp_path / "cmp"
    result = CliRunner().invoke(cli, ["compare", "--video", str(mots[0]), "--mocap", str(mots[1]), "--out", str(out),
                                      "--max-lag", "0.2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader((out / "comparison.csv").open()))
    assert rows[0] == ["coordinate", "rmse", "mae", "bias", "rom_error", "pearson_r", "cmc", "status",
                       "determined_fraction"]
    assert [r[0] for r in rows[1:]] == COLUMNS[:3] + ["pelvis_ty"]  # rotations first, then translations
    assert {r[7] for r in rows[1:]} == {"unknown"}                   # no coordinate status beside the video .mot
    align = yaml.safe_load((out / "alignment.yaml").read_text())
    assert align["shift_s"] == pytest.approx(SHIFT, abs=0.002)
    for name in COLUMNS + ["summary"]:
        png = out / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_lag_window_excluding_the_shift_and_disjoint_files(mots, tmp_path):
    # Within +-10 ms the best lag is at the window edge, far from 37 ms.
    res = compare_mot(*mots, max_lag_s=0.01)
    assert abs(res.alignment.shift_s) <= 0.01 + 0.011
    write_mot(tmp_path / "other.mot", np.arange(10) / 100, np.zeros((10, 1)), ["elbow_flex_r"])
    with pytest.raises(InputError, match="no coordinate column in common"):
        compare_mot(mots[0], tmp_path / "other.mot")


def _rot(deg: float, axis: int) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [k for k in range(3) if k != axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def test_marker_space_with_known_transform_and_shift(tmp_path):
    t_m = np.arange(0.0, 3.0, 0.01)
    base = np.stack([np.array([0.3 * k, 1.0 + 0.1 * k, 0.05 * k]) for k in range(6)])           # (6, 3)
    def motion(t: np.ndarray) -> np.ndarray:
        wave = np.stack([0.2 * np.sin(2 * np.pi * (0.8 + 0.2 * k) * t + k) for k in range(6)], axis=1)   # (F, 6)
        return base[None] + wave[:, :, None] * np.array([1.0, 0.5, 0.3])

    R, tr = _rot(25, 1) @ _rot(5, 0), np.array([0.4, -0.1, 1.2])
    t_v = np.arange(0.2, 2.8, 1 / 60)
    rng = np.random.default_rng(3)
    video = motion(t_v + 0.05) @ R.T + tr + rng.normal(0, 0.002, (len(t_v), 6, 3))             # 2 mm noise
    names = [f"m{k}" for k in range(6)]
    write_trc(tmp_path / "mocap.trc", motion(t_m), names, t_m)
    write_trc(tmp_path / "video.trc", video, names, t_v)
    res = compare_trc(tmp_path / "video.trc", tmp_path / "mocap.trc")
    assert res.shift_s == pytest.approx(0.05, abs=0.002)
    np.testing.assert_allclose(res.R, R, atol=2e-3)
    np.testing.assert_allclose(res.t, tr, atol=3e-3)
    # 2 mm per axis -> ~3.5 mm 3D RMS (sqrt(3) x 2 mm), less after interpolation smoothing.
    assert np.all((res.rmse_mm > 1.5) & (res.rmse_mm < 4.5))
    # OpenCap's transform file: x_video = R (x_mocap - p), i.e. p = -R^T t.
    (tmp_path / "mocapToVideoTransform.yaml").write_text(yaml.safe_dump(
        {"R_fromMocap_toVideo": R.tolist(), "position_fromMocapOrigin_toVideoOrigin": (-R.T @ tr).tolist()}))
    res2 = compare_trc(tmp_path / "video.trc", tmp_path / "mocap.trc",
                       transform_yaml=tmp_path / "mocapToVideoTransform.yaml")
    np.testing.assert_allclose(res2.rmse_mm, res.rmse_mm, atol=0.3)
