"""Camera sync on periodic motions (treadmill running, gait, squats): error per camera.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_sync_periodic.py [--cache DIR] [--seconds 6]

Each case is simulated (``mv3d simulate`` without video: detections with noise, swaps, misses and
a passer-by, phones with their own start times, 59.94 fps clocks and dropped frames), read back
as the pipeline reads imported detections (one person per camera, left/right swaps undone) and
synchronised as the ``sync`` stage does (rig from the session's calibration, max offset 1 s).
Prints each camera's error against ``truth/offsets.yaml`` in frames (60 fps) and its confidence;
an error near a multiple of the stride (running ~48 frames) is a sync one stride away.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

# (motion, variant, rig, seed)
CASES = [("run", 1001, "opencap3", 8), ("run", 1001, "opencap2", 8), ("run", 1002, "opencap3", 3),
         ("run", 1003, "opencap3", 5), ("run", 1004, "opencap5", 11), ("run_fast", 1005, "opencap3", 2),
         ("run_slow", 1006, "opencap2", 4), ("gait", 1007, "opencap3", 6), ("gait_fast", 1008, "opencap2", 9),
         ("squat", 1009, "opencap3", 7), ("squat", None, "opencap2", 1)]


def make_session(motion: str, variant: int | None, rig: str, seed: int, seconds: float, out: Path) -> Path:
    """Simulated session folder (cached: reused when present)."""
    from calibration import save_rig
    from mv3d.simulate.session import SimulationConfig, simulate, write_session

    if not (out / "truth" / "offsets.yaml").exists():
        sim = simulate(SimulationConfig(motion=motion, variant=variant, rig=rig, seed=seed, seconds=seconds))
        write_session(sim, out, video=False, calibration_writer=lambda r, d: save_rig(r, d, format="opencap"))
    return out


def sync_session(root: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(cameras, estimated offsets s, true offsets s, confidence) of the session's first trial."""
    from calibration import load_rig
    from mv3d.triangulate.swaps import apply_swaps, find_swaps
    from mv3d.video.sync import SyncParams, synchronize
    from pipelines.session import discover_session

    session = discover_session(root)
    trial = next(iter(session.trials.values()))
    cams = trial.cameras
    fps = session.fps or 60.0
    kp = trial.read_detections(cams, "openpose", fps)
    kp = apply_swaps(kp, find_swaps(kp))
    rig = load_rig(session.calibration).select(cams, in_order=True)
    res = synchronize(kp, fps, rig=rig, cameras=rig.names, params=SyncParams(max_offset=1.0))
    truth = yaml.safe_load((root / "truth" / "offsets.yaml").read_text())
    return rig.names, res.offsets, np.array([truth[c] for c in rig.names]), res.confidence


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mv3d_bench_sync_periodic")
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    errors, n_stride = [], 0
    print(f"{'case':34s} {'camera':6s} {'error (frames)':>14s} {'confidence':>10s}")
    for motion, variant, rig, seed in CASES:
        name = f"{motion}_v{variant}_{rig}_s{seed}"
        t0 = time.perf_counter()
        root = make_session(motion, variant, rig, seed, args.seconds, args.cache / name)
        t1 = time.perf_counter()
        cams, est, true, conf = sync_session(root)
        t2 = time.perf_counter()
        for c in range(1, len(cams)):
            err = (est[c] - true[c]) * 60.0
            errors.append(abs(err))
            n_stride += abs(err) > 5
            print(f"{name:34s} {cams[c]:6s} {err:+14.2f} {conf[c]:10.2f}")
        print(f"{'':34s} (simulate {t1 - t0:.1f} s, sync {t2 - t1:.1f} s)")
    errors = np.array(errors)
    print(f"\n{errors.size} offsets: median |error| {np.median(errors):.3f} frames, "
          f"{np.mean(errors < 0.5) * 100:.0f} % within 0.5 frame, {n_stride} off by more than 5 frames")


if __name__ == "__main__":
    main()
