"""``mv3d convert calib IN OUT --to toml|opencap``: convert a calibration between formats."""
from __future__ import annotations

from pathlib import Path

import click


def camera_summary(rig) -> list[str]:
    """One line per camera: size, focal length, principal point, centre (world, m), up axis."""
    lines = []
    for cam in rig:
        c = cam.center
        lines.append(f"  {cam.name:>12}  {cam.size[0]}x{cam.size[1]}  f={cam.K[0, 0]:.1f},{cam.K[1, 1]:.1f} px  "
                     f"c=({cam.K[0, 2]:.1f}, {cam.K[1, 2]:.1f})  k1={cam.dist[0]:+.4f}  "
                     f"centre=({c[0]:+.3f}, {c[1]:+.3f}, {c[2]:+.3f}) m")
    return lines


def projection_check(rig, other, n: int = 2000, seed: int = 0):
    """Max pixel difference per camera between two rigs over points 1-6 m in front of each camera. (C,)"""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for cam, cam2 in zip(rig, other):
        w, h = cam.size
        uv = rng.uniform([0, 0], [w, h], (n, 2))
        xy = cam.undistort_points(uv)
        depth = rng.uniform(1.0, 6.0, (n, 1))
        X = (np.concatenate([xy, np.ones((n, 1))], 1) * depth - cam.t) @ cam.R  # R^T (x - t)
        out.append(float(np.nanmax(np.linalg.norm(cam.project(X) - cam2.project(X), axis=-1))))
    return np.array(out)


@click.command("calib")
@click.argument("src", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--to", "fmt", type=click.Choice(["toml", "opencap"]), required=True,
              help="Output format: Pose2Sim TOML file, or OpenCap folder (one CamN/ pickle per camera).")
@click.option("--subject", default=None, help="Human3.6M subject (e.g. S9) for cameras.pkl.")
@click.option("--camera-type", default="hd", show_default=True, help="CMU Panoptic camera type (hd, vga, all).")
@click.option("--placement", type=click.Choice(["backwall", "ground"]), default=None,
              help="OpenCap board placement when no sessionMetadata.yaml says it.")
def convert_calib(src: Path, dst: Path, fmt: str, subject: str | None, camera_type: str,
                  placement: str | None) -> None:
    """Convert the calibration IN (format detected) to OUT; prints the cameras and a projection check."""
    from calibration.formats import detect_format, load_rig, save_rig
    from calibration.frames import up_axis

    in_fmt = detect_format(src)
    rig = load_rig(src, in_fmt, subject=subject, camera_type=camera_type, placement=placement)
    if dst.parent != Path("."):
        dst.parent.mkdir(parents=True, exist_ok=True)
    files = save_rig(rig, dst, format=fmt)
    back = load_rig(dst, fmt)
    diff = projection_check(rig, back)
    click.echo(f"{src} ({in_fmt}) -> {dst} ({fmt}): {len(rig)} cameras, world up axis "
               f"{up_axis(rig.R_to_opensim) or 'oblique'}")
    for line, d in zip(camera_summary(rig), diff):
        click.echo(f"{line}  reprojection after round trip: {d:.2e} px")
    if len(files) > 1:
        click.echo(f"wrote {len(files)} files under {dst}")


def register(cli: click.Group) -> None:
    from pipelines.commands.convert import get_convert_group

    get_convert_group(cli).add_command(convert_calib)
