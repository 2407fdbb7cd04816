"""The pipeline's config: one section per stage group, each a dataclass whose defaults are the only ones.

Stages read attributes (``ctx.config.triangulation.min_confidence``); a stage's fingerprint
hashes the values of the sections it declares (``Stage.config_keys``). ``configs/default.yaml``
is generated from these classes (``python -m pipelines.config > configs/default.yaml``; a test
fails when it differs), and a session's ``--config`` YAML overrides any subset of it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from mv3d.config import load_config, option, render_yaml, section
from mv3d.subject import check_subject_value

#: The 2D model spec: a registered name (``blazepose_heavy``) or ``family:argument`` (``hrnet:ckpt.pth``).
MODEL_SPEC = re.compile(r"[a-z][a-z0-9_]*(:.+)?")


@dataclass
class CalibrationConfig:
    """Where the cameras' intrinsics and poses come from."""

    source: Literal["auto", "file", "board"] = option(
        "auto", "auto | file | board (auto: the session's calibration files when they hold the cameras' poses, "
                "else the poses from its CalibrationImages with the files' intrinsics)")
    keypoint_frames: int = option(30, "frames of the trial's 2D detections used to resolve ambiguous back-wall "
                                      "board poses")
    still_window_s: float = option(0.5, "those frames are where the subject moves least within +- this window (s): "
                                        "the cameras are not synchronised yet when the calibration runs")

    def __post_init__(self) -> None:
        if self.keypoint_frames < 1 or self.still_window_s < 0:
            raise ValueError(f"calibration.keypoint_frames must be >= 1 and still_window_s >= 0, got "
                             f"{self.keypoint_frames} and {self.still_window_s}")


@dataclass
class Keypoints2DConfig:
    """Where the 2D keypoints come from (the ``keypoints2d`` stage)."""

    source: Literal["auto", "detections", "network"] = option(
        "auto", "auto | detections | network (auto: imported detections when the session has them)")
    format: Literal["openpose", "mmpose"] = option("openpose", "openpose | mmpose: format of imported detections")
    fps: float | None = option(None, "frame rate of detections without video; null: read from the videos")
    model: str = option("blazepose_heavy", "2D model for source network: blazepose_heavy (BlazePose GHUM, real "
                                           "people), blazepose_full (faster, less accurate), demo_synthetic "
                                           "(trained on simulator renders only) or hrnet:CHECKPOINT (mv3d, "
                                           "Simple Baselines, HRNet or mmpose weights)")

    def __post_init__(self) -> None:
        if not MODEL_SPEC.fullmatch(self.model):
            raise ValueError(f"keypoints2d.model {self.model!r} is not a model spec: use a name such as "
                             f"blazepose_heavy or family:argument such as hrnet:weights.pth")


@dataclass
class TriangulationConfig:
    """3D keypoints from the cameras' 2D keypoints."""

    method: Literal["algebraic", "volumetric"] = option("algebraic", "algebraic | volumetric")
    limb_constraints: bool = option(True, "constrain bone lengths to the subject's estimated lengths")
    min_confidence: float = option(0.3, "2D detections below this confidence are ignored")
    # weighted_kalman (bench_unseen_motions.py, opencap2, detections, 6 Hz): 3D MPJPE about 1 mm lower and
    # lower-limb RMSE 0.05-0.14 deg lower on gait, squat, jump, run_slow (and held-out cutting, stairs), but
    # mixed on run/run_fast (knee ROM, left ankle): not the default; occlusions last 10-30 frames, longer
    # than a 6 Hz smoother can bridge from the precise neighbours.
    filter: Literal["butterworth", "weighted_kalman"] = option(
        "butterworth", "butterworth (zero-lag, order 4 combined) | weighted_kalman (RTS smoother, each point "
                       "weighted by how precisely its views located it)")
    filter_cutoff_hz: float = option(6.0, "low-pass cutoff: Butterworth's -3 dB point, the Kalman smoother's "
                                          "half-power frequency")
    max_gap: int = option(10, "longest interior gap (frames) filled by interpolation")

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], got {self.min_confidence:g}")
        if not self.filter_cutoff_hz > 0:
            raise ValueError(f"filter_cutoff_hz must be positive (a low-pass cutoff in Hz), got "
                             f"{self.filter_cutoff_hz:g}")
        if self.max_gap < 0:
            raise ValueError(f"max_gap must be >= 0 frames, got {self.max_gap}")


