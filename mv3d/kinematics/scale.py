"""Model scaling with OpenSim's ScaleTool, guarded by a plausibility check of the scale factors.

The static window is either given (``time_range``, or the setup's) or found
automatically: the ``static_seconds`` window with the least marker motion. Before OpenSim
runs, the scale factor of every marker pair (experimental distance averaged over the
window / model distance in the default pose) is computed here; a factor outside
``[0.5, 2]`` or a spread of more than 25 % between the pairs of one measurement (left vs
right thigh, anatomical vs video pair) stops with an InputError naming them, since it means
a mislabelled marker, wrong units or a wrong model. Outputs are written atomically.

OpenSim's marker placement (moving the model's markers onto the static pose) assumes the
window is static: the markers are averaged over it. A window whose markers move faster than
``MAX_STATIC_SPEED`` on average (a trial without a still period, e.g. running) would average
poses apart and misplace the markers by centimetres, so the markers are then left where the
model has them (the scaled segments are still measured from the window's marker distances,
except those whose pairs span a joint, ``Measurement.spans_joint``: the torso's shoulder-hip
pairs shorten as the trunk flexes, so the torso keeps the size the subject's height gives it).
"""
from __future__ import annotations

import contextlib
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import temp_path_for
from mv3d.io.trc import read_trc
from mv3d.kinematics import setups
from mv3d.kinematics._osim import opensim
from mv3d.kinematics.bodymodel import marker_weights
from mv3d.kinematics.facing import face_default_pose
from mv3d.kinematics.forward import forward_markers
from mv3d.kinematics.ik import load_model_with_markers
from mv3d.subject import limits, plausible

log = logging.getLogger(__name__)

FACTOR_RANGE = (0.5, 2.0)
MAX_SPREAD = 0.25
#: m/s: mean marker speed above which a scaling window is not static (markers are then not moved).
#: A subject standing still between squats, seen through video noise: ~0.2; running: ~1.5.
MAX_STATIC_SPEED = 0.5


@dataclass
class ScaleResult:
    """Scaled model path, static window (s), measurement factors, the applied per-body scales (3,),
    the window's mean marker speed (m/s) and whether the markers were moved onto it."""

    model_path: Path
    scale_set_path: Path
    time_range: tuple[float, float]
    measurement_factors: dict[str, float]
    body_scales: dict[str, np.ndarray]
    window_speed: float = float("nan")
    markers_moved: bool = True


