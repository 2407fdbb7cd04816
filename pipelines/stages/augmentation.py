"""Stage ``augmentation``: anatomical markers predicted from the keypoints (LSTM); the post-augmentation
TRC holds keypoints + markers (a copy of the keypoints when no augmenter fits the model)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mv3d.augment.weights import load_augmenter, shipped_augmenter
from mv3d.io import read_trc, write_trc
from pipelines.context import Context
from pipelines.stage import Stage


def _augmenter_weights(ctx: Context) -> tuple[str | Path | None, Path | None]:
    """The augmenter spec (``augment.weights`` or the shipped one for the model; None when none ships)
    and the file or folder it names (an ``opencap:DIR`` spec names DIR)."""
    weights = ctx.config.augment.weights or shipped_augmenter(ctx.model_name)
    return weights, (Path(str(weights).split(":", 1)[-1]) if weights else None)


def run_augmentation(ctx: Context) -> None:
    cfg = ctx.config.augment
    pre = ctx.session.pre_augmentation_trc(ctx.trial.name)
    post = ctx.session.post_augmentation_trc(ctx.trial.name)
    post.parent.mkdir(parents=True, exist_ok=True)
    weights, path = _augmenter_weights(ctx)
    if not cfg.enabled or path is None or not path.exists():
        if cfg.enabled:
            ctx.warn(f"marker augmentation skipped: no augmenter trained for the model "
                     f"'{ctx.config.kinematics.model}' ships with mv3d "
                     f"({Path(str(weights)).name if weights else 'none known'} is absent) and augment.weights is "
                     f"not set; scaling and IK use the video keypoints")
        shutil.copyfile(pre, post)
        return
    trc = read_trc(pre)
    height, mass = ctx.subject()
    augmenter = load_augmenter(weights, long_gaps="split")
    markers, names = augmenter.augment(trc.points, trc.marker_names, height, mass, source=str(pre))
    write_trc(post, np.concatenate([trc.points, markers], axis=1), list(trc.marker_names) + list(names),
              trc.times, units="m")


def augmentation_inputs(ctx: Context) -> list[Path]:
    """The session's metadata (height, mass) and the augmenter's weights (a file or OpenCap's folder)."""
    path = _augmenter_weights(ctx)[1]
    return ctx.metadata_files() + ([path] if path is not None else [])


STAGE = Stage("augmentation", run_augmentation, inputs=("trc_pre",), outputs=("trc_post",),
              config_keys=("augment", "kinematics"), external_inputs=augmentation_inputs,
              description="anatomical markers")
