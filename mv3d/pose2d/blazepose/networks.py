"""The BlazePose GHUM networks as torch modules: the person detector and the landmark network (lite/full/heavy).

Architectures read from the TFLite graphs of MediaPipe's models (see ``convert.py``), written as explicit
modules. Inputs are (N, 3, H, W) float tensors; the graphs' segmentation head is left out (mv3d does not use it).

Landmark network (256x256 RGB in [0, 1]):
    landmarks (N, 195) = 39 x (x, y, z, visibility logit, presence logit), x and y in crop pixels;
    presence (N, 1) probability that a person is in the crop; heatmaps (N, 39, 64, 64) raw scores;
    world (N, 117) = 39 x (x, y, z) metres, hip-centred.
Detector (224x224 RGB in [-1, 1]):
    boxes (N, 2254, 12) raw regressions per SSD anchor (box x, y, w, h, then 4 keypoints x, y);
    scores (N, 2254, 1) logits.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from mv3d.errors import InputError
from mv3d.pose2d.blazepose.layers import (Backbone, BlazeBlock, SeparableConv, pointwise, relu6, tail_blocks,
                                          tf_depth_to_space, upsample2)
from mv3d.resources import weights_file

NUM_LANDMARKS = 39


@dataclass(frozen=True)
class LandmarkSpec:
    """Widths of one landmark-network variant.

    blocks: backbone (hidden, out, kernel, stride); decoder: heatmap-pyramid width; regression: (width, blocks)
    per stride-2 stage of the regression encoder; regression_from_heatmaps: the encoder starts from the 64x64
    heatmap features and takes lateral inputs from the backbone (heavy), else from the backbone's last features.
    """

    stem: tuple[int, int]
    blocks: tuple[tuple[int, int, int, int], ...]
    top_hidden: int
    decoder: int
    regression: tuple[tuple[int, int], ...]
    regression_from_heatmaps: bool


def _stage(hidden: int, out: int, kernel: int, count: int, cin_hidden: int | None = None,
           ) -> list[tuple[int, int, int, int]]:
    """``count`` blocks at one resolution: the first (stride 2, expanding ``cin_hidden``), then stride 1."""
    first = (cin_hidden or hidden, out, kernel, 2)
    return [first] + [(hidden, out, kernel, 1)] * (count - 1)


SPECS: dict[str, LandmarkSpec] = {
    "heavy": LandmarkSpec(
        stem=(24, 24),
        blocks=((96, 32, 3, 2), (128, 32, 3, 1), (192, 32, 3, 1), (192, 32, 3, 1),
                *_stage(336, 56, 5, 4, 192), *_stage(672, 112, 3, 6, 336), (672, 160, 5, 1),
                *[(960, 160, 5, 1)] * 5, *_stage(1632, 272, 5, 8, 960)),
        top_hidden=1632, decoder=48,
        regression=((96, 6), (192, 7), (288, 7), (288, 7), (288, 7)), regression_from_heatmaps=True),
    "full": LandmarkSpec(
        stem=(24, 16),
        blocks=(*_stage(144, 24, 3, 2, 64), *_stage(192, 32, 5, 2, 144), *_stage(384, 64, 3, 3, 192),
                (384, 88, 5, 1), *[(528, 88, 5, 1)] * 2, *_stage(864, 144, 5, 4, 528)),
        top_hidden=864, decoder=48, regression=((288, 4), (288, 5)), regression_from_heatmaps=False),
    "lite": LandmarkSpec(
        stem=(24, 8),
        blocks=(*_stage(96, 16, 3, 2, 32), *_stage(144, 24, 5, 2, 96), *_stage(240, 40, 3, 3, 144),
                (240, 56, 5, 1), *[(336, 56, 5, 1)] * 2, *_stage(576, 96, 5, 4, 336)),
        top_hidden=576, decoder=32, regression=((192, 2), (192, 3)), regression_from_heatmaps=False),
}


class LandmarkNet(nn.Module):
    """BlazePose GHUM landmark network: backbone, heatmap pyramid at 1/4 resolution, regression encoder."""

    def __init__(self, variant: str = "heavy"):
        super().__init__()
        spec = SPECS[variant]
        self.variant = variant
        self.backbone = Backbone(spec.stem, spec.blocks, spec.top_hidden, tap_strides=(4, 8, 16))
        taps = self.backbone.tap_channels
        d = spec.decoder
        self.heatmap_top = SeparableConv(spec.top_hidden, d)
        self.heatmap_laterals = nn.ModuleDict({str(s): SeparableConv(taps[s], d) for s in (16, 8, 4)})
        self.heatmap_head = pointwise(d, NUM_LANDMARKS)
        self.from_heatmaps = spec.regression_from_heatmaps
        widths = [w for w, _ in spec.regression]
        if self.from_heatmaps:  # heavy: 64x64 features -> 32 -> 16 -> 8, each stage joined by a backbone lateral
            cin, lateral_sources = d, [taps[8], taps[16], spec.top_hidden]
            self.regression_laterals = nn.ModuleList(
                [SeparableConv(c, w) for c, w in zip(lateral_sources, widths)])
        else:  # full/lite: starts from the backbone's 8x8 features
            self.regression_entry = SeparableConv(spec.top_hidden, widths[0])
            cin = widths[0]
        stages = []
        for width, count in spec.regression:
            stages.append(nn.Sequential(BlazeBlock(cin, width, 2), tail_blocks(width, count)))
            cin = width
        self.regression = nn.ModuleList(stages)
        self.landmarks_head = nn.Conv2d(cin, NUM_LANDMARKS * 5, 2)
        self.world_head = nn.Conv2d(cin, NUM_LANDMARKS * 3, 2)
        self.presence_head = nn.Conv2d(cin, 1, 2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (N, 3, 256, 256) RGB in [0, 1] -> landmarks (N, 195), presence (N, 1), heatmaps (N, 39, 64, 64),
        world (N, 117)."""
        taps, top = self.backbone(x)
        f = self.heatmap_top(top)
        for s in ("16", "8", "4"):
            f = upsample2(f) + self.heatmap_laterals[s](taps[int(s)])
        heatmaps = self.heatmap_head(f)
        if self.from_heatmaps:
            r = f
            sources = (taps[8], taps[16], top)
            for i, stage in enumerate(self.regression):
                r = stage(r)
                if i < len(self.regression_laterals):
                    r = r + self.regression_laterals[i](sources[i])
        else:
            r = self.regression_entry(top)
            for stage in self.regression:
                r = stage(r)
        n = x.shape[0]
        landmarks = self.landmarks_head(r).reshape(n, -1)
        world = self.world_head(r).reshape(n, -1)
        presence = torch.sigmoid(self.presence_head(r)).reshape(n, 1)
        return landmarks, presence, heatmaps, world


