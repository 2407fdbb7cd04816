"""Volumetric triangulation (torch): per-view heatmaps unprojected into cuboids, coarse to fine.

For every joint a cube of voxels is projected into every view *with lens distortion*;
each view scores the voxels with its heatmap for that joint, either a 2D network's
heatmap read by ``grid_sample`` through its heatmap -> image affine map (an axis-aligned box
for top-down crops, a rotated square for BlazePose's regions), or, when only keypoints exist
(or a joint has no heatmap: NaN maps), the Gaussian ``exp(-|uv - kp|^2 / 2 sigma^2)``
evaluated exactly at the projected voxel (a heatmap of unlimited resolution). Views are
aggregated by

- ``"product"`` (default): sum of confidence-weighted log-heatmaps, i.e. the product of the
  per-view likelihoods; a softmax over the volume is then the posterior of the joint
  position and its mean (3D soft-argmax) the estimate;
- ``"sum"``: confidence-weighted sum of heatmap values (Iskakov et al. 2019), turned into
  probabilities by a softmax of ``softmax_beta`` times the sum over its maximum (so the
  single-view rays, at 1/C of the peak, do not bias the soft-argmax). Less accurate than
  the product away from the optimum; offered for heatmaps trained with it.

The first cube (``cube_size``, default 2 m) is centred on the subject's pelvis from the
algebraic result; each next level shrinks it around the current estimate by 4, down to 8
posterior standard deviations (so the soft-argmax is never truncated), with ``grid``^3
voxels per level. Accuracy is thus not limited by the voxel size. Everything is batched
over cameras, frames, joints and voxels; runs on CPU or GPU.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mv3d.errors import InputError
from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX, MV3D23
from mv3d.triangulate.algebraic import depths

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mv3d.camera import CameraRig

AGGREGATIONS = ("product", "sum")
#: A blur is taken from the coarsest heatmap pyramid level on which it still spans this many cells.
WIDENED_CELLS = 2.0


@dataclass(frozen=True)
class VolumetricParams:
    """cube_size: first cuboid side (m) around the pelvis; grid: voxels per side per level;
    sigma_px: std of the Gaussian heatmaps rendered from keypoints (also the assumed
    heatmap width for the finest cube); aggregation: "product" or "sum";
    softmax_beta: sharpness of the "sum" aggregation's volume softmax; refine_iters: extra iterations
    at the finest cube; frames_per_batch: frames per torch batch (memory); device: torch device; dtype: "float32"
    (default: 3 um resolution at 10 m, twice the speed) or "float64"."""

    cube_size: float = 2.0
    grid: int = 12
    sigma_px: float = 4.0
    aggregation: str = "product"
    softmax_beta: float = 100.0
    refine_iters: int = 2
    max_levels: int = 8
    frames_per_batch: int = 16
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise InputError(f"volumetric aggregation must be one of {', '.join(AGGREGATIONS)}, "
                             f"got {self.aggregation!r}")
        if self.grid < 4:
            raise InputError(f"volumetric grid must have at least 4 voxels per side, got {self.grid}")


class HeatmapSource(Protocol):
    """Network heatmaps of the cameras, read a batch of frames at a time (they may live on disk)."""

    def read(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """maps (C, n, J, h, w) of frames (n,) (NaN maps: no heatmap for that view and joint) and their
        heatmap -> image affines (C, n, 2, 3): heatmap cell (column, row, 1) -> image pixel (x, y)."""


@dataclass
class HeatmapArrays:
    """Heatmaps held in memory: maps (C, F, J, h, w), to_image (C, F, 2, 3) (see :class:`HeatmapSource`)."""

    maps: np.ndarray
    to_image: np.ndarray

    def read(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.maps[:, frames], self.to_image[:, frames]


def box_affines(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Heatmap -> image affines (..., 2, 3) of (w, h) heatmaps covering boxes (..., 4) x0, y0, x1, y1
    (the cells' outer edges on the box's edges)."""
    b = np.asarray(boxes, dtype=float)
    w, h = size
    sx, sy = (b[..., 2] - b[..., 0]) / w, (b[..., 3] - b[..., 1]) / h
    zero = np.zeros_like(sx)
    return np.stack([np.stack([sx, zero, b[..., 0] + 0.5 * sx], -1),
                     np.stack([zero, sy, b[..., 1] + 0.5 * sy], -1)], -2)


