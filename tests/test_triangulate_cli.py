"""``mv3d triangulate`` on the real Pose2Sim demo; camera-name matching and its errors."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from mv3d.errors import InputError


@pytest.mark.slow
def test_cli_writes_trc_and_diagnostics(shared_data, tmp_path):
    from mv3d.io import read_trc
    from mv3d.io.store import SessionStore
    from mv3d.skeleton import MV3D25
    from pipelines.cli import cli

    demo = shared_data / "pose2sim-demo"
    out = tmp_path / "trial.trc"
    res = CliRunner().invoke(cli, ["triangulate", "--calib", str(demo / "calibration" / "Calib_qualisys.toml"),
                                   "--keypoints", str(demo / "pose"), "--format", "openpose", "--fps", "60",
                                   "--filter", "butterworth:6", "--frame", "opensim", "--out", str(out)])
    assert res.exit_code == 0, res.output
    trc = read_trc(out)
    assert trc.marker_names == list(MV3D25) and trc.points.shape == (100, 25, 3)
    assert trc.rate == 60 and trc.units == "m"
    # OpenSim frame: Y is up; the subject stands, so the heads are ~1.5 m above the ankles.
    head_y = np.nanmean(trc.points[:, MV3D25.index("nose"), 1])
    ankle_y = np.nanmean(trc.points[:, MV3D25.index("l_ankle"), 1])
    assert 1.2 < head_y - ankle_y < 1.8
    neck = trc.points[:, MV3D25.index("neck")]
    mid = 0.5 * (trc.points[:, MV3D25.index("l_shoulder")] + trc.points[:, MV3D25.index("r_shoulder")])
    assert np.allclose(neck, mid, equal_nan=True)
    store = SessionStore(out.with_suffix(".h5"))
    err = store.read("triangulation/reprojection_error")
    used = store.read("triangulation/camera_used").astype(bool)
    assert err.shape == used.shape == (4, 100, 23)
    assert store.attrs("triangulation/camera_used")["cameras"] == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert np.nanmedian(err[used]) < 10.0  # filtered points stay within a few pixels of the inliers


def test_cli_names_the_unmatched_camera(shared_data, tmp_path):
    from pipelines.cli import cli

    demo = shared_data / "pose2sim-demo"
    toml = (demo / "calibration" / "Calib_qualisys.toml").read_text().replace("cam_03", "side")
    calib = tmp_path / "calib.toml"
    calib.write_text(toml)
    res = CliRunner().invoke(cli, ["triangulate", "--calib", str(calib), "--keypoints", str(demo / "pose"),
                                   "--fps", "60", "--out", str(tmp_path / "x.trc")])
    assert isinstance(res.exception, InputError)
    assert "camera 'cam03' has no match" in str(res.exception)
    assert not (tmp_path / "x.trc").exists()
