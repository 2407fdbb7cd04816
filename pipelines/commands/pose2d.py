"""``mv3d pose2d`` (videos -> 2D keypoints), ``mv3d train pose2d`` and ``mv3d eval pose2d``."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli_groups import subgroup

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 192x256, got {text!r}") from None
    return w, h


def find_videos(folder: Path) -> dict[str, Path]:
    """Camera name -> video: the videos of ``folder`` (named by stem) or one per subfolder (named by folder)."""
    from mv3d.errors import InputError

    if not folder.is_dir():
        raise InputError(f"{folder}: video folder not found")
    direct = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if direct:
        return {p.stem: p for p in direct}
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        vids = sorted(p for p in sub.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if vids:
            found[sub.name] = vids[0]
    if not found:
        raise InputError(f"{folder}: no videos ({', '.join(VIDEO_SUFFIXES)}) in the folder or its subfolders")
    return found


def detection_boxes(path: Path, fmt: str, cameras: list[str]):
    """Camera -> person boxes (n, 4) x, y, w, h by frame number, from imported 2D keypoints (NaN: none)."""
    import numpy as np

    from mv3d.errors import InputError
    from mv3d.io import read_keypoints
    from mv3d.pose2d.topdown import keypoints_to_boxes

    kp = read_keypoints(path, format=fmt, fps=30.0)
    missing = [c for c in cameras if c not in kp.cameras]
    if missing:
        raise InputError(f"{path}: no detections for camera(s) {', '.join(missing)} (detections have "
                         f"{', '.join(kp.cameras)}); name the videos like the detection folders")
    frames = np.asarray(kp.frames, dtype=int)
    out = {}
    for c in cameras:
        boxes = np.full((int(frames.max()) + 1, 4), np.nan)
        boxes[frames] = keypoints_to_boxes(kp.data[kp.cameras.index(c)], min_conf=0.1)
        out[c] = boxes
    return out


@click.command("pose2d")
@click.option("--videos", "videos_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Folder with one video per camera (or one subfolder per camera); --out is then an HDF5 file "
                   "(dataset keypoints2d (C, F, 23, 3)).")
@click.option("--images", "images_path", default=None, type=click.Path(path_type=Path),
              help="An image file or a folder of images; --out is then a JSON list of COCO keypoint results "
                   "(image_id, box_id with --boxes, category_id 1, keypoints 23 x 3 in MV3D23 order, score, "
                   "file_name). Without --boxes, image_id is the image's index in the sorted file list.")
@click.option("--boxes", "boxes_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="With --images: COCO-style person boxes (images: id, file_name relative to the folder; "
                   "annotations: id, image_id, bbox [x, y, w, h]): one result per box, no person detection.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: HDF5 for --videos, JSON for --images.")
@click.option("--model", default=None,
              help="2D model spec: blazepose_heavy (default), blazepose_full, demo_synthetic or hrnet:CHECKPOINT.")
@click.option("--weights", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Shorthand for --model hrnet:WEIGHTS: an mv3d training checkpoint, Simple Baselines/HRNet or "
                   "mmpose file.")
@click.option("--arch", default=None,
              help="Architecture of a checkpoint (pose_resnet50, hrnet_w32, ...); default: from the checkpoint.")
@click.option("--input-size", default=None, help="Checkpoint input WIDTHxHEIGHT (default: checkpoint or 192x256).")
@click.option("--mode", type=click.Choice(["track", "full"]), default="track", show_default=True,
              help="Person in videos without --detections: tracked from the previous frames, or searched anew in "
                   "every frame.")
@click.option("--detections", type=click.Path(exists=True, path_type=Path), default=None,
              help="Imported 2D detections giving the person box of each frame (one camera per video, "
                   "matched by name): an OpenPose/mmpose folder or an mv3d keypoints .h5.")
@click.option("--detections-format", type=click.Choice(["openpose", "mmpose", "h5"]), default="openpose",
              show_default=True, help="Format of --detections.")
@click.option("--flip/--no-flip", default=None,
              help="Checkpoints: flip test (average with mirrored crop); default: the checkpoint config's, else on.")
@click.option("--batch-size", default=8, show_default=True, help="Frames decoded (and, top-down, run) per batch.")
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda).")
def pose2d_cmd(videos_dir: Path | None, images_path: Path | None, boxes_path: Path | None, out_path: Path,
               model: str | None, weights: Path | None, arch: str | None, input_size: str | None, mode: str,
               detections: Path | None, detections_format: str, flip: bool | None, batch_size: int,
               device: str) -> None:
    """Estimate MV3D23 2D keypoints: the subject of every camera's video (--videos), or the people in images
    (--images, optionally in given --boxes)."""
    from mv3d.pose2d import EstimatorOptions
    from mv3d.pose2d.estimators import DEFAULT_MODEL, DEMO_MODEL, parse_model_spec

    if (videos_dir is None) == (images_path is None):
        raise click.UsageError("give either --videos DIR or --images PATH")
    if boxes_path is not None and images_path is None:
        raise click.UsageError("--boxes goes with --images")
    if weights is not None and model is not None:
        raise click.UsageError("give either --model or --weights (= --model hrnet:WEIGHTS)")
    spec = f"hrnet:{weights}" if weights is not None else model or DEFAULT_MODEL
    if parse_model_spec(spec)[0] == DEMO_MODEL:
        click.echo(f"Warning: {DEMO_MODEL} was trained on simulator renders only and does not see real people; "
                   f"use {DEFAULT_MODEL} (the default) for real images and videos", err=True)
    options = EstimatorOptions(device=device, batch_size=batch_size, flip=flip, arch=arch,
                               input_size=_size(input_size) if input_size else None)
    if images_path is not None:
        _images(spec, options, images_path, boxes_path, out_path)
    else:
        _videos(spec, options, videos_dir, out_path, mode, detections, detections_format)


def _videos(spec: str, options, videos_dir: Path, out_path: Path, mode: str, detections: Path | None,
            detections_format: str) -> None:
    import numpy as np

    from mv3d.io import write_keypoints_h5
    from mv3d.pose2d import estimate_keypoints2d, resolve_model

    videos = find_videos(videos_dir)
    boxes = detection_boxes(detections, detections_format, list(videos)) if detections else None
    estimator = resolve_model(spec, options)
    kp = estimate_keypoints2d(estimator, videos, boxes=boxes, track=mode == "track")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_keypoints_h5(out_path, kp)
    click.echo(f"wrote {out_path}: {len(kp.cameras)} cameras x {len(kp.frames)} frames x 23 joints "
               f"(mean confidence {np.nanmean(kp.data[..., 2]):.2f}, model {estimator.name})")


def _images(spec: str, options, images_path: Path, boxes_path: Path | None, out_path: Path) -> None:
    from mv3d.pose2d import resolve_model
    from mv3d.pose2d.images import keypoint_results, list_images, write_results

    items = list_images(images_path, boxes_path)
    estimator = resolve_model(spec, options)
    results = list(keypoint_results(estimator, items))
    write_results(out_path, results)
    click.echo(f"wrote {out_path}: {len(results)} people in {len(items)} images (model {estimator.name})")


@click.command("pose2d")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="YAML training config (see configs/pose2d/).")
@click.option("--out-dir", default=None, type=click.Path(file_okay=False), help="Override the config's out_dir.")
@click.option("--steps", type=int, default=None, help="Override optim.steps.")
@click.option("--device", default=None, help="Override optim.device (cpu, cuda, auto).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from out_dir/last.pt when it exists.")
def train_pose2d(config_path: Path, out_dir: str | None, steps: int | None, device: str | None,
                 resume: bool) -> None:
    """Train a 23-joint heatmap network (Adam, step LR, mixed precision on GPU)."""
    from mv3d.config import load_config
    from mv3d.pose2d.train import Pose2DTrainConfig, train

    cfg = load_config(config_path, Pose2DTrainConfig)
    if out_dir:
        cfg.out_dir = out_dir
    if steps:
        cfg.optim.steps = steps
    if device:
        cfg.optim.device = device
    result = train(cfg, resume=resume)
    click.echo(f"step {result['step']}: loss {result['loss']:.3e}, val PCK@0.05 {result['val_pck']:.4f} "
               f"(best {result['best_val_pck']:.4f}); checkpoints in {result['out_dir']}")


@click.command("pose2d")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="COCO-WholeBody annotation JSON.")
@click.option("--pred", "pred_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="COCO results JSON: image_id, category_id, keypoints (23x3, MV3D23 order), score.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the metrics as JSON here.")
def eval_pose2d(gt_path: Path, pred_path: Path, out_path: Path | None) -> None:
    """OKS AP/AR (body, foot, body+foot) and PCK of 2D keypoint results."""
    import json

    from mv3d.io.atomic import atomic_write
    from mv3d.pose2d.evaluate import evaluate_files

    metrics = evaluate_files(gt_path, pred_path)
    for k, v in metrics.items():
        click.echo(f"{k:>16s}: {v:.4f}")
    if out_path:
        with atomic_write(out_path) as fh:
            json.dump(metrics, fh, indent=2)


def register(cli: click.Group) -> None:
    """Add the 2D pose commands."""
    cli.add_command(pose2d_cmd)
    subgroup(cli, "train", "Train networks (2D pose, marker augmenter).").add_command(train_pose2d)
    subgroup(cli, "eval", "Evaluate results against ground truth.").add_command(eval_pose2d)
