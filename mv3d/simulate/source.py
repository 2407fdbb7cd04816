"""Motion sources: where the simulated subject's 3D trajectories come from.

A :class:`MotionSource` holds a motion (joint coordinates of an OpenSim model, or 3D
keypoints read from a TRC) and evaluates, at any times, the 3D video keypoints
(MV3D25, OpenSim ground frame, Y up, metres) and the anatomical mocap markers. With a
model, positions come from forward kinematics at exactly the requested times (the
coordinates are interpolated by cubic splines between motion samples); a TRC source is
interpolated directly.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from mv3d.errors import InputError
from mv3d.io import read_trc
from mv3d.io.mot import read_mot
from mv3d.kinematics._osim import coordinate_is_rotational, opensim
from mv3d.kinematics._osim import load_model as load_osim
from mv3d.kinematics.bodymodel import build_model
from mv3d.kinematics.forward import forward_markers, mot_to_coordinates
from mv3d.simulate.motions import make_motion
from mv3d.skeleton import MV3D23, MV3D25, add_derived

log = logging.getLogger(__name__)

#: Video keypoints on the foot: the lowest of them touches the floor.
FOOT_POINTS: tuple[str, ...] = ("l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel")
_GROUNDED_SCALE = 0.02  # m: a foot point this much above the lowest one has weight 1/e when pinning the feet


@dataclass
class MotionSource:
    """A motion to simulate.

    name: trial name; times: (F,) motion samples (s); coords: coordinate -> (F,) radians/metres
    (empty for a TRC source); model: ``opensim.Model`` or None; mot_columns/mot_values/in_degrees:
    the motion as it is written to ``truth/coordinates.mot`` (values as in the input file);
    keypoints: (F, 25, 3) MV3D25 at ``times`` in the OpenSim frame; mocap_names: anatomical
    markers evaluated by :meth:`mocap_at` (empty when the source has none).
    """

    name: str
    times: np.ndarray
    coords: dict[str, np.ndarray]
    model: Any
    mot_columns: list[str]
    mot_values: np.ndarray
    in_degrees: bool
    keypoints: np.ndarray
    mocap_names: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return float(self.times[-1] - self.times[0])

    def _check_times(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float).reshape(-1)
        tol = 1e-9
        if t.size and (t.min() < self.times[0] - tol or t.max() > self.times[-1] + tol):
            raise InputError(f"motion {self.name!r} covers {self.times[0]:.3f}-{self.times[-1]:.3f} s; "
                             f"requested {t.min():.3f}-{t.max():.3f} s")
        return np.clip(t, self.times[0], self.times[-1])

    def coords_at(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Coordinates (radians/metres) at times t (F,), cubic-spline interpolated."""
        t = self._check_times(t)
        return {k: _spline(self.times, v)(t) for k, v in self.coords.items()}

    def keypoints_at(self, t: np.ndarray) -> np.ndarray:
        """MV3D25 keypoints (F, 25, 3) at times t (F,), OpenSim ground frame, metres."""
        t = self._check_times(t)
        if self.model is None:
            return _spline(self.times, self.keypoints)(t)
        return _keypoints(self.model, t, self.coords_at(t))

    def mocap_at(self, t: np.ndarray) -> np.ndarray:
        """Anatomical markers (F, M, 3) at times t (F,), OpenSim ground frame, metres."""
        if not self.mocap_names:
            raise InputError(f"motion {self.name!r} has no anatomical markers (a TRC source or a model without "
                             "markers other than the video keypoints); mocap cannot be simulated")

        t = self._check_times(t)
        points, _ = forward_markers(self.model, t, _model_coords(self.model, self.coords_at(t)), self.mocap_names)
        return points


def _spline(times: np.ndarray, values: np.ndarray) -> CubicSpline:
    return CubicSpline(times, values, axis=0, bc_type="not-a-knot")


