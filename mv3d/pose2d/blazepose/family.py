"""BlazePose as an mv3d 2D model (:class:`mv3d.pose2d.interface.Estimator`): the registry's ``blazepose_heavy``
(the default) and ``blazepose_full``.

Videos: one subject tracked per camera (``tracking.py``), or, when the person's boxes are given, each frame's box
read in box mode (two passes, no detector). Images: one result per given box, else every person the detector
finds. Heatmaps on request: the 23 MV3D joints' 64x64 maps (NaN for the derived small toes) with their
heatmap-cell -> image affine maps, for volumetric triangulation.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mv3d.errors import InputError
from mv3d.pose2d.blazepose.estimator import BlazePose
from mv3d.pose2d.blazepose.mapping import derivation_text, mv3d23_heatmaps
from mv3d.pose2d.blazepose.tracking import TrackParams, track_video
from mv3d.pose2d.interface import EstimatorOptions, PersonKeypoints, Video, VideoKeypoints, frame_batches
from mv3d.pose2d.topdown import keypoints_to_boxes


class BlazePoseEstimator:
    """BlazePose GHUM ``variant`` ("heavy" | "full") on ``options.device``; ``options.batch_size`` frames are
    decoded at a time (the landmark network runs frame by frame when tracking: each region comes from the
    previous frame)."""

    def __init__(self, variant: str, options: EstimatorOptions = EstimatorOptions()):
        self.model = BlazePose(variant, device=options.device)
        self.name = f"blazepose_{variant}"
        self.batch_size = options.batch_size
        self.derived = derivation_text()

    def estimate_video(self, video: Video, boxes: np.ndarray | None = None, track: bool = True,
                       progress: bool = False, heatmaps: bool = False) -> VideoKeypoints:
        """Keypoints (F, 23, 3) of the subject of a video at its true frame indices (F,); with ``heatmaps`` also
        (F, 23, 64, 64) float16 maps and (F, 2, 3) heatmap -> image affines (NaN where nobody was found).

        boxes: (n, 4) x, y, w, h per frame index (NaN rows, and frames >= n: nobody), else the subject is
        tracked (``track``) or detected anew in every frame.
        """
        batches, where = frame_batches(video, self.batch_size, progress)
        if boxes is None:
            kp, frames, extras = track_video(self.model, batches, TrackParams(detect_every_frame=not track),
                                             heatmaps, where)
            return VideoKeypoints(kp, frames, extras.get("heatmaps"), extras.get("heatmap_to_image"))
        parts = [self._boxed_batch(idx, frames, np.asarray(boxes, dtype=float), heatmaps, where)
                 for idx, _times, frames in batches]
        if not parts:
            raise InputError(f"{where}: the video yielded no frames; check that it is a readable, non-empty video")
        kp, index, maps, to_image = (np.concatenate(p) if p[0] is not None else None for p in zip(*parts))
        return VideoKeypoints(kp, index, maps, to_image)

    def _boxed_batch(self, idx: np.ndarray, frames: np.ndarray, boxes: np.ndarray, heatmaps: bool, where: str,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """One batch of frames with their boxes: keypoints (B, 23, 3), indices (B,), heatmaps and affines."""
        idx = np.asarray(idx)
        fb = np.full((len(idx), 4), np.nan)
        inside = idx < len(boxes)
        fb[inside] = boxes[idx[inside]]
        ok = np.flatnonzero(np.isfinite(fb).all(1))
        kp = np.full((len(idx), 23, 3), np.nan)
        kp[..., 2] = 0.0
        maps = np.full((len(idx), 23, 64, 64), np.nan, np.float16) if heatmaps else None
        to_image = np.full((len(idx), 2, 3), np.nan) if heatmaps else None
        if ok.size:
            try:
                lm = self.model.estimate_boxes(list(frames[ok]), fb[ok], np.arange(len(ok)), heatmaps)
            except InputError as exc:
                raise InputError(f"{where}, frames {int(idx[0])}-{int(idx[-1])}: {exc}") from exc
            kp[ok] = lm.mv3d23()
            if heatmaps:
                maps[ok] = mv3d23_heatmaps(lm.heatmaps)
                to_image[ok] = lm.heatmap_to_image
        return kp, idx, maps, to_image

    def estimate_images(self, images: Sequence[np.ndarray],
                        boxes: Sequence[np.ndarray | None] | None = None) -> list[list[PersonKeypoints]]:
        """Per image (H, W, 3) uint8 BGR: one person per box of ``boxes[i]`` ((n, 4) x, y, w, h; no detection),
        or every person the detector finds (box: around its confident keypoints); score: BlazePose's pose
        presence."""
        out = []
        for i, (kp, scores) in enumerate(self.model.estimate_images(images, boxes)):
            given = None if boxes is None or boxes[i] is None else np.asarray(boxes[i], dtype=float).reshape(-1, 4)
            found = keypoints_to_boxes(kp, min_conf=0.3) if given is None else given
            out.append([PersonKeypoints(k, b, float(s)) for k, b, s in zip(kp, found, scores)])
        return out
