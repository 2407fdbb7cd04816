"""Camera synchronisation from 2D keypoints: simulated sessions with known offsets, the real
Pose2Sim demo (synchronised by hardware, so the truth is zero), bad input."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import yaml
from test_video_simdata import simulate_session

from mv3d.errors import InputError
from mv3d.video.sync import SyncParams, synchronize

FPS = 60.0

# (motion, cameras, seed): walking (periodic in the image: correlation alone confuses strides),
# squats (feet static, only the overall speed signal carries them), a near-static stance
# with one arm raise (a single slow event).
SESSIONS = [("walk", 2, 1), ("walk", 5, 3), ("squat", 3, 4), ("squat", 4, 5), ("arm_raise", 4, 6)]


@pytest.mark.slow
def test_sync_simulated_sessions_subframe():
    errors = []
    for motion, n_cams, seed in SESSIONS:
        kp, rig, start, _ = simulate_session(motion, n_cams, seconds=5.0, seed=seed)
        res = synchronize(kp, FPS, rig, [c.name for c in rig])
        err = (res.offsets - start)[1:] * FPS  # frames; camera 0 is the reference (0 by definition)
        errors.extend(err)
        print(f"{motion} x{n_cams}: true {np.round(start[1:] * FPS, 3)} frames, error {np.round(err, 3)}, "
              f"confidence {np.round(res.confidence[1:], 2)}")
        assert res.offsets[0] == 0.0
        # Every movement here is unambiguous: all offsets must be trusted, no warning.
        assert (res.confidence >= 0.5).all() and not res.warnings, (motion, res.warnings)
    errors = np.abs(errors)
    print(f"|error| over {errors.size} offsets (frames): median {np.median(errors):.4f}, "
          f"90th pct {np.percentile(errors, 90):.4f}, max {errors.max():.4f}")
    # Spec: median below 0.1 frame, none above 0.5 frame (1.5 px noise, random sub-frame starts).
    assert np.median(errors) < 0.1
    assert errors.max() < 0.5


def test_sync_static_trial_is_flagged_not_trusted(caplog):
    # Standing still (4 mm sway): nothing tells the cameras apart in time. The result must carry
    # a low confidence and a clear warning rather than pose as a measurement.
    kp, rig, start, _ = simulate_session("static", 3, seconds=4.0, seed=7)
    with caplog.at_level(logging.WARNING, logger="mv3d.video.sync"):
        res = synchronize(kp, FPS, rig)
    assert (res.confidence[1:] < 0.5).all()
    assert len(res.warnings) == 2 and all("uncertain" in w and "near-static" in w for w in res.warnings)
    assert "cam1" in res.warnings[0] or "cam2" in res.warnings[0]
    assert any("uncertain" in r.message for r in caplog.records)


def test_sync_correlation_only_is_right_or_flagged():
    # Without calibration only the correlation of motion signals is available. It is exact
    # enough on distinct motion and easily fooled by repetitive motion inside the lag window
    # (squats, strides); the contract is then honesty: every offset is either within a frame
    # of the truth or reported with a confidence below 0.5 (and a warning).
    n_right = 0
    for motion, n_cams, seed in (("walk", 3, 2), ("walk", 4, 12), ("squat", 4, 13), ("arm_raise", 3, 14)):
        kp, rig, start, _ = simulate_session(motion, n_cams, seconds=5.0, seed=seed)
        res = synchronize(kp, FPS, None)
        assert res.methods[1:] == ["correlation"] * (n_cams - 1)
        err = np.abs(res.offsets - start)[1:] * FPS
        conf = res.confidence[1:]
        assert np.all((err < 1.0) | (conf < 0.5)), (motion, err, conf)
        assert sum(c < 0.5 for c in conf) == len(res.warnings)
        n_right += int(np.sum(err < 1.0))
    assert n_right >= 4  # and it does find the easy ones (walking cameras with distinct views)


@pytest.mark.slow
def test_sync_fits_clock_drift():
    # Camera 2 runs at 59.94 fps (NTSC) against 60: over 8 s its clock slips 0.48 frame.
    rates = np.array([60.0, 60.0, 60.0 * 1000 / 1001])
    kp, rig, start, _ = simulate_session("walk", 3, seconds=8.0, seed=21, rates=rates)
    res = synchronize(kp, FPS, rig, params=SyncParams(fit_drift=True))
    assert np.abs((res.offsets - start) * FPS).max() < 0.15  # sub-frame offsets with the rate fitted
    # rate within 150 ppm (0.01 fps): the slip over the trial is then below 0.1 frame.
    assert abs(res.rates[2] - rates[2]) < 0.01 and abs(res.rates[1] - 60.0) < 0.01


def test_sync_camera_without_detections_is_named():
    kp, rig, _, _ = simulate_session("walk", 3, seconds=3.0, seed=2)
    kp[2, ..., :2] = np.nan
    kp[2, ..., 2] = 0.0
    with pytest.raises(InputError, match=r"camera cam3: no detections"):
        synchronize(kp, FPS, rig, [c.name for c in rig])


def test_sync_offset_beyond_window_is_an_error():
    # A 40-frame offset searched within ±0.25 s (15 frames): the optimum sits on the window's edge.
    kp, rig, _, _ = simulate_session("walk", 3, seconds=4.0, seed=2)
    kp[1] = np.concatenate([kp[1, 40:], np.full_like(kp[1, :40], np.nan)])
    kp[1, -40:, :, 2] = 0.0
    with pytest.raises(InputError, match=r"camera cam2: .*edge of the searched window.*--max-offset"):
        synchronize(kp, FPS, rig, [c.name for c in rig], params=SyncParams(max_offset=0.25))


# ----------------------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def demo(shared_data):
    from calibration import load_rig
    from mv3d.io import read_keypoints

    root = shared_data / "pose2sim-demo"
    kp = read_keypoints(root / "pose", format="openpose", fps=FPS)
    rig = load_rig(root / "calibration" / "Calib_qualisys.toml")
    return kp, rig


def test_sync_real_demo_is_synchronised(demo):
    kp, rig = demo
    rig = rig.select(kp.cameras)
    res = synchronize(kp.data, kp.fps, rig, kp.cameras)
    print("Pose2Sim demo offsets (frames):", dict(zip(kp.cameras, np.round(res.offsets * FPS, 3))))
    # The four cameras are hardware-synchronised: every offset must be within 0.5 frame of 0.
    assert np.abs(res.offsets * FPS).max() < 0.5
    assert (res.confidence > 0.5).all()


@pytest.mark.slow
def test_sync_real_demo_finds_a_known_shift(demo):
    from mv3d.timeseries import resample
    kp, rig = demo
    rig = rig.select(kp.cameras)
    base = synchronize(kp.data, kp.fps, rig, kp.cameras).offsets * FPS
    for cam, shift in ((1, 7.5), (3, -4.25)):
        data = kp.data.copy()
        frames = np.arange(data.shape[1], dtype=float)
        # Camera's frame k now shows what it showed at frame k + shift: it started shift frames later.
        moved = resample(frames, np.where(data[cam, ..., 2:3] > 0, data[cam], np.nan), frames + shift)
        moved[..., 2] = np.nan_to_num(moved[..., 2])
        data[cam] = moved
        res = synchronize(data, kp.fps, rig, kp.cameras)
        found = res.offsets[cam] * FPS
        print(f"{kp.cameras[cam]} shifted by {shift} frames: found {found:.3f} (unshifted {base[cam]:.3f})")
        # Spec: the known shift within 0.25 frame.
        assert abs(found - shift) < 0.25


def test_cli_sync_writes_offsets_yaml(demo, shared_data, tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import cli

    root = shared_data / "pose2sim-demo"
    out = tmp_path / "offsets.yaml"
    result = CliRunner().invoke(cli, ["sync", "--keypoints", str(root / "pose"), "--format", "openpose",
                                      "--calib", str(root / "calibration" / "Calib_qualisys.toml"),
                                      "--fps", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(out.read_text())
    assert set(doc) == {"cam01", "cam02", "cam03", "cam04", "confidence"}
    assert doc["cam01"] == 0.0
    assert all(abs(doc[c]) < 0.5 / FPS for c in ("cam02", "cam03", "cam04"))
    assert set(doc["confidence"]) == {"cam01", "cam02", "cam03", "cam04"}


def test_sync_treadmill_running_prefers_the_smallest_of_tied_offsets():
    # A treadmill runner repeats every stride (0.72 s at 3.5 m/s): an offset one stride away fits the
    # views almost as well (reprojection costs within a few %). Phones start within a fraction of a
    # second of each other, so the smallest of the tied offsets is the one to keep.
    from mv3d.simulate.detections import DetectionNoise
    from mv3d.simulate.session import SimulationConfig, simulate

    sim = simulate(SimulationConfig(motion="run", seconds=6.0, rig="opencap3", resolution=360, seed=1,
                                    noise=DetectionNoise(second_person=False)))
    n = max(int(c.frame_index[-1]) + 1 for c in sim.timing.cameras)
    kp = np.full((3, n, 23, 3), np.nan)
    kp[..., 2] = 0.0
    for c, clock in enumerate(sim.timing.cameras):
        kp[c, clock.frame_index] = sim.detections[c]
    res = synchronize(kp, FPS, sim.rig, sim.rig.names, params=SyncParams(max_offset=1.0))
    true = np.array(list(sim.timing.offsets().values()))
    assert np.abs(res.offsets - true).max() < 1.5 / FPS



@pytest.mark.slow
def test_sync_running_with_a_passer_by_in_one_camera(tmp_path):
    # Simulated treadmill running with a passer-by: camera Cam1's imported detections follow him for
    # two seconds (the person picked in that camera is the wrong one), then nobody. One stride (48
    # frames) away that stretch slides out of the other cameras' window, so that offset fits the
    # points it overlaps better; compared on the same points it is a tie (the runner repeats every
    # stride), and ties go to the smallest offset. It used to lock Cam1 one stride away.
    from calibration import load_rig, save_rig
    from mv3d.simulate.session import SimulationConfig, simulate, write_session
    from mv3d.triangulate.swaps import apply_swaps, find_swaps
    from pipelines.session import discover_session

    sim = simulate(SimulationConfig(motion="run", variant=1001, rig="opencap3", seed=8, seconds=6.0))
    write_session(sim, tmp_path, video=False, calibration_writer=lambda r, d: save_rig(r, d, format="opencap"))
    session = discover_session(tmp_path)
    trial = next(iter(session.trials.values()))
    kp = trial.read_detections(trial.cameras, "openpose", FPS)
    rig = load_rig(session.calibration).select(trial.cameras, in_order=True)
    res = synchronize(apply_swaps(kp, find_swaps(kp)), FPS, rig, rig.names)
    true = yaml.safe_load((tmp_path / "truth" / "offsets.yaml").read_text())
    err = (res.offsets - np.array([true[c] for c in rig.names])) * FPS
    print("errors (frames):", np.round(err, 2), "confidence", np.round(res.confidence, 2))
    assert np.abs(err).max() < 2.0