def _model_coords(model: Any, coords: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The coordinates the model has (a motion may set more, e.g. wrists the model welds)."""
    names = {c.getName() for c in model.getCoordinateSet()}
    return {k: v for k, v in coords.items() if k in names}


def _marker_names(model: Any) -> list[str]:
    return [m.getName() for m in model.getMarkerSet()]


def _keypoints(model: Any, times: np.ndarray, coords: dict[str, np.ndarray]) -> np.ndarray:
    """MV3D25 (F, 25, 3) by forward kinematics; neck/mid_hip derived when the model lacks them."""
    names = _marker_names(model)
    wanted = list(MV3D25) if all(n in names for n in MV3D25) else list(MV3D23)
    points, _ = forward_markers(model, times, _model_coords(model, coords), wanted)
    return points if len(wanted) == len(MV3D25) else add_derived(points)


def load_model(model: Any = None, height: float = 1.75, mass: float = 70.0,
               marker_files: list[str | os.PathLike] | tuple = ()) -> Any:
    """An ``opensim.Model`` with the video keypoint markers.

    model: None for mv3d's built-in model of ``height``/``mass``, an ``opensim.Model``, or an
    ``.osim`` path. marker_files: OpenSim MarkerSet XML files whose markers are added.
    Raises InputError naming the MV3D23 markers the model lacks.
    """
    if model is None:
        loaded = build_model(height, mass)
    else:
        loaded = load_osim(model)
    osim = opensim()
    for path in marker_files:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"marker file {path} does not exist; give an OpenSim MarkerSet .xml file")
        markers = osim.MarkerSet(str(path))
        for i in range(markers.getSize()):
            loaded.addMarker(markers.get(i).clone())
    loaded.finalizeConnections()
    names = _marker_names(loaded)
    missing = [n for n in MV3D23 if n not in names]
    if missing:
        label = "the built-in model" if model is None else \
            f"model {loaded.getName() if isinstance(model, osim.Model) else model}"
        raise InputError(f"{label} lacks the video keypoint markers {', '.join(missing)}; the simulator needs a "
                         f"marker for each of mv3d.skeleton.MV3D23 ({len(MV3D23)} names). Add them to the model "
                         "(or pass a MarkerSet file with --markers), or use the built-in model")
    return loaded


def ground_motion(model: Any, times: np.ndarray, coords: dict[str, np.ndarray],
                  horizontal: str = "pin", stand_at: tuple[float, float, float] = (0.0, 0.0, 0.0),
                  airborne: np.ndarray | None = None, floor: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Put the lowest foot keypoint on the floor (Y = ``stand_at[1]``) in every frame and place the body.

    Shifts ``pelvis_ty`` (and ``pelvis_tx``/``pelvis_tz``); the model's pelvis translations are
    along ground axes, so a shift moves every point by the same amount. Vertically, the foot point
    nearest its surface (the floor, or ``floor`` (F, 2): the height of the step under the right /
    left foot) touches it; in ``airborne`` (F,) frames the pelvis follows a ballistic parabola
    (g = 9.81 m/s^2) between the frames around the flight, never letting a foot below its surface.
    Horizontally (OpenSim X, Z): "pin" holds the mean of the foot points, weighted towards the
    grounded ones, at ``stand_at``, so a stance foot does not slide while the other one swings;
    "roll" moves the body so that grounded foot points do not slide (steps travel), centred on
    ``stand_at`` over the motion; "free" keeps the motion's own pelvis translations, centred so.
    Returns a new coords dict (the input is not modified).
    """
    if horizontal not in ("pin", "roll", "free"):
        raise InputError(f"horizontal placement {horizontal!r}: use pin, roll or free")
    kp = _keypoints(model, times, coords)
    feet = kp[:, [MV3D25.index(n) for n in FOOT_POINTS], :]  # (F, 6, 3): left points, then right ones
    out = {k: np.array(v, dtype=float) for k, v in coords.items()}
    height = feet[..., 1]
    if floor is not None:   # (F, 2) right, left -> per foot point
        height = height - np.repeat(np.asarray(floor, float)[:, ::-1], 3, axis=1)
    low = height.min(axis=1)
    lift = -low
    if airborne is not None and np.any(airborne):
        lift = np.maximum(_ballistic(times, lift, np.asarray(airborne, bool)), lift)
    out["pelvis_ty"] = out.get("pelvis_ty", np.zeros_like(times)) + lift + stand_at[1]
    w = np.exp(-(height - low[:, None]) / _GROUNDED_SCALE)
    centre = (w[..., None] * feet[..., [0, 2]]).sum(axis=1) / w.sum(axis=1)[:, None]
    if horizontal == "pin":
        out["pelvis_tx"] = out.get("pelvis_tx", np.zeros_like(times)) - centre[:, 0] + stand_at[0]
        out["pelvis_tz"] = out.get("pelvis_tz", np.zeros_like(times)) - centre[:, 1] + stand_at[2]
        return out
    travel = np.zeros((len(times), 2))
    if horizontal == "roll":
        step = np.diff(feet[..., [0, 2]], axis=0)                      # (F-1, 6, 2)
        wg = w[:-1] * (1.0 if airborne is None else ~np.asarray(airborne, bool)[:-1, None])
        slide = (wg[..., None] * step).sum(axis=1) / np.maximum(wg.sum(axis=1), 1e-12)[:, None]
        travel[1:] = -np.cumsum(slide, axis=0)
    mean = (centre + travel).mean(axis=0)
    shift = travel[:, 0] + stand_at[0] - mean[0], travel[:, 1] + stand_at[2] - mean[1]
    out["pelvis_tx"] = out.get("pelvis_tx", np.zeros_like(times)) + shift[0]
    out["pelvis_tz"] = out.get("pelvis_tz", np.zeros_like(times)) + shift[1]
    return out


_GRAVITY = 9.81  # m/s^2


def _ballistic(times: np.ndarray, lift: np.ndarray, airborne: np.ndarray) -> np.ndarray:
    """``lift`` (F,) with each run of airborne frames replaced by a free-fall parabola joining the
    grounded frames around it (held level at a run that touches the start or end)."""
    out = lift.copy()
    edges = np.diff(np.concatenate([[0], airborne.astype(int), [0]]))
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):   # airborne frames a..b-1
        i0, i1 = a - 1, b
        if i0 < 0 or i1 >= len(times):
            out[a:b] = lift[i1] if i0 < 0 and i1 < len(times) else lift[max(i0, 0)]
            continue
        t0, t1, t = times[i0], times[i1], times[a:b]
        out[a:b] = lift[i0] + (lift[i1] - lift[i0]) * (t - t0) / (t1 - t0) + 0.5 * _GRAVITY * (t - t0) * (t1 - t)
    return out


