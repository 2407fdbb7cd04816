"""A session's inputs at the door and in the cache: named errors before heavy work, a cache that
follows file contents (not paths or times), and cameras of different frame rates."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from mv3d.errors import ConfigError, InputError, Mv3dError
from mv3d.io import read_trc
from pipelines.run import run_session
from tests.conftest import simulated_session

pytestmark = pytest.mark.slow
#: Stop after triangulation and draw no media: the tests are about inputs, not kinematics.
UP_TO = dict(stop="triangulation", config={"visuals": {"overlay_videos": False, "skeleton_video": False}})


@pytest.fixture(scope="module")
def detections_session(tmp_path_factory) -> Path:
    """A 3 s simulated squat, 2 phones, detections and no video (``mv3d simulate --no-video``)."""
    return simulated_session(tmp_path_factory.mktemp("sim") / "session", seed=5)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _statuses(session: Path) -> dict:
    manifest = json.loads((session / "mv3d" / "squat.stages.json").read_text())
    return {name: entry["fingerprint"] for name, entry in manifest.items()}


def test_session_without_video_runs_with_no_config(detections_session, tmp_path):
    session = _copy(detections_session, tmp_path / "s")
    metrics = run_session(session, **UP_TO)
    assert metrics["status"] == "ok" and metrics["median_reproj_px"] < 10
    trc = read_trc(session / "MarkerData" / "PreAugmentation" / "squat.trc")
    assert trc.rate == pytest.approx(60.0)  # the simulator's stated rate (sessionMetadata.yaml fps)


def test_moved_or_copied_session_keeps_its_cache(detections_session, tmp_path):
    first = _copy(detections_session, tmp_path / "first")
    run_session(first, **UP_TO)
    before = _statuses(first)
    copied = _copy(first, tmp_path / "copied")
    metrics = run_session(copied, **UP_TO)
    assert metrics["stages_run"] == ""  # everything skipped: paths and file times are not in the cache key
    moved = first.rename(tmp_path / "moved")
    assert run_session(moved, **UP_TO)["stages_run"] == ""
    assert _statuses(moved) == before


def test_detections_edited_in_place_rerun_from_the_stage_that_reads_them(detections_session, tmp_path):
    session = _copy(detections_session, tmp_path / "s")
    run_session(session, **UP_TO)
    folder = session / "truth" / "detections" / "Cam1"
    files = sorted(folder.glob("*.json"))
    doc = json.loads(files[10].read_text())
    doc["people"][0]["pose_keypoints_2d"][0] += 3.0  # one nose moved by 3 px
    files[10].write_text(json.dumps(doc))
    assert run_session(session, **UP_TO)["stages_run"] == "keypoints2d,sync,triangulation"
    for f in files:  # every JSON of one camera replaced by an empty frame: a named error, never old numbers
        f.write_text('{"people": []}')
    with pytest.raises(Mv3dError, match="Cam1"):
        run_session(session, **UP_TO)


def _blank_video(path: Path, size: tuple[int, int], fps: float, frames: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    for _ in range(frames):
        writer.write(frame)
    writer.release()


def _with_videos(session: Path, rates: dict[str, float], scale: float = 1.0) -> None:
    """Blank videos at each camera's rate (frame count of its detections), for the frame rates and sizes."""
    from calibration import load_rig

    rig = load_rig(session / "Videos")
    for cam in rig:
        n = len(list((session / "truth" / "detections" / cam.name).glob("*.json")))
        size = (int(cam.size[0] * scale), int(cam.size[1] * scale))
        _blank_video(session / "Videos" / cam.name / "InputMedia" / "squat" / "squat.mp4", size, rates[cam.name], n)


