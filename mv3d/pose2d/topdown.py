"""Top-down 2D pose estimation: person box -> aspect-preserving crop -> heatmaps -> image pixels.

Crops are sampled with ``grid_sample`` (bilinear, align_corners=True: integer coordinates are
pixel centres, as in UDP). A box is padded to the network's aspect ratio and enlarged by
``padding`` (1.25), never squashed. Everything is batched over the crops of a frame batch.
Output keypoints are (N, J, 3): x, y in original image pixels and the heatmap maximum as
confidence.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mv3d.errors import InputError
from mv3d.pose2d.heatmaps import decode_heatmaps, heatmap_to_input
from mv3d.pose2d.interface import PersonKeypoints, Video, VideoKeypoints, frame_batches
from mv3d.skeleton import FLIP_INDEX

log = logging.getLogger(__name__)

#: ImageNet statistics (RGB, 0-255 scale) used by the Simple Baselines/HRNet/mmpose weights.
IMAGE_MEAN = (123.675, 116.28, 103.53)
IMAGE_STD = (58.395, 57.12, 57.375)


def box_to_center_size(boxes: np.ndarray | Tensor, input_size: tuple[int, int], padding: float = 1.25,
                       ) -> tuple[Tensor, Tensor]:
    """Person boxes (N, 4) x, y, w, h -> crop centres (N, 2) and crop sizes (N, 2) (w, h) in image pixels.

    The box is padded (not squashed) to the input aspect ratio w_in / h_in, then scaled by ``padding``.
    """
    b = torch.as_tensor(boxes, dtype=torch.float64)
    aspect = input_size[0] / input_size[1]
    w, h = b[:, 2], b[:, 3]
    w2 = torch.maximum(w, h * aspect)
    h2 = torch.maximum(h, w / aspect)
    center = torch.stack([b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h], -1)
    return center, torch.stack([w2, h2], -1) * padding


def crop_to_image_affine(center: Tensor, size: Tensor, input_size: tuple[int, int],
                         rotation: Tensor | None = None) -> Tensor:
    """(N, 2, 3) matrices taking crop pixels (u, v, 1) to image pixels (x, y).

    center (N, 2), size (N, 2) of the crop region in image pixels (aspect of ``input_size`` = (w, h));
    rotation (N,) radians, counter-clockwise in the image. One isotropic scale: size_w / w_in per pixel.
    """
    center = torch.as_tensor(center, dtype=torch.float64)
    size = torch.as_tensor(size, dtype=torch.float64)
    s = size[:, 0] / input_size[0]
    rot = torch.zeros_like(s) if rotation is None else torch.as_tensor(rotation, dtype=torch.float64)
    c, sn = torch.cos(rot) * s, torch.sin(rot) * s
    u0, v0 = (input_size[0] - 1) / 2, (input_size[1] - 1) / 2
    a = torch.stack([torch.stack([c, sn], -1), torch.stack([-sn, c], -1)], -2)  # (N, 2, 2)
    t = center - a @ torch.tensor([u0, v0], dtype=torch.float64)
    return torch.cat([a, t[:, :, None]], -1)


def invert_affine(m: Tensor) -> Tensor:
    """Inverse of (N, 2, 3) affine maps."""
    a_inv = torch.linalg.inv(m[:, :, :2])
    return torch.cat([a_inv, -(a_inv @ m[:, :, 2:])], -1)


def apply_affine(m: Tensor, points: Tensor) -> Tensor:
    """Apply (N, 2, 3) affine maps to points (N, J, 2)."""
    return points @ m[:, :, :2].transpose(1, 2) + m[:, None, :, 2]


def crop_images(images: Tensor, affine: Tensor, input_size: tuple[int, int], image_index: Tensor | None = None,
                ) -> Tensor:
    """Bilinear crops (N, C, h_in, w_in) of images (B, C, H, W) through crop->image affines (N, 2, 3).

    ``image_index`` (N,) picks the source image of each crop (default: crop i from image i).
    Pixels outside the image are 0.
    """
    b, _, h, w = images.shape
    w_in, h_in = input_size
    u = torch.arange(w_in, dtype=torch.float64)
    v = torch.arange(h_in, dtype=torch.float64)
    grid_uv = torch.stack(torch.meshgrid(u, v, indexing="xy"), -1).reshape(1, -1, 2)  # (1, h*w, 2)
    xy = apply_affine(affine, grid_uv.expand(affine.shape[0], -1, -1))
    norm = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], dtype=torch.float64)
    grid = (xy * norm - 1.0).reshape(-1, h_in, w_in, 2).to(images.dtype)
    src = images if image_index is None else images[image_index]
    return F.grid_sample(src, grid.to(images.device), mode="bilinear", padding_mode="zeros", align_corners=True)


def frames_to_tensor(frames: np.ndarray | Tensor) -> Tensor:
    """(B, H, W, 3) uint8 BGR frames -> (B, 3, H, W) float32 RGB, 0-255."""
    t = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
    if t.ndim != 4 or t.shape[-1] != 3:
        raise InputError(f"frames must be (B, H, W, 3) BGR images, got shape {tuple(t.shape)}")
    return t.flip(-1).permute(0, 3, 1, 2).to(torch.float32)


def normalize_crops(crops: Tensor) -> Tensor:
    """RGB 0-255 crops (N, 3, h, w) -> ImageNet-normalised network input."""
    mean = torch.tensor(IMAGE_MEAN, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    return (crops - mean) / std


def check_boxes(boxes: np.ndarray, image_size: tuple[int, int] | None, where: str = "",
                names: Sequence[str] | None = None, advice: str = "Fix the detections or drop those frames.") -> None:
    """Raise InputError for boxes (N, 4) x, y, w, h that are not finite, have no area, or lie outside
    the image (w, h) (not tested when ``image_size`` is None). The message starts with ``where``, names
    the first bad box (``names[i]``, default "person box i"), says what is wrong and ends with ``advice``."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    bad_size = ~((b[:, 2] > 0) & (b[:, 3] > 0))
    checks = [(~np.isfinite(b).all(axis=1), "is not finite"), (bad_size, "has no area (w, h <= 0)")]
    if image_size is not None:
        w, h = image_size
        outside = (b[:, 0] >= w) | (b[:, 1] >= h) | (b[:, 0] + b[:, 2] <= 0) | (b[:, 1] + b[:, 3] <= 0)
        checks.append((outside & ~bad_size, f"lies outside the {w}x{h} image"))
    for mask, what in checks:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            name = names[i] if names is not None else f"person box {i}"
            raise InputError(f"{where}{name} (x, y, w, h = {b[i].round(1).tolist()}) {what}; "
                             f"{int(mask.sum())} such box(es). {advice}")