class DetectorNet(nn.Module):
    """BlazePose person detector: MobileNetV2-style backbone with a small feature pyramid and SSD heads on
    28x28 (2 anchors per cell), 14x14 (2) and 7x7 (6) grids of a 224x224 input, 2254 anchors in all."""

    ANCHORS_PER_CELL = (2, 2, 6)

    def __init__(self):
        super().__init__()
        blocks = ((64, 24, 3, 2), (144, 24, 3, 1), (144, 40, 5, 2), (240, 40, 5, 1), (240, 80, 3, 2),
                  (480, 80, 3, 1), (480, 80, 3, 1), (480, 112, 5, 1), (672, 112, 5, 1), (672, 112, 5, 1),
                  (672, 192, 5, 2), (1152, 192, 5, 1), (1152, 192, 5, 1), (1152, 192, 5, 1))
        self.backbone = Backbone((24, 16), blocks, 1152, tap_strides=(8, 16))
        self.up16 = pointwise(1152, 192)
        self.lateral16 = SeparableConv(112, 192, depthwise_relu=False)
        self.fuse16 = tail_blocks(192, 2, depthwise_relu=False)
        self.up8 = pointwise(192, 96)
        self.lateral8 = SeparableConv(40, 96, depthwise_relu=False)
        self.fuse8 = tail_blocks(96, 2, depthwise_relu=False)
        # heads read each level after a depth-to-space (x2): 96/4, 192/4 and 1152/4 channels
        self.score_heads = nn.ModuleList()
        self.box_heads = nn.ModuleList()
        for cin, a in zip((24, 48, 288), self.ANCHORS_PER_CELL):
            self.score_heads.append(_AnchorHead(cin, a))
            self.box_heads.append(_AnchorHead(cin, a * 12))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, 3, 224, 224) RGB in [-1, 1] -> boxes (N, 2254, 12), scores (N, 2254, 1) (logits)."""
        taps, top = self.backbone(x)
        p16 = relu6(self.up16(upsample2(top))) + self.lateral16(taps[16])
        p16 = self.fuse16(p16)
        p8 = relu6(self.up8(upsample2(p16))) + self.lateral8(taps[8])
        p8 = self.fuse8(p8)
        levels = [tf_depth_to_space(f) for f in (p8, p16, top)]
        n = x.shape[0]
        scores = torch.cat([h(f).permute(0, 2, 3, 1).reshape(n, -1, 1) for h, f in zip(self.score_heads, levels)], 1)
        boxes = torch.cat([h(f).permute(0, 2, 3, 1).reshape(n, -1, 12) for h, f in zip(self.box_heads, levels)], 1)
        return boxes, scores


class _AnchorHead(nn.Module):
    """Depthwise 3x3 stride 2 (linear) and 1x1 to ``cout`` outputs per cell."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, 2, 1, groups=cin)
        self.pointwise = pointwise(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


def weights_path(name: str, weights_dir: Path | None = None) -> Path:
    """``blazepose_<name>.pt`` in ``weights_dir``, by default the shipped weights (``mv3d.resources``)."""
    file = f"blazepose_{name}.pt"
    return weights_file(file) if weights_dir is None else Path(weights_dir) / file


def load_network(name: str, device: str | torch.device = "cpu", weights_dir: Path | None = None) -> nn.Module:
    """A converted network (``detector`` or ``landmark_heavy|full|lite``) from ``blazepose_<name>.pt`` (default:
    the shipped one), in eval mode, float32, channels-last on ``device``."""
    path = weights_path(name, weights_dir)
    if not path.is_file():
        raise InputError(f"BlazePose weights {path} are missing; restore data/weights from the repository or make "
                         "them with `python -m mv3d.pose2d.blazepose.convert --src DIR --out data/weights`")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    net = DetectorNet() if name == "detector" else LandmarkNet(name.removeprefix("landmark_"))
    net.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return net.eval().to(device, memory_format=torch.channels_last)