def test_camera_at_half_the_rate_is_resampled(detections_session, tmp_path):
    reference = _copy(detections_session, tmp_path / "reference")
    _with_videos(reference, {"Cam0": 60.0, "Cam1": 60.0})
    run_session(reference, **UP_TO)
    session = _copy(detections_session, tmp_path / "mixed")
    folder = session / "truth" / "detections" / "Cam1"  # Cam1 recorded at 30 fps: every other frame
    files = sorted(folder.glob("*.json"))
    digits = len(files[0].stem.split("_")[-1].split(".")[-1])
    for f in files:
        f.rename(f.with_name("old_" + f.name))
    for k, f in enumerate(sorted(folder.glob("old_*.json"))[::2]):
        f.rename(folder / files[k].name)
    for f in folder.glob("old_*.json"):
        f.unlink()
    _with_videos(session, {"Cam0": 60.0, "Cam1": 30.0})
    run_session(session, **UP_TO)
    ours = read_trc(session / "MarkerData" / "PreAugmentation" / "squat.trc")
    full = read_trc(reference / "MarkerData" / "PreAugmentation" / "squat.trc")
    assert ours.rate == pytest.approx(60.0) and abs(ours.times[-1] - full.times[-1]) < 0.1  # the real duration
    n = min(ours.n_frames, full.n_frames)
    gap = np.linalg.norm(ours.points[:n] - full.points[:n], axis=-1)
    assert np.nanmedian(gap) < 0.015  # metres: a 30 fps camera costs little
    warnings = json.loads((session / "mv3d" / "squat_warnings.json").read_text())
    assert any("Cam1 (30 fps) interpolated to 60 Hz" in w for w in warnings["sync"])


def _edit_metadata(session: Path, **changes) -> None:
    path = session / "sessionMetadata.yaml"
    meta = yaml.safe_load(path.read_text())
    meta.update(changes)
    path.write_text(yaml.safe_dump(meta))


def _edit_calibration(session: Path, cam: str, key: str, value) -> None:
    import pickle

    path = session / "Videos" / cam / "cameraIntrinsicsExtrinsics.pickle"
    with open(path, "rb") as fh:
        data = pickle.load(fh)  # written by the test's own simulator: trusted
    data[key] = value
    with open(path, "wb") as fh:
        pickle.dump(data, fh)


@pytest.mark.parametrize("break_it, error, message", [
    (lambda s: _edit_metadata(s, height_m="tall"), InputError, r"sessionMetadata\.yaml: height_m is 'tall'"),
    (lambda s: _edit_metadata(s, height_m=175), InputError, "height_m is 175 \\(it looks like centimetres\\)"),
    (lambda s: _edit_calibration(s, "Cam1", "intrinsicMat", np.zeros((3, 3))), InputError,
     r"Cam1.*focal lengths fx=0, fy=0 px must be positive"),
    (lambda s: _edit_calibration(s, "Cam0", "intrinsicMat", np.full((3, 3), np.nan)), InputError,
     r"Cam0.*intrinsic matrix holds NaN"),
    (lambda s: (s / "Videos" / "Cam1" / "cameraIntrinsicsExtrinsics.pickle").unlink(), InputError,
     r"camera\(s\) Cam1 have no cameraIntrinsicsExtrinsics\.pickle"),
])
def test_bad_inputs_are_named_before_any_stage(detections_session, tmp_path, break_it, error, message):
    session = _copy(detections_session, tmp_path / "s")
    break_it(session)
    with pytest.raises(error, match=message):
        run_session(session, **UP_TO)
    assert not (session / "mv3d" / "squat.h5").exists()  # no stage ran


@pytest.mark.parametrize("config, message", [
    ({"triangulation": {"filter_cutoff_hz": -6}}, "filter_cutoff_hz must be positive"),
    ({"triangulation": {"min_confidence": 1.5}}, r"min_confidence must lie in \[0, 1\]"),
    ({"kinematics": {"height_m": 175}}, r"kinematics: height_m is 175 \(it looks like centimetres\); write the "
                                        r"subject's height in m between 0.5 and 2.7, e.g. height_m: 1.75"),
    ({"kinematics": {"mass_kg": 700}}, r"kinematics: mass_kg is 700; write the subject's mass in kg between 10 "
                                       r"and 400, e.g. mass_kg: 70"),
])
def test_config_values_are_checked_at_load(detections_session, config, message):
    with pytest.raises(ConfigError, match=message):
        run_session(detections_session, config=config)


