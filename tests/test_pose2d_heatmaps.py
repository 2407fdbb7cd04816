"""Heatmap targets and decoding; crop geometry round trips."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mv3d.errors import InputError
from mv3d.pose2d.heatmaps import (decode_heatmaps, heatmap_to_input, input_to_heatmap,
                                  render_gaussian_targets)
from mv3d.pose2d.topdown import (apply_affine, box_to_center_size, check_boxes, crop_images,
                                 crop_to_image_affine, frames_to_tensor, invert_affine)

HM = (48, 64)  # heatmap (w, h) of a 192x256 input


def _random_peaks(n, margin, seed=0):
    g = torch.Generator().manual_seed(seed)
    lo = torch.tensor([margin, margin])
    hi = torch.tensor([HM[0] - 1 - margin, HM[1] - 1 - margin])
    xy = lo + torch.rand(n, 23, 2, generator=g, dtype=torch.float64) * (hi - lo)
    return torch.cat([xy, torch.ones(n, 23, 1, dtype=torch.float64)], -1)


def test_dark_recovers_subpixel_gaussian_centre():
    kp = _random_peaks(20, margin=4.0)  # 2 sigma from the border: the blur sees the whole peak
    hm, weight = render_gaussian_targets(kp, HM, sigma=2.0)
    coords, conf = decode_heatmaps(hm, "dark")
    err = (coords.double() - kp[..., :2]).norm(dim=-1)
    assert err.max() < 0.05  # the brief's bound; measured ~2e-2 worst, 1e-4 typical (float32 maps)
    assert torch.all(conf > 0.9) and torch.all(weight == 1)
    # Without blur the log of a Gaussian is exactly quadratic: exact anywhere, border included.
    kp_any = _random_peaks(20, margin=0.0, seed=1)
    hm_any, _ = render_gaussian_targets(kp_any, HM, sigma=2.0)
    c2, _ = decode_heatmaps(hm_any.double(), "dark", kernel=1)
    assert (c2 - kp_any[..., :2]).norm(dim=-1).max() < 1e-4


def test_argmax_quarter_shift_is_within_its_resolution():
    kp = _random_peaks(20, margin=1.0)
    hm, _ = render_gaussian_targets(kp, HM, sigma=2.0)
    coords, _ = decode_heatmaps(hm, "argmax")
    # integer argmax within 0.5 px per axis, the quarter shift toward the true side: |error| <= 0.5 per axis
    assert (coords.double() - kp[..., :2]).abs().max() <= 0.5 + 1e-6
    assert (coords.double() - kp[..., :2]).abs().mean() < 0.2  # better than plain argmax (0.25 mean)


def test_targets_zero_weight_for_invisible_and_far_outside():
    kp = torch.tensor([[[10.0, 10.0, 2.0], [10.0, 10.0, 0.0], [-20.0, 5.0, 2.0], [47.5, 30.0, 1.0]]])
    hm, w = render_gaussian_targets(kp, HM, sigma=2.0)
    assert w.tolist() == [[1.0, 0.0, 0.0, 1.0]]
    assert hm[0, 0, 10, 10] == pytest.approx(1.0) and hm[0, 1].abs().max() == 0 and hm[0, 2].abs().max() == 0
    # sub-pixel centre 0.5 px right of the last column: the border pixel holds exp(-0.25 / 8)
    assert hm[0, 3, 30, 47] == pytest.approx(np.exp(-0.25 / 8), rel=1e-6)


def test_crop_matches_opencv_warp_and_preserves_aspect():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3)).astype(np.uint8), (5, 5), 2)
    boxes = np.array([[30.3, 20.7, 50.0, 70.0], [100.0, 10.0, 80.0, 20.0]])
    center, size = box_to_center_size(boxes, (48, 64))
    # padded to 3:4, never squashed: the box fits inside, enlarged by 1.25
    assert torch.allclose(size[:, 0] / size[:, 1], torch.tensor(0.75, dtype=torch.float64))
    assert torch.all(size >= torch.as_tensor(boxes[:, 2:]) * 1.25 - 1e-9)
    aff = crop_to_image_affine(center, size, (48, 64), torch.tensor([0.3, -0.2]))
    crops = crop_images(frames_to_tensor(np.stack([img, img])), aff, (48, 64))
    for i in range(2):
        ref = cv2.warpAffine(img.astype(np.float32), aff[i].numpy(), (48, 64),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        ours = crops[i].permute(1, 2, 0).numpy()[..., ::-1]
        # interior only: OpenCV and grid_sample differ on how they blend with the zero border
        assert np.abs(ours - ref)[2:-2, 2:-2].max() < 0.01


def test_round_trip_image_crop_heatmap_image():
    rng = np.random.default_rng(3)
    input_size = (192, 256)
    for trial in range(20):
        w, h = rng.uniform(20, 400), rng.uniform(20, 400)  # random sizes and aspect ratios
        box = np.array([[rng.uniform(-50, 500), rng.uniform(-50, 500), w, h]])
        center, size = box_to_center_size(box, input_size)
        aff = crop_to_image_affine(center, size, input_size, torch.tensor([rng.uniform(-0.2, 0.2)]))
        # keypoints inside the box (the 1.25 padding keeps them >= 10 % of the crop, ~4.8 heatmap px,
        # from its border: DARK's blur then sees the whole peak)
        pts = box[:, None, :2] + rng.uniform(0.02, 0.98, (1, 23, 2)) * box[:, None, 2:]
        uv = apply_affine(invert_affine(aff), torch.as_tensor(pts))
        hm_xy = input_to_heatmap(uv, input_size, HM)
        hm, _ = render_gaussian_targets(torch.cat([hm_xy, torch.ones(1, 23, 1, dtype=torch.float64)], -1), HM)
        coords, _ = decode_heatmaps(hm, "dark")
        back = apply_affine(aff, heatmap_to_input(coords.double(), input_size, HM)).numpy()
        # 0.1 px of the original image (up to ~10 image px per heatmap px here): geometry is exact,
        # the float64 decoding error of a clean Gaussian away from the border is ~1e-4 heatmap px
        err = np.linalg.norm(back - pts, axis=-1)
        assert err.max() < 0.1, (trial, err.max())


def test_box_outside_image_is_a_clear_error():
    with pytest.raises(InputError, match=r"person box 1 .*lies outside the 640x480 image"):
        check_boxes(np.array([[10, 10, 50, 50], [700, 20, 30, 30]]), (640, 480))
    with pytest.raises(InputError, match=r"person box 0 .*has no area"):
        check_boxes(np.array([[10, 10, 0, 50]]), (640, 480))
