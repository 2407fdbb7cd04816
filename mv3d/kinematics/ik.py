"""Inverse kinematics with OpenSim's ``InverseKinematicsSolver`` from a TRC file.

Marker weights come from an IK setup XML (``IKMarkerTask``/``IKCoordinateTask``, as the
OpenSim GUI writes them) or from a dict. Markers of the TRC that the model lacks are
ignored (logged); weighted markers missing from the TRC or the model raise InputError
naming them; a marker that is NaN in a frame is left out of that frame. Long trials are
cut into chunks solved in parallel processes; each chunk after the first starts
``overlap`` frames early and tracks through them (warm start), so the joins are continuous.
Each chunk is tracked forward and backward, and a frame keeps the backward pose where the
forward one had settled in a clearly worse basin (``_solve_chunk``); every assembly starts with
the model's root turned and moved onto the frame's markers (``mv3d.kinematics.facing``).

For models without enforced constraints, every frame also gets each coordinate's
sensitivity to marker noise (``mv3d.kinematics.observability``); with ``refine`` the
coordinates the markers do not determine in a frame are held toward their neutral value by
the smallest prior that makes them stable (``stabilize``), and ``write_ik_outputs`` writes a
status per coordinate beside the .mot.
"""
from __future__ import annotations

import csv
import logging
import math
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from mv3d.io.mot import write_mot
from mv3d.io.trc import read_trc
from mv3d.kinematics import setups
from mv3d.kinematics._osim import coordinate_is_rotational, load_model, opensim
from mv3d.kinematics.coordinate_ranges import check_task_values, find_violations, model_ranges
from mv3d.kinematics.facing import continuous_heading, face_markers
from mv3d.kinematics.observability import FrameObserver, status_path, summarize, write_status_csv
from mv3d.kinematics.refine import MarkerRefiner, has_enforced_constraints
from mv3d.skeleton import MV3D25

log = logging.getLogger(__name__)


@dataclass
class IkResult:
    """IK output. values (F, N): radians for rotational coordinates, metres for translations.

    rms_error, max_error (F,): marker errors in metres over the markers used in each frame;
    n_markers (F,): markers used; worst_marker: name of the marker with the largest error;
    warnings: e.g. coordinates that left the model's ranges.
    """

    times: np.ndarray
    coordinates: list[str]
    values: np.ndarray
    rotational: np.ndarray
    rms_error: np.ndarray
    max_error: np.ndarray
    n_markers: np.ndarray
    worst_marker: list[str]
    sensitivity: np.ndarray | None = None
    prior_share: np.ndarray | None = None
    neutral: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    def coordinate_status(self) -> list:
        """Per-coordinate ``observability.CoordinateStatus`` (empty when the sensitivity is unknown).

        sensitivity, prior_share (F, N): per frame, NaN for coordinates IK does not move
        (locked); neutral (N,): the prior values (radians/metres).
        """
        if self.sensitivity is None:
            return []
        cols = [j for j in range(len(self.coordinates)) if np.isfinite(self.prior_share[:, j]).any()]
        neutral = np.where(self.rotational, np.degrees(self.neutral), self.neutral)
        return summarize([self.coordinates[j] for j in cols], self.sensitivity[:, cols], self.prior_share[:, cols],
                         neutral[cols], self.rotational[cols])

    def degrees(self) -> np.ndarray:
        """values with rotational columns in degrees, (F, N)."""
        out = self.values.copy()
        out[:, self.rotational] = np.rad2deg(out[:, self.rotational])
        return out


def load_model_with_markers(model: Any, marker_sets: list[str | os.PathLike] | None = None) -> Any:
    """Load a model and add the markers of OpenSim MarkerSet XML files (e.g. OpenCap's marker sets)."""
    osim = opensim()
    model = load_model(model)
    for path in marker_sets or []:
        if not Path(path).is_file():
            raise InputError(f"marker set file {path} does not exist")
        try:
            mset = osim.MarkerSet(str(path))
        except Exception as exc:
            raise InputError(f"OpenSim cannot read marker set {path}: {str(exc).strip()[:200]}") from exc
        for marker in mset:
            if model.getMarkerSet().contains(marker.getName()):
                model.updMarkerSet().remove(model.getMarkerSet().get(marker.getName()))
            model.addMarker(marker.clone())
    model.finalizeConnections()
    return model


