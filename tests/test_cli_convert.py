"""`mv3d convert` through click's CliRunner on the real data."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from mv3d.errors import InputError
from mv3d.io import read_keypoints, read_trc
from pipelines.cli import cli
from pipelines.commands.convert import get_convert_group

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WALK = DATA / "opensim-gait2354" / "subject01_walk1.trc"
POSE = DATA / "pose2sim-demo" / "pose"


@pytest.mark.skipif(not WALK.exists(), reason=f"reference data not found: {WALK}")
def test_convert_trc_to_metres(tmp_path):
    out = tmp_path / "walk_m.trc"
    result = CliRunner().invoke(cli, ["convert", "trc", str(WALK), str(out), "--units", "m"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{out}: 151 frames, 41 markers, 60 Hz, mm -> m"
    src, dst = read_trc(WALK), read_trc(out)
    assert dst.units == "m" and dst.marker_names == src.marker_names
    np.testing.assert_allclose(dst.points, src.points, atol=5e-10, rtol=0)  # 9 decimals in metres


@pytest.mark.skipif(not POSE.exists(), reason=f"reference data not found: {POSE}")
def test_convert_openpose_keypoints_to_h5(tmp_path):
    import h5py

    out = tmp_path / "kp.h5"
    result = CliRunner().invoke(cli, ["convert", "keypoints", "--format", "openpose", "--in", str(POSE),
                                      "--out", str(out), "--fps", "60"])
    assert result.exit_code == 0, result.output
    assert f"{out}: 4 cameras x 100 frames x 23 joints from BODY_25B at 60 fps" in result.output
    with h5py.File(out) as h5:
        ds = h5["keypoints2d"]
        assert ds.shape == (4, 100, 23, 3) and ds.attrs["fps"] == 60.0
        assert list(ds.attrs["cameras"]) == ["cam01", "cam02", "cam03", "cam04"]
        assert len(ds.attrs["joint_names"]) == 23
    np.testing.assert_array_equal(read_keypoints(out, "h5").data, read_keypoints(POSE, "openpose", fps=60).data)


def test_convert_keypoints_bad_input_is_one_clear_error(tmp_path):
    cam = tmp_path / "cam01_json"
    cam.mkdir()
    (cam / "cam01.0000.json").write_text('{"people": [{"pose_keypoints_2d": [1.0, 2.0')
    result = CliRunner().invoke(cli, ["convert", "keypoints", "--format", "openpose", "--in", str(tmp_path),
                                      "--out", str(tmp_path / "x.h5")])
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith(f"{cam / 'cam01.0000.json'}: not valid JSON")
    assert not (tmp_path / "x.h5").exists()  # nothing partial written


def test_convert_trc_missing_input_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["convert", "trc", str(tmp_path / "nope.trc"), str(tmp_path / "o.trc")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_get_convert_group_reuses_the_registered_group():
    group = get_convert_group(cli)
    assert group is cli.commands["convert"]
    assert {"trc", "keypoints"} <= set(group.commands)

    fresh = click.Group("x")
    created = get_convert_group(fresh)
    assert isinstance(created, click.Group) and get_convert_group(fresh) is created
