"""A complete synthetic session: motion -> cameras, clocks, 2D detections, videos, mocap, truth.

:func:`simulate` computes every array (no files); :func:`write_session` lays them out as an
OpenCap session folder plus a ``truth/`` folder holding what a pipeline should recover.
"""
from __future__ import annotations

import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import yaml

from mv3d.camera import CameraRig
from mv3d.errors import InputError
from mv3d.io import write_mot, write_trc
from mv3d.io.atomic import atomic_write
from mv3d.simulate.detections import DetectionNoise, detect, hidden_weight, project_keypoints, write_openpose
from mv3d.simulate.rigs import Board, check_visibility, default_board, make_rig, subject_pose
from mv3d.simulate.source import MotionSource, builtin_source, motion_source
from mv3d.simulate.timing import SessionTiming, TimingConfig, make_timing
from mv3d.skeleton import MV3D25

log = logging.getLogger(__name__)

_WALK_SPEED = 1.2  # m/s, the passer-by
_WALK_LENGTH = 5.0  # m of path across the scene
_WALK_BEHIND = 2.0  # m behind the subject (inside a 4 m lab ring, behind phones' subject)
_STREAMS = 5  # independent random streams: rig, clocks, detections, passer-by, JSON people order


@dataclass(frozen=True)
class SimulationConfig:
    """motion: built-in name or .mot/.trc path; seconds: duration (a file is trimmed to it);
    rig: built-in rig name (ignored when a CameraRig is passed to :func:`simulate`);
    resolution: short image side of built-in rigs (default 720 for phones, 1080 for lab rings;
    smaller values for tests);
    seed: every random draw derives from it; height (m), mass (kg): subject (built-in model);
    trial: trial name (default: the motion's name); motion_blur: sub-exposures per video frame;
    variant: a subject's own version of a built-in motion (None: the canonical one)."""

    motion: str = "squat"
    seconds: float | None = 10.0
    rig: str = "opencap3"
    resolution: int | None = None
    seed: int = 0
    height: float = 1.75
    mass: float = 70.0
    trial: str | None = None
    motion_blur: int = 1
    variant: int | None = None
    timing: TimingConfig = field(default_factory=TimingConfig)
    noise: DetectionNoise = field(default_factory=DetectionNoise)


@dataclass
class SimulatedSession:
    """Everything simulated, per camera c in rig order (N_c frames each):

    points3d[c]: (N_c, 25, 3) MV3D25 world (calibration frame) at the camera's frame times;
    truth2d[c]: (N_c, 23, 2) noise-free pixels; detections[c]: (N_c, 23, 3) noisy (x, y, conf);
    passerby3d[c] / passerby2d[c]: the second person (NaN where absent) or None;
    mocap: (M, K, 3) anatomical markers, OpenSim frame, at ``timing.mocap_times`` (None without).
    """

    config: SimulationConfig
    trial: str
    source: MotionSource
    rig: CameraRig
    board: Board | None
    timing: SessionTiming
    points3d: list[np.ndarray]
    truth2d: list[np.ndarray]
    detections: list[np.ndarray]
    passerby3d: list[np.ndarray | None]
    passerby2d: list[np.ndarray | None]
    mocap: np.ndarray | None
    mocap_names: list[str]
    unseen_cameras: list[str]


