"""BlazePose GHUM (Google MediaPipe, Apache-2.0) run in mv3d's own torch code: person detector, landmark network
(heavy/full), tracking through videos, MV3D23 keypoints. Weights: ``data/weights/blazepose_*.pt`` (fp16, converted
by ``convert.py``; model card ``data/weights/blazepose.md``).

    bp = BlazePose("heavy", device="cpu")
    kp, frames, extras = track_video(bp, mv3d.video.frames.iter_batches(path))
        # kp (F, 23, 3) MV3D23 x, y pixels, confidence; frames (F,); extras: landmarks (F, 39, 5),
        # pose_presence (F,), regions (F, 4), detected (F,), with heatmaps=True heatmaps (F, 23, 64, 64)
        # float16 (the MV3D23 joints' maps) and heatmap_to_image (F, 2, 3)
    [(kp, scores), ...] = bp.estimate_images(images, boxes=None)
        # per image (P, 23, 3) and (P,); with COCO boxes (P, 4) x, y, w, h: one result per box, no detection
    [detections, ...] = bp.detect(images)     # boxes (P, 4), keypoints (P, 4, 2), scores (P,) in pixels
    landmarks = bp.landmarks(images, regions, image_index)   # raw access by region (N, 4)

As an mv3d 2D model (the registry's ``blazepose_heavy``, ``blazepose_full``): ``family.BlazePoseEstimator``.
Images are numpy uint8 BGR (H, W, 3) arrays. Confidence is the geometric mean of the landmark's visibility and
its heatmap peak (``Landmarks.confidence``); the small toes, which BlazePose lacks, are derived
(``mapping.DERIVED_JOINTS``).
"""
from mv3d.pose2d.blazepose.detection import Detections
from mv3d.pose2d.blazepose.estimator import BlazePose, Landmarks
from mv3d.pose2d.blazepose.mapping import BLAZEPOSE_INDEX, DERIVED_JOINTS, derivation_text, to_mv3d23
from mv3d.pose2d.blazepose.tracking import TrackParams, track_video

__all__ = ["BLAZEPOSE_INDEX", "DERIVED_JOINTS", "BlazePose", "Detections", "Landmarks", "TrackParams",
           "derivation_text", "to_mv3d23", "track_video"]
