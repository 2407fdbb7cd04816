"""Session discovery in OpenCap, Pose2Sim and YAML layouts."""
from __future__ import annotations

import pytest
import yaml

from mv3d.errors import InputError
from pipelines.session import discover_session


def test_pose2sim_demo_layout(shared_data):
    session = discover_session(shared_data / "pose2sim-demo")
    assert session.layout == "pose2sim"
    assert session.calibration.name == "Calib_qualisys.toml"
    trial = session.trial(None)
    assert trial.name == "pose2sim-demo" and not trial.static
    assert trial.cameras == ["cam01", "cam02", "cam03", "cam04"]
    assert trial.videos["cam02"].name == "cam02.mp4"
    assert trial.detections["cam04"].name == "cam04_json"
    static = session.static_trial()
    assert static is not None and static.name == "static-trial" and len(static.detections) == 4


def test_opencap_layout(tmp_path):
    for cam in ("Cam0", "Cam1"):
        for trial in ("squat", "neutral"):
            d = tmp_path / "Videos" / cam / "InputMedia" / trial
            d.mkdir(parents=True)
            (d / f"{trial}.mov").write_bytes(b"")
            (d / f"{trial}_sync.mp4").write_bytes(b"")
        (tmp_path / "Videos" / cam / "cameraIntrinsicsExtrinsics.pickle").write_bytes(b"")
    (tmp_path / "sessionMetadata.yaml").write_text(yaml.safe_dump({"height_m": 1.8, "mass_kg": 75}))
    session = discover_session(tmp_path)
    assert session.layout == "opencap" and session.height == 1.8 and session.mass == 75
    assert set(session.trials) == {"squat", "neutral"}
    assert session.trials["neutral"].static and not session.trials["squat"].static
    assert session.trial(None).videos["Cam1"].name == "squat.mov"  # the _sync copy is not an input
    assert session.calibration == tmp_path / "Videos"
    assert session.post_augmentation_trc("squat") == tmp_path / "MarkerData/PostAugmentation/squat.trc"
    with pytest.raises(InputError, match="no trial 'walk'.*squat"):
        session.trial("walk")


def test_yaml_and_bad_folders(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "calibration": "calib.toml", "height_m": 1.7, "mass_kg": 60,
        "trials": {"t1": {"detections": {"c1": "pose/c1", "c2": "pose/c2"}, "mocap_trc": "m.trc"}}}))
    session = discover_session(tmp_path / "s.yaml")
    assert session.trial("t1").detections["c2"] == tmp_path / "pose/c2"
    assert session.trial("t1").mocap_trc == tmp_path / "m.trc"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"trials": {"t1": {"vidoes": {}}}}))
    with pytest.raises(InputError, match="unknown key.*trials.t1.vidoes"):
        discover_session(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="does not exist"):
        discover_session(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an OpenCap layout"):
        discover_session(tmp_path / "empty")
