"""Error budget: the per-stage tables on known injected errors, and `mv3d eval budget` on a tiny simulated session."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.kinematics.compare import LOWER_LIMB
from mv3d.simulate.budget import (GROSS_PX, Budget, angle_errors, mean_of, offset_errors, pixel_errors,
                                  point_errors, read_budget)


def test_pixel_errors_on_injected_offsets_outliers_and_dropouts():
    rng = np.random.default_rng(0)
    truth = rng.uniform(100, 600, (200, 4, 2))
    det = np.concatenate([truth, np.ones((200, 4, 1))], axis=-1)
    det[:, 0, 0] += 3.0                      # joint a: 3 px off in every frame
    det[:50, 1, :2] = np.nan                 # joint b: missing in a quarter of the frames, exact otherwise
    det[:, 2, 2] = 0.1                       # joint c: below the confidence threshold: never used
    det[:20, 3, 1] += 50.0                   # joint d: 10 % gross errors (50 px), exact otherwise
    t = pixel_errors(det, truth, ["a", "b", "c", "d"], min_confidence=0.3)
    med, p90, gross, missing = (t.column(c) for c in ("median_px", "p90_px", "gross_pct", "missing_pct"))
    assert med["a"] == pytest.approx(3.0) and p90["a"] == pytest.approx(3.0) and gross["a"] == 0
    assert med["b"] == 0 and missing["b"] == pytest.approx(25.0)
    assert np.isnan(med["c"]) and missing["c"] == pytest.approx(100.0)
    assert med["d"] == 0 and gross["d"] == pytest.approx(10.0) and 50.0 > GROSS_PX
    # pooled: 200 + 150 + 0 + 200 used detections, 20 of them gross
    assert t.column("gross_pct")["all"] == pytest.approx(100 * 20 / 550)
    assert t.column("missing_pct")["all"] == pytest.approx(100 * (1 - 550 / 800))


def test_point_errors_of_a_constant_offset_and_a_missing_point():
    truth = np.zeros((50, 3, 3))
    est = truth.copy()
    est[:, 0, 0] += 0.010                    # 10 mm along x
    est[:, 1] += [0.003, 0.004, 0.0]         # 5 mm
    est[:10, 2] = np.nan                     # exact where known
    t = point_errors(est, truth, ["a", "b", "c"])
    assert t.column("rms_mm")["a"] == pytest.approx(10.0) and t.column("mean_mm")["b"] == pytest.approx(5.0)
    assert t.column("rms_mm")["c"] == pytest.approx(0.0)
    # all: 50 + 50 + 40 point-frames; RMS = sqrt((50*100 + 50*25) / 140)
    assert t.column("rms_mm")["all"] == pytest.approx(np.sqrt((5000 + 1250) / 140))
    # c is missing in 10 of its 50 known frames; all: 10 of 150 point-frames
    assert t.column("missing_pct")["c"] == pytest.approx(20.0) and t.column("missing_pct")["a"] == 0.0
    assert t.column("missing_pct")["all"] == pytest.approx(100 * 10 / 150)


def test_angle_errors_bias_rmse_and_range_of_motion():
    t = np.linspace(0, 2 * np.pi, 400)
    truth = np.stack([40 * np.sin(t), 10 * np.cos(t)], axis=1)
    video = np.stack([1.1 * 40 * np.sin(t) + 2.0, 10 * np.cos(t) - 1.0], axis=1)   # +10 % range, +2 bias; -1 bias
    video[5, 1] = np.nan
    tab = angle_errors(video, truth, ["knee_angle_r", "hip_flexion_r"])
    bias, rom, rmse = tab.column("bias_deg"), tab.column("rom_error_deg"), tab.column("rmse_deg")
    assert bias["knee_angle_r"] == pytest.approx(2.0, abs=0.05) and rom["knee_angle_r"] == pytest.approx(8.0, abs=0.01)
    # RMSE of 2 + 4 sin: sqrt(2^2 + 4^2 / 2)
    assert rmse["knee_angle_r"] == pytest.approx(np.sqrt(4 + 8), abs=0.05)
    assert bias["hip_flexion_r"] == pytest.approx(-1.0) and rmse["hip_flexion_r"] == pytest.approx(1.0)
    assert mean_of(tab, "rmse_deg", LOWER_LIMB) == pytest.approx((np.sqrt(12) + 1.0) / 2, abs=0.05)


def test_offset_errors_in_ms_and_frames():
    t = offset_errors({"a": 0.0, "b": 0.0135}, {"a": 0.0, "b": 0.0100}, fps=60.0)
    assert t.column("error_ms")["b"] == pytest.approx(3.5) and t.column("error_frames")["b"] == pytest.approx(0.21)


def test_budget_files_round_trip(tmp_path):
    b = Budget()
    b.add(point_errors(np.zeros((3, 1, 3)), np.tile([0.001, 0.0, 0.0], (3, 1, 1)), ["x"], "points"))
    b.stage("3D", "MPJPE", 1.0, "mm")
    b.notes.append("a note")
    paths = b.write(tmp_path, "trial")
    assert {p.name for p in paths.values()} == {"trial_budget.json", "trial_budget_summary.csv",
                                                "trial_budget_points.csv"}
    back = read_budget(paths["json"])
    assert back.summary == [["3D", "MPJPE", 1.0, "mm"]] and back.notes == ["a note"]
    assert back.tables["points"].column("rms_mm")["x"] == pytest.approx(1.0)
    assert "MPJPE" in b.format()


@pytest.fixture(scope="module")
def tiny_session(tmp_path_factory):
    """A 1.3 s simulated squat, 2 phones at 240 px, detections only, run up to IK (no report)."""
    from calibration import save_rig
    from mv3d.simulate.session import SimulationConfig, simulate, write_session
    from pipelines.config import load_pipeline_config
    from pipelines.runner import Runner
    from pipelines.session import discover_session
    from pipelines.context import Context
    from pipelines.stages import build_stages

    out = tmp_path_factory.mktemp("budget") / "tiny"
    sim = simulate(SimulationConfig(motion="squat", seconds=1.3, rig="opencap2", resolution=240, seed=4))
    write_session(sim, out, video=False, calibration_writer=lambda r, f: save_rig(r, f, format="opencap"))
    config = {"keypoints2d": {"fps": 60.0}}
    session = discover_session(out)
    ctx = Context(session, session.trial(None), load_pipeline_config(config))
    Runner(build_stages(), ctx, session.work_dir() / "squat.stages.json").run(stop="ik")
    return out, config


def test_budget_of_a_tiny_simulated_session(tiny_session):
    from pipelines.budget import budget_json, session_budget
    from pipelines.session import discover_session

    root, config = tiny_session
    budget, paths = session_budget(root, config=config)
    summary = {(s[0], s[1]): s[2] for s in budget.summary}
    # Sane ranges on a 240 px, 1.3 s squat: the detector model's noise is a few px; sync within a
    # frame; triangulated joints within centimetres, better after limb constraints and filtering
    # than raw; the IK floors below the pipeline (each adds error on top of the previous).
    assert 0.2 < summary[("2D keypoints (detections)", "median error")] < 10
    assert summary[("sync", "largest offset error")] < 1000 / 60
    raw = summary[("3D keypoints, triangulated", "MPJPE")]
    final = summary[("3D keypoints, + low-pass (pipeline)", "MPJPE")]
    assert 2 < final < raw < 80
    assert summary[("markers, augmented (pipeline)", "RMSE")] < 50
    assert summary[("IK marker residual (pipeline)", "RMS")] < 50
    floor = summary[("angles, IK of true markers (scaled model)", "lower-limb RMSE")]
    pipeline = summary[("angles, pipeline", "lower-limb RMSE")]
    assert floor < 3 and floor < pipeline < 10
    knee = budget.tables["angles"].column("rom_error_deg")["knee_angle_r"]
    assert abs(knee) < 15
    assert paths["json"] == budget_json(discover_session(root), "squat")
    assert json.loads(paths["json"].read_text())["tables"]["summary"]["columns"] == ["stage", "measure", "value",
                                                                                     "unit"]


def test_eval_budget_cli(tiny_session):
    from click.testing import CliRunner

    from pipelines.cli import cli

    root, _ = tiny_session
    (root / "cfg.yaml").write_text("keypoints2d:\n  fps: 60.0\n")
    res = CliRunner().invoke(cli, ["eval", "budget", str(root), "--config", str(root / "cfg.yaml"), "--no-floors"])
    assert res.exit_code == 0, res.output
    assert "3D keypoints, + limb constraints" in res.output and "angles, pipeline" in res.output
    assert "IK of true markers" not in res.output           # --no-floors
    assert (root / "mv3d" / "squat_budget_angles.csv").is_file()


def test_budget_needs_a_simulated_session(tmp_path):
    from pipelines.budget import load_truth

    with pytest.raises(InputError, match="mv3d simulate"):
        load_truth(tmp_path)
