"""``mv3d batch``: run the pipeline over many sessions (process pool or a Dask cluster)."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("batch")
@click.argument("sessions", metavar="ROOT_OR_LIST", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for summary.csv, index.html and logs/ of failed sessions.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local worker processes (1 runs the sessions one after another in this process).")
@click.option("--dask-scheduler", "scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Address of an existing Dask scheduler; sessions run on its workers (--workers is ignored).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Pipeline config YAML used for every session.")
@click.option("--trial", default=None,
              help="Trial to run in every session (default: each session's only dynamic trial).")
@click.option("--all-trials", is_flag=True, help="Run every dynamic trial of every session.")
def batch(sessions: Path, out_dir: Path, workers: int, scheduler: str | None, config: Path | None,
          trial: str | None, all_trials: bool) -> None:
    """Run every session of ROOT_OR_LIST and summarise the results.

    ROOT_OR_LIST is a folder whose sub-folders are sessions, or a text file with one
    session path per line. A failing session is reported in the summary and does not
    stop the others; the exit status is 1 when any session failed.
    """
    from pipelines.batch import expand_trials, run_batch, survey_sessions

    if trial and all_trials:
        raise click.UsageError("--trial and --all-trials exclude each other")
    found, skipped = survey_sessions(sessions)
    jobs = expand_trials(found, trial=trial, all_trials=all_trials)
    where = f"Dask scheduler {scheduler}" if scheduler else f"{workers} local worker(s)"
    click.echo(f"{len(jobs)} job(s) on {where}" + (f"; {len(skipped)} folder(s) skipped" if skipped else ""))
    for row in skipped:
        click.echo(f"  skipped: {row['session']}: {row['error']}", err=True)
    result = run_batch(jobs, out_dir, workers=workers, scheduler=scheduler, config=config, skipped=skipped)
    ok = len(result.rows) - result.n_failed - len(skipped)
    click.echo(f"{ok} ok, {result.n_failed} failed, {len(skipped)} skipped; {result.summary_csv}, "
               f"{result.index_html}")
    for row in result.rows:
        if row["status"] == "failed":
            click.echo(f"  failed: {row['session']} (trial {row['trial'] or '?'}): {row['error']}", err=True)
    if result.n_failed:
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(batch)
