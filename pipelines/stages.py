"""The stages of a session run: thin wrappers that read inputs, call the library, write outputs.

Order: calibration -> keypoints2d -> sync -> triangulation -> augmentation -> scaling -> ik
-> compare -> visuals; ``pipelines.run.build_report`` then writes the HTML report. Arrays go to ``mv3d/<trial>.h5`` (``SessionStore``); files use
OpenCap's names (``pipelines.session.Session``).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from mv3d.io.store import SessionStore
from mv3d.skeleton import MV3D23, MV3D25, add_derived
from pipelines.session import Session, Trial
from pipelines.stage import Stage

log = logging.getLogger(__name__)


#: Segments for the "auto" height: legs and trunk sides (real arm keypoints of a balancing or
#: gesturing subject are noisier than the trunk).
HEIGHT_FROM_TRUNK_AND_LEGS = (("l_hip", "l_knee"), ("r_hip", "r_knee"), ("l_knee", "l_ankle"), ("r_knee", "r_ankle"),
                              ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"))


@dataclass
class Context:
    """What every stage sees: the session, the trial, the config (nested dict) and the trial's store."""

    session: Session
    trial: Trial
    config: dict
    stage: str = ""

    @property
    def warnings_path(self) -> Path:
        return self.session.work_dir() / f"{self.trial.name}_warnings.json"

    def warnings(self) -> dict[str, list[str]]:
        """Warnings of the last run of each stage, by stage name."""
        path = self.warnings_path
        return json.loads(path.read_text()) if path.is_file() else {}

    def begin_stage(self, name: str) -> None:
        """Called by the runner before a stage runs: forget that stage's earlier warnings."""
        self.stage = name
        self._save_warnings({k: v for k, v in self.warnings().items() if k != name})

    def warn(self, message: str) -> None:
        """A warning for the log and the top of the report, kept with the stage that raised it."""
        log.warning(message)
        found = self.warnings()
        found.setdefault(self.stage or "pipeline", []).append(message)
        self._save_warnings(found)

    def _save_warnings(self, found: dict) -> None:
        self.session.work_dir().mkdir(parents=True, exist_ok=True)
        with atomic_write(self.warnings_path) as fh:
            json.dump(found, fh, indent=1)

    @cached_property
    def store(self) -> SessionStore:
        self.session.work_dir().mkdir(parents=True, exist_ok=True)
        return SessionStore(self.session.store_path(self.trial.name))

    @property
    def calibration_copy(self) -> Path:
        return self.session.work_dir() / "calibration.toml"

    @cached_property
    def rig(self):
        from calibration import load_rig

        return load_rig(self.calibration_copy)

    def section(self, name: str) -> dict:
        return self.config.get(name, {})

    def output_files(self) -> dict[str, Path]:
        """Stage outputs that are files, by output name."""
        s, t = self.session, self.trial.name
        return {"calibration_toml": self.calibration_copy, "trc_pre": s.pre_augmentation_trc(t),
                "trc_post": s.post_augmentation_trc(t), "model_scaled": scaled_model_path(self),
                "mot": s.kinematics_mot(t)}

    def has_output(self, name: str) -> bool:
        files = self.output_files()
        if name in files:
            return files[name].is_file()
        return self.store.path.is_file() and name in self.store

    def subject(self, estimate: bool = True) -> tuple[float | str, float]:
        """Height (m) and mass (kg): config first, then the session's metadata.

        A height of "auto" (Pose2Sim's convention) is estimated from the triangulated
        keypoints once they exist (``estimate``), else returned as "auto".
        """
        kin = self.section("kinematics")
        height = kin.get("height_m") or self.session.height
        mass = kin.get("mass_kg") or self.session.mass
        if height == "auto" and estimate:
            from mv3d.triangulate.limbs import estimate_height

            if not self.has_output("points3d"):
                raise InputError(f"session {self.session.root}: the subject's height is 'auto' and is estimated "
                                 f"from the triangulated keypoints, which do not exist yet; run the triangulation")
            height = round(estimate_height(self.store.read("points3d"), segments=HEIGHT_FROM_TRUNK_AND_LEGS), 3)
        if height is None or mass is None:
            missing = " and ".join(n for n, v in (("height_m", height), ("mass_kg", mass)) if v is None)
            raise InputError(f"session {self.session.root}: the subject's {missing} is unknown; add it to "
                             f"sessionMetadata.yaml (height_m: 1.75, mass_kg: 70) or to the config's kinematics section")
        return (height if height == "auto" else float(height)), float(mass)


