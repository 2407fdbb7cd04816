"""Calibration files in and out: every format is read into one :class:`mv3d.camera.CameraRig`.

Read: Pose2Sim/Anipose TOML, OpenCap pickles (one file, or a session/folder of
``CamN/cameraIntrinsicsExtrinsics.pickle``), Qualisys ``.qca.txt``, Human3.6M
``cameras.pkl`` and CMU Panoptic ``calibration_*.json``. Write: TOML and OpenCap.
The world frame of the file is kept; which axis is up is recorded as the rig's
``R_to_opensim`` (see :mod:`calibration.frames`).
"""
from __future__ import annotations

import json
import logging
import pickle
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import tomli_w
import yaml
from scipy.spatial.transform import Rotation

from calibration.frames import R_YDOWN, R_ZUP, opencap_rotation, up_axis
from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from mv3d.io.safe_pickle import load_data_pickle
from mv3d.io.safe_yaml import load_yaml

log = logging.getLogger(__name__)

FORMATS = ("toml", "opencap", "qualisys", "h36m", "panoptic")
WRITABLE = ("toml", "opencap")
OPENCAP_FILES = ("cameraIntrinsicsExtrinsics.pickle", "cameraIntrinsics.pickle")
_OPENCAP_EXTRA_KEY = "mv3d_R_to_opensim"  # ignored by OpenCap, keeps the world's up axis


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


