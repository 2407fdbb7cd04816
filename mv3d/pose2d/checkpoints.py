"""Load pose-network weights from Simple Baselines/HRNet, mmpose and mv3d checkpoints.

Accepted layouts: a bare state dict, or a dict holding it under ``state_dict``/``model``; key
prefixes ``module.`` (DataParallel), ``backbone.`` and ``keypoint_head.``/``head.`` (mmpose 0.x/1.x)
are removed; a head whose last 1x1 convolution sits inside a Sequential (``final_layer.N.*``) is
mapped onto ``final_layer``. The heatmap head is adapted to the model's joint count: 17 COCO
channels keep their body joints and the 6 foot channels are initialised from the ankle of their
side (or N(0, 0.001)); a 133-channel COCO-WholeBody head keeps its first 23 channels (body + feet,
already MV3D23 order). Every tensor is reported as loaded, adapted or new; any other mismatch is
an InputError that names the keys.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from mv3d.errors import InputError
from mv3d.skeleton import JOINT_INDEX

log = logging.getLogger(__name__)

_HEAD_KEYS = ("final_layer.weight", "final_layer.bias")
_IGNORED_PREFIXES = ("data_preprocessor.",)
#: ankle channel each foot channel starts from when a 17-joint head is extended to 23.
FOOT_FROM_ANKLE = {JOINT_INDEX[n]: JOINT_INDEX[("l" if n.startswith("l_") else "r") + "_ankle"]
                   for n in ("l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel")}


@dataclass
class LoadReport:
    """Which model tensors came from the checkpoint as they were, which were adapted, which stayed new."""

    source: str
    layout: str
    loaded: list[str] = field(default_factory=list)
    adapted: dict[str, str] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph for the log."""
        lines = [f"{self.source} ({self.layout}): {len(self.loaded)} tensors loaded, {len(self.adapted)} adapted, "
                 f"{len(self.new)} new, {len(self.skipped)} checkpoint tensors skipped"]
        lines += [f"  adapted {k}: {v}" for k, v in self.adapted.items()]
        if self.new:
            lines.append(f"  new: {', '.join(self.new)}")
        if self.skipped:
            lines.append(f"  skipped: {', '.join(self.skipped[:10])}{' ...' if len(self.skipped) > 10 else ''}")
        return "\n".join(lines)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw object of a torch checkpoint file (tensors on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: weights file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise InputError(f"{path}: not a readable torch checkpoint ({exc})") from exc


def extract_state_dict(obj: dict) -> tuple[dict[str, Tensor], str]:
    """State dict with the model's own key names, and the layout it came in ("plain", "mmpose", ...)."""
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise InputError("checkpoint holds no state dict of tensors (expected a dict, or one under "
                         "'state_dict' / 'model')")
    layout = "plain"
    out: dict[str, Tensor] = {}
    for k, v in obj.items():
        if k.startswith("module."):
            k = k[len("module."):]
            layout = "data-parallel"
        for prefix in ("backbone.", "keypoint_head.", "head."):
            if k.startswith(prefix):
                k = k[len(prefix):]
                layout = "mmpose"
                break
        out[k] = v
    # A head written as a Sequential: final_layer.<n>.weight -> final_layer.weight (its last conv).
    seq = sorted({int(m.group(1)) for k in out if (m := re.fullmatch(r"final_layer\.(\d+)\.weight", k))})
    if seq and "final_layer.weight" not in out:
        last = seq[-1]
        for name in ("weight", "bias"):
            if f"final_layer.{last}.{name}" in out:
                out[f"final_layer.{name}"] = out.pop(f"final_layer.{last}.{name}")
    return out, layout


def guess_architecture(state: dict[str, Tensor]) -> str | None:
    """The ``build_model`` name whose keys these are, or None (after :func:`extract_state_dict`)."""
    if "stage2.0.branches.0.0.conv1.weight" in state:
        width = state["stage2.0.branches.0.0.conv1.weight"].shape[0]
        small = "stage2.0.branches.0.2.conv1.weight" not in state
        return f"hrnet_w{width}" + ("_small" if small else "")
    if "layer1.0.conv1.weight" in state and "layer4.0.conv1.weight" in state:
        bottleneck = "layer1.0.conv3.weight" in state
        n3 = len({k.split(".")[1] for k in state if k.startswith("layer3.")})
        depth = {(False, 2): 18, (False, 6): 34, (True, 6): 50, (True, 23): 101, (True, 36): 152}.get((bottleneck, n3))
        return f"pose_resnet{depth}" if depth else None
    return None


def _adapt_head(name: str, src: Tensor, dst: Tensor, foot_init: str) -> tuple[Tensor, str]:
    """Map a checkpoint head tensor (J_src, ...) onto the model's (J, ...)."""
    j_src, j = src.shape[0], dst.shape[0]
    if j_src >= j:
        return src[:j].clone(), f"kept the first {j} of {j_src} channels"
    if j_src == 17 and j == 23:
        out = dst.clone()
        out[:17] = src
        if foot_init == "ankle":
            for foot, ankle in FOOT_FROM_ANKLE.items():
                out[foot] = src[ankle]
            how = "6 foot channels copied from the ankle of their side"
        else:
            if name.endswith("weight"):
                nn.init.normal_(out[17:], std=0.001)
            else:
                out[17:] = 0
            how = "6 foot channels initialised N(0, 0.001)"
        return out, f"17 body channels kept, {how}"
    raise InputError(f"cannot adapt head tensor {name} from {j_src} to {j} joints (supported: 17 -> 23, "
                     f"and any larger head, e.g. 133, to its first {j} channels)")


def load_weights(model: nn.Module, weights: str | os.PathLike | dict, foot_init: str = "ankle",
                 backbone_only: bool = False) -> LoadReport:
    """Load a checkpoint into ``model`` (in place) and report what went where.

    backbone_only: take only backbone tensors (e.g. ImageNet ResNet weights with an ``fc`` layer);
    the deconvolution/final layers stay new and unmatched checkpoint keys are skipped.
    Raises InputError naming missing, unexpected and mis-shaped keys when the architecture differs.
    """
    source = str(weights) if not isinstance(weights, dict) else "state dict"
    raw = read_checkpoint(weights) if not isinstance(weights, dict) else weights
    state, layout = extract_state_dict(raw)
    state = {k: v for k, v in state.items() if not k.startswith(_IGNORED_PREFIXES)}
    target = model.state_dict()
    head_prefixes = ("final_layer.", "deconv_layers.")
    report = LoadReport(source=source, layout=layout)
    missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in target]
    wrong_shape = [k for k in target if k in state and state[k].shape != target[k].shape and k not in _HEAD_KEYS]
    if backbone_only:
        missing = [k for k in missing if not k.startswith(head_prefixes)]
        report.skipped = unexpected
        unexpected = []
    if missing or unexpected or wrong_shape:
        arch = getattr(model, "arch", type(model).__name__)
        guess = guess_architecture(state)
        parts = []
        for what, keys in (("missing from the checkpoint", missing), ("not in the model", unexpected)):
            if keys:
                parts.append(f"{len(keys)} key(s) {what}: {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} key(s) of another shape: " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs model {tuple(target[k].shape)}" for k in wrong_shape[:4]))
        hint = f"; these weights look like {guess}" if guess and guess != arch else ""
        raise InputError(f"{source}: weights do not fit model {arch} ({layout} layout): " + "; ".join(parts)
                         + f"{hint}. Choose the matching --arch or weights file.")
    new_state = {}
    for k, dst in target.items():
        if k not in state or (backbone_only and k.startswith(head_prefixes)):
            report.new.append(k)
            continue
        src = state[k]
        if src.shape != dst.shape:
            src, how = _adapt_head(k, src, dst, foot_init)
            report.adapted[k] = how
        else:
            report.loaded.append(k)
        new_state[k] = src.to(dst.dtype)
    model.load_state_dict(new_state, strict=False)
    log.info(report.summary())
    return report


def load_model(weights: str | os.PathLike, arch: str | None = None, num_joints: int = 23,
               ) -> tuple[nn.Module, dict, LoadReport]:
    """Build the network a checkpoint needs and load it. Returns (model in eval mode, config, report).

    The architecture comes from ``arch``, else from the mv3d checkpoint's config, else from the keys.
    """
    from mv3d.pose2d.models import build_model

    raw = read_checkpoint(weights)
    config = raw.get("config", {}) if isinstance(raw, dict) else {}
    arch = arch or config.get("model", {}).get("name")
    if arch is None:
        arch = guess_architecture(extract_state_dict(raw)[0])
        if arch is None:
            raise InputError(f"{weights}: cannot tell the network architecture from the keys; pass --arch")
    model = build_model(arch, num_joints=num_joints)
    report = load_weights(model, raw)
    report.source = str(weights)
    return model.eval(), config, report