# ------------------------------------------------------------------------------------ stages
def calibration_source(ctx: Context) -> str:
    """Where this run takes the cameras' poses from: "file" (the session's calibration) or
    "board" (its board images, with the files' intrinsics), after config ``calibration.source``."""
    session = ctx.session
    if session.calibration is None:
        raise InputError(f"session {session.root} has no calibration: add cameraIntrinsicsExtrinsics.pickle "
                         f"(or intrinsics-only cameraIntrinsics.pickle with CalibrationImages/) per camera "
                         f"(OpenCap) or calibration/Calib*.toml (Pose2Sim)")
    source = ctx.section("calibration").get("source", "auto")
    if source == "auto":
        if session.extrinsics:
            return "file"
        if session.calibration_images:
            return "board"
        raise InputError(f"session {session.root}: the calibration files under {session.calibration} hold the "
                         f"cameras' intrinsics only, and there is no CalibrationImages/calib_img<camera>.jpg to "
                         f"compute their poses from; add the board images or calibrated pickles")
    if source == "file" and not session.extrinsics:
        raise InputError(f"session {session.root}: the calibration files under {session.calibration} hold the "
                         f"cameras' intrinsics only (no rotation/translation); set calibration.source: board to "
                         f"compute the poses from CalibrationImages/, or give calibrated files")
    return source


def run_calibration(ctx: Context) -> None:
    """The session's calibration (any supported format), or its cameras' poses computed from the
    board images (``calibration.source``); a TOML copy is kept beside the outputs."""
    from calibration import load_rig, save_rig

    if calibration_source(ctx) == "board":
        from pipelines.board_calibration import board_calibration

        rig, where = board_calibration(ctx), ctx.session.root / "CalibrationImages"
    else:
        rig, where = load_rig(ctx.session.calibration), ctx.session.calibration
    try:
        rig.select(ctx.trial.cameras, in_order=True)  # e.g. Pose2Sim's cam01 is the calibration's cam_01
    except InputError as exc:
        raise InputError(f"session {ctx.session.root}, trial {ctx.trial.name}, calibration {where}: {exc}") from exc
    ctx.session.work_dir().mkdir(parents=True, exist_ok=True)
    save_rig(rig, ctx.calibration_copy, format="toml")
    ctx.__dict__.pop("rig", None)


def calibration_inputs(ctx: Context) -> list[Path]:
    """Files the calibration stage reads: the calibration, and for a board calibration the images,
    the metadata and the trial's detections (they resolve ambiguous poses)."""
    session = ctx.session
    cal = session.calibration
    if cal is None:
        return []
    files = sorted(cal.rglob("*.pickle")) if cal.is_dir() else [cal]
    try:
        source = calibration_source(ctx)
    except InputError:  # the stage itself reports it
        return files
    if source == "board":
        files += sorted(session.calibration_images.values()) + [session.root / "sessionMetadata.yaml"]
        files += sorted(ctx.trial.detections.values())
    return files


def read_detections(folders: list[Path], fmt: str, fps: float) -> np.ndarray:
    """Imported 2D detections of C cameras as (C, F, 23, 3), one row per true frame number.

    Rows count from the first frame of any camera, so a dropped frame is a NaN row (confidence
    0), never a shift of the frames after it.
    """
    from mv3d.io import read_keypoints

    per_cam = []
    for folder in folders:
        kp = read_keypoints(folder, format=fmt, fps=fps)
        per_cam.append((kp.frames, kp.data[0]))
    first = min(int(frames.min()) for frames, _ in per_cam)
    per_cam = [(frames - first, k) for frames, k in per_cam]
    data = np.full((len(per_cam), max(int(f.max()) + 1 for f, _ in per_cam), len(MV3D23), 3), np.nan)
    data[..., 2] = 0.0
    for c, (frames, k) in enumerate(per_cam):
        data[c, frames] = k
    return data


def video_fps(trial: Trial) -> float | None:
    from mv3d.video.frames import probe

    for video in trial.videos.values():
        if video.is_file():
            return float(probe(video).fps)
    return None


