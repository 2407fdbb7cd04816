"""2D pose inference speed (frames/s) on CPU, batched, with and without flip test.

Single-person top-down: one crop per frame from a 1920x1080 BGR frame batch, through the same path as
``mv3d pose2d`` (crop with grid_sample, network, DARK decoding, back to image pixels).
Default: ResNet-18 and ResNet-50 SimpleBaseline at 192x256 and HRNet-W32 at 192x256, batch 8,
2 threads. ``--quick`` runs ResNet-18 only.

``--eval-checkpoint CKPT`` instead scores a checkpoint on the 4 COCO-WholeBody sample images of
../shared/data (ground-truth boxes, the ``mv3d pose2d`` inference path): OKS AP for body, foot and
body+foot and PCK. ``--overfit`` first trains configs/pose2d/overfit_wholebody_samples.yaml (ResNet-18,
300 steps; ~1.5 min on 2 free cores, much longer on a busy machine) into a temp folder and scores it:
the learning check that is too slow for the test suite.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mv3d.pose2d import TopDownEstimator, build_model
from mv3d.pose2d.topdown import frames_to_tensor


def frames_per_second(name: str, flip: bool, batch: int = 8, repeats: int = 2, size=(192, 256),
                      ) -> tuple[float, float]:
    """(wall-clock frames/s, frames per second of process CPU time / threads) over ``repeats`` timed batches
    after one warm-up batch. On a shared machine the second figure estimates the speed with the cores free."""
    est = TopDownEstimator(build_model(name), input_size=size, flip=flip)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (batch, 1080, 1920, 3), dtype=np.uint8)
    boxes = np.tile([800.0, 200.0, 300.0, 700.0], (batch, 1))
    est.estimate_frames(frames, boxes, mode="boxes")
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        est.estimate_frames(frames, boxes, mode="boxes")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return repeats * batch / wall, repeats * batch / (cpu / torch.get_num_threads())


SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmpose-samples" / "coco-wholebody"


def evaluate_checkpoint(checkpoint: str, flip: bool = False) -> dict[str, float]:
    """OKS AP / PCK of a checkpoint on the COCO-WholeBody samples, through TopDownEstimator (GT boxes)."""
    import cv2

    from mv3d.pose2d import load_model
    from mv3d.pose2d.evaluate import evaluate_files

    model, config, _ = load_model(checkpoint)
    est = TopDownEstimator(model, input_size=tuple(config.get("input_size", (192, 256))), flip=flip)
    coco = json.loads((SAMPLES / "test_coco_wholebody.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    results = []
    for image_id, name in files.items():
        anns = [a for a in coco["annotations"] if a["image_id"] == image_id and not a.get("iscrowd", 0)]
        frame = cv2.imread(str(SAMPLES / name))
        boxes = np.array([a["bbox"] for a in anns], dtype=float)
        kp = est.estimate(frames_to_tensor(frame[None]), boxes, image_index=np.zeros(len(anns), int))
        for k in kp:
            results.append({"image_id": image_id, "category_id": 1, "keypoints": k.reshape(-1).tolist(),
                            "score": float(np.mean(k[:, 2]))})
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "results.json"
        pred.write_text(json.dumps(results))
        return evaluate_files(SAMPLES / "test_coco_wholebody.json", pred)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="ResNet-18 only")
    ap.add_argument("--eval-checkpoint", default=None, help="score this checkpoint on the COCO-WholeBody samples")
    ap.add_argument("--overfit", action="store_true", help="train the overfit config, then score it")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.overfit:
        from mv3d.config import load_config
        from mv3d.pose2d.train import Pose2DTrainConfig, train

        cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "pose2d" / "overfit_wholebody_samples.yaml",
                          Pose2DTrainConfig)
        cfg.data.train_annotations = str(SAMPLES / "test_coco_wholebody.json")
        cfg.data.train_images = str(SAMPLES)
        cfg.out_dir = tempfile.mkdtemp(prefix="mv3d_overfit_")
        t0 = time.perf_counter()
        r = train(cfg, resume=False)
        print(f"trained {r['step']} steps in {time.perf_counter() - t0:.0f} s: loss {r['loss']:.2e}, "
              f"PCK@0.05 {r['val_pck']:.4f}; log and curve in {cfg.out_dir}")
        args.eval_checkpoint = str(Path(cfg.out_dir) / "last.pt")
    if args.eval_checkpoint:
        for flip in (False, True):
            m = evaluate_checkpoint(args.eval_checkpoint, flip)
            print(f"{args.eval_checkpoint} (flip {flip}): " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
        return
    names = ["pose_resnet18"] if args.quick else ["pose_resnet18", "pose_resnet50", "hrnet_w32"]
    print(f"pose2d inference, CPU {args.threads} threads, batch {args.batch}, input 192x256, 1920x1080 frames")
    print(f"{'model':<16}{'flip':>6}{'frames/s':>12}{'frames/s (CPU time)':>22}")
    for name in names:
        for flip in (False, True):
            fps, fps_cpu = frames_per_second(name, flip, args.batch, args.repeats)
            print(f"{name:<16}{str(flip):>6}{fps:>12.2f}{fps_cpu:>22.2f}", flush=True)


if __name__ == "__main__":
    main()