@dataclass
class SyncConfig:
    """Time alignment of the cameras."""

    enabled: bool = option(True, "")
    max_offset_s: float = option(1.0, "largest camera offset searched (seconds)")
    reference_camera: str | None = option(None, "null: the first camera")

    def __post_init__(self) -> None:
        if not self.max_offset_s > 0:
            raise ValueError(f"max_offset_s must be positive (seconds), got {self.max_offset_s:g}")


@dataclass
class AugmentConfig:
    """Marker augmentation (video keypoints -> anatomical markers)."""

    enabled: bool = option(True, "")
    weights: str | None = option(None, ".pt file or opencap-v0.3:DIR; null: the shipped augmenter trained for "
                                       "the model")


@dataclass
class KinematicsConfig:
    """OpenSim model scaling and inverse kinematics."""

    model: str = option("builtin", "builtin (mv3d's own OpenSim model) or a path to an .osim")
    height_m: float | None = option(None, "null: from the session's sessionMetadata.yaml")
    mass_kg: float | None = option(None, "null: from the session's sessionMetadata.yaml")
    ik_accuracy: float = option(1e-5, "")
    stabilize: bool = option(True, "built-in model: hold the coordinates the markers do not determine toward "
                                   "neutral (see <trial>_coordinate_status.csv)")
    keypoint_weight: float = option(0.25, "IK weight of the video keypoints against the augmented markers' 1 "
                                          "(0: the markers alone, as OpenCap; without augmented markers: 1)")

    def __post_init__(self) -> None:
        for key in ("height_m", "mass_kg"):
            if getattr(self, key) is not None:
                check_subject_value(key, getattr(self, key))
        if not self.keypoint_weight >= 0:
            raise ValueError(f"keypoint_weight must be >= 0 (an IK marker weight), got {self.keypoint_weight:g}")
        if not self.ik_accuracy > 0:
            raise ValueError(f"ik_accuracy must be positive, got {self.ik_accuracy:g}")


@dataclass
class CompareConfig:
    """Joint angles against the trial's mocap (or the simulation's truth)."""

    flip_sign: tuple[str, ...] = option((), "mocap coordinates to negate, e.g. [knee_angle] for a Gait2392, "
                                            "Gait2354 or Hamner2010 mocap model (knee flexion negative)")


@dataclass
class VisualsConfig:
    """Media written beside the report."""

    overlay_videos: bool = option(True, "per camera: detected 2D keypoints + re-projected 3D points "
                                        "(mv3d/visuals/)")
    overlay_scale: float = option(0.5, "resize factor of the overlay videos")
    skeleton_video: bool = option(True, "front + side 3D skeleton animation (mp4)")

    def __post_init__(self) -> None:
        if not 0 < self.overlay_scale <= 4:
            raise ValueError(f"overlay_scale must lie in (0, 4], got {self.overlay_scale:g}")


@dataclass
class PipelineConfig:
    """Settings of a session run; each stage reads its own sections."""

    calibration: CalibrationConfig = section(CalibrationConfig)
    keypoints2d: Keypoints2DConfig = section(Keypoints2DConfig)
    triangulation: TriangulationConfig = section(TriangulationConfig)
    sync: SyncConfig = section(SyncConfig)
    augment: AugmentConfig = section(AugmentConfig)
    kinematics: KinematicsConfig = section(KinematicsConfig)
    compare: CompareConfig = section(CompareConfig)
    visuals: VisualsConfig = section(VisualsConfig)

    #: Keys of earlier versions, and what to write instead.
    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "keypoints": "the section was renamed to 'keypoints2d' (after its stage), and keypoints.weights: PATH "
                     "became keypoints2d.model: hrnet:PATH",
        "triangulation.filter_order": "it was never used; the low-pass is a zero-lag Butterworth of combined "
                                      "order 4",
        "kinematics.static_trial": "it was never used; the model is scaled on the stillest second of the trial",
    }


HEADER = ("mv3d pipeline defaults, generated from pipelines/config.py (python -m pipelines.config).\n"
          "A session config (mv3d run --config FILE) overrides any subset.")


def load_pipeline_config(config: str | os.PathLike | dict | None) -> PipelineConfig:
    """The validated pipeline config: the defaults overridden by the given YAML file or mapping."""
    return load_config(config, PipelineConfig)


def default_yaml() -> str:
    """The text of ``configs/default.yaml``."""
    return render_yaml(PipelineConfig, HEADER)


if __name__ == "__main__":
    print(default_yaml(), end="")
