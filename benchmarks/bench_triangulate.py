"""Speed and accuracy of triangulation: robust algebraic (4, 8, 16 cameras), limb refinement, volumetric.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_triangulate.py [--frames 10000]

Motion: the real Gait2354 walk (../shared/data, 151 frames at 60 Hz) as MV3D23 joints with
constant bones, played back and forth to the requested length. Cameras: the 4 real
Human3.6M cameras (subject S1), and rings of 8 and 16 synthetic cameras (1000x1000 px,
f = 1150 px, 5 m away, alternating heights). 2D: 2 px noise, 10 % outliers of 50-300 px
with random confidence, 2 % of (camera, frame) pairs left/right swapped. Robust algebraic
runs its chunks of points in one thread per core (``RobustParams.threads``); a 100-frame
warm-up call precedes each timing.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def walk(frames: int) -> np.ndarray:
    """(frames, 23, 3) walk in a Z-up world centred at the origin."""
    from mv3d.io import read_trc
    from mv3d.triangulate.evaluation import skeleton_from_gait_markers

    trc = read_trc(SHARED / "opensim-gait2354" / "subject01_walk1.trc")
    joints = skeleton_from_gait_markers(trc.points, trc.marker_names)
    joints = joints @ np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T
    joints[..., :2] -= joints[..., :2].reshape(-1, 2).mean(0)
    loop = np.concatenate([joints, joints[::-1]])
    return np.concatenate([loop] * (frames // len(loop) + 1))[:frames]


def ring_rig(n: int):
    """n cameras on a 5 m circle looking at (0, 0, 1), heights alternating 1.0 / 2.2 m."""
    from mv3d.camera import Camera, CameraRig

    cams = []
    K = np.array([[1150.0, 0, 500], [0, 1150, 500], [0, 0, 1]])
    for i in range(n):
        a = 2 * np.pi * i / n
        c = np.array([5 * np.cos(a), 5 * np.sin(a), 1.0 if i % 2 else 2.2])
        z = np.array([0, 0, 1.0]) - c
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        cams.append(Camera(f"cam{i + 1:02d}", (1000, 1000), K, [-0.05, 0.01, 0, 0, 0], R, -R @ c))
    return CameraRig(cams)


def h36m_rig():
    from calibration import load_rig

    return load_rig(SHARED / "mmpose-samples" / "h36m" / "cameras.pkl", subject="S1")


def timed(fn):
    """(wall seconds, CPU seconds of this process, result). On a shared machine the CPU time
    is the honest figure; the wall time includes waiting for the cores."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def main() -> None:
    from mv3d.triangulate import reconstruct
    from mv3d.triangulate.algebraic import triangulate_dlt
    from mv3d.triangulate.evaluation import bone_length_cv, corrupt_keypoints, mpjpe
    from mv3d.triangulate.limbs import LimbParams, refine_with_limbs
    from mv3d.triangulate.robust import robust_triangulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--limb-frames", type=int, default=3_000)
    ap.add_argument("--volumetric-frames", type=int, default=8)
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"benchmark needs the reference data in {SHARED}")
    rng = np.random.default_rng(0)
    truth = walk(args.frames)
    F, J = truth.shape[:2]
    print(f"robust algebraic, {F} frames x {J} joints, 2 px noise, 10 % outliers, 2 % swaps")
    print(f"{'cameras':>8} {'ms/frame':>9} {'cpu ms/f':>9} {'MPJPE mm':>9} {'oracle mm':>9} {'naive mm':>9}")
    results = {}
    for name, rig in (("4 H36M", h36m_rig()), ("8 ring", ring_rig(8)), ("16 ring", ring_rig(16))):
        kp, cor = corrupt_keypoints(rig.project(truth), rng, 2.0, 0.1, swap_rate=0.02)
        robust_triangulate(rig, kp[:, :100])  # warm-up: first-call imports and allocations
        t, cpu, (X, used, err, swapped) = timed(lambda: robust_triangulate(rig, kp))
        good = ~cor.outlier & ~cor.swapped
        Xo = triangulate_dlt(rig, kp, weights=np.where(good, kp[..., 2], 0.0))[0]
        Xn = triangulate_dlt(rig, kp)[0]
        both = np.isfinite(X).all(-1) & np.isfinite(Xo).all(-1)
        results[name] = (rig, kp, X, used, swapped)
        print(f"{name:>8} {1e3 * t / F:9.4f} {1e3 * cpu / F:9.4f} {1e3 * mpjpe(X[both], truth[both]):9.2f} "
              f"{1e3 * mpjpe(Xo[both], truth[both]):9.2f} {1e3 * mpjpe(Xn, truth):9.1f}")

    rig, kp, X, used, swapped = results["4 H36M"]
    n = min(args.limb_frames, F)
    from mv3d.skeleton import FLIP_INDEX

    kp_fixed = kp.copy()
    kp_fixed[swapped] = kp[:, :, FLIP_INDEX][swapped]
    params = LimbParams(fps=60.0)
    t, cpu, Xl = timed(lambda: refine_with_limbs(rig, kp_fixed[:, :n], X[:n], used[:, :n], params=params))
    print(f"\nlimb-constrained refinement, 4 cameras, {n} frames: {1e3 * t / n:.2f} ms/frame "
          f"({1e3 * cpu / n:.2f} CPU); "
          f"MPJPE {1e3 * mpjpe(X[:n], truth[:n]):.2f} -> {1e3 * mpjpe(Xl, truth[:n]):.2f} mm; "
          f"bone CV median over bones {100 * np.nanmedian(bone_length_cv(X[:n])):.2f} % -> "
          f"{100 * np.nanmedian(bone_length_cv(Xl)):.3f} % (mean -> {100 * np.nanmean(bone_length_cv(Xl)):.3f} %)")

    m = args.volumetric_frames
    kv = kp[:, :m]
    t, cpu, rec = timed(lambda: reconstruct(rig, kv, method="volumetric"))
    t_alg, cpu_alg, alg = timed(lambda: reconstruct(rig, kv))
    print(f"\nvolumetric (CPU, product of rendered Gaussians, 12^3 voxels per level): "
          f"{1e3 * (t - t_alg) / m:.0f} ms/frame ({1e3 * (cpu - cpu_alg) / m:.0f} CPU) for 4 cameras x 23 joints; "
          f"MPJPE {1e3 * mpjpe(rec.points, truth[:m]):.2f} mm vs algebraic {1e3 * mpjpe(alg.points, truth[:m]):.2f} mm")


if __name__ == "__main__":
    main()