def _table(osim: Any, names: list[str], times: np.ndarray, points: np.ndarray) -> Any:
    table = osim.TimeSeriesTableVec3()
    table.setColumnLabels(names)
    for f in range(len(times)):
        row = osim.RowVectorVec3(len(names))
        for k in range(len(names)):
            x, y, z = points[f, k]
            row[k] = osim.Vec3(float(x), float(y), float(z))
        table.appendRow(float(times[f]), row)
    table.addTableMetaDataString("Units", "m")
    return table


#: A frame of the backward pass replaces the forward pass's when its weighted marker cost is below
#: this share of the forward one and its weighted RMS marker error is lower by ``BACKWARD_MIN_GAIN_M``:
#: both passes reach the same pose wherever the markers fix it, so a clearly lower cost means the
#: forward pass had settled in another basin (see ``_solve_chunk``; a wrong basin costs 5-15 mm).
BACKWARD_COST_SHARE = 0.8
BACKWARD_MIN_GAIN_M = 0.001
#: Frames with fewer markers are left empty (NaN): a pose needs at least three points.
MIN_MARKERS = 3


def _solve_chunk(model_file: str, marker_sets: list[str], names: list[str], times: np.ndarray, points: np.ndarray,
                 weights: dict[str, float], coord_tasks: dict[str, tuple[float, float | None]], accuracy: float,
                 constraint_weight: float, refine: bool = False, stabilize: bool = False) -> dict[str, Any]:
    """Solve IK for consecutive frames (runs in a worker process).

    Tracking from the previous frame's pose can settle in a wrong basin of the cost (an arm raised
    overhead reached by flexion instead of abduction, 9 cm of elbow marker error) and stay there
    for as long as that basin exists. So OpenSim's solver tracks the frames twice, forward from the
    first and backward from the last, and a frame keeps the backward pose where its weighted
    marker cost is clearly lower (``BACKWARD_COST_SHARE``, ``BACKWARD_MIN_GAIN_M``) and stays lower
    once polished (``refine``; the polish and the observability apply to the kept poses).

    points: (F, M, 3) metres for ``names``. Returns arrays over frames: q (F, N) in model
    coordinate order, marker error RMS and max (F,) metres, markers used (F,), worst marker,
    frames taken from the backward pass (F,) bool, and (None for constrained models) sensitivity
    and prior share (F, N) and neutral values (N,).
    """
    osim = opensim()
    model = load_model_with_markers(model_file, marker_sets)
    state = model.initSystem()
    mweights = osim.SetMarkerWeights()
    for name in names:
        mweights.cloneAndAppend(osim.MarkerWeight(name, float(weights[name])))
    ref = osim.MarkersReference(_table(osim, names, times, points), mweights, osim.Units("m"))
    coord_refs = osim.SimTKArrayCoordinateReference()
    for name, (w, value) in coord_tasks.items():
        cref = osim.CoordinateReference(name, osim.Constant(float(value)))
        cref.setWeight(float(w))
        coord_refs.push_back(cref)
    solver = osim.InverseKinematicsSolver(model, ref, coord_refs, constraint_weight)
    solver.setAccuracy(accuracy)
    observer = None
    if has_enforced_constraints(model):
        log.info("model %s has kinematic constraints; IK refinement and the coordinate status are skipped",
                 model.getName())
    else:
        observer = FrameObserver(state, list(model.getCoordinateSet()),
                                 MarkerRefiner(model, state, names, weights, coord_tasks), stabilize and refine)
    poses = _Poses(model, state, names, np.array([weights[n] for n in names]), points, observer, refine)
    start = state.getQ().to_numpy().copy()

    def face(f: int) -> None:
        face_markers(model, state, poses.markers, points[f])

    _track(solver, state, times, poses.present, range(len(times)), start, face, poses.keep)
    back_q = np.full((len(times), len(start)), np.nan)
    back_cost = np.full(len(times), np.nan)

    def compare(f: int) -> None:
        back_q[f], back_cost[f] = state.getQ().to_numpy(), poses.cost(f)

    _track(solver, state, times, poses.present, range(len(times) - 1, -1, -1), start, face, compare)
    forward_cost = poses.out["cost"].copy()
    with np.errstate(invalid="ignore", divide="ignore"):     # frames without markers: NaN
        gain = np.sqrt(forward_cost / poses.weight_sum) - np.sqrt(back_cost / poses.weight_sum)   # weighted RMS, m
    candidates = ((np.isnan(forward_cost) & np.isfinite(back_cost))
                  | ((back_cost < BACKWARD_COST_SHARE * forward_cost) & (gain > BACKWARD_MIN_GAIN_M)))
    take = np.zeros(len(times), dtype=bool)
    for f in np.flatnonzero(candidates):
        forward_row = poses.row(f)
        state.setTime(float(times[f]))
        state.setQ(osim.Vector.createFromMat(back_q[f]))
        poses.keep(f)
        take[f] = np.isnan(forward_cost[f]) or poses.out["cost"][f] < forward_cost[f]   # still better, polished
        if not take[f]:
            poses.set_row(f, forward_row)
    out = poses.out
    out.update(backward=take, neutral=None if observer is None else observer.neutral_all)
    return out


