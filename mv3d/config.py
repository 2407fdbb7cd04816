"""Typed configuration: dataclasses with defaults, loaded from YAML (or dicts) with strict checks.

``load_config(path_or_dict, cls)`` builds ``cls`` from a mapping, recursing into nested
dataclass sections. An unknown key or a value of the wrong type raises ``ConfigError``
naming the file and the dotted key (``default.yaml: triangulation.max_gap: expected int,
got str 'ten'``). Keys left out keep their defaults. An int is accepted where a float is
expected; a bool is never accepted as a number.

Supported field types: bool, int, float, str, Path, Literal[...], X | None, list[X],
tuple[X, ...], dict[str, X] and nested dataclasses.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from mv3d.errors import ConfigError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (ints to floats, lists to tuples...)."""
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: expected {expected}, got {type(value).__name__} {value!r}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"a section (mapping) of {tp.__name__}")
        return _build(tp, value, key, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, key, where)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(options) == 1:  # X | None: report X's own message, plus that null is allowed
            raise ConfigError(errors[0] + (" (or null)" if type(None) in args else ""))
        raise fail(" or ".join(_type_name(a) for a in args))
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if tp is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise fail("a path (string)")
        return Path(value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} items")
            return tuple(_convert(v, a, f"{key}[{i}]", where) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]", where) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}", where) for k, v in value.items()}
    raise ConfigError(f"{where}: {key}: unsupported field type {_type_name(tp)} in the config class")


def _build(cls: type[T], data: dict, prefix: str, where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {dotted!r}; known keys here: {', '.join(fields)}")
        kwargs[key] = _convert(value, hints[key], dotted, where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {prefix or 'top level'}: {exc}") from exc


def load_config(source: str | os.PathLike | dict | None, cls: type[T]) -> T:
    """Build the dataclass ``cls`` from a YAML file or a mapping (None or an empty file: all defaults)."""
    if isinstance(source, dict) or source is None:
        return _build(cls, source or {}, "", f"<{cls.__name__} dict>")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return _build(cls, data, "", str(path))


def to_dict(config: Any) -> dict:
    """The config as plain nested dicts/lists (YAML/JSON ready; paths as strings)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v
    return plain(config)


def config_hash(config: Any) -> str:
    """A short stable hash of a config (dataclass or dict), for caching stage outputs."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write a config as YAML atomically."""
    from mv3d.io.atomic import atomic_write

    with atomic_write(path, "w") as fh:
        yaml.safe_dump(to_dict(config), fh, sort_keys=False)
    return Path(path)


# ---------------------------------------------------------------------------- pipeline defaults

@dataclass
class CalibrationConfig:
    """Where the cameras' intrinsics and poses come from."""

    # auto: the session's calibration files when they hold extrinsics, else the poses from its board
    # images (CalibrationImages/) with the files' intrinsics; file: the files only; board: always the board
    source: Literal["auto", "file", "board"] = "auto"
    keypoint_frames: int = 30         # frames of the trial's 2D detections that resolve ambiguous board poses
    still_window_s: float = 0.5       # those frames are where the subject moves least within +- this (unsynced cameras)

    def __post_init__(self) -> None:
        if self.keypoint_frames < 1 or self.still_window_s < 0:
            raise ValueError(f"calibration.keypoint_frames must be >= 1 and still_window_s >= 0, got "
                             f"{self.keypoint_frames} and {self.still_window_s}")


@dataclass
class KeypointsConfig:
    """Where the 2D keypoints come from."""

    source: Literal["auto", "detections", "network"] = "auto"  # auto: imported detections when present
    format: Literal["openpose", "mmpose"] = "openpose"          # format of imported detections
    fps: float | None = None          # frame rate of detections without video; None: from the videos
    weights: str | None = None        # 2D network weights for source "network"; None: the shipped demo weights


@dataclass
class TriangulationConfig:
    """3D keypoints from the cameras' 2D keypoints."""

    method: Literal["algebraic", "volumetric"] = "algebraic"
    limb_constraints: bool = True
    min_confidence: float = 0.3       # 2D detections below it are ignored
    filter_cutoff_hz: float = 6.0     # zero-lag Butterworth low-pass of the 3D trajectories (-3 dB point)
    filter_order: int = 4             # order of the combined zero-lag filter
    max_gap: int = 10                 # longest interior gap (frames) filled by interpolation


@dataclass
class SyncConfig:
    """Time alignment of the cameras (and of the mocap)."""

    enabled: bool = True
    max_offset_s: float = 1.0         # largest camera offset searched, seconds
    reference_camera: str | None = None  # None: the first camera


@dataclass
class AugmentConfig:
    """Marker augmentation (video keypoints -> anatomical markers)."""

    enabled: bool = True
    weights: str | None = None        # .pt file or opencap-v0.3:DIR; None: the shipped augmenter for the model


@dataclass
class KinematicsConfig:
    """OpenSim model scaling and inverse kinematics."""

    model: str = "builtin"            # "builtin" (mv3d's own model) or an .osim path
    height_m: float | None = None     # None: the session's sessionMetadata.yaml
    mass_kg: float | None = None      # None: the session's sessionMetadata.yaml
    static_trial: str | None = None   # trial used for scaling; None: the stillest second of the trial
    ik_accuracy: float = 1e-5


@dataclass
class VisualsConfig:
    """Media written beside the report."""

    overlay_videos: bool = True       # per camera: detected 2D keypoints and re-projected 3D points
    overlay_scale: float = 0.5        # resize factor of the overlay videos
    skeleton_video: bool = True       # front + side 3D skeleton animation (mp4)


@dataclass
class PipelineConfig:
    """Defaults of a session run (``configs/default.yaml``); stages read their own section."""

    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    keypoints: KeypointsConfig = field(default_factory=KeypointsConfig)
    triangulation: TriangulationConfig = field(default_factory=TriangulationConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    kinematics: KinematicsConfig = field(default_factory=KinematicsConfig)
    visuals: VisualsConfig = field(default_factory=VisualsConfig)
