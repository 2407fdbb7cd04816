"""Simulated sessions: truth consistency, clocks, detections, determinism, real motion, bad input."""
from __future__ import annotations

import json
import logging
import tomllib

import numpy as np
import pytest
import yaml

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.simulate.session import SimulationConfig, simulate, write_session, write_truth
from mv3d.skeleton import MV3D25, convert_keypoints


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    sim = simulate(SimulationConfig(motion="squat", seconds=1.5, rig="opencap3", resolution=360, seed=3))
    write_session(sim, out, video=False)
    return sim, out


def _rig_from_toml(path) -> CameraRig:
    with open(path, "rb") as fh:
        doc = tomllib.load(fh)
    cams = [Camera.from_rvec(t["name"], t["size"], t["matrix"], t["distortions"], t["rotation"], t["translation"])
            for k, t in doc.items() if k != "metadata"]
    return CameraRig(cams, doc["metadata"]["R_to_opensim"])


def test_written_calibration_reprojects_truth(session):
    from mv3d.io import read_trc

    sim, out = session
    rig = _rig_from_toml(out / "truth" / "rig.toml")
    assert rig.names == ["Cam0", "Cam1", "Cam2"]
    assert np.allclose(rig.R_to_opensim, sim.rig.R_to_opensim)
    truth = np.load(out / "truth" / "truth2d.npz")
    for k, name in enumerate(rig.names):
        xyz, uv = truth[f"xyz_{name}"], truth[f"uv_{name}"]
        assert xyz.shape == (len(sim.timing.cameras[k].times), 25, 3) and uv.shape == (xyz.shape[0], 23, 2)
        # The file's floats are exact reprs; the only loss is R -> Rodrigues -> R (~1e-15).
        assert np.abs(rig.subset([name]).project(xyz[:, :23])[0] - uv).max() < 1e-6
        w, h = rig[name].size
        assert (uv[..., 0] > 0).all() and (uv[..., 0] < w).all() and (uv[..., 1] > 0).all() and (uv[..., 1] < h).all()
    # keypoints3d.trc holds the first camera's 3D at its frame times (1 nm resolution in the
    # file -> < 1e-6 px at 900 px focal length and 3 m).
    trc = read_trc(out / "truth" / "keypoints3d.trc")
    assert trc.marker_names == list(MV3D25)
    assert np.allclose(trc.times, sim.timing.cameras[0].times, atol=1e-8)
    assert np.abs(rig.subset(["Cam0"]).project(trc.points[:, :23])[0] - truth["uv_Cam0"]).max() < 1e-6


def test_clocks_and_offsets(session):
    sim, out = session
    offsets = yaml.safe_load((out / "truth" / "offsets.yaml").read_text())
    timing = yaml.safe_load((out / "truth" / "timing.yaml").read_text())
    assert offsets["Cam0"] == 0.0
    for clock in sim.timing.cameras:
        assert offsets[clock.name] == pytest.approx(clock.start - sim.timing.cameras[0].start, abs=1e-12)
        # Frame k of a camera is at start + k / fps exactly; dropped frames leave gaps.
        assert np.allclose(clock.times, clock.start + clock.frame_index / clock.fps, atol=1e-12)
        assert clock.fps in (60.0, pytest.approx(60000 / 1001))
        assert timing["cameras"][clock.name]["frames"] == len(clock.times)
    # Sub-frame offsets: not multiples of a frame interval.
    frac = np.array([v * 60.0 % 1.0 for v in offsets.values()][1:])
    assert np.all((frac > 1e-3) & (frac < 1 - 1e-3))
    # The 3D of each camera is the motion evaluated at that camera's own times (real offsets).
    k = 2
    assert np.allclose(sim.points3d[k], sim.source.keypoints_at(sim.timing.cameras[k].times) @ sim.rig.R_to_opensim,
                       atol=1e-12)