def _track(solver: Any, state: Any, times: np.ndarray, present: np.ndarray, frames: range, start: np.ndarray,
           face: Any, solved: Any) -> None:
    """Track ``frames`` in that order with OpenSim's solver, assembling from the pose ``start`` (Q
    vector) and again after a frame that fails, each time with the root first turned and moved onto
    the frame's markers (``face(f)``); ``solved(f)`` is called with each solved frame's pose in ``state``.
    Frames with fewer than ``MIN_MARKERS`` markers are skipped, and the next frame is assembled."""
    state.setQ(opensim().Vector.createFromMat(start))
    assembled = False
    failures = 0
    for f in frames:
        if present[f] < MIN_MARKERS:
            assembled = False
            continue
        state.setTime(float(times[f]))
        try:
            if assembled:
                solver.track(state)
            else:
                face(f)
                solver.assemble(state)
                assembled = True
        except Exception as exc:  # too few markers in this frame, or no convergence
            # the first failure in detail; solve_ik logs how many frames failed in all
            (log.debug if failures else log.warning)("IK failed at t=%.4f s: %s", times[f],
                                                     str(exc).strip().splitlines()[0][:200])
            failures += 1
            assembled = False
            continue
        solved(f)


class _Poses:
    """The kept pose of each frame of a chunk and its marker errors (arrays over frames, NaN where
    no pose was kept): q (F, N), weighted marker cost, RMS and max error (F,) metres, markers
    used, worst marker; sensitivity and prior share (F, N) when there is an observer."""

    def __init__(self, model: Any, state: Any, names: list[str], marker_w: np.ndarray, points: np.ndarray,
                 observer: FrameObserver | None, refine: bool) -> None:
        self.model, self.state, self.names, self.marker_w, self.points = model, state, names, marker_w, points
        self.observer, self.refine = observer, refine
        self.coords = list(model.getCoordinateSet())
        self.markers = [model.getMarkerSet().get(n) for n in names]
        seen = np.isfinite(points).all(axis=2)
        #: (F,) markers present in each frame and the sum of their weights
        self.present, self.weight_sum = seen.sum(axis=1), (seen * marker_w).sum(axis=1)
        n, m = len(points), len(self.coords)
        self.out: dict[str, Any] = {"q": np.full((n, m), np.nan), "cost": np.full(n, np.nan),
                                    "rms": np.full(n, np.nan), "max": np.full(n, np.nan),
                                    "used": np.zeros(n, dtype=int), "worst": [""] * n, "sensitivity": None,
                                    "prior_share": None}
        if observer is not None:
            self.out.update(sensitivity=np.full((n, m), np.nan), prior_share=np.full((n, m), np.nan))

    def errors(self, f: int) -> np.ndarray:
        """(M,) distance (m) of each model marker at the state's pose to its target in frame f (NaN: missing)."""
        self.model.realizePosition(self.state)
        x = np.array([m.getLocationInGround(self.state).to_numpy() for m in self.markers])
        return np.linalg.norm(x - self.points[f], axis=1)

    def cost(self, f: int, errors: np.ndarray | None = None) -> float:
        """Weighted sum of squared marker errors (m^2) at the state's pose in frame f, or of the given
        ``errors`` (M,) (NaN: no marker)."""
        e = self.errors(f) if errors is None else errors
        ok = np.isfinite(e)
        return float(np.sum(self.marker_w[ok] * e[ok] ** 2)) if ok.any() else np.nan

    def row(self, f: int) -> dict[str, Any]:
        """Frame f's kept values (a copy)."""
        return {k: (v[f].copy() if isinstance(v, np.ndarray) else None if v is None else v[f])
                for k, v in self.out.items()}

    def set_row(self, f: int, row: dict[str, Any]) -> None:
        """Put back values from ``row``."""
        for k, v in row.items():
            if v is not None:
                self.out[k][f] = v

    def keep(self, f: int) -> None:
        """Polish and observe the state's pose (with an observer) and keep it as frame f's."""
        out = self.out
        if self.observer is not None:
            out["sensitivity"][f], out["prior_share"][f] = self.observer.frame(self.state, self.points[f],
                                                                              polish=self.refine)
        out["q"][f] = [c.getValue(self.state) for c in self.coords]
        e = self.errors(f)
        ok = np.isfinite(e)
        if ok.any():
            k = int(np.argmax(np.where(ok, e, -np.inf)))
            out["cost"][f] = self.cost(f, e)
            out["rms"][f], out["max"][f] = float(np.sqrt(np.mean(e[ok] ** 2))), float(e[k])
            out["worst"][f], out["used"][f] = self.names[k], int(ok.sum())


