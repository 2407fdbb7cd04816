"""The original MediaPipe runtime on the shared COCO-WholeBody crops, for ``bench_blazepose.py``.

Not a project dependency: run it once in a separate environment with ``mediapipe==0.10.21`` (the wheel named in
data/weights/blazepose.md; copy ``pose_landmark_heavy.tflite`` from the npm package next to the wheel's
``pose_landmark_full.tflite`` in ``mediapipe/modules/pose_landmark/``, as the runtime would otherwise try to
download it), then pass the file it writes to ``bench_blazepose.py --reference``:

    python benchmarks/bench_blazepose_reference.py --out mediapipe_coco.npz

Each person box, padded by 25 % of its size on every side (clipped to the image), is cropped and given to
MediaPipe Pose in static-image mode (its own detector, then the landmark model; no smoothing). Landmarks are
stored in full-image pixels, NaN where MediaPipe found nobody. Also times the runtime on the crops.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

COCO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmpose-samples" / "coco-wholebody"
PAD = 0.25


def padded_crop(image: np.ndarray, box: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The box (x, y, w, h) padded by PAD on each side and clipped: (crop, its top-left corner (2,))."""
    x, y, w, h = box
    x0, y0 = int(max(0, np.floor(x - PAD * w))), int(max(0, np.floor(y - PAD * h)))
    x1 = int(min(image.shape[1], np.ceil(x + w + PAD * w)))
    y1 = int(min(image.shape[0], np.ceil(y + h + PAD * h)))
    return image[y0:y1, x0:x1], np.array([x0, y0], float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("mediapipe_coco.npz"))
    args = parser.parse_args()
    try:
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError:
        print("skipped: the original runtime (mediapipe==0.10.21) is not installed here; it is not a project "
              "dependency (bench_blazepose.py prints its recorded figures)")
        return
    coco = json.loads((COCO / "test_coco_wholebody.json").read_text())
    images = {im["id"]: cv2.imread(str(COCO / im["file_name"])) for im in coco["images"]}
    out = {"annotation_ids": np.array([a["id"] for a in coco["annotations"]])}
    for complexity, name in ((1, "full"), (2, "heavy")):
        result, seconds = [], 0.0
        with mp_pose.Pose(static_image_mode=True, model_complexity=complexity, enable_segmentation=False) as pose:
            for ann in coco["annotations"]:
                crop, corner = padded_crop(images[ann["image_id"]], ann["bbox"])
                t = time.perf_counter()
                found = pose.process(np.ascontiguousarray(crop[:, :, ::-1])).pose_landmarks
                seconds += time.perf_counter() - t
                lm = np.full((33, 4), np.nan)
                if found is not None:
                    h, w = crop.shape[:2]
                    lm = np.array([[p.x * w, p.y * h, p.visibility, p.presence] for p in found.landmark])
                    lm[:, :2] += corner
                result.append(lm)
        out[name] = np.stack(result)
        print(f"{name}: {np.isfinite(out[name][:, 0, 0]).sum()}/{len(result)} crops with a pose, "
              f"{1000 * seconds / len(result):.1f} ms per crop")
    np.savez(args.out, **out)


if __name__ == "__main__":
    main()
