"""Values that cannot be right are refused at the door, with the file, camera or key named."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from calibration import load_rig, save_rig
from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError, brief
from mv3d.io import read_trc, write_trc
from mv3d.io.safe_yaml import load_yaml

K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(_alias_bomb(9))  # 10**9 values once expanded
    with pytest.raises(InputError, match=r"config\.yaml: its anchors and aliases expand to more than"):
        load_yaml(path)
    path.write_text(_alias_bomb(3))  # a modest use of aliases is fine
    assert len(load_yaml(path)["a2"]) == 10


def test_yaml_limits_and_tags(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 3_000_000)
    with pytest.raises(InputError, match=r"big\.yaml is 3000003 bytes"):
        load_yaml(path)
    path.write_text("a: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(InputError, match="not valid YAML.*python/object/apply"):
        load_yaml(path)
    with pytest.raises(InputError, match=r"nowhere\.yaml cannot be read"):
        load_yaml(tmp_path / "nowhere.yaml")


def test_brief_never_prints_an_unbounded_value():
    assert brief("x" * 10_000).endswith("...") and len(brief("x" * 10_000)) == 60
    assert brief(list(range(10**6))) == "<list of 1000000 items>"
    assert brief(1.5) == "1.5"


@pytest.mark.parametrize("units,scale,guess", [("m", 1000.0, "mm"), ("mm", 0.001, "m")])
def test_trc_unit_that_contradicts_the_values(tmp_path, units, scale, guess):
    rng = np.random.default_rng(0)
    body = rng.normal([0, 1.0, 0], 0.3, (20, 10, 3))  # a person-sized marker cloud, in metres
    path = write_trc(tmp_path / "walk.trc", body * scale, [f"m{i}" for i in range(10)], np.arange(20) / 100,
                     units=units)
    with pytest.raises(InputError, match=rf"walk\.trc: the header says Units={units}.*look like {guess}"):
        read_trc(path)
    assert read_trc(path, check_units=False).points.shape == (20, 10, 3)
    write_trc(path, body, [f"m{i}" for i in range(10)], np.arange(20) / 100, units=units)
    np.testing.assert_allclose(read_trc(path).points, body, atol=1e-6)


def test_trc_bad_header_numbers(tmp_path):
    path = write_trc(tmp_path / "a.trc", np.zeros((3, 2, 3)), ["a", "b"], np.arange(3) / 100)
    text = path.read_text().splitlines()
    text[2] = text[2].replace("100", "-100", 1)
    path.write_text("\n".join(text))
    with pytest.raises(InputError, match=r"a\.trc: header line 3 says DataRate=-100"):
        read_trc(path)


def test_trc_memory_is_a_small_multiple_of_the_file(tmp_path):
    rng = np.random.default_rng(1)
    points = rng.normal([0, 1.0, 0], 0.4, (15_000, 40, 3))
    path = write_trc(tmp_path / "long.trc", points, [f"m{i}" for i in range(40)], np.arange(15_000) / 100,
                     units="mm")
    size_mb = path.stat().st_size / 1e6
    # VmHWM (peak resident memory) is reset just before reading, so imports do not count
    script = ("import sys\nfrom mv3d.io import read_trc\nimport pandas\n"
              "def status(key):\n"
              "    return int([l for l in open('/proc/self/status') if l.startswith(key)][0].split()[1])\n"
              "open('/proc/self/clear_refs', 'w').write('5')\nbefore = status('VmRSS')\n"
              "d = read_trc(sys.argv[1])\nprint((status('VmHWM') - before) / 1e3, d.points.shape[0])\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120,
                          check=True)
    peak_mb, frames = done.stdout.split()
    assert int(frames) == 15_000
    assert float(peak_mb) < 3 * size_mb, f"reading a {size_mb:.0f} MB TRC took {peak_mb} MB"


@pytest.mark.parametrize("change,message", [
    (lambda K, R: (np.zeros((3, 3)), R), "focal lengths fx=0, fy=0 px must be positive"),
    (lambda K, R: (np.where(np.eye(3, dtype=bool), np.nan, K), R), "intrinsic matrix holds NaN"),
    (lambda K, R: (K, R * 1.5), "R is not a rotation matrix"),
    (lambda K, R: (K * 2, R), "last row must be \\(0, 0, 1\\)"),
])
def test_calibration_values(tmp_path, change, message):
    bad_K, bad_R = change(K.copy(), np.eye(3))
    with pytest.raises(InputError, match=rf"camera 'cam2': .*{message}"):
        Camera("cam2", (1280, 720), bad_K, None, bad_R, [0, 0, 3.0])
    with pytest.raises(InputError, match="must be positive"):
        Camera("cam2", (0, 720), K, None, np.eye(3), [0, 0, 3.0])
    # in a file: the error names the file and the camera
    rig = CameraRig([Camera("cam1", (1280, 720), K, None, np.eye(3), [0, 0, 3.0]),
                     Camera("cam2", (1280, 720), K, None, np.eye(3), [0.5, 0, 3.0])])
    path = tmp_path / "calib.toml"
    save_rig(rig, path)
    text = path.read_text()
    cam2 = text.index("[cam2]")
    text = text[:cam2] + text[cam2:].replace("1000.0", "0.0", 2) if "focal" in message else text
    if "focal" in message:
        path.write_text(text)
        with pytest.raises(InputError, match=r"calib\.toml: camera 'cam2': focal lengths"):
            load_rig(path)
