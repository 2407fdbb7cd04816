"""Coordinate values against a model's ranges, and sign conventions between model families.

A motion made for another model family can name the same coordinate with the opposite
sign: Gait2392, Gait2354 and Hamner2010 measure knee flexion negative (range about -120 to
+10 deg), Rajagopal2016, LaiUhlrich2022 and mv3d's built-in model positive (0 to 140 deg).
Driving the built-in model with such a file bends the knees backwards. ``find_violations``
lists the coordinates of a motion table outside a model's ranges by more than a tolerance
(real, unclamped IK overshoots a range by a few degrees; 10 deg by default) and tells
when the negated values would fit (an opposite sign convention) or when radian values look
like degrees. ``opposite_signs`` finds, between two motions of the same coordinates (video
and mocap), the columns whose value distributions match only after a sign flip.

Rotations are compared in degrees, translations in metres. Messages print rounded,
bounded numbers only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from mv3d.errors import InputError
from mv3d.io.mot import MotData, read_mot
from mv3d.kinematics._osim import coordinate_is_rotational, load_model
from mv3d.kinematics.bodymodel import RANGES, side_free

TRANSLATION_SUFFIXES = ("_tx", "_ty", "_tz")
#: Coordinates whose sign differs between OpenSim model families, with what to tell the user.
KNOWN_CONVENTIONS = {
    "knee_angle": "Gait2392, Gait2354 and Hamner2010 models measure knee flexion negative; Rajagopal2016, "
                  "LaiUhlrich2022 and mv3d's built-in model positive",
}
#: Ranges this wide (radians or metres) are no limit (e.g. the walker knee's ``knee_angle_r_beta``).
UNBOUNDED = 1e3


@dataclass(frozen=True)
class CoordinateRange:
    """A coordinate's allowed values: degrees for rotations, metres for translations."""

    name: str
    lo: float
    hi: float
    rotational: bool

    @property
    def unit(self) -> str:
        return "deg" if self.rotational else "m"


@dataclass(frozen=True)
class RangeViolation:
    """A coordinate of a motion outside a model's range (values in the range's units).

    outside: frames beyond the tolerance; flipped_fits: the negated values fit the range;
    degrees_as_radians: the file says radians but the values fit when read as degrees.
    """

    coordinate: str
    file_min: float
    file_max: float
    range: CoordinateRange
    outside: int
    frames: int
    flipped_fits: bool = False
    degrees_as_radians: bool = False

    def describe(self) -> str:
        """One sentence: the coordinate, its range in the file and in the model, and the likely cause."""
        u = self.range.unit
        text = (f"{self.coordinate} spans {_num(self.file_min)}..{_num(self.file_max)} {u} in the file but "
                f"{_num(self.range.lo)}..{_num(self.range.hi)} {u} in the model ({self.outside} of {self.frames} "
                f"frames outside)")
        if self.flipped_fits:
            text += ", it fits with the opposite sign"
        elif self.degrees_as_radians:
            text += ": the header says inDegrees=no but the values look like degrees"
        return text


def _num(x: float) -> str:
    """A short, bounded rendering of a number for messages (also inf, nan, 1e300)."""
    if not np.isfinite(x):
        return str(x)
    return f"{x:.4g}" if abs(x) >= 1e4 else f"{x:.1f}" if abs(x) >= 1 else f"{x:.3g}"


def is_translation(name: str) -> bool:
    """OpenSim naming: pelvis_tx/ty/tz (and any ``*_t[xyz]``) are translations."""
    return name.endswith(TRANSLATION_SUFFIXES)


def builtin_ranges() -> dict[str, CoordinateRange]:
    """Ranges of mv3d's built-in model (from ``bodymodel.RANGES``, without building it)."""
    out = {}
    for key, (lo, hi) in RANGES.items():
        names = [key] if key.startswith(("pelvis", "lumbar")) else [f"{key}_r", f"{key}_l"]
        rot = not is_translation(key)
        for name in names:
            out[name] = CoordinateRange(name, float(np.degrees(lo)) if rot else lo,
                                        float(np.degrees(hi)) if rot else hi, rot)
    return out


