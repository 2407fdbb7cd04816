"""Find the trials, cameras, calibration and metadata of a session on disk.

Three input layouts are read as they are:

- OpenCap: ``Videos/Cam<i>/InputMedia/<trial>/<trial>.(mov|mp4)``, one
  ``Videos/Cam<i>/cameraIntrinsicsExtrinsics.pickle`` (or intrinsics-only ``cameraIntrinsics.pickle``)
  per camera, ``sessionMetadata.yaml`` (its ``checkerBoard`` entry describes the board),
  ``CalibrationImages/calib_imgCam<i>.jpg`` (the board seen by each camera, from which the
  pipeline computes the poses when the pickles hold none);
  imported 2D detections, when there are any, in ``Videos/Cam<i>/OutputJson/<trial>/``
  (OpenPose JSON, one file per frame), or for a session made by ``mv3d simulate``, in
  ``truth/detections/<camera>/``.
- Pose2Sim: ``calibration/Calib*.toml`` (or ``.qca.txt``), ``videos/<cam>.mp4``,
  ``pose/<cam>_json/`` (one trial per folder; a ``static-trial/`` sub-folder in
  the same layout is the static trial).
- A session YAML (``mv3d_session.yaml`` or any file passed in) naming everything.

Outputs use OpenCap's names (DESIGN.md) in the session folder.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calibration.formats import OPENCAP_FILES, load_pickle
from mv3d.errors import InputError, brief
from mv3d.io.keypoints import read_keypoints
from mv3d.io.safe_yaml import load_yaml
from mv3d.skeleton import MV3D23
from mv3d.subject import check_subject_value
from mv3d.video.frames import VideoInfo, probe

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".MOV", ".MP4")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
SESSION_YAML = "mv3d_session.yaml"


@dataclass
class Trial:
    """One trial: videos and/or 2D detections per camera, optional mocap."""

    name: str
    videos: dict[str, Path] = field(default_factory=dict)
    detections: dict[str, Path] = field(default_factory=dict)
    detections_format: str = "openpose"
    mocap_trc: Path | None = None
    mocap_mot: Path | None = None
    static: bool = False
    _video_info: dict[str, VideoInfo] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def cameras(self) -> list[str]:
        return sorted(set(self.videos) | set(self.detections))

    def video_info(self) -> dict[str, VideoInfo]:
        """The container properties of each camera's existing video, probed once per trial (InputError
        naming the camera and file for a video that cannot be decoded)."""
        if self._video_info is None:
            found = {}
            for cam, video in sorted(self.videos.items()):
                if video.is_file():
                    try:
                        found[cam] = probe(video)
                    except InputError as exc:
                        raise InputError(f"trial {self.name}, camera {cam}: {exc}") from None
            self._video_info = found
        return self._video_info

    def video_fps(self) -> float | None:
        """The frame rate of the trial's first readable video (None: no video)."""
        info = self.video_info()
        return float(next(iter(info.values())).fps) if info else None

    def frame_rates(self) -> dict[str, float]:
        """Each camera's video frame rate, for the cameras whose video exists (InputError naming
        the camera and file for a video that cannot be decoded)."""
        rates = {}
        for cam, info in self.video_info().items():
            if not info.fps > 0:
                raise InputError(f"trial {self.name}, camera {cam}: {self.videos[cam]} states no frame rate; "
                                 f"re-encode it with its rate, or set keypoints2d.fps in the config")
            rates[cam] = float(info.fps)
        return rates

    def read_detections(self, cameras: list[str], fmt: str, fps: float) -> np.ndarray:
        """The imported 2D detections of ``cameras`` as (C, F, 23, 3), one row per true frame number.

        Rows count from the first frame of any camera, so a dropped frame is a NaN row (confidence
        0), never a shift of the frames after it.
        """
        missing = [c for c in cameras if c not in self.detections]
        if missing:
            raise InputError(f"trial {self.name}: camera(s) {', '.join(missing)} have a video but no detections")
        per_cam = []
        for cam in cameras:
            kp = read_keypoints(self.detections[cam], format=fmt, fps=fps)
            per_cam.append((kp.frames, kp.data[0]))
        first = min(int(frames.min()) for frames, _ in per_cam)
        data = np.full((len(per_cam), max(int(f.max()) - first + 1 for f, _ in per_cam), len(MV3D23), 3), np.nan)
        data[..., 2] = 0.0
        for c, (frames, k) in enumerate(per_cam):
            data[c, frames - first] = k
        return data


