"""The installed layout: every package and every shipped data file goes into the wheel, and
mv3d.resources finds the weights in an installed copy (not only in this checkout)."""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from mv3d.resources import data_dir, source_root, weights_file

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed():
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("mv3d", "calibration", "pipelines")
             for p in (ROOT / top).rglob("__init__.py")}
    listed = set(SETUPTOOLS["packages"])
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == {"mv3d_data"} and SETUPTOOLS["package-dir"] == {"mv3d_data": "data"}


def test_every_shipped_data_file_is_package_data():
    patterns = SETUPTOOLS.get("package-data", {}).get("mv3d_data", [])
    files = [p.relative_to(ROOT / "data").as_posix() for p in (ROOT / "data").rglob("*")
             if p.is_file() and p.name != "__init__.py" and "__pycache__" not in p.parts]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert files and not missing, f"data files the wheel would lack (add a package-data pattern): {missing}"


def test_checkout_resolves_its_own_data():
    assert source_root() == ROOT and data_dir() == ROOT / "data"
    assert weights_file("pose2d_demo_synthetic.pt").is_file()


@pytest.mark.slow
def test_wheel_ships_the_weights_and_resources_finds_them(tmp_path):
    source, wheel_dir, target = tmp_path / "src", tmp_path / "wheel", tmp_path / "site"
    source.mkdir()  # build a copy: building writes build/ and *.egg-info beside the source
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("mv3d", "calibration", "pipelines", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheel_dir), str(source)], check=True, cwd=tmp_path)
    wheel = next(wheel_dir.glob("mv3d-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for p in (ROOT / "data" / "weights").iterdir():
        assert f"mv3d_data/weights/{p.name}" in names
    assert "pipelines/stages/keypoints2d.py" in names and "mv3d/pose2d/models/hrnet.py" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, cwd=tmp_path)
    check = ("import mv3d.resources as r; assert r.source_root() is None, r.source_root(); "
             "p = r.weights_file('pose2d_demo_synthetic.pt'); print(p); assert p.is_file()")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", check], cwd=target, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))
