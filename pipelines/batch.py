"""Run the pipeline over many sessions: a local process pool or a user's Dask cluster.

``find_sessions`` turns a folder of sessions (or a text file listing them) into
paths; ``run_batch`` runs one job per session (and trial), each in its own worker,
and collects one summary row per job. A job that fails becomes a row with status
"failed" and its error; the other jobs go on. ``summary.csv`` and ``index.html``
(a table linking every trial's report) are written to the output folder.

The session runner is injectable (``runner=``): any picklable top-level function
``runner(session_path, config=None, trial=None) -> dict`` of metrics. By default it
is ``pipelines.run.run_session``, imported lazily inside the worker.
"""
from __future__ import annotations

import csv
import html
import json
import logging
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from pipelines.session import discover_session

log = logging.getLogger(__name__)

#: The columns every summary row has, in this order; the runners' metric keys follow.
BASE_COLUMNS = ("session", "trial", "status", "error", "seconds")

#: A session runner: ``runner(session_path, config=None, trial=None) -> dict`` of metrics.
SessionRunner = Callable[..., dict]


@dataclass(frozen=True)
class Job:
    """One unit of work: a session and optionally one of its trials."""

    session: str
    trial: str | None = None


@dataclass
class BatchResult:
    """Rows (one per job, in job order) and the files written."""

    rows: list[dict]
    summary_csv: Path
    index_html: Path

    @property
    def n_failed(self) -> int:
        return sum(r["status"] == "failed" for r in self.rows)


# ------------------------------------------------------------------------------------
# Finding sessions
# ------------------------------------------------------------------------------------

def find_sessions(root_or_list: str | os.PathLike) -> list[Path]:
    """Session paths from a folder of sessions or from a text file listing them (see :func:`survey_sessions`)."""
    return survey_sessions(root_or_list)[0]


