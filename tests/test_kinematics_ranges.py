"""Coordinate ranges and sign conventions: simulate, ik and compare refuse motions the model cannot take."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from mv3d.errors import InputError
from mv3d.io.mot import write_mot
from mv3d.kinematics.coordinate_ranges import (builtin_ranges, check_motion_file, find_violations, flip_signs,
                                               opposite_signs)
from pipelines.cli import cli

COLUMNS = ["pelvis_tilt", "hip_flexion_r", "knee_angle_r", "knee_angle_l", "ankle_angle_r"]


def _gait(knee_sign: float = 1.0, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A walking-like motion in degrees: knee flexion 3..65 deg, times in seconds."""
    t = np.arange(n) / 60.0
    phase = 2 * np.pi * t / 1.0
    knee = 34.0 - 31.0 * np.cos(phase)
    values = np.column_stack([np.full(n, -8.0), 25 * np.sin(phase), knee_sign * knee, knee_sign * knee[::-1],
                              10 * np.sin(phase)])
    return t, values


def test_gait2392_knee_is_refused_with_both_ranges_and_the_fix(tmp_path):
    t, values = _gait(knee_sign=-1.0)
    write_mot(tmp_path / "hamner.mot", t, values, COLUMNS)
    with pytest.raises(InputError) as err:
        check_motion_file(tmp_path / "hamner.mot")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 1200
    assert "knee_angle_r spans -65.0..-3.0 deg in the file but 0..140.0 deg in the model" in msg
    assert "knee_angle_l" in msg and "hip_flexion_r" not in msg
    assert "fits with the opposite sign" in msg and "Gait2392" in msg
    assert "--flip-sign knee_angle" in msg
    # the documented option makes the same file acceptable, both sides at once
    mot = check_motion_file(tmp_path / "hamner.mot", flip=["knee_angle"])
    np.testing.assert_allclose(mot.values[:, 2:4], -values[:, 2:4])


def test_small_overshoots_of_real_ik_are_accepted():
    ranges = builtin_ranges()
    t, values = _gait()
    values[10:14, 2] = -6.0                     # a knee hyperextended 6 deg, as unclamped IK gives
    values[20, 4] = np.degrees(0.8727) + 8.0    # ankle 8 deg past its range
    assert find_violations(COLUMNS, values, True, ranges) == []
    values[30, 4] = 95.0                        # 45 deg past: refused, no sign hint (negating does not fit)
    (v,) = find_violations(COLUMNS, values, True, ranges)
    assert v.coordinate == "ankle_angle_r" and v.outside == 1 and not v.flipped_fits


def test_radians_that_are_degrees_and_unbounded_values_give_short_messages(tmp_path):
    t, values = _gait()
    write_mot(tmp_path / "rad.mot", t, values, COLUMNS, in_degrees=False)   # degrees written as radians
    with pytest.raises(InputError, match="inDegrees=no but the values look like degrees"):
        check_motion_file(tmp_path / "rad.mot")
    values[5, 1] = 1e300
    write_mot(tmp_path / "huge.mot", t, values, COLUMNS, decimals=2)
    with pytest.raises(InputError) as err:
        check_motion_file(tmp_path / "huge.mot")
    assert "1e+300" in str(err.value) and len(str(err.value)) < 1200


def test_flip_sign_names_an_unknown_coordinate():
    t, values = _gait()
    with pytest.raises(InputError, match="no column elbow_flex"):
        flip_signs(COLUMNS, values, ["elbow_flex"], source="m.mot")


