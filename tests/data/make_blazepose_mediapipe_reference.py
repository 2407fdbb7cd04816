"""Make tests/data/blazepose_mediapipe_reference.npz: what the original MediaPipe runtime finds on a few Pose2Sim
demo frames (its region from the detector and its image landmarks), for tests/test_pose2d_blazepose.py.

Development only, in an environment with mediapipe==0.10.21 (see benchmarks/bench_blazepose_reference.py for
the heavy model file); frames are read from ../shared/data/pose2sim-demo/videos (BSD-3-Clause) by OpenCV:

    python tests/data/make_blazepose_mediapipe_reference.py
"""
from __future__ import annotations

from pathlib import Path

import cv2
import mediapipe.python.solutions.pose as mp_pose
import numpy as np
from mediapipe.python.solution_base import SolutionBase

VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim-demo" / "videos"
FRAMES = (("cam01", 0), ("cam01", 30), ("cam03", 50), ("cam04", 80))


def read_frame(cam: str, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(VIDEOS / f"{cam}.mp4"))
    for _ in range(index + 1):
        ok, frame = cap.read()
    cap.release()
    return frame


def main() -> None:
    out = {"frames": np.array([f"{c}/{i}" for c, i in FRAMES])}
    for complexity, variant in ((1, "full"), (2, "heavy")):
        rois, landmarks = [], []
        for cam, index in FRAMES:
            image = read_frame(cam, index)
            h, w = image.shape[:2]
            graph = SolutionBase(
                binary_graph_path=mp_pose._BINARYPB_FILE_PATH,
                side_inputs={"model_complexity": complexity, "smooth_landmarks": False, "enable_segmentation": False,
                             "smooth_segmentation": False, "use_prev_landmarks": False},
                calculator_params={"posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": 0.5},
                outputs=["pose_landmarks", "pose_rect_from_detection"])
            res = graph.process({"image": np.ascontiguousarray(image[:, :, ::-1])})
            graph.close()
            roi = res.pose_rect_from_detection
            rois.append([roi.x_center * w, roi.y_center * h, roi.width * w, roi.rotation])
            landmarks.append([[p.x * w, p.y * h, p.visibility, p.presence] for p in res.pose_landmarks.landmark])
        out[f"{variant}_regions"] = np.array(rois)
        out[f"{variant}_landmarks"] = np.array(landmarks)
    path = Path(__file__).with_name("blazepose_mediapipe_reference.npz")
    np.savez_compressed(path, **out)
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
