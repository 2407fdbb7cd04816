"""``mv3d model build``, ``mv3d scale``, ``mv3d ik``, ``mv3d compare``: OpenSim kinematics commands."""
from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("model")
def model_group() -> None:
    """The built-in OpenSim body model."""


@model_group.command("build")
@click.option("--height", type=float, default=1.75, show_default=True, help="Subject height [m].")
@click.option("--mass", type=float, default=70.0, show_default=True, help="Subject mass [kg].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for mv3d_body.osim, its marker sets and scale/IK setups.")
def model_build(height: float, mass: float, out_dir: Path) -> None:
    """Write the built-in full-body model (37 coordinates, video + anatomical markers) and its setups."""
    from mv3d.kinematics.bodymodel import write_model

    path = write_model(out_dir, height, mass)
    click.echo(f"{path} (height {height:g} m, mass {mass:g} kg) + marker sets and setups in {out_dir}")


@click.command("scale")
@click.option("--model", "model_path", type=_FILE, default=None,
              help="Generic .osim model (default: the one named in --setup).")
@click.option("--trc", "trc_path", type=_FILE, required=True, help="Static trial (TRC).")
@click.option("--mass", type=float, required=True, help="Subject mass [kg].")
@click.option("--height", type=float, default=None, help="Subject height [m] (informational).")
@click.option("--setup", type=_FILE, default=None, help="OpenSim ScaleTool setup XML (measurements, weights).")
@click.option("--markers", "marker_sets", type=_FILE, multiple=True,
              help="MarkerSet XML to add to the model (repeatable), e.g. OpenCap's _markers_augmenter.xml.")
@click.option("--time-range", nargs=2, type=float, default=None,
              help="Static window START END [s] (default: the setup's, else the stillest 1 s).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for <model>_scaled.osim and <model>_scale_set.xml.")
@click.option("--no-check", is_flag=True, help="Skip the plausibility check of the scale factors.")
def scale_cmd(model_path: Path | None, trc_path: Path, mass: float, height: float | None, setup: Path | None,
              marker_sets: tuple[Path, ...], time_range: tuple[float, float] | None, out_dir: Path,
              no_check: bool) -> None:
    """Scale an OpenSim model to a static trial with OpenSim's ScaleTool."""
    from mv3d.kinematics.scale import scale_model

    res = scale_model(model_path, trc_path, mass, out_dir, height=height, setup=setup,
                      time_range=tuple(time_range) if time_range else None, check=not no_check,
                      marker_sets=list(marker_sets))
    factors = ", ".join(f"{k} {v:.3f}" for k, v in res.measurement_factors.items())
    click.echo(f"{res.model_path} (static {res.time_range[0]:.2f}-{res.time_range[1]:.2f} s; factors: {factors})")


@click.command("ik")
@click.option("--model", "model_path", type=_FILE, required=True, help="Scaled .osim model.")
@click.option("--trc", "trc_path", type=_FILE, required=True, help="Marker trajectories (TRC).")
@click.option("--setup", type=_FILE, default=None,
              help="OpenSim IK setup XML (marker weights, coordinate tasks, accuracy, time range).")