def builtin_source(name: str, seconds: float, model: Any, rate: float = 120.0,
                   stand_at: tuple[float, float, float] = (0.0, 0.0, 0.0), variant: int | None = None) -> MotionSource:
    """A built-in motion (see :mod:`mv3d.simulate.motions`) on ``model``, grounded with the feet
    held at ``stand_at`` (OpenSim X, floor Y, Z; metres). variant: a subject's own version of the
    motion (tempo, depth, style, posture offsets drawn from ``numpy.random.default_rng(variant)``)."""
    motion = make_motion(name, seconds, rate, rng=None if variant is None else np.random.default_rng(variant))
    times = motion.times
    coords = ground_motion(model, times, _model_coords(model, motion.coords), motion.horizontal, stand_at,
                           motion.airborne, motion.floor)
    columns = list(coords)
    cset = model.getCoordinateSet()
    values = np.stack([np.degrees(coords[c]) if coordinate_is_rotational(cset.get(c)) else coords[c]
                       for c in columns], axis=1)
    return MotionSource(name=name, times=times, coords=coords, model=model, mot_columns=columns,
                        mot_values=values, in_degrees=True, keypoints=_keypoints(model, times, coords),
                        mocap_names=_mocap_names(model))


def _mocap_names(model: Any) -> list[str]:
    names = [n for n in _marker_names(model) if n not in MV3D25]
    if not names:
        log.warning("model %s has no markers besides the video keypoints: no mocap will be simulated", model.getName())
    return names


