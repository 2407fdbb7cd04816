"""Stage ``keypoints2d``: 2D keypoints (C, F, 23, 3) per camera in calibration order, from the
session's imported detections or a 2D model run on its videos (``keypoints2d.source``, ``.model``).

With ``triangulation.method: volumetric`` the model's heatmaps (when it has them) are kept beside the
store (``Session.heatmaps_path``, ``mv3d.io.heatmaps``) for the triangulation stage."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.io.heatmaps import write_heatmaps
from mv3d.pose2d import estimate_keypoints2d, resolve_model
from mv3d.pose2d.estimators import DEFAULT_MODEL, DEMO_MODEL, parse_model_spec
from mv3d.skeleton import MV3D23
from pipelines.context import Context
from pipelines.stage import Stage


def uses_network(ctx: Context) -> bool:
    """Whether the keypoints come from the 2D model (else from imported detections)."""
    source = ctx.config.keypoints2d.source
    return source == "network" or (source == "auto" and not ctx.trial.detections)


def camera_rates(ctx: Context, cams: list[str]) -> np.ndarray:
    """Each camera's frame rate (C,): ``keypoints2d.fps`` when set, else its video's, else the
    session's stated rate (``fps`` in its metadata); InputError naming the cameras without one."""
    if ctx.config.keypoints2d.fps:
        return np.full(len(cams), float(ctx.config.keypoints2d.fps))
    videos, stated = ctx.trial.frame_rates(), ctx.session.fps
    missing = [cam for cam in cams if cam not in videos and stated is None]
    if missing:
        raise InputError(f"trial {ctx.trial.name}: camera(s) {', '.join(missing)} have no video to read the frame "
                         f"rate from; set keypoints2d.fps in the config (or fps in sessionMetadata.yaml)")
    return np.array([videos.get(cam, stated) for cam in cams], dtype=float)


def run_keypoints2d(ctx: Context) -> None:
    cfg, trial = ctx.config.keypoints2d, ctx.trial
    cams = trial.cameras
    rates = camera_rates(ctx, cams)
    rig = ctx.rig.select(cams, in_order=True)
    names = rig.names  # the calibration's names for the trial's cameras
    ctx.session.heatmaps_path(trial.name).unlink(missing_ok=True)  # never leave another run's heatmaps
    attrs: dict = {"source": "detections"}
    if uses_network(ctx):
        data, attrs = network_keypoints(ctx, cams, list(names))
    else:
        data = trial.read_detections(cams, cfg.format, float(rates.max()))
    check_image_bounds(data, rig, names)
    ctx.store.write("keypoints2d", data, units="px", joint_names=list(MV3D23), cameras=list(names),
                    fps=float(rates.max()), camera_fps=rates, **attrs)


def check_image_bounds(data: np.ndarray, rig, names: list[str], tolerance: float = 0.05) -> None:
    """InputError naming the camera when over 2 % of its confident keypoints (C, F, J, 3) lie
    outside its calibrated image (by more than ``tolerance`` of the size): detections of another
    resolution, or cameras in another order than the calibration's."""
    for c, (cam, name) in enumerate(zip(rig, names)):
        kp = data[c]
        ok = np.nan_to_num(kp[..., 2]) > 0.3
        if ok.sum() < 20:
            continue
        w, h = cam.size
        x, y = kp[..., 0][ok], kp[..., 1][ok]
        outside = (x < -tolerance * w) | (x > (1 + tolerance) * w) | (y < -tolerance * h) | (y > (1 + tolerance) * h)
        if outside.mean() > 0.02:
            raise InputError(f"camera {name}: {100 * outside.mean():.0f} % of its 2D keypoints lie outside its "
                             f"calibrated image of {w}x{h} px (they reach x {np.max(x):.0f}, y {np.max(y):.0f}); "
                             f"the detections come from a video of another size, or the cameras are in another "
                             f"order than the calibration's")


def network_keypoints(ctx: Context, cams: list[str], names: list[str]) -> tuple[np.ndarray, dict]:
    """The configured 2D model run on every camera's video: (C, F, 23, 3) at the videos' frame indices, and the
    store attributes saying which model made them and which joints it derived."""
    missing = [cam for cam in cams if cam not in ctx.trial.videos]
    if missing:
        raise InputError(f"trial {ctx.trial.name}: camera(s) {', '.join(missing)} have no video for the 2D model")
    spec = ctx.config.keypoints2d.model
    if parse_model_spec(spec)[0] == DEMO_MODEL and not ctx.session.simulated:
        ctx.warn(f"the 2D model {DEMO_MODEL} was trained on simulator renders only and does not see real people; "
                 f"this session was not made by mv3d simulate: set keypoints2d.model to {DEFAULT_MODEL} (the "
                 f"default) or import detections")
    estimator = resolve_model(spec)
    videos = {cam: ctx.trial.videos[cam] for cam in cams}
    if ctx.config.triangulation.method == "volumetric":
        calibration_name = dict(zip(cams, names))
        with write_heatmaps(ctx.session.heatmaps_path(ctx.trial.name), estimator.name) as out:
            kp = estimate_keypoints2d(estimator, videos, heatmaps=lambda cam, r: out.add(
                calibration_name[cam], r.frames, r.heatmaps, r.heatmap_to_image))
    else:
        kp = estimate_keypoints2d(estimator, videos)
    attrs = {"source": "network", "model": spec, "model_name": estimator.name}
    if estimator.derived:
        attrs["derived_joints"] = sorted(estimator.derived)
        attrs["derivation"] = [estimator.derived[j] for j in attrs["derived_joints"]]
    return kp.data, attrs


def detection_files(ctx: Context) -> list[Path]:
    """What the stage reads: the detections, the videos and a 2D model checkpoint given by path."""
    _, _, argument = ctx.config.keypoints2d.model.partition(":")
    model = [Path(argument)] if argument and Path(argument).is_file() else []
    return sorted(ctx.trial.detections.values()) + sorted(ctx.trial.videos.values()) + model


STAGE = Stage("keypoints2d", run_keypoints2d, inputs=("calibration_toml",), outputs=("keypoints2d",),
              config_keys=("keypoints2d", "triangulation.method"), external_inputs=detection_files, version=2,
              description="2D keypoints per camera")