def model_ranges(model: Any) -> dict[str, CoordinateRange]:
    """Bounded ranges of an ``opensim.Model`` or ``.osim`` path (None: the built-in model)."""
    if model is None:
        return builtin_ranges()
    model = load_model(model)
    out = {}
    for coord in model.getCoordinateSet():
        lo, hi = coord.getRangeMin(), coord.getRangeMax()
        if max(abs(lo), abs(hi)) >= UNBOUNDED:
            continue
        rot = coordinate_is_rotational(coord)
        name = coord.getName()
        out[name] = CoordinateRange(name, float(np.degrees(lo)) if rot else lo, float(np.degrees(hi)) if rot else hi,
                                    rot)
    return out


def _outside(x: np.ndarray, rng: CoordinateRange, tol: float) -> int:
    return int(((x < rng.lo - tol) | (x > rng.hi + tol)).sum())


def find_violations(columns: list[str], values: np.ndarray, in_degrees: bool, ranges: dict[str, CoordinateRange],
                    tolerance_deg: float = 10.0, tolerance_m: float = 0.05) -> list[RangeViolation]:
    """Coordinates of a motion table outside ``ranges`` by more than the tolerance.

    columns: N names; values (F, N) as in the file (degrees when ``in_degrees``, else radians;
    translations in metres). Columns that are not in ``ranges`` or hold no finite value are skipped.
    """
    values = np.asarray(values, float)
    out = []
    for j, name in enumerate(columns):
        rng = ranges.get(name)
        x = values[:, j][np.isfinite(values[:, j])]
        if rng is None or not len(x):
            continue
        as_file = x if in_degrees or not rng.rotational else np.degrees(x)
        tol = tolerance_deg if rng.rotational else tolerance_m
        n_out = _outside(as_file, rng, tol)
        if not n_out:
            continue
        flipped = _outside(-as_file, rng, tol) == 0 and np.ptp(as_file) > tol
        as_deg = rng.rotational and not in_degrees and not flipped and _outside(x, rng, tol) == 0
        out.append(RangeViolation(name, float(as_file.min()), float(as_file.max()), rng, n_out, len(x),
                                  flipped_fits=bool(flipped), degrees_as_radians=bool(as_deg)))
    return out


def flip_signs(columns: list[str], values: np.ndarray, names: list[str] | tuple[str, ...],
               source: str | os.PathLike = "the motion") -> np.ndarray:
    """A copy of values (F, N) with the named columns negated.

    A name matches a column exactly or without its side suffix (``knee_angle`` flips
    ``knee_angle_r`` and ``knee_angle_l``); InputError for a name that matches nothing.
    """
    out = np.array(values, dtype=float, copy=True)
    for name in names:
        hits = [j for j, c in enumerate(columns) if c == name or side_free(c) == name]
        if not hits:
            raise InputError(f"--flip-sign {name}: {source} has no column {name} (nor {name}_r/{name}_l); "
                             f"its columns: {', '.join(columns[:10])}{', ...' if len(columns) > 10 else ''}")
        out[:, hits] *= -1.0
    return out


