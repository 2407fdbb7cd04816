"""Heatmap networks by name: ``build_model("pose_resnet50", num_joints=23)``."""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mv3d.errors import InputError
from mv3d.pose2d.models.hrnet import HighResolutionModule, PoseHighResolutionNet, hrnet_spec
from mv3d.pose2d.models.pose_resnet import PoseResNet

_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    **{f"pose_resnet{d}": (lambda j, d=d: PoseResNet(d, num_joints=j)) for d in (18, 34, 50, 101, 152)},
    "hrnet_w32": lambda j: PoseHighResolutionNet(hrnet_spec(32), num_joints=j),
    "hrnet_w48": lambda j: PoseHighResolutionNet(hrnet_spec(48), num_joints=j),
    "hrnet_w18": lambda j: PoseHighResolutionNet(hrnet_spec(18), num_joints=j),
    "hrnet_w18_small": lambda j: PoseHighResolutionNet(hrnet_spec(18, small=True), num_joints=j),
}
#: Names accepted by :func:`build_model`.
MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build_model(name: str, num_joints: int = 23) -> nn.Module:
    """A freshly initialised heatmap network; output stride 4, ``num_joints`` channels."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise InputError(f"unknown pose2d model {name!r}; choose one of {', '.join(MODEL_NAMES)}") from None
    model = builder(num_joints)
    model.arch = name
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODEL_NAMES", "HighResolutionModule", "PoseHighResolutionNet", "PoseResNet", "build_model",
           "count_parameters"]
