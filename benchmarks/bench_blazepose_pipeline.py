"""BlazePose (the default 2D model) in the pipeline: the Pose2Sim lab videos with no detections, volumetric against
algebraic triangulation on its heatmaps, whole-tracking speed against the original MediaPipe runtime, and the demo
with BlazePose against the demo network.

    python benchmarks/bench_blazepose_pipeline.py [--mediapipe-python PY] [--skip-demo]

1. ``mv3d run`` on a copy of ../shared/data/pose2sim-demo without its ``pose/`` folder (the 2D comes from the
   videos). The subject's OpenPose BODY_25B detections (the removed folder, read as mv3d imports them) are the
   reference: per-joint median distance of our 2D to them (and, with ``--mediapipe-python``, of the original
   MediaPipe solution's), and of our triangulated points reprojected into each camera (at the camera's own
   frame, through the sync offsets). Pose2Sim's own reconstruction from those detections reprojects with 10.2 px
   (its demo's figure); how close to OpenPose's own triangulated points a reconstruction must be to reproject
   within 12 px of them. Also our reprojection against our own 2D, the median bone-length CV, the IK marker RMS
   and the frames missing a lower-limb point.
2. The same keypoints triangulated algebraically, volumetrically on BlazePose's heatmaps, and volumetrically on
   Gaussians around the 2D points (time of the triangulation stage; the 2D stage's time with and without
   keeping the heatmaps, and their file size).
3. ms per frame of the whole tracking (crop, network, refinement, mapping; decoding apart) on cam01, next to the
   MediaPipe 0.10.21 solution (tracking mode, no smoothing) in the same run when ``--mediapipe-python`` names a
   Python that has it (not a project dependency; for heavy, ``pose_landmark_heavy.tflite`` must be copied into its
   ``mediapipe/modules/pose_landmark/``, as the wheel ships only lite and full). With it, also the whole job:
   ``mv3d pose2d`` on the four lab videos against the solution run in one process per core (decoding and
   start-up included), and on one-frame copies of the videos, which separates each tool's start-up from its
   cost per further camera-frame.
4. ``mv3d demo``'s session with BlazePose heavy and with the demo network (trained on the simulator's renders).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts: see pipelines/cli.py

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from calibration import load_rig  # noqa: E402
from mv3d.io.keypoints import read_keypoints  # noqa: E402
from mv3d.io.store import SessionStore  # noqa: E402
from mv3d.pose2d.blazepose import BlazePose  # noqa: E402
from mv3d.pose2d.blazepose.mapping import to_mv3d23  # noqa: E402
from mv3d.pose2d.blazepose.tracking import track_video  # noqa: E402
from mv3d.skeleton import JOINT_INDEX, MV3D23  # noqa: E402
from mv3d.triangulate.evaluation import bone_length_cv  # noqa: E402
from mv3d.video.frames import iter_batches, iter_frames, probe  # noqa: E402
from pipelines.run import run_session  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POSE2SIM = SHARED / "pose2sim-demo"
LOWER_LIMBS = [f"{s}_{j}" for s in "lr" for j in ("hip", "knee", "ankle", "heel", "big_toe", "small_toe")]
MIN_OPENPOSE_CONFIDENCE = 0.3


def run(session: Path, config: dict | None = None, **kwargs) -> tuple[dict, dict[str, float]]:
    """run_session's metrics and the seconds of each stage that ran."""
    seconds: dict[str, float] = {}

    def progress(stage, status: str, secs: float) -> None:
        if status == "ran":
            seconds[stage.name] = secs

    return run_session(session, config=config, progress=progress, **kwargs), seconds


def lab_copy(tmp: Path, name: str) -> Path:
    """The Pose2Sim lab session without its detections."""
    out = tmp / name
    shutil.copytree(POSE2SIM, out, ignore=lambda folder, _: ["pose"] if Path(folder) == POSE2SIM else [])
    for p in out.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return out


def shifted(openpose: np.ndarray, shift: int) -> np.ndarray:
    """OpenPose's detections (C, F, 23, 3) with their JSON k taken as our frame k + shift (missing where none)."""
    out = np.full_like(openpose, np.nan)
    out[..., 2] = 0.0
    if shift >= 0:
        out[:, shift:] = openpose[:, : openpose.shape[1] - shift]
    else:
        out[:, :shift] = openpose[:, -shift:]
    return out


