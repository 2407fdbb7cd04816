"""Batch runs: session discovery, local process pool, Dask cluster, summary files, CLI."""
from __future__ import annotations

import csv
import os
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mv3d.errors import InputError
from pipelines.batch import Job, expand_trials, find_sessions, run_batch

N_SESSIONS = 6
BAD = "s3_bad"


def fake_runner(session_path: str, config: str | None = None, trial: str | None = None) -> dict:
    """A light stand-in for run_session (top-level, so process pools and Dask can pickle it).

    Writes a report like the pipeline does and returns metrics derived from the session
    name, so every row can be checked exactly; fails on purpose for the session named BAD.
    """
    path = Path(session_path)
    if path.name == BAD:
        raise InputError(f"session {path}: camera cam2 has no calibration; add it to calibration/")
    k = int(path.name[1])
    trial = trial or "walk"
    report = path / "mv3d" / "report" / f"{trial}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"<html>{path.name}</html>")
    time.sleep(0.2)  # long enough that the pool hands jobs to both workers
    metrics = {"session": str(path), "trial": trial, "status": "ok", "report": str(report),
               "median_reproj_px": 1.5 * k, "n_frames": 100 + k, "pid": os.getpid()}
    if k == 5:
        metrics["ik_rms_marker_error_m"] = 0.02  # a key only one session has: the CSV holds the union
    if config is not None:
        metrics["config_name"] = Path(config).name
    return metrics


def _make_sessions(root: Path) -> list[Path]:
    """Six minimal session folders (mv3d_session.yaml) and one folder that is no session."""
    paths = []
    for k in range(N_SESSIONS):
        name = BAD if k == 3 else f"s{k}"
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "mv3d_session.yaml").write_text(
            "trials:\n  walk:\n    videos: {cam1: cam1.mp4, cam2: cam2.mp4}\n"
            "  run:\n    videos: {cam1: run1.mp4}\n  static:\n    static: true\n    videos: {cam1: st.mp4}\n")
        paths.append(folder)
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a session")
    return paths


