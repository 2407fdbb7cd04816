"""Person detection with the BlazePose detector: SSD anchors, decoding and MediaPipe's weighted NMS.

Parameters from MediaPipe's ``pose_detection_cpu.pbtxt``: 224x224 letterboxed input scaled to [-1, 1]; 5 anchor
layers with strides 8, 16, 32, 32, 32 (layers of equal stride share a grid: 2254 anchors of size 1 on 28x28,
14x14 and 7x7 grids, centred in their cells); 12 regressed values per anchor (box centre x, y, width, height,
then 4 keypoints x, y, all in input pixels relative to the anchor centre); sigmoid scores clipped at +-100;
weighted non-maximum suppression at IoU 0.3. Keypoint 0 is the hip centre, 1 the point whose distance to it is
the radius of the circle around the body (both give the landmark region), 2 and 3 the same for the upper body.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
NMS_IOU = 0.3
SCORE_CLIP = 100.0


def ssd_anchors(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> Tensor:
    """Anchor centres (A, 2) in [0, 1] (x, y), in the order of the network's outputs.

    Layers with the same stride share one grid; each layer puts two anchors (aspect ratio 1 and the
    interpolated scale, both of fixed unit size) on every cell, cells scanned row by row.
    """
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = int(np.ceil(input_size / strides[i]))
        per_cell = 2 * (j - i)
        y, x = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
        grid = (torch.stack([x, y], -1).reshape(-1, 1, 2).double() + 0.5) / cells
        centres.append(grid.expand(-1, per_cell, -1).reshape(-1, 2))
        i = j
    return torch.cat(centres)


@dataclass
class Detections:
    """People found in one image, best first: boxes (P, 4) x, y, w, h, keypoints (P, 4, 2) and scores (P,),
    in image pixels."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def decode(raw_boxes: Tensor, raw_scores: Tensor, anchors: Tensor, input_size: int = INPUT_SIZE,
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Network outputs (N, A, 12), (N, A, 1) -> boxes (N, A, 4) xmin, ymin, xmax, ymax, keypoints (N, A, 4, 2)
    (both in [0, 1] of the letterboxed input) and scores (N, A) probabilities."""
    raw = raw_boxes.double() / input_size
    centre = raw[..., :2] + anchors
    half = raw[..., 2:4] / 2
    boxes = torch.cat([centre - half, centre + half], -1)
    keypoints = raw[..., 4:].reshape(*raw.shape[:-1], 4, 2) + anchors[:, None, :]
    scores = torch.sigmoid(raw_scores[..., 0].double().clamp(-SCORE_CLIP, SCORE_CLIP))
    return boxes, keypoints, scores


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with boxes (K, 4), both xmin, ymin, xmax, ymax."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression of one image's candidates.

    boxes (K, 4) corners, keypoints (K, P, 2), scores (K,). In order of score, the best remaining candidate and
    every remaining one overlapping it by IoU > ``threshold`` are merged into one detection: box corners and
    keypoints averaged with the scores as weights, the best score kept. Returns the merged (D, ...) arrays.
    """
    order = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s = [], [], []
    while order.size:
        best = order[0]
        overlap = iou(boxes[best], boxes[order]) > threshold
        group = order[overlap] if overlap.any() else order[:1]
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((keypoints[group] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[best])
        if not overlap.any():
            break  # MediaPipe stops when nothing was merged (only a degenerate best box can do that)
        order = order[~overlap]
    if not out_s:
        return np.zeros((0, 4)), np.zeros((0,) + keypoints.shape[1:]), np.zeros(0)
    return np.stack(out_b), np.stack(out_k), np.array(out_s)


def postprocess(raw_boxes: Tensor, raw_scores: Tensor, affine: Tensor, min_score: float,
                input_size: int = INPUT_SIZE) -> list[Detections]:
    """Detections per image from the detector's outputs (N, A, 12), (N, A, 1) and the letterbox crop -> image
    affines (N, 2, 3)."""
    anchors = ssd_anchors(input_size).to(raw_boxes.device)
    boxes, keypoints, scores = decode(raw_boxes, raw_scores, anchors, input_size)
    boxes, keypoints, scores = boxes.cpu().numpy(), keypoints.cpu().numpy(), scores.cpu().numpy()
    m = affine.cpu().numpy()
    results = []
    for i in range(len(scores)):
        keep = scores[i] >= min_score
        b, k, s = weighted_nms(boxes[i, keep], keypoints[i, keep], scores[i, keep])
        corners = (b.reshape(-1, 2, 2) * input_size) @ m[i, :, :2].T + m[i, :, 2]  # axis-aligned: no rotation
        kp = (k * input_size) @ m[i, :, :2].T + m[i, :, 2]
        xywh = np.concatenate([corners[:, 0], corners[:, 1] - corners[:, 0]], -1)
        results.append(Detections(xywh, kp, s))
    return results


def merge_detections(parts: list[Detections], threshold: float = NMS_IOU) -> Detections:
    """One image's detections from several windows (already in image pixels) as one set, best first: in order of
    score, a detection is dropped when its box overlaps a kept one by IoU > ``threshold`` (the same person seen in
    overlapping windows)."""
    boxes = np.concatenate([p.boxes for p in parts])
    keypoints = np.concatenate([p.keypoints for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], -1)
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not kept or (iou(corners[i], corners[kept]) <= threshold).all():
            kept.append(int(i))
    return Detections(boxes[kept], keypoints[kept], scores[kept])