def reprojected_offsets(session: Path, points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """3D points (F, 23, 3) at the times of ``session``'s points3d, projected into each camera (at the camera's
    own frame, through the session's sync offsets) minus OpenPose's detections ``reference`` (C, F, 23, 3):
    (C, F, 23, 2) pixels, NaN where OpenPose did not see the joint."""
    store = SessionStore(session / "mv3d" / f"{session.name}.h5")
    cams, times = list(store.attrs("keypoints2d")["cameras"]), store.timestamps("points3d")
    offsets, rates = store.read("sync_offsets"), store.read("sync_rates")
    seen = reference[..., 2] > MIN_OPENPOSE_CONFIDENCE
    proj = load_rig(session / "mv3d" / "calibration.toml").select(cams, in_order=True).project(points)
    out = np.full(proj.shape, np.nan)
    for c in range(len(cams)):
        src = np.rint((times - offsets[c]) * rates[c]).astype(int)
        ok = (src >= 0) & (src < reference.shape[1])
        out[c, ok] = np.where(seen[c, src[ok], :, None], proj[c, ok] - reference[c, src[ok], :, :2], np.nan)
    return out


def against_openpose(session: Path, reference: np.ndarray) -> dict:
    """Our 2D and our reprojected 3D against OpenPose's detections ``reference`` (C, F, 23, 3) (pixels): per
    camera, frame and joint, and the 3D points."""
    store = SessionStore(session / "mv3d" / f"{session.name}.h5")
    kp = store.read("keypoints2d")
    ref = reference[:, : kp.shape[1]]                              # cameras in the same (sorted) order
    d2d = kp[:, : ref.shape[1], :, :2] - ref[..., :2]
    d2d[~(ref[..., 2] > MIN_OPENPOSE_CONFIDENCE)] = np.nan
    points = store.read("points3d")
    d3d = reprojected_offsets(session, points, ref)
    return {"2d": np.linalg.norm(d2d, axis=-1), "reproj": np.linalg.norm(d3d, axis=-1), "reproj_xy": d3d,
            "points": points}


def goal_demands(ours: Path, theirs: Path, openpose: np.ndarray, seed: int = 0) -> None:
    """How close to the points triangulated from OpenPose's own detections (session ``theirs``) a reconstruction
    must be to reproject within 12 px of those detections: our points (session ``ours``, same times) moved part
    of the way towards OpenPose's, and OpenPose's points moved by a constant offset per joint in a random
    direction (the mean of 20 draws)."""
    store_ours, store_theirs = (SessionStore(s / "mv3d" / f"{s.name}.h5") for s in (ours, theirs))
    if not np.allclose(store_ours.timestamps("points3d"), store_theirs.timestamps("points3d")):
        raise RuntimeError("the two reconstructions of the lab session have different frame times")
    x_ours, x_theirs = store_ours.read("points3d"), store_theirs.read("points3d")
    apart_cm = 100 * np.linalg.norm(x_ours - x_theirs, axis=-1)

    def median_px(points: np.ndarray) -> float:
        return float(np.nanmedian(np.linalg.norm(reprojected_offsets(theirs, points, openpose), axis=-1)))

    print(f"   what the < 12 px goal asks: our points lie a median {np.nanmedian(apart_cm):.1f} cm from those "
          f"triangulated from OpenPose (by joint " + ", ".join(
              f"{name} {np.nanmedian(apart_cm[:, j]):.1f}" for j, name in enumerate(MV3D23) if name[0] != "r")
          + " cm; left side shown); reprojected against OpenPose:")
    print("     ours moved a fraction f of the way back to OpenPose's points: " + ", ".join(
        f"f={f:.1f} ({(1 - f) * np.nanmedian(apart_cm):.1f} cm) {median_px(x_ours + f * (x_theirs - x_ours)):.1f} px"
        for f in (0.0, 0.25, 0.5, 0.6, 0.75, 1.0)))
    rng = np.random.default_rng(seed)
    rows = []
    for cm in (1.0, 1.5, 2.0, 3.0, 4.0):
        draws = rng.normal(size=(20, 1, x_theirs.shape[1], 3))
        draws *= cm / 100 / np.linalg.norm(draws, axis=-1, keepdims=True)
        rows.append(f"{cm:.1f} cm {np.mean([median_px(x_theirs + d) for d in draws]):.1f} px")
    print("     OpenPose's points each moved by a constant offset (random direction, per joint): " + ", ".join(rows))


def without_constant_offsets(d: np.ndarray, fit: slice = slice(None)) -> np.ndarray:
    """Distances (C, F, J) of offsets d (C, F, J, 2) once each camera's and joint's median offset over the frames
    ``fit`` is removed (all frames: in-sample; a part: the rest of the frames are held out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # joints a camera never saw
        return np.linalg.norm(d - np.nan_to_num(np.nanmedian(d[:, fit], axis=1, keepdims=True)), axis=-1)


def lab_summary(label: str, metrics: dict, seconds: dict, ref: dict, store: SessionStore) -> None:
    lower = [JOINT_INDEX[n] for n in LOWER_LIMBS]
    missing = int((~np.isfinite(ref["points"][:, lower]).all(-1)).any(-1).sum())
    own = store.read("reprojection_errors")[store.read("views_used").astype(bool)]
    print(f"   {label}: reprojection vs OpenPose median {np.nanmedian(ref['reproj']):.1f} px (mean "
          f"{np.nanmean(ref['reproj']):.1f}); vs own 2D median {np.nanmedian(own):.1f} px (inlier views); bone-length "
          f"CV median {100 * np.nanmedian(bone_length_cv(ref['points'])):.2f} %; frames missing a lower-limb point "
          f"{missing}; IK marker RMS {metrics.get('ik_rms_marker_error_mm', float('nan')):.1f} mm; triangulation "
          f"{seconds.get('triangulation', float('nan')):.1f} s")


def section_lab(tmp: Path, python: str | None) -> None:
    print("\n1. Pose2Sim lab videos, no detections: mv3d run with the default model (blazepose_heavy)")
    openpose = read_keypoints(POSE2SIM / "pose", fps=60).data
    session = lab_copy(tmp, "lab")
    t0 = time.perf_counter()
    metrics, seconds = run(session)
    wall = time.perf_counter() - t0
    n_cam_frames = int(np.prod(SessionStore(session / "mv3d" / "lab.h5").read("keypoints2d").shape[:2]))
    print(f"   finished: {metrics['status']} in {wall:.0f} s; keypoints2d {seconds['keypoints2d']:.1f} s = "
          f"{1000 * seconds['keypoints2d'] / n_cam_frames:.0f} ms per camera-frame (decoding included, cameras in "
          f"parallel); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ref = against_openpose(session, openpose)
    print(f"   2D vs OpenPose: median {np.nanmedian(ref['2d']):.1f} px over all joints; per camera "
          + ", ".join(f"{np.nanmedian(ref['2d'][c]):.1f}" for c in range(len(ref['2d']))) + " px")
    shifts = {k: np.nanmedian(against_openpose(session, shifted(openpose, k))["2d"]) for k in (-2, -1, 0, 1, 2)}
    best = min(shifts, key=shifts.get)
    print("   2D vs OpenPose with its JSON k taken as our frame k + s: " + ", ".join(
        f"s={k:+d} {v:.1f} px" for k, v in shifts.items()) + f" (every camera alike: the files seem numbered "
          f"{best:+d} frame(s) from the videos)")
    aligned = against_openpose(session, shifted(openpose, best))
    print(f"   {'joint':12s} {'2D (px)':>8s} {'reproj (px)':>12s} {'aligned':>8s}")
    for j, name in enumerate(MV3D23):
        print(f"   {name:12s} {np.nanmedian(ref['2d'][..., j]):8.1f} {np.nanmedian(ref['reproj'][..., j]):12.1f} "
              f"{np.nanmedian(aligned['reproj'][..., j]):8.1f}")
    if python:
        original = original_runtime_2d(python, tmp / "mediapipe_lab.npz")
        d = np.linalg.norm(original[:, : openpose.shape[1], :, :2] - openpose[:, : original.shape[1], :, :2], axis=-1)
        d[~(openpose[:, : original.shape[1], :, 2] > MIN_OPENPOSE_CONFIDENCE)] = np.nan
        print(f"   the original MediaPipe 0.10.21 solution (heavy, tracking, no smoothing) on the same videos, 2D vs "
              f"OpenPose: median {np.nanmedian(d):.1f} px (per camera " + ", ".join(
                  f"{np.nanmedian(x):.1f}" for x in d) + "); hips " + ", ".join(
                  f"{np.nanmedian(d[..., JOINT_INDEX[n]]):.1f}" for n in ("l_hip", "r_hip")) + " px")
    lab_summary("algebraic (default)", metrics, seconds, ref, SessionStore(session / "mv3d" / "lab.h5"))
    print(f"   reprojection vs OpenPose, OpenPose aligned (s={best:+d}): median {np.nanmedian(aligned['reproj']):.1f} "
          f"px; with each camera's and joint's median offset removed (in-sample): "
          f"{np.nanmedian(without_constant_offsets(aligned['reproj_xy'])):.1f} px (the largest are where "
          f"BlazePose and OpenPose place joints differently: hips, face)")
    half = aligned["reproj_xy"].shape[1] // 2
    held_out = without_constant_offsets(aligned["reproj_xy"], slice(0, half))[:, half:]
    print(f"   the same offsets measured on the first {half} frames and removed from the others: "
          f"{np.nanmedian(aligned['reproj'][:, half:]):.1f} -> {np.nanmedian(held_out):.1f} px (an oracle: it needs "
          f"OpenPose's detections in each camera)")
    reference = tmp / "lab_openpose"
    shutil.copytree(POSE2SIM, reference)
    for p in reference.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    run(reference, stop="triangulation")
    own = against_openpose(reference, openpose)
    print(f"   for scale, mv3d on the OpenPose detections themselves: reprojection vs them median "
          f"{np.nanmedian(own['reproj']):.1f} px (per camera " + ", ".join(
              f"{np.nanmedian(own['reproj'][c]):.1f}" for c in range(len(own['reproj']))) + "); Pose2Sim's: 10.2 px")
    goal_demands(session, reference, openpose)
    section_volumetric(tmp, openpose, seconds["keypoints2d"])


def section_volumetric(tmp: Path, openpose, plain_2d_seconds: float) -> None:
    print("\n2. Volumetric against algebraic triangulation, same BlazePose keypoints")
    session = lab_copy(tmp, "lab_volumetric")
    store = SessionStore(session / "mv3d" / f"{session.name}.h5")
    heatmaps = session / "mv3d" / f"{session.name}_heatmaps2d.h5"
    volumetric = {"triangulation": {"method": "volumetric"}}
    metrics, seconds = run(session, volumetric)
    print(f"   keypoints2d keeping the heatmaps {seconds['keypoints2d']:.1f} s (without: {plain_2d_seconds:.1f} s in "
          f"section 1); heatmap file {heatmaps.stat().st_size / 1e6:.1f} MB (23 x 64 x 64 float16 per "
          f"camera-frame, gzip)")
    lab_summary("volumetric, BlazePose heatmaps", metrics, seconds, against_openpose(session, openpose), store)
    heatmaps.rename(heatmaps.with_suffix(".off"))
    metrics, seconds = run(session, volumetric, only=["triangulation", "augmentation", "scaling", "ik"], force=True)
    lab_summary("volumetric, Gaussians around the 2D points", metrics, seconds, against_openpose(session, openpose),
                store)
    metrics, seconds = run(session, None, only=["triangulation", "augmentation", "scaling", "ik"], force=True)
    lab_summary("algebraic, same keypoints", metrics, seconds, against_openpose(session, openpose), store)


_MEDIAPIPE = """
import sys, time, cv2, numpy as np
from mediapipe.python.solutions import pose as mp_pose
cap, frames = cv2.VideoCapture(sys.argv[1]), []
while len(frames) < int(sys.argv[3]):
    ok, f = cap.read()
    if not ok:
        break
    frames.append(np.ascontiguousarray(f[:, :, ::-1]))
with mp_pose.Pose(static_image_mode=False, model_complexity=int(sys.argv[2]), smooth_landmarks=False,
                  enable_segmentation=False) as pose:
    t = time.perf_counter()
    for f in frames:
        pose.process(f)
print(1000 * (time.perf_counter() - t) / len(frames))
"""


_MEDIAPIPE_LANDMARKS = """
import sys, cv2, numpy as np
from mediapipe.python.solutions import pose as mp_pose
tracks = {}
for path in sys.argv[2:]:
    cap, rows = cv2.VideoCapture(path), []
    with mp_pose.Pose(static_image_mode=False, model_complexity=2, smooth_landmarks=False,
                      enable_segmentation=False) as pose:
        ok, img = cap.read()
        while ok:
            h, w = img.shape[:2]
            found = pose.process(np.ascontiguousarray(img[:, :, ::-1])).pose_landmarks
            rows.append([(p.x * w, p.y * h, p.visibility) for p in found.landmark] if found else [[np.nan] * 3] * 33)
            ok, img = cap.read()
    tracks[str(len(tracks))] = np.asarray(rows, dtype=float)
np.savez(sys.argv[1], **tracks)
"""


def original_runtime_2d(python: str, out: Path) -> np.ndarray:
    """MediaPipe's own Pose solution (heavy) on each lab video, as MV3D23 keypoints (C, F, 23, 3) in pixels."""
    videos = sorted((POSE2SIM / "videos").glob("*.mp4"))
    subprocess.run([python, "-c", _MEDIAPIPE_LANDMARKS, str(out), *map(str, videos)], check=True,
                   capture_output=True)
    with np.load(out) as tracks:
        landmarks = [tracks[str(c)] for c in range(len(videos))]
    frames = min(len(x) for x in landmarks)
    return np.stack([to_mv3d23(x[:frames, :, :2], x[:frames, :, 2]) for x in landmarks])


def section_speed(python: str | None, frames: int = 60) -> None:
    print(f"\n3. Whole tracking on cam01 ({frames} frames, decoded beforehand), ms per frame; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine: compare within a row)")
    batches = []
    for idx, times, f in iter_batches(POSE2SIM / "videos" / "cam01.mp4", batch_size=8):
        batches.append((idx, times, f))
        if idx[-1] + 1 >= frames:
            break
    n = sum(len(b[0]) for b in batches)
    for variant, complexity in (("heavy", 2), ("full", 1)):
        bp = BlazePose(variant)
        rows: dict[str, list[float]] = {}
        for _ in range(2):  # alternate to average out the machine's load
            for threads in (1, 2):
                torch.set_num_threads(threads)
                start = time.perf_counter()
                track_video(bp, batches)
                rows.setdefault(f"mv3d {threads} thread(s)", []).append(1000 * (time.perf_counter() - start) / n)
            if python:
                out = subprocess.run([python, "-c", _MEDIAPIPE, str(POSE2SIM / "videos" / "cam01.mp4"),
                                      str(complexity), str(frames)], capture_output=True, text=True, check=True)
                rows.setdefault("MediaPipe 0.10.21", []).append(float(out.stdout.strip().splitlines()[-1]))
        means = {k: float(np.mean(v)) for k, v in rows.items()}
        ref = means.get("MediaPipe 0.10.21")
        print(f"   {variant:5s} " + "; ".join(f"{k} {v:.0f}" + (f" ({v / ref:.2f}x)" if ref else "")
                                         for k, v in means.items()))


_MEDIAPIPE_JOB = """
import sys, cv2, numpy as np
from mediapipe.python.solutions import pose as mp_pose
for path in sys.argv[1:]:
    cap = cv2.VideoCapture(path)
    with mp_pose.Pose(static_image_mode=False, model_complexity=2, enable_segmentation=False) as pose:
        ok, img = cap.read()
        while ok:
            pose.process(np.ascontiguousarray(img[:, :, ::-1]))
            ok, img = cap.read()
"""


def whole_job_seconds(python: str, videos: Path, out: Path) -> tuple[float, float]:
    """Wall seconds of following the subject through every video in ``videos`` (heavy) with ``mv3d pose2d``
    (cameras in parallel threads) and with MediaPipe's Pose solution (the videos split over one process per
    core)."""
    files = sorted(p for p in videos.iterdir() if p.suffix in (".mp4", ".avi"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from pipelines.cli import main; main()", "pose2d", "--videos",
                    str(videos), "--out", str(out)], check=True, capture_output=True)
    ours = time.perf_counter() - start
    workers = min(len(files), os.cpu_count() or 1)
    start = time.perf_counter()
    procs = [subprocess.Popen([python, "-c", _MEDIAPIPE_JOB, *map(str, files[k::workers])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in range(workers)]
    if any(p.wait() for p in procs):
        raise RuntimeError(f"{python} could not run MediaPipe's Pose solution with the heavy model")
    return ours, time.perf_counter() - start


def first_frame_clips(folder: Path) -> Path:
    """One-frame copies (MJPG) of the lab videos: timing them gives each tool's fixed start-up cost."""
    folder.mkdir()
    for video in sorted((POSE2SIM / "videos").glob("*.mp4")):
        frame = next(iter_frames(video))[2]
        writer = cv2.VideoWriter(str(folder / f"{video.stem}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 60.0,
                                 (frame.shape[1], frame.shape[0]))
        writer.write(frame)
        writer.release()
    return folder


def section_whole_job(python: str, tmp: Path) -> None:
    videos = sorted((POSE2SIM / "videos").glob("*.mp4"))
    frames = sum(probe(v).frame_count for v in videos)
    clips = first_frame_clips(tmp / "first_frames")
    whole, fixed = [], []
    for _ in range(2):  # alternated, to average out the machine's load
        whole.append(whole_job_seconds(python, POSE2SIM / "videos", tmp / "whole_job.h5"))
        fixed.append(whole_job_seconds(python, clips, tmp / "first_frames.h5"))
    (ours, theirs), (ours0, theirs0) = np.mean(whole, 0), np.mean(fixed, 0)
    per_ours, per_theirs = ((a - b) / (frames - len(videos)) for a, b in ((ours, ours0), (theirs, theirs0)))
    print(f"   whole job, heavy, {frames} camera-frames on {os.cpu_count()} cores, decoding included: mv3d pose2d "
          f"{ours:.1f} s ({1000 * ours / frames:.1f} ms per camera-frame), MediaPipe one process per core "
          f"{theirs:.1f} s ({1000 * theirs / frames:.1f} ms): {ours / theirs:.2f}x. Start-up (one frame per "
          f"camera) {ours0:.1f} s and {theirs0:.1f} s; each further camera-frame {1000 * per_ours:.1f} and "
          f"{1000 * per_theirs:.1f} ms: {per_ours / per_theirs:.2f}x")


def section_demo(tmp: Path) -> None:
    from calibration import save_rig
    from mv3d.simulate.session import SimulationConfig, simulate, write_session
    from pipelines.commands.run import DEMO_MOTION, DEMO_RIG, DEMO_SECONDS

    print("\n4. mv3d demo's session (simulated squat, 2 phones, rendered videos): 2D model on the videos")
    base = tmp / "demo"
    sim = simulate(SimulationConfig(motion=DEMO_MOTION, seconds=DEMO_SECONDS, rig=DEMO_RIG, seed=0))
    write_session(sim, base, video=True, calibration_writer=lambda r, folder: save_rig(r, folder, format="opencap"))
    for model in ("demo_synthetic", "blazepose_heavy", "blazepose_full"):
        session = tmp / f"demo_{model}"
        shutil.copytree(base, session)
        t0 = time.perf_counter()
        metrics, seconds = run(session, {"keypoints2d": {"source": "network", "model": model}})
        print(f"   {model:16s} total {time.perf_counter() - t0:5.0f} s (2D {seconds['keypoints2d']:5.1f} s); median "
              f"reprojection {metrics['median_reproj_px']:.1f} px; IK marker RMS "
              f"{metrics['ik_rms_marker_error_mm']:.1f} mm; lower-limb joint-angle RMSE vs truth "
              f"{metrics['lower_limb_rmse_deg']:.2f} deg; load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mediapipe-python", help="a Python with mediapipe==0.10.21, to time the original runtime")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    if not POSE2SIM.is_dir():
        sys.exit(f"shared data not found at {SHARED}")
    with tempfile.TemporaryDirectory() as tmp:
        section_lab(Path(tmp), args.mediapipe_python)
        section_speed(args.mediapipe_python)
        if args.mediapipe_python:
            section_whole_job(args.mediapipe_python, Path(tmp))
        if not args.skip_demo:
            section_demo(Path(tmp))


if __name__ == "__main__":
    main()