@dataclass
class Session:
    """A session folder: where inputs are and where outputs go.

    calibration: the calibration file or folder (None: none found); extrinsics: whether it holds
    the cameras' poses (False: intrinsics only); camera_calibrations: per camera, its own
    calibration file (OpenCap pickles); calibration_images: per camera, its image of the board
    (``CalibrationImages/``); board: the ``checkerBoard`` entry of sessionMetadata.yaml, if any.
    """

    root: Path
    layout: str
    calibration: Path | None
    trials: dict[str, Trial]
    height: float | str | None = None  # metres, or "auto": estimated from the triangulated keypoints
    mass: float | None = None
    metadata: dict = field(default_factory=dict)
    extrinsics: bool = True
    camera_calibrations: dict[str, Path] = field(default_factory=dict)
    calibration_images: dict[str, Path] = field(default_factory=dict)

    @property
    def fps(self) -> float | None:
        """The cameras' frame rate stated by the session's metadata (``fps``: written by ``mv3d
        simulate``, or by hand for sessions with detections and no video), None when absent."""
        value = self.metadata.get("fps")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 10000:
            raise InputError(f"session {self.root}: its metadata's fps is {brief(value)}; write the cameras' frame "
                             f"rate in frames per second, e.g. fps: 60")
        return float(value)

    @property
    def simulated(self) -> bool:
        """Whether ``mv3d simulate`` made the session (its ``truth/rig.toml`` says so)."""
        rig = self.root / "truth" / "rig.toml"
        try:
            return tomllib.loads(rig.read_text()).get("metadata", {}).get("written_by") == "mv3d.simulate"
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return False

    @property
    def board(self) -> dict | None:
        board = self.metadata.get("checkerBoard")
        return board if isinstance(board, dict) else None

    # --- output paths (OpenCap names) -------------------------------------------------
    def pre_augmentation_trc(self, trial: str) -> Path:
        return self.root / "MarkerData" / "PreAugmentation" / f"{trial}.trc"

    def post_augmentation_trc(self, trial: str) -> Path:
        return self.root / "MarkerData" / "PostAugmentation" / f"{trial}.trc"

    def model_dir(self) -> Path:
        return self.root / "OpenSimData" / "Model"

    def kinematics_mot(self, trial: str) -> Path:
        return self.root / "OpenSimData" / "Kinematics" / f"{trial}.mot"

    def work_dir(self) -> Path:
        return self.root / "mv3d"

    def store_path(self, trial: str) -> Path:
        return self.work_dir() / f"{trial}.h5"

    def heatmaps_path(self, trial: str) -> Path:
        """The 2D model's heatmaps, kept for volumetric triangulation (``mv3d.io.heatmaps``)."""
        return self.work_dir() / f"{trial}_heatmaps2d.h5"

    def report_path(self, trial: str) -> Path:
        return self.work_dir() / "report" / f"{trial}.html"

    def ik_errors_csv(self, trial: str) -> Path:
        return self.work_dir() / f"{trial}_ik_marker_errors.csv"

    def comparison_csv(self, trial: str) -> Path:
        return self.work_dir() / f"{trial}_comparison.csv"

    def trial(self, name: str | None) -> Trial:
        """The named trial, or the only dynamic one when name is None."""
        if name is not None:
            if name not in self.trials:
                raise InputError(f"session {self.root}: no trial {name!r} (trials: {', '.join(self.trials) or 'none'})")
            return self.trials[name]
        dynamic = [t for t in self.trials.values() if not t.static]
        if len(dynamic) != 1:
            raise InputError(f"session {self.root}: {len(dynamic)} dynamic trials "
                             f"({', '.join(t.name for t in dynamic)}); choose one with --trial")
        return dynamic[0]

    def static_trial(self) -> Trial | None:
        static = [t for t in self.trials.values() if t.static]
        return static[0] if static else None


def discover_session(path: str | Path) -> Session:
    """Read a session folder (OpenCap or Pose2Sim layout) or a session YAML file."""
    path = Path(path).absolute()
    if path.is_file():
        return _from_yaml(path)
    if not path.is_dir():
        raise InputError(f"session {path} does not exist: give a session folder or a session YAML file")
    if (path / SESSION_YAML).is_file():
        return _from_yaml(path / SESSION_YAML)
    if (path / "Videos").is_dir():
        return _opencap_session(path)
    if (path / "calibration").is_dir() and ((path / "videos").is_dir() or (path / "pose").is_dir()):
        return _pose2sim_session(path)
    raise InputError(f"session {path}: not an OpenCap layout (no Videos/), not a Pose2Sim layout "
                     f"(calibration/ with videos/ or pose/), and no {SESSION_YAML}")


def _camera_sort_key(name: str) -> tuple:
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else 1 << 30, name)


