"""Regions of interest of BlazePose: rotated squares in the image, their crops and the way back.

A region is (cx, cy, size, rotation): centre and side in image pixels, rotation in radians (MediaPipe's sign:
positive turns the crop's up axis clockwise in the image). The crop of a region to an s x s image maps crop
pixel (u, v) to ``centre + R(rotation) * size / s * ((u, v) - s / 2)``: MediaPipe's convention (OpenCV warps with
the region's corners on the crop's corners, pixel indices as coordinates), used both to sample the crop
(``estimator.crop_images``) and to bring the network's crop coordinates back to the image.

Regions come from two alignment points, as MediaPipe's ``AlignmentPointsRectsCalculator`` and
``RectTransformationCalculator`` (``pose_detection_to_roi`` / ``pose_landmarks_to_roi`` graphs) make them: the
centre is the first point (hip centre), the side 2 x 1.25 times its distance to the second (the radius of the
circle around the body), and the rotation turns the vector between them upright.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

#: Region side per distance between the two alignment points: 2 (diameter) x 1.25 (margin used in training).
ROI_SCALE = 2.5


def regions_from_alignment(center: Tensor, scale_point: Tensor) -> Tensor:
    """Regions (N, 4) from alignment points (N, 2) each, in image pixels."""
    d = scale_point - center
    size = ROI_SCALE * torch.linalg.norm(d, dim=-1)
    rotation = _normalize_angle(math.pi / 2 - torch.atan2(-d[:, 1], d[:, 0]))
    return torch.stack([center[:, 0], center[:, 1], size, rotation], -1)


def regions_from_boxes(boxes: np.ndarray | Tensor, scale: float) -> Tensor:
    """Upright square regions (N, 4) around COCO boxes (N, 4) x, y, w, h: centred, side ``scale`` x the long side."""
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64))
    size = scale * torch.maximum(b[:, 2], b[:, 3])
    return torch.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, size, torch.zeros_like(size)], -1)


def letterbox_regions(image_size: tuple[int, int], count: int) -> Tensor:
    """Regions (count, 4) covering a whole (w, h) image, padded to a square (the detector's letterbox)."""
    w, h = image_size
    return torch.tensor([[w / 2, h / 2, float(max(w, h)), 0.0]], dtype=torch.float64).repeat(count, 1)


#: The smallest detector window worth looking through, in image pixels (fewer cannot show a person).
MIN_WINDOW_SIDE = 64.0


def tile_regions(image_size: tuple[int, int], levels: tuple[float, ...], min_side: float = MIN_WINDOW_SIDE) -> Tensor:
    """Upright square windows (T, 4) over a (w, h) image: for each level, squares whose side is that fraction of
    the longer side, overlapping their neighbours by half and reaching both ends of each axis (an axis shorter
    than the side gets one window, centred and padded). Levels whose windows would be under ``min_side`` pixels
    are left out."""
    w, h = image_size
    out = []
    for level in levels:
        side = level * max(w, h)
        if side < min_side:
            continue
        starts = [_starts(length, side) for length in (w, h)]
        for y in starts[1]:
            for x in starts[0]:
                out.append([x + side / 2, y + side / 2, side, 0.0])
    return torch.tensor(out, dtype=torch.float64).reshape(-1, 4)


def _starts(length: float, side: float) -> np.ndarray:
    """Window starts along an axis of ``length`` pixels for windows of ``side`` pixels at a stride of half."""
    if side >= length:
        return np.array([(length - side) / 2])
    return np.unique(np.append(np.arange(0.0, length - side, side / 2), length - side))


def crop_to_image(regions: Tensor, crop_size: int) -> Tensor:
    """Affine maps (N, 2, 3) taking crop pixels (u, v, 1) of ``crop_size`` square crops to image pixels."""
    r = regions.to(torch.float64)
    s = r[:, 2] / crop_size
    c, sn = torch.cos(r[:, 3]) * s, torch.sin(r[:, 3]) * s
    a = torch.stack([torch.stack([c, -sn], -1), torch.stack([sn, c], -1)], -2)
    half = torch.full((2,), crop_size / 2, dtype=torch.float64)
    t = r[:, :2] - a @ half
    return torch.cat([a, t[:, :, None]], -1)


def refine_with_heatmaps(xy: Tensor, heatmaps: Tensor, kernel: int = 7, min_confidence: float = 0.5,
                         ) -> tuple[Tensor, Tensor]:
    """MediaPipe's landmark refinement (``RefineLandmarksFromHeatmapCalculator``, kernel 7): each landmark moves to
    the sigmoid-weighted mean cell of the kernel x kernel window of its heatmap around it, when the window's
    highest probability reaches ``min_confidence``.

    xy (N, J, 2) in crop pixels of a crop 4x the heatmap size; heatmaps (N, J, h, w) raw scores. Returns the
    refined (N, J, 2) in crop pixels and the window's highest probability (N, J) (0 outside the heatmap).
    MediaPipe's window tests (integer truncation of the heatmap cell, the column compared with both bounds) are
    kept so that results match the original runtime.
    """
    n, j, h, w = heatmaps.shape
    stride = 4.0
    col = torch.trunc(xy[..., 0] / stride).long()   # C++ float -> int conversion truncates towards zero
    row = torch.trunc(xy[..., 1] / stride).long()
    inside = (col >= 0) & (col < w) & (row >= 0) & (col < h)
    half = (kernel - 1) // 2
    offs = torch.arange(-half, half + 1, device=heatmaps.device)
    rows = row[..., None] + offs                     # (N, J, k)
    cols = col[..., None] + offs
    valid = ((rows >= 0) & (rows < h))[..., :, None] & ((cols >= 0) & (cols < w))[..., None, :]
    flat = heatmaps.reshape(n, j, h * w)
    idx = (rows.clamp(0, h - 1)[..., :, None] * w + cols.clamp(0, w - 1)[..., None, :]).reshape(n, j, -1)
    prob = torch.sigmoid(torch.gather(flat, 2, idx)).reshape(n, j, kernel, kernel) * valid
    total = prob.sum((-1, -2))
    peak = torch.where(inside, prob.amax((-1, -2)), torch.zeros_like(total))
    mean_row = (prob.sum(-1) * rows.to(prob.dtype)).sum(-1) / total.clamp_min(1e-12)
    mean_col = (prob.sum(-2) * cols.to(prob.dtype)).sum(-1) / total.clamp_min(1e-12)
    update = inside & (peak >= min_confidence) & (total > 0)
    refined = torch.stack([mean_col, mean_row], -1) * stride
    return torch.where(update[..., None], refined.to(xy.dtype), xy), peak


def _normalize_angle(a: Tensor) -> Tensor:
    """Angles in [-pi, pi)."""
    return a - 2 * math.pi * torch.floor((a + math.pi) / (2 * math.pi))
