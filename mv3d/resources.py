"""Files shipped with mv3d (trained weights, their model cards), found the same way in a source
checkout and in an installed wheel.

The repository keeps them in ``data/``; ``pyproject.toml`` installs that folder as the package
``mv3d_data``. In a checkout (``pyproject.toml`` beside the packages: an editable install or
``PYTHONPATH`` pointing at a working tree) the checkout's own ``data/`` is used, so a git worktree
sees its own files; otherwise the installed ``mv3d_data`` package, through importlib.resources.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_root() -> Path | None:
    """The repository checkout this code runs from, or None for an installed wheel."""
    if (_PACKAGE_ROOT / "pyproject.toml").is_file() and (_PACKAGE_ROOT / "data" / "__init__.py").is_file():
        return _PACKAGE_ROOT
    return None


def data_dir() -> Path:
    """The folder of the shipped data (a checkout's ``data/``, else the installed ``mv3d_data``)."""
    root = source_root()
    if root is not None:
        return root / "data"
    try:
        return Path(str(importlib.resources.files("mv3d_data")))
    except ModuleNotFoundError:  # an incomplete install: the files will be reported missing where needed
        return _PACKAGE_ROOT / "mv3d_data"


def weights_file(name: str) -> Path:
    """A shipped weights file (``data/weights/<name>``); the caller checks that it exists."""
    return data_dir() / "weights" / name