# --------------------------------------------------------------------------- detection
def detect_format(path: str | Path) -> str:
    """Name of the calibration format of ``path`` (one of FORMATS), from its name and content."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"calibration {path} does not exist")
    if path.is_dir():
        if _opencap_pickles(path):
            return "opencap"
        raise InputError(f"folder {path} holds no OpenCap calibration ({' or '.join(OPENCAP_FILES)} "
                         "under Videos/CamN/); give a calibration file instead")
    name = path.name.lower()
    if name.endswith(".toml"):
        return "toml"
    if name.endswith(".json"):
        return "panoptic"
    if name.endswith((".qca.txt", ".qca", ".xml")):
        return "qualisys"
    if name.endswith((".pickle", ".pkl")):
        data = load_pickle(path)
        if isinstance(data, dict) and data and all(isinstance(k, tuple) and len(k) == 2 for k in data):
            return "h36m"
        return "opencap"
    head = path.read_bytes()[:512].lstrip()
    if head.startswith(b"<"):
        return "qualisys"
    raise InputError(f"cannot tell the calibration format of {path}; expected .toml, .pickle/.pkl, "
                     ".qca.txt or .json")


def load_rig(path: str | Path, format: str | None = None, *, subject: str | None = None,
             camera_type: str = "hd", placement: str | None = None) -> CameraRig:
    """Read a calibration file (or OpenCap folder) into a CameraRig.

    format: one of FORMATS, detected when None. subject: Human3.6M subject ("S9"); required
    when the file holds several. camera_type: Panoptic camera type ("hd", "vga", "kinect-color").
    placement: OpenCap board placement ("backwall" or "ground") when no sessionMetadata.yaml
    says it (default "backwall", OpenCap's default).
    """
    path = Path(path)
    fmt = format or detect_format(path)
    readers = {"toml": lambda: read_toml(path), "opencap": lambda: read_opencap(path, placement=placement),
               "qualisys": lambda: read_qualisys(path), "h36m": lambda: read_h36m(path, subject=subject),
               "panoptic": lambda: read_panoptic(path, camera_type=camera_type)}
    if fmt not in readers:
        raise InputError(f"unknown calibration format {fmt!r}; use one of {FORMATS}")
    try:
        rig = readers[fmt]()
    except InputError as exc:
        if str(path) in str(exc):
            raise
        raise InputError(f"{path}: {exc}") from exc
    except (LookupError, TypeError, ValueError, AttributeError, ET.ParseError) as exc:  # malformed content
        raise InputError(f"{path}: cannot be read as a {fmt} calibration ({type(exc).__name__}: "
                         f"{str(exc)[:100]}); check the file against the format") from exc
    log.info("%s (%s): cameras %s, world up %s", path, fmt, ", ".join(rig.names), up_axis(rig.R_to_opensim) or "?")
    return rig


def save_rig(rig: CameraRig, path: str | Path, format: str | None = None) -> list[Path]:
    """Write ``rig`` as TOML (one file) or OpenCap (one pickle per camera). Returns the files written.

    format: "toml" or "opencap"; from the suffix when None (.toml, .pickle). For OpenCap,
    ``path`` is a folder that receives ``<camera>/cameraIntrinsicsExtrinsics.pickle`` per
    camera, or a ``.pickle`` file for a one-camera rig. Every file is written atomically.
    """
    path = Path(path)
    fmt = format or ("toml" if path.suffix == ".toml" else "opencap" if path.suffix == ".pickle" else None)
    if fmt == "toml":
        return [write_toml(rig, path)]
    if fmt == "opencap":
        return write_opencap(rig, path)
    raise InputError(f"cannot write calibration format {fmt!r} to {path}; use one of {WRITABLE}")


# --------------------------------------------------------------------------- TOML
def read_toml(path: Path) -> CameraRig:
    """Pose2Sim/Anipose TOML: one table per camera and an optional [metadata] table."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from exc
    meta = data.get("metadata", {})
    cams = []
    for key, table in data.items():
        if key == "metadata" or not isinstance(table, dict):
            continue
        for field in ("size", "matrix", "distortions", "rotation", "translation"):
            if field not in table:
                raise InputError(f"{path}: camera [{key}] has no '{field}'; a camera table needs "
                                 "size, matrix, distortions, rotation and translation")
        if table.get("fisheye", False):
            raise InputError(f"{path}: camera [{key}] is a fisheye model, which mv3d does not support")
        cams.append(Camera.from_rvec(str(table.get("name", key)), tuple(table["size"]), table["matrix"],
                                     table["distortions"], table["rotation"], table["translation"]))
    if not cams:
        raise InputError(f"{path} holds no camera table")
    R_os = np.asarray(meta["R_to_opensim"], dtype=float) if "R_to_opensim" in meta else R_ZUP
    return CameraRig(cams, R_os)


def write_toml(rig: CameraRig, path: Path) -> Path:
    """Pose2Sim TOML (distortions k1, k2, p1, p2; k3 kept only when non-zero) plus metadata."""
    doc: dict = {}
    for cam in rig:
        dist = cam.dist if cam.dist[4] != 0 else cam.dist[:4]
        doc[cam.name] = {
            "name": cam.name,
            "size": [float(cam.size[0]), float(cam.size[1])],
            "matrix": cam.K.tolist(),
            "distortions": [float(d) for d in dist],
            "rotation": cam.rvec.tolist(),
            "translation": cam.t.tolist(),
            "fisheye": False,
        }
    doc["metadata"] = {"adjusted": False, "error": 0.0, "R_to_opensim": rig.R_to_opensim.tolist(),
                       "up_axis": up_axis(rig.R_to_opensim), "written_by": "mv3d"}
    text = tomli_w.dumps(doc)
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return path


# --------------------------------------------------------------------------- OpenCap
def load_pickle(path: Path):
    """An OpenCap calibration pickle's content, read without running code (see
    :mod:`mv3d.io.safe_pickle`); InputError naming the file when unreadable or unsafe."""
    return load_data_pickle(path)


def _opencap_pickles(folder: Path) -> list[Path]:
    """Per-camera pickles of an OpenCap session, trial or Videos folder, in camera order."""
    for name in OPENCAP_FILES:
        found = sorted(folder.glob(f"**/{name}"), key=lambda p: _natural_key(str(p.relative_to(folder))))
        found = [p for p in found if "_soln" not in p.name]
        if found:
            return found
    return []


def _opencap_camera(path: Path, data, name: str) -> tuple[Camera, np.ndarray | None]:
    if not isinstance(data, dict):
        raise InputError(f"{path} is not an OpenCap calibration (a dict), got {type(data).__name__}")
    for key in ("intrinsicMat", "distortion", "imageSize"):
        if key not in data:
            raise InputError(f"{path} has no key '{key}'; an OpenCap calibration pickle needs intrinsicMat, "
                             "distortion and imageSize (and rotation, translation for extrinsics)")
    has_R, has_t = "rotation" in data, "translation" in data
    if has_R != has_t:
        missing = "translation" if has_R else "rotation"
        raise InputError(f"{path} has no key '{missing}'; extrinsics need both rotation and translation")
    rows, cols = (int(round(float(v))) for v in np.asarray(data["imageSize"]).ravel()[:2])
    R = np.asarray(data["rotation"], dtype=float) if has_R else np.eye(3)
    if R.shape == (3,) or R.shape == (3, 1):
        R = Rotation.from_rotvec(R.ravel()).as_matrix()
    t = np.asarray(data["translation"], dtype=float).ravel() / 1000.0 if has_t else np.zeros(3)
    cam = Camera(name, (cols, rows), data["intrinsicMat"], np.asarray(data["distortion"]).ravel(), R, t)
    R_os = data.get(_OPENCAP_EXTRA_KEY)
    return cam, (None if R_os is None else np.asarray(R_os, dtype=float))


def _opencap_placement(start: Path) -> str | None:
    """Board placement from the nearest sessionMetadata.yaml above ``start``, if any."""
    for folder in [start, *start.parents][:4]:
        meta = folder / "sessionMetadata.yaml"
        if meta.is_file():
            data = load_yaml(meta) or {}
            board = data.get("checkerBoard") if isinstance(data, dict) else None
            placement = board.get("placement") if isinstance(board, dict) else None
            return str(placement) if placement else None
    return None


def read_opencap(path: Path, placement: str | None = None) -> CameraRig:
    """An OpenCap pickle, or a folder with one ``CamN/cameraIntrinsicsExtrinsics.pickle`` per camera.

    Camera names are the folders holding the pickles (Cam0, Cam1, ...). Intrinsics-only
    pickles get identity extrinsics. The rotation to OpenSim follows OpenCap's rule for the
    board placement (sessionMetadata.yaml, else ``placement``, else back wall).
    """
    files = _opencap_pickles(path) if path.is_dir() else [path]
    if not files:
        raise InputError(f"no OpenCap calibration pickle under {path}")
    cams, stored = [], []
    for f in files:
        cam, R_os = _opencap_camera(f, load_pickle(f), f.parent.name or f.stem)
        cams.append(cam)
        stored.append(R_os)
    if stored[0] is not None:
        R_os = stored[0]
    else:
        where = _opencap_placement(files[0].parent)
        placement = where or placement or "backwall"
        upside_down = placement.lower().startswith("backwall") and cams[0].R[1, 1] < 0
        R_os = opencap_rotation(placement if placement.lower() != "backwall_largecb" else "backwall",
                                upside_down)
    return CameraRig(cams, R_os)


def _opencap_dict(cam: Camera, R_os: np.ndarray) -> dict:
    return {
        "intrinsicMat": cam.K.copy(),
        "distortion": cam.dist[None, :].copy(),
        "imageSize": np.array([[float(cam.size[1])], [float(cam.size[0])]]),
        "rotation": cam.R.copy(),
        "translation": (cam.t * 1000.0)[:, None],
        "rotation_EulerAngles": cam.rvec[:, None],
        _OPENCAP_EXTRA_KEY: R_os.copy(),
    }


def write_opencap(rig: CameraRig, path: Path) -> list[Path]:
    """One OpenCap ``cameraIntrinsicsExtrinsics.pickle`` per camera (translation in mm)."""
    if path.suffix == ".pickle":
        if len(rig) != 1:
            raise InputError(f"{path}: an OpenCap pickle holds one camera, the rig has {len(rig)}; "
                             "give a folder to write one pickle per camera")
        targets = [path]
    else:
        targets = [path / re.sub(r"[^\w.-]", "_", cam.name) / OPENCAP_FILES[0] for cam in rig]
    payloads = [pickle.dumps(_opencap_dict(cam, rig.R_to_opensim), protocol=4) for cam in rig]
    for target, payload in zip(targets, payloads):
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target, "wb") as fh:
            fh.write(payload)
    return targets


