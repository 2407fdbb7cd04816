"""Rendered simulator frames as 2D-pose training data, and PCK of a network on rendered videos.

:func:`render_crops` simulates sessions (motion x rig x seed x subject height), renders a few
frames per camera with :class:`mv3d.simulate.render.Renderer` (room background, shaded body,
the passer-by where the session has one, sensor noise) and keeps, per frame, a crop around the
subject with its noise-free MV3D23 keypoints. :class:`SyntheticCrops` holds them (arrays, saved
as one compressed npz) and is a sample source for :func:`mv3d.pose2d.train.train`: item i is a
:class:`PersonSample` whose image is the stored crop. :func:`rendered_pck` measures a
:class:`TopDownEstimator` on full rendered frames of a session, through its ``estimate_video``.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from mv3d.errors import ConfigError, InputError
from mv3d.io.atomic import atomic_write
from mv3d.pose2d.data import PersonSample
from mv3d.pose2d.evaluate import pck
from mv3d.pose2d.topdown import TopDownEstimator, box_to_center_size, crop_to_image_affine
from mv3d.simulate.session import SimulationConfig, simulate
from mv3d.skeleton import MV3D25

log = logging.getLogger(__name__)

#: Motions used for training; walk_in_place is held out for validation.
TRAIN_MOTIONS = ("squat", "sit_to_stand", "arm_raises")
HELD_OUT_MOTION = "walk_in_place"
#: Joint-extent boxes are grown by this factor: joints lie inside the body outline (head top, hands, shoes).
BOX_GROWTH = 1.15


def truth_boxes(uv: np.ndarray) -> np.ndarray:
    """Person boxes (N, 4) x, y, w, h from keypoints (N, J, 2+): the joints' extent grown by BOX_GROWTH."""
    xy = np.asarray(uv, dtype=float)[..., :2]
    lo, hi = np.nanmin(xy, axis=1), np.nanmax(xy, axis=1)
    size = (hi - lo) * BOX_GROWTH
    return np.concatenate([(lo + hi) / 2 - size / 2, size], axis=1)