def test_simulate_cli_refuses_the_opposite_knee_in_one_line(tmp_path):
    t, values = _gait(knee_sign=-1.0)
    write_mot(tmp_path / "hamner.mot", t, values, COLUMNS)
    # the console entry point: one line, exit status 2, no traceback
    bad = subprocess.run([sys.executable, "-c", "from pipelines.cli import main; main()", "simulate", "--motion",
                          str(tmp_path / "hamner.mot"), "--rig", "opencap2", "--out", str(tmp_path / "s1"),
                          "--no-video"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2, bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in bad.stderr
    assert "knee_angle_r" in lines[0] and "--flip-sign knee_angle" in lines[0]
    assert not (tmp_path / "s1").exists()                    # refused before anything is written
    runner = CliRunner()
    ok = runner.invoke(cli, ["simulate", "--motion", str(tmp_path / "hamner.mot"), "--rig", "opencap2",
                             "--out", str(tmp_path / "s2"), "--no-video", "--flip-sign", "knee_angle"])
    assert ok.exit_code == 0, ok.output
    from mv3d.io.mot import read_mot

    truth = read_mot(tmp_path / "s2" / "truth" / "coordinates.mot")
    assert truth.column("knee_angle_r").min() > 0            # the truth is in the model's convention
    assert "hamner.mot" in (tmp_path / "s2" / "sessionMetadata.yaml").read_text()


def test_compare_refuses_a_mocap_knee_of_the_opposite_sign(tmp_path):
    t, values = _gait()
    write_mot(tmp_path / "video.mot", t, values, COLUMNS)
    write_mot(tmp_path / "mocap.mot", t, values * np.array([1, 1, -1, -1, 1]), COLUMNS)
    runner = CliRunner()
    bad = runner.invoke(cli, ["compare", "--video", str(tmp_path / "video.mot"), "--mocap", str(tmp_path / "mocap.mot"),
                              "--out", str(tmp_path / "cmp"), "--no-figures"])
    msg = str(bad.exception)
    assert isinstance(bad.exception, InputError) and "\n" not in msg      # main() prints it as one line, exit 2
    assert "knee_angle_r" in msg and "opposite signs" in msg and "--flip-sign knee_angle" in msg
    assert "hip_flexion_r" not in msg
    ok = runner.invoke(cli, ["compare", "--video", str(tmp_path / "video.mot"), "--mocap", str(tmp_path / "mocap.mot"),
                             "--out", str(tmp_path / "cmp"), "--no-figures", "--flip-sign", "knee_angle"])
    assert ok.exit_code == 0, ok.output
    assert "mean RMSE 0.00 deg" in ok.output


def test_opposite_signs_ignores_coordinates_near_zero():
    rng = np.random.default_rng(0)
    video = rng.normal(0, 4, size=(200, 1))
    assert opposite_signs(video, -video, ["arm_rot_r"]) == []          # noise around 0: no sign to tell
    knee = np.linspace(5, 90, 200)[:, None]
    assert opposite_signs(knee, -knee, ["knee_angle_r"]) == ["knee_angle_r"]


def test_ik_coordinate_task_outside_the_range_is_refused(tmp_path):
    from mv3d.io.trc import write_trc
    from mv3d.kinematics.bodymodel import write_model
    from mv3d.kinematics.ik import solve_ik

    model = write_model(tmp_path / "model")
    write_trc(tmp_path / "m.trc", np.zeros((3, 1, 3)), ["r_knee"], np.arange(3) / 60.0)
    with pytest.raises(InputError, match=r"knee_angle_r .* holds 286.5 deg, outside its range 0..140"):
        solve_ik(model, tmp_path / "m.trc", coordinate_tasks={"knee_angle_r": (1.0, 5.0)})


def test_pipeline_config_takes_the_mocap_sign_flip():
    from mv3d.errors import ConfigError
    from pipelines.config import load_pipeline_config

    assert load_pipeline_config({"compare": {"flip_sign": ["knee_angle"]}}).compare.flip_sign == ("knee_angle",)
    assert load_pipeline_config(None).compare.flip_sign == () and load_pipeline_config(None).kinematics.stabilize
    with pytest.raises(ConfigError, match="compare.flip_sign"):
        load_pipeline_config({"compare": {"flip_sign": "knee_angle"}})