def mean_confidence(keypoints: np.ndarray) -> float:
    """A person's score from its keypoints (J, 3): the mean confidence (0 when none)."""
    return float(np.mean(np.nan_to_num(keypoints[:, 2])))


def keypoints_to_boxes(keypoints: np.ndarray, min_conf: float = 0.3, min_joints: int = 4,
                       min_size: float = 32.0, outlier_ratio: float = 4.0) -> np.ndarray:
    """Boxes (N, 4) x, y, w, h around confident keypoints (N, J, 3), at least ``min_size`` pixels wide and
    high (grown about their centre); NaN rows where fewer than ``min_joints`` are confident.

    A confident keypoint farther from the keypoints' median than ``outlier_ratio`` times their
    median distance to it (a limb's far end is about twice that) is left out: one stray joint
    must not blow up the box a tracker crops next.
    """
    kp = np.asarray(keypoints, dtype=float)
    ok = (kp[..., 2] >= min_conf) & np.isfinite(kp[..., :2]).all(-1)
    x = np.where(ok, kp[..., 0], np.nan)
    y = np.where(ok, kp[..., 1], np.nan)
    boxes = np.full((kp.shape[0], 4), np.nan)
    good = ok.sum(-1) >= min_joints
    if good.any():
        x, y = x[good], y[good]
        dist = np.hypot(x - np.nanmedian(x, -1, keepdims=True), y - np.nanmedian(y, -1, keepdims=True))
        typical = np.maximum(np.nanmedian(dist, -1, keepdims=True), 1e-6)
        stray = dist > outlier_ratio * typical
        x, y = np.where(stray, np.nan, x), np.where(stray, np.nan, y)
        x0, x1 = np.nanmin(x, -1), np.nanmax(x, -1)
        y0, y1 = np.nanmin(y, -1), np.nanmax(y, -1)
        w, h = np.maximum(x1 - x0, min_size), np.maximum(y1 - y0, min_size)
        boxes[good] = np.stack([(x0 + x1 - w) / 2, (y0 + y1 - h) / 2, w, h], -1)
    return boxes


