"""Forward kinematics with OpenSim: marker positions in ground for given coordinate trajectories.

The model's system is built once; each frame writes the generalized coordinates Q
directly (no constraint projection) and realizes positions. Dependent coordinates of
``CoordinateCouplerConstraint`` s (LaiUhlrich's ``knee_angle_r_beta``) that are not given
are computed from their coupling functions, so coupled models stay consistent.
Measured for the built-in model with its 72 markers on the shared 2-core test machine:
about 5,900 frames/s when idle, 1,800 frames/s under load (``benchmarks/bench_ik.py``).
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from mv3d.errors import InputError
from mv3d.io.mot import read_mot
from mv3d.kinematics._osim import coordinate_is_rotational, load_model, opensim

log = logging.getLogger(__name__)


def coordinate_q_indices(model: Any, state: Any) -> dict[str, int]:
    """Index of each coordinate's value in the state's Q vector (found by probing each coordinate once)."""
    base = state.getQ().to_numpy().copy()
    out: dict[str, int] = {}
    for coord in model.getCoordinateSet():
        old = coord.getValue(state)
        coord.setValue(state, old + 0.5, False)
        diff = np.flatnonzero(np.abs(state.getQ().to_numpy() - base) > 1e-12)
        coord.setValue(state, old, False)
        if len(diff) != 1:
            raise RuntimeError(f"cannot locate coordinate {coord.getName()} in the state's Q vector")
        out[coord.getName()] = int(diff[0])
    return out


def _coupled_values(model: Any, values: dict[str, np.ndarray], n_frames: int, defaults: dict[str, float]) -> None:
    """Fill dependent coordinates of coupler constraints that are not in ``values`` (in place)."""
    osim = opensim()
    for constraint in model.getConstraintSet():
        coupler = osim.CoordinateCouplerConstraint.safeDownCast(constraint)
        if coupler is None or not coupler.get_isEnforced():
            continue
        dep = coupler.getDependentCoordinateName()
        if dep in values:
            continue
        indep_names = coupler.getIndependentCoordinateNames()
        names = [indep_names.get(i) for i in range(indep_names.getSize())]
        fn = coupler.getFunction()
        x = np.stack([values.get(n, np.full(n_frames, defaults[n])) for n in names], axis=1)
        arg = osim.Vector(len(names), 0.0)
        out = np.empty(n_frames)
        for f in range(n_frames):
            for i in range(len(names)):
                arg.set(i, float(x[f, i]))
            out[f] = fn.calcValue(arg)
        values[dep] = out


def forward_markers(model: Any, times: np.ndarray, coords: dict[str, np.ndarray],
                    marker_names: list[str] | tuple[str, ...] | None = None) -> tuple[np.ndarray, list[str]]:
    """Marker positions for coordinate trajectories.

    model: ``opensim.Model`` or path to an ``.osim`` file. times: (F,) seconds.
    coords: coordinate name -> (F,) values in radians (rotational) or metres (translational);
    coordinates not given stay at their default values. marker_names: subset and order of
    the model's markers (default: all, in model order).
    Returns (points (F, M, 3) metres in the model's ground frame, marker names).
    """
    osim = opensim()
    model = load_model(model)
    state = model.initSystem()
    times = np.asarray(times, dtype=float).reshape(-1)
    n_frames = len(times)
    known = [c.getName() for c in model.getCoordinateSet()]
    unknown = sorted(set(coords) - set(known))
    if unknown:
        raise InputError(f"coordinates {unknown} are not in model {model.getName()}; "
                         f"its coordinates are {known}")
    values: dict[str, np.ndarray] = {}
    for name, val in coords.items():
        arr = np.asarray(val, dtype=float).reshape(-1)
        if arr.shape[0] != n_frames:
            raise InputError(f"coordinate {name} has {arr.shape[0]} values for {n_frames} times")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"coordinate {name} has NaN/inf values (frames {np.flatnonzero(~np.isfinite(arr))[:5]})")
        values[name] = arr
    defaults = {c.getName(): c.getDefaultValue() for c in model.getCoordinateSet()}
    _coupled_values(model, values, n_frames, defaults)

    mset = model.getMarkerSet()
    all_names = [m.getName() for m in mset]
    names = list(all_names if marker_names is None else marker_names)
    missing = [n for n in names if n not in all_names]
    if missing:
        raise InputError(f"markers {missing} are not in model {model.getName()}")
    markers = [mset.get(n) for n in names]

    q_index = coordinate_q_indices(model, state)
    q_base = state.getQ().to_numpy().copy()
    cols = np.array([q_index[n] for n in values], dtype=int)
    q_all = np.tile(q_base, (n_frames, 1))
    if len(cols):
        q_all[:, cols] = np.stack(list(values.values()), axis=1)

    out = np.empty((n_frames, len(markers), 3))
    for f in range(n_frames):
        state.setTime(float(times[f]))
        state.setQ(osim.Vector.createFromMat(q_all[f]))
        model.realizePosition(state)
        for k, marker in enumerate(markers):
            out[f, k] = marker.getLocationInGround(state).to_numpy()
    return out, names


def mot_to_coordinates(model: Any, columns: list[str], values: np.ndarray, in_degrees: bool) -> dict[str, np.ndarray]:
    """Coordinate dict in radians/metres from .mot columns; columns that are not coordinates are logged and left out.

    Rotational coordinates are converted from degrees when ``in_degrees``; translational
    (and coupled) coordinates are never converted.
    """
    model.finalizeConnections()   # coordinates need their joints to report their motion type
    coord_set = model.getCoordinateSet()
    out: dict[str, np.ndarray] = {}
    skipped = []
    for j, name in enumerate(columns):
        if not coord_set.contains(name):
            skipped.append(name)
            continue
        col = np.asarray(values[:, j], dtype=float)
        out[name] = np.deg2rad(col) if in_degrees and coordinate_is_rotational(coord_set.get(name)) else col
    if skipped:
        log.info("columns not in model %s, ignored: %s", model.getName(), skipped)
    return out


def forward_from_mot(model: Any, mot_path: str | os.PathLike, marker_names: list[str] | tuple[str, ...] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Marker trajectories of a ``.mot`` motion: returns (times (F,), points (F, M, 3) m, names).

    Degrees are converted per coordinate (rotational only) when the file says ``inDegrees=yes``.
    """
    model = load_model(model)
    mot = read_mot(mot_path)
    coords = mot_to_coordinates(model, list(mot.columns), np.asarray(mot.values), bool(mot.in_degrees))
    points, names = forward_markers(model, mot.times, coords, marker_names)
    return np.asarray(mot.times, dtype=float), points, names
