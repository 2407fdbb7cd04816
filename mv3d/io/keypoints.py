"""Importers of 2D keypoints written by other tools, into ``Keypoints2D`` (MV3D23 joints).

Supported inputs (``read_keypoints(path, format=...)``):

- ``openpose``: a folder with one sub-folder per camera (``cam01_json/``...), one JSON per
  frame (``people[i].pose_keypoints_2d`` flat x, y, c). The joint set follows from the
  count: 25 (BODY_25 or BODY_25B, told apart from the geometry), 26 (HALPE_26, as
  Pose2Sim/RTMLib write it), 17 (COCO_17), 133 (COCO_133). A folder of JSON files with no
  sub-folder is a single camera.
- ``mmpose``: per camera either one JSON for the whole video or a folder of per-frame JSON;
  layouts: a list of per-frame ``{"frame_id", "instances": [{"keypoints", "keypoint_scores"}]}``
  (MMPoseInferencer), the same under ``{"instance_info": [...]}`` (topdown demo
  ``--save-predictions``), a COCO results list ``[{"image_id", "keypoints": flat}]``, or
  per-frame files holding a list of instances. COCO_133, HALPE_26 or COCO_17 by count.
- ``h5``: a file written by ``write_keypoints_h5``.

When a frame holds several people, one person is followed through each camera's video
(``mv3d.io.tracking.select_person``). Frames are identified by the number in each file name
(or ``frame_id``/``image_id``); a camera without a frame another camera has gets NaN there.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.io.store import SessionStore
from mv3d.io.tracking import TrackingParams, select_person
from mv3d.skeleton import JOINT_SETS, MV3D23, convert_keypoints

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
FORMATS = ("openpose", "mmpose", "h5")
#: Joint sets told by the number of keypoints (25 is resolved by ``guess_body25``).
_BY_COUNT = {17: "COCO_17", 26: "HALPE_26", 133: "COCO_133", 23: "MV3D23"}


@dataclass
class Keypoints2D:
    """2D keypoints of several cameras: ``data`` (C, F, 23, 3) = x, y pixels and confidence.

    Missing joints are NaN with confidence 0. ``frames`` (F,) are the frame numbers of the
    source, ``fps`` their rate; ``source`` names the detector's joint set.
    """

    data: np.ndarray
    cameras: list[str]
    frames: np.ndarray
    fps: float
    joint_names: tuple[str, ...] = MV3D23
    source: str = ""

    def __post_init__(self) -> None:
        c, f = len(self.cameras), len(self.frames)
        if self.data.shape != (c, f, len(self.joint_names), 3):
            raise InputError(f"Keypoints2D: data of shape {self.data.shape} does not match {c} cameras, "
                             f"{f} frames and {len(self.joint_names)} joints")

    @property
    def times(self) -> np.ndarray:
        """(F,) seconds of each frame: frame number / fps."""
        return np.asarray(self.frames, dtype=float) / self.fps

    def detected_fraction(self) -> np.ndarray:
        """(C,) fraction of (frame, joint) entries with a detection in each camera."""
        return (self.data[..., 2] > 0).mean(axis=(1, 2))


# ----------------------------------------------------------------------------- helpers

def _frame_number(path: Path) -> int | None:
    """The last group of digits of a file name's stem (``cam01.0042`` -> 42), None if none."""
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _load_json(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                         f"the file is truncated or corrupt, re-export it or delete it") from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not valid JSON ({type(exc).__name__}); the file is corrupt, re-export it or "
                         f"delete it") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc


def _stack_people(people: list[np.ndarray], where: Path, n_joints: int | None) -> np.ndarray:
    """(P, J, 3) from a list of (J, 3); checks that J matches the camera's other frames."""
    if not people:
        return np.zeros((0, n_joints or 0, 3))
    counts = {p.shape[0] for p in people}
    if len(counts) != 1 or (n_joints is not None and counts != {n_joints}):
        raise InputError(f"{where}: people with {sorted(counts)} keypoints where {n_joints or 'one count'} "
                         f"was expected; all detections of a camera must use the same joint set")
    return np.stack(people)


