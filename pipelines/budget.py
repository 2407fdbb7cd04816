"""The error budget of a simulated session's run: each stage's output against ``truth/``.

Reads what ``mv3d simulate`` left in ``truth/`` (true 2D and 3D keypoints per camera frame,
offsets, clocks, anatomical markers, coordinates) and what ``mv3d run`` left in the session
(store, TRCs, scaled model, IK motion), and tables (``mv3d.simulate.budget``):

* 2D detections per joint (px); camera offsets (ms);
* 3D keypoints (mm): triangulated without limb constraints or filter, with limb constraints,
  and as the pipeline kept them (+ low-pass), plus the truth low-passed alone (what the filter
  takes from a perfect trajectory);
* anatomical markers (mm): the augmenter on the true keypoints, and the pipeline's;
* IK: the marker residual per marker (mm) of the pipeline's fit;
* joint angles (deg, RMSE, bias, ROM error): IK of the true markers on the scaled model (what
  scaling and the model leave), IK of the markers the augmenter predicts from the true keypoints
  (what augmentation adds without video error), and the pipeline's.

Time: row ``i`` of the pipeline's arrays is frame ``i`` of the reference camera, whose true
motion time comes from ``truth/timing.yaml`` (imported detections: frame numbers; 2D network:
the video's i-th kept frame). Truth is interpolated (cubic) to those times.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.interpolate import CubicSpline

from mv3d.errors import InputError
from mv3d.io import read_mot, read_trc, write_trc
from mv3d.kinematics._osim import load_model
from mv3d.kinematics.compare import LOWER_LIMB
from mv3d.kinematics.forward import forward_markers, mot_to_coordinates
from mv3d.kinematics.ik import solve_ik
from mv3d.simulate.budget import (GROSS_PX, PELVIS_TRUNK, Budget, Table, angle_errors, mean_of, offset_errors,
                                  pixel_errors, point_errors)
from mv3d.skeleton import MV3D23, MV3D25
from mv3d.timeseries import butter_lowpass
from mv3d.triangulate import reconstruct
from pipelines.config import PipelineConfig, load_pipeline_config
from pipelines.context import Context
from pipelines.session import discover_session

log = logging.getLogger(__name__)


@dataclass
class SimTruth:
    """truth/ of a simulated session: arrays of truth2d.npz, clocks, offsets, markers, coordinates."""

    folder: Path
    arrays: dict[str, np.ndarray]
    timing: dict
    offsets: dict[str, float]

    def frames(self, cam: str) -> np.ndarray:
        return self.arrays[f"frames_{cam}"]

    def times(self, cam: str) -> np.ndarray:
        return self.arrays[f"times_{cam}"]


def load_truth(root: Path) -> SimTruth:
    """The truth of the session at ``root``; InputError when it is not a simulated session."""
    folder = root / "truth"
    needed = [folder / n for n in ("truth2d.npz", "timing.yaml", "offsets.yaml")]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise InputError(f"session {root} has no simulation truth ({', '.join(missing)} missing under {folder}); "
                         f"the error budget needs a session made by `mv3d simulate`")
    with np.load(folder / "truth2d.npz") as z:
        arrays = {k: z[k] for k in z.files}
    timing = yaml.safe_load((folder / "timing.yaml").read_text())
    offsets = {str(k): float(v) for k, v in yaml.safe_load((folder / "offsets.yaml").read_text()).items()}
    return SimTruth(folder, arrays, timing, offsets)


def row_times(truth: SimTruth, cam: str, n_rows: int, source: str) -> np.ndarray:
    """(n_rows,) true motion time of each row of the pipeline's arrays (reference camera ``cam``).

    Imported detections: row = frame number (from the cameras' first); network: row = the
    video's i-th frame (dropped frames are absent from a video).
    """
    clock = truth.timing["cameras"][cam]
    fps, start = float(clock["fps"]), float(clock["first_frame_time"])
    if source == "network":
        times = truth.times(cam)
        rows = np.arange(n_rows)
        extra = (rows - (len(times) - 1)) / fps + times[-1]
        return np.where(rows < len(times), np.interp(rows, np.arange(len(times)), times), extra)
    first = min(int(truth.frames(c).min()) for c in truth.timing["cameras"])
    return start + (np.arange(n_rows) + first) / fps


def at_times(times: np.ndarray, values: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Cubic interpolation of ``values`` (T, ...) at ``new_times``; NaN outside ``times``."""
    out = CubicSpline(times, values, axis=0)(np.clip(new_times, times[0], times[-1]))
    out[(new_times < times[0] - 1e-9) | (new_times > times[-1] + 1e-9)] = np.nan
    return out


def pixel_table(truth: SimTruth, kp: np.ndarray, cams: list[str], source: str, min_conf: float) -> Table:
    """2D errors of the pipeline's raw keypoints (C, F, 23, 3), all cameras pooled."""
    det, true = [], []
    first = min(int(truth.frames(k).min()) for k in cams)
    for c, cam in enumerate(cams):
        frames = truth.frames(cam)
        rows = np.arange(len(frames)) if source == "network" else frames - first
        ok = rows < kp.shape[1]
        det.append(kp[c, rows[ok]])
        true.append(truth.arrays[f"uv_{cam}"][ok])
    return pixel_errors(np.concatenate(det), np.concatenate(true), list(MV3D23), min_conf)


def triangulation_tables(ctx: Context, truth_xyz: np.ndarray, budget: Budget) -> None:
    """3D keypoint errors: raw, + limb constraints, final (stored), truth low-passed."""
    cfg = ctx.config.triangulation
    kp = ctx.store.read("keypoints2d_synced").copy()
    attrs = ctx.store.attrs("keypoints2d_synced")
    cams, fps = list(attrs["cameras"]), float(attrs["fps"])
    low = kp[..., 2] < cfg.min_confidence
    kp[low] = np.nan
    kp[..., 2][low] = 0.0
    rig = ctx.rig.subset(cams)
    raw = reconstruct(rig, kp, method=cfg.method, max_gap=cfg.max_gap).points
    truth = truth_xyz[:, :len(MV3D23)]
    tables = {"3d_raw": raw}
    if cfg.limb_constraints:
        tables["3d_limbs"] = reconstruct(rig, kp, method=cfg.method, limb_constraints=True, fps=fps,
                                         max_gap=cfg.max_gap).points
    tables["3d_final"] = ctx.store.read("points3d")
    labels = {"3d_raw": "3D keypoints, triangulated", "3d_limbs": "3D keypoints, + limb constraints",
              "3d_final": "3D keypoints, + low-pass (pipeline)"}
    for name, points in tables.items():
        t = budget.add(point_errors(points, truth, list(MV3D23), name))
        budget.stage(labels[name], "MPJPE", t.column("mean_mm")["all"], "mm")
        budget.stage(labels[name], "missing points", t.column("missing_pct")["all"], "%")
    cutoff = cfg.filter_cutoff_hz
    if cutoff:
        ok = np.isfinite(truth).all(axis=(1, 2))
        smoothed = np.full_like(truth, np.nan)
        smoothed[ok] = butter_lowpass(truth[ok], fps, float(cutoff))
        t = budget.add(point_errors(smoothed, truth, list(MV3D23), "3d_truth_lowpassed"))
        budget.stage(f"  (truth low-passed at {float(cutoff):g} Hz alone)", "MPJPE", t.column("mean_mm")["all"], "mm")


def _ik_angles(ctx: Context, names: list[str], points: np.ndarray, times: np.ndarray,
               coordinates: list[str]) -> np.ndarray:
    """IK of ``points`` (F, M, 3) OpenSim frame on the scaled model, as the pipeline's ik stage runs it:
    (F, N) degrees of ``coordinates``, NaN in frames with a missing point."""
    out = np.full((len(times), len(coordinates)), np.nan)
    ok = np.isfinite(points).all(axis=(1, 2))
    with tempfile.TemporaryDirectory(prefix="mv3d_budget_") as tmp:
        trc = Path(tmp) / "markers.trc"
        write_trc(trc, points[ok], names, times[ok], units="m")
        result = solve_ik(ctx.scaled_model, trc, accuracy=ctx.config.kinematics.ik_accuracy,
                          refine=ctx.model_name == "mv3d_body", stabilize=ctx.config.kinematics.stabilize,
                          keypoint_weight=ctx.config.kinematics.keypoint_weight)
    out[ok] = result.degrees()[:, [result.coordinates.index(n) for n in coordinates]]
    return out


def truth_angles(truth: SimTruth, times: np.ndarray, names: list[str]) -> np.ndarray:
    """True coordinates (F, N) in degrees (rotations) at motion times ``times``."""
    mot = read_mot(truth.folder / "coordinates.mot")
    values = np.asarray(mot.values, float)
    if not mot.in_degrees:
        values = np.degrees(values)
    out = np.full((len(times), len(names)), np.nan)
    for j, n in enumerate(names):
        if n in mot.columns:
            out[:, j] = at_times(np.asarray(mot.times, float), values[:, mot.columns.index(n)], times)
    return out


def _angle_stage(budget: Budget, table: Table, label: str) -> None:
    budget.add(table)
    budget.stage(label, "lower-limb RMSE", mean_of(table, "rmse_deg", LOWER_LIMB), "deg")


@dataclass
class MarkerTruth:
    """What the marker and angle tables share: the pipeline's row times (F,) on the motion clock and
    its TRC times (F,); true keypoints (F, 25, 3) and true markers (F, M, 3) in the OpenSim frame;
    ``names``: the M markers that both the truth and the pipeline's TRC have."""

    times: np.ndarray
    trc_times: np.ndarray
    keypoints: np.ndarray
    markers: np.ndarray
    names: list[str]


def marker_truth(ctx: Context, truth: SimTruth, times: np.ndarray, truth_xyz: np.ndarray):
    """(MarkerTruth, the pipeline's post-augmentation TRC)."""
    post = read_trc(ctx.session.post_augmentation_trc(ctx.trial.name))
    mocap = read_trc(truth.folder / "mocap.trc")
    names = [n for n in mocap.marker_names if n in post.marker_names]
    markers = at_times(np.asarray(mocap.times, float), np.asarray(mocap.points, float), times)
    return MarkerTruth(times, np.asarray(post.times, float), ctx.rig.to_opensim(truth_xyz),
                       markers[:, [mocap.marker_names.index(n) for n in names]], names), post


def augment_true_keypoints(ctx: Context, true: MarkerTruth) -> tuple[list[str], np.ndarray] | None:
    """The pipeline's augmenter on the true keypoints: (names, (F, M, 3)) of the markers the truth
    has too; None when the run does not augment."""
    from mv3d.augment.weights import load_augmenter, shipped_augmenter   # loads torch

    weights = ctx.config.augment.weights or shipped_augmenter(ctx.model_name)
    if weights is None or not ctx.config.augment.enabled or not true.names:
        return None
    height, mass = ctx.subject()
    ok = np.isfinite(true.keypoints).all(axis=(1, 2))
    predicted, names = load_augmenter(weights, long_gaps="split").augment(true.keypoints[ok], list(MV3D25),
                                                                           height, mass)
    keep = [n for n in names if n in true.names]
    out = np.full((len(true.times), len(keep), 3), np.nan)
    out[ok] = predicted[:, [names.index(n) for n in keep]]
    return keep, out


def marker_tables(ctx: Context, true: MarkerTruth, post, budget: Budget, floors: bool) -> tuple[list[str], np.ndarray] | None:
    """Marker errors: the augmenter on true keypoints (``floors``) and the pipeline's TRC.
    Returns the augmented true keypoints' markers (for the angle floors) or None."""
    augmented = augment_true_keypoints(ctx, true) if floors else None
    if augmented is not None:
        names, points = augmented
        truth = true.markers[:, [true.names.index(n) for n in names]]
        t = budget.add(point_errors(points, truth, names, "markers_from_true_keypoints"))
        budget.stage("markers, augmenter on true keypoints", "RMSE", t.column("rms_mm")["all"], "mm")
    if true.names:
        pts = np.asarray(post.points, float)[:, [post.marker_names.index(n) for n in true.names]]
        t = budget.add(point_errors(pts, true.markers, true.names, "markers"))
        budget.stage("markers, augmented (pipeline)", "RMSE", t.column("rms_mm")["all"], "mm")
    return augmented


def angle_tables(ctx: Context, truth: SimTruth, true: MarkerTruth, augmented, budget: Budget, floors: bool) -> None:
    """Joint angles against the truth: IK floors (true markers; markers augmented from true
    keypoints) on the pipeline's scaled model, then the pipeline's own .mot."""
    video = read_mot(ctx.session.kinematics_mot(ctx.trial.name))
    names = [n for n in (*LOWER_LIMB, *PELVIS_TRUNK) if n in video.columns]
    target = truth_angles(truth, true.times, names)
    if floors and true.names:
        points = np.concatenate([true.keypoints, true.markers], axis=1)
        deg = _ik_angles(ctx, list(MV3D25) + true.names, points, true.trc_times, names)
        _angle_stage(budget, angle_errors(deg, target, names, "angles_true_markers"),
                     "angles, IK of true markers (scaled model)")
    if floors and augmented is not None:
        aug_names, aug = augmented
        deg = _ik_angles(ctx, list(MV3D25) + aug_names, np.concatenate([true.keypoints, aug], axis=1),
                         true.trc_times, names)
        _angle_stage(budget, angle_errors(deg, target, names, "angles_augmented_true_keypoints"),
                     "angles, IK of markers augmented from true keypoints")
    fps = float(ctx.store.attrs("keypoints2d_synced")["fps"])
    rows = np.clip(np.round(np.asarray(video.times, float) * fps), 0, len(true.times) - 1).astype(int)
    pipeline = np.full((len(true.times), len(names)), np.nan)
    pipeline[rows] = np.asarray(video.values, float)[:, [video.columns.index(n) for n in names]]
    _angle_stage(budget, angle_errors(pipeline, target, names, "angles"), "angles, pipeline")


def marker_and_angle_tables(ctx: Context, truth: SimTruth, times: np.ndarray, truth_xyz: np.ndarray, budget: Budget,
                            floors: bool = True) -> None:
    """Markers (augmenter on true keypoints, pipeline), IK residuals, angles (floors, pipeline)."""
    true, post = marker_truth(ctx, truth, times, truth_xyz)
    augmented = marker_tables(ctx, true, post, budget, floors)
    mot_path, model = ctx.session.kinematics_mot(ctx.trial.name), ctx.scaled_model
    if not (mot_path.is_file() and model.is_file()):
        budget.notes.append("no IK result or scaled model yet: run the scaling and ik stages for the angle tables")
        return
    t = budget.add(ik_residuals(model, mot_path, post))
    budget.stage("IK marker residual (pipeline)", "RMS", t.column("rms_mm")["all"], "mm")
    angle_tables(ctx, truth, true, augmented, budget, floors)


def ik_residuals(model: Path, mot_path: Path, trc) -> Table:
    """Per marker distance (mm) between the IK pose's model markers and the TRC's markers."""
    mot = read_mot(mot_path)
    ok = np.isfinite(np.asarray(mot.values, float)).all(axis=1)     # frames where IK failed are NaN rows
    osim_model = load_model(model)
    coords = mot_to_coordinates(osim_model, list(mot.columns), np.asarray(mot.values)[ok], bool(mot.in_degrees))
    times = np.asarray(mot.times, float)[ok]
    points, names = forward_markers(osim_model, times, coords)
    used = [n for n in names if n in trc.marker_names]
    fitted = points[:, [names.index(n) for n in used]]
    trc_times = np.asarray(trc.times, float)     # IK solves the TRC's own frames: match them by time
    rows = np.clip(np.searchsorted(trc_times, times - 1e-6), 0, len(trc_times) - 1)
    target = np.asarray(trc.points, float)[rows][:, [trc.marker_names.index(n) for n in used]]
    return point_errors(fitted, target, used, "ik_residuals")


def session_budget(session_path: str | Path, trial: str | None = None,
                   config: PipelineConfig | str | Path | dict | None = None, floors: bool = True,
                   write: bool = True) -> tuple[Budget, dict[str, Path]]:
    """The error budget of a simulated session's trial that ``mv3d run`` processed (see the module
    docstring), written (``write``) to ``mv3d/<trial>_budget.json`` and ``<trial>_budget_<table>.csv``.
    config: the run's pipeline config (a PipelineConfig, a YAML path or a mapping; None: defaults).

    Returns the budget and the paths written."""
    session = discover_session(session_path)
    cfg = config if isinstance(config, PipelineConfig) else load_pipeline_config(config)
    return context_budget(Context(session, session.trial(trial), cfg), floors, write)


def context_budget(ctx: Context, floors: bool = True, write: bool = True) -> tuple[Budget, dict[str, Path]]:
    """:func:`session_budget` of the trial and config of a pipeline context."""
    session = ctx.session
    truth = load_truth(session.root)
    if not ctx.has_output("points3d"):
        raise InputError(f"session {session.root}, trial {ctx.trial.name}: no triangulated keypoints yet; run "
                         f"`mv3d run {session.root}` first (at least up to the triangulation)")
    budget = Budget()
    attrs = ctx.store.attrs("keypoints2d")
    cams, source = list(attrs["cameras"]), str(attrs.get("source", "detections"))
    min_conf = ctx.config.triangulation.min_confidence
    t = budget.add(pixel_table(truth, ctx.store.read("keypoints2d"), cams, source, min_conf))
    all_row = t.column("median_px")["all"], t.column("gross_pct")["all"]
    budget.stage(f"2D keypoints ({source})", "median error", all_row[0], "px")
    budget.stage(f"2D keypoints ({source})", f"gross errors > {GROSS_PX:g} px", all_row[1], "%")
    est = dict(zip(list(ctx.store.attrs("sync_offsets")["cameras"]), ctx.store.read("sync_offsets").tolist()))
    ref = cams[0]
    est = {c: v - est.get(ref, 0.0) for c, v in est.items()}
    true_off = {c: truth.offsets[c] - truth.offsets.get(ref, 0.0) for c in cams if c in truth.offsets}
    t = budget.add(offset_errors(est, true_off, float(attrs["fps"])))
    budget.stage("sync", "largest offset error", float(np.nanmax(np.abs(list(t.column("error_ms").values())))), "ms")
    n = ctx.store.read("points3d").shape[0]
    times = row_times(truth, ref, n, source)
    truth_xyz = at_times(truth.times(ref), truth.arrays[f"xyz_{ref}"], times)
    triangulation_tables(ctx, truth_xyz, budget)
    if ctx.has_output("trc_post"):
        marker_and_angle_tables(ctx, truth, times, truth_xyz, budget, floors)
    else:
        budget.notes.append("no augmented markers yet: run the augmentation stage for the marker and angle tables")
    return budget, (budget.write(session.work_dir(), ctx.trial.name) if write else {})


def budget_json(session, trial: str) -> Path:
    """Where :func:`session_budget` writes a trial's budget."""
    return session.work_dir() / f"{trial}_budget.json"
