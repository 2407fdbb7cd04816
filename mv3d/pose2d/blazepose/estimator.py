"""BlazePose inference in torch: person detection, landmark regions, crops, the landmark network, image landmarks.

Images and frames are numpy uint8 BGR arrays (H, W, 3), as OpenCV reads them. Landmarks come back in image
pixels with MediaPipe's post-processing: visibility and presence are sigmoids of the network's logits, x and y
refined with the heatmaps (kernel 7) unless ``refine=False``. A keypoint's confidence combines visibility and
heatmap peak (``Landmarks.confidence``). A person's region is a rotated square (see
``regions.py``); its crop goes through the network at 256x256.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from mv3d.errors import InputError
from mv3d.pose2d.blazepose.detection import INPUT_SIZE as DETECTOR_INPUT, Detections, merge_detections, postprocess
from mv3d.pose2d.blazepose.mapping import to_mv3d23
from mv3d.pose2d.blazepose.networks import NUM_LANDMARKS, load_network
from mv3d.pose2d.blazepose.regions import (crop_to_image, letterbox_regions, refine_with_heatmaps,
                                           regions_from_alignment, regions_from_boxes, tile_regions)
from mv3d.pose2d.topdown import apply_affine, check_boxes

LANDMARK_INPUT = 256
VARIANTS = ("heavy", "full", "lite")
#: The auxiliary landmarks (hip centre, body-scale point) that give the next region.
ALIGNMENT = (33, 34)
#: The body landmarks (the others are auxiliary).
NUM_BODY_LANDMARKS = 33
#: Detector windows, as fractions of the image's longer side (halved at each level), coarse to fine.
TILE_LEVELS = (0.5, 0.25)
#: A landmark set lies on a person when its median distance to the person's skeleton is below this fraction of
#: the person's size.
SAME_PERSON = 0.1
#: Segments between BlazePose landmarks that draw a person: face to shoulders, arms, torso, legs and feet.
SKELETON = np.array([(0, 7), (0, 8), (0, 11), (0, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23),
                     (12, 24), (23, 24), (23, 25), (25, 27), (24, 26), (26, 28), (27, 29), (29, 31), (27, 31),
                     (28, 30), (30, 32), (28, 32)])


@dataclass
class Landmarks:
    """Landmark-network results for N regions.

    xy (N, 39, 2) image pixels (33 BlazePose landmarks, then the 6 auxiliary ones: 33 hip centre, 34 body-scale
    point); visibility, presence (N, 39) probabilities; heatmap_peak (N, 39) the highest heatmap probability
    near each landmark; pose_presence (N,) probability that the region holds a person; regions (N, 4);
    heatmaps (N, 39, 64, 64) float16 probabilities (sigmoid of the raw scores) or None; heatmap_to_image
    (N, 2, 3) affine maps from heatmap cells (column, row) to image pixels.
    """

    xy: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    heatmap_peak: np.ndarray
    pose_presence: np.ndarray
    regions: np.ndarray
    heatmaps: np.ndarray | None
    heatmap_to_image: np.ndarray

    def confidence(self) -> np.ndarray:
        """(N, 39) keypoint confidence: the geometric mean of the visibility (not occluded) and the heatmap peak
        (sharply localised). On the Pose2Sim lab videos it ranks the errors against OpenPose better than
        visibility alone (within-joint Spearman -0.14 vs -0.09) and still marks occluded points low."""
        return np.sqrt(self.visibility * self.heatmap_peak)

    def mv3d23(self) -> np.ndarray:
        """(N, 23, 3) MV3D23 keypoints: x, y in pixels and :meth:`confidence`; small toes derived (``mapping.py``)."""
        return to_mv3d23(self.xy[:, :NUM_BODY_LANDMARKS], self.confidence()[:, :NUM_BODY_LANDMARKS])

    def next_regions(self) -> Tensor:
        """Regions (N, 4) for the next frame from the auxiliary alignment landmarks (pose_landmarks_to_roi)."""
        xy = torch.from_numpy(self.xy)
        return regions_from_alignment(xy[:, ALIGNMENT[0]], xy[:, ALIGNMENT[1]])


def frames_list(frames: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    """(B, H, W, 3) array or list of (H, W, 3) uint8 BGR images -> list, checked."""
    images = list(frames)
    for i, im in enumerate(images):
        if not (isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8):
            got = getattr(im, "shape", type(im).__name__), getattr(im, "dtype", "")
            raise InputError(f"image {i}: expected an (H, W, 3) uint8 BGR array, got {got}")
    return images


def distinct_people(xy: np.ndarray, presence: np.ndarray, min_presence: float) -> np.ndarray:
    """Indices of distinct people among N BlazePose landmark sets xy (N, 33, 2) with pose presence (N,), most
    present first (to the hundredth: the network gives ~1.0 to most people) and then largest (the longer side of
    the landmarks' box). Left out: sets below ``min_presence``, and a set lying on a person kept before it, its
    landmarks a median of less than ``SAME_PERSON`` of that person's size from the person's skeleton
    (``SKELETON`` segments). That catches the same person found twice and a region that held only part of a
    person (the network then draws a small body onto that part)."""
    size = np.ptp(xy, axis=1).max(-1)
    kept: list[int] = []
    for i in np.lexsort((-size, -np.round(presence, 2))):
        if presence[i] >= min_presence and all(
                np.median(distance_to_skeleton(xy[i], xy[k])) >= SAME_PERSON * size[k] for k in kept):
            kept.append(int(i))
    return np.array(kept, int)


def distance_to_skeleton(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Distance (P,) of each point (P, 2) to the nearest ``SKELETON`` segment of one person's landmarks (33, 2)."""
    a, b = landmarks[SKELETON[:, 0]], landmarks[SKELETON[:, 1]]              # (S, 2) segment ends
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points[:, None] - (a + t[..., None] * ab), axis=-1).min(-1)