def test_config_alias_bomb_is_a_quick_named_error(detections_session, tmp_path):
    lines = ["triangulation:", "  method: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  b{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml: its anchors and aliases expand") as err:
        run_session(detections_session, config=path)
    assert len(str(err.value)) < 400


def test_video_of_another_size_is_refused_before_the_2d_model(detections_session, tmp_path):
    session = _copy(detections_session, tmp_path / "s")
    _with_videos(session, {"Cam0": 60.0, "Cam1": 60.0})
    from calibration import load_rig

    size = load_rig(session / "Videos")["Cam1"].size
    _blank_video(session / "Videos" / "Cam1" / "InputMedia" / "squat" / "squat.mp4", (size[0] // 2, size[1] // 2),
                 60.0, 20)
    config = {"keypoints2d": {"source": "network"}}
    with pytest.raises(InputError, match=rf"camera Cam1: the video squat\.mp4 is {size[0] // 2}x{size[1] // 2} px"):
        run_session(session, config=config)
    assert not (session / "mv3d" / "squat.h5").exists()


def test_batch_fails_a_broken_session_at_once_and_lists_every_folder(detections_session, tmp_path):
    from pipelines.batch import run_batch, survey_sessions

    root = tmp_path / "root"
    good = _copy(detections_session, root / "good")
    broken = _copy(detections_session, root / "broken")
    (root / "notes").mkdir()
    _with_videos(good, {"Cam0": 60.0, "Cam1": 60.0})
    _with_videos(broken, {"Cam0": 60.0, "Cam1": 60.0})
    (broken / "Videos" / "Cam1" / "InputMedia" / "squat" / "squat.mp4").write_bytes(b"")  # zero bytes
    sessions, skipped = survey_sessions(root)
    assert [p.name for p in sessions] == ["broken", "good"] and [Path(r["session"]).name for r in skipped] == ["notes"]
    result = run_batch(sessions, tmp_path / "out", skipped=skipped,
                       config=_write(tmp_path / "c.yaml", {"visuals": {"overlay_videos": False,
                                                                       "skeleton_video": False}}))
    rows = {Path(r["session"]).name: r for r in result.rows}
    assert rows["broken"]["status"] == "failed" and rows["broken"]["trial"] == "squat"
    assert "camera Cam1" in rows["broken"]["error"] and "squat.mp4: the video file is empty" in rows["broken"]["error"]
    assert rows["broken"]["seconds"] < 30  # failed at the door, not after the stages
    assert not (broken / "mv3d" / "squat.h5").exists()
    assert rows["good"]["status"] == "ok"
    assert rows["notes"]["status"] == "skipped" and "not a session" in rows["notes"]["error"]
    assert math.isnan(rows["notes"]["seconds"])


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_camera_missing_from_the_calibration_is_named(shared_data, tmp_path):
    """The real Pose2Sim session with one camera taken out of its calibration: the message names it."""
    import tomllib

    import tomli_w

    session = tmp_path / "p2s"
    shutil.copytree(shared_data / "pose2sim-demo", session, ignore=shutil.ignore_patterns("videos", "static-trial"))
    for calib in (session / "calibration").glob("*"):
        calib.unlink() if calib.name != "Calib_qualisys.toml" else None
    toml = session / "calibration" / "Calib_qualisys.toml"
    doc = tomllib.loads(toml.read_text())
    doc.pop([k for k in doc if k != "metadata"][-1])
    toml.write_text(tomli_w.dumps(doc))
    with pytest.raises(InputError, match=r"camera 'cam04' has no match in the calibration \(cameras: "):
        run_session(session, **UP_TO)
    assert not (session / "mv3d" / "pose2sim-demo.h5").exists()