def run_keypoints2d(ctx: Context) -> None:
    """2D keypoints (C, F, 23, 3) per camera in calibration order: imported detections (or the 2D network)."""
    cfg = ctx.section("keypoints")
    trial = ctx.trial
    fps = cfg.get("fps") or video_fps(trial)
    if fps is None:
        raise InputError(f"trial {trial.name}: no video to read the frame rate from; set keypoints.fps in the config")
    source = cfg.get("source", "auto")
    cams = trial.cameras
    names = ctx.rig.select(cams, in_order=True).names  # the calibration's names for the trial's cameras
    if source == "network" or (source == "auto" and not trial.detections):
        ctx.store.write("keypoints2d", _network_keypoints(ctx, cams), units="px", joint_names=list(MV3D23),
                        cameras=list(names), fps=float(fps), source="network")
        return
    for cam in cams:
        if cam not in trial.detections:
            raise InputError(f"trial {trial.name}: camera {cam} has a video but no detections")
    data = read_detections([trial.detections[cam] for cam in cams], cfg.get("format", "openpose"), fps)
    ctx.store.write("keypoints2d", data, units="px", joint_names=list(MV3D23), cameras=list(names), fps=float(fps),
                    source="detections")


#: 2D network weights shipped for the synthetic demo (trained on simulator renders only).
DEMO_POSE2D_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "weights" / "pose2d_demo_synthetic.pt"