def _check_outputs(out: Path, rows: list[dict], sessions: list[Path]) -> None:
    assert [Path(r["session"]) for r in rows] == sessions  # rows keep the job order
    by_name = {Path(r["session"]).name: r for r in rows}
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and Path(failed[0]["session"]).name == BAD
    assert failed[0]["error"].startswith("InputError: session ") and "cam2 has no calibration" in failed[0]["error"]
    assert sum(r["status"] == "ok" for r in rows) == N_SESSIONS - 1
    for name, row in by_name.items():
        if name != BAD:
            k = int(name[1])
            assert row["median_reproj_px"] == 1.5 * k and row["n_frames"] == 100 + k
            assert row["pid"] != os.getpid()  # ran in a worker process, not here

    with open(out / "summary.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == N_SESSIONS
    header = list(table[0])
    assert header[:5] == ["session", "trial", "status", "error", "seconds"]
    assert {"median_reproj_px", "n_frames", "report", "ik_rms_marker_error_m"} <= set(header)
    csv_rows = {Path(r["session"]).name: r for r in table}
    assert csv_rows[BAD]["status"] == "failed" and "cam2 has no calibration" in csv_rows[BAD]["error"]
    assert float(csv_rows["s4"]["median_reproj_px"]) == 6.0
    assert csv_rows["s5"]["ik_rms_marker_error_m"] == "0.02" and csv_rows["s4"]["ik_rms_marker_error_m"] == ""
    assert all(float(r["seconds"]) >= 0.2 for n, r in csv_rows.items() if n != BAD)

    page = (out / "index.html").read_text()
    hrefs = re.findall(r'href="([^"]+\.html)"', page)
    assert len(hrefs) == N_SESSIONS - 1
    for href in hrefs:  # the links are relative to index.html and lead to the reports
        assert (out / href).resolve().is_file()
    assert "cam2 has no calibration" in page and "5 ok, 1 failed" in page
    logs = list((out / "logs").glob("*.txt"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text()


def test_find_sessions_folder_and_list(tmp_path: Path) -> None:
    sessions = _make_sessions(tmp_path / "root")
    assert find_sessions(tmp_path / "root") == sessions  # "notes" is skipped: not a session

    listing = tmp_path / "list.txt"
    listing.write_text(f"# my sessions\n{sessions[0]}\n\nroot/s1\n")
    assert find_sessions(listing) == [sessions[0], tmp_path / "root" / "s1"]

    listing.write_text("root/s0\nroot/typo\n")
    with pytest.raises(InputError, match=r"list.txt line 2: session .*typo does not exist"):
        find_sessions(listing)
    with pytest.raises(InputError, match="no sub-folder is a session"):
        find_sessions(tmp_path / "root" / "notes")


def test_expand_trials(tmp_path: Path) -> None:
    sessions = _make_sessions(tmp_path)[:2]
    assert expand_trials(sessions) == [Job(str(sessions[0])), Job(str(sessions[1]))]
    # Every dynamic trial, never the static one.
    assert expand_trials(sessions, all_trials=True) == [
        Job(str(s), t) for s in sessions for t in ("walk", "run")]


def test_local_pool_two_workers(tmp_path: Path) -> None:
    sessions = _make_sessions(tmp_path / "root")
    out = tmp_path / "out"
    result = run_batch(sessions, out, runner=fake_runner, workers=2)
    _check_outputs(out, result.rows, sessions)
    assert result.n_failed == 1


@pytest.mark.slow
def test_dask_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    sessions = _make_sessions(tmp_path / "root")
    out = tmp_path / "out"
    cluster = client = None
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        # A user's client stays connected while mv3d submits through its own client.
        client = distributed.Client(cluster)
        result = run_batch(sessions, out, runner=fake_runner, scheduler=cluster.scheduler_address)
        _check_outputs(out, result.rows, sessions)
        worker_pids = set(client.run(os.getpid).values())
        assert {r["pid"] for r in result.rows if r["status"] == "ok"} <= worker_pids
        assert client.status == "running"  # mv3d closed only its own client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def test_dask_unreachable_scheduler(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match=r"cannot connect to the Dask scheduler at tcp://127.0.0.1:9"):
        run_batch([tmp_path], tmp_path / "out", runner=fake_runner, scheduler="tcp://127.0.0.1:9",
                  connect_timeout=1.0)


def test_cli_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import batch as batch_module
    from pipelines.cli import cli

    sessions = _make_sessions(tmp_path / "root")
    monkeypatch.setattr(batch_module, "_default_runner", lambda: fake_runner)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("{}\n")
    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "root"), "--out", str(tmp_path / "out"),
                                   "--config", str(cfg), "--all-trials"])
    assert res.exit_code == 1, res.output  # one session failed
    assert "10 ok, 2 failed, 1 skipped" in res.output  # 6 sessions x 2 dynamic trials; both of BAD's fail
    assert "skipped: " in res.output and "notes: not a session" in res.output
    with open(tmp_path / "out" / "summary.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    skipped = [r for r in table if r["status"] == "skipped"]  # every folder looked at is listed
    assert len(skipped) == 1 and Path(skipped[0]["session"]).name == "notes"
    assert "not a session" in skipped[0]["error"]
    table = [r for r in table if r["status"] != "skipped"]
    assert len(table) == 12 and {r["trial"] for r in table} == {"walk", "run"}
    assert {r["config_name"] for r in table if r["status"] == "ok"} == {"cfg.yaml"}
    assert (Path(sessions[0]) / "mv3d" / "report" / "run.html").is_file()

    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "root"), "--out", str(tmp_path / "o2"),
                                   "--trial", "walk", "--all-trials"])
    assert res.exit_code != 0 and "exclude each other" in res.output
