"""HRNet: parallel multi-resolution branches with repeated fusion (Sun et al., CVPR 2019).

"Deep High-Resolution Representation Learning for Human Pose Estimation". The network keeps a
1/4-resolution branch throughout, adds a half-resolution branch at each of stages 2-4 and
exchanges information between branches after every module. Heatmaps come from a 1x1
convolution on the highest-resolution branch.

State-dict keys follow the original implementation (also used by mmpose's backbone):
conv1, bn1, conv2, bn2, layer1, transition1..3 (``transitionK.i.0`` for a width change,
``transitionK.i.0.0`` for a new strided branch), stageK.m.branches.b.n, stageK.m.fuse_layers.i.j,
final_layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from mv3d.pose2d.models.blocks import BN_MOMENTUM, BasicBlock, Bottleneck, conv3x3, make_layer


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: ``modules`` high-resolution modules of ``blocks[b]`` BasicBlocks per branch."""

    modules: int
    blocks: tuple[int, ...]
    channels: tuple[int, ...]


@dataclass(frozen=True)
class HRNetSpec:
    """Stem blocks (Bottleneck, 64 planes) and stages 2-4."""

    stem_blocks: int
    stages: tuple[StageSpec, StageSpec, StageSpec]


def hrnet_spec(width: int, small: bool = False) -> HRNetSpec:
    """The published HRNet-W``width`` (4 blocks per branch; modules 1/4/3) or its 'small' variant
    (2 blocks per branch, modules 1/3/2, 2 stem blocks, as HRNet-W18-small-v2)."""
    w = (width, 2 * width, 4 * width, 8 * width)
    nb, mods = (2, (1, 3, 2)) if small else (4, (1, 4, 3))
    return HRNetSpec(stem_blocks=nb if small else 4, stages=(
        StageSpec(mods[0], (nb,) * 2, w[:2]),
        StageSpec(mods[1], (nb,) * 3, w[:3]),
        StageSpec(mods[2], (nb,) * 4, w[:4]),
    ))


class HighResolutionModule(nn.Module):
    """Branches of BasicBlocks at decreasing resolution, then all-to-all fusion.

    With ``multi_scale_output`` False only the highest-resolution output is fused and returned.
    """

    def __init__(self, in_channels: tuple[int, ...], blocks: tuple[int, ...], channels: tuple[int, ...],
                 multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(channels)
        self.branches = nn.ModuleList(
            make_layer(BasicBlock, cin, c, n) for cin, c, n in zip(in_channels, channels, blocks))
        self.out_channels = tuple(channels)
        n_out = self.num_branches if multi_scale_output else 1
        self.fuse_layers = nn.ModuleList()
        if self.num_branches > 1:
            for i in range(n_out):
                row = nn.ModuleList(self._fuse(j, i) for j in range(self.num_branches))
                self.fuse_layers.append(row)
        self.relu = nn.ReLU(inplace=True)

    def _fuse(self, j: int, i: int) -> nn.Module | None:
        """The path from branch j to branch i: 1x1 conv + upsampling, identity, or strided 3x3 convs."""
        c = self.out_channels
        if j > i:
            return nn.Sequential(nn.Conv2d(c[j], c[i], kernel_size=1, bias=False),
                                 nn.BatchNorm2d(c[i], momentum=BN_MOMENTUM),
                                 nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"))
        if j == i:
            return None
        steps: list[nn.Module] = []
        for k in range(i - j):
            last = k == i - j - 1
            cout = c[i] if last else c[j]
            layer = [conv3x3(c[j], cout, stride=2), nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)]
            if not last:
                layer.append(nn.ReLU(inplace=True))
            steps.append(nn.Sequential(*layer))
        return nn.Sequential(*steps)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        """xs: one (N, C_b, H/2^b, W/2^b) tensor per branch -> fused outputs (same layout)."""
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.num_branches == 1:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j, path in enumerate(row):
                if j != i:
                    z = path(xs[j])
                    if z.shape[-2:] != y.shape[-2:]:  # odd sizes: upsampling overshoots by a pixel
                        z = F.interpolate(z, size=y.shape[-2:], mode="nearest")
                    y = y + z
            out.append(self.relu(y))
        return out


def _transition(pre: tuple[int, ...], cur: tuple[int, ...]) -> nn.ModuleList:
    """Adapt existing branches' widths (or None) and create new branches from the lowest resolution."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(None if pre[i] == c else nn.Sequential(
                conv3x3(pre[i], c), nn.BatchNorm2d(c, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)))
        else:
            steps = []
            for k in range(i + 1 - len(pre)):
                cout = c if k == i - len(pre) else pre[-1]
                steps.append(nn.Sequential(conv3x3(pre[-1], cout, stride=2),
                                           nn.BatchNorm2d(cout, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class PoseHighResolutionNet(nn.Module):
    """HRNet pose network: (N, 3, H, W) -> (N, J, H/4, W/4) heatmaps."""

    def __init__(self, spec: HRNetSpec, num_joints: int = 23):
        super().__init__()
        self.num_joints = num_joints
        self.conv1 = conv3x3(3, 64, stride=2)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(64, 64, stride=2)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_layer(Bottleneck, 64, 64, spec.stem_blocks)
        pre: tuple[int, ...] = (64 * Bottleneck.expansion,)
        for k, stage in enumerate(spec.stages, start=2):
            setattr(self, f"transition{k - 1}", _transition(pre, stage.channels))
            last_stage = k == 4
            modules = []
            in_ch = stage.channels
            for m in range(stage.modules):
                multi = not (last_stage and m == stage.modules - 1)
                modules.append(HighResolutionModule(in_ch, stage.blocks, stage.channels, multi))
                in_ch = modules[-1].out_channels
            setattr(self, f"stage{k}", nn.Sequential(*modules))
            pre = stage.channels
        self.final_layer = nn.Conv2d(pre[0], num_joints, kernel_size=1)
        self.init_weights()

    def init_weights(self) -> None:
        """N(0, 0.001) for convolutions, BatchNorm 1/0 (as the original HRNet)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (N, 3, H, W) -> heatmaps (N, J, H/4, W/4)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys: list[Tensor] = [self.layer1(x)]
        for k in (2, 3, 4):
            transition: nn.ModuleList = getattr(self, f"transition{k - 1}")
            xs = []
            for i, t in enumerate(transition):
                src = ys[i] if i < len(ys) else ys[-1]
                xs.append(src if t is None else t(src))
            ys = getattr(self, f"stage{k}")(xs)
        return self.final_layer(ys[0])