def raise_for_violations(violations: list[RangeViolation], source: str | os.PathLike, model_label: str,
                         option: str = "--flip-sign") -> None:
    """InputError (one line) naming the coordinates outside the model's ranges and what to do; no-op if none."""
    if not violations:
        return
    shown = "; ".join(v.describe() for v in violations[:3])
    more = f"; and {len(violations) - 3} more ({', '.join(v.coordinate for v in violations[3:8])}" \
           f"{', ...' if len(violations) > 8 else ''})" if len(violations) > 3 else ""
    flips = sorted({side_free(v.coordinate) for v in violations if v.flipped_fits})
    notes = "".join(f" ({KNOWN_CONVENTIONS[n]})" for n in flips if n in KNOWN_CONVENTIONS)
    flip_args = " ".join(f"{option} {n}" for n in flips)
    if flips and len(flips) == len({side_free(v.coordinate) for v in violations}):
        fix = (f"the file looks made for a model with the opposite sign convention{notes}: pass {flip_args}; "
               f"or give the model it was made for (--model)")
    elif flips:
        fix = (f"pass {flip_args} for the opposite sign convention{notes}, and give the model the motion was made "
               f"for (--model) for the rest")
    else:
        fix = "give the model the motion was made for (--model), or correct the file"
    raise InputError(f"{source}: coordinates outside the ranges of {model_label}: {shown}{more}. {fix[0].upper()}"
                     f"{fix[1:]}")


def opposite_signs(video: np.ndarray, mocap: np.ndarray, names: list[str], min_error: float = 20.0) -> list[str]:
    """Columns whose values match only with the opposite sign.

    video (F, N), mocap (G, N): the same N coordinates in the same units (time alignment not
    needed). A column is reported when the distance between the value distributions (mean
    absolute difference of the 5th..95th percentiles) exceeds ``min_error`` and halves or more
    when the mocap is negated.
    """
    q = np.linspace(5, 95, 19)
    out = []
    for j, name in enumerate(names):
        v, m = video[:, j][np.isfinite(video[:, j])], mocap[:, j][np.isfinite(mocap[:, j])]
        if len(v) < 3 or len(m) < 3:
            continue
        qv, qm, qf = np.percentile(v, q), np.percentile(m, q), np.percentile(-m, q)
        same, flipped = np.abs(qv - qm).mean(), np.abs(qv - qf).mean()
        if same > min_error and flipped < 0.5 * same:
            out.append(name)
    return out


def check_motion_file(path: str | os.PathLike, model: Any = None, flip: list[str] | tuple[str, ...] = (),
                      tolerance_deg: float = 10.0, seconds: float | None = None, option: str = "--flip-sign") -> Any:
    """Read a .mot/.sto, negate the ``flip`` columns and check it against the model's ranges.

    model: None (built-in model), an ``opensim.Model`` or an ``.osim`` path. seconds: check only
    the first ``seconds`` of the file (None: all of it). Returns the ``MotData`` with the flips
    applied; raises InputError (one line) naming each coordinate outside the model's ranges.
    """
    mot = read_mot(path)
    values = flip_signs(mot.columns, mot.values, flip, source=path)
    keep = np.ones(len(mot.times), dtype=bool) if seconds is None else mot.times <= mot.times[0] + seconds + 1e-9
    if model is None:
        label = "the built-in model"
    else:
        label = f"model {model if isinstance(model, (str, os.PathLike)) else model.getName()}"
    violations = find_violations(mot.columns, values[keep], mot.in_degrees, model_ranges(model), tolerance_deg)
    raise_for_violations(violations, path, label, option)
    return MotData(mot.times, values, list(mot.columns), mot.in_degrees, mot.name, dict(mot.header))


def check_task_values(tasks: dict[str, tuple[float, float | None]], ranges: dict, setup: Any, model: str) -> None:
    """InputError for a coordinate task whose value lies outside the coordinate's range."""
    for name, (_, value) in tasks.items():
        rng = ranges.get(name)
        if rng is None or value is None:
            continue
        shown = float(np.degrees(value)) if rng.rotational else float(value)
        if not rng.lo - 1e-6 <= shown <= rng.hi + 1e-6:
            raise InputError(f"IK coordinate task {name} of {setup or 'the call'} holds {shown:.4g} {rng.unit}, "
                             f"outside its range {rng.lo:.4g}..{rng.hi:.4g} {rng.unit} in model {model}; task values "
                             "are in radians (metres for translations): correct the value or its units")
