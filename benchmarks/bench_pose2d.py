"""2D pose inference speed (frames/s) on CPU, batched, with and without flip test.

Single-person top-down: one crop per frame from a 1920x1080 BGR frame batch, through the same path as
``mv3d pose2d`` (crop with grid_sample, network, DARK decoding, back to image pixels).
Default: ResNet-18 and ResNet-50 SimpleBaseline at 192x256 and HRNet-W32 at 192x256, batch 8,
2 threads. ``--quick`` runs ResNet-18 only.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mv3d.pose2d import TopDownEstimator, build_model


def frames_per_second(name: str, flip: bool, batch: int = 8, repeats: int = 2, size=(192, 256)) -> float:
    """Frames per second over ``repeats`` timed batches after one warm-up batch."""
    est = TopDownEstimator(build_model(name), input_size=size, flip=flip)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (batch, 1080, 1920, 3), dtype=np.uint8)
    boxes = np.tile([800.0, 200.0, 300.0, 700.0], (batch, 1))
    est.estimate_frames(frames, boxes, mode="boxes")
    t0 = time.perf_counter()
    for _ in range(repeats):
        est.estimate_frames(frames, boxes, mode="boxes")
    return repeats * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="ResNet-18 only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = ["pose_resnet18"] if args.quick else ["pose_resnet18", "pose_resnet50", "hrnet_w32"]
    print(f"pose2d inference, CPU {args.threads} threads, batch {args.batch}, input 192x256, 1920x1080 frames")
    print(f"{'model':<16}{'flip':>6}{'frames/s':>12}")
    for name in names:
        for flip in (False, True):
            fps = frames_per_second(name, flip, args.batch, args.repeats)
            print(f"{name:<16}{str(flip):>6}{fps:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