# --------------------------------------------------------------------------- Qualisys
def read_qualisys(path: Path) -> CameraRig:
    """Qualisys QTM ``.qca.txt`` (XML).

    Qualisys conventions: lengths in mm; ``transform`` holds the camera position (x, y, z)
    and its camera->world rotation stored column by column (r11, r12, r13 is its first
    column, i.e. the first row of world->camera), with camera axes x right, y up, z backwards
    (OpenCV's camera axes are those with y and z flipped); intrinsics
    are in sensor sub-pixels (1/64 pixel) with the origin at the top-left of the full sensor,
    so the principal point is shifted by the ``fov_video`` window's left/top and the image
    size is that window's. Distortion coefficients are divided by 64 like the principal point
    and focal length, which reproduces Pose2Sim's conversion of the same file
    (``Calib_qualisys.toml``). ``viewrotation`` (0/90/180/270, image rotated clockwise for
    display) turns the camera about its optical axis.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path} is not a Qualisys XML calibration: {exc}") from exc
    cams = []
    for i, node in enumerate(root.iter("camera")):
        name = node.get("serial") or f"cam{i + 1:02d}"
        tr, intr, fov = node.find("transform"), node.find("intrinsic"), node.find("fov_video")
        for tag, el in (("transform", tr), ("intrinsic", intr), ("fov_video", fov)):
            if el is None:
                raise InputError(f"{path}: camera {name!r} has no <{tag}> element")
        try:
            M = np.array([[float(tr.get(f"r{r}{c}")) for c in (1, 2, 3)] for r in (1, 2, 3)])
            centre = np.array([float(tr.get(a)) for a in "xyz"]) / 1000.0
            left, top = float(fov.get("left")), float(fov.get("top"))
            w = int(round(float(fov.get("right")) - left + 1))
            h = int(round(float(fov.get("bottom")) - top + 1))
            fu, fv = float(intr.get("focalLengthU")) / 64, float(intr.get("focalLengthV")) / 64
            cu, cv = float(intr.get("centerPointU")) / 64 - left, float(intr.get("centerPointV")) / 64 - top
            dist = np.array([float(intr.get(k)) for k in ("radialDistortion1", "radialDistortion2",
                             "tangentalDistortion1", "tangentalDistortion2", "radialDistortion3")]) / 64
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: camera {name!r} has a missing or non-numeric attribute ({exc})") from exc
        R = np.diag([1.0, -1.0, -1.0]) @ M  # world->camera, OpenCV axes
        K = np.array([[fu, 0.0, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]])
        cam = Camera(name, (w, h), K, dist, R, -R @ centre)
        rot = int(float(node.get("viewrotation", "0"))) % 360
        cams.append(rotate_image(cam, rot) if rot else cam)
    if not cams:
        raise InputError(f"{path} holds no <camera> element")
    return CameraRig(cams, R_ZUP)


def rotate_image(cam: Camera, degrees_cw: int) -> Camera:
    """The same camera seen through its image rotated clockwise by 90, 180 or 270 degrees.

    Rotates K, the image size, R (about the optical axis) and the tangential distortion
    (the vector (p2, p1) turns with the image); radial terms are unchanged.
    """
    if degrees_cw not in (90, 180, 270):
        raise InputError(f"camera {cam.name!r}: image rotation must be 90, 180 or 270 degrees, got {degrees_cw}")
    w, h = cam.size
    fx, fy, cx, cy = cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]
    # clockwise 90 deg: new pixel (u', v') = (h - 1 - v, u); normalised (x', y') = (-y, x)
    Q = {90: np.array([[0, -1], [1, 0]]), 180: -np.eye(2), 270: np.array([[0, 1], [-1, 0]])}[degrees_cw]
    if degrees_cw == 90:
        K, size = [[fy, 0, h - 1 - cy], [0, fx, cx], [0, 0, 1]], (h, w)
    elif degrees_cw == 180:
        K, size = [[fx, 0, w - 1 - cx], [0, fy, h - 1 - cy], [0, 0, 1]], (w, h)
    else:
        K, size = [[fy, 0, cy], [0, fx, w - 1 - cx], [0, 0, 1]], (h, w)
    Rz = np.eye(3)
    Rz[:2, :2] = Q
    q = Q @ np.array([cam.dist[3], cam.dist[2]])
    dist = np.array([cam.dist[0], cam.dist[1], q[1], q[0], cam.dist[4]])
    return Camera(cam.name, size, K, dist, Rz @ cam.R, Rz @ cam.t)


# --------------------------------------------------------------------------- Human3.6M
def h36m_tangential_to_opencv(p: np.ndarray, f: np.ndarray, c: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV (p1, p2) closest to Human3.6M's tangential model over the image.

    Human3.6M distorts normalised (x, y) by ``tan = p1*y + p2*x`` added to the radial factor
    and ``(p2, p1) * r^2`` added, i.e. dx = p1 x y + p2 (r^2 + x^2), dy = p1 (r^2 + y^2) + p2 x y,
    while OpenCV has dx = 2 P1 x y + P2 (r^2 + 2x^2), dy = P1 (r^2 + 2y^2) + 2 P2 x y.
    The two differ in form, so (P1, P2) is the least-squares fit of the displacement over a
    grid covering the image (residual well under 0.1 px for the Human3.6M cameras).
    """
    w, h = size
    u, v = np.meshgrid(np.linspace(0, w, 21), np.linspace(0, h, 21))
    x, y = ((u - c[0]) / f[0]).ravel(), ((v - c[1]) / f[1]).ravel()
    r2 = x * x + y * y
    target = np.concatenate([p[0] * x * y + p[1] * (r2 + x * x), p[0] * (r2 + y * y) + p[1] * x * y])
    A = np.concatenate([np.stack([2 * x * y, r2 + 2 * x * x], 1), np.stack([r2 + 2 * y * y, 2 * x * y], 1)])
    return np.linalg.lstsq(A, target, rcond=None)[0]


