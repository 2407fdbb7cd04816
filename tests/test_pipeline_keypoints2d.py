"""The keypoints2d stage on real videos without detections: the default model end to end, its heatmaps kept for
volumetric triangulation, the report naming the model and its derived joints, and the warning for the demo
weights on a real session. Data: a 8-frame clip of the four Pose2Sim lab videos."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from mv3d.io.heatmaps import HeatmapFile, write_heatmaps
from mv3d.io.store import SessionStore
from mv3d.skeleton import JOINT_INDEX
from mv3d.triangulate import reconstruct
from pipelines.session import discover_session
from tests.test_pose2d_cli import write_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRAMES = 8
LOWER_LIMBS = [f"{s}_{j}" for s in "lr" for j in ("hip", "knee", "ankle", "heel", "big_toe", "small_toe")]


@pytest.fixture(scope="module")
def clip_session(shared_data, tmp_path_factory):
    """A Pose2Sim-layout session: the lab's calibration and the first frames of its four videos, no pose/."""
    root = tmp_path_factory.mktemp("clip") / "lab"
    (root / "calibration").mkdir(parents=True)
    (root / "videos").mkdir()
    shutil.copy(shared_data / "pose2sim-demo" / "calibration" / "Calib_qualisys.toml", root / "calibration")
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        write_clip(shared_data / "pose2sim-demo" / "videos" / f"{cam}.mp4", root / "videos" / f"{cam}.avi", FRAMES)
    (root / "sessionMetadata.yaml").write_text(yaml.safe_dump({"height_m": 1.7, "mass_kg": 70}))
    return root


def copy_of(session, tmp_path):
    out = tmp_path / session.name
    shutil.copytree(session, out)
    return out


def test_volumetric_run_aggregates_the_default_models_heatmaps(clip_session, tmp_path):
    from pipelines.run import run_session

    session = copy_of(clip_session, tmp_path)
    config = {"triangulation": {"method": "volumetric", "limb_constraints": False}, "sync": {"enabled": False}}
    run_session(session, config=config, stop="triangulation")
    store = SessionStore(session / "mv3d" / "lab.h5")
    attrs = store.attrs("keypoints2d")
    assert attrs["source"] == "network" and attrs["model"] == attrs["model_name"] == "blazepose_heavy"
    assert attrs["derived_joints"] == ["l_small_toe", "r_small_toe"]
    kp = store.read("keypoints2d")
    heatmaps = HeatmapFile(session / "mv3d" / "lab_heatmaps2d.h5")
    assert heatmaps.source == "blazepose_heavy" and heatmaps.cameras == list(attrs["cameras"])
    maps, to_image = heatmaps.read(heatmaps.cameras[0], np.arange(FRAMES))
    assert maps.shape == (FRAMES, 23, 64, 64) and maps.dtype == np.float16 and to_image.shape == (FRAMES, 2, 3)
    toes = [JOINT_INDEX["l_small_toe"], JOINT_INDEX["r_small_toe"]]
    assert np.isnan(maps[:, toes]).all() and np.isfinite(maps[:, JOINT_INDEX["l_knee"]]).all()
    # the crop -> image transform: each confident joint's heatmap peak lands on its keypoint (within a cell)
    for j in (JOINT_INDEX["l_knee"], JOINT_INDEX["r_ankle"], JOINT_INDEX["l_shoulder"]):
        peak = np.array([np.unravel_index(np.argmax(m), m.shape)[::-1] for m in maps[:, j].astype(float)])
        xy = np.einsum("fab,fb->fa", to_image[:, :, :2], peak) + to_image[:, :, 2]
        cell_px = np.sqrt(np.abs(np.linalg.det(to_image[:, :, :2])))
        assert (np.linalg.norm(xy - kp[0, :, j, :2], axis=-1) < 1.5 * cell_px).all()
    points = store.read("points3d")
    assert store.attrs("points3d")["evidence"] == "heatmaps"
    assert np.isfinite(points[:, [JOINT_INDEX[n] for n in LOWER_LIMBS]]).all()
    algebraic = reconstruct(_rig(session), np.where(kp[..., 2:] >= 0.3, kp, np.nan), filter="butterworth:6.0",
                            fps=60.0).points
    assert np.nanmedian(np.linalg.norm(points - algebraic, axis=-1)) < 0.03    # metres
    assert discover_session(session).simulated is False
    html = (session / "mv3d" / "report" / "lab.html").read_text()
    assert "2D keypoints: the 2D model blazepose_heavy." in html and "Derived, not detected: l_small_toe" in html
    # the lab calibration states 1088 px for the 1080 px wide videos of cam01 and cam02: a codec's padding
    warnings = json.loads((session / "mv3d" / "lab_warnings.json").read_text())["inputs"]
    assert any("cam01.avi is 1080x1920 px" in w and "padding to 16-pixel blocks" in w for w in warnings)


def _rig(session):
    from calibration import load_rig

    return load_rig(session / "mv3d" / "calibration.toml")


def test_demo_weights_on_a_real_session_warn_in_the_log_and_report(clip_session, tmp_path, caplog):
    from pipelines.run import run_session

    session = copy_of(clip_session, tmp_path)
    run_session(session, config={"keypoints2d": {"model": "demo_synthetic"}}, stop="keypoints2d")
    message = "the 2D model demo_synthetic was trained on simulator renders only and does not see real people"
    assert message in caplog.text
    assert any(message in m for m in json.loads((session / "mv3d" / "lab_warnings.json").read_text())["keypoints2d"])
    assert message in (session / "mv3d" / "report" / "lab.html").read_text()


def test_simulated_sessions_are_recognised(tmp_path):
    from mv3d.simulate.session import write_rig_toml
    from pipelines.session import Session

    session = Session(tmp_path, "opencap", None, {})
    assert not session.simulated
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "rig.toml").write_text("[metadata]\nwritten_by = 'someone'\n")
    assert not session.simulated
    write_rig_toml(_toy_rig(), tmp_path / "truth" / "rig.toml")
    assert session.simulated


def _toy_rig():
    from mv3d.simulate.rigs import make_rig

    return make_rig("opencap2", np.zeros(3), np.array([1.0, 0, 0]), resolution=120)


def test_heatmap_file_reads_any_frames_and_marks_missing_ones(tmp_path):
    path = tmp_path / "h.h5"
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 1, (4, 23, 8, 8)).astype(np.float16)
    to_image = rng.normal(size=(4, 2, 3))
    with write_heatmaps(path, "test") as out:
        out.add("camA", np.array([2, 3, 5, 6]), maps, to_image)
    f = HeatmapFile(path)
    got, aff = f.read("camA", np.array([6, 2, 4, 6, -1]))
    np.testing.assert_array_equal(got[[0, 3]], maps[[3, 3]])
    np.testing.assert_array_equal(got[1], maps[0])
    assert np.isnan(got[[2, 4]].astype(float)).all() and np.isnan(aff[[2, 4]]).all()
    np.testing.assert_array_equal(aff[0], to_image[3])
    with pytest.raises(Exception, match="no heatmaps for camera 'camB'"):
        f.read("camB", np.arange(2))
