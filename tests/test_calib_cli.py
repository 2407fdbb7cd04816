"""``mv3d convert calib`` and ``mv3d calibrate ...`` end to end on real and rendered data."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from calibration import load_rig, save_rig
from calibration.board import Checkerboard
from calibration.synthetic import look_at, observe, perturb, render_board, ring_rig, sample_board_poses, stick_figure
from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError


def _cli():
    from pipelines.cli import cli

    return cli


def test_convert_qualisys_to_toml(shared_data, tmp_path):
    src = shared_data / "pose2sim-demo" / "calibration" / "Calib.qca.txt"
    out = tmp_path / "calib.toml"
    res = CliRunner().invoke(_cli(), ["convert", "calib", str(src), str(out), "--to", "toml"])
    assert res.exit_code == 0, res.output
    assert "(qualisys)" in res.output and "cam04" in res.output and "reprojection after round trip" in res.output
    a, b = load_rig(src), load_rig(out)
    np.testing.assert_allclose(b.project(np.array([[0.2, 0.1, 1.0]])), a.project(np.array([[0.2, 0.1, 1.0]])),
                               atol=1e-9)


def test_convert_bad_pickle_writes_nothing(tmp_path):
    src = tmp_path / "cameraIntrinsicsExtrinsics.pickle"
    with open(src, "wb") as fh:
        pickle.dump({"intrinsicMat": np.eye(3), "distortion": np.zeros((1, 5))}, fh)
    out = tmp_path / "out.toml"
    res = CliRunner().invoke(_cli(), ["convert", "calib", str(src), str(out), "--to", "toml"])
    assert isinstance(res.exception, InputError)
    assert "has no key 'imageSize'" in str(res.exception) and str(src) in str(res.exception)
    assert not out.exists()


def _write_board_images(folder: Path, cam: Camera, board: Checkerboard, poses, rng) -> Path:
    import cv2

    folder.mkdir(parents=True)
    for i, (R, t) in enumerate(poses):
        cv2.imwrite(str(folder / f"{i:03d}.png"), render_board(cam, board, R, t, rng=rng))
    return folder


@pytest.mark.slow
def test_calibrate_intrinsics_then_extrinsics(tmp_path):
    board = Checkerboard(9, 6, 0.06)
    rng = np.random.default_rng(5)
    centre = board.object_points().mean(axis=0)
    cams = []
    for i in range(2):
        a = 0.6 + 1.6 * i
        R, t = look_at(centre + [1.8 * np.cos(a), 1.8 * np.sin(a), -1.1], centre, up=np.array([0.0, 0.0, -1.0]))
        cams.append(Camera(f"cam{i}", (800, 600), [[650.0, 0, 402], [0, 650, 297], [0, 0, 1]],
                           [-0.1, 0.03, 0, 0, 0], R, t))
    intr_dirs, ext_dirs = [], []
    for cam in cams:
        intr_dirs.append(_write_board_images(tmp_path / "intr" / cam.name, cam, board,
                                             sample_board_poses(cam, board, 10, rng, distance=(0.9, 1.3)), rng))
        ext_dirs.append(_write_board_images(tmp_path / "ext" / cam.name, cam, board, [(cam.R, cam.t)] * 2, rng))
    intr = tmp_path / "out" / "intrinsics.toml"
    res = CliRunner().invoke(_cli(), ["calibrate", "intrinsics", *map(str, intr_dirs), "--board", "9x6",
                                      "--square", "60", "--out", str(intr)])
    assert res.exit_code == 0, res.output
    assert "cam0: RMS" in res.output and "cam1: RMS" in res.output
    assert (tmp_path / "out" / "intrinsics_intrinsics_cam1.png").exists()
    rig = load_rig(intr)
    np.testing.assert_allclose(rig.K[:, 0, 0], 650.0, rtol=0.005)

    ext = tmp_path / "out" / "calib.toml"
    res = CliRunner().invoke(_cli(), ["calibrate", "extrinsics", *map(str, ext_dirs), "--intrinsics", str(intr),
                                      "--board", "9x6", "--square", "60", "--placement", "ground", "--out", str(ext)])
    assert res.exit_code == 0, res.output
    assert "reprojection" in res.output and "OpenSim up = world -z" in res.output
    assert (tmp_path / "out" / "calib_extrinsics_cam0.png").exists()
    out = load_rig(ext)
    # mean camera centre error below 1 cm (rendered 800x600 images, board 1.5-2.3 m away)
    assert np.linalg.norm(out.centers - np.array([c.center for c in cams]), axis=1).max() < 0.01

    # image size that disagrees with the intrinsics: clear error, nothing written
    small = load_rig(intr)
    wrong = CameraRig([Camera(c.name, (640, 480), c.K, c.dist, c.R, c.t) for c in small])
    save_rig(wrong, tmp_path / "wrong.toml")
    bad_out = tmp_path / "out" / "bad.toml"
    res = CliRunner().invoke(_cli(), ["calibrate", "extrinsics", *map(str, ext_dirs), "--intrinsics",
                                      str(tmp_path / "wrong.toml"), "--board", "9x6", "--square", "60",
                                      "--out", str(bad_out)])
    assert isinstance(res.exception, InputError)
    assert "is 800x600 but the intrinsics are for 640x480" in str(res.exception)
    assert not bad_out.exists() and not list((tmp_path / "out").glob("bad_*.png"))


def test_calibrate_intrinsics_no_board_writes_nothing(tmp_path):
    import cv2

    folder = tmp_path / "camX"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((120, 160), 90, np.uint8))
    out = tmp_path / "intr.toml"
    res = CliRunner().invoke(_cli(), ["calibrate", "intrinsics", str(folder), "--board", "9x6", "--square", "60",
                                      "--out", str(out)])
    assert isinstance(res.exception, InputError)
    assert "no 9x6 checkerboard found in any of the 3 images" in str(res.exception)
    assert not out.exists()


def test_calibrate_refine_on_keypoints(tmp_path):
    from mv3d.io import write_keypoints_h5
    from mv3d.io.keypoints import Keypoints2D

    rng = np.random.default_rng(2)
    truth = ring_rig(3)
    person = stick_figure(80)
    kp = observe(truth, person, noise_px=1.0, rng=rng)
    write_keypoints_h5(tmp_path / "kp.h5", Keypoints2D(kp, truth.names, np.arange(80), 30.0))
    save_rig(perturb(truth, rng, 2.0, 0.05), tmp_path / "start.toml")
    out = tmp_path / "refined.toml"
    res = CliRunner().invoke(_cli(), ["calibrate", "refine", "--calib", str(tmp_path / "start.toml"), "--keypoints",
                                      str(tmp_path / "kp.h5"), "--format", "h5", "--height", "1.75",
                                      "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "cam2: median reprojection" in res.output
    assert (tmp_path / "refined_refine_cam2.png").exists()
    refined = load_rig(out)
    assert np.linalg.norm(refined.centers - truth.centers, axis=1).max() < 0.03
