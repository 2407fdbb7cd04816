"""Building blocks of the BlazePose networks (MobileNetV2-style backbone, BlazeBlocks, separable convolutions).

All blocks take and return (N, C, H, W) tensors. Padding follows the TFLite graphs they were read from: a
stride-2 depthwise convolution after an explicit symmetric pad is ``padding=k // 2``; one with TensorFlow "SAME"
padding pads only after (right, bottom), which :func:`same_pad_stride2` reproduces.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def relu6(x: Tensor) -> Tensor:
    """ReLU6 in place: every caller hands over a fresh tensor (a convolution's output or a sum)."""
    return F.hardtanh_(x, 0.0, 6.0)


def same_pad_stride2(x: Tensor) -> Tensor:
    """TensorFlow SAME padding of a 3x3 stride-2 convolution on an even-sized map: one zero row/column after."""
    return F.pad(x, (0, 1, 0, 1))


def depthwise(channels: int, kernel: int, stride: int = 1, padding: int | None = None) -> nn.Conv2d:
    """A depthwise convolution (one kxk filter per channel, with bias)."""
    pad = kernel // 2 if padding is None else padding
    return nn.Conv2d(channels, channels, kernel, stride, pad, groups=channels)


def pointwise(cin: int, cout: int) -> nn.Conv2d:
    """A 1x1 convolution with bias."""
    return nn.Conv2d(cin, cout, 1)


def tf_depth_to_space(x: Tensor, block: int = 2) -> Tensor:
    """TensorFlow's DEPTH_TO_SPACE (channel index = (i * block + j) * C + c) on (N, C * block^2, H, W) tensors."""
    n, c, h, w = x.shape
    c_out = c // (block * block)
    x = x.view(n, block, block, c_out, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, c_out, h * block, w * block)


def upsample2(x: Tensor) -> Tensor:
    """Bilinear x2 upsampling with half-pixel centres (TFLite RESIZE_BILINEAR, half_pixel_centers=True)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class Stem(nn.Module):
    """3x3 stride-2 convolution (ReLU6), then a depthwise 3x3 (ReLU6) and a linear 1x1 projection."""

    def __init__(self, width: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, 2, 1)
        self.depthwise = depthwise(width, 3)
        self.project = pointwise(width, cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(relu6(self.depthwise(relu6(self.conv(x)))))


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expansion (ReLU6), kxk depthwise (ReLU6), linear 1x1 projection; the input
    is added back when the block keeps resolution and width."""

    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.expand = pointwise(cin, hidden)
        self.depthwise = depthwise(hidden, kernel, stride)
        self.project = pointwise(hidden, cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(relu6(self.depthwise(relu6(self.expand(x)))))
        return x + y if self.residual else y


class ExpandDepthwise(nn.Module):
    """The backbone's last features: 1x1 expansion (ReLU6) and a depthwise 3x3 (ReLU6), no projection."""

    def __init__(self, cin: int, hidden: int):
        super().__init__()
        self.expand = pointwise(cin, hidden)
        self.depthwise = depthwise(hidden, 3)

    def forward(self, x: Tensor) -> Tensor:
        return relu6(self.depthwise(relu6(self.expand(x))))


class SeparableConv(nn.Module):
    """Depthwise 3x3 then 1x1: the lateral branches of the feature pyramids (activations as in the graph)."""

    def __init__(self, cin: int, cout: int, depthwise_relu: bool = True, pointwise_relu: bool = True):
        super().__init__()
        self.depthwise = depthwise(cin, 3)
        self.pointwise = pointwise(cin, cout)
        self.depthwise_relu = depthwise_relu
        self.pointwise_relu = pointwise_relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.depthwise(x)
        x = self.pointwise(relu6(x) if self.depthwise_relu else x)
        return relu6(x) if self.pointwise_relu else x


class BlazeBlock(nn.Module):
    """Residual block of BlazeFace/BlazePose: depthwise 3x3 and linear 1x1, added to the input (max-pooled and
    zero-padded in channels when the block halves resolution or widens), then ReLU6."""

    def __init__(self, cin: int, cout: int, stride: int = 1, depthwise_relu: bool = True):
        super().__init__()
        self.stride = stride
        self.depthwise = depthwise(cin, 3, stride, padding=1 if stride == 1 else 0)
        self.pointwise = pointwise(cin, cout)
        self.extra_channels = cout - cin
        self.depthwise_relu = depthwise_relu

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            y = self.depthwise(same_pad_stride2(x))
            x = F.max_pool2d(x, 2)
        else:
            y = self.depthwise(x)
        y = self.pointwise(relu6(y) if self.depthwise_relu else y)
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return relu6(x + y)


class Backbone(nn.Module):
    """Stem, inverted-residual blocks and the expanded last features.

    blocks: (hidden, out, kernel, stride) per block. ``forward`` returns the last feature map at each output
    stride named in ``tap_strides`` (e.g. {4: (N, C, H/4, W/4), ...}) and the final expanded features.
    """

    def __init__(self, stem: tuple[int, int], blocks: tuple[tuple[int, int, int, int], ...], top_hidden: int,
                 tap_strides: tuple[int, ...]):
        super().__init__()
        self.stem = Stem(*stem)
        layers, cin, stride, self.tap_index = [], stem[1], 2, {}
        for i, (hidden, cout, kernel, s) in enumerate(blocks):
            layers.append(InvertedResidual(cin, hidden, cout, kernel, s))
            cin, stride = cout, stride * s
            if stride in tap_strides:
                self.tap_index[stride] = i  # the last block at this stride wins
        self.blocks = nn.ModuleList(layers)
        self.top = ExpandDepthwise(cin, top_hidden)
        self.tap_channels = {s: blocks[i][1] for s, i in self.tap_index.items()}

    def forward(self, x: Tensor) -> tuple[dict[int, Tensor], Tensor]:
        x = self.stem(x)
        taps = {}
        wanted = {i: s for s, i in self.tap_index.items()}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in wanted:
                taps[wanted[i]] = x
        return taps, self.top(x)


def tail_blocks(channels: int, count: int, depthwise_relu: bool = True) -> nn.Sequential:
    """``count`` stride-1 BlazeBlocks of constant width."""
    return nn.Sequential(*[BlazeBlock(channels, channels, 1, depthwise_relu) for _ in range(count)])