def _read_metadata(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of metadata keys, got {type(data).__name__}")
    return data


def _opencap_session(root: Path) -> Session:
    cams = sorted((d for d in (root / "Videos").iterdir() if d.is_dir() and d.name.startswith("Cam")),
                  key=lambda d: _camera_sort_key(d.name))
    if not cams:
        raise InputError(f"session {root}: Videos/ holds no Cam<i> folders")
    if not (root / "sessionMetadata.yaml").is_file():
        raise InputError(f"session {root}: sessionMetadata.yaml is missing; OpenCap sessions keep the subject's "
                         f"height_m and mass_kg there (create it, e.g. from OpenCap's defaultSessionMetadata.yaml)")
    trials: dict[str, Trial] = {}
    for cam in cams:
        for trial_dir in sorted((cam / "InputMedia").glob("*")) if (cam / "InputMedia").is_dir() else []:
            videos = [p for p in trial_dir.iterdir() if p.suffix in VIDEO_SUFFIXES and not p.stem.endswith("_sync")]
            if videos:
                trials.setdefault(trial_dir.name, Trial(trial_dir.name)).videos[cam.name] = videos[0]
        for det_dir in sorted((cam / "OutputJson").glob("*")) if (cam / "OutputJson").is_dir() else []:
            if det_dir.is_dir():
                trials.setdefault(det_dir.name, Trial(det_dir.name)).detections[cam.name] = det_dir
    _simulated_detections(root, [c.name for c in cams], trials)

    pickles = {}
    for cam in cams:
        found = [cam / name for name in OPENCAP_FILES if (cam / name).is_file()]
        if found:
            pickles[cam.name] = found[0]
    calibration = root / "Videos" if len(pickles) == len(cams) else None
    # poses in every pickle: the calibration is complete; else the board images give them
    extrinsics = calibration is not None and all(_pickle_has_extrinsics(p) for p in pickles.values())
    meta = _read_metadata(root / "sessionMetadata.yaml")
    for name, trial in trials.items():
        trial.static = "static" in name.lower() or "neutral" in name.lower()
        mocap = root / "MocapData" / f"{name}.trc"
        trial.mocap_trc = mocap if mocap.is_file() else None
        mot = root / "MocapData" / f"{name}.mot"
        trial.mocap_mot = mot if mot.is_file() else None
    meta_path = root / "sessionMetadata.yaml"
    return Session(root, "opencap", calibration, trials, _subject_value(meta.get("height_m"), meta_path, "height_m"),
                   _subject_value(meta.get("mass_kg"), meta_path, "mass_kg"), meta, extrinsics, pickles,
                   _calibration_images(root / "CalibrationImages", [c.name for c in cams]))


def _pickle_has_extrinsics(path: Path) -> bool:
    """Whether an OpenCap calibration pickle holds a pose (rotation and translation).

    An unreadable file counts as complete: reading the calibration reports what is wrong with it.
    """
    if path.name != OPENCAP_FILES[0]:
        return False
    try:
        data = load_pickle(path)
    except InputError:  # left to the calibration reader's error message
        return True
    return not isinstance(data, dict) or ("rotation" in data and "translation" in data)


def _calibration_images(folder: Path, cams: list[str]) -> dict[str, Path]:
    """OpenCap's board images ``calib_img<camera>.<jpg|png>`` by camera name."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        name = path.stem[len("calib_img"):] if path.stem.startswith("calib_img") else None
        if name in cams and path.suffix.lower() in IMAGE_SUFFIXES:
            found.setdefault(name, path)
    return found


def _simulated_detections(root: Path, cams: list[str], trials: dict[str, Trial]) -> None:
    """A simulated session (``mv3d simulate``) keeps its detector-like 2D output in
    ``truth/detections/<camera>/``: use it for the simulated trial when no OutputJson exists.
    Camera folders are matched by name, else in order."""
    det_root = root / "truth" / "detections"
    if not det_root.is_dir():
        return
    folders = sorted((d for d in det_root.iterdir() if d.is_dir()), key=lambda d: _camera_sort_key(d.name))
    if len(folders) != len(cams):
        return
    names = {d.name for d in folders}
    mapping = {c: det_root / c for c in cams} if names == set(cams) else dict(zip(cams, folders))
    first = next(iter(sorted(folders[0].glob("*_keypoints.json"))), None)
    match = re.fullmatch(r"(.+)_\d+_keypoints\.json", first.name) if first else None
    if match:
        trial = trials.setdefault(match.group(1), Trial(match.group(1)))
        if not trial.detections:
            trial.detections = mapping


def _pose2sim_trial(folder: Path, name: str, static: bool) -> Trial:
    trial = Trial(name, static=static)
    if (folder / "videos").is_dir():
        for video in sorted(p for p in (folder / "videos").iterdir() if p.suffix in VIDEO_SUFFIXES):
            trial.videos[video.stem] = video
    if (folder / "pose").is_dir():
        for det in sorted(p for p in (folder / "pose").iterdir() if p.is_dir()):
            cam = re.sub(r"_json$", "", det.name)
            trial.detections[cam] = det
    return trial


def _pose2sim_session(root: Path) -> Session:
    calib_dir = root / "calibration"
    candidates = sorted(calib_dir.glob("Calib*.toml")) + sorted(calib_dir.glob("*.toml")) + sorted(calib_dir.glob("*.qca.txt"))
    trials = {root.name: _pose2sim_trial(root, root.name, static=False)}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and "static" in p.name.lower()):
        trials[sub.name] = _pose2sim_trial(sub, sub.name, static=True)
    trials = {k: t for k, t in trials.items() if t.cameras}
    if not trials:
        raise InputError(f"session {root}: Pose2Sim layout with neither videos/ nor pose/ detections")
    meta = _read_metadata(root / "sessionMetadata.yaml")
    meta_path = root / "sessionMetadata.yaml"
    height = _subject_value(meta.get("height_m"), meta_path, "height_m")
    mass = _subject_value(meta.get("mass_kg"), meta_path, "mass_kg")
    if height is None or mass is None:
        p_height, p_mass = _pose2sim_subject(root)
        height = p_height if height is None else height
        mass = p_mass if mass is None else mass
    return Session(root, "pose2sim", candidates[0] if candidates else None, trials, height, mass, meta)


def _pose2sim_subject(root: Path) -> tuple[float | str | None, float | None]:
    """Height and mass from a Pose2Sim Config.toml ([project] participant_height / participant_mass)."""
    for path in sorted(root.glob("*Config.toml")):
        try:
            project = tomllib.loads(path.read_text()).get("project", {})
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: not valid TOML ({exc})") from exc
        height, mass = project.get("participant_height"), project.get("participant_mass")
        height = height[0] if isinstance(height, list) else height
        mass = mass[0] if isinstance(mass, list) else mass
        return _subject_value(height, path, "height_m"), _subject_value(mass, path, "mass_kg")
    return None, None


def _from_yaml(path: Path) -> Session:
    data = _read_metadata(path)
    base = path.parent

    def rel(value, key: str) -> Path | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise InputError(f"{path}: {key} must be a path (a string), got {brief(value)}")
        return base / value

    def paths(value, key: str) -> dict[str, Path]:
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise InputError(f"{path}: {key} must map camera names to paths, got {brief(value)}")
        return {str(k): rel(v, f"{key}.{k}") for k, v in value.items()}

    listed = data.get("trials") or {}
    if not isinstance(listed, dict):
        raise InputError(f"{path}: trials must map trial names to their files, got {brief(listed)}")
    trials = {}
    for name, spec in listed.items():
        if not isinstance(spec, dict):
            raise InputError(f"{path}: trials.{name} must be a mapping (videos, detections, mocap_trc, static)")
        unknown = set(spec) - {"videos", "detections", "detections_format", "mocap_trc", "mocap_mot", "static"}
        if unknown:
            raise InputError(f"{path}: unknown key(s) trials.{name}.{brief(sorted(map(str, unknown))[0])[1:-1]}")
        key = f"trials.{name}"
        trials[str(name)] = Trial(
            str(name),
            videos=paths(spec.get("videos"), f"{key}.videos"),
            detections=paths(spec.get("detections"), f"{key}.detections"),
            detections_format=spec.get("detections_format", "openpose"),
            mocap_trc=rel(spec.get("mocap_trc"), f"{key}.mocap_trc"),
            mocap_mot=rel(spec.get("mocap_mot"), f"{key}.mocap_mot"),
            static=bool(spec.get("static", False)),
        )
    if not trials:
        raise InputError(f"{path}: no trials listed under 'trials:'")
    root = rel(data.get("output", "."), "output") or base
    return Session(root, "yaml", rel(data.get("calibration"), "calibration"), trials,
                   _subject_value(data.get("height_m"), path, "height_m"),
                   _subject_value(data.get("mass_kg"), path, "mass_kg"), data)


def _subject_value(value, path: Path, key: str) -> float | str | None:
    """A subject's height_m or mass_kg from a metadata file: a number within a person's range
    (``mv3d.subject``; or "auto" for the height); InputError naming the file and the key otherwise."""
    if value is None or (key == "height_m" and value == "auto"):
        return value
    return check_subject_value(key, value, str(path),
                               also="auto (estimated from the keypoints)" if key == "height_m" else "")
