"""What every stage sees: the session, the trial, the typed config, the trial's store and its warnings.

A stage reads its settings as attributes (``ctx.config.triangulation.min_confidence``), arrays
through ``ctx.store`` (``mv3d/<trial>.h5``) and files at the session's OpenCap paths
(``ctx.session``); ``ctx.warn`` keeps a message for the log and the top of the report.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from calibration import load_rig
from mv3d.camera import CameraRig
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from mv3d.io.store import SessionStore
from mv3d.triangulate.limbs import estimate_height
from pipelines.config import PipelineConfig
from pipelines.session import Session, Trial

log = logging.getLogger(__name__)

#: Segments for the "auto" height: legs and trunk sides (real arm keypoints of a balancing or
#: gesturing subject are noisier than the trunk).
HEIGHT_FROM_TRUNK_AND_LEGS = (("l_hip", "l_knee"), ("r_hip", "r_knee"), ("l_knee", "l_ankle"), ("r_knee", "r_ankle"),
                              ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"))


@dataclass
class Context:
    """The session, the trial and the config of a run, and the stage now running."""

    session: Session
    trial: Trial
    config: PipelineConfig
    stage: str = ""

    # --- warnings ---------------------------------------------------------------------
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

    # --- outputs ----------------------------------------------------------------------
    @cached_property
    def store(self) -> SessionStore:
        self.session.work_dir().mkdir(parents=True, exist_ok=True)
        return SessionStore(self.session.store_path(self.trial.name))

    @property
    def calibration_copy(self) -> Path:
        """The calibration stage's output: the rig as TOML beside the other outputs."""
        return self.session.work_dir() / "calibration.toml"

    @cached_property
    def rig(self) -> CameraRig:
        """The calibrated cameras (after the calibration stage)."""
        return load_rig(self.calibration_copy)

    def forget_rig(self) -> None:
        """Re-read the rig on next use (the calibration stage wrote a new one)."""
        self.__dict__.pop("rig", None)

    @property
    def model_name(self) -> str:
        """Name of the configured OpenSim model: ``mv3d_body`` for the built-in one, else the file's stem."""
        model = self.config.kinematics.model
        return "mv3d_body" if model == "builtin" else Path(model).stem

    @property
    def scaled_model(self) -> Path:
        return self.session.model_dir() / f"{self.model_name}_scaled.osim"

    def output_files(self) -> dict[str, Path]:
        """Stage outputs that are files, by output name."""
        s, t = self.session, self.trial.name
        return {"calibration_toml": self.calibration_copy, "trc_pre": s.pre_augmentation_trc(t),
                "trc_post": s.post_augmentation_trc(t), "model_scaled": self.scaled_model,
                "mot": s.kinematics_mot(t)}

    def has_output(self, name: str) -> bool:
        files = self.output_files()
        if name in files:
            return files[name].is_file()
        return self.store.path.is_file() and name in self.store

    # --- inputs -----------------------------------------------------------------------
    def metadata_files(self) -> list[Path]:
        """The session's metadata file (subject height and mass), an input of the stages that use them."""
        return [self.session.root / "sessionMetadata.yaml"]

    def mocap_reference(self) -> Path | None:
        """The trial's mocap .mot, or the simulator's true coordinates for a simulated session."""
        if self.trial.mocap_mot is not None:
            return self.trial.mocap_mot
        truth = self.session.root / "truth" / "coordinates.mot"
        return truth if truth.is_file() else None

    def subject(self, estimate: bool = True) -> tuple[float | str, float]:
        """Height (m) and mass (kg): config first, then the session's metadata.

        A height of "auto" (Pose2Sim's convention) is estimated from the triangulated
        keypoints once they exist (``estimate``), else returned as "auto".
        """
        kin = self.config.kinematics
        height = kin.height_m or self.session.height
        mass = kin.mass_kg or self.session.mass
        if height == "auto" and estimate:
            if not self.has_output("points3d"):
                raise InputError(f"session {self.session.root}: the subject's height is 'auto' and is estimated "
                                 f"from the triangulated keypoints, which do not exist yet; run the triangulation")
            height = round(estimate_height(self.store.read("points3d"), segments=HEIGHT_FROM_TRUNK_AND_LEGS), 3)
        if height is None or mass is None:
            missing = " and ".join(n for n, v in (("height_m", height), ("mass_kg", mass)) if v is None)
            raise InputError(f"session {self.session.root}: the subject's {missing} is unknown; add it to "
                             f"sessionMetadata.yaml (height_m: 1.75, mass_kg: 70) or to the config's kinematics "
                             f"section")
        return (height if height == "auto" else float(height)), float(mass)
