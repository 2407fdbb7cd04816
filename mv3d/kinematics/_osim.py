"""Small helpers around the OpenSim Python API: quiet import, model loading with clear errors."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mv3d.errors import InputError


def opensim() -> Any:
    """Import opensim with its logger reduced to errors (it prints a lot to stdout otherwise)."""
    import opensim as osim

    osim.Logger.setLevelString("error")
    return osim


def load_model(model: Any) -> Any:
    """Return an ``opensim.Model`` from a Model (copied) or a path to an ``.osim`` file.

    The model's connections are finalized, so coordinates know their joints (motion type).
    Raises InputError naming the file when it is missing or OpenSim cannot read it.
    """
    osim = opensim()
    if isinstance(model, osim.Model):
        copy = osim.Model(model)
        copy.finalizeConnections()
        return copy
    path = Path(os.fspath(model))
    if not path.is_file():
        raise InputError(f"model file {path} does not exist; give the path of an OpenSim .osim model")
    try:
        loaded = osim.Model(str(path))
    except Exception as exc:  # OpenSim raises RuntimeError with its own message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"OpenSim cannot load model file {path}: {first}. "
                         "Check that it is a valid .osim (XML) model file") from exc
    try:
        loaded.finalizeConnections()
    except Exception as exc:
        raise InputError(f"OpenSim cannot connect the components of model {path}: "
                         f"{str(exc).strip().splitlines()[0][:300]}") from exc
    return loaded


def coordinate_is_rotational(coordinate: Any) -> bool:
    """True for a rotational coordinate (radians inside, degrees in .mot files)."""
    osim = opensim()
    return coordinate.getMotionType() == osim.Coordinate.Rotational