def read_h36m(path: Path, subject: str | None = None) -> CameraRig:
    """Human3.6M ``cameras.pkl`` as distributed by mmpose: {(subject, camera_id): params}.

    R is camera->world and T the camera centre (metres), so x_cam = R.T (X - T); f, c pixels;
    k three radial and p two tangential coefficients mapped to OpenCV (k1, k2, p1, p2, k3),
    see :func:`h36m_tangential_to_opencv`. World frame: Z up (feet near z = 0).
    """
    data = load_pickle(path)
    subjects = sorted({s for s, _ in data}, key=_natural_key)
    if subject is None:
        if len(subjects) > 1:
            raise InputError(f"{path} holds {len(subjects)} subjects ({', '.join(subjects)}); "
                             "choose one with subject=... (CLI: --subject)")
        subject = subjects[0]
    keys = sorted((k for k in data if k[0] == subject), key=lambda k: _natural_key(k[1]))
    if not keys:
        raise InputError(f"{path} has no subject {subject!r}; it holds {', '.join(subjects)}")
    cams = []
    for key in keys:
        p = data[key]
        missing = [f for f in ("R", "T", "f", "c", "k", "p", "w", "h") if f not in p]
        if missing:
            raise InputError(f"{path}: camera {key} has no key '{missing[0]}'")
        f, c = np.ravel(p["f"]).astype(float), np.ravel(p["c"]).astype(float)
        k, tp = np.ravel(p["k"]).astype(float), np.ravel(p["p"]).astype(float)
        size = (int(p["w"]), int(p["h"]))
        p_cv = h36m_tangential_to_opencv(tp, f, c, size)
        R = np.asarray(p["R"], dtype=float).T
        T = np.ravel(p["T"]).astype(float)
        K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
        cams.append(Camera(str(key[1]), size, K, [k[0], k[1], p_cv[0], p_cv[1], k[2]], R, -R @ T))
    return CameraRig(cams, R_ZUP)