def survey_sessions(root_or_list: str | os.PathLike) -> tuple[list[Path], list[dict]]:
    """Session paths from a folder of sessions or from a text file listing them, and a summary
    row (status "skipped", the reason in "error") for every folder looked at that is not one.

    Folder: every immediate sub-folder that ``pipelines.session.discover_session`` reads.
    Text file: one session path per line; blank lines and lines starting with '#' are ignored;
    relative paths are relative to the list file.
    """
    src = Path(root_or_list)
    if src.is_file():
        sessions = []
        for n, line in enumerate(src.read_text(errors="replace").splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            path = Path(line).expanduser()
            path = path if path.is_absolute() else src.parent / path
            if not path.exists():
                raise InputError(f"{src} line {n}: session {path} does not exist; fix or remove the line")
            sessions.append(path)
        if not sessions:
            raise InputError(f"{src}: lists no session paths (one path per line expected)")
        return sessions, []
    if not src.is_dir():
        raise InputError(f"{src} does not exist: give a folder of sessions or a text file listing session paths")
    sessions, skipped = [], []
    for sub in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            discover_session(sub)
        except InputError as exc:
            log.info("skipping %s: %s", sub, exc)
            skipped.append({"session": str(sub), "trial": "", "status": "skipped", "error": f"not a session: {exc}",
                            "seconds": math.nan})
            continue
        sessions.append(sub)
    if not sessions:
        raise InputError(f"{src}: no sub-folder is a session (OpenCap Videos/, Pose2Sim calibration/ + "
                         f"videos/ or pose/, or mv3d_session.yaml); pass a list file to name sessions directly")
    return sessions, skipped


def expand_trials(sessions: Sequence[str | os.PathLike], trial: str | None = None,
                  all_trials: bool = False) -> list[Job]:
    """Jobs for the sessions: one per session (``trial`` or the session's only dynamic trial),
    or with ``all_trials`` one per dynamic trial of each session."""
    if not all_trials:
        return [Job(str(s), trial) for s in sessions]
    jobs = []
    for s in sessions:
        names = [t.name for t in discover_session(s).trials.values() if not t.static]
        jobs.extend(Job(str(s), name) for name in names)
    return jobs


# ------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------

def _default_runner() -> SessionRunner:
    from pipelines.run import run_session

    return run_session


def run_job(runner: SessionRunner | None, job: Job, config: str | None = None) -> dict:
    """Run one job and return its summary row; never raises for a failing session.

    Executed in the worker (process pool or Dask), so it is a top-level function.
    """
    start = time.perf_counter()
    row: dict = {"session": job.session, "trial": job.trial or "", "status": "ok", "error": ""}
    try:
        fn = runner if runner is not None else _default_runner()
        result = fn(job.session, config=config, trial=job.trial)
        if not isinstance(result, dict):
            raise TypeError(f"the session runner returned {type(result).__name__}, expected a dict of metrics")
        for key, value in result.items():
            if key == "session":
                continue
            row[key] = value
        row["status"] = str(result.get("status", "ok"))
        row["error"] = str(result.get("error", ""))
    except Exception as exc:  # a failing session is reported, not raised
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    if not row["trial"]:  # the runner did not say which trial it ran
        row["trial"] = _default_trial(job.session)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _default_trial(session: str) -> str:
    """The name of the trial a job without one runs (empty when the session cannot tell: its error
    is then the row's error)."""
    try:
        return discover_session(session).trial(None).name
    except InputError:
        return ""


def _failed_row(job: Job, exc: BaseException) -> dict:
    """A row for a job whose worker died or could not run it at all."""
    return {"session": job.session, "trial": job.trial or _default_trial(job.session), "status": "failed",
            "error": f"{type(exc).__name__}: {exc}", "seconds": math.nan}


def run_batch(sessions: Sequence[str | os.PathLike] | Sequence[Job], out_dir: str | os.PathLike,
              runner: SessionRunner | None = None, workers: int = 1, scheduler: str | None = None,
              config: str | os.PathLike | None = None, connect_timeout: float = 20.0,
              skipped: Sequence[dict] = ()) -> BatchResult:
    """Run every session (or Job) and write ``out_dir/summary.csv`` and ``out_dir/index.html``.

    runner: picklable top-level function (default ``pipelines.run.run_session``);
    workers: local processes (1 runs in this process); scheduler: address of an existing
    Dask scheduler (``tcp://host:8786``); when given, jobs go to that cluster and
    ``workers`` is ignored; connect_timeout: seconds to reach it. config: a pipeline
    config file passed to every run. skipped: rows of folders that were looked at and are not
    sessions (:func:`survey_sessions`), listed in the summary after the jobs.
    A failing session becomes a row with status "failed"; full tracebacks go to
    ``out_dir/logs/``.
    """
    jobs = [s if isinstance(s, Job) else Job(str(s)) for s in sessions]
    if not jobs:
        raise InputError("no sessions to run")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = None if config is None else str(Path(config).resolve())
    rows: list[dict | None] = [None] * len(jobs)
    progress = tqdm(total=len(jobs), desc="sessions", unit="session", disable=None)
    t0 = time.perf_counter()
    try:
        if scheduler:
            _run_dask(jobs, runner, cfg, scheduler, connect_timeout, rows, progress)
        elif workers <= 1:
            for i, job in enumerate(jobs):
                rows[i] = run_job(runner, job, cfg)
                _log_row(rows[i], progress)
        else:
            _run_pool(jobs, runner, cfg, workers, rows, progress)
    finally:
        progress.close()
    done = [r for r in rows if r is not None] + [dict(r) for r in skipped]
    _write_tracebacks(done, out_dir / "logs")
    result = BatchResult(done, write_summary_csv(done, out_dir / "summary.csv"),
                         write_index_html(done, out_dir / "index.html"))
    log.info("batch: %d rows in %.1f s, %d failed; summary %s", len(done), time.perf_counter() - t0,
             result.n_failed, result.summary_csv)
    return result


def _log_row(row: dict, progress) -> None:
    progress.update(1)
    if row["status"] == "failed":
        log.warning("%s %s failed: %s", row["session"], row["trial"], row["error"])
    else:
        log.info("%s %s: %s in %.1f s", row["session"], row["trial"], row["status"], row["seconds"])


def _run_pool(jobs: list[Job], runner: SessionRunner | None, cfg: str | None, workers: int,
              rows: list, progress) -> None:
    """Local process pool (spawned workers: no inherited threads or OpenMP state)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = {pool.submit(run_job, runner, job, cfg): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                rows[i] = fut.result()
            except Exception as exc:  # the worker died (crash, out of memory) or pickling failed
                rows[i] = _failed_row(jobs[i], exc)
            _log_row(rows[i], progress)


def _run_dask(jobs: list[Job], runner: SessionRunner | None, cfg: str | None, address: str, timeout: float,
              rows: list, progress) -> None:
    """Submit to an existing Dask cluster; the cluster stays the user's (only our client is closed)."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise InputError("--dask-scheduler needs the 'distributed' package: pip install 'mv3d[batch]'") from exc
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot connect to the Dask scheduler at {address}: {exc}; "
                         f"start one (dask scheduler) or check the address") from exc
    try:
        futures = [client.submit(run_job, runner, job, cfg, pure=False) for job in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                rows[i] = fut.result()
            except Exception as exc:  # the worker died or the task could not be unpickled there
                rows[i] = _failed_row(jobs[i], exc)
            _log_row(rows[i], progress)
    finally:
        client.close()


# ------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------

def _columns(rows: Sequence[dict]) -> list[str]:
    extra: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in BASE_COLUMNS and key != "traceback":
                extra.setdefault(key)
    return list(BASE_COLUMNS) + list(extra)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return str(value)


def write_summary_csv(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """One row per job: session, trial, status, error, seconds, then every metric key seen."""
    path = Path(path)
    columns = _columns(rows)
    with atomic_write(path, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    return path


def _write_tracebacks(rows: Sequence[dict], folder: Path) -> None:
    for i, row in enumerate(rows):
        tb = row.pop("traceback", None)
        if tb:
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{i:03d}_{Path(row['session']).name}_{row['trial'] or 'trial'}.txt"
            with atomic_write(folder / name) as fh:
                fh.write(f"session {row['session']} trial {row['trial']}\n{tb}")


_INDEX_CSS = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f5f5f5} td.l{text-align:left} tr.failed{background:#fdecea} .err{color:#a00;text-align:left}"""


def _fmt(value) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return html.escape(_cell(value))


def write_index_html(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """A page with one table row per job, linking each trial's report (relative links)."""
    path = Path(path)
    metrics = [c for c in _columns(rows)[len(BASE_COLUMNS):] if c != "report"
               and any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows)]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["session", "trial", "status", "seconds", "report",
                                                           *metrics])
    body = []
    for row in rows:
        report = row.get("report")
        link = "–"
        if report:
            href = os.path.relpath(Path(str(report)).resolve(), path.parent.resolve())
            link = f'<a href="{html.escape(Path(href).as_posix())}">report</a>'
        cells = [f'<td class="l" title="{html.escape(row["session"])}">{html.escape(Path(row["session"]).name)}</td>',
                 f'<td class="l">{html.escape(str(row.get("trial", "")))}</td>',
                 f'<td class="l">{html.escape(str(row["status"]))}</td>', f"<td>{_fmt(row.get('seconds'))}</td>",
                 f'<td class="l">{link}</td>', *(f"<td>{_fmt(row.get(m, math.nan))}</td>" for m in metrics)]
        cls = ' class="failed"' if row["status"] == "failed" else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
        if row.get("error"):
            body.append(f'<tr{cls}><td></td><td class="err" colspan="{len(metrics) + 4}">'
                        f"{html.escape(str(row['error']))}</td></tr>")
    n_failed = sum(r["status"] == "failed" for r in rows)
    n_skipped = sum(r["status"] == "skipped" for r in rows)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mv3d batch</title>"
            f"<style>{_INDEX_CSS}</style></head><body><h1>mv3d batch</h1>"
            f"<p>{len(rows) - n_skipped} jobs: {len(rows) - n_failed - n_skipped} ok, {n_failed} failed; "
            f"{n_skipped} folders skipped (not sessions). "
            f"Per-job values are in <a href='summary.csv'>summary.csv</a>.</p>"
            f"<table><tr>{head}</tr>{''.join(body)}</table></body></html>")
    with atomic_write(path) as fh:
        fh.write(page)
    return path
