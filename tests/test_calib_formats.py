"""Calibration readers and writers on the real files of ../shared/data, and round trips."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from calibration import detect_format, load_rig, save_rig
from calibration.formats import rotate_image
from calibration.frames import R_ZUP, opencap_rotation, opensim_rotation_for_board, up_axis
from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError


def _random_points(n: int = 2000, seed: int = 0) -> np.ndarray:
    # a capture volume around the Pose2Sim demo's origin (lab frame, Z up, metres)
    return np.random.default_rng(seed).uniform([-1.5, -1.5, 0.0], [1.5, 1.5, 2.0], (n, 3))


def test_qualisys_equals_pose2sim_conversion(shared_data):
    calib = shared_data / "pose2sim-demo" / "calibration"
    qca = load_rig(calib / "Calib.qca.txt")
    toml = load_rig(calib / "Calib_qualisys.toml")
    assert detect_format(calib / "Calib.qca.txt") == "qualisys"
    assert len(qca) == len(toml) == 4
    X = _random_points()
    uv_q, uv_t = qca.project(X), toml.project(X)
    w, h = toml.sizes[0]
    inside = (uv_t[..., 0] >= 0) & (uv_t[..., 0] < w) & (uv_t[..., 1] >= 0) & (uv_t[..., 1] < h)
    assert inside.sum(axis=1).min() > 200  # the test volume is really seen by every camera
    err = np.linalg.norm(uv_q - uv_t, axis=-1)[inside]
    # 0.5 px: the acceptance tolerance; the TOML was written with ~8 significant digits
    assert err.max() < 0.5
    assert tuple(qca.sizes[0]) == (1088, 1920)
    np.testing.assert_allclose(qca.centers, toml.centers, atol=1e-6)
    assert up_axis(qca.R_to_opensim) == "+z"


def test_toml_opencap_toml_round_trip(shared_data, tmp_path):
    rig = load_rig(shared_data / "pose2sim-demo" / "calibration" / "Calib_qualisys.toml")
    files = save_rig(rig, tmp_path / "opencap", format="opencap")
    assert [f.parent.name for f in files] == rig.names
    back = load_rig(tmp_path / "opencap")
    save_rig(back, tmp_path / "again.toml")
    again = load_rig(tmp_path / "again.toml")
    assert again.names == rig.names
    for a, b in zip(rig, again):
        assert a.size == b.size
        # exact up to float rounding of mm<->m and rotation vector<->matrix
        np.testing.assert_allclose(b.K, a.K, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.dist, a.dist, rtol=0, atol=1e-15)
        np.testing.assert_allclose(b.R, a.R, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.t, a.t, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(again.R_to_opensim, rig.R_to_opensim)
    # the OpenCap pickle keeps OpenCap's own keys and units (mm, rows/cols)
    with open(files[0], "rb") as fh:
        d = pickle.load(fh)
    assert d["imageSize"].ravel().tolist() == [1920.0, 1088.0]
    np.testing.assert_allclose(d["translation"].ravel(), rig[0].t * 1000)
    assert not list(tmp_path.rglob("*.tmp"))


def test_opencap_intrinsics_pickles(shared_data):
    for folder in ("Deployed", "Deployed_720_60fps"):
        path = shared_data / "opencap" / "intrinsics" / "iPhone13,3" / folder / "cameraIntrinsics.pickle"
        rig = load_rig(path)
        cam = rig[0]
        assert cam.size == (720, 1280)  # imageSize is (rows, cols) = (1280, 720): portrait
        assert cam.K[0, 0] == pytest.approx(913.222, abs=1e-3)
        assert cam.K[0, 2] == pytest.approx(366.486, abs=1e-3)
        assert cam.dist[4] == pytest.approx(0.21344094, abs=1e-8)
        np.testing.assert_array_equal(cam.R, np.eye(3))


def test_opencap_session_folder_and_placement(tmp_path):
    K = [[1000.0, 0, 360], [0, 1000, 640], [0, 0, 1]]
    cams = [Camera(f"Cam{i}", (720, 1280), K, np.zeros(5), np.eye(3), [0.1 * i, 0.0, 3.0]) for i in (0, 1, 10)]
    save_rig(CameraRig(cams), tmp_path / "Videos", format="opencap")
    for f in (tmp_path / "Videos").rglob("*.pickle"):  # as OpenCap writes them: no mv3d key
        with open(f, "rb") as fh:
            d = pickle.load(fh)
        del d["mv3d_R_to_opensim"]
        with open(f, "wb") as fh:
            pickle.dump(d, fh)
    (tmp_path / "sessionMetadata.yaml").write_text("checkerBoard:\n  placement: ground\n")
    rig = load_rig(tmp_path)
    assert rig.names == ["Cam0", "Cam1", "Cam10"]  # natural order
    np.testing.assert_allclose(rig.R_to_opensim, opencap_rotation("ground"))
    np.testing.assert_allclose(rig["Cam1"].t, [0.1, 0.0, 3.0], atol=1e-12)


def test_h36m_projection_matches_stored_2d(shared_data):
    h36m = shared_data / "mmpose-samples" / "h36m"
    sample = np.load(h36m / "test_h36m_body3d.npz")
    with open(h36m / "cameras.pkl", "rb") as fh:
        raw = pickle.load(fh)
    with pytest.raises(InputError, match="subject"):
        load_rig(h36m / "cameras.pkl")  # 11 subjects: which one must be said
    for i, imgname in enumerate(sample["imgname"]):
        # e.g. "S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg"
        subject, camera = imgname.split("/")[0], imgname.split("/")[1].split(".")[1]
        rig = load_rig(h36m / "cameras.pkl", subject=subject)
        assert len(rig) == 4
        p = raw[(subject, camera)]
        X_world = sample["S"][i, :, :3] @ np.asarray(p["R"]).T + np.ravel(p["T"])  # camera -> world
        uv = rig[camera].project(X_world)
        # 1 px: the acceptance tolerance (the OpenCV fit of H36M's tangential model is ~0.06 px off)
        assert np.abs(uv - sample["part"][i, :, :2]).max() < 1.0
        assert X_world[:, 2].min() > -0.05  # feet on the floor of a Z-up world


def _panoptic_doc() -> dict:
    cams = []
    for i, kind in enumerate(["hd", "hd", "vga"]):
        R = np.eye(3) if i == 0 else np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])
        cams.append({"name": f"00_0{i}" if kind == "hd" else "01_01", "type": kind, "resolution": [1920, 1080],
                     "K": [[1400.0, 0, 960], [0, 1400, 540], [0, 0, 1]], "distCoef": [-0.2, 0.1, 0.001, 0.0, 0.01],
                     "R": R.tolist(), "t": [[10.0], [-20.0], [300.0]]})
    return {"calibDataSource": "test", "cameras": cams}


def test_panoptic_reader(tmp_path):
    path = tmp_path / "calibration_seq.json"
    path.write_text(json.dumps(_panoptic_doc()))
    rig = load_rig(path)
    assert rig.names == ["00_00", "00_01"]  # HD cameras only by default
    np.testing.assert_allclose(rig[0].t, [0.1, -0.2, 3.0])  # cm -> m
    assert up_axis(rig.R_to_opensim) == "-y"
    assert len(load_rig(path, camera_type="all")) == 3


def test_rotate_image_keeps_projections():
    cam = Camera("c", (640, 480), [[500.0, 0, 300], [0, 510, 250], [0, 0, 1]], [-0.2, 0.05, 0.002, -0.003, 0.01],
                 np.eye(3), [0.0, 0.0, 2.0])
    X = np.random.default_rng(1).uniform([-0.5, -0.4, -0.3], [0.5, 0.4, 0.3], (200, 3))
    uv = cam.project(X)
    w, h = cam.size
    expected = {90: np.stack([h - 1 - uv[:, 1], uv[:, 0]], 1), 180: np.stack([w - 1 - uv[:, 0], h - 1 - uv[:, 1]], 1),
                270: np.stack([uv[:, 1], w - 1 - uv[:, 0]], 1)}
    for deg, uv_rot in expected.items():
        np.testing.assert_allclose(rotate_image(cam, deg).project(X), uv_rot, atol=1e-9)


def test_board_world_rotations_match_opencap():
    # back wall, upright board seen from the front: cameras on the board's -z side, image y = board y
    R = np.tile(np.eye(3), (2, 1, 1))
    centers = np.array([[0.5, 0.3, -3.0], [-0.5, 0.2, -3.5]])
    np.testing.assert_allclose(opensim_rotation_for_board("backwall", R, centers), opencap_rotation("backwall"),
                               atol=1e-12)
    flip = np.diag([-1.0, -1.0, 1.0])  # board upside down in the image
    np.testing.assert_allclose(opensim_rotation_for_board("backwall", R @ flip, centers),
                               opencap_rotation("backwall", upside_down=True), atol=1e-12)
    np.testing.assert_allclose(opensim_rotation_for_board("ground", R, centers), opencap_rotation("ground"),
                               atol=1e-12)
    assert up_axis(R_ZUP) == "+z"


def test_pickle_with_missing_key_names_file_and_key(tmp_path):
    path = tmp_path / "Cam0" / "cameraIntrinsicsExtrinsics.pickle"
    path.parent.mkdir()
    with open(path, "wb") as fh:
        pickle.dump({"intrinsicMat": np.eye(3), "imageSize": np.array([[1280.0], [720.0]])}, fh)
    with pytest.raises(InputError, match=r"cameraIntrinsicsExtrinsics\.pickle has no key 'distortion'"):
        load_rig(path)
    out = tmp_path / "out.toml"
    with pytest.raises(InputError):
        save_rig(load_rig(tmp_path), out)
    assert not out.exists()


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_rig(tmp_path / "nope.toml")
    bad = tmp_path / "c.toml"
    bad.write_text('[cam1]\nname = "cam1"\nsize = [10.0, 10.0]\n')
    with pytest.raises(InputError, match=r"camera \[cam1\] has no 'matrix'"):
        load_rig(bad)
    rig = CameraRig([Camera("a", (10, 10), np.eye(3), None, np.eye(3), np.zeros(3)),
                     Camera("b", (10, 10), np.eye(3), None, np.eye(3), np.zeros(3))])
    with pytest.raises(InputError, match="one camera"):
        save_rig(rig, tmp_path / "x.pickle")
    assert not (tmp_path / "x.pickle").exists()
