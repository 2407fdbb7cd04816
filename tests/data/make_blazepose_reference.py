"""Make tests/data/blazepose_reference.npz: inputs and the original TFLite runtime's outputs for the BlazePose
exactness test (tests/test_pose2d_blazepose_convert.py).

Development only: needs ai-edge-litert and the source .tflite files (see data/weights/blazepose.md), which are
not project dependencies. Run from the repository root:

    python tests/data/make_blazepose_reference.py --src DIR_WITH_TFLITE_FILES

Inputs are person crops and a letterboxed frame of the Pose2Sim demo videos (BSD-3-Clause, ../shared/data).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter

from mv3d.pose2d.blazepose.detection import INPUT_SIZE
from mv3d.pose2d.blazepose.estimator import BlazePose, crop_images
from mv3d.pose2d.blazepose.regions import letterbox_regions
from mv3d.video.frames import read_video

VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim-demo" / "videos"
#: heatmap channels kept in the file (nose, left shoulder, left hip, left ankle, left foot index, hip centre)
HEATMAP_CHANNELS = np.array([0, 11, 23, 27, 31, 33])


def run(model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the TFLite model for each input of x (N, H, W, 3) float32, stacked."""
    it = Interpreter(model_path=str(model), num_threads=1)
    it.allocate_tensors()
    outs: dict[str, list] = {}
    for xi in x:
        it.set_tensor(it.get_input_details()[0]["index"], xi[None])
        it.invoke()
        for d in it.get_output_details():
            outs.setdefault(d["name"], []).append(it.get_tensor(d["index"])[0])
    return {k: np.stack(v) for k, v in outs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("blazepose_reference.npz"))
    args = parser.parse_args()
    frames = [read_video(VIDEOS / f"{cam}.mp4")[2][i] for cam, i in (("cam01", 0), ("cam03", 50))]
    bp = BlazePose("heavy")
    regions = torch.cat([bp.regions_of(bp.detect([f])[0])[:1] for f in frames])
    crops, _ = crop_images(frames, regions, np.arange(2), 256, "replicate", torch.device("cpu"))
    crops = crops.permute(0, 2, 3, 1).numpy().astype(np.uint8)
    letterbox, _ = crop_images(frames[:1], letterbox_regions(frames[0].shape[1::-1], 1), np.zeros(1, int),
                               INPUT_SIZE, "zero", torch.device("cpu"))
    letterbox = letterbox.permute(0, 2, 3, 1).numpy().astype(np.uint8)
    ref = {"landmark_input": crops, "detector_input": letterbox, "heatmap_channels": HEATMAP_CHANNELS}
    for variant in ("heavy", "full"):
        out = run(next(args.src.rglob(f"pose_landmark_{variant}.tflite")), crops.astype(np.float32) / 255.0)
        ref[f"{variant}_landmarks"] = out["Identity"]
        ref[f"{variant}_presence"] = out["Identity_1"]
        ref[f"{variant}_heatmaps"] = out["Identity_3"][0, :, :, HEATMAP_CHANNELS]  # first crop, (6, 64, 64)
        ref[f"{variant}_world"] = out["Identity_4"]
    out = run(next(args.src.rglob("pose_detection.tflite")), letterbox.astype(np.float32) / 127.5 - 1.0)
    ref["detector_boxes"], ref["detector_scores"] = out["Identity"], out["Identity_1"]
    np.savez_compressed(args.out, **ref)
    print(args.out, args.out.stat().st_size / 1e6, "MB")


if __name__ == "__main__":
    main()
