"""SimpleBaseline: a ResNet followed by three 4x4 stride-2 deconvolutions and a 1x1 head.

Xiao, Wu, Wei, "Simple Baselines for Human Pose Estimation and Tracking", ECCV 2018.
Input (N, 3, H, W) RGB normalised with ImageNet statistics; output (N, J, H/4, W/4) heatmaps.
State-dict keys: conv1, bn1, layer1..layer4, deconv_layers.{0..8}, final_layer (as the original code).
"""
from __future__ import annotations

from torch import Tensor, nn

from mv3d.pose2d.models.blocks import BN_MOMENTUM, BasicBlock, Bottleneck, make_layer

#: depth -> (block type, blocks per stage)
RESNET_SPECS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class PoseResNet(nn.Module):
    """ResNet-``depth`` backbone + deconvolution head predicting ``num_joints`` heatmaps at 1/4 resolution."""

    def __init__(self, depth: int = 50, num_joints: int = 23, deconv_channels: int = 256,
                 num_deconv: int = 3):
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_SPECS)}, got {depth}")
        block, counts = RESNET_SPECS[depth]
        self.depth = depth
        self.num_joints = num_joints
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        widths = (64, 128, 256, 512)
        inplanes = 64
        for i, (planes, n) in enumerate(zip(widths, counts)):
            setattr(self, f"layer{i + 1}", make_layer(block, inplanes, planes, n, stride=1 if i == 0 else 2))
            inplanes = planes * block.expansion
        layers: list[nn.Module] = []
        for _ in range(num_deconv):
            layers += [nn.ConvTranspose2d(inplanes, deconv_channels, kernel_size=4, stride=2, padding=1,
                                          output_padding=0, bias=False),
                       nn.BatchNorm2d(deconv_channels, momentum=BN_MOMENTUM),
                       nn.ReLU(inplace=True)]
            inplanes = deconv_channels
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(inplanes, num_joints, kernel_size=1)
        self.init_weights()

    def init_weights(self) -> None:
        """He init for the backbone; N(0, 0.001) for the deconvolution head and the 1x1 layer (as the paper)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.deconv_layers.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (N, 3, H, W) -> heatmaps (N, J, H/4, W/4)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))
