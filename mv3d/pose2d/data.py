"""Training data for the 23-joint heatmap networks.

A *sample source* is any sequence whose items are :class:`PersonSample` (an image, a person box
and 23 labelled keypoints): :class:`CocoWholeBody` reads COCO-WholeBody annotation files
(body ``keypoints`` + ``foot_kpts``); rendered simulator frames with their 2D truth can be wrapped
the same way. :class:`TopDownDataset` turns a source into network crops, Gaussian targets and
target weights, with the Simple Baselines augmentation (random scale, rotation, flip with
left/right swapping, half-body).
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mv3d.errors import InputError
from mv3d.pose2d.heatmaps import input_to_heatmap, render_gaussian_targets
from mv3d.pose2d.topdown import IMAGE_MEAN, IMAGE_STD, box_to_center_size, crop_to_image_affine
from mv3d.skeleton import FLIP_INDEX

log = logging.getLogger(__name__)

#: MV3D23 indices of the upper body (head, arms) for half-body augmentation; the rest is lower body.
UPPER_BODY = np.arange(11)
LOWER_BODY = np.arange(11, 23)


@dataclass
class PersonSample:
    """One annotated person: image (H, W, 3) uint8 BGR, box (4,) x, y, w, h, keypoints (23, 3) x, y, visibility."""

    image: np.ndarray
    box: np.ndarray
    keypoints: np.ndarray
    image_id: int = 0


class SampleSource(Protocol):
    """What :class:`TopDownDataset` needs: ``len()`` and indexing returning :class:`PersonSample`."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> PersonSample: ...


def wholebody_to_mv3d23(ann: dict) -> np.ndarray:
    """COCO-WholeBody annotation -> (23, 3) x, y, visibility in MV3D23 order (body 17, then the 6 foot points)."""
    body = np.asarray(ann.get("keypoints", []), dtype=float).reshape(-1, 3)
    if body.shape[0] != 17:
        raise InputError(f"annotation {ann.get('id')}: expected 17 body keypoints, got {body.shape[0]}")
    foot = np.asarray(ann.get("foot_kpts", [0.0] * 18), dtype=float).reshape(-1, 3)
    if foot.shape[0] != 6:
        raise InputError(f"annotation {ann.get('id')}: expected 6 foot keypoints, got {foot.shape[0]}")
    if not ann.get("foot_valid", foot[:, 2].any()):
        foot = np.zeros((6, 3))
    return np.concatenate([body, foot])


class CocoWholeBody:
    """People of a COCO-WholeBody annotation file with at least ``min_keypoints`` labelled MV3D23 joints.

    Crowd annotations are skipped. Images are read lazily (and cached) from ``image_dir``.
    """

    def __init__(self, annotations: str | Path, image_dir: str | Path | None = None, min_keypoints: int = 1):
        self.path = Path(annotations)
        try:
            coco = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{self.path}: cannot read COCO-WholeBody annotations ({exc})") from exc
        for key in ("images", "annotations"):
            if key not in coco:
                raise InputError(f"{self.path}: not a COCO annotation file (no '{key}' list)")
        self.image_dir = Path(image_dir) if image_dir is not None else self.path.parent
        self.images = {im["id"]: im for im in coco["images"]}
        self.items: list[tuple[int, np.ndarray, np.ndarray]] = []
        for ann in coco["annotations"]:
            if ann.get("iscrowd", 0):
                continue
            kp = wholebody_to_mv3d23(ann)
            if (kp[:, 2] > 0).sum() >= min_keypoints:
                self.items.append((ann["image_id"], np.asarray(ann["bbox"], dtype=float), kp))
        self._read = lru_cache(maxsize=64)(self._read_image)

    def _read_image(self, image_id: int) -> np.ndarray:
        path = self.image_dir / self.images[image_id]["file_name"]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"{path}: image of annotation file {self.path} is missing or unreadable")
        return img

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> PersonSample:
        image_id, box, kp = self.items[i]
        return PersonSample(self._read(image_id), box.copy(), kp.copy(), image_id)


