"""What a 2D model family provides: the :class:`Estimator` interface, its results, and video reading.

An estimator turns BGR frames into MV3D23 keypoints (x, y in pixels of the original frame,
confidence). ``estimate_video`` follows one person through a video, each family tracking in its
own way (the top-down networks crop around the previous frame's keypoints; others may track their
own landmarks), and ``estimate_images`` finds people in single images: one result per given
person box, or every person it finds. Families are listed in :mod:`mv3d.pose2d.estimators`.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from mv3d.video.frames import FrameBatch, iter_batches, probe

#: A video: a file, or its frame batches (true indices (B,), times (B,) s, frames (B, H, W, 3) uint8 BGR).
Video = str | os.PathLike | Iterable[FrameBatch]


@dataclass(frozen=True)
class EstimatorOptions:
    """How to run a model: device (torch: cpu, cuda); batch_size: frames per batch of a video;
    flip: average with the mirrored image (None: the model's own setting); input_size: network
    input (width, height) (None: the model's own); arch: the architecture of an imported
    checkpoint (None: from the checkpoint)."""

    device: str = "cpu"
    batch_size: int = 8
    flip: bool | None = None
    input_size: tuple[int, int] | None = None
    arch: str | None = None


@dataclass
class VideoKeypoints:
    """One camera's person: keypoints (F, 23, 3) at the true frame indices ``frames`` (F,);
    optionally heatmaps (F, 23, h, w) with ``heatmap_to_image`` (F, 2, 3) affine maps from heatmap
    pixels (u, v, 1) to image pixels, for volumetric triangulation."""

    keypoints: np.ndarray
    frames: np.ndarray
    heatmaps: np.ndarray | None = None
    heatmap_to_image: np.ndarray | None = None


@dataclass
class PersonKeypoints:
    """One person in one image: keypoints (23, 3) MV3D23, the box (4,) x, y, w, h (COCO) they are in, and
    the model's score for the person (higher: more likely a person; for COCO results)."""

    keypoints: np.ndarray
    box: np.ndarray
    score: float


class Estimator(Protocol):
    """A 2D model ready to run. ``name`` says what made the keypoints (stored with them); ``derived``:
    the MV3D23 joints the model does not detect but derives from others, each with how (for reports)."""

    name: str
    batch_size: int
    derived: dict[str, str]

    def estimate_video(self, video: Video, boxes: np.ndarray | None = None, track: bool = True,
                       progress: bool = False, heatmaps: bool = False) -> VideoKeypoints:
        """The person in a video. boxes: (n, 4) x, y, w, h per frame index (NaN rows: nobody), else
        the estimator finds the person: tracked from frame to frame (``track``) or searched anew in
        every frame. heatmaps: also return the network's heatmaps with their heatmap -> image maps
        when the family has them (else they stay None and volumetric triangulation renders
        Gaussians around the keypoints)."""

    def estimate_images(self, images: Sequence[np.ndarray],
                        boxes: Sequence[np.ndarray | None] | None = None) -> list[list[PersonKeypoints]]:
        """People in images (H, W, 3) uint8 BGR: per image, one result per box of ``boxes[i]`` ((n, 4)
        x, y, w, h), or every person found when it has no boxes."""


def frame_batches(video: Video, batch_size: int, progress: bool) -> tuple[Iterable[FrameBatch], str]:
    """A video's frame batches and its name for messages: a file is decoded with true frame indices
    (``mv3d.video.frames.iter_batches``) behind a progress bar; batches are passed through."""
    if not isinstance(video, (str, os.PathLike)):
        return video, "frames"
    n = probe(video).frame_count
    batches = tqdm(iter_batches(video, batch_size=batch_size), desc=Path(video).name, unit="batch",
                   total=-(-n // batch_size) if n else None, disable=None if progress else True)
    return batches, str(video)
