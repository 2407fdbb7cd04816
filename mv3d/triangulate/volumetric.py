"""Volumetric triangulation (torch): per-view heatmaps unprojected into cuboids, coarse to fine.

For every joint a cube of voxels is projected into every view *with lens distortion*;
each view scores the voxels with its heatmap for that joint, either a 2D network's
heatmap read by ``grid_sample`` or, when only keypoints exist, the Gaussian
``exp(-|uv - kp|^2 / 2 sigma^2)`` evaluated exactly at the projected voxel (a heatmap of
unlimited resolution). Views are aggregated by

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
from typing import TYPE_CHECKING

import numpy as np

from mv3d.errors import InputError
from mv3d.skeleton import JOINT_INDEX, MV3D23
from mv3d.triangulate.algebraic import depths

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mv3d.camera import CameraRig

AGGREGATIONS = ("product", "sum")


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


def _view_scores(uv: torch.Tensor, spacing_px: torch.Tensor, kp: torch.Tensor | None,
                 heatmaps: torch.Tensor | None, boxes: torch.Tensor | None, p: VolumetricParams) -> torch.Tensor:
    """Log-heatmap of every voxel in every view: (C, F, J, V).

    uv: (C, F, J, V, 2) projected voxels (pixels); spacing_px: (C, F, J) voxel spacing in
    pixels, by which the heatmaps are widened on coarse cubes (no voxel falls between
    peaks); kp: (C, F, J, 2) keypoints; heatmaps: (C, F, J, H, W); boxes: (C, F, 4)
    x0, y0, x1, y1 image pixels covered by the heatmaps.
    """
    import torch
    import torch.nn.functional as Fn

    if heatmaps is None:
        var = p.sigma_px ** 2 + spacing_px ** 2
        return -((uv - kp[..., None, :]) ** 2).sum(-1) / (2 * var[..., None])
    C, F, J, H, W = heatmaps.shape
    x0, y0, x1, y1 = (boxes[..., i, None, None] for i in range(4))
    hm = heatmaps.reshape(C * F * J, 1, H, W)
    blur = float(torch.median(spacing_px * W / (boxes[..., 2] - boxes[..., 0])[..., None]))
    if blur > 0.5:
        hm = _blur(hm, blur)
    gx = 2 * (uv[..., 0] - x0) / (x1 - x0) - 1
    gy = 2 * (uv[..., 1] - y0) / (y1 - y0) - 1
    grid = torch.stack([gx, gy], -1).reshape(C * F * J, -1, 1, 2).to(heatmaps.dtype)
    vals = Fn.grid_sample(hm, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    vals = vals.reshape(C, F, J, -1).to(uv.dtype)
    return torch.log(vals.clamp_min(1e-6))


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
                     p: VolumetricParams, heatmaps: torch.Tensor | None = None,
                     boxes: torch.Tensor | None = None) -> torch.Tensor:
    """Coarse-to-fine soft-argmax of one batch of frames: (F, J, 3).

    trig: TorchRig; kp: (C, F, J, 2) keypoints (pixels, only used without heatmaps);
    w: (C, F, J) view weights (0 = ignore view); centre: (F, 3) first cube centre;
    finest: (F, J) side of the finest cube (m).
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
        log_h = _view_scores(uv, spacing_px, kp, heatmaps, boxes, p)
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


def triangulate_volumetric(rig: CameraRig, keypoints: np.ndarray, init: np.ndarray, used: np.ndarray | None = None,
                           heatmaps: np.ndarray | None = None, heatmap_boxes: np.ndarray | None = None,
                           params: VolumetricParams | None = None) -> np.ndarray:
    """Volumetric triangulation of every frame and joint.

    rig: C cameras; keypoints: (C, F, J, 3) pixels + confidence (the confidences weight the
    views; the positions render the heatmaps when ``heatmaps`` is None); init: (F, J, 3)
    algebraic points (their pelvis, or joint median, centres the first cube; NaN frames
    stay NaN); used: optional (C, F, J) views to use (e.g. the robust inliers);
    heatmaps: optional (C, F, J, H, W) network heatmaps covering heatmap_boxes (C, F, 4)
    = x0, y0, x1, y1 image pixels (default: the whole image). Returns (F, J, 3) metres,
    NaN where fewer than 2 views carry weight.
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
    if heatmaps is not None:
        heatmaps = np.asarray(heatmaps)
        if heatmaps.shape[:3] != (C, F, J) or heatmaps.ndim != 5:
            raise InputError(f"volumetric: heatmaps must have shape ({C}, {F}, {J}, H, W), got {heatmaps.shape}")
        if heatmap_boxes is None:
            heatmap_boxes = np.broadcast_to(np.concatenate([[0, 0], rig.sizes.T]).T.reshape(C, 1, 4)
                                            .astype(float), (C, F, 4))
    w = np.where(valid, conf, 0.0)
    if J == len(MV3D23):
        centre = 0.5 * (init[:, JOINT_INDEX["l_hip"]] + init[:, JOINT_INDEX["r_hip"]])
    else:
        centre = np.full((F, 3), np.nan)
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.where(np.isfinite(centre), centre, np.nanmedian(init, axis=1))
    frame_ok = np.isfinite(centre).all(-1)
    # Finest cube: 8 posterior standard deviations of a point seen with sigma_px noise.
    z = depths(rig.normalized_projection_matrices(), np.nan_to_num(init))  # (C, F, J)
    f = 0.5 * (rig.K[:, 0, 0] + rig.K[:, 1, 1])
    sig3 = p.sigma_px * np.where(w > 0, np.abs(z), np.nan) / f[:, None, None]
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            finest = 8 * np.nanmedian(sig3, axis=0)
    finest = np.where(np.isfinite(finest), finest, 0.05)
    out = np.full((F, J, 3), np.nan)
    dev = torch.device(p.device)
    dtype = getattr(torch, p.dtype)
    trig = TorchRig.from_rig(rig, dtype=dtype, device=dev)
    with single_thread():
        for s in range(0, F, p.frames_per_batch):
            sl = slice(s, s + p.frames_per_batch)
            ok = np.flatnonzero(frame_ok[sl]) + s
            if not ok.size:
                continue

            def T(a):
                return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=dev)

            hm = None if heatmaps is None else T(heatmaps[:, ok])
            bx = None if heatmap_boxes is None else T(np.asarray(heatmap_boxes)[:, ok])
            Xb = volumetric_batch(trig, T(np.nan_to_num(kp[:, ok, :, :2])), T(w[:, ok]), T(centre[ok]),
                                  T(finest[ok]), p, hm, bx)
            out[ok] = Xb.cpu().numpy()
    out[(w > 0).sum(0) < 2] = np.nan
    return out