@dataclass
class Augmentation:
    """Random scale factor in [1 - scale, 1 + scale], rotation N(0, rotation deg) clipped to 2 sigma with
    probability ``rotation_prob``, horizontal flip with probability ``flip``, half-body with
    probability ``half_body`` (people with more than ``half_body_min`` visible joints)."""

    scale: float = 0.35
    rotation: float = 40.0
    rotation_prob: float = 0.6
    flip: float = 0.5
    half_body: float = 0.3
    half_body_min: int = 8


class TopDownDataset(Dataset):
    """Crops (3, h_in, w_in) normalised, targets (23, h, w), target weights (23,) and keypoints (23, 3) in crop pixels.

    input_size (w_in, h_in); heatmap size is input / 4; ``sigma`` in heatmap pixels. ``augment`` None
    gives the deterministic crop used for evaluation. Items are dicts of tensors plus ``affine`` (2, 3)
    taking crop pixels to image pixels.
    """

    def __init__(self, source: SampleSource | Sequence[PersonSample], input_size: tuple[int, int] = (192, 256),
                 sigma: float = 2.0, augment: Augmentation | None = None, padding: float = 1.25, seed: int = 0):
        self.source = source
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.sigma = sigma
        self.augment = augment
        self.padding = padding
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.source)

    def _half_body_box(self, kp: np.ndarray) -> np.ndarray | None:
        vis = kp[:, 2] > 0
        part = UPPER_BODY if self.rng.random() < 0.5 else LOWER_BODY
        sel = part[vis[part]]
        if len(sel) < 2:
            sel = np.flatnonzero(vis)
        if len(sel) < 2:
            return None
        x0, y0 = kp[sel, :2].min(0)
        x1, y1 = kp[sel, :2].max(0)
        return np.array([x0, y0, max(x1 - x0, 1.0), max(y1 - y0, 1.0)])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = self.source[i]
        kp = np.asarray(s.keypoints, dtype=float).copy()
        box = np.asarray(s.box, dtype=float)
        img = s.image
        rot = 0.0
        aug = self.augment
        if aug is not None:
            if aug.half_body > 0 and (kp[:, 2] > 0).sum() > aug.half_body_min and self.rng.random() < aug.half_body:
                hb = self._half_body_box(kp)
                box = box if hb is None else hb
        center, size = box_to_center_size(box[None], self.input_size, self.padding)
        if aug is not None:
            size = size * float(np.clip(1 + self.rng.normal() * aug.scale, 1 - aug.scale, 1 + aug.scale))
            if self.rng.random() < aug.rotation_prob:
                rot = math.radians(float(np.clip(self.rng.normal() * aug.rotation, -2 * aug.rotation,
                                                 2 * aug.rotation)))
            if self.rng.random() < aug.flip:
                img = img[:, ::-1]
                kp = kp[FLIP_INDEX]
                kp[:, 0] = img.shape[1] - 1 - kp[:, 0]
                center = center.clone()
                center[:, 0] = img.shape[1] - 1 - center[:, 0]
        affine = crop_to_image_affine(center, size, self.input_size, torch.tensor([rot]))[0]
        crop = cv2.warpAffine(np.ascontiguousarray(img), affine.numpy(), self.input_size,
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
        rgb = torch.from_numpy(crop[..., ::-1].copy()).permute(2, 0, 1).to(torch.float32)
        mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGE_STD).view(3, 1, 1)
        a_inv = np.linalg.inv(affine[:, :2].numpy())
        uv = (kp[:, :2] - affine[:, 2].numpy()) @ a_inv.T
        kp_crop = np.concatenate([uv, kp[:, 2:3]], 1)
        kp_hm = torch.from_numpy(kp_crop.copy())
        kp_hm[:, :2] = input_to_heatmap(kp_hm[:, :2], self.input_size, self.heatmap_size)
        target, weight = render_gaussian_targets(kp_hm, self.heatmap_size, self.sigma)
        return {"image": (rgb - mean) / std, "target": target, "target_weight": weight,
                "keypoints": torch.from_numpy(kp_crop).to(torch.float32), "affine": affine.to(torch.float32),
                "box": torch.from_numpy(np.asarray(s.box, dtype=np.float32))}


__all__ = ["Augmentation", "CocoWholeBody", "PersonSample", "SampleSource", "TopDownDataset",
           "wholebody_to_mv3d23"]