def guess_body25(poses: np.ndarray) -> str:
    """Tell OpenPose BODY_25 from BODY_25B by geometry: poses (N, 25, 3) -> joint-set name.

    Read as BODY_25, joint 8 (MidHip) lies midway between 9 (RHip) and 12 (LHip): the offset
    relative to the torso (joint 1 to 8) is ~0.05, while in BODY_25B these joints are RElbow,
    LWrist and RHip (ratio > 0.3). When those joints are missing, joint 15 (BODY_25 REye,
    BODY_25B LAnkle) is compared with the nose (0) against joint 11 (RAnkle / LHip): near the
    nose (ratio < 0.2) means BODY_25, far (ratio > 1) BODY_25B.
    """
    def median_ratio(a: int, b: int, c: int, d: int, mid: int | None = None) -> float | None:
        used = [a, b, c, d] + ([mid] if mid is not None else [])
        ok = (poses[:, used, 2] > 0).all(axis=1)
        if not ok.any():
            return None
        xy = poses[ok, :, :2]
        target = 0.5 * (xy[:, b] + xy[:, mid]) if mid is not None else xy[:, b]
        num = np.linalg.norm(xy[:, a] - target, axis=-1)
        den = np.linalg.norm(xy[:, c] - xy[:, d], axis=-1)
        return float(np.median(num / np.maximum(den, 1e-9)))

    ratio = median_ratio(8, 9, 1, 8, mid=12)
    if ratio is not None:
        name = "BODY_25" if ratio < 0.15 else "BODY_25B"
    else:
        ratio = median_ratio(15, 0, 0, 11)
        if ratio is None:
            raise InputError("cannot tell BODY_25 from BODY_25B: the detections lack the joints compared "
                             "(1, 8, 9, 12 or 0, 11, 15); give the joint set explicitly "
                             "(joint_set='BODY_25' or 'BODY_25B')")
        name = "BODY_25" if ratio < 0.5 else "BODY_25B"
    log.info("25 keypoints: geometric ratio %.3f -> %s", ratio, name)
    return name


def _resolve_joint_set(n_joints: int, joint_set: str | None, samples: np.ndarray, where: Path) -> str:
    if joint_set is not None:
        key = joint_set.upper().replace("-", "_")
        if key not in JOINT_SETS:
            raise InputError(f"unknown joint set {joint_set!r}; known joint sets: {', '.join(JOINT_SETS)}")
        if len(JOINT_SETS[key]) != n_joints:
            raise InputError(f"{where}: detections have {n_joints} keypoints but joint set {key} has "
                             f"{len(JOINT_SETS[key])}")
        return key
    if n_joints == 25:
        return guess_body25(samples)
    if n_joints not in _BY_COUNT:
        raise InputError(f"{where}: detections with {n_joints} keypoints match no known joint set "
                         f"(17 COCO_17, 25 BODY_25/BODY_25B, 26 HALPE_26, 133 COCO_133)")
    return _BY_COUNT[n_joints]


def _camera_name(path: Path) -> str:
    return re.sub(r"[_-]?json$", "", path.stem if path.is_file() else path.name) or path.name


# ----------------------------------------------------------------------------- per-file parsers

