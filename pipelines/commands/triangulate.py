"""``mv3d triangulate``: 2D keypoints of several cameras + calibration -> TRC and an .h5 of diagnostics."""
from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

log = logging.getLogger(__name__)


def run_triangulate(calib: Path, keypoints: Path, fmt: str, method: str, limb_constraints: bool,
                    filter_spec: str | None, frame: str, out: Path, fps: float | None,
                    threshold_px: float, min_confidence: float, max_gap: int) -> Path:
    """Triangulate and write ``out`` (.trc, MV3D25 in metres) and ``out.with_suffix('.h5')``."""
    from calibration import load_rig
    from mv3d.errors import InputError
    from mv3d.io import read_keypoints, write_trc
    from mv3d.io.store import SessionStore
    from mv3d.skeleton import MV3D25, add_derived
    from mv3d.triangulate import RobustParams, reconstruct
    from mv3d.triangulate.association import associate_people

    if out.suffix.lower() != ".trc":
        raise InputError(f"--out {out}: the output must be a .trc file")
    kp = read_keypoints(keypoints, format=fmt, fps=fps)
    rig = load_rig(calib).select(kp.cameras)
    data = kp.data
    # Every detected person (C, F, P, 23, 3), when the importer provides them: the subject is
    # then chosen per frame by cross-view agreement instead of per-camera tracking.
    candidates = getattr(kp, "candidates", None)
    if candidates is not None:
        data, _ = associate_people(rig, candidates, min_confidence=min_confidence)
    res = reconstruct(rig, data, method=method, limb_constraints=limb_constraints,
                      robust=RobustParams(threshold_px=threshold_px, min_confidence=min_confidence),
                      filter=filter_spec, fps=kp.fps, max_gap=max_gap)
    points = res.points if frame == "calibration" else rig.to_opensim(res.points)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_trc(out, add_derived(points), list(MV3D25), kp.times, units="m", rate=kp.fps,
              frame_numbers=np.asarray(kp.frames))
    h5 = out.with_suffix(".h5")
    if h5.exists():
        h5.unlink()
    store = SessionStore(h5)
    attrs = {"cameras": list(rig.names), "method": method, "frame": frame, "timestamps": kp.times}
    store.write_many({
        "triangulation/points3d": (points, {**attrs, "units": "m", "joints": list(MV3D25[:23])}),
        "triangulation/reprojection_error": (res.errors, {**attrs, "units": "px", "axes": "camera, frame, joint",
                                                          "time_axis": 1}),
        "triangulation/camera_used": (res.used.astype(np.uint8), {**attrs, "axes": "camera, frame, joint",
                                                                   "time_axis": 1}),
        "triangulation/swapped": (res.swapped.astype(np.uint8), {**attrs, "axes": "camera, frame, joint",
                                                                 "time_axis": 1}),
        "triangulation/missing": (res.missing.astype(np.uint8), {**attrs, "axes": "frame, joint"}),
    })
    errs = res.camera_errors()
    log.info("median reprojection error per camera (px): %s", {k: round(v, 2) for k, v in errs.items()})
    return out


def register(cli: click.Group) -> None:
    @cli.command("triangulate")
    @click.option("--calib", required=True, type=click.Path(exists=True, path_type=Path),
                  help="Calibration file (Pose2Sim TOML, OpenCap pickle, Qualisys, H36M, Panoptic).")
    @click.option("--keypoints", required=True, type=click.Path(exists=True, path_type=Path),
                  help="2D keypoints: OpenPose folder of camNN_json folders, mmpose JSONs or an .h5.")
    @click.option("--format", "fmt", type=click.Choice(["openpose", "mmpose", "h5"]), default="openpose",
                  show_default=True)
    @click.option("--method", type=click.Choice(["algebraic", "volumetric"]), default="algebraic",
                  show_default=True)
    @click.option("--limb-constraints", is_flag=True, help="Refine with constant bone lengths.")
    @click.option("--filter", "filter_spec", default=None,
                  help="butterworth:CUTOFF_HZ (e.g. butterworth:6), kalman[:CUTOFF_HZ], weighted_kalman[:CUTOFF_HZ] "
                       "(points weighted by their views' confidences and geometry) or none.")
    @click.option("--frame", type=click.Choice(["calibration", "opensim"]), default="calibration",
                  show_default=True, help="World frame of the TRC (opensim: Y up, via the rig's R_to_opensim).")
    @click.option("--fps", type=float, default=None, help="Frame rate of the videos (JSON files do not store it).")
    @click.option("--threshold-px", type=float, default=15.0, show_default=True,
                  help="Reprojection error above which a view is an outlier.")
    @click.option("--min-confidence", type=float, default=0.3, show_default=True,
                  help="2D detections below this confidence are ignored.")
    @click.option("--max-gap", type=int, default=10, show_default=True,
                  help="Longest gap (frames) interpolated when filtering or refining.")
    @click.option("--out", required=True, type=click.Path(path_type=Path), help="Output .trc (an .h5 goes beside).")
    def triangulate_cmd(calib, keypoints, fmt, method, limb_constraints, filter_spec, frame, fps, threshold_px,
                        min_confidence, max_gap, out):
        """Triangulate 2D keypoints into a TRC of the MV3D25 markers (metres)."""
        path = run_triangulate(calib, keypoints, fmt, method, limb_constraints, filter_spec, frame, out, fps,
                               threshold_px, min_confidence, max_gap)
        click.echo(f"wrote {path} and {path.with_suffix('.h5')}")