def _marker_speeds(times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Speed (m/s) of each marker between consecutive frames: points (F, M, 3), times (F,) -> (F-1, M)."""
    return np.linalg.norm(np.diff(points, axis=0), axis=-1) / np.diff(times)[:, None]


def mean_marker_speed(times: np.ndarray, points: np.ndarray) -> float:
    """Mean marker speed (m/s) of points (F, M, 3) at times (F,), NaN-aware."""
    if len(times) < 2:
        return 0.0
    speed = _marker_speeds(times, points)
    return float(np.nanmean(speed)) if np.isfinite(speed).any() else 0.0


def find_static_window(times: np.ndarray, points: np.ndarray, seconds: float = 1.0) -> tuple[float, float]:
    """Window of ``seconds`` with the lowest mean marker speed.

    times: (F,) s; points: (F, M, 3) m (NaN allowed). Returns (t0, t1). Raises InputError
    when the trial is shorter than ``seconds``.
    """
    times = np.asarray(times, float)
    if len(times) < 2 or times[-1] - times[0] < seconds - 1e-9:
        raise InputError(f"the trial lasts {times[-1] - times[0]:.2f} s, shorter than the {seconds:g} s static "
                         "window; record a longer static trial or give --time-range")
    speed = _marker_speeds(times, points)   # (F-1, M)
    seen = np.isfinite(speed)
    frame_speed = np.where(seen.any(axis=1), np.where(seen, speed, 0).sum(axis=1) / np.maximum(seen.sum(axis=1), 1),
                           np.nan)
    # frames without markers can never be part of the window (a finite penalty keeps the cumsum finite)
    frame_speed = np.where(np.isfinite(frame_speed), frame_speed, 1e12)
    n = int(np.searchsorted(times, times[0] + seconds - 1e-9))  # frames spanning `seconds`
    csum = np.concatenate([[0.0], np.cumsum(frame_speed)])
    window_mean = (csum[n:] - csum[:-n]) / n                          # over speed samples [i, i+n)
    i = int(np.argmin(window_mean))
    return float(times[i]), float(times[i + n])


def _check_window(times: np.ndarray, time_range: tuple[float, float], trc_path: Path) -> np.ndarray:
    t0, t1 = time_range
    if t1 < t0:
        raise InputError(f"static time range {t0}-{t1} s is reversed; give start < end")
    sel = (times >= t0 - 1e-6) & (times <= t1 + 1e-6)
    if not sel.any():
        raise InputError(f"static time range {t0}-{t1} s is outside {trc_path} "
                         f"(it spans {times[0]:.3f}-{times[-1]:.3f} s); give a window inside the trial")
    return sel


def measurement_factors(model: Any, names: list[str], static_points: np.ndarray,
                        measurements: list[setups.Measurement]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Scale factor per measurement (mean over pairs) and per pair, from static points (F, M, 3)."""
    model_pts, model_names = forward_markers(model, np.zeros(1), {})
    model_pos = dict(zip(model_names, model_pts[0]))
    exp_pos = {n: static_points[:, k] for k, n in enumerate(names)}
    factors, per_pair = {}, {}
    for meas in measurements:
        ratios = []
        for a, b in meas.pairs:
            d_model = np.linalg.norm(model_pos[a] - model_pos[b])
            d_exp = np.nanmean(np.linalg.norm(exp_pos[a] - exp_pos[b], axis=-1))
            if d_model > 1e-9 and np.isfinite(d_exp):
                ratios.append(float(d_exp / d_model))
        if ratios:
            factors[meas.name] = float(np.mean(ratios))
            per_pair[meas.name] = ratios
    return factors, per_pair


def check_factors(factors: dict[str, float], per_pair: dict[str, list[float]],
                  measurements: list[setups.Measurement]) -> None:
    """Raise InputError for implausible factors: outside FACTOR_RANGE or pairs spread > MAX_SPREAD."""
    pairs_of = {m.name: m.pairs for m in measurements}
    problems = []
    for name, ratios in per_pair.items():
        r = np.array(ratios)
        bad = [f"{pairs_of[name][i][0]}-{pairs_of[name][i][1]}: {v:.2f}" for i, v in enumerate(r)
               if not FACTOR_RANGE[0] <= v <= FACTOR_RANGE[1]]
        if bad:
            problems.append(f"measurement {name!r} has factors outside {FACTOR_RANGE}: {', '.join(bad)}")
        elif len(r) > 1 and (r.max() - r.min()) / r.mean() > MAX_SPREAD:
            detail = ", ".join(f"{a}-{b}: {v:.2f}" for (a, b), v in zip(pairs_of[name], r))
            problems.append(f"measurement {name!r} pairs disagree by {100 * (r.max() - r.min()) / r.mean():.0f}% "
                            f"(> {100 * MAX_SPREAD:.0f}%): {detail}")
    if problems:
        raise InputError("implausible scaling, nothing written: " + "; ".join(problems)
                         + ". Check marker labels (left/right swaps), TRC units and the static window")


def _usable(measurements: list[setups.Measurement], available: set[str]) -> list[setups.Measurement]:
    out = []
    for meas in measurements:
        pairs = [p for p in meas.pairs if p[0] in available and p[1] in available]
        dropped = [p for p in meas.pairs if p not in pairs]
        if dropped:
            log.info("measurement %s: marker pairs %s not available (model/TRC), left out", meas.name, dropped)
        if pairs:
            out.append(setups.Measurement(meas.name, pairs, meas.bodies, meas.axes))
        else:
            log.warning("measurement %s has no usable marker pair; its bodies are not scaled", meas.name)
    return out


def _abs(path: str, base: Path) -> str:
    p = Path(path.strip())
    return str(p if p.is_absolute() else (base / p).resolve())


def scale_model(model: str | os.PathLike | None, trc_path: str | os.PathLike, mass: float,
                out_dir: str | os.PathLike, height: float | None = None, setup: str | os.PathLike | None = None,
                measurements: list[setups.Measurement] | None = None, weights: dict[str, float] | None = None,
                time_range: tuple[float, float] | None = None, static_seconds: float = 1.0,
                name: str | None = None, check: bool = True,
                marker_sets: list[str | os.PathLike] | None = None, move_markers: bool | None = None) -> ScaleResult:
    """Scale ``model`` to the static trial ``trc_path`` and the subject's ``mass`` (kg).

    setup: a ScaleTool setup XML (measurements, marker placer weights, manual scales; its
    relative paths are resolved from its folder); without it the measurements and weights
    of the built-in model are used (or the given ones). Writes ``<name>_scaled.osim`` and
    ``<name>_scale_set.xml`` into ``out_dir``. marker_sets: MarkerSet XMLs added to the
    model first (e.g. OpenCap's ``LaiUhlrich2022_markers_augmenter.xml``). move_markers: move the
    model's markers onto the static pose (OpenSim's marker placement); None: only when the window
    is static (mean marker speed <= ``MAX_STATIC_SPEED``).
    """
    _check_subject(mass, height)
    trc_path = Path(trc_path).resolve()
    trc = read_trc(trc_path)
    times = np.asarray(trc.times, float)
    tool, marker_set = None, None
    if setup is not None:
        tool, model, marker_set, measurements, weights, time_range = _read_setup(
            Path(setup).resolve(), times, trc_path, model, measurements, weights, time_range)
    elif model is None:
        raise InputError("give a model (--model) or a scale setup (--setup) that names one")
    model_path = Path(os.fspath(model)).resolve()
    model_obj = load_model_with_markers(model_path, ([marker_set] if marker_set else []) + list(marker_sets or []))
    model_markers = {m.getName() for m in model_obj.getMarkerSet()}
    measurements = setups.builtin_measurements() if measurements is None else measurements
    if weights is None:
        weights = {n: w for n, w in marker_weights().items() if n in model_markers}
    common = [k for k, n in enumerate(trc.marker_names) if n in model_markers]
    time_range, sel = _static_window(trc, times, common, time_range, static_seconds, trc_path)
    static = np.asarray(trc.points)[sel]
    speed = mean_marker_speed(times[sel], static[:, common])
    still = speed <= MAX_STATIC_SPEED
    if not still:
        measurements = [m for m in measurements if not m.spans_joint]
    weights, usable = _usable_markers(trc, static, model_markers, weights, measurements, trc_path, model_path)
    if move_markers is None:
        move_markers = still
        if not still:
            log.warning("the scaling window %.2f-%.2f s of %s is not static (markers move %.2f m/s on average): "
                        "the model's markers are not moved onto it", *time_range, trc_path.name, speed)
    factors, per_pair = measurement_factors(model_obj, list(trc.marker_names), static, usable)
    if check:
        check_factors(factors, per_pair, usable)
    log.info("measurement scale factors: %s", {k: round(v, 4) for k, v in factors.items()})

    name = name or model_path.stem
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final_model, final_scales = out_dir / f"{name}_scaled.osim", out_dir / f"{name}_scale_set.xml"
    tmp_model, tmp_scales = temp_path_for(final_model), temp_path_for(final_scales)
    tmp_generic = temp_path_for(out_dir / f"{name}_generic.osim")
    placed = [n for n in weights if n in trc.marker_names]
    window = static[:, [list(trc.marker_names).index(n) for n in placed]]
    seen = np.isfinite(window).all(axis=2).any(axis=0)           # markers present in the window
    mean_pose = np.full((len(placed), 3), np.nan)
    mean_pose[seen] = np.nanmean(window[:, seen], axis=0)
    face_default_pose(model_obj, placed, mean_pose)   # the marker placement starts facing the subject
    try:
        model_obj.printToXML(str(tmp_generic))   # the generic model with its marker set, for the ScaleTool
        tool = _scale_tool(tool, tmp_generic, mass, height, usable, weights)
        _set_outputs(tool, trc_path, time_range, tmp_scales, tmp_model)
        tool.getMarkerPlacer().setMoveModelMarkers(bool(move_markers))
        _run(tool, trc_path, model_path, tmp_model)
        body_scales = _read_scale_set(tmp_scales)
        os.replace(tmp_scales, final_scales)
        os.replace(tmp_model, final_model)
    finally:
        for tmp in (tmp_model, tmp_scales, tmp_generic):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    log.info("scaled %s -> %s", model_path.name, final_model)
    return ScaleResult(final_model, final_scales, time_range, factors, body_scales, speed, bool(move_markers))


def _check_subject(mass: float, height: float | None) -> None:
    if mass is None or not np.isfinite(mass) or mass <= 0:
        raise InputError(f"subject mass {mass!r} kg must be a positive number of kilograms (--mass)")
    if height is not None and not plausible("height_m", height):
        low, high = limits("height_m")
        raise InputError(f"subject height {height!r} m is not plausible; give metres between {low:g} and {high:g}")


def _read_setup(setup: Path, times: np.ndarray, trc_path: Path, model, measurements, weights, time_range):
    """A ScaleTool setup's tool, model, marker set, measurements, marker weights and static window (the
    given values win; a window outside the trial is dropped: setups carry the trial they were made for)."""
    tasks = setups.read_tasks(setup)
    opts = setups.read_scale_options(setup)
    measurements = setups.read_measurements(setup) if measurements is None else measurements
    weights = tasks.markers if weights is None else weights
    if time_range is None and "time_range" in opts:
        t0, t1 = opts["time_range"]
        if ((times >= t0 - 1e-6) & (times <= t1 + 1e-6)).any():
            time_range = (t0, t1)
        else:
            log.warning("the setup's static window %.3f-%.3f s is outside %s; finding one automatically",
                        t0, t1, trc_path.name)
    tool = opensim().ScaleTool(str(setup))
    maker = tool.getGenericModelMaker()
    model = model if model is not None else _abs(maker.getModelFileName(), setup.parent)
    mset_file = maker.getMarkerSetFileName().strip()
    marker_set = _abs(mset_file, setup.parent) if mset_file and mset_file != "Unassigned" else None
    return tool, model, marker_set, measurements, weights, time_range


def _static_window(trc, times: np.ndarray, common: list[int], time_range: tuple[float, float] | None,
                   static_seconds: float, trc_path: Path) -> tuple[tuple[float, float], np.ndarray]:
    """The static window (s) and its frames (mask): the given one, else the stillest ``static_seconds`` of
    the marker columns ``common`` (those the model has)."""
    if time_range is not None:
        sel = _check_window(times, tuple(time_range), trc_path)
        return (float(times[sel][0]), float(times[sel][-1])), sel
    time_range = find_static_window(times, np.asarray(trc.points)[:, common], static_seconds)
    log.info("static window of %s: %.3f-%.3f s (least marker motion)", trc_path.name, *time_range)
    return time_range, _check_window(times, time_range, trc_path)


def _usable_markers(trc, static: np.ndarray, model_markers: set[str], weights: dict[str, float],
                    measurements: list[setups.Measurement], trc_path: Path, model_path: Path,
                    ) -> tuple[dict[str, float], list[setups.Measurement]]:
    """The marker weights and measurements left for markers both in the model and seen in the static window."""
    present = {n for k, n in enumerate(trc.marker_names) if np.isfinite(static[:, k]).all(axis=-1).any()}
    available = present & model_markers
    missing_weights = sorted(set(weights) - available)
    if missing_weights:
        log.info("marker placement: markers %s missing from the model or the static trial, left out",
                 missing_weights)
    weights = {n: w for n, w in weights.items() if n in available}
    if not available:
        raise InputError(f"none of the markers of {trc_path} ({', '.join(trc.marker_names[:10])}, ...) is in model "
                         f"{model_path.name}; give the model's marker set or rename the TRC markers")
    usable = _usable(measurements, available)
    if not usable:
        raise InputError(f"no scale measurement of {model_path.name} has its markers in {trc_path}; "
                         "give a scale setup whose marker pairs exist in the static trial")
    return weights, usable


def _scale_tool(tool: Any, generic: Path, mass: float, height: float | None, usable: list[setups.Measurement],
                weights: dict[str, float]) -> Any:
    """The ScaleTool on the generic model: a new one, or the setup's with the usable measurements and the
    available markers' tasks (its coordinate tasks kept)."""
    if tool is None:
        tool = setups.make_scale_tool(str(generic), mass, height or 0.0, usable, weights)
    else:
        mset = tool.getModelScaler().getMeasurementSet()
        mset.clearAndDestroy()
        made = setups.make_scale_tool(str(generic), mass, height or 0.0, usable, weights)  # kept alive while copied
        for m in made.getModelScaler().getMeasurementSet():
            mset.cloneAndAppend(m)
        tasks = tool.getMarkerPlacer().getIKTaskSet()
        for i in reversed(range(tasks.getSize())):
            task = tasks.get(i)
            if task.getConcreteClassName() == "IKMarkerTask" and task.getName() not in weights:
                tasks.remove(i)
    tool.getGenericModelMaker().setModelFileName(str(generic))
    tool.getGenericModelMaker().setMarkerSetFileName("Unassigned")
    tool.setSubjectMass(float(mass))
    if height is not None:
        tool.setSubjectHeight(float(height) * 1000.0)
    return tool


def _set_outputs(tool: Any, trc_path: Path, time_range: tuple[float, float], scales: Path, model: Path) -> None:
    """Scale and place markers on the static window of ``trc_path``; write the scale set and the model."""
    tr = opensim().ArrayDouble()
    tr.append(time_range[0])
    tr.append(time_range[1])
    scaler = tool.getModelScaler()
    scaler.setApply(True)
    scaler.setMarkerFileName(str(trc_path))
    scaler.setTimeRange(tr)
    scaler.setOutputModelFileName("Unassigned")
    scaler.setOutputScaleFileName(str(scales))
    placer = tool.getMarkerPlacer()
    placer.setApply(True)
    placer.setStaticPoseFileName(str(trc_path))
    placer.setTimeRange(tr)
    placer.setOutputModelFileName(str(model))
    placer.setOutputMotionFileName("Unassigned")
    placer.setOutputMarkerFileName("Unassigned")
    tool.setPathToSubject("")  # every path above is absolute


def _run(tool: Any, trc_path: Path, model_path: Path, out_model: Path) -> None:
    try:
        ok = tool.run()
    except Exception as exc:
        raise InputError(f"OpenSim ScaleTool failed on {trc_path.name} with {model_path.name}: "
                         f"{str(exc).strip().splitlines()[0][:300]}") from exc
    if not ok or out_model.stat().st_size == 0:
        raise InputError(f"OpenSim ScaleTool could not scale {model_path.name} to {trc_path.name}; "
                         "run with -vv to see OpenSim's messages")


def _read_scale_set(path: Path) -> dict[str, np.ndarray]:
    out = {}
    for elem in ET.parse(path).getroot().iter("Scale"):
        seg = (elem.findtext("segment") or "").strip()
        out[seg] = np.array([float(x) for x in (elem.findtext("scales") or "").split()])
    return out

