"""Video benchmarks: decode speed (1080p, 720p), camera sync time (5 cameras x 10 s) and its
accuracy, optical-flow interpolation speed.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_video.py`` (about a minute on 2 cores).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def make_video(path: Path, size: tuple[int, int], n: int = 120, fps: float = 60.0) -> Path:
    """An mp4v test video: textured background with a moving textured block and sensor noise."""
    import cv2

    w, h = size
    rng = np.random.default_rng(0)
    bg = cv2.resize(rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
    block = rng.integers(0, 255, (h // 4, w // 8, 3), dtype=np.uint8)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for k in range(n):
        img = bg.copy()
        x = int((w - block.shape[1]) * (0.5 + 0.4 * np.sin(k / 15)))
        img[h // 3:h // 3 + block.shape[0], x:x + block.shape[1]] = block
        img = cv2.add(img, rng.integers(0, 6, img.shape, dtype=np.uint8))
        wr.write(img)
    wr.release()
    return path


def bench_decode(tmp: Path) -> None:
    from mv3d.video.frames import iter_batches

    for name, size in (("1080p", (1920, 1080)), ("720p", (1280, 720))):
        video = make_video(tmp / f"{name}.mp4", size)
        t0 = time.perf_counter()
        n = sum(len(b.indices) for b in iter_batches(video, batch_size=16))
        dt = time.perf_counter() - t0
        print(f"decode {name} (mp4v, streaming batches of 16): {n / dt:6.1f} frames/s ({n} frames)")
    real = SHARED / "pose2sim-demo" / "videos" / "cam03.mp4"
    if real.is_file():
        t0 = time.perf_counter()
        n = sum(len(b.indices) for b in iter_batches(real, batch_size=16))
        print(f"decode Pose2Sim demo 1088x1920 H.264: {n / (time.perf_counter() - t0):6.1f} frames/s")


def bench_sync() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_video_simdata import simulate_session

    from mv3d.video.sync import synchronize

    errors, times = [], []
    for seed, motion in ((31, "walk"), (32, "squat")):
        kp, rig, start, _ = simulate_session(motion, 5, seconds=10.0, seed=seed)
        t0 = time.perf_counter()
        res = synchronize(kp, 60.0, rig)
        times.append(time.perf_counter() - t0)
        errors.extend(np.abs(res.offsets - start)[1:] * 60.0)
        print(f"sync 5 cameras x 10 s ({motion}, with reprojection refinement): {times[-1]:.2f} s")
    errors = np.array(errors)
    print(f"sync error over {errors.size} offsets: median {np.median(errors):.3f} frame, "
          f"max {errors.max():.3f} frame")
    kp, rig, start, _ = simulate_session("walk", 5, seconds=10.0, seed=33)
    t0 = time.perf_counter()
    synchronize(kp, 60.0, None)
    print(f"sync 5 cameras x 10 s (correlation only): {time.perf_counter() - t0:.2f} s")


def bench_interpolation(tmp: Path) -> None:
    from mv3d.video.flow import FlowInterpolator
    from mv3d.video.frames import read_video

    real = SHARED / "pose2sim-demo" / "videos" / "cam01.mp4"
    video = real if real.is_file() else make_video(tmp / "interp.mp4", (1920, 1080), n=12)
    _, _, frames, _ = read_video(video)
    for scale in (0.5, 0.25):
        interp = FlowInterpolator(scale=scale)
        t0 = time.perf_counter()
        n = 0
        for k in range(0, 10):
            interp.interpolate(frames[k], frames[k + 1], [0.5])
            n += 1
        dt = time.perf_counter() - t0
        print(f"flow interpolation {frames.shape[2]}x{frames.shape[1]} (flow at scale {scale}): "
              f"{n / dt:5.2f} frames/s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_decode(Path(tmp))
        bench_sync()
        bench_interpolation(Path(tmp))


if __name__ == "__main__":
    main()
