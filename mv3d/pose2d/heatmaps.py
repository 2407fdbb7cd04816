"""Gaussian heatmap targets and their decoding, batched in torch.

Coordinates follow UDP (Huang et al., "The Devil is in the Details: Delving into Unbiased Data
Processing for Human Pose Estimation", CVPR 2020): pixel centres are integers, and a crop of
width W_in maps onto a heatmap of width W_hm by the factor (W_hm - 1) / (W_in - 1), so
flipping and rescaling are exact. Decoding: argmax + quarter-pixel shift (Simple Baselines) or
DARK (Zhang et al., "Distribution-Aware Coordinate Representation for Human Pose Estimation",
CVPR 2020): second-order Taylor expansion of the Gaussian-blurred log-heatmap at its maximum.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def input_to_heatmap_scale(input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> Tensor:
    """(2,) factors (x, y) taking crop pixels to heatmap pixels: (hm - 1) / (in - 1). Sizes are (w, h)."""
    return torch.tensor([(heatmap_size[0] - 1) / (input_size[0] - 1),
                         (heatmap_size[1] - 1) / (input_size[1] - 1)], dtype=torch.float64)


def render_gaussian_targets(keypoints: Tensor, heatmap_size: tuple[int, int], sigma: float = 2.0,
                            ) -> tuple[Tensor, Tensor]:
    """Unnormalised Gaussians (peak 1) centred at sub-pixel heatmap coordinates.

    keypoints: (..., J, 3) heatmap-pixel x, y and visibility (> 0: labelled).
    Returns heatmaps (..., J, h, w) and target weights (..., J) (float32, float64 for float64 input): 0 for
    unlabelled joints and for joints whose Gaussian lies entirely outside the heatmap (3 sigma).
    """
    w, h = heatmap_size
    dtype = torch.float64 if keypoints.dtype == torch.float64 else torch.float32
    kp = keypoints.to(dtype)
    x, y, vis = kp[..., 0], kp[..., 1], kp[..., 2]
    inside = (x > -3 * sigma) & (x < w - 1 + 3 * sigma) & (y > -3 * sigma) & (y < h - 1 + 3 * sigma)
    weight = ((vis > 0) & inside & torch.isfinite(x) & torch.isfinite(y)).to(dtype)
    xs = torch.arange(w, dtype=dtype, device=kp.device)
    ys = torch.arange(h, dtype=dtype, device=kp.device)
    gx = torch.exp(-((xs - torch.nan_to_num(x)[..., None]) ** 2) / (2 * sigma**2))  # (..., J, w)
    gy = torch.exp(-((ys - torch.nan_to_num(y)[..., None]) ** 2) / (2 * sigma**2))  # (..., J, h)
    heatmaps = gy[..., :, None] * gx[..., None, :] * weight[..., None, None]
    return heatmaps, weight


def argmax_2d(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Integer peak location and value. heatmaps (N, J, h, w) -> coords (N, J, 2) float (x, y), maxvals (N, J)."""
    n, j, h, w = heatmaps.shape
    maxvals, idx = heatmaps.reshape(n, j, h * w).max(dim=-1)
    coords = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], dim=-1).to(heatmaps.dtype)
    return coords, maxvals


def _neighbours(field: Tensor, coords: Tensor) -> Tensor:
    """The 3x3 neighbourhood of field (N, J, h, w) around integer coords (N, J, 2), edge-replicated: (N, J, 3, 3)."""
    n, j, h, w = field.shape
    padded = F.pad(field.reshape(n * j, 1, h, w), (1, 1, 1, 1), mode="replicate").reshape(n, j, h + 2, w + 2)
    cx = coords[..., 0].long() + 1
    cy = coords[..., 1].long() + 1
    off = torch.arange(-1, 2, device=field.device)
    rows = (cy[..., None] + off)[..., :, None].expand(n, j, 3, 3)
    cols = (cx[..., None] + off)[..., None, :].expand(n, j, 3, 3)
    flat = padded.reshape(n, j, -1)
    return torch.gather(flat, 2, (rows * (w + 2) + cols).reshape(n, j, 9)).reshape(n, j, 3, 3)


