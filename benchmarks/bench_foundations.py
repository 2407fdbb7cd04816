"""Speed of the foundation pieces: TRC/MOT I/O, keypoint import, Butterworth, gap filling, resampling.

Run: PYTHONPATH=. .venv/bin/python benchmarks/foundations.py
Prints one line per measurement (best of a few repeats, wall-clock seconds).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from mv3d.io import read_keypoints, read_mot, read_trc, write_mot, write_trc
from mv3d.timeseries import butter_lowpass, fill_gaps, resample

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    frames, markers = 10_000, 43  # ~2.8 min at 60 Hz, the 43 augmented markers
    pts = np.cumsum(rng.normal(0, 1e-3, (frames, markers, 3)), axis=0)
    pts[rng.random((frames, markers)) < 0.01] = np.nan
    times = np.arange(frames) / 60
    names = [f"m{i}" for i in range(markers)]
    with tempfile.TemporaryDirectory() as tmp:
        trc = Path(tmp) / "big.trc"
        t_w = best_of(lambda: write_trc(trc, pts, names, times, units="mm"))
        t_r = best_of(lambda: read_trc(trc))
        print(f"TRC {frames} frames x {markers} markers: write {t_w:.2f} s, read {t_r:.2f} s "
              f"({frames / t_r:,.0f} frames/s read)")
        mot = Path(tmp) / "big.mot"
        vals = rng.normal(size=(frames, 40))
        cols = [f"q{i}" for i in range(40)]
        t_w = best_of(lambda: write_mot(mot, times, vals, cols))
        t_r = best_of(lambda: read_mot(mot))
        print(f"MOT {frames} frames x 40 columns: write {t_w:.2f} s, read {t_r:.2f} s")

    x = np.cumsum(rng.normal(size=(frames, 23, 3)), axis=0)
    t_b = best_of(lambda: butter_lowpass(x, 60.0, 6.0))
    xg = x.copy()
    for j in range(23):  # 20 gaps of 1-30 frames per joint
        for s in rng.integers(0, frames - 40, 20):
            xg[s:s + rng.integers(1, 31), j] = np.nan
    t_bg = best_of(lambda: butter_lowpass(xg, 60.0, 6.0))
    t_f = best_of(lambda: fill_gaps(xg, 10))
    new_t = np.arange(0, times[-1], 1 / 100)
    t_rs = best_of(lambda: resample(times, xg, new_t))
    print(f"butter_lowpass (10000, 23, 3): {1e3 * t_b:.1f} ms without gaps, {1e3 * t_bg:.1f} ms with "
          f"460 gaps; fill_gaps {1e3 * t_f:.1f} ms; resample 60->100 Hz {1e3 * t_rs:.1f} ms")

    pose = DATA / "pose2sim-demo" / "pose"
    if pose.exists():
        t_k = best_of(lambda: read_keypoints(pose, "openpose", fps=60))
        print(f"OpenPose import, Pose2Sim demo (4 cameras x 100 frames, 400 JSON, up to 3 people): "
              f"{t_k:.2f} s ({400 / t_k:,.0f} files/s)")
    else:
        print(f"OpenPose import: skipped, {pose} not found")


if __name__ == "__main__":
    main()
