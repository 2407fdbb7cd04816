"""IK speed (frames/s) and accuracy on 600 frames, 1 and 2 processes: the built-in model and LaiUhlrich2022.

Markers are generated from a known motion (OpenCap's squats1, the first 600 frames at
100 Hz; a synthetic motion when ../shared/data is absent) by forward kinematics, so the
IK should return the motion; the largest per-coordinate RMS error is printed with the speed.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ik.py [--frames 600]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPENCAP = DATA / "opencap"


def _motion(n_frames: int) -> tuple[np.ndarray, list[str], np.ndarray, bool]:
    """times (F,), columns, values (F, N) in degrees/metres, whether it is real motion."""
    from mv3d.io.mot import read_mot

    path = OPENCAP / "motions" / "squats1_videoAndMocap.mot"
    if path.exists():
        mot = read_mot(path)
        return mot.times[:n_frames], list(mot.columns), mot.values[:n_frames], True
    t = np.arange(n_frames) / 100.0
    cols = ["pelvis_tx", "pelvis_ty", "hip_flexion_r", "knee_angle_r", "hip_flexion_l", "knee_angle_l", "elbow_flex_r"]
    vals = np.stack([0.5 * t, 0.95 + 0.02 * np.sin(2 * t), 30 * np.sin(3 * t), 40 + 30 * np.sin(3 * t),
                     -30 * np.sin(3 * t), 40 - 30 * np.sin(3 * t), 50 + 20 * np.sin(2 * t)], axis=1)
    return t, cols, vals, False


def _case(label: str, model_path: Path, marker_sets: list[Path], weights: dict[str, float] | None,
          setup: Path | None, motion: tuple, work: Path, refine: bool) -> None:
    from mv3d.io.trc import write_trc
    from mv3d.kinematics.forward import forward_markers, mot_to_coordinates
    from mv3d.kinematics.ik import load_model_with_markers, solve_ik

    times, cols, vals, _ = motion
    model = load_model_with_markers(model_path, marker_sets)
    coords = mot_to_coordinates(model, cols, vals, True)
    t0 = time.perf_counter()
    pts, names = forward_markers(model, times, coords)
    fk = len(times) / (time.perf_counter() - t0)
    trc = work / f"{label}.trc"
    write_trc(trc, pts, names, times)
    for jobs in (1, 2):
        t0 = time.perf_counter()
        res = solve_ik(model_path, trc, setup=setup, weights=weights, marker_sets=marker_sets, n_jobs=jobs,
                       refine=refine)
        dt = time.perf_counter() - t0
        worst, worst_name = 0.0, ""
        for j, name in enumerate(res.coordinates):
            if name in coords and res.rotational[j]:
                rms = float(np.degrees(np.sqrt(np.mean((res.values[:, j] - coords[name]) ** 2))))
                if rms > worst:
                    worst, worst_name = rms, name
        print(f"{label:34s} jobs={jobs}  {len(times) / dt:7.1f} frames/s  ({dt:5.2f} s, {len(names)} markers; "
              f"forward {fk:6.0f} frames/s)  worst RMS {worst:.3f} deg ({worst_name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=600)
    args = parser.parse_args()
    from mv3d.kinematics import bodymodel as bm

    motion = _motion(args.frames)
    print(f"IK benchmark: {len(motion[0])} frames of {'squats1 (OpenCap)' if motion[3] else 'a synthetic motion'}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_path = bm.write_model(work, 1.75, 70.0)
        for refine in (False, True):
            _case(f"built-in ({'refine' if refine else 'OpenSim only'})", model_path, [], bm.marker_weights(),
                  None, motion, work, refine)
        lai = OPENCAP / "models" / "LaiUhlrich2022.osim"
        if lai.exists():
            markers = [OPENCAP / "models" / "LaiUhlrich2022_markers_augmenter.xml"]
            _case("LaiUhlrich2022 (OpenCap Setup_IK)", lai, markers, None, OPENCAP / "setup" / "Setup_IK.xml",
                  motion, work, False)
        else:
            print(f"LaiUhlrich2022 skipped: {lai} not found")


if __name__ == "__main__":
    main()