def _network_keypoints(ctx: Context, cams: list[str]) -> np.ndarray:
    """Run the 2D network on every camera's video: (C, F, 23, 3) at the videos' frame indices."""
    from tqdm import tqdm

    from mv3d.pose2d.checkpoints import load_model
    from mv3d.pose2d.topdown import TopDownEstimator, estimate_video, video_batches, video_info

    weights = ctx.section("keypoints").get("weights") or DEMO_POSE2D_WEIGHTS
    if not Path(weights).is_file():
        raise InputError(f"trial {ctx.trial.name}: no 2D detections were imported and the 2D network weights "
                         f"{weights} do not exist; set keypoints.weights to a checkpoint (Simple Baselines, "
                         f"HRNet, mmpose or mv3d) or put OpenPose/mmpose JSON in the session")
    model, config, _ = load_model(weights)
    estimator = TopDownEstimator(model, input_size=tuple(config.get("input_size", (192, 256))),
                                 flip=bool(config.get("flip_test", False)), device="cpu")
    per_cam = []
    for cam in cams:
        video = ctx.trial.videos.get(cam)
        if video is None:
            raise InputError(f"trial {ctx.trial.name}: camera {cam} has no video for the 2D network")
        n_frames, _ = video_info(video)
        batches = tqdm(video_batches(video, 8), desc=f"2D {cam}", unit="batch", disable=None,
                       total=-(-n_frames // 8) if n_frames else None)
        per_cam.append(estimate_video(estimator, batches, mode="track", where=str(video)))
    n = max(int(idx.max()) + 1 for _, idx in per_cam)
    data = np.full((len(cams), n, len(MV3D23), 3), np.nan)
    data[..., 2] = 0.0
    for c, (kp, idx) in enumerate(per_cam):
        data[c, idx] = kp
    return data


def run_sync(ctx: Context) -> None:
    """Camera offsets from keypoint motion; all cameras resampled onto the first camera's clock."""
    from mv3d.video.flow import retime_cameras
    from mv3d.video.sync import SyncParams, synchronize

    kp = ctx.store.read("keypoints2d")
    attrs = ctx.store.attrs("keypoints2d")
    cams, fps = list(attrs["cameras"]), float(attrs["fps"])
    rig = ctx.rig.subset(cams)
    cfg = ctx.section("sync")
    n = kp.shape[1]
    times = np.arange(n) / fps
    # undo left/right label swaps on each camera's own frames, before resampling blends them
    from mv3d.triangulate.swaps import apply_swaps, find_swaps

    kp = apply_swaps(kp, find_swaps(kp))
    if cfg.get("enabled", True):
        ref = cams.index(cfg["reference_camera"]) if cfg.get("reference_camera") else 0
        result = synchronize(kp, fps, rig=rig, cameras=cams, reference=ref,
                             params=SyncParams(max_offset=float(cfg.get("max_offset_s", 1.0))))
        offsets, rates, conf = result.offsets, result.rates, result.confidence
        for w in result.warnings:
            ctx.warn(f"sync: {w}")
        synced = retime_cameras(kp, offsets, rates, times)
    else:
        offsets, rates, conf = np.zeros(len(cams)), np.full(len(cams), fps), np.ones(len(cams))
        synced = kp
    ctx.store.write_many({
        "sync_offsets": (np.asarray(offsets, float), {"units": "s", "cameras": cams}),
        "sync_rates": (np.asarray(rates, float), {"units": "1/s", "cameras": cams}),
        "sync_confidence": (np.asarray(conf, float), {"cameras": cams}),
        "keypoints2d_synced": (synced, {"units": "px", "joint_names": list(MV3D23), "cameras": cams,
                                        "timestamps": times, "time_axis": 1, "fps": fps}),
    })


def run_triangulation(ctx: Context) -> None:
    """3D keypoints (F, 23, 3) with robust view selection, limb constraints and filtering; pre-augmentation TRC."""
    from mv3d.io import write_trc
    from mv3d.triangulate import reconstruct

    kp = ctx.store.read("keypoints2d_synced")
    attrs = ctx.store.attrs("keypoints2d_synced")
    cams, fps = list(attrs["cameras"]), float(attrs["fps"])
    times = ctx.store.timestamps("keypoints2d_synced")
    cfg = ctx.section("triangulation")
    kp = kp.copy()
    low = kp[..., 2] < float(cfg.get("min_confidence", 0.3))
    kp[low] = np.nan
    kp[..., 2][low] = 0.0
    rig = ctx.rig.subset(cams)
    cutoff = cfg.get("filter_cutoff_hz")
    rec = reconstruct(rig, kp, method=cfg.get("method", "algebraic"),
                      limb_constraints=bool(cfg.get("limb_constraints", True)),
                      filter=f"butterworth:{cutoff}" if cutoff else None, fps=fps,
                      max_gap=int(cfg.get("max_gap", 10)))
    points = rec.points
    valid = np.isfinite(points).all(-1).any(-1)
    if not valid.any():
        raise InputError(f"trial {ctx.trial.name}: no frame could be triangulated; check that the cameras see the "
                         f"subject and that the calibration matches the videos")
    ctx.store.write_many({
        "points3d": (points, {"units": "m", "joint_names": list(MV3D23), "timestamps": times,
                              "frame": "calibration"}),
        "reprojection_errors": (rec.errors, {"units": "px", "cameras": cams, "joint_names": list(MV3D23)}),
        "views_used": (rec.used.astype(np.uint8), {"cameras": cams, "joint_names": list(MV3D23)}),
    })
    out = ctx.session.pre_augmentation_trc(ctx.trial.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_trc(out, ctx.rig.to_opensim(add_derived(points)), list(MV3D25), times, units="m")


#: The augmenter trained for each model's anatomical markers (predicted markers must sit where
#: the model's markers are: an augmenter trained for another model's placements biases IK).
AUGMENTER_FOR_MODEL = {"mv3d_body": "augmenter_mv3d_body.pt", "LaiUhlrich2022": "augmenter_laiuhlrich2022.pt"}


def model_name(ctx: Context) -> str:
    """Name of the configured OpenSim model: ``mv3d_body`` for the built-in one, else the file's stem."""
    model = ctx.section("kinematics").get("model", "builtin")
    return "mv3d_body" if model == "builtin" else Path(model).stem


def default_augmenter(ctx: Context) -> Path | None:
    """The shipped augmenter weights matching the configured model, if any."""
    from mv3d.augment.weights import DEFAULT_WEIGHTS

    name = model_name(ctx)
    for key, file in AUGMENTER_FOR_MODEL.items():
        if name.startswith(key):
            return DEFAULT_WEIGHTS.parent / file
    return None


def run_augmentation(ctx: Context) -> None:
    """Anatomical markers from the keypoints (LSTM); the post-augmentation TRC holds keypoints + markers."""
    from mv3d.io import read_trc, write_trc

    pre = ctx.session.pre_augmentation_trc(ctx.trial.name)
    post = ctx.session.post_augmentation_trc(ctx.trial.name)
    post.parent.mkdir(parents=True, exist_ok=True)
    cfg = ctx.section("augment")
    weights = cfg.get("weights") or default_augmenter(ctx)
    if not cfg.get("enabled", True) or weights is None or not Path(str(weights).split(":", 1)[-1]).exists():
        if cfg.get("enabled", True):
            ctx.warn(f"marker augmentation skipped: no augmenter trained for the model "
                     f"'{ctx.section('kinematics').get('model', 'builtin')}' ships with mv3d "
                     f"({Path(str(weights)).name if weights else 'none known'} is absent) and augment.weights is "
                     f"not set; scaling and IK use the video keypoints")
        shutil.copyfile(pre, post)
        return
    from mv3d.augment.weights import load_augmenter

    trc = read_trc(pre)
    height, mass = ctx.subject()
    augmenter = load_augmenter(weights, long_gaps="split")
    markers, names = augmenter.augment(trc.points, trc.marker_names, height, mass, source=str(pre))
    write_trc(post, np.concatenate([trc.points, markers], axis=1), list(trc.marker_names) + list(names),
              trc.times, units="m")


def _generic_model(ctx: Context) -> Path:
    """The generic model for scaling (written for the subject when built-in)."""
    from mv3d.kinematics.bodymodel import write_model

    model = ctx.section("kinematics").get("model", "builtin")
    if model != "builtin":
        return Path(model)
    height, mass = ctx.subject()
    generic = ctx.session.work_dir() / "generic_model"
    generic.mkdir(parents=True, exist_ok=True)
    return write_model(generic, height, mass)


def run_scaling(ctx: Context) -> None:
    """Scale the model to the subject from the stillest second of the trial (or a static trial)."""
    from mv3d.kinematics.scale import scale_model

    height, mass = ctx.subject()
    if ctx.subject(estimate=False)[0] == "auto":
        ctx.warn(f"the subject's height was not given; estimated {height:.2f} m from the triangulated keypoints "
                 f"(thigh, shank and trunk lengths by Winter's proportions)")
    model, name = _generic_model(ctx), model_name(ctx)
    out = ctx.session.model_dir()
    out.mkdir(parents=True, exist_ok=True)
    trc = ctx.session.post_augmentation_trc(ctx.trial.name)
    measurements = None
    if name == "mv3d_body":
        from mv3d.io import read_trc
        from mv3d.kinematics.setups import Measurement, builtin_measurements

        if any(n.endswith("_study") for n in read_trc(trc).marker_names):
            # as OpenCap: scale on the anatomical markers when the augmenter predicted them (the
            # raw video keypoints of the feet and hands are too noisy to agree with them)
            measurements = [Measurement(m.name, [p for p in m.pairs if all(q.endswith("_study") for q in p)],
                                        m.bodies, m.axes) for m in builtin_measurements()]
    scale_model(model, trc, mass, out, height=height, name=name, measurements=measurements)


def scaled_model_path(ctx: Context) -> Path:
    return ctx.session.model_dir() / f"{model_name(ctx)}_scaled.osim"


def run_ik(ctx: Context) -> None:
    """Inverse kinematics of the trial on the scaled model: .mot and per-frame marker errors."""
    from mv3d.kinematics.ik import run_ik as ik

    out = ctx.session.kinematics_mot(ctx.trial.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    errors_csv = ctx.session.ik_errors_csv(ctx.trial.name)
    ik(scaled_model_path(ctx), ctx.session.post_augmentation_trc(ctx.trial.name), out, errors_csv=errors_csv,
       accuracy=float(ctx.section("kinematics").get("ik_accuracy", 1e-5)), refine=model_name(ctx) == "mv3d_body")


def run_visuals(ctx: Context) -> None:
    """Per-camera overlay videos (detections + re-projected 3D points) and a 3D skeleton mp4."""
    from mv3d.timeseries import resample
    from pipelines import visuals

    cfg = ctx.section("visuals")
    out = ctx.session.work_dir() / "visuals"
    out.mkdir(parents=True, exist_ok=True)
    points = ctx.store.read("points3d")
    times = ctx.store.timestamps("points3d")
    if cfg.get("skeleton_video", True):
        fps = 1.0 / float(np.median(np.diff(times)))
        visuals.skeleton_animation(ctx.rig.to_opensim(add_derived(points)), out / f"{ctx.trial.name}_skeleton.mp4",
                                   fps=fps, up_axis="y", times=times)
    if not cfg.get("overlay_videos", True):
        return
    kp = ctx.store.read("keypoints2d")
    cams = list(ctx.store.attrs("keypoints2d")["cameras"])
    offsets, rates = ctx.store.read("sync_offsets"), ctx.store.read("sync_rates")
    rig = ctx.rig.subset(cams)
    for c, cam in enumerate(ctx.trial.cameras):
        video = ctx.trial.videos.get(cam)
        if video is None or not video.is_file():
            continue
        cam_times = offsets[c] + np.arange(kp.shape[1]) / rates[c]   # this camera's frames on the common clock
        reproj = rig.project(resample(times, points, cam_times))[c]
        visuals.write_overlay_video(video, kp[c], reproj, out / f"{ctx.trial.name}_{cam}_overlay.mp4",
                                    scale=float(cfg.get("overlay_scale", 0.5)))


def mocap_reference(ctx: Context) -> Path | None:
    """The trial's mocap .mot, or the simulator's true coordinates for a simulated session."""
    if ctx.trial.mocap_mot is not None:
        return ctx.trial.mocap_mot
    truth = ctx.session.root / "truth" / "coordinates.mot"
    return truth if truth.is_file() else None


def run_compare(ctx: Context) -> None:
    """Joint angles against mocap (or simulation truth): aligned metrics CSV and figures."""
    from mv3d.kinematics.compare import compare_mot, write_comparison
    from mv3d.kinematics.plots import plot_comparison

    reference = mocap_reference(ctx)
    if reference is None:
        log.info("trial %s has no mocap: comparison skipped", ctx.trial.name)
        return
    result = compare_mot(ctx.session.kinematics_mot(ctx.trial.name), reference, max_lag_s=0.5)
    out_dir = ctx.session.work_dir() / f"{ctx.trial.name}_comparison"
    paths = write_comparison(result, out_dir)
    plot_comparison(result, out_dir / "figures")
    shutil.copyfile(paths["comparison"], ctx.session.comparison_csv(ctx.trial.name))


def build_stages() -> list[Stage]:
    """The pipeline's stages in order (see the module docstring)."""
    def detection_files(ctx: Context) -> list[Path]:
        return sorted(ctx.trial.detections.values()) + sorted(ctx.trial.videos.values())

    def metadata(ctx: Context) -> list[Path]:
        return [ctx.session.root / "sessionMetadata.yaml"]

    def reference(ctx: Context) -> list[Path]:
        ref = mocap_reference(ctx)
        return [ref] if ref else []

    return [
        Stage("calibration", run_calibration, outputs=("calibration_toml",), version=2,
              config_keys=("calibration", "keypoints.format", "keypoints.fps"), external_inputs=calibration_inputs,
              description="read the calibration, or compute the cameras' poses from the board images"),
        Stage("keypoints2d", run_keypoints2d, inputs=("calibration_toml",), outputs=("keypoints2d",),
              config_keys=("keypoints",), external_inputs=detection_files, description="2D keypoints per camera"),
        Stage("sync", run_sync, inputs=("keypoints2d",), outputs=("keypoints2d_synced", "sync_offsets"),
              config_keys=("sync",), description="camera time offsets"),
        Stage("triangulation", run_triangulation, inputs=("keypoints2d_synced",), outputs=("points3d", "trc_pre"),
              config_keys=("triangulation",), description="3D keypoints"),
        Stage("augmentation", run_augmentation, inputs=("trc_pre",), outputs=("trc_post",),
              config_keys=("augment", "kinematics"), external_inputs=metadata, description="anatomical markers"),
        Stage("scaling", run_scaling, inputs=("trc_post",), outputs=("model_scaled",), config_keys=("kinematics",),
              external_inputs=metadata, description="scaled OpenSim model"),
        Stage("ik", run_ik, inputs=("trc_post", "model_scaled"), outputs=("mot",), config_keys=("kinematics",),
              description="inverse kinematics"),
        Stage("compare", run_compare, inputs=("mot",), external_inputs=reference,
              description="comparison with mocap"),
        Stage("visuals", run_visuals, inputs=("points3d", "sync_offsets"), config_keys=("visuals",),
              description="overlay videos and 3D skeleton video"),
    ]