def test_openpose_json_matches_detections(session):
    sim, out = session
    for k, clock in enumerate(sim.timing.cameras):
        folder = out / "truth" / "detections" / clock.name
        files = sorted(folder.glob("*.json"))
        assert len(files) == len(clock.times)
        assert files[0].name == f"squat_{clock.frame_index[0]:012d}_keypoints.json"
        for f in (0, len(files) // 2):
            people = json.loads(files[f].read_text())["people"]
            arrays = [convert_keypoints(np.array(p["pose_keypoints_2d"]).reshape(25, 3), "BODY_25B") for p in people]
            det = sim.detections[k][f]
            if not np.isfinite(det[:, 0]).any():
                continue
            # The subject is one of the people; coordinates are written with 3 decimals.
            best = min(np.nanmax(np.abs(a - det)) if np.array_equal(np.isnan(a), np.isnan(det)) else np.inf
                       for a in arrays)
            assert best < 1e-3


def test_detection_error_model_statistics():
    # Larger session, no outliers/swaps/misses: the noise scales with person size as configured.
    from dataclasses import replace

    from mv3d.simulate.detections import DetectionNoise, _joint_scale

    noise = DetectionNoise(outlier_rate=0.0, swap_rate=0.0, miss_rate=0.0, second_person=False, correlation=0.0)
    sim = simulate(SimulationConfig(motion="arm_raises", seconds=3.0, rig="opencap2", resolution=720, seed=1,
                                    noise=noise))
    ratios = []
    for k in range(len(sim.rig)):
        uv, det = sim.truth2d[k], sim.detections[k]
        bbox = uv[..., 1].max(axis=1) - uv[..., 1].min(axis=1)
        err = (det[..., :2] - uv) / (noise.sigma * bbox[:, None, None] * _joint_scale(noise)[None, :, None])
        ratios.append(err[np.isfinite(err).all(-1)])
    ratios = np.concatenate(ratios)
    # Normalised errors are standard normal, inflated only for hidden joints (factor <= 2.5):
    # the median |error| of a unit normal is 0.674; allow up to 30 % for the hidden ones.
    assert 0.6 < np.median(np.abs(ratios)) < 0.674 * 1.3
    assert np.abs(ratios).max() < 2.5 * 6  # no gross errors when outliers are off
    # With defaults, gross errors (> 10 % of the person's height, ~17 sigma) come from
    # outliers (0.4 %) and left/right swaps (~1.6 % of frames, a few joints each).
    noisy = simulate(replace(sim.config, noise=DetectionNoise(second_person=False)))
    far = []
    for k in range(len(noisy.rig)):
        d = np.linalg.norm(noisy.detections[k][..., :2] - noisy.truth2d[k], axis=-1)
        rel = d / np.ptp(noisy.truth2d[k][..., 1], axis=1)[:, None]
        far.append(rel[np.isfinite(rel)] > 0.1)
    assert 0.002 < np.concatenate(far).mean() < 0.03


def test_hidden_joints_have_lower_confidence():
    sim = simulate(SimulationConfig(motion="walk_in_place", seconds=2.0, rig="opencap2", resolution=360, seed=2))
    from mv3d.simulate.detections import hidden_weight

    hid, conf = [], []
    for k in range(len(sim.rig)):
        hid.append(hidden_weight(sim.rig, k, sim.points3d[k], sim.config.noise.occlusion_depth))
        conf.append(sim.detections[k][..., 2])
    hid, conf = np.concatenate(hid).ravel(), np.concatenate(conf).ravel()
    ok = conf > 0
    # Fully hidden joints lose 55 % of their confidence: mean 0.85 -> ~0.4.
    assert conf[ok & (hid > 0.9)].mean() < 0.55 < conf[ok & (hid < 0.1)].mean()


def test_same_seed_same_arrays_other_seed_differs():
    cfg = SimulationConfig(motion="walk_in_place", seconds=1.0, rig="opencap2", resolution=240, seed=11)
    a, b = simulate(cfg), simulate(cfg)
    c = simulate(SimulationConfig(motion="walk_in_place", seconds=1.0, rig="opencap2", resolution=240, seed=12))
    for k in range(2):
        assert a.detections[k].tobytes() == b.detections[k].tobytes()
        assert a.truth2d[k].tobytes() == b.truth2d[k].tobytes()
        assert a.rig[k].K.tobytes() == b.rig[k].K.tobytes()
        assert not np.array_equal(a.detections[k], c.detections[k], equal_nan=True)
    assert a.timing.offsets() == b.timing.offsets() != c.timing.offsets()


def test_same_seed_same_files(tmp_path):
    cfg = SimulationConfig(motion="squat", seconds=1.0, rig="opencap2", resolution=240, seed=5)
    for name in ("a", "b"):
        write_truth(simulate(cfg), tmp_path / name)
    for rel in ("truth/keypoints3d.trc", "truth/mocap.trc", "truth/rig.toml", "truth/offsets.yaml",
                "truth/detections/Cam1/squat_000000000010_keypoints.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


@pytest.mark.slow
def test_real_motion_session(shared_data, tmp_path):
    """OpenCap's real squats on the built-in model: the true .mot equals the input, mocap loads in OpenSim."""
    import opensim

    from mv3d.io import read_mot, read_trc

    mot_path = shared_data / "opencap" / "motions" / "squats1_videoAndMocap.mot"
    sim = simulate(SimulationConfig(motion=str(mot_path), seconds=2.0, rig="opencap2", resolution=240, seed=0))
    write_truth(sim, tmp_path)
    original, written = read_mot(mot_path), read_mot(tmp_path / "truth" / "coordinates.mot")
    n = len(written.times)
    assert written.columns == original.columns and written.in_degrees
    assert n == int(np.sum(original.times <= 2.0 + 1e-9))
    # Written with 8 decimals, as OpenSim does; the input has 8 too.
    assert np.abs(written.values - original.values[:n]).max() < 1e-7
    assert np.abs(written.times - original.times[:n]).max() < 1e-7

    table = opensim.TimeSeriesTableVec3(str(tmp_path / "truth" / "mocap.trc"))
    assert table.getNumColumns() == len(sim.mocap_names) > 30
    assert table.getNumRows() == len(sim.timing.mocap_times)
    assert table.getTableMetaDataAsString("Units") == "mm"
    labels = list(table.getColumnLabels())
    assert labels == sim.mocap_names
    row = table.getRowAtIndex(5)
    first = np.array([row[0][i] for i in range(3)])
    assert np.allclose(first / 1000.0, sim.mocap[5, 0], atol=1e-8)
    # Mocap samples at 100 Hz from its own start; values are the model's markers at those times.
    trc = read_trc(tmp_path / "truth" / "mocap.trc")
    assert trc.rate == 100.0 and np.allclose(np.diff(trc.times), 0.01)
    assert np.allclose(trc.points, sim.source.mocap_at(trc.times), atol=2e-6)


def test_rig_that_misses_the_subject_warns_with_camera_name(caplog):
    from mv3d.simulate.rigs import R_GROUND_TO_OPENSIM, look_at

    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    cams = []
    for name, target in (("front", np.array([0.3, 0.2, 0.9])), ("away", np.array([0.3, 10.0, 0.9]))):
        pos = np.array([0.3, -3.0, 1.2])
        R = look_at(pos, target) if name == "front" else look_at(pos, np.array([0.3, -9.0, 0.9]))
        cams.append(Camera(name, (320, 240), K, np.zeros(5), R, -R @ pos))
    rig = CameraRig(cams, R_GROUND_TO_OPENSIM)
    with caplog.at_level(logging.WARNING, logger="mv3d.simulate.rigs"):
        sim = simulate(SimulationConfig(motion="squat", seconds=1.0, seed=0), rig=rig)
    assert sim.unseen_cameras == ["away"]
    assert "camera away sees only 0%" in caplog.text
    assert "camera front" not in caplog.text


def test_unknown_rig_and_motion_errors():
    with pytest.raises(InputError, match="unknown rig 'ring5'.*opencap2.*ring8"):
        simulate(SimulationConfig(motion="squat", seconds=1.0, rig="ring5"))
    with pytest.raises(InputError, match="unknown motion 'backflip'.*arm_raises.*squat"):
        simulate(SimulationConfig(motion="backflip", seconds=1.0))
    with pytest.raises(InputError, match="does not exist"):
        simulate(SimulationConfig(motion="/nonexistent/trial.mot", seconds=1.0))


def test_cli_writes_opencap_session(tmp_path, shared_data):
    from click.testing import CliRunner

    from pipelines.cli import cli

    result = CliRunner().invoke(cli, ["simulate", "--motion", "walk", "--rig", "opencap2", "--seconds", "1",
                                      "--resolution", "240", "--out", str(tmp_path), "--no-video"])
    assert result.exit_code == 0, result.output
    meta = yaml.safe_load((tmp_path / "sessionMetadata.yaml").read_text())
    default = yaml.safe_load((shared_data / "opencap" / "defaultSessionMetadata.yaml").read_text())
    assert set(default) <= set(meta)
    assert set(default["checkerBoard"]) == set(meta["checkerBoard"])
    assert meta["height_m"] == 1.75 and meta["checkerBoard"]["placement"] == "backWall"  # phones: upright board
    for cam in ("Cam0", "Cam1"):
        assert (tmp_path / "Videos" / cam / "cameraIntrinsicsExtrinsics.pickle").is_file()
        assert (tmp_path / "CalibrationImages" / f"calib_img{cam}.jpg").is_file()
    from calibration import load_rig

    back = load_rig(tmp_path / "Videos")
    truth = _rig_from_toml(tmp_path / "truth" / "rig.toml")
    X = np.random.default_rng(0).uniform([-0.5, -0.5, 0], [0.5, 0.5, 1.8], (50, 3))
    # The OpenCap pickles (written by calibration.save_rig) describe the same cameras.
    assert np.abs(back.project(X) - truth.project(X)).max() < 1e-6


def test_trc_keypoints_as_motion(tmp_path):
    """A TRC of MV3D23 keypoints (OpenSim frame) drives the cameras directly: no coordinates, no mocap."""
    from mv3d.io import write_trc
    from mv3d.simulate.source import builtin_source, load_model

    src = builtin_source("arm_raises", 2.0, load_model(None), rate=100.0)
    write_trc(tmp_path / "arms.trc", src.keypoints[:, :23], MV3D25[:23], src.times)
    sim = simulate(SimulationConfig(motion=str(tmp_path / "arms.trc"), seconds=None, rig="opencap2",
                                    resolution=240, seed=0))
    assert sim.mocap is None and sim.passerby3d == [None, None] and sim.trial == "arms"
    # The TRC is interpolated at the camera times; it matches FK of the same motion to the
    # file's resolution (1 nm) plus the cubic-spline error of 100 Hz samples (< 0.1 mm here).
    t = sim.timing.cameras[1].times
    assert np.abs(sim.points3d[1] - src.keypoints_at(t) @ sim.rig.R_to_opensim).max() < 1e-4
    write_truth(sim, tmp_path / "out")
    assert not (tmp_path / "out" / "truth" / "coordinates.mot").exists()
    assert not (tmp_path / "out" / "truth" / "mocap.trc").exists()
    with pytest.raises(InputError, match="lacks the keypoints nose"):
        write_trc(tmp_path / "bad.trc", src.keypoints[:, 1:23], MV3D25[1:23], src.times)
        simulate(SimulationConfig(motion=str(tmp_path / "bad.trc"), rig="opencap2"))


def test_config_file_defaults_and_errors(tmp_path):
    from pathlib import Path

    from mv3d.config import load_config
    from mv3d.errors import ConfigError
    from mv3d.simulate.session import NoiseAndTiming

    shipped = Path(__file__).resolve().parents[1] / "configs" / "simulate.yaml"
    assert load_config(shipped, NoiseAndTiming) == NoiseAndTiming()  # the shipped file states the defaults
    cfg = load_config({"noise": {"sigma": 0.01, "swap_rate": 0}, "timing": {"fps": 30}}, NoiseAndTiming)
    assert cfg.noise.sigma == 0.01 and cfg.noise.swap_rate == 0.0 and cfg.timing.fps == 30.0
    with pytest.raises(ConfigError, match="unknown key 'noise.sigmaa'; known keys here: sigma"):
        load_config({"noise": {"sigmaa": 0.01}}, NoiseAndTiming)
    with pytest.raises(ConfigError, match="timing.fps: expected a number"):
        load_config({"timing": {"fps": "fast"}}, NoiseAndTiming)

    from click.testing import CliRunner

    from pipelines.cli import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("noise:\n  outliers: 0.1\n")
    result = CliRunner().invoke(cli, ["simulate", "--config", str(bad), "--out", str(tmp_path / "o"), "--no-video"])
    assert result.exit_code != 0 and "bad.yaml: unknown key 'noise.outliers'" in str(result.exception)