# --------------------------------------------------------------------------- Panoptic
def read_panoptic(path: Path, camera_type: str = "hd") -> CameraRig:
    """CMU Panoptic ``calibration_<seq>.json``: K, distCoef (k1, k2, p1, p2, k3), R, t (cm), world->camera.

    camera_type selects "hd" (default), "vga", "kinect-color" or "all". World frame: Y down.
    """
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "cameras" not in data:
        raise InputError(f"{path} has no key 'cameras'; expected a CMU Panoptic calibration json")
    cams = []
    for i, c in enumerate(data["cameras"]):
        if camera_type != "all" and c.get("type") != camera_type:
            continue
        name = str(c.get("name", f"cam{i}"))
        missing = [k for k in ("K", "distCoef", "R", "t", "resolution") if k not in c]
        if missing:
            raise InputError(f"{path}: camera {name!r} has no key '{missing[0]}'")
        cams.append(Camera(name, tuple(c["resolution"]), c["K"], c["distCoef"], c["R"],
                           np.ravel(c["t"]).astype(float) / 100.0))
    if not cams:
        types = sorted({str(c.get("type")) for c in data["cameras"]})
        raise InputError(f"{path} has no camera of type {camera_type!r}; types present: {', '.join(types)}")
    return CameraRig(cams, R_YDOWN)
