"""Bundle adjustment speed and accuracy: 4 and 8 cameras x 1000 frames x 23 keypoints.

A synthetic walking person (calibration.synthetic.stick_figure) seen with 2 px noise and 2 % gross
outliers; every camera but the gauge perturbed by 3 deg and 10 cm; metric scale from the
subject's height. Prints wall and CPU time (the CPU time does not depend on other processes
sharing the machine) and the errors. Target: under 30 s on 2 cores.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_bundle.py [--frames 1000] [--cameras 4 8]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def run(n_cameras: int, n_frames: int, seed: int = 0) -> dict:
    from calibration.bundle import calibrate_from_keypoints
    from calibration.synthetic import observe, perturb, ring_rig, stick_figure

    rng = np.random.default_rng(seed)
    truth = ring_rig(n_cameras)
    person = stick_figure(n_frames)
    kp = observe(truth, person, noise_px=2.0, rng=rng, outlier_fraction=0.02)
    start = perturb(truth, rng, degrees=3.0, metres=0.10)
    t0, c0 = time.perf_counter(), time.process_time()
    res = calibrate_from_keypoints(start, kp, height=1.75)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"cameras": n_cameras, "frames": n_frames, "observations": int((kp[..., 2] > 0).sum()),
            "seconds": seconds, "cpu": cpu,
            "centre_err_cm": 100 * np.linalg.norm(res.rig.centers - truth.centers, axis=1).max(),
            "before_px": float(np.median(res.error_before)), "after_px": float(np.median(res.error_after)),
            "rounds": len(res.history) - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8])
    args = ap.parse_args()
    print(f"{'cameras':>7} {'frames':>6} {'observ.':>8} {'wall s':>7} {'CPU s':>6} {'max centre err cm':>18} "
          f"{'median px before':>16} {'after':>6}")
    for c in args.cameras:
        r = run(c, args.frames)
        print(f"{r['cameras']:>7} {r['frames']:>6} {r['observations']:>8} {r['seconds']:>7.1f} {r['cpu']:>6.1f} "
              f"{r['centre_err_cm']:>18.2f} {r['before_px']:>16.1f} {r['after_px']:>6.2f}")


if __name__ == "__main__":
    main()