def _split(points: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    return np.split(points, np.cumsum(counts)[:-1])


def _passerby(source: MotionSource, model: Any, centre: np.ndarray, forward: np.ndarray, floor: float,
              times: np.ndarray, rng: np.random.Generator, R_to_opensim: np.ndarray) -> np.ndarray:
    """A second person marching across behind the subject (along the subject's left-right).

    centre, forward: the subject's (world); floor: OpenSim height of the floor.
    Returns (N, 25, 3) world points at ``times`` (N,), NaN outside the walk's time window.
    """
    duration = _WALK_LENGTH / _WALK_SPEED
    t0, t1 = source.times[0], source.times[-1]
    start = t0 + rng.uniform(0.0, max(t1 - t0 - duration, 0.0))
    walker = builtin_source("walk_in_place", max(duration, t1 - t0) + 0.1, model, rate=60.0)
    local = walker.keypoints_at(np.clip(times - start, 0, walker.times[-1]))  # OpenSim, feet at the origin
    c_os, f_os = R_to_opensim @ centre, R_to_opensim @ forward
    left = np.cross([0.0, 1.0, 0.0], f_os)
    heading = left if rng.random() < 0.5 else -left
    # Turn the walker (facing +X) about the vertical to face its heading: X -> (cos, 0, -sin).
    c, s = heading[0], -heading[2]
    Ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    along = (times - start) * _WALK_SPEED - _WALK_LENGTH / 2
    base = np.array([c_os[0], floor, c_os[2]]) - _WALK_BEHIND * f_os
    pts = local @ Ry.T + base + along[:, None, None] * heading
    pts[(times < start) | (times > start + duration)] = np.nan
    return pts @ R_to_opensim  # OpenSim -> world


def simulate(config: SimulationConfig, rig: CameraRig | None = None, model: Any = None,
             marker_files: tuple = ()) -> SimulatedSession:
    """Simulate a session.

    rig: a CameraRig (e.g. read from a calibration file), or None for the built-in ``config.rig``
    placed around the subject. model: None (built-in model) or an .osim path/opensim.Model.
    """
    board = default_board(config.rig) if rig is None else None
    R_os = board.R_to_opensim if rig is None else rig.R_to_opensim
    stand = board.stand_point() if rig is None else np.zeros(3)
    source = motion_source(config.motion, model, config.seconds, config.height, config.mass, marker_files,
                           stand_at=tuple(float(v) for v in stand), variant=config.variant)
    world = source.keypoints @ R_os  # OpenSim -> calibration world frame
    up = R_os.T @ np.array([0.0, 1.0, 0.0])
    seeds = np.random.SeedSequence(config.seed).spawn(_STREAMS)
    rng_rig, rng_time, rng_det, rng_walk = (np.random.default_rng(s) for s in seeds[:4])
    centre, forward = subject_pose(world, up)
    if rig is not None:
        check_rig(rig)
    else:
        resolution = config.resolution or (720 if config.rig.startswith("opencap") else 1080)
        rig = make_rig(config.rig, centre, forward, seed=int(rng_rig.integers(2**31)), resolution=resolution,
                       board=board)
    unseen = check_visibility(rig, world)

    timing = make_timing(rig.names, float(source.times[0]), float(source.times[-1]), config.timing, rng_time)
    counts = [len(c.times) for c in timing.cameras]
    all_times = np.concatenate([c.times for c in timing.cameras])
    points3d = _split(source.keypoints_at(all_times) @ R_os, counts)
    truth2d = project_keypoints(rig, [p[:, :23] for p in points3d])

    passer3d: list[np.ndarray | None] = [None] * len(rig)
    if config.noise.second_person and source.model is not None:
        passer3d = _split(_passerby(source, source.model, centre, forward, float(stand[1]), all_times, rng_walk,
                                    R_os), counts)
    elif config.noise.second_person:
        log.info("no model behind motion %s: no passer-by is simulated", source.name)

    detections, passer2d = [], []
    cam_rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(int(rng_det.integers(2**31))).spawn(len(rig))]
    for k, cam in enumerate(rig.cameras):
        hidden = hidden_weight(rig, k, points3d[k], config.noise.occlusion_depth)
        detections.append(detect(truth2d[k], hidden, cam.size, config.noise, cam_rngs[k]))
        if passer3d[k] is not None:
            p3 = passer3d[k]
            uv = project_keypoints(rig.subset([cam.name]), [p3[:, :23]])[0]
            present = np.isfinite(p3[:, 0, 0])
            det = np.full(uv.shape[:2] + (3,), np.nan)
            det[..., 2] = 0.0
            if present.any():
                det[present] = detect(uv[present], hidden_weight(rig, k, p3[present], config.noise.occlusion_depth),
                                      cam.size, config.noise, cam_rngs[k])
            passer2d.append(det)
        else:
            passer2d.append(None)

    mocap = source.mocap_at(timing.mocap_times) if source.mocap_names else None
    trial = config.trial or re.sub(r"[^\w.-]", "_", source.name)
    return SimulatedSession(config, trial, source, rig, board, timing, points3d, truth2d, detections,
                            passer3d, passer2d, mocap, list(source.mocap_names), unseen)


def _dump_yaml(path: Path, data: Any) -> None:
    with atomic_write(path, "w") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)


def camera_folders(rig: CameraRig) -> list[str]:
    """OpenCap folder name per camera: its own name when it is CamN, else Cam<index>."""
    return [c.name if re.fullmatch(r"Cam\d+", c.name) else f"Cam{i}" for i, c in enumerate(rig.cameras)]


def write_rig_toml(rig: CameraRig, path: str | os.PathLike) -> Path:
    """Pose2Sim TOML calibration: a table per camera (name, size [w, h], matrix, distortions
    [k1, k2, p1, p2] (+k3 only when non-zero), Rodrigues rotation, translation m), and a
    [metadata] table with R_to_opensim."""
    doc: dict = {}
    for cam in rig:
        dist = cam.dist if cam.dist[4] != 0 else cam.dist[:4]
        doc[cam.name] = {"name": cam.name, "size": [float(cam.size[0]), float(cam.size[1])],
                         "matrix": cam.K.tolist(), "distortions": [float(d) for d in dist],
                         "rotation": cam.rvec.tolist(), "translation": cam.t.tolist(), "fisheye": False}
    doc["metadata"] = {"adjusted": False, "error": 0.0, "R_to_opensim": rig.R_to_opensim.tolist(),
                       "written_by": "mv3d.simulate"}
    path = Path(path)
    with atomic_write(path, "w") as fh:
        fh.write(tomli_w.dumps(doc))
    return path