def _unit_grid(G: int, dtype, device) -> torch.Tensor:
    import torch

    ax = (torch.arange(G, dtype=dtype, device=device) + 0.5) / G - 0.5
    return torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), dim=-1).reshape(-1, 3)  # (G^3, 3)


def _blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) heatmaps (sigma in heatmap pixels)."""
    import torch
    import torch.nn.functional as Fn

    r = int(np.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=heatmaps.dtype, device=heatmaps.device) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    out = Fn.conv2d(heatmaps, k.reshape(1, 1, 1, -1), padding=(0, r))
    return Fn.conv2d(out, k.reshape(1, 1, -1, 1), padding=(r, 0))


def _pyramid(maps: torch.Tensor) -> list[torch.Tensor]:
    """(N, 1, H, W) maps and their successive 2x average-pooled reductions, down to 4 cells a side."""
    import torch.nn.functional as Fn

    levels = [maps]
    while min(levels[-1].shape[-2:]) >= 8:
        levels.append(Fn.avg_pool2d(levels[-1], 2))
    return levels


def _widened(levels: list[torch.Tensor], sigma: float) -> torch.Tensor:
    """The maps blurred by ``sigma`` cells of the finest level: from the coarsest pyramid level on which the
    blur still spans ``WIDENED_CELLS`` of its cells (so that bilinear reads of it stay smooth; its pooling
    blurred by (4^k - 1) / 12 cells^2 already), with a Gaussian for the rest. One pyramid per batch keeps
    the kernels short on the coarse cubes."""
    k = 0
    while k + 1 < len(levels) and sigma / 2 ** (k + 1) >= WIDENED_CELLS:
        k += 1
    rest = np.sqrt(max(sigma ** 2 - (4 ** k - 1) / 12, 0.0)) / 2 ** k
    return _blur(levels[k], rest) if rest > 0.5 else levels[k]


def _view_scores(uv: torch.Tensor, spacing_px: torch.Tensor, kp: torch.Tensor,
                 heatmaps: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor] | None,
                 p: VolumetricParams) -> torch.Tensor:
    """Log-heatmap of every voxel in every view: (C, F, J, V).

    uv: (C, F, J, V, 2) projected voxels (pixels); spacing_px: (C, F, J) voxel spacing in
    pixels, by which the heatmaps are widened on coarse cubes (no voxel falls between
    peaks); kp: (C, F, J, 2) keypoints, whose Gaussians score the views without a heatmap;
    heatmaps: the maps' pyramid (``_pyramid`` of the (C * F * J, 1, H, W) maps), heatmap ->
    image affines (C, F, 2, 3) and which views and joints have a map (C, F, J).
    """
    import torch
    import torch.nn.functional as Fn

    var = p.sigma_px ** 2 + spacing_px ** 2
    gauss = -((uv - kp[..., None, :]) ** 2).sum(-1) / (2 * var[..., None])
    if heatmaps is None:
        return gauss
    levels, to_image, has_map = heatmaps
    C, F, J = has_map.shape
    H, W = levels[0].shape[-2:]
    A, t = to_image[..., :2], to_image[..., 2]
    cell = torch.einsum("cfab,cfjvb->cfjva", torch.linalg.inv(A), uv - t[:, :, None, None, :])
    px_per_cell = torch.sqrt(torch.linalg.det(A).abs())  # (C, F)
    blur = float(torch.median((spacing_px / px_per_cell[..., None])[has_map])) if has_map.any() else 0.0
    hm = _widened(levels, blur)
    # normalised coordinates (align_corners=False) are the same on every pyramid level
    grid = torch.stack([2 * (cell[..., 0] + 0.5) / W - 1, 2 * (cell[..., 1] + 0.5) / H - 1], -1)
    vals = Fn.grid_sample(hm, grid.reshape(C * F * J, -1, 1, 2).to(hm.dtype), mode="bilinear",
                          padding_mode="zeros", align_corners=False)
    log_map = torch.log(vals.reshape(C, F, J, -1).to(uv.dtype).clamp_min(1e-6))
    return torch.where(has_map[..., None], log_map, gauss)


def _aggregate(log_h: torch.Tensor, w: torch.Tensor, p: VolumetricParams) -> torch.Tensor:
    """Voxel probabilities (F, J, V) from per-view log-heatmaps (C, F, J, V) and weights (C, F, J).

    "sum" ends with a softmax of beta * (aggregate / its maximum) over the volume,
    so that the rays of single views (ridges of 1/C of the peak) do not bias the soft-argmax.
    """
    import torch

    wv = w[..., None]
    if p.aggregation == "product":
        return torch.softmax((wv * log_h).sum(0), dim=-1)
    s = (wv * torch.exp(log_h)).sum(0)
    s = s / s.amax(-1, keepdim=True).clamp_min(1e-30)
    return torch.softmax(p.softmax_beta * s, dim=-1)


def volumetric_batch(trig, kp: torch.Tensor, w: torch.Tensor, centre: torch.Tensor, finest: torch.Tensor,
                     p: VolumetricParams, heatmaps: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor] | None = None,
                     ) -> torch.Tensor:
    """Coarse-to-fine soft-argmax of one batch of frames: (F, J, 3).

    trig: TorchRig; kp: (C, F, J, 2) keypoints (pixels, for the views without a heatmap);
    w: (C, F, J) view weights (0 = ignore view); centre: (F, 3) first cube centre;
    finest: (F, J) side of the finest cube (m); heatmaps: see ``_view_scores``.
    """
    import torch

    F, J = w.shape[1:]
    unit = _unit_grid(p.grid, kp.dtype, kp.device)
    X = centre[:, None, :].expand(F, J, 3)
    size = torch.full((F, J), p.cube_size, dtype=kp.dtype, device=kp.device)
    level, extra = 0, 0
    while level < p.max_levels + p.refine_iters:
        if level == 0:  # one cube shared by all joints: project it once per frame
            vox = (X[:, :1, None, :] + size[:, :1, None, None] * unit)  # (F, 1, V, 3)
            uv, z = trig.project(vox)
            uv, z = uv.expand(-1, -1, J, -1, -1), z.expand(-1, -1, J, -1)
        else:
            vox = X[:, :, None, :] + size[..., None, None] * unit  # (F, J, V, 3)
            uv, z = trig.project(vox)
        zc = trig.project(X)[1].abs().clamp_min(1e-3)  # (C, F, J) depth of the cube centre
        spacing_px = (size / p.grid)[None] * trig.K[:, 0, 0, None, None] / zc
        log_h = _view_scores(uv, spacing_px, kp, heatmaps, p)
        log_h = torch.where(z > 1e-3, log_h, torch.full_like(log_h, -1e4))
        prob = _aggregate(log_h, w, p)
        X = (prob[..., None] * vox).sum(-2)
        if bool((size <= finest).all()):
            extra += 1
            if extra > p.refine_iters:
                break
        size = torch.maximum(size / 4, finest)
        level += 1
    return X


def heatmap_source(heatmaps: np.ndarray | HeatmapSource | None, boxes: np.ndarray | None, rig: CameraRig,
                   shape: tuple[int, int, int]) -> HeatmapSource | None:
    """A heatmap source from arrays (C, F, J, H, W) over boxes (C, F, 4) x0, y0, x1, y1 (default: the whole
    image), or the source itself."""
    if heatmaps is None or not isinstance(heatmaps, np.ndarray):
        return heatmaps
    C, F, J = shape
    if heatmaps.shape[:3] != (C, F, J) or heatmaps.ndim != 5:
        raise InputError(f"volumetric: heatmaps must have shape ({C}, {F}, {J}, H, W), got {heatmaps.shape}")
    if boxes is None:
        boxes = np.broadcast_to(np.concatenate([[0, 0], rig.sizes.T]).T.reshape(C, 1, 4).astype(float), (C, F, 4))
    return HeatmapArrays(heatmaps, box_affines(boxes, (heatmaps.shape[-1], heatmaps.shape[-2])))


def _batch_heatmaps(source: HeatmapSource, frames: np.ndarray, swapped: np.ndarray | None, T) -> tuple:
    """One batch's maps pyramid, affines and has_map (see ``_view_scores``), the left/right channels of
    ``swapped`` (C, F, J) views exchanged like their keypoints."""
    maps, to_image = source.read(frames)
    if swapped is not None:
        sw = swapped[:, frames]
        channel = np.where(sw, np.asarray(FLIP_INDEX)[: sw.shape[-1]], np.arange(sw.shape[-1]))
        maps = np.take_along_axis(maps, channel[..., None, None], axis=2)
    fine = np.isfinite(to_image).all((-1, -2))
    has_map = np.isfinite(maps[..., 0, 0]) & fine[..., None]
    to_image = np.where(fine[..., None, None], to_image, [[1.0, 0, 0], [0, 1.0, 0]])  # invertible placeholders
    levels = _pyramid(T(np.nan_to_num(maps)).reshape(-1, 1, *maps.shape[-2:]))
    return levels, T(to_image), T(has_map).bool()


def triangulate_volumetric(rig: CameraRig, keypoints: np.ndarray, init: np.ndarray, used: np.ndarray | None = None,
                           heatmaps: np.ndarray | HeatmapSource | None = None, heatmap_boxes: np.ndarray | None = None,
                           params: VolumetricParams | None = None, swapped: np.ndarray | None = None) -> np.ndarray:
    """Volumetric triangulation of every frame and joint.

    rig: C cameras; keypoints: (C, F, J, 3) pixels + confidence (the confidences weight the
    views; the positions render the Gaussians of views without a heatmap); init: (F, J, 3)
    algebraic points (their pelvis, or joint median, centres the first cube; NaN frames
    stay NaN); used: optional (C, F, J) views to use (e.g. the robust inliers);
    heatmaps: a :class:`HeatmapSource`, or (C, F, J, H, W) network heatmaps covering heatmap_boxes
    (C, F, 4) = x0, y0, x1, y1 image pixels (default: the whole image); swapped: (C, F, J) views whose
    keypoints had their left/right labels exchanged (their heatmap channels are exchanged too).
    Returns (F, J, 3) metres, NaN where fewer than 2 views carry weight.
    """
    import torch

    from mv3d.triangulate.torch_camera import TorchRig, single_thread

    p = params or VolumetricParams()
    kp = np.asarray(keypoints, dtype=float)
    C, F, J, _ = kp.shape
    init = np.asarray(init, dtype=float)
    if init.shape != (F, J, 3):
        raise InputError(f"volumetric: init must have shape ({F}, {J}, 3), got {init.shape}")
    conf = np.nan_to_num(kp[..., 2])
    valid = np.isfinite(kp[..., :2]).all(-1) & (conf > 0)
    if used is not None:
        valid &= np.asarray(used, bool)
    source = heatmap_source(heatmaps, heatmap_boxes, rig, (C, F, J))
    w = np.where(valid, conf, 0.0)
    centre, finest = _cube_centres(rig, init, w, p)
    frame_ok = np.isfinite(centre).all(-1)
    out = np.full((F, J, 3), np.nan)
    dev = torch.device(p.device)
    dtype = getattr(torch, p.dtype)
    trig = TorchRig.from_rig(rig, dtype=dtype, device=dev)

    def T(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=dev)

    with single_thread():
        for s in range(0, F, p.frames_per_batch):
            ok = np.flatnonzero(frame_ok[s:s + p.frames_per_batch]) + s
            if not ok.size:
                continue
            hm = None if source is None else _batch_heatmaps(source, ok, swapped, T)
            Xb = volumetric_batch(trig, T(np.nan_to_num(kp[:, ok, :, :2])), T(w[:, ok]), T(centre[ok]),
                                  T(finest[ok]), p, hm)
            out[ok] = Xb.cpu().numpy()
    out[(w > 0).sum(0) < 2] = np.nan
    return out


def _cube_centres(rig: CameraRig, init: np.ndarray, w: np.ndarray, p: VolumetricParams,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """First cube centres (F, 3): the pelvis of ``init`` (F, J, 3) (else its joints' median), and the finest
    cube sides (F, J): 8 posterior standard deviations of a point seen with ``sigma_px`` noise."""
    F, J, _ = init.shape
    if J == len(MV3D23):
        centre = 0.5 * (init[:, JOINT_INDEX["l_hip"]] + init[:, JOINT_INDEX["r_hip"]])
    else:
        centre = np.full((F, 3), np.nan)
    z = depths(rig.normalized_projection_matrices(), np.nan_to_num(init))  # (C, F, J)
    f = 0.5 * (rig.K[:, 0, 0] + rig.K[:, 1, 1])
    sig3 = p.sigma_px * np.where(w > 0, np.abs(z), np.nan) / f[:, None, None]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.where(np.isfinite(centre), centre, np.nanmedian(init, axis=1))
        finest = 8 * np.nanmedian(sig3, axis=0)
    return centre, np.where(np.isfinite(finest), finest, 0.05)