def crop_images(images: list[np.ndarray], regions: Tensor, image_index: np.ndarray, size: int, border: str,
                device: torch.device) -> tuple[Tensor, Tensor]:
    """RGB crops (N, 3, size, size), float 0-255 on ``device`` (channels-last), and their crop -> image affines
    (N, 2, 3).

    Each crop is OpenCV's bilinear 8-bit warp of the uint8 image (as MediaPipe's CPU graphs make their input
    tensors): crop pixel (u, v) samples the image at ``affine @ (u, v, 1)``; border "replicate" (landmark
    crops) or "zero" (the detector's letterbox).
    """
    affine = crop_to_image(regions, size)
    mode = {"replicate": cv2.BORDER_REPLICATE, "zero": cv2.BORDER_CONSTANT}[border]
    out = np.empty((len(image_index), size, size, 3), np.uint8)
    for k, i in enumerate(image_index):
        cv2.warpAffine(images[int(i)], affine[k].numpy(), (size, size), dst=out[k],
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=mode, borderValue=0)
    rgb = torch.from_numpy(out[..., ::-1].copy()).to(device)
    return rgb.permute(0, 3, 1, 2).float(), affine


class BlazePose:
    """BlazePose GHUM in torch.

    variant: "heavy" (most accurate) | "full" (faster) | "lite"; device: "cpu", "cuda", ...;
    min_detection_score: the detector's score threshold (MediaPipe's solution default 0.5);
    min_presence: below this pose presence a region holds no person (MediaPipe's tracking threshold 0.5);
    refine: MediaPipe's heatmap refinement of landmarks; box_scale: region side per long side of a given box;
    box_passes: 2 re-crops a boxed person on the region of its first pass's alignment landmarks (the framing the
    network was trained on); max_batch: crops per network call.
    """

    def __init__(self, variant: str = "heavy", device: str | torch.device = "cpu", *, weights_dir: Path | None = None,
                 min_detection_score: float = 0.5, min_presence: float = 0.5, refine: bool = True,
                 box_scale: float = 1.5, box_passes: int = 2, max_batch: int = 16):
        if variant not in VARIANTS:
            raise InputError(f"unknown BlazePose variant {variant!r}; use one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.device = torch.device(device)
        self.landmark_net = load_network(f"landmark_{variant}", self.device, weights_dir)
        self.weights_dir = weights_dir
        self._detector: nn.Module | None = None
        self.min_detection_score = min_detection_score
        self.min_presence = min_presence
        self.refine = refine
        self.box_scale = box_scale
        self.box_passes = box_passes
        self.max_batch = max_batch

    @property
    def detector(self) -> nn.Module:
        if self._detector is None:
            self._detector = load_network("detector", self.device, self.weights_dir)
        return self._detector

    @torch.inference_mode()
    def detect(self, frames: np.ndarray | list[np.ndarray], levels: tuple[float, ...] = ()) -> list[Detections]:
        """People in each image (B images of any sizes), best first, in image pixels.

        The detector sees the whole image letterboxed to 224 x 224, so a person under about a third of a wide
        image's height is too small for it. With ``levels`` (e.g. ``TILE_LEVELS``) it also runs on overlapping
        square windows of those fractions of the image's longer side (``tile_regions``) and merges what every
        window found (``merge_detections``).
        """
        images = frames_list(frames)
        regions = [letterbox_regions((im.shape[1], im.shape[0]), 1) for im in images]
        if levels:
            regions = [torch.cat([r, tile_regions((im.shape[1], im.shape[0]), levels)])
                       for r, im in zip(regions, images)]
        counts = [len(r) for r in regions]
        found = self._detect_in(images, torch.cat(regions), np.repeat(np.arange(len(images)), counts))
        if not levels:
            return found
        ends = np.cumsum(counts)
        return [merge_detections(found[end - n:end]) for n, end in zip(counts, ends)]

    def _detect_in(self, images: list[np.ndarray], regions: Tensor, image_index: np.ndarray) -> list[Detections]:
        """Detections in each of the upright regions (R, 4) (region i of image ``image_index[i]``)."""
        results = []
        for start in range(0, len(regions), self.max_batch):
            part = slice(start, start + self.max_batch)
            x, affine = crop_images(images, regions[part], image_index[part], DETECTOR_INPUT, "zero", self.device)
            x = (x / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)
            boxes, scores = self.detector(x)
            results += postprocess(boxes, scores, affine, self.min_detection_score)
        return results

    @torch.inference_mode()
    def landmarks(self, frames: np.ndarray | list[np.ndarray], regions: Tensor | np.ndarray,
                  image_index: np.ndarray | None = None, heatmaps: bool = False) -> Landmarks:
        """Landmarks of N regions (N, 4) in the images (default: region i in image i)."""
        images = frames_list(frames)
        regions = torch.as_tensor(np.asarray(regions, dtype=np.float64)).reshape(-1, 4)
        index = np.arange(len(regions)) if image_index is None else np.asarray(image_index)
        parts = []
        for s in range(0, len(regions), self.max_batch):
            x, affine = crop_images(images, regions[s:s + self.max_batch], index[s:s + self.max_batch],
                                    LANDMARK_INPUT, "replicate", self.device)
            raw, presence, hm, _world = self.landmark_net((x / 255.0).contiguous(memory_format=torch.channels_last))
            parts.append(self._decode(raw, presence, hm, affine, heatmaps))
        out = {k: np.concatenate([p[k] for p in parts]) if parts[0][k] is not None else None for k in parts[0]}
        return Landmarks(regions=regions.numpy(), **out)

    def _decode(self, raw: Tensor, presence: Tensor, hm: Tensor, affine: Tensor, keep_heatmaps: bool) -> dict:
        lm = raw.double().reshape(len(raw), NUM_LANDMARKS, 5).cpu()
        hm = hm.float()
        refined, peak = refine_with_heatmaps(lm[..., :2], hm.cpu().double())
        xy = refined if self.refine else lm[..., :2]
        stride = LANDMARK_INPUT / hm.shape[-1]
        to_image = torch.cat([affine[:, :, :2] * stride, affine[:, :, 2:]], -1)
        return {"xy": apply_affine(affine, xy).numpy(), "visibility": torch.sigmoid(lm[..., 3]).numpy(),
                "presence": torch.sigmoid(lm[..., 4]).numpy(), "heatmap_peak": peak.numpy(),
                "pose_presence": presence[:, 0].double().cpu().numpy(),
                "heatmaps": torch.sigmoid(hm).half().cpu().numpy() if keep_heatmaps else None,
                "heatmap_to_image": to_image.numpy()}

    def find_people(self, image: np.ndarray, levels: tuple[float, ...] = TILE_LEVELS,
                    ) -> tuple[Landmarks | None, np.ndarray]:
        """Everyone in one image: detection on the whole image and on windows of ``levels``, the landmarks in each
        detection's region, then, for the distinct people among them, again in the region of their own alignment
        landmarks (as for boxes). Returns the second pass's Landmarks (None when nobody was found) and the indices
        of the distinct people among them, most present and largest first (``distinct_people``)."""
        regions = self.regions_of(self.detect([image], levels)[0])
        if not len(regions):
            return None, np.zeros(0, int)
        first = self.landmarks([image], regions, np.zeros(len(regions), int))
        found = distinct_people(first.xy[:, :NUM_BODY_LANDMARKS], first.pose_presence, self.min_presence)
        if not len(found):
            return None, np.zeros(0, int)
        regions = first.next_regions()[torch.from_numpy(found)]
        second = self.landmarks([image], regions, np.zeros(len(regions), int))
        return second, distinct_people(second.xy[:, :NUM_BODY_LANDMARKS], second.pose_presence, self.min_presence)

    def regions_of(self, detections: Detections) -> Tensor:
        """Landmark regions (P, 4) of detected people, from their alignment keypoints 0 and 1."""
        kp = torch.from_numpy(np.asarray(detections.keypoints, dtype=np.float64)).reshape(-1, 4, 2)
        return regions_from_alignment(kp[:, 0], kp[:, 1])

    def estimate_boxes(self, images: np.ndarray | list[np.ndarray], boxes: np.ndarray,
                       image_index: np.ndarray | None = None, heatmaps: bool = False) -> Landmarks:
        """Landmarks of the people in COCO boxes (N, 4) x, y, w, h (box i in image ``image_index[i]``, default 0):
        no detection, the region from the box, then (``box_passes`` 2) from the first pass's alignment landmarks
        where a person was found."""
        images = frames_list(images)
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        index = np.zeros(len(boxes), int) if image_index is None else np.asarray(image_index, int)
        for i in np.unique(index):
            image = images[int(i)]
            check_boxes(boxes[index == i], (image.shape[1], image.shape[0]),
                        where=f"image {int(i)}: " if len(images) > 1 else "")
        regions = regions_from_boxes(boxes, self.box_scale)
        first = self.landmarks(images, regions, index, heatmaps)
        if self.box_passes < 2:
            return first
        found = first.pose_presence >= self.min_presence
        second_regions = torch.where(torch.from_numpy(found)[:, None], first.next_regions(), regions)
        return self.landmarks(images, second_regions, index, heatmaps)

    def estimate_images(self, images: Iterable[np.ndarray], boxes: Iterable[np.ndarray | None] | None = None,
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image, MV3D23 keypoints (P, 23, 3) and scores (P,) (pose presence).

        images: (H, W, 3) uint8 BGR arrays; boxes: per image COCO boxes (P, 4) x, y, w, h, or None. With boxes,
        exactly one result per box, in box order, no detection; without, every distinct person found
        (``find_people``), most present and largest first.
        """
        images = frames_list(images)
        boxes = [None] * len(images) if boxes is None else list(boxes)
        if len(boxes) != len(images):
            raise InputError(f"{len(boxes)} box lists for {len(images)} images; give one (possibly empty) per image")
        out = []
        for i, (image, b) in enumerate(zip(images, boxes)):
            if b is not None:
                try:
                    lm = self.estimate_boxes([image], b) if len(b) else None
                except InputError as exc:
                    raise InputError(f"image {i}: {exc}") from exc
                keep = slice(None)
            else:
                lm, keep = self.find_people(image)
            if lm is None:
                out.append((np.zeros((0, 23, 3)), np.zeros(0)))
            else:
                out.append((lm.mv3d23()[keep], lm.pose_presence[keep]))
        return out