def write_truth(sim: SimulatedSession, out: str | os.PathLike) -> Path:
    """The ``truth/`` folder: rig.toml, keypoints3d.trc, coordinates.mot, offsets.yaml, timing.yaml,
    mocap.trc, detections/<camera>/ (OpenPose BODY_25B JSON) and truth2d.npz."""
    truth = Path(out) / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    write_rig_toml(sim.rig, truth / "rig.toml")
    cam0 = sim.timing.cameras[0]
    write_trc(truth / "keypoints3d.trc", sim.points3d[0], MV3D25, cam0.times, rate=cam0.fps,
              frame_numbers=cam0.frame_index + 1)
    if sim.source.mot_columns:
        write_mot(truth / "coordinates.mot", sim.source.times, sim.source.mot_values, sim.source.mot_columns,
                  in_degrees=sim.source.in_degrees, name=sim.trial)
    _dump_yaml(truth / "offsets.yaml", sim.timing.offsets())
    _dump_yaml(truth / "timing.yaml", {
        "cameras": {c.name: {"fps": float(c.fps), "first_frame_time": float(c.start), "frames": int(len(c.times)),
                             "dropped_frames": [int(i) for i in c.dropped]} for c in sim.timing.cameras},
        "mocap": {"rate": float(sim.config.timing.mocap_rate), "first_sample_time": float(sim.timing.mocap_times[0])},
        "note": "times are on the motion's clock (coordinates.mot); offsets.yaml is relative to the first camera",
    })
    if sim.mocap is not None:
        write_trc(truth / "mocap.trc", sim.mocap, sim.mocap_names, sim.timing.mocap_times, units="mm",
                  rate=sim.config.timing.mocap_rate)
    rng = np.random.default_rng(np.random.SeedSequence(sim.config.seed).spawn(_STREAMS)[4])  # people order
    for k, clock in enumerate(sim.timing.cameras):
        people = [sim.detections[k]] + ([sim.passerby2d[k]] if sim.passerby2d[k] is not None else [])
        write_openpose(truth / "detections" / clock.name, sim.trial, people, clock.frame_index, rng)
    arrays: dict[str, np.ndarray] = {"camera_names": np.array(sim.rig.names), "joint_names": np.array(MV3D25)}
    for k, clock in enumerate(sim.timing.cameras):
        arrays[f"times_{clock.name}"] = clock.times
        arrays[f"frames_{clock.name}"] = clock.frame_index
        arrays[f"xyz_{clock.name}"] = sim.points3d[k]
        arrays[f"uv_{clock.name}"] = sim.truth2d[k]
        arrays[f"detections_{clock.name}"] = sim.detections[k]
    with atomic_write(truth / "truth2d.npz", "wb") as fh:
        np.savez(fh, **arrays)
    return truth