@dataclass
class TopDownEstimator:
    """A heatmap network with its crop geometry and decoding; an :class:`mv3d.pose2d.interface.Estimator`.

    model: (N, 3, h_in, w_in) -> (N, J, h_in/4, w_in/4); input_size (w_in, h_in); flip: average with the
    horizontally flipped crop (left/right channels swapped with ``FLIP_INDEX``); decode "dark" | "argmax";
    max_batch: crops per network pass; batch_size: frames per batch of a video; derived: none (every joint
    has its heatmap).
    """

    model: nn.Module
    input_size: tuple[int, int] = (192, 256)
    flip: bool = True
    decode: str = "dark"
    padding: float = 1.25
    device: str = "cpu"
    max_batch: int = 32
    batch_size: int = 8
    derived: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # channels-last lets oneDNN/cuDNN skip layout conversions (measured +15-30 % for HRNet-W32 on CPU)
        self.model = self.model.to(self.device, memory_format=torch.channels_last).eval()
        self.name = f"mv3d.pose2d:{getattr(self.model, 'arch', type(self.model).__name__)}"

    def estimate_video(self, video: Video, boxes: np.ndarray | None = None, track: bool = True,
                       progress: bool = False, heatmaps: bool = False) -> VideoKeypoints:
        """Keypoints (F, J, 3) of the person in a video, at its true frame indices (F,).

        video: a file or frame batches (``mv3d.video.frames.FrameBatch``); boxes: (n, 4) x, y, w, h per
        frame index (NaN rows, and frames >= n: nobody); without boxes the person is tracked from the
        previous frame's keypoints (``track``) or searched anew in every frame. heatmaps: not kept by
        this family (the result's heatmaps stay None).
        """
        batches, where = frame_batches(video, self.batch_size, progress)
        mode = "boxes" if boxes is not None else "track" if track else "full"
        results, indices = [], []
        previous = None
        for idx, _times, frames in batches:
            idx = np.asarray(idx)
            fb = None
            if boxes is not None:
                fb = np.full((len(idx), 4), np.nan)
                inside = idx < len(boxes)
                fb[inside] = np.asarray(boxes, dtype=float)[idx[inside]]
            try:
                kp = self.estimate_frames(frames, fb, mode=mode, previous=previous)
            except InputError as exc:
                raise InputError(f"{where}, frames {int(idx[0])}-{int(idx[-1])}: {exc}") from exc
            results.append(kp)
            indices.append(idx)
            previous = kp[-1]
        if not results:
            raise InputError(f"{where}: the video yielded no frames; check that it is a readable, non-empty video")
        return VideoKeypoints(np.concatenate(results), np.concatenate(indices))

    def estimate_images(self, images: Sequence[np.ndarray],
                        boxes: Sequence[np.ndarray | None] | None = None) -> list[list[PersonKeypoints]]:
        """Per image (H, W, 3) uint8 BGR: one person per box of ``boxes[i]`` ((n, 4) x, y, w, h), or without
        boxes the one person the whole-frame search finds (none when it finds too few joints)."""
        out = []
        for i, image in enumerate(images):
            frame = np.asarray(image)[None]
            given = None if boxes is None or boxes[i] is None else np.asarray(boxes[i], dtype=float).reshape(-1, 4)
            if given is None:
                kp = self.estimate_frames(frame, mode="full")
                found = keypoints_to_boxes(kp)
                out.append([PersonKeypoints(kp[0], found[0], mean_confidence(kp[0]))]
                           if np.isfinite(found[0]).all() else [])
                continue
            check_boxes(given, (frame.shape[2], frame.shape[1]), where=f"image {i}: ")
            kp = self.estimate(frames_to_tensor(frame), given, np.zeros(len(given), dtype=int))
            out.append([PersonKeypoints(k, b, mean_confidence(k)) for k, b in zip(kp, given)])
        return out

    @torch.no_grad()
    def heatmaps(self, crops: Tensor) -> Tensor:
        """Normalised crops (N, 3, h_in, w_in) -> heatmaps (N, J, h, w), flip-averaged when ``flip``."""
        outs = []
        for chunk in crops.split(self.max_batch):
            chunk = chunk.to(self.device).contiguous(memory_format=torch.channels_last)
            hm = self.model(chunk)
            if self.flip:
                j = hm.shape[1]
                perm = torch.as_tensor(FLIP_INDEX[:j], device=hm.device)
                hm = 0.5 * (hm + self.model(chunk.flip(-1)).flip(-1)[:, perm])
            outs.append(hm.float().cpu())
        return torch.cat(outs)

    def estimate(self, images: Tensor, boxes: np.ndarray, image_index: np.ndarray | None = None) -> np.ndarray:
        """Keypoints (N, J, 3) for person boxes (N, 4) x, y, w, h in images (B, 3, H, W) RGB 0-255.

        image_index (N,) names the image of each box (default: box i in image i). Rows of NaN boxes give
        NaN keypoints with confidence 0.
        """
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        valid = np.isfinite(boxes).all(axis=1)
        out = None
        idx = np.arange(len(boxes)) if image_index is None else np.asarray(image_index)
        if valid.any():
            center, size = box_to_center_size(boxes[valid], self.input_size, self.padding)
            affine = crop_to_image_affine(center, size, self.input_size)
            crops = crop_images(images, affine, self.input_size, torch.as_tensor(idx[valid]))
            hm = self.heatmaps(normalize_crops(crops))
            if (hm.shape[-1] * 4, hm.shape[-2] * 4) != tuple(self.input_size):
                raise InputError(f"the network turns {self.input_size[0]}x{self.input_size[1]} crops into "
                                 f"{hm.shape[-1]}x{hm.shape[-2]} heatmaps, not 1/4 of the input; use an input "
                                 "size whose width and height are multiples of 32 (e.g. 192x256)")
            coords, conf = decode_heatmaps(hm, self.decode)
            hm_size = (hm.shape[-1], hm.shape[-2])
            uv = heatmap_to_input(coords.double(), self.input_size, hm_size)
            xy = apply_affine(affine, uv).numpy()
            kp = np.concatenate([xy, conf.clamp(0, 1).double().numpy()[..., None]], -1)
            out = np.full((len(boxes), kp.shape[1], 3), np.nan)
            out[valid] = kp
        if out is None:
            j = getattr(self.model, "num_joints", len(FLIP_INDEX))
            out = np.full((len(boxes), j, 3), np.nan)
        out[~valid, :, 2] = 0.0
        return out

    def estimate_frames(self, frames: np.ndarray, boxes: np.ndarray | None = None, mode: str = "full",
                        previous: np.ndarray | None = None, min_conf: float = 0.3) -> np.ndarray:
        """Single-person keypoints (B, J, 3) for a batch of frames (B, H, W, 3) uint8 BGR.

        mode "boxes": ``boxes`` (B, 4) given (NaN rows: no person); "full": a coarse pass of the same
        network on the whole frame gives the box, then a fine pass; "track": the box of ``previous``
        keypoints (J, 3) (last frame of the previous batch), falling back to "full" for frames whose
        tracked estimate is lost (fewer than 4 joints at ``min_conf``).
        """
        images = frames_to_tensor(frames)
        b, _, h, w = images.shape
        if mode == "boxes":
            if boxes is None or np.asarray(boxes).shape != (b, 4):
                raise InputError(f"mode 'boxes' needs boxes of shape ({b}, 4), got "
                                 f"{None if boxes is None else np.asarray(boxes).shape}")
            fin = np.isfinite(boxes).all(axis=1)
            check_boxes(np.asarray(boxes)[fin], (w, h))
            return self.estimate(images, boxes)
        if mode == "track" and previous is not None:
            box = keypoints_to_boxes(previous[None], min_conf)[0]
            if np.isfinite(box).all():
                kp = self.estimate(images, np.repeat(_grow(box, 1.2)[None], b, 0))
                lost = _lost_track(keypoints_to_boxes(kp, min_conf), box)
                if lost.any():
                    kp[lost] = self._full_frame(images[torch.as_tensor(np.flatnonzero(lost))], min_conf)
                return kp
        elif mode not in ("full", "track"):
            raise InputError(f"unknown person-box mode {mode!r}; use 'boxes', 'full' or 'track'")
        return self._full_frame(images, min_conf)

    def _full_frame(self, images: Tensor, min_conf: float) -> np.ndarray:
        """Coarse passes over the whole frame and over windows of the network's aspect ratio
        (a person filling a fraction of a wide frame is too small in one squeezed crop); per
        frame the whole frame's keypoints, or a window's when clearly more confident (mean of the
        12 most confident joints higher by 0.15), give the box of a fine pass."""
        b, _, h, w = images.shape
        windows = search_windows((w, h), self.input_size)  # (K, 4)
        k = len(windows)
        coarse = self.estimate(images, np.tile(windows, (b, 1)), np.repeat(np.arange(b), k))  # (b * k, J, 3)
        conf = np.sort(np.nan_to_num(coarse[..., 2]), axis=-1)[:, -12:].mean(-1).reshape(b, k)
        # the whole frame unless a window is clearly more confident (a window may cut the person)
        pick = np.where(conf.max(1) > conf[:, 0] + 0.15, conf.argmax(1), 0)
        best = coarse.reshape(b, k, *coarse.shape[1:])[np.arange(b), pick]
        return self.estimate(images, keypoints_to_boxes(best, min_conf))