def _visible(uv: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Keypoints (N, J, 2) -> (N, J, 3) with visibility 2 inside the image, 0 (and NaN) outside."""
    inside = np.isfinite(uv).all(-1) & (uv[..., 0] >= 0) & (uv[..., 1] >= 0) \
        & (uv[..., 0] <= size[0] - 1) & (uv[..., 1] <= size[1] - 1)
    out = np.concatenate([uv, np.where(inside, 2.0, 0.0)[..., None]], -1)
    out[~inside, :2] = np.nan
    return out


@dataclass(frozen=True)
class SessionSpec:
    """One simulated session: built-in motion, rig, seed, subject height (m), duration (s)."""

    motion: str
    rig: str
    seed: int
    height: float = 1.75
    seconds: float = 6.0


def session_specs(motions: Sequence[str], rigs: Sequence[str], seeds: Sequence[int],
                  height_range: tuple[float, float] = (1.55, 1.95), seconds: float = 6.0) -> list[SessionSpec]:
    """Every motion x rig x seed, each with a subject height drawn uniformly in ``height_range`` (from the seed)."""
    specs = []
    for m in motions:
        for r in rigs:
            for s in seeds:
                h = float(np.random.default_rng([s, len(specs)]).uniform(*height_range))
                specs.append(SessionSpec(m, r, int(s), round(h, 3), seconds))
    return specs


def rendered_frames(spec: SessionSpec, frames_per_camera: int | None = None, resolution: int | None = None,
                    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Simulate ``spec`` and render frames per camera as ``write_session`` does.

    Yields (camera name, frames (n, H, W, 3) uint8 BGR, truth keypoints (n, 23, 3) x, y, visibility);
    ``frames_per_camera`` evenly spaced frames (None: all frames).
    """
    from mv3d.simulate.render import Renderer, RenderStyle
    from mv3d.simulate.scene import room_background

    sim = simulate(SimulationConfig(motion=spec.motion, seconds=spec.seconds, rig=spec.rig, seed=spec.seed,
                                    height=spec.height, resolution=resolution))
    centre = np.nanmean(sim.points3d[0][:, MV3D25.index("mid_hip")], axis=0)
    floor = float(sim.board.stand_point()[1]) if sim.board is not None else 0.0
    style = RenderStyle(scale=spec.height / 1.75)
    for k, cam in enumerate(sim.rig.cameras):
        n = len(sim.truth2d[k])
        idx = np.arange(n) if frames_per_camera is None else \
            np.unique(np.linspace(0, n - 1, min(frames_per_camera, n)).round().astype(int))
        background = room_background(cam, centre, sim.rig.R_to_opensim, floor)
        renderer = Renderer(cam, background, style, seed=spec.seed + k)
        persons = [sim.points3d[k][idx]]
        if sim.passerby3d[k] is not None:
            persons.append(sim.passerby3d[k][idx])
        frames = np.stack(renderer.render(persons, frame_seed=int(idx[0])))
        yield cam.name, frames, _visible(sim.truth2d[k][idx], cam.size)


@dataclass
class SyntheticCrops:
    """Crops around the subject of rendered frames, a :class:`SampleSource`.

    images (N, h, w, 3) uint8 BGR; boxes (N, 4) x, y, w, h and keypoints (N, 23, 3) x, y, visibility,
    both in crop pixels; names (N,) "motion/rig/seed/camera/frame" of each crop's origin.
    """

    images: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    names: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> PersonSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"crop {i} of {len(self)}")
        return PersonSample(self.images[i], self.boxes[i].copy(), self.keypoints[i].copy(), int(i))

    def save(self, path: str | os.PathLike) -> Path:
        """Write all arrays to one compressed npz, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as fh:
            np.savez_compressed(fh, images=self.images, boxes=self.boxes, keypoints=self.keypoints,
                                names=self.names)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SyntheticCrops:
        """Read a cache written by :meth:`save`; InputError when it is missing or not such a file."""
        try:
            with np.load(path) as z:
                return cls(z["images"], z["boxes"], z["keypoints"], z["names"])
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not a synthetic crop cache (images, boxes, keypoints, names) ({exc}); "
                             "delete it to render it again") from exc


def crop_frames(frames: np.ndarray, keypoints: np.ndarray, crop_size: tuple[int, int], margin: float,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops (n, h, w, 3) of frames (n, H, W, 3) around the keypoints' boxes, with boxes (n, 4) and keypoints
    (n, 23, 3) moved to crop pixels. The crop covers the box padded to the crop's aspect times ``margin``."""
    boxes = truth_boxes(keypoints)
    center, size = box_to_center_size(boxes, crop_size, margin)
    affine = crop_to_image_affine(center, size, crop_size).numpy()  # crop -> image
    crops = np.stack([cv2.warpAffine(f, a, crop_size, flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_CONSTANT) for f, a in zip(frames, affine)])
    inv = np.linalg.inv(affine[:, :, :2])  # image -> crop: inv @ (x - t)
    kp = keypoints.copy()
    kp[..., :2] = np.einsum("nij,nkj->nki", inv, keypoints[..., :2] - affine[:, None, :, 2])
    corners = boxes[:, None, :2] + np.array([[0.0, 0.0], [1.0, 1.0]]) * boxes[:, None, 2:]
    c = np.einsum("nij,nkj->nki", inv, corners - affine[:, None, :, 2])
    return crops, np.concatenate([c[:, 0], c[:, 1] - c[:, 0]], 1), kp


def render_crops(specs: Sequence[SessionSpec], frames_per_camera: int = 24, crop_size: tuple[int, int] = (144, 192),
                 margin: float = 1.9) -> SyntheticCrops:
    """Render the sessions of ``specs`` and keep ``frames_per_camera`` crops per camera (see :class:`SyntheticCrops`).

    crop_size (w, h); margin: crop extent / person box (padded to the crop aspect), leaving room for the
    training augmentation's zoom-out and rotation. Frames with fewer than 12 joints in the image are dropped.
    """
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]] = []
    for spec in tqdm(specs, desc="render", unit="session", disable=None):
        for cam, frames, kp in rendered_frames(spec, frames_per_camera):
            keep = (kp[..., 2] > 0).sum(-1) >= 12
            if not keep.any():
                continue
            crops, boxes, kpc = crop_frames(frames[keep], kp[keep], crop_size, margin)
            names = [f"{spec.motion}/{spec.rig}/{spec.seed}/{cam}/{i}" for i in np.flatnonzero(keep)]
            parts.append((crops, boxes, kpc, names))
    if not parts:
        raise InputError("no rendered frame shows the subject (every camera misses it); check the rigs")
    return SyntheticCrops(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                          np.concatenate([p[2] for p in parts]), np.array(sum((p[3] for p in parts), [])))