def decode_argmax_quarter(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Argmax shifted by a quarter pixel toward the higher neighbour (Simple Baselines decoding).

    heatmaps (N, J, h, w) -> coords (N, J, 2) heatmap pixels, maxvals (N, J).
    """
    coords, maxvals = argmax_2d(heatmaps)
    nb = _neighbours(heatmaps, coords)
    shift = torch.stack([torch.sign(nb[..., 1, 2] - nb[..., 1, 0]), torch.sign(nb[..., 2, 1] - nb[..., 0, 1])], -1)
    return coords + 0.25 * shift, maxvals


def gaussian_blur(heatmaps: Tensor, kernel: int) -> Tensor:
    """Depthwise Gaussian blur of (N, J, h, w) with an odd ``kernel``; sigma as OpenCV's default for that size."""
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    r = kernel // 2
    t = torch.arange(-r, r + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    n, j, h, w = heatmaps.shape
    x = heatmaps.reshape(n * j, 1, h, w)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), g.view(1, 1, -1, 1))
    return x.reshape(n, j, h, w)


def decode_dark(heatmaps: Tensor, kernel: int = 11) -> tuple[Tensor, Tensor]:
    """DARK decoding: Newton step on the blurred log-heatmap at the argmax.

    heatmaps (N, J, h, w) -> coords (N, J, 2) sub-pixel heatmap coordinates, maxvals (N, J) (the raw
    heatmap maximum, used as confidence). ``kernel`` is the blur size (11 for 64x48 heatmaps with sigma 2).
    The blur is rescaled to keep each map's maximum, as in the paper, so the log stays well conditioned.
    """
    hm = heatmaps.to(torch.float64)
    coords, _ = argmax_2d(hm)
    maxvals = hm.flatten(2).max(dim=-1).values
    if kernel > 1:
        blurred = gaussian_blur(hm, kernel)
        bmax = blurred.flatten(2).max(dim=-1).values.clamp_min(1e-12)
        hm = blurred * (maxvals.clamp_min(0) / bmax)[..., None, None]
    # Differentiate at the nearest interior pixel so that peaks on the border get a full stencil.
    h, w = hm.shape[-2:]
    centre = torch.stack([coords[..., 0].clamp(1, max(w - 2, 1)), coords[..., 1].clamp(1, max(h - 2, 1))], -1)
    nb = torch.log(_neighbours(hm, centre).clamp_min(1e-10))
    dx = 0.5 * (nb[..., 1, 2] - nb[..., 1, 0])
    dy = 0.5 * (nb[..., 2, 1] - nb[..., 0, 1])
    dxx = nb[..., 1, 2] - 2 * nb[..., 1, 1] + nb[..., 1, 0]
    dyy = nb[..., 2, 1] - 2 * nb[..., 1, 1] + nb[..., 0, 1]
    dxy = 0.25 * (nb[..., 2, 2] - nb[..., 2, 0] - nb[..., 0, 2] + nb[..., 0, 0])
    det = dxx * dyy - dxy**2
    ok = (det > 1e-12) & (dxx < 0)  # a proper maximum; otherwise keep the integer peak
    safe = torch.where(ok, det, torch.ones_like(det))
    ox = -(dyy * dx - dxy * dy) / safe
    oy = -(dxx * dy - dxy * dx) / safe
    refined = centre + torch.stack([ox, oy], -1)
    # A Newton step that leaves the argmax pixel's neighbourhood is not trusted.
    refined = torch.maximum(torch.minimum(refined, coords + 1.0), coords - 1.0)
    return torch.where(ok[..., None], refined, coords).to(heatmaps.dtype), maxvals.to(heatmaps.dtype)


def decode_heatmaps(heatmaps: Tensor, method: str = "dark", kernel: int | None = None) -> tuple[Tensor, Tensor]:
    """Heatmap coordinates and confidences. method: "dark" or "argmax" (quarter-pixel shift).

    heatmaps (N, J, h, w) -> coords (N, J, 2) in heatmap pixels, maxvals (N, J).
    The default DARK kernel grows with the heatmap: 11 at width 48 (the paper's setting), odd, >= 3.
    """
    if method == "argmax":
        return decode_argmax_quarter(heatmaps)
    if method != "dark":
        raise ValueError(f"decode method must be 'dark' or 'argmax', got {method!r}")
    if kernel is None:
        kernel = max(3, 2 * math.floor(heatmaps.shape[-1] * 5 / 48) + 1)
    return decode_dark(heatmaps, kernel)


def heatmap_to_input(coords: Tensor, input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> Tensor:
    """UDP transform from heatmap pixels (..., 2) to crop pixels (..., 2)."""
    scale = 1.0 / input_to_heatmap_scale(input_size, heatmap_size).to(coords)
    return coords * scale


def input_to_heatmap(coords: Tensor, input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> Tensor:
    """UDP transform from crop pixels (..., 2) to heatmap pixels (..., 2)."""
    return coords * input_to_heatmap_scale(input_size, heatmap_size).to(coords)