def resolve_tasks(model: Any, trc_names: list[str], weights: dict[str, float] | None,
                  trc_path: str | os.PathLike, keypoint_weight: float = 1.0) -> dict[str, float]:
    """Markers used by IK with their weights; raises InputError when required markers are missing.

    Without ``weights`` every marker the model has weighs 1, except the video keypoints (MV3D25
    names) of a TRC that also has other (augmented) markers: they weigh ``keypoint_weight``."""
    model_names = [m.getName() for m in model.getMarkerSet()]
    extra = sorted(set(trc_names) - set(model_names))
    if extra:
        log.info("markers in %s but not in model %s, ignored: %s", trc_path, model.getName(), extra)
    if weights is None:
        augmented = any(n in model_names and n not in MV3D25 for n in trc_names)
        weights = {n: keypoint_weight if augmented and n in MV3D25 else 1.0 for n in trc_names if n in model_names}
        if not weights:
            raise InputError(f"none of the markers of {trc_path} ({', '.join(trc_names[:12])}"
                             f"{', ...' if len(trc_names) > 12 else ''}) is in model {model.getName()} "
                             f"(markers {', '.join(model_names[:12])}{', ...' if len(model_names) > 12 else ''}); "
                             "give a model with this marker set or rename the TRC markers")
    weights = {n: float(w) for n, w in weights.items() if float(w) > 0}
    not_model = sorted(n for n in weights if n not in model_names)
    if not_model:
        raise InputError(f"IK markers {not_model} are not in model {model.getName()}; "
                         "add them to the model (marker set) or remove them from the IK setup")
    not_trc = sorted(n for n in weights if n not in trc_names)
    if not_trc:
        raise InputError(f"IK markers {not_trc} are missing from {trc_path}; "
                         "add them to the TRC or remove them from the IK setup/weights")
    return weights