def synthetic_source(cache: str | os.PathLike | None, specs: Sequence[SessionSpec], frames_per_camera: int = 24,
                     ) -> SyntheticCrops:
    """Crops of ``specs`` read from ``cache`` when it exists, else rendered (and saved there when given)."""
    if cache is not None and Path(cache).exists():
        crops = SyntheticCrops.load(cache)
        log.info("%s: %d synthetic crops", cache, len(crops))
        return crops
    crops = render_crops(specs, frames_per_camera)
    if cache is not None:
        crops.save(cache)
    return crops


def rendered_pck(estimator: TopDownEstimator, spec: SessionSpec, frames_per_camera: int | None = None,
                 mode: str = "boxes", alpha: float = 0.05, batch_size: int = 8) -> dict[str, float]:
    """PCK@alpha (of the truth box's longer side) of ``estimator`` on full rendered frames of ``spec``.

    mode "boxes": person boxes from the truth keypoints; "track"/"full": the estimator finds the person.
    Runs ``estimator.estimate_video`` per camera. Returns {"pck", "frames", "joints", "median_px"} over all cameras.
    """
    preds, gts = [], []
    for cam, frames, kp in rendered_frames(spec, frames_per_camera):
        boxes = truth_boxes(kp)
        batches = ((np.arange(s, min(s + batch_size, len(frames))), np.zeros(0), frames[s:s + batch_size])
                   for s in range(0, len(frames), batch_size))
        with torch.inference_mode():
            pred = estimator.estimate_video(batches, boxes=boxes if mode == "boxes" else None, track=mode == "track")
        preds.append(pred.keypoints)
        gts.append(kp)
    pred, gt = np.concatenate(preds), np.concatenate(gts)
    norm = truth_boxes(gt)[:, 2:].max(1)
    vis = gt[..., 2] > 0
    err = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)[vis]
    return {"pck": pck(pred, gt, norm, alpha), "frames": float(len(gt)), "joints": float(vis.sum()),
            "median_px": float(np.nanmedian(err))}


#: The demo training set: the training motions on every built-in rig, three seeds each (subject heights vary).
DEMO_TRAIN = dict(motions=TRAIN_MOTIONS, rigs=("opencap2", "opencap3", "opencap5", "ring4"), seeds=(1, 2, 3))
#: Its validation set: the held-out motion on two rigs, seeds the training set never uses.
DEMO_VAL = dict(motions=(HELD_OUT_MOTION,), rigs=("opencap3", "ring4"), seeds=(101,))


def demo_sources(cache: str | os.PathLike | None = None, frames_per_camera: int = 20,
                 motions: Sequence[str] | None = None) -> tuple[SyntheticCrops, SyntheticCrops]:
    """(training crops, validation crops) of DEMO_TRAIN (its ``motions`` replaced when given) / DEMO_VAL;
    ``cache`` (npz) and its ``_val`` sibling are read when present, else rendered and written."""
    val_cache = None if cache is None else Path(cache).with_name(Path(cache).stem + "_val.npz")
    train_set = DEMO_TRAIN if motions is None else {**DEMO_TRAIN, "motions": tuple(motions)}
    if HELD_OUT_MOTION in train_set["motions"]:
        raise ConfigError(f"{HELD_OUT_MOTION} is the held-out validation motion of the demo 2D network; "
                          f"leave it out of data.motions")
    train = synthetic_source(cache, session_specs(**train_set), frames_per_camera)
    val = synthetic_source(val_cache, session_specs(**DEMO_VAL), 8)
    return train, val


__all__ = ["DEMO_TRAIN", "DEMO_VAL", "HELD_OUT_MOTION", "TRAIN_MOTIONS", "SessionSpec", "SyntheticCrops",
           "crop_frames", "demo_sources", "render_crops", "rendered_frames", "rendered_pck", "session_specs",
           "synthetic_source", "truth_boxes"]
