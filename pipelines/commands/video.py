"""``mv3d sync`` (camera time offsets from 2D keypoints) and ``mv3d frames extract|interpolate``."""
from __future__ import annotations

import re
from pathlib import Path

import click

from pipelines.cli_groups import subgroup


def get_frames_group(cli: click.Group) -> click.Group:
    """The ``frames`` group of ``cli``, created on first use."""
    return subgroup(cli, "frames", "Decode, extract and interpolate video frames.")


@click.command("sync")
@click.option("--keypoints", "kp_path", type=click.Path(exists=True, path_type=Path), required=True,
              help="2D keypoints: OpenPose folder (one sub-folder per camera) or mv3d HDF5 file.")
@click.option("--format", "fmt", type=click.Choice(["openpose", "mmpose", "h5"]), default="openpose",
              show_default=True, help="Format of the keypoints.")
@click.option("--calib", type=click.Path(exists=True, path_type=Path), default=None,
              help="Calibration (any format calibration.load_rig reads); enables the reprojection refinement.")
@click.option("--fps", type=float, default=None, help="Video frame rate (JSON keypoints do not store it).")
@click.option("--max-offset", type=float, default=1.0, show_default=True, help="Largest |offset| searched (s).")
@click.option("--drift", is_flag=True, help="Also fit each camera's clock rate.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="YAML file to write: camera: seconds, and a confidence mapping.")
def sync_cmd(kp_path: Path, fmt: str, calib: Path | None, fps: float | None, max_offset: float, drift: bool,
             out: Path) -> None:
    """Estimate each camera's time offset (s, relative to the first camera) from 2D keypoint motion."""
    import yaml

    from mv3d.io import read_keypoints
    from mv3d.io.atomic import atomic_write
    from mv3d.video.sync import SyncParams, synchronize

    kp = read_keypoints(kp_path, format=fmt, fps=fps)
    rig = None
    if calib is not None:
        from calibration import load_rig

        rig = load_rig(calib).select(kp.cameras)
    res = synchronize(kp.data, kp.fps, rig, kp.cameras, params=SyncParams(max_offset=max_offset, fit_drift=drift))
    doc = res.as_dict()
    if drift:
        doc["rates"] = {n: float(r) for n, r in zip(res.cameras, res.rates)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    for name, off, conf in zip(res.cameras, res.offsets, res.confidence):
        click.echo(f"{name}: {off:+.5f} s ({off * kp.fps:+.2f} frames), confidence {conf:.2f}")
    for w in res.warnings:
        click.echo(f"Warning: {w}", err=True)
    click.echo(f"wrote {out}")


def _parse_times(values: tuple[str, ...]) -> list[float] | None:
    from mv3d.errors import InputError

    if not values:
        return None
    out = []
    for v in values:
        for tok in re.split(r"[,\s]+", v.strip()):
            if tok:
                try:
                    out.append(float(tok))
                except ValueError as exc:
                    raise InputError(f"--times: {tok!r} is not a number of seconds") from exc
    return out


@click.command("extract")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the images and frames.csv.")
@click.option("--every", type=int, default=1, show_default=True, help="Keep every N-th frame (by true index).")
@click.option("--times", multiple=True, help="Times (s) to extract instead, e.g. --times 0.5,1.25.")
@click.option("--ext", type=click.Choice(["png", "jpg"]), default="png", show_default=True)
def extract_cmd(video: Path, out: Path, every: int, times: tuple[str, ...], ext: str) -> None:
    """Write the frames of VIDEO as images named by true frame index and timestamp."""
    from mv3d.video.frames import extract_frames

    res = extract_frames(video, out, every=every, times=_parse_times(times), ext=ext)
    rep = res.report
    click.echo(f"{video}: decoded {rep.decoded} frames ({rep.duplicates} duplicates skipped, {rep.dropped} "
               f"dropped), wrote {len(res.files)} images and {res.index_csv}")
    for w in rep.warnings:
        click.echo(f"Warning: {w}", err=True)


@click.command("interpolate")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--factor", type=int, default=2, show_default=True, help="Frame-rate multiplier.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output video (.mp4, .avi or .mkv).")
def interpolate_cmd(video: Path, factor: int, out: Path) -> None:
    """Write VIDEO at FACTOR times its frame rate, in-between frames synthesised by optical flow."""
    from mv3d.video.flow import interpolate_video

    n = interpolate_video(video, out, factor=factor)
    click.echo(f"wrote {out}: {n} frames")


def register(cli: click.Group) -> None:
    cli.add_command(sync_cmd)
    frames = get_frames_group(cli)
    frames.add_command(extract_cmd)
    frames.add_command(interpolate_cmd)