def _chunks(n: int, n_jobs: int, overlap: int, min_chunk: int = 30) -> list[tuple[int, int, int]]:
    """(start with overlap, first kept frame, stop) per chunk."""
    n_chunks = max(1, min(n_jobs, n // min_chunk))
    edges = np.linspace(0, n, n_chunks + 1).round().astype(int)
    return [(max(0, a - overlap) if i else 0, a, b) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]


def solve_ik(model: Any, trc_path: str | os.PathLike, setup: str | os.PathLike | None = None,
             weights: dict[str, float] | None = None,
             coordinate_tasks: dict[str, tuple[float, float | None]] | None = None,
             time_range: tuple[float, float] | None = None, marker_sets: list[str | os.PathLike] | None = None,
             accuracy: float | None = None, constraint_weight: float | None = None,
             n_jobs: int = 1, overlap: int = 20, refine: bool = False, stabilize: bool = True,
             keypoint_weight: float = 1.0) -> IkResult:
    """Run IK on a TRC file and return the result (nothing is written).

    model: .osim path or opensim.Model; setup: IK setup XML (weights, coordinate tasks,
    accuracy, constraint weight, time range; explicit arguments win). n_jobs > 1 solves
    chunks in that many processes. refine: polish each frame's pose by damped Gauss-Newton
    on the same cost (``mv3d.kinematics.refine``; recommended for the built-in model).
    stabilize (with refine): hold the coordinates the markers do not determine in a frame
    toward neutral (``mv3d.kinematics.observability``); without refine the result is OpenSim's.
    keypoint_weight: without weights or a setup, the weight of the video keypoints when the TRC also
    has augmented markers (``resolve_tasks``).
    """
    opts: dict[str, Any] = {}
    if setup is not None:
        tasks = setups.read_tasks(setup)
        opts = setups.read_ik_options(setup)
        weights = tasks.markers if weights is None else weights
        if coordinate_tasks is None:
            coordinate_tasks = {k: v for k, v in tasks.coordinates.items() if v[1] is not None}
            dropped = sorted(set(tasks.coordinates) - set(coordinate_tasks))
            if dropped:
                log.warning("coordinate tasks %s take their values from a file; not supported, ignored", dropped)
    accuracy = accuracy if accuracy is not None else opts.get("accuracy", 1e-5)
    constraint_weight = constraint_weight if constraint_weight is not None else opts.get("constraint_weight", math.inf)
    range_from_setup = time_range is None and "time_range" in opts
    time_range = time_range if time_range is not None else opts.get("time_range")

    model_obj = load_model_with_markers(model, marker_sets)
    trc_path = Path(trc_path)
    trc = read_trc(trc_path)
    weights = resolve_tasks(model_obj, list(trc.marker_names), weights, trc_path, keypoint_weight)
    coordinate_tasks = dict(coordinate_tasks or {})
    missing_coords = sorted(n for n in coordinate_tasks if not model_obj.getCoordinateSet().contains(n))
    if missing_coords:
        raise InputError(f"IK coordinate tasks {missing_coords} are not coordinates of model {model_obj.getName()}")
    ranges = model_ranges(model_obj)
    check_task_values(coordinate_tasks, ranges, setup, model_obj.getName())

    times = np.asarray(trc.times, dtype=float)
    keep = np.ones(len(times), dtype=bool)
    if time_range is not None:
        t0, t1 = time_range
        keep = (times >= t0 - 1e-6) & (times <= t1 + 1e-6)
        if not keep.any() and range_from_setup:   # a setup made for another trial
            log.warning("the setup's time range %g-%g s is outside %s; solving the whole trial", t0, t1, trc_path)
            keep[:] = True
        if not keep.any():
            raise InputError(f"time range {t0}-{t1} s holds no frame of {trc_path} "
                             f"(it spans {times[0]:.3f}-{times[-1]:.3f} s)")
    names = list(weights)
    cols = [trc.marker_names.index(n) for n in names]
    pts = np.asarray(trc.points, dtype=float)[keep][:, cols]
    times = times[keep]
    all_nan = [n for k, n in enumerate(names) if np.isnan(pts[:, k]).all()]
    if all_nan:
        log.warning("markers %s are missing (NaN) in every frame of %s", all_nan, trc_path)

    with _ModelFile(model_obj) as model_file:
        chunks = _chunks(len(times), n_jobs, overlap)
        args = [(model_file, [], names, times[s:b], pts[s:b], weights, coordinate_tasks, accuracy,
                 constraint_weight, refine, stabilize) for s, _, b in chunks]
        if len(chunks) == 1:
            parts = [_solve_chunk(*args[0])]
        else:
            # fork (Linux, macOS): no __main__ guard needed in the caller; workers use only OpenSim and numpy.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(max_workers=len(chunks), mp_context=ctx) as pool:
                parts = list(pool.map(_solve_chunk, *zip(*args)))

    def joined(key: str) -> Any:
        """One chunk output over all frames (each chunk's overlap frames dropped)."""
        if parts[0][key] is None:
            return None
        pieces = [p[key][a - s:] for p, (s, a, _) in zip(parts, chunks)]
        return [v for piece in pieces for v in piece] if key == "worst" else np.concatenate(pieces)

    q, rms, mx, used, worst, backward = (joined(k) for k in ("q", "rms", "max", "used", "worst", "backward"))
    if backward.any():
        log.info("IK of %s: %d of %d frames from the backward pass (the forward pass had settled in a worse pose)",
                 trc_path, int(backward.sum()), len(backward))
    coords = list(model_obj.getCoordinateSet())
    continuous_heading(model_obj, [c.getName() for c in coords], q)
    empty = np.isfinite(pts).all(axis=2).sum(axis=1) < MIN_MARKERS
    failed = int((np.isnan(q).any(axis=1) & ~empty).sum())
    if np.isnan(q).any(axis=1).all():
        raise InputError(f"IK failed in every frame of {trc_path}; check the marker names and units")
    if empty.any():
        log.info("%d of %d frames of %s have fewer than %d markers: left empty (NaN rows)", int(empty.sum()),
                 len(q), trc_path, MIN_MARKERS)
    if failed:
        log.warning("IK failed in %d of %d frames of %s (NaN rows)", failed, len(q), trc_path)
    result = IkResult(times, [c.getName() for c in coords], q,
                      np.array([coordinate_is_rotational(c) for c in coords]), rms, mx, used, worst,
                      joined("sensitivity"), joined("prior_share"), parts[0]["neutral"])
    outside = find_violations(result.coordinates, result.degrees(), True, ranges)
    if outside:
        result.warnings.append(f"the IK result of {trc_path} leaves the ranges of model {model_obj.getName()}: "
                               f"{'; '.join(v.describe() for v in outside[:3])}"
                               f"{f' (and {len(outside) - 3} more)' if len(outside) > 3 else ''}; check the "
                               "marker names, left/right labels and units of the TRC")
        log.warning("%s", result.warnings[-1])
    return result


class _ModelFile:
    """The model as an .osim file for worker processes: the original path or a temporary print."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tmp: Path | None = None

    def __enter__(self) -> str:
        fd, name = tempfile.mkstemp(suffix=".osim", prefix="mv3d_ik_")
        os.close(fd)
        self.tmp = Path(name)
        self.model.printToXML(name)
        return name

    def __exit__(self, *exc: Any) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def write_ik_outputs(result: IkResult, out_mot: str | os.PathLike, errors_csv: str | os.PathLike | None = None,
                     name: str | None = None, status_csv: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write the .mot (degrees for rotations, like OpenSim), the per-frame marker error CSV (metres)
    and, when the result has it, the coordinate status CSV (default ``<mot stem>_coordinate_status.csv``)."""
    out_mot = Path(out_mot)
    errors_csv = Path(errors_csv) if errors_csv is not None else out_mot.with_name(out_mot.stem + "_marker_errors.csv")
    out_mot.parent.mkdir(parents=True, exist_ok=True)
    errors_csv.parent.mkdir(parents=True, exist_ok=True)
    write_mot(out_mot, result.times, result.degrees(), result.coordinates, in_degrees=True,
              name=name or out_mot.stem)
    with atomic_write(errors_csv, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["time", "rms_error_m", "max_error_m", "n_markers", "worst_marker"])
        for row in zip(result.times, result.rms_error, result.max_error, result.n_markers, result.worst_marker):
            writer.writerow([f"{row[0]:.6f}", f"{row[1]:.6g}", f"{row[2]:.6g}", int(row[3]), row[4]])
    status = result.coordinate_status()
    status_csv = Path(status_csv) if status_csv is not None else status_path(out_mot)
    if status:
        status_csv.parent.mkdir(parents=True, exist_ok=True)
        write_status_csv(status_csv, status)
    else:
        status_csv.unlink(missing_ok=True)       # a stale status of an earlier run must not describe this one
    return out_mot, errors_csv


def undetermined_summary(result: IkResult) -> str:
    """One line naming the coordinates the markers do not determine in every frame (empty when none)."""
    rows = [r for r in result.coordinate_status() if r.status != "determined"]
    if not rows:
        return ""
    parts = [r.coordinate if r.status == "undetermined" else
             f"{r.coordinate} (determined in {100 * r.determined_fraction:.0f}% of the frames)" for r in rows[:12]]
    held = any(r.prior_share > 0 for r in rows)
    return (f"the markers do not determine {', '.join(parts)}{', ...' if len(rows) > 12 else ''}"
            f"{'; IK holds them toward neutral where they do not' if held else ''}")


def run_ik(model_path: Any, trc_path: str | os.PathLike, out_mot: str | os.PathLike,
           setup: str | os.PathLike | None = None, errors_csv: str | os.PathLike | None = None,
           status_csv: str | os.PathLike | None = None, **kwargs: Any) -> IkResult:
    """Run IK (see ``solve_ik`` for the options) and write ``out_mot``, its marker-error CSV and its
    coordinate status CSV (see ``write_ik_outputs``)."""
    result = solve_ik(model_path, trc_path, setup=setup, **kwargs)
    mot, csv_path = write_ik_outputs(result, out_mot, errors_csv, status_csv=status_csv)
    log.info("IK of %s: %d frames, marker RMS median %.1f mm -> %s, %s", trc_path, len(result.times),
             1e3 * float(np.nanmedian(result.rms_error)), mot, csv_path)
    summary = undetermined_summary(result)
    if summary:
        log.info("%s: %s", mot, summary)
    return result
