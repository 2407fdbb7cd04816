"""Speed of marker augmentation: a 10,000-frame trial through the lower+upper LSTMs (target < 1 s on CPU).

Runs with OpenCap's v0.3 weights (4 and 5 LSTM layers of 128 units, the larger
case) when ../shared/data is present, and with mv3d's shipped weights when they
exist. Keypoints: forward kinematics of OpenCap's squat motion through
LaiUhlrich2022, repeated to 10,000 frames (60 Hz, ~2.8 min).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_augment.py [--frames 10000] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def trial_keypoints(n_frames: int) -> tuple[np.ndarray, list[str]]:
    """(F, 20, 3) OpenCap keypoints of the squat motion, repeated to n_frames."""
    from mv3d.augment.markers import OPENCAP_KEYPOINTS
    from mv3d.augment.synth import motion_coordinates, synthesis_model
    from mv3d.kinematics.forward import forward_markers

    models = SHARED / "opencap" / "models"
    model = synthesis_model(models / "LaiUhlrich2022.osim", [models / "LaiUhlrich2022_markers_openpose.xml"])
    times, coords = motion_coordinates(model, SHARED / "opencap" / "motions" / "squats1_videoAndMocap.mot", 60.0)
    pts, _ = forward_markers(model, times, coords, list(OPENCAP_KEYPOINTS))
    reps = int(np.ceil(n_frames / len(pts)))
    forth_back = np.concatenate([pts, pts[::-1]])  # continuous when repeated
    return np.tile(forth_back, (reps, 1, 1))[:n_frames], list(OPENCAP_KEYPOINTS)


def time_augmenter(label: str, augmenter, keypoints: np.ndarray, names: list[str], device: str, repeats: int) -> None:
    augmenter.to(device)
    augmenter.augment(keypoints[:200], names, 1.75, 70.0)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        markers, _ = augmenter.augment(keypoints, names, 1.75, 70.0)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        runs.append(time.perf_counter() - t0)
    med = statistics.median(runs)
    layers = "+".join(str(p.network.layers) for p in augmenter.parts)
    print(f"{label:<28} {len(keypoints):>6} frames  {layers} LSTM layers  median {med:.3f} s "
          f"(min {min(runs):.3f})  {len(keypoints) / med:,.0f} frames/s  {markers.shape[1]} markers  [{device}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from mv3d.augment.weights import DEFAULT_WEIGHTS, load_augmenter

    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the benchmark needs ../shared/data (OpenCap model and motion)")
    torch.set_grad_enabled(False)
    keypoints, names = trial_keypoints(args.frames)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    time_augmenter("OpenCap v0.3 (torch)", load_augmenter(f"opencap-v0.3:{SHARED / 'opencap' / 'augmenter'}"),
                   keypoints, names, args.device, args.repeats)
    for weights in (DEFAULT_WEIGHTS, DEFAULT_WEIGHTS.with_name("augmenter_mv3d_body.pt")):
        if weights.is_file():  # the built-in model's network is bidirectional (twice the work)
            time_augmenter(f"mv3d {weights.stem}", load_augmenter(weights), keypoints, names, args.device,
                           args.repeats)


if __name__ == "__main__":
    main()
