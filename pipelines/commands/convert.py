"""``mv3d convert``: file format conversions (TRC units, 2D keypoints to HDF5).

Other modules add subcommands to the same group through ``get_convert_group(cli)``
(e.g. ``convert_calib.py`` adds ``mv3d convert calib``).
"""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli_groups import subgroup


def get_convert_group(cli: click.Group) -> click.Group:
    """The ``convert`` group of ``cli``, created on first use."""
    return subgroup(cli, "convert", "Convert between file formats (TRC units, 2D keypoints, calibrations).")


@click.command("trc")
@click.argument("src", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--units", type=click.Choice(["m", "mm"]), default="m", show_default=True,
              help="Unit of the written file.")
def convert_trc(src: Path, dst: Path, units: str) -> None:
    """Rewrite the TRC file IN as OUT in the given units (OpenSim layout, missing markers as NaN)."""
    from mv3d.io import read_trc, write_trc

    trc = read_trc(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_trc(dst, trc.points, trc.marker_names, trc.times, units=units, rate=trc.rate,
              frame_numbers=trc.frame_numbers)
    click.echo(f"{dst}: {trc.n_frames} frames, {len(trc.marker_names)} markers, {trc.rate:g} Hz, "
               f"{trc.units} -> {units}")


@click.command("keypoints")
@click.option("--format", "fmt", type=click.Choice(["openpose", "mmpose"]), required=True,
              help="Tool that wrote the JSON files.")
@click.option("--in", "src", type=click.Path(exists=True, path_type=Path), required=True,
              help="Folder with one sub-folder (or JSON file) per camera.")
@click.option("--out", "dst", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="HDF5 file to write (dataset 'keypoints2d').")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frame rate of the videos.")
@click.option("--joint-set", default=None,
              help="Detector joint set if not told by the keypoint count (e.g. BODY_25, BODY_25B).")
def convert_keypoints_cmd(fmt: str, src: Path, dst: Path, fps: float, joint_set: str | None) -> None:
    """Import 2D keypoints (one person followed per camera) into an mv3d HDF5 file."""
    from mv3d.io import read_keypoints, write_keypoints_h5

    kp = read_keypoints(src, format=fmt, fps=fps, joint_set=joint_set)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_keypoints_h5(dst, kp)
    found = ", ".join(f"{cam} {100 * frac:.0f}%" for cam, frac in zip(kp.cameras, kp.detected_fraction()))
    click.echo(f"{dst}: {len(kp.cameras)} cameras x {len(kp.frames)} frames x {len(kp.joint_names)} joints "
               f"from {kp.source} at {kp.fps:g} fps; joints detected: {found}")


def register(cli: click.Group) -> None:
    group = get_convert_group(cli)
    group.add_command(convert_trc)
    group.add_command(convert_keypoints_cmd)
