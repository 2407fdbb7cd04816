"""Untrusted pickles: data loads, anything that could run code is refused before it runs."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from calibration import load_rig
from mv3d.errors import InputError, Mv3dError
from mv3d.io.safe_pickle import load_data_pickle
from pipelines.cli import cli
from pipelines.session import discover_session


class _Exploit:
    """Pickles to a call of ``os.system`` that would create a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _calibration(marker: Path | None = None) -> dict:
    data = {"intrinsicMat": np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]]),
            "distortion": np.zeros((1, 5)), "imageSize": np.array([[720.0], [1280.0]]),
            "rotation": np.eye(3), "translation": np.array([[0.0], [0.0], [3000.0]])}
    if marker is not None:
        data["comment"] = _Exploit(marker)
    return data


def _opencap_session(root: Path, marker: Path) -> Path:
    for i, cam in enumerate(("Cam0", "Cam1")):
        trial = root / "Videos" / cam / "InputMedia" / "squat"
        trial.mkdir(parents=True)
        (trial / "squat.mov").write_bytes(b"")
        with open(root / "Videos" / cam / "cameraIntrinsicsExtrinsics.pickle", "wb") as fh:
            pickle.dump(_calibration(marker if i == 1 else None), fh)
    (root / "sessionMetadata.yaml").write_text(yaml.safe_dump({"height_m": 1.8, "mass_kg": 75}))
    return root


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_data_round_trips(tmp_path, protocol):
    value = {"a": np.arange(12.0).reshape(3, 4), "b": [np.float64(2.5), np.int32(3), "text", None, True],
             "c": (np.array([1, 2], dtype=np.uint8), np.zeros((2, 2), dtype=np.float32).T),
             "d": np.array([(1, 2.0)], dtype=[("i", "i4"), ("f", "f8")])}
    path = tmp_path / "data.pickle"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    back = load_data_pickle(path)
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["b"] == value["b"] and type(back["b"][0]) is np.float64
    np.testing.assert_array_equal(back["c"][1], value["c"][1])
    assert back["d"].dtype == value["d"].dtype and back["d"][0]["f"] == 2.0


def test_real_opencap_pickles_load(shared_data):
    for path in sorted((shared_data / "opencap" / "intrinsics").rglob("*.pickle")):
        ours = load_data_pickle(path)
        with open(path, "rb") as fh:  # the reference files are trusted
            reference = pickle.load(fh, encoding="latin1")
        assert ours.keys() == reference.keys()
        for key in reference:
            np.testing.assert_array_equal(ours[key], reference[key])


def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "cameraIntrinsicsExtrinsics.pickle"
    with open(path, "wb") as fh:
        pickle.dump(_calibration(marker), fh)
    with pytest.raises(InputError, match=r"cameraIntrinsicsExtrinsics\.pickle refers to '(posix|os)\.system'"):
        load_data_pickle(path)
    with pytest.raises(InputError, match="could run code"):
        load_rig(path)
    assert not marker.exists()


def test_other_globals_and_garbage_are_named_errors(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"when": __import__("datetime").date(2020, 1, 1)}))
    with pytest.raises(InputError, match=r"x\.pkl refers to 'datetime\.date'"):
        load_data_pickle(path)
    path.write_bytes(b"c" + b"m" * 10_000 + b"\nsystem\n(S'x'\ntR.")
    with pytest.raises(InputError) as err:
        load_data_pickle(path)
    assert len(str(err.value)) < 600  # a huge name is not printed back whole
    rng = np.random.default_rng(0)
    good = pickle.dumps(_calibration(), protocol=4)
    for cut in rng.integers(1, len(good) - 1, 20):
        path.write_bytes(good[:cut])
        with pytest.raises(InputError, match=r"x\.pkl"):
            load_data_pickle(path)
    with pytest.raises(InputError, match="cannot be read"):
        load_data_pickle(tmp_path / "missing.pkl")


def test_session_commands_never_run_a_crafted_pickle(tmp_path):
    marker = tmp_path / "ran"
    root = _opencap_session(tmp_path / "session", marker)
    discover_session(root)  # discovery opens the pickles to see whether they hold poses
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(root)])  # a report of a session with no outputs yet
    assert not marker.exists(), "mv3d report ran code from a pickle"
    for args in (["run", str(root)],
                 ["convert", "calib", str(root / "Videos"), str(tmp_path / "out.toml"), "--to", "toml"]):
        res = runner.invoke(cli, args)
        assert not marker.exists(), f"mv3d {args[0]} ran code from a pickle"
        assert isinstance(res.exception, Mv3dError) and "could run code" in str(res.exception), (args, res.output)
    assert not (tmp_path / "out.toml").exists()
    # the console entry point: one line naming the file, exit status 2, no traceback
    done = subprocess.run([sys.executable, "-c", "from pipelines.cli import main; main()", "convert", "calib",
                           str(root / "Videos"), str(tmp_path / "out.toml"), "--to", "toml"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Cam1" in done.stderr and "could run code" in done.stderr
    assert "Traceback" not in done.stderr and not marker.exists()