@click.option("--markers", "marker_sets", type=_FILE, multiple=True, help="MarkerSet XML to add to the model.")
@click.option("--out", "out_mot", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .mot (degrees); marker errors go to <out>_marker_errors.csv.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Processes (chunks solved in parallel).")
@click.option("--refine", is_flag=True,
              help="Polish each frame by Gauss-Newton on the same cost (recommended for the built-in model).")
@click.option("--no-stabilize", is_flag=True,
              help="With --refine: do not hold the coordinates the markers do not determine toward neutral.")
@click.option("--time-range", nargs=2, type=float, default=None, help="START END [s].")
def ik_cmd(model_path: Path, trc_path: Path, setup: Path | None, marker_sets: tuple[Path, ...], out_mot: Path,
           jobs: int, refine: bool, no_stabilize: bool, time_range: tuple[float, float] | None) -> None:
    """Inverse kinematics with OpenSim from a TRC file.

    Besides the .mot: <out>_marker_errors.csv and <out>_coordinate_status.csv (which coordinates
    the markers determine; not for models with kinematic constraints).
    """
    import numpy as np

    from mv3d.kinematics.ik import run_ik, undetermined_summary

    res = run_ik(model_path, trc_path, out_mot, setup=setup, marker_sets=list(marker_sets), n_jobs=jobs,
                 refine=refine, stabilize=not no_stabilize, time_range=tuple(time_range) if time_range else None)
    click.echo(f"{out_mot}: {len(res.times)} frames, {len(res.coordinates)} coordinates, marker RMS "
               f"median {1000 * np.nanmedian(res.rms_error):.1f} mm, max {1000 * np.nanmax(res.max_error):.1f} mm")
    for line in [undetermined_summary(res), *res.warnings]:
        if line:
            click.echo(f"note: {line}", err=True)


@click.command("compare")
@click.option("--video", "video_path", type=_FILE, required=True, help="Video .mot (or .trc with --markers-space).")
@click.option("--mocap", "mocap_path", type=_FILE, required=True, help="Mocap .mot (or .trc).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for comparison.csv, alignment.yaml and figures/.")
@click.option("--max-lag", type=float, default=None, help="Largest |shift| searched [s].")
@click.option("--shift", type=float, default=None, help="Use this shift [s] instead of estimating it.")
@click.option("--transform", type=_FILE, default=None,
              help="OpenCap mocapToVideoTransform.yaml (marker space; default: robust Kabsch fit).")
@click.option("--no-figures", is_flag=True, help="Skip the PNG figures.")
@click.option("--status", "status_csv", type=_FILE, default=None,
              help="Coordinate status of the video .mot (default: <video>_coordinate_status.csv beside it).")
@click.option("--flip-sign", "flip_sign", multiple=True, metavar="COORDINATE",
              help="Negate a coordinate of the mocap .mot (repeatable; knee_angle flips knee_angle_r and _l), for a "
                   "mocap model of the opposite sign convention (Gait2392/Gait2354/Hamner: knee flexion negative).")
def compare_cmd(video_path: Path, mocap_path: Path, out_dir: Path, max_lag: float | None, shift: float | None,
                transform: Path | None, no_figures: bool, status_csv: Path | None, flip_sign: tuple[str, ...]) -> None:
    """Compare video kinematics with mocap: .mot vs .mot (joint angles) or .trc vs .trc (markers)."""
    import numpy as np

    from mv3d.errors import InputError
    from mv3d.kinematics import compare, plots

    kinds = {video_path.suffix.lower(), mocap_path.suffix.lower()}
    if kinds == {".trc"}:
        if flip_sign:
            raise InputError("--flip-sign applies to .mot comparisons (joint angles), not to marker .trc files")
        res_m = compare.compare_trc(video_path, mocap_path, transform_yaml=transform, max_lag_s=max_lag)
        compare.write_marker_comparison(res_m, out_dir)
        click.echo(f"{out_dir}: shift {1000 * res_m.shift_s:.1f} ms, {len(res_m.markers)} markers, "
                   f"median RMSE {np.nanmedian(res_m.rmse_mm):.1f} mm")
        return
    if kinds - {".mot", ".sto"}:
        raise InputError(f"compare takes two .mot files or two .trc files, not {video_path.name} and "
                         f"{mocap_path.name}")
    res = compare.compare_mot(video_path, mocap_path, max_lag_s=max_lag, shift_s=shift, flip_sign=flip_sign,
                              status_csv=status_csv)
    compare.write_comparison(res, out_dir)
    if not no_figures:
        plots.plot_comparison(res, out_dir / "figures")
    rot = [c for c in res.coordinates if c not in res.translations]
    shown = res.determined(rot)
    click.echo(f"{out_dir}: shift {1000 * res.alignment.shift_s:.1f} ms, {len(rot)} rotations, mean RMSE "
               f"{np.nanmean([res.metrics[c]['rmse'] for c in shown]) if shown else float('nan'):.2f} deg"
               + (f" over the {len(shown)} the markers determine; not determined (RMSE not an accuracy, see "
                  f"comparison.csv): {', '.join(c for c in rot if c not in shown)}" if len(shown) < len(rot) else ""))


def register(cli: click.Group) -> None:
    """Add the kinematics commands to the ``mv3d`` group."""
    cli.add_command(model_group)
    cli.add_command(scale_cmd)
    cli.add_command(ik_cmd)
    cli.add_command(compare_cmd)