def search_windows(image_size: tuple[int, int], input_size: tuple[int, int], overlap: float = 0.5) -> np.ndarray:
    """Boxes (K, 4) x, y, w, h for the coarse person search: the whole image, then (when the
    image is wider or taller than the network input's aspect ratio) windows of that ratio
    spanning the short side, overlapping by ``overlap``."""
    w, h = image_size
    aspect = input_size[0] / input_size[1]
    boxes = [(0.0, 0.0, float(w), float(h))]
    if w > 1.2 * aspect * h:  # wide frame: windows across
        ww = aspect * h
        n = int(np.ceil((w - ww) / (ww * (1 - overlap)))) + 1
        boxes += [(float(x), 0.0, ww, float(h)) for x in np.linspace(0, w - ww, n)]
    elif h > 1.2 * w / aspect:  # tall frame: windows down
        hh = w / aspect
        n = int(np.ceil((h - hh) / (hh * (1 - overlap)))) + 1
        boxes += [(0.0, float(y), float(w), hh) for y in np.linspace(0, h - hh, n)]
    return np.array(boxes)


def _lost_track(found: np.ndarray, tracked: np.ndarray, max_scale: float = 1.6) -> np.ndarray:
    """(B,) True where the person boxes found (B, 4) no longer follow the tracked box (4,): too
    few joints (NaN box), a centre moved by over half the tracked box's size, or a scale changed
    by over ``max_scale``: the crop held someone else or the network lost the body."""
    with np.errstate(invalid="ignore"):
        shift = np.hypot(*((found[:, :2] + found[:, 2:] / 2) - (tracked[:2] + tracked[2:] / 2)).T)
        scale = np.sqrt(found[:, 2] * found[:, 3] / (tracked[2] * tracked[3]))
        return (~np.isfinite(found).all(axis=1) | (shift > 0.5 * max(tracked[2], tracked[3]))
                | (scale > max_scale) | (scale < 1 / max_scale))


def _grow(box: np.ndarray, factor: float) -> np.ndarray:
    """Scale a box (4,) x, y, w, h about its centre."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return np.array([cx - factor * box[2] / 2, cy - factor * box[3] / 2, factor * box[2], factor * box[3]])
