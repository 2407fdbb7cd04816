"""``mv3d run``, ``mv3d report`` and ``mv3d demo``: the whole pipeline on a session."""
from __future__ import annotations

import time
from pathlib import Path

import click

DEMO_MOTION = "squat"
DEMO_RIG = "opencap2"
DEMO_SECONDS = 6.0
#: The demo's 2D model: the network trained on the simulator's renders (see README, "The 2D model": on the
#: rendered demo it is both faster and more accurate than BlazePose, which was made for real people).
DEMO_2D_MODEL = "demo_synthetic"


def _progress(stage, status: str, seconds: float) -> None:
    if status == "running":
        click.echo(f"  {stage.name:<14} {stage.description} ...", err=True)
    elif status == "ran":
        click.echo(f"  {stage.name:<14} done in {seconds:.1f} s", err=True)
    else:
        click.echo(f"  {stage.name:<14} unchanged, skipped", err=True)


def _summary(metrics: dict) -> None:
    parts = []
    if "median_reproj_px" in metrics:
        parts.append(f"median reprojection {metrics['median_reproj_px']:.1f} px")
    if "ik_rms_marker_error_mm" in metrics:
        parts.append(f"IK marker RMS {metrics['ik_rms_marker_error_mm']:.1f} mm")
    if "lower_limb_rmse_deg" in metrics:
        parts.append(f"lower-limb joint-angle RMSE vs reference {metrics['lower_limb_rmse_deg']:.2f} deg")
    if parts:
        click.echo("; ".join(parts))
    click.echo(f"Report: {metrics['report']}")


def register(cli: click.Group) -> None:
    @cli.command("run")
    @click.argument("session", type=click.Path(exists=True, path_type=Path))
    @click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="YAML overriding configs/default.yaml (any subset of its keys).")
    @click.option("--trial", default=None, help="Trial to process (default: the only dynamic trial).")
    @click.option("--from", "start", default=None, help="First stage to run (earlier outputs must exist).")
    @click.option("--to", "stop", default=None, help="Last stage to run.")
    @click.option("--only", multiple=True, help="Run only these stages (repeatable).")
    @click.option("--force", is_flag=True, help="Run the selected stages even when nothing changed.")
    def run_cmd(session: Path, config: str | None, trial: str | None, start: str | None, stop: str | None,
                only: tuple[str, ...], force: bool) -> None:
        """Process a session (OpenCap or Pose2Sim layout, or a session YAML), resuming where it can.

        Stages: calibration, keypoints2d, sync, triangulation, augmentation, scaling, ik, compare.
        A stage whose inputs and config are unchanged is skipped.
        """
        from pipelines.run import run_session

        t0 = time.perf_counter()
        metrics = run_session(session, config=config, trial=trial, start=start, stop=stop,
                              only=list(only) or None, force=force, progress=_progress)
        click.echo(f"{metrics['trial']}: finished in {time.perf_counter() - t0:.1f} s")
        _summary(metrics)

    @cli.command("report")
    @click.argument("session", type=click.Path(exists=True, path_type=Path))
    @click.option("--trial", default=None, help="Trial (default: the only dynamic trial).")
    @click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None)
    def report_cmd(session: Path, trial: str | None, config: str | None) -> None:
        """Rebuild the HTML report of a processed trial from its outputs."""
        from pipelines.config import load_pipeline_config
        from pipelines.context import Context
        from pipelines.run import build_report, check_session
        from pipelines.session import discover_session

        s = discover_session(session)
        cfg = load_pipeline_config(config)
        ctx = Context(s, check_session(s, trial, cfg), cfg)
        click.echo(f"Report: {build_report(ctx)}")

    @cli.command("demo")
    @click.argument("out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"))
    @click.option("--seconds", type=float, default=DEMO_SECONDS, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--detections", is_flag=True,
                  help="Import the simulator's detector-like 2D detections (noise, outliers, left/right swaps, a "
                       "passer-by) instead of running the 2D network on the rendered videos.")
    @click.option("--model", default=DEMO_2D_MODEL, show_default=True,
                  help="2D model spec for the rendered videos (blazepose_heavy, blazepose_full, demo_synthetic, "
                       "hrnet:CHECKPOINT).")
    def demo_cmd(out: Path, seconds: float, seed: int, detections: bool, model: str) -> None:
        """Simulate the built-in demo session (a squat seen by 2 phones) and run the whole pipeline on it.

        The 2D keypoints come from a 2D model run on the rendered videos (by default mv3d's network
        trained on simulator renders only, shipped for this demo; --model blazepose_heavy runs the
        real-people model); the markers from the shipped augmenter; joint angles are compared with
        the simulation's true motion.
        """
        from calibration import save_rig
        from mv3d.simulate.session import SimulationConfig, simulate, write_session
        from pipelines.run import run_session

        session = out / "session"
        t0 = time.perf_counter()
        if not (session / "sessionMetadata.yaml").is_file():
            click.echo(f"Simulating a {seconds:g} s {DEMO_MOTION} seen by the {DEMO_RIG} rig into {session} ...", err=True)
            sim = simulate(SimulationConfig(motion=DEMO_MOTION, seconds=seconds, rig=DEMO_RIG, seed=seed))
            write_session(sim, session, video=True,
                          calibration_writer=lambda r, folder: save_rig(r, folder, format="opencap"))
            click.echo(f"  simulated in {time.perf_counter() - t0:.1f} s", err=True)
        else:
            click.echo(f"Using the demo session already in {session}", err=True)
        source = "detections" if detections else "network"
        what = "the simulated detections" if detections else f"the 2D model {model} on the videos"
        click.echo(f"2D keypoints: {what}", err=True)
        metrics = run_session(session, config={"keypoints2d": {"source": source, "model": model}},
                              progress=_progress)
        click.echo(f"Demo finished in {time.perf_counter() - t0:.1f} s")
        _summary(metrics)