@contextmanager
def _reading(path: Path):
    """Turn what malformed content makes the parsers raise into an InputError naming the file."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: unexpected content ({type(exc).__name__}: {str(exc)[:80]}); the file is not "
                         f"a keypoint JSON of the expected layout, or it is damaged") from exc


def _clean_pose(pose: np.ndarray) -> np.ndarray:
    """(J, 3) with non-finite coordinates or confidences as missing (NaN, confidence 0) and
    confidences clipped to [0, 1]."""
    bad = ~np.isfinite(pose).all(axis=1)
    pose[bad] = [np.nan, np.nan, 0.0]
    pose[:, 2] = np.clip(pose[:, 2], 0.0, 1.0)
    return pose


def _openpose_frame(path: Path, n_joints: int | None) -> np.ndarray:
    """(P, J, 3) people of one OpenPose JSON (all-zero people dropped)."""
    with _reading(path):
        return _openpose_people(path, _load_json(path), n_joints)


def _openpose_people(path: Path, doc, n_joints: int | None) -> np.ndarray:
    if not isinstance(doc, dict) or "people" not in doc:
        raise InputError(f"{path}: no 'people' list; not an OpenPose keypoint JSON")
    people = []
    for i, person in enumerate(doc["people"]):
        flat = np.asarray(person.get("pose_keypoints_2d", []), dtype=float)
        if flat.size == 0 or flat.size % 3:
            raise InputError(f"{path}: person {i} has {flat.size} values in 'pose_keypoints_2d', "
                             f"not a multiple of 3 (x, y, confidence)")
        pose = flat.reshape(-1, 3)
        # OpenPose writes undetected joints as 0, 0, 0, and sometimes a joint with one
        # coordinate exactly 0 and a confidence (a placeholder, not a position): both missing.
        pose[(pose[:, 0] == 0) | (pose[:, 1] == 0), 2] = 0.0
        pose = _clean_pose(pose)
        if (pose[:, 2] > 0).any():
            people.append(pose)
    return _stack_people(people, path, n_joints)


def _mm_instance(inst: dict, where: Path) -> np.ndarray:
    """(J, 3) of one mmpose instance: keypoints [[x, y], ...] or flat, with keypoint_scores."""
    if "keypoints" not in inst:
        raise InputError(f"{where}: an instance has no 'keypoints'")
    kp = np.asarray(inst["keypoints"], dtype=float)
    if kp.ndim == 1:
        kp = kp.reshape(-1, 3 if "keypoint_scores" not in inst and kp.size % 3 == 0 else 2)
    if kp.ndim == 3:  # (1, J, 2) as some versions write it
        kp = kp[0]
    if kp.shape[-1] == 2:
        scores = np.asarray(inst.get("keypoint_scores", np.ones(len(kp))), dtype=float).reshape(-1)
        if scores.size != len(kp):
            raise InputError(f"{where}: {len(kp)} keypoints but {scores.size} keypoint_scores")
        kp = np.column_stack([kp, scores])
    if kp.ndim != 2 or kp.shape[1] < 3:
        raise InputError(f"{where}: an instance's keypoints are not a list of (x, y) or (x, y, score)")
    return _clean_pose(kp[:, :3].copy())


def _mmpose_file(path: Path) -> dict[int, list[np.ndarray]]:
    """Frame number -> list of (J, 3) people for one mmpose JSON (video or single frame)."""
    with _reading(path):
        return _mmpose_frames(path, _load_json(path))


def _mmpose_frames(path: Path, doc) -> dict[int, list[np.ndarray]]:
    if isinstance(doc, dict) and "instance_info" in doc:
        doc = doc["instance_info"]
    if isinstance(doc, dict) and "instances" in doc:
        doc = [doc]
    if isinstance(doc, dict) and "people" in doc:
        raise InputError(f"{path}: this is an OpenPose-style JSON; read it with format 'openpose'")
    if not isinstance(doc, list):
        raise InputError(f"{path}: unknown mmpose layout; expected a list of frames with 'instances', "
                         f"an 'instance_info' list, or a COCO results list")
    frames: dict[int, list[np.ndarray]] = {}
    if all(isinstance(d, dict) and "instances" in d for d in doc):
        for i, d in enumerate(doc):
            fid = int(d.get("frame_id", d.get("frame_idx", i)))
            frames.setdefault(fid, []).extend(_mm_instance(inst, path) for inst in d["instances"])
    elif all(isinstance(d, dict) and "image_id" in d and "keypoints" in d for d in doc):
        ids = sorted({d["image_id"] for d in doc}, key=lambda v: (not isinstance(v, int), v))
        rank = {v: (v if isinstance(v, int) else k) for k, v in enumerate(ids)}
        for d in doc:
            frames.setdefault(rank[d["image_id"]], []).append(_mm_instance(d, path))
    elif all(isinstance(d, dict) and "keypoints" in d for d in doc):
        fid = _frame_number(path)
        frames[0 if fid is None else fid] = [_mm_instance(d, path) for d in doc]
    else:
        raise InputError(f"{path}: unknown mmpose layout; expected a list of frames with 'instances', "
                         f"an 'instance_info' list, or a COCO results list")
    return frames


# ----------------------------------------------------------------------------- assembling

def _camera_inputs(path: Path, fmt: str) -> dict[str, list[Path]]:
    """Camera name -> its JSON files: one sub-folder per camera, or the folder itself as one camera.

    For mmpose, JSON files directly in ``path`` are one camera each when they hold whole videos,
    and together one camera when they hold single frames (lists of instances).
    """
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        return {_camera_name(path): [path]}
    subdirs = sorted(d for d in path.iterdir() if d.is_dir() and any(d.glob("*.json")))
    if subdirs:
        return {_camera_name(d): sorted(d.glob("*.json")) for d in subdirs}
    files = sorted(path.glob("*.json"))
    if not files:
        raise InputError(f"{path}: no {fmt} JSON files found; expected one sub-folder per camera "
                         f"holding the JSON files (e.g. {path}/cam01_json/*.json)")
    if fmt == "mmpose" and not _is_frame_file(files[0]):
        return {_camera_name(f): [f] for f in files}
    return {_camera_name(path): files}


def _is_frame_file(path: Path) -> bool:
    """True if an mmpose JSON holds one frame (a list of instances), not a whole video."""
    doc = _load_json(path)
    return isinstance(doc, list) and all(isinstance(d, dict) and "keypoints" in d and "image_id" not in d
                                         for d in doc)


def _camera_frames(files: list[Path], fmt: str) -> dict[int, list[np.ndarray]]:
    """Frame number -> people (list of (J, 3)) of one camera."""
    if fmt == "openpose":
        frames: dict[int, list[np.ndarray]] = {}
        n_joints = None
        for k, f in enumerate(files):
            people = _openpose_frame(f, n_joints)
            if len(people):
                n_joints = people.shape[1]
            num = _frame_number(f)
            frames[k if num is None else num] = list(people)
        return frames
    merged: dict[int, list[np.ndarray]] = {}
    for f in files:
        for fid, people in _mmpose_file(f).items():
            merged.setdefault(fid, []).extend(people)
    return merged


def read_keypoints(path: str | os.PathLike, format: str = "openpose", fps: float | None = None,
                   joint_set: str | None = None, tracking: TrackingParams | None = None) -> Keypoints2D:
    """Read 2D keypoints of all cameras into MV3D23: returns Keypoints2D with data (C, F, 23, 3).

    format: "openpose", "mmpose" or "h5". fps: the video rate (JSON files do not store it;
    default 30 with a warning). joint_set: the detector's joint set when its keypoint count
    is ambiguous or to override the guess. tracking: thresholds of the person selection.
    """
    path = Path(path)
    if format not in FORMATS:
        raise InputError(f"unknown keypoint format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "h5":
        kp = read_keypoints_h5(path)
        if fps is not None:
            kp.fps = float(fps)
        return kp
    if fps is None:
        log.warning("%s: frame rate unknown, assuming %g fps (pass fps=...)", path, DEFAULT_FPS)
        fps = DEFAULT_FPS

    per_camera = {cam: _camera_frames(files, format) for cam, files in _camera_inputs(path, format).items()}
    counts = {p.shape[0] for frames in per_camera.values() for people in frames.values() for p in people}
    if not counts:
        raise InputError(f"{path}: the JSON files hold no detected person in any frame of any camera")
    if len(counts) > 1:
        raise InputError(f"{path}: cameras use different joint sets ({sorted(counts)} keypoints); "
                         f"import them separately")
    n_joints = counts.pop()
    samples = np.stack([p for frames in per_camera.values() for people in frames.values() for p in people[:1]])
    source = _resolve_joint_set(n_joints, joint_set, samples, path)

    frame_numbers = np.array(sorted({f for frames in per_camera.values() for f in frames}), dtype=np.int64)
    slot = {f: i for i, f in enumerate(frame_numbers)}
    cameras = sorted(per_camera)
    data = np.full((len(cameras), len(frame_numbers), len(MV3D23), 3), np.nan)
    params = tracking or TrackingParams()
    for c, cam in enumerate(cameras):
        frames = per_camera[cam]
        n_people = max((len(p) for p in frames.values()), default=0)
        cands = np.zeros((len(frame_numbers), n_people, n_joints, 3))
        for f, people in frames.items():
            if people:
                cands[slot[f], :len(people)] = np.stack(people)
        chosen = select_person(convert_keypoints(cands, source), params)
        data[c] = chosen
        log.info("camera %s: %d frames, up to %d people, person found in %d frames", cam, len(frames),
                 n_people, int((chosen[..., 2] > 0).any(-1).sum()))
    data[..., 2] = np.nan_to_num(data[..., 2], nan=0.0)
    return Keypoints2D(data=data, cameras=cameras, frames=frame_numbers, fps=float(fps), source=source)


# ------------------------------------------------------------------ 2D keypoint files

def write_keypoints_h5(path: str | os.PathLike, kp: Keypoints2D) -> Path:
    """Write ``Keypoints2D`` to an HDF5 file (atomically; other arrays of the file are kept).

    Dataset ``keypoints2d`` (C, F, 23, 3) with attributes ``cameras``, ``joint_names``, ``fps``,
    ``source``; dataset ``keypoints2d_frames`` (F,) frame numbers; timestamps frames / fps.
    """
    path = Path(path)
    frames = np.asarray(kp.frames, dtype=np.int64)
    SessionStore(path).write_many({
        "keypoints2d": (kp.data, dict(cameras=list(kp.cameras), joint_names=list(kp.joint_names),
                                      fps=float(kp.fps), source=kp.source or "", units="px",
                                      timestamps=frames / float(kp.fps), time_axis=1)),
        "keypoints2d_frames": (frames, {}),
    })
    return path


def read_keypoints_h5(path: str | os.PathLike) -> Keypoints2D:
    """Read a file written by ``write_keypoints_h5`` back into ``Keypoints2D``."""
    store = SessionStore(path)
    names = store.names()
    if "keypoints2d" not in names:
        raise InputError(f"{path}: no 'keypoints2d' dataset; not a keypoint file written by mv3d")
    data = store.read("keypoints2d")
    attrs = store.attrs("keypoints2d")
    missing = [k for k in ("cameras", "joint_names", "fps") if k not in attrs]
    if missing:
        raise InputError(f"{path}: dataset 'keypoints2d' lacks the attribute(s) {', '.join(missing)}")
    frames = store.read("keypoints2d_frames") if "keypoints2d_frames" in names else np.arange(data.shape[1])
    return Keypoints2D(data=data, cameras=list(attrs["cameras"]), frames=frames, fps=float(attrs["fps"]),
                       joint_names=tuple(attrs["joint_names"]), source=attrs.get("source", ""))