def mot_source(path: str | os.PathLike, model: Any, seconds: float | None = None) -> MotionSource:
    """An OpenSim .mot motion on ``model`` (used as it is: no grounding). ``seconds`` trims it."""
    path = Path(path)
    mot = read_mot(path)
    keep = np.ones(len(mot.times), dtype=bool)
    if seconds is not None:
        keep = mot.times <= mot.times[0] + seconds + 1e-9
    times, values = mot.times[keep], mot.values[keep]
    if len(times) < 4:
        raise InputError(f"{path}: the motion has {len(times)} frames; at least 4 are needed to interpolate")
    coords = mot_to_coordinates(model, list(mot.columns), values, mot.in_degrees)
    if not coords:
        raise InputError(f"{path}: none of its columns ({', '.join(mot.columns[:8])}, ...) is a coordinate of model "
                         f"{model.getName()}; give the model the motion was made for with --model")
    return MotionSource(name=path.stem, times=times, coords=coords, model=model, mot_columns=list(mot.columns),
                        mot_values=values, in_degrees=mot.in_degrees, keypoints=_keypoints(model, times, coords),
                        mocap_names=_mocap_names(model))


def trc_source(path: str | os.PathLike, seconds: float | None = None) -> MotionSource:
    """3D keypoints of a TRC file (OpenSim frame, markers named as MV3D23 or MV3D25); no mocap, no coordinates."""
    path = Path(path)
    trc = read_trc(path)
    missing = [n for n in MV3D23 if n not in trc.marker_names]
    if missing:
        raise InputError(f"{path}: the TRC lacks the keypoints {', '.join(missing)}; a TRC motion needs markers "
                         "named as mv3d.skeleton.MV3D23")
    keep = np.ones(len(trc.times), dtype=bool) if seconds is None else trc.times <= trc.times[0] + seconds + 1e-9
    pts = trc.points[keep][:, [trc.marker_names.index(n) for n in MV3D23]]
    if not np.isfinite(pts).all():
        raise InputError(f"{path}: the TRC has missing (NaN) keypoints; fill the gaps before simulating from it")
    return MotionSource(name=path.stem, times=trc.times[keep], coords={}, model=None, mot_columns=[],
                        mot_values=np.zeros((int(keep.sum()), 0)), in_degrees=True, keypoints=add_derived(pts))


def motion_source(motion: str | os.PathLike, model: Any = None, seconds: float | None = 10.0,
                  height: float = 1.75, mass: float = 70.0, marker_files: tuple = (),
                  stand_at: tuple[float, float, float] = (0.0, 0.0, 0.0), variant: int | None = None) -> MotionSource:
    """Resolve ``motion``: a built-in motion name, an OpenSim ``.mot`` file or a ``.trc`` of keypoints.

    model: None (built-in model of ``height``/``mass``) or an ``.osim`` path / ``opensim.Model``.
    seconds: duration of a built-in motion, or the length a file is trimmed to (None = all).
    stand_at: where a built-in motion's feet are held (OpenSim X, floor height Y, Z); file motions
    stay where they are. variant: a subject's own version of a built-in motion (see builtin_source).
    """
    text = os.fspath(motion)
    suffix = Path(text).suffix.lower()
    if suffix == ".trc":
        return trc_source(text, seconds)
    if suffix in (".mot", ".sto"):
        if not Path(text).is_file():
            raise InputError(f"motion file {text} does not exist")
        return mot_source(text, load_model(model, height, mass, marker_files), seconds)

    make_motion(text, 0.1, 10.0)  # validates the name with a clear error before building the model
    return builtin_source(text, 10.0 if seconds is None else seconds, load_model(model, height, mass, marker_files),
                          stand_at=stand_at, variant=variant)
