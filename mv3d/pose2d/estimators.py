"""2D models by spec, and the one function that runs a model on the cameras' videos.

A model spec is a registered name (``blazepose_heavy``, the default; ``blazepose_full``;
``demo_synthetic``) or ``family:argument`` (``hrnet:weights.pth``). :func:`resolve_model` builds the estimator (an
:class:`mv3d.pose2d.interface.Estimator`); :func:`estimate_keypoints2d` runs it on every camera's
video and assembles (C, F, 23, 3) at the true frame indices. The pipeline's ``keypoints2d`` stage
and ``mv3d pose2d`` both go through these two.

A new model family: implement the Estimator interface in its own module or package under
``mv3d/pose2d/``, and add one entry to :data:`MODELS` (a factory ``(argument, options) ->
Estimator``, what its argument is, one line of description).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mv3d.errors import ConfigError, InputError
from mv3d.io.keypoints import Keypoints2D
from mv3d.parallel import default_threads
from mv3d.pose2d.blazepose.family import BlazePoseEstimator
from mv3d.pose2d.checkpoints import load_model
from mv3d.pose2d.interface import Estimator, EstimatorOptions, VideoKeypoints
from mv3d.pose2d.topdown import TopDownEstimator
from mv3d.resources import weights_file
from mv3d.skeleton import MV3D23
from mv3d.triangulate.torch_camera import single_thread
from mv3d.video.frames import probe

#: The shipped demo network (HRNet-W18-small trained on simulator renders only).
DEMO_WEIGHTS = "pose2d_demo_synthetic.pt"
#: The spec of the demo network, which cannot see real people.
DEMO_MODEL = "demo_synthetic"
#: The default 2D model (``keypoints2d.model``, ``mv3d pose2d``).
DEFAULT_MODEL = "blazepose_heavy"


@dataclass(frozen=True)
class ModelFamily:
    """factory: (argument, options) -> Estimator; argument: what follows ``name:`` (None: nothing may);
    description: one line for help texts."""

    factory: Callable[[str | None, EstimatorOptions], Estimator]
    argument: str | None
    description: str


def checkpoint_estimator(path: str | os.PathLike, options: EstimatorOptions) -> TopDownEstimator:
    """A top-down heatmap network from a checkpoint (mv3d training, Simple Baselines, HRNet, mmpose).

    Input size and flip test: the options', else the checkpoint config's, else 192x256 and flip
    test on (the published weights were trained with flipped images).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: 2D model weights not found")
    model, config, _ = load_model(path, options.arch)
    size = options.input_size or tuple(config.get("input_size", (192, 256)))
    flip = bool(config.get("flip_test", True)) if options.flip is None else options.flip
    return TopDownEstimator(model, input_size=size, flip=flip, device=options.device,
                            batch_size=options.batch_size)


def _demo_synthetic(_argument: str | None, options: EstimatorOptions) -> TopDownEstimator:
    return checkpoint_estimator(weights_file(DEMO_WEIGHTS), options)


def _hrnet(argument: str | None, options: EstimatorOptions) -> TopDownEstimator:
    return checkpoint_estimator(argument, options)


def _blazepose(variant: str) -> Callable[[str | None, EstimatorOptions], BlazePoseEstimator]:
    return lambda _argument, options: BlazePoseEstimator(variant, options)


#: The 2D model families by spec name.
MODELS: dict[str, ModelFamily] = {
    "blazepose_heavy": ModelFamily(_blazepose("heavy"), None, "BlazePose GHUM heavy (Google MediaPipe, "
                                                              "Apache-2.0), real people; the default"),
    "blazepose_full": ModelFamily(_blazepose("full"), None, "BlazePose GHUM full: about twice as fast as heavy, "
                                                            "less accurate"),
    "demo_synthetic": ModelFamily(_demo_synthetic, None, "mv3d's HRNet-W18-small trained on simulator renders "
                                                         "only (for the synthetic demo)"),
    "hrnet": ModelFamily(_hrnet, "checkpoint", "a top-down heatmap network checkpoint: mv3d training, Simple "
                                               "Baselines, HRNet or mmpose"),
}


def known_specs() -> str:
    """The accepted specs, for messages: ``demo_synthetic, hrnet:<checkpoint>``."""
    return ", ".join(name if f.argument is None else f"{name}:<{f.argument}>" for name, f in MODELS.items())


def parse_model_spec(spec: str) -> tuple[str, str | None]:
    """(family name, argument) of a spec; ConfigError naming the known specs when it is not one."""
    name, sep, argument = str(spec).partition(":")
    family = MODELS.get(name)
    if family is None:
        raise ConfigError(f"unknown 2D model {spec!r}; known models: {known_specs()}")
    if (family.argument is None) != (not sep) or (sep and not argument):
        usage = name if family.argument is None else f"{name}:<{family.argument}>"
        raise ConfigError(f"2D model {spec!r}: write it as {usage}")
    return name, argument or None


def resolve_model(spec: str, options: EstimatorOptions = EstimatorOptions()) -> Estimator:
    """The estimator a model spec names, ready to run with ``options``."""
    name, argument = parse_model_spec(spec)
    return MODELS[name].factory(argument, options)


def estimate_keypoints2d(estimator: Estimator, videos: Mapping[str, str | os.PathLike],
                         boxes: Mapping[str, np.ndarray] | None = None, track: bool = True,
                         progress: bool = True, heatmaps: Callable[[str, VideoKeypoints], None] | None = None,
                         workers: int | None = None) -> Keypoints2D:
    """2D keypoints of every camera's video: data (C, F, 23, 3), one row per true frame index.

    videos: camera -> video file; boxes: camera -> person boxes (n, 4) x, y, w, h per frame index
    (NaN rows: nobody), else the estimator finds the person (tracked, or searched anew in every
    frame when not ``track``). Frames a camera lacks are NaN with confidence 0; fps is the first
    video's. heatmaps: called with each camera's name and result when the estimator returned
    heatmaps for it (to store them: the maps of all cameras are not kept together). workers:
    cameras processed at once, each on one torch thread (default: one per core, at most one per
    camera): a tracker runs its network on one frame at a time, which intra-op threads speed up
    little, while separate cameras keep every core busy.
    """
    workers = min(len(videos), default_threads()) if workers is None else max(1, workers)

    def one(item: tuple[str, str | os.PathLike]) -> VideoKeypoints:
        if workers > 1:
            torch.set_num_threads(1)  # OpenMP's thread count is per calling thread
        cam, video = item
        return estimator.estimate_video(video, boxes=None if boxes is None else boxes[cam], track=track,
                                        progress=progress, heatmaps=heatmaps is not None)

    per_camera = []
    with single_thread() if workers > 1 else nullcontext(), ThreadPoolExecutor(workers) as pool:
        results = pool.map(one, videos.items()) if workers > 1 else map(one, videos.items())
        for cam, result in zip(videos, results):
            if heatmaps is not None and result.heatmaps is not None:
                heatmaps(cam, result)
            per_camera.append(VideoKeypoints(result.keypoints, result.frames))
    n = max(int(r.frames.max()) + 1 for r in per_camera)
    data = np.full((len(per_camera), n, len(MV3D23), 3), np.nan)
    data[..., 2] = 0.0
    for c, result in enumerate(per_camera):
        data[c, result.frames] = result.keypoints
    fps = probe(next(iter(videos.values()))).fps
    return Keypoints2D(data=data, cameras=list(videos), frames=np.arange(n), fps=float(fps or 30.0),
                       source=estimator.name)