def write_session(sim: SimulatedSession, out: str | os.PathLike, video: bool = True,
                  calibration_writer: Any = None) -> Path:
    """Write the OpenCap-layout session folder and ``truth/``.

    video: render the videos (``Videos/CamN/InputMedia/<trial>/<trial>.mp4``); the calibration
    board images (``CalibrationImages/calib_imgCamN.jpg``) are always rendered for built-in rigs
    (a rig read from a file has no known board).
    calibration_writer: ``f(rig, folder)`` writing ``CamN/cameraIntrinsicsExtrinsics.pickle``
    under ``Videos`` (the CLI passes ``calibration.save_rig``; mv3d does not import calibration).
    """
    import cv2

    from mv3d.simulate.render import Renderer, RenderStyle
    from mv3d.simulate.scene import board_image, room_background, write_video

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folders = camera_folders(sim.rig)
    rig_folders = CameraRig([c.__class__(f, c.size, c.K, c.dist, c.R, c.t) for f, c in zip(folders, sim.rig)],
                            sim.rig.R_to_opensim)
    if calibration_writer is not None:
        calibration_writer(rig_folders, out / "Videos")
    calib = out / "CalibrationImages"
    if sim.board is not None:
        calib.mkdir(exist_ok=True)
    centre = np.nanmean(sim.points3d[0][:, MV3D25.index("mid_hip")], axis=0)
    floor = float(sim.board.stand_point()[1]) if sim.board is not None else 0.0
    style = RenderStyle(motion_blur=sim.config.motion_blur, scale=sim.config.height / 1.75)

    def one_camera(k: int) -> None:
        cam, folder = sim.rig[k], folders[k]
        background = room_background(cam, centre, sim.rig.R_to_opensim, floor)
        if sim.board is not None:
            ok, jpg = cv2.imencode(".jpg", board_image(cam, sim.board, background, seed=sim.config.seed + k),
                                   [cv2.IMWRITE_JPEG_QUALITY, 95])
            with atomic_write(calib / f"calib_img{folder}.jpg", "wb") as fh:
                fh.write(jpg.tobytes())
        if video:
            target = out / "Videos" / folder / "InputMedia" / sim.trial
            target.mkdir(parents=True, exist_ok=True)
            renderer = Renderer(cam, background, style, seed=sim.config.seed + k)
            t0 = time.perf_counter()
            write_video(target / f"{sim.trial}.mp4", _frames(sim, k, renderer), sim.timing.cameras[k].fps, cam.size)
            log.info("camera %s: %d frames rendered and encoded in %.1f s", cam.name,
                     len(sim.timing.cameras[k].times), time.perf_counter() - t0)

    # OpenCV releases the GIL while drawing and encoding: one thread per camera uses the cores.
    with ThreadPoolExecutor(max_workers=max(1, min(len(sim.rig), os.cpu_count() or 1))) as pool:
        list(pool.map(one_camera, range(len(sim.rig))))
    _dump_yaml(out / "sessionMetadata.yaml", _metadata(sim, folders))
    write_truth(sim, out)
    return out


def _frames(sim: SimulatedSession, k: int, renderer, chunk: int = 32):
    """Rendered frames of camera k, in chunks (memory stays small)."""
    clock = sim.timing.cameras[k]
    blur = max(sim.config.motion_blur, 1)
    for s in range(0, len(clock.times), chunk):
        idx = slice(s, s + chunk)
        if blur > 1:  # sub-exposures over half a frame interval (1/120 s shutter at 60 fps)
            sub = (np.arange(blur) / (blur - 1) - 0.5) * 0.5 / clock.fps
            t = np.clip(clock.times[idx, None] + sub, sim.source.times[0], sim.source.times[-1])
            body = (sim.source.keypoints_at(t.ravel()) @ sim.rig.R_to_opensim).reshape(t.shape + (25, 3))
        else:
            body = sim.points3d[k][idx]
        persons = [body]
        if sim.passerby3d[k] is not None:
            p = sim.passerby3d[k][idx]
            persons.append(np.repeat(p[:, None], blur, axis=1) if blur > 1 else p)
        yield from renderer.render(persons, frame_seed=s)


def _metadata(sim: SimulatedSession, folders: list[str]) -> dict:
    """sessionMetadata.yaml with OpenCap's keys (defaultSessionMetadata.yaml)."""
    model = sim.source.model.getName() if sim.source.model is not None else "none"
    return {
        "calibrationSettings": {"overwriteDeployedIntrinsics": False, "saveSessionIntrinsics": False},
        "checkerBoard": (sim.board or Board()).metadata(),
        "gender_mf": "m",
        "height_m": float(sim.config.height),
        "iphoneModel": {f: ("iphone13,3" if re.fullmatch(r"Cam\d+", c.name) else "synthetic-lab-camera")
                        for f, c in zip(folders, sim.rig.cameras)},
        "markerAugmentationSettings": {"markerAugmenterModel": "LSTM"},
        "mass_kg": float(sim.config.mass),
        "openSimModel": model,
        "subjectID": f"simulated_{sim.trial}",
        "fps": float(sim.config.timing.fps),  # mv3d: the cameras' nominal rate, for sessions without video
        "simulation": {"motion": str(sim.config.motion), "seconds": sim.config.seconds, "seed": sim.config.seed,
                       "variant": sim.config.variant,
                       "trial": sim.trial, "cameras": dict(zip(folders, sim.rig.names)),
                       "noise": asdict(sim.config.noise), "timing": asdict(sim.config.timing)},
    }


def check_rig(rig: CameraRig) -> None:
    """InputError for a rig the simulator cannot render (zero-size images)."""
    for cam in rig:
        if cam.size[0] <= 0 or cam.size[1] <= 0:
            raise InputError(f"camera {cam.name} has image size {cam.size}; give a calibration with image sizes")


@dataclass
class NoiseAndTiming:
    """The settings of a simulation config file (``configs/simulate.yaml``, ``mv3d simulate --config``,
    loaded with ``mv3d.config.load_config``): the 2D detector's error model and the clocks."""

    noise: DetectionNoise = field(default_factory=DetectionNoise)
    timing: TimingConfig = field(default_factory=TimingConfig)
