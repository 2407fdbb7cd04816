"""`mv3d run` end to end: a simulated OpenCap session and the real Pose2Sim demo."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from mv3d.errors import InputError
from mv3d.io import read_mot, read_trc
from tests.conftest import simulated_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory) -> Path:
    """A 3 s simulated squat seen by 2 phones (small images to keep the test fast)."""
    return simulated_session(tmp_path_factory.mktemp("sim") / "session", seed=3, video=True)


@pytest.fixture(scope="module")
def sim_run(sim_session) -> dict:
    from pipelines.run import run_session

    return run_session(sim_session)


def test_simulated_session_outputs_and_accuracy(sim_session, sim_run):
    assert sim_run["status"] == "ok"
    for rel in ("MarkerData/PreAugmentation/squat.trc", "MarkerData/PostAugmentation/squat.trc",
                "OpenSimData/Model/mv3d_body_scaled.osim", "OpenSimData/Kinematics/squat.mot",
                "mv3d/squat.h5", "mv3d/report/squat.html", "mv3d/squat_comparison.csv",
                "mv3d/visuals/squat_Cam0_overlay.mp4", "mv3d/visuals/squat_Cam1_overlay.mp4",
                "mv3d/visuals/squat_skeleton.mp4"):
        assert (sim_session / rel).is_file(), rel
    with (sim_session / "mv3d/squat_comparison.csv").open() as fh:
        rows = {r["coordinate"]: r for r in csv.DictReader(fh)}
    assert list(next(iter(rows.values())).keys()) == ["coordinate", "rmse", "mae", "bias", "rom_error", "pearson_r",
                                                       "cmc", "status", "determined_fraction"]
    # IK's coordinate status beside the .mot flags what the markers do not determine (no hand marker)
    assert rows["knee_angle_r"]["status"] == "determined" and rows["pro_sup_r"]["status"] == "undetermined"
    report = (sim_session / "mv3d/report/squat.html").read_text()
    assert "<h2>Coordinates the markers do not determine" in report and "not determined by the markers (" in report
    # Knee flexion is the best-observed angle of a squat: 2 phones, detector-like noise and the
    # built-in augmenter; measured ~2.5 deg. 6 deg leaves room for noise seeds, and fails on a
    # broken sync, triangulation, augmenter or IK (those give 7 to tens of degrees).
    assert float(rows["knee_angle_r"]["rmse"]) < 6.0 and float(rows["knee_angle_l"]["rmse"]) < 6.0
    assert float(rows["knee_angle_r"]["pearson_r"]) > 0.98
    trc = read_trc(sim_session / "MarkerData/PreAugmentation/squat.trc")
    assert trc.marker_names[-2:] == ["neck", "mid_hip"] and trc.units == "m"
    # the TRC is in OpenSim's frame: Y up, the head ~1.3 m above the heels (the origin is the
    # board's, which may hang on a back wall, so only height differences are meaningful)
    def height(name):
        return np.nanmedian(trc.points[:, trc.marker_names.index(name), 1])

    assert 1.1 < height("nose") - height("l_heel") < 1.7
    mot = read_mot(sim_session / "OpenSimData/Kinematics/squat.mot")
    assert mot.in_degrees and "knee_angle_r" in mot.columns


def test_rerun_skips_and_config_change_reruns_downstream(sim_session, sim_run, tmp_path):
    from pipelines.run import run_session

    again = run_session(sim_session)
    assert again["stages_run"] == ""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"triangulation": {"filter_cutoff_hz": 8.0}}))
    changed = run_session(sim_session, config=cfg)
    assert changed["stages_run"].split(",") == ["triangulation", "augmentation", "scaling", "ik", "compare",
                                                "visuals"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_every_image_in_chromium(sim_session, sim_run, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when apt-get is available)")
    html = Path(sim_run["report"]).read_text()
    n_images = len(re.findall(r"<img ", html))
    assert n_images >= 8  # layout, sync, 2 overlays, reprojection, bones, skeleton, IK, angles, comparison
    for heading in ("Cameras and calibration", "Camera synchronisation", "2D keypoints on the videos",
                    "Reprojection error", "Bone-length stability", "3D skeleton", "IK marker errors",
                    "Joint angles", "Comparison with mocap"):
        assert f"<h2>{heading}" in html, heading
    assert "2D keypoints: imported openpose detections." in html  # the simulated session's detections
    # A copy of the page that records, once loaded, each image's decoded width.
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", "<script>window.addEventListener('load',()=>{document.body."
                                  "setAttribute('data-widths',[...document.images].map(i=>i.naturalWidth)"
                                  ".join(','))});</script></body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run([browser, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    widths = [int(w) for w in re.search(r'data-widths="([\d,]*)"', dom).group(1).split(",")]
    assert len(widths) == n_images and min(widths) > 0, widths
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, "--window-size=1200,5000", f"--screenshot={shot}", probe.as_uri()],
                   capture_output=True, timeout=120)
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None
    # every 500 px band of the page holds drawn content (text, tables or plots), none is blank
    for y in range(0, 4500, 500):
        assert img[y:y + 500].std() > 10, f"blank region at y={y}"


def test_pose2sim_demo_runs_without_manual_steps(shared_data, tmp_path):
    from pipelines.run import run_session

    session = tmp_path / "pose2sim-demo"
    shutil.copytree(shared_data / "pose2sim-demo", session)
    for p in session.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    metrics = run_session(session)
    name = "pose2sim-demo"
    for rel in (f"MarkerData/PreAugmentation/{name}.trc", f"MarkerData/PostAugmentation/{name}.trc",
                "OpenSimData/Model/mv3d_body_scaled.osim", f"OpenSimData/Kinematics/{name}.mot",
                f"mv3d/report/{name}.html"):
        assert (session / rel).is_file(), rel
    # Pose2Sim's own reconstruction of these detections measures ~10 px median; mv3d measured ~6 px
    assert metrics["median_reproj_px"] < 8.0
    # the estimated height (no height is given for this subject) is a plausible adult height
    warnings = (session / "mv3d" / f"{name}_warnings.json").read_text()
    height = float(re.search(r"estimated (\d\.\d+) m", warnings).group(1))
    assert 1.5 < height < 1.95


def _bad_session(tmp_path: Path, cams: int = 2, metadata: dict | None = None, calibration: bool = True) -> Path:
    root = tmp_path / "bad"
    for c in range(cams):
        d = root / "Videos" / f"Cam{c}" / "InputMedia" / "walk"
        d.mkdir(parents=True)
        (d / "walk.mp4").write_bytes(b"")
        if calibration:
            (root / "Videos" / f"Cam{c}" / "cameraIntrinsicsExtrinsics.pickle").write_bytes(b"")
    (root / "sessionMetadata.yaml").write_text(yaml.safe_dump(metadata if metadata is not None else
                                                              {"height_m": 1.7, "mass_kg": 60}))
    return root


@pytest.mark.parametrize("kwargs, message", [
    ({"calibration": False}, "has no calibration"),
    ({"cams": 1}, "1 usable camera"),
    ({"metadata": {"mass_kg": 60}}, "height_m is unknown"),
])
def test_bad_sessions_stop_before_heavy_work(tmp_path, kwargs, message):
    from pipelines.run import run_session

    root = _bad_session(tmp_path, **kwargs)
    with pytest.raises(InputError, match=message):
        run_session(root)
    assert not (root / "mv3d").exists()  # nothing was started
