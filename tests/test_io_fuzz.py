"""Parsers of users' files under random damage: a result or a named error, never anything else.

Each test takes a valid file, damages it (truncation, flipped bytes, inserted bytes, a number
replaced by garbage or an extreme value) and reads it back. Reading must return a result or
raise :class:`mv3d.errors.Mv3dError` (one line for the user, exit status 2); any other
exception would reach the user as a traceback. Examples are derandomized so CI is repeatable.
"""
from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration import load_rig
from mv3d.config import load_config
from pipelines.config import PipelineConfig
from mv3d.errors import Mv3dError
from mv3d.io import read_keypoints, read_mot, read_trc, write_mot, write_trc
from mv3d.io.safe_pickle import load_data_pickle
from mv3d.io.safe_yaml import load_yaml

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parents[1]
GARBAGE = [b"", b"nan", b"NaN", b"inf", b"-inf", b"1e999", b"-1e308", b"0", b"-0", b"x", b"\t", b"\n", b"\x00",
           b"\xff\xfe", b"[", b"{", b"\"", b"'", b"&a", b"*a", b"!!python/object:os.system", b"99999999999999999999"]
_TOKEN = re.compile(rb"[-+0-9.eE]+|[A-Za-z_]+")


@st.composite
def damaged(draw, original: bytes) -> bytes:
    """``original`` with one random kind of damage."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "token", "tokens"]))
    n = len(original)
    if kind == "truncate":
        return original[:draw(st.integers(0, n - 1))]
    if kind == "flip":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, n - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "insert":
        at = draw(st.integers(0, n))
        return original[:at] + draw(st.binary(min_size=1, max_size=40)) + original[at:]
    tokens = list(_TOKEN.finditer(original))
    data = original
    for _ in range(1 if kind == "token" else draw(st.integers(2, 6))):
        m = tokens[draw(st.integers(0, len(tokens) - 1))]
        if m.end() <= len(data):
            data = data[:m.start()] + draw(st.sampled_from(GARBAGE)) + data[m.end():]
    return data


def _result_or_named_error(read, path: Path):
    try:
        return read(path)
    except Mv3dError as exc:
        assert str(path.name) in str(exc) or str(path.parent.name) in str(exc), f"error does not name the file: {exc}"
        assert len(str(exc)) < 1500, "an error message quotes too much of the file"
        return None


def _fuzz(original: bytes, path: Path, *readers, valid=None) -> None:
    """Write damaged versions of ``original`` to ``path``; each reader (path -> result) must return a
    result (checked by ``valid`` when given) or raise a named error."""
    @FUZZ
    @given(damaged(original))
    def check(data):
        path.write_bytes(data)
        for read in readers:
            result = _result_or_named_error(read, path)
            if result is not None and valid is not None:
                valid(result)
    check()


def _small_trc(tmp_path: Path) -> bytes:
    rng = np.random.default_rng(1)
    points = rng.normal([0, 1, 0], 0.3, (6, 4, 3))
    points[2, 1] = np.nan
    return write_trc(tmp_path / "seed.trc", points, ["a", "b", "c", "d"], np.arange(6) / 60, units="mm").read_bytes()


def test_trc(tmp_path):
    def valid(result):
        assert result.points.shape == (result.n_frames, len(result.marker_names), 3)
    _fuzz(_small_trc(tmp_path), tmp_path / "in.trc", read_trc, valid=valid)


def test_mot(tmp_path):
    original = write_mot(tmp_path / "seed.mot", np.arange(5) / 100, np.arange(15.0).reshape(5, 3),
                         ["hip_flexion_r", "knee_angle_r", "ankle_angle_r"]).read_bytes()

    def valid(result):
        assert result.values.shape == (len(result.times), len(result.columns))
    _fuzz(original, tmp_path / "in.mot", read_mot, valid=valid)


def _openpose_folder(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "pose"
    for cam in ("cam01", "cam02"):
        (folder / f"{cam}_json").mkdir(parents=True)
        for f in sorted((shared_data / "pose2sim-demo" / "pose" / f"{cam}_json").glob("*.json"))[:3]:
            shutil.copy(f, folder / f"{cam}_json" / f.name)
    return folder


def test_openpose_json(shared_data, tmp_path):
    folder = _openpose_folder(shared_data, tmp_path)
    victim = sorted((folder / "cam02_json").glob("*.json"))[1]
    original = victim.read_bytes()

    def valid(result):
        assert result.data.shape[0] == 2 and result.data.shape[2:] == (23, 3)
    _fuzz(original, victim, lambda p: read_keypoints(folder, format="openpose", fps=60), valid=valid)


def test_mmpose_json(tmp_path):
    rng = np.random.default_rng(2)
    frames = [{"frame_id": i, "instances": [{"keypoints": (rng.uniform(100, 900, (17, 2))).round(1).tolist(),
                                             "keypoint_scores": rng.uniform(0.2, 1, 17).round(3).tolist(),
                                             "bbox": [[100.0, 100.0, 900.0, 900.0]]}]} for i in range(3)]
    folder = tmp_path / "mm"
    folder.mkdir()
    victim = folder / "cam1.json"
    original = json.dumps(frames).encode()
    (folder / "cam2.json").write_bytes(original)
    _fuzz(original, victim, lambda p: read_keypoints(p.parent, format="mmpose", fps=30))


@pytest.mark.parametrize("name", ["Calib_qualisys.toml", "Calib.qca.txt"])
def test_calibration_files(shared_data, tmp_path, name):
    original = (shared_data / "pose2sim-demo" / "calibration" / name).read_bytes()

    def valid(rig):
        assert all(np.isfinite(cam.K).all() and cam.K[0, 0] > 0 for cam in rig)
    _fuzz(original, tmp_path / name, load_rig, valid=valid)


def test_opencap_pickle(tmp_path):
    calib = {"intrinsicMat": np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]]),
             "distortion": np.zeros((1, 5)), "imageSize": np.array([[720.0], [1280.0]]),
             "rotation": np.eye(3), "translation": np.array([[0.0], [0.0], [3000.0]])}
    original = pickle.dumps(calib, protocol=2)
    _fuzz(original, tmp_path / "cameraIntrinsicsExtrinsics.pickle", load_data_pickle,
          lambda p: load_rig(p, format="opencap"))


def test_yaml_config(tmp_path):
    original = (ROOT / "configs" / "default.yaml").read_bytes()
    _fuzz(original, tmp_path / "config.yaml", lambda p: load_config(p, PipelineConfig), load_yaml)
