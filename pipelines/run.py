"""Run the whole pipeline on one session trial, and build its HTML report."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.kinematics.compare import LOWER_LIMB
from mv3d.pose2d.estimators import parse_model_spec
from pipelines import report_sections as sections
from pipelines.checks import check_inputs
from pipelines.config import PipelineConfig, load_pipeline_config
from pipelines.context import Context
from pipelines.report import Report, read_csv_rows
from pipelines.report_budget import error_budget
from pipelines.report_coordinates import coordinate_status
from pipelines.runner import Runner
from pipelines.session import Session, Trial, discover_session
from pipelines.stages import build_stages

log = logging.getLogger(__name__)



def check_session(session: Session, trial_name: str | None, config: PipelineConfig) -> Trial:
    """Fail fast, before any heavy work, on what would stop the run later; returns the trial."""
    parse_model_spec(config.keypoints2d.model)
    trial = session.trial(trial_name)
    if session.calibration is None and session.camera_calibrations:
        missing = [cam for cam in trial.cameras if cam not in session.camera_calibrations]
        raise InputError(f"session {session.root}: camera(s) {', '.join(missing)} have no "
                         f"cameraIntrinsicsExtrinsics.pickle in Videos/<camera>/ (calibrated: "
                         f"{', '.join(session.camera_calibrations)}); add the missing calibration, or remove the "
                         f"camera's folder to process the others")
    if session.calibration is None:
        raise InputError(f"session {session.root} has no calibration: add cameraIntrinsicsExtrinsics.pickle per "
                         f"camera (OpenCap layout) or calibration/Calib*.toml (Pose2Sim layout)")
    usable = trial.detections or trial.videos
    if len(usable) < 2:
        raise InputError(f"session {session.root}, trial {trial.name}: {len(usable)} usable camera(s) "
                         f"({', '.join(usable) or 'none'}); triangulation needs at least 2")
    return trial


def run_session(session_path: str | Path, config: str | Path | dict | None = None, trial: str | None = None,
                start: str | None = None, stop: str | None = None, only: list[str] | None = None,
                force: bool = False, progress=None) -> dict:
    """Run (or resume) the pipeline on one trial and write its report; returns key metrics."""
    session = discover_session(session_path)
    cfg = load_pipeline_config(config)
    trial_obj = check_session(session, trial, cfg)
    ctx = Context(session, trial_obj, cfg)
    ctx.subject(estimate=False)  # height and mass are needed by augmentation and scaling: fail now
    check_inputs(ctx)
    runner = Runner(build_stages(), ctx, session.work_dir() / f"{trial_obj.name}.stages.json")
    t0 = time.perf_counter()
    results = runner.run(start=start, stop=stop, only=only, force=force, progress=progress)
    report = build_report(ctx)
    metrics = trial_metrics(ctx)
    metrics.update({"session": str(session.root), "trial": trial_obj.name, "status": "ok",
                    "report": str(report), "seconds": round(time.perf_counter() - t0, 2),
                    "stages_run": ",".join(r.name for r in results if r.status == "ran")})
    return metrics


# ----------------------------------------------------------------------------------- metrics
def trial_metrics(ctx: Context) -> dict:
    """Headline numbers of a finished trial (for the report and batch summaries)."""
    out: dict = {}
    if ctx.has_output("reprojection_errors"):
        err = ctx.store.read("reprojection_errors")
        used = ctx.store.read("views_used").astype(bool)
        e = err[used & np.isfinite(err)]
        out["median_reproj_px"] = round(float(np.median(e)), 3) if e.size else float("nan")
    errors_csv = ctx.session.ik_errors_csv(ctx.trial.name)
    if errors_csv.is_file():
        rows = read_csv_rows(errors_csv)
        rms = np.array([float(r["rms_error_m"]) for r in rows if r.get("rms_error_m")])
        out["ik_rms_marker_error_mm"] = round(1000 * float(np.nanmean(rms)), 2) if rms.size else float("nan")
    comparison = ctx.session.comparison_csv(ctx.trial.name)
    if comparison.is_file():
        rmse = {r["coordinate"]: float(r["rmse"]) for r in read_csv_rows(comparison)}
        lower = [rmse[c] for c in LOWER_LIMB if c in rmse]
        out["lower_limb_rmse_deg"] = round(float(np.mean(lower)), 2) if lower else float("nan")
    return out


# ------------------------------------------------------------------------------------ report
def build_report(ctx: Context) -> Path:
    """Write ``mv3d/report/<trial>.html`` from what the stages left behind."""
    session, trial = ctx.session, ctx.trial
    try:
        height, mass = ctx.subject()
        subject = f"subject {height:.2f} m, {mass:.1f} kg"
    except InputError:
        subject = "subject's height not known yet"
    rep = Report(f"mv3d report — {trial.name}",
                 f"session {session.root} ({session.layout} layout) · {subject} · "
                 f"generated {time.strftime('%Y-%m-%d %H:%M')}")
    for stage, messages in ctx.warnings().items():
        for m in messages:
            rep.warn(f"[{stage}] {m}")
    for builder in (sections.cameras, sections.sync, sections.overlays, sections.reprojection, sections.bones,
                    sections.skeleton, sections.ik_errors, sections.joint_angles, sections.comparison,
                    coordinate_status, error_budget):
        try:
            builder(ctx, rep)
        except Exception as exc:  # a broken figure must not hide the rest of the report
            log.exception("report section %s failed", builder.__name__)
            rep.warn(f"report section '{builder.__name__}' could not be drawn: {type(exc).__name__}: {exc}")
    if ctx.mocap_reference() is None:
        rep.add("Comparison with mocap", "<p class='note'>This trial has no mocap; nothing to compare.</p>")
    return rep.write(session.report_path(trial.name))
