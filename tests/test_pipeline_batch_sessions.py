"""`mv3d batch` on real simulated sessions: 6 sessions, one broken, on a Dask LocalCluster and a local pool."""
from __future__ import annotations

import csv
import shutil

import pytest
import yaml

from tests.conftest import simulated_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """Six 2 s simulated squats (no video rendering, to keep the test short); the last has no calibration."""
    root = tmp_path_factory.mktemp("batch")
    paths = [simulated_session(root / f"subject{seed}", seed=seed, seconds=2.0) for seed in range(6)]
    for pickle in paths[-1].glob("Videos/Cam*/cameraIntrinsicsExtrinsics.pickle"):
        pickle.unlink()  # broken on purpose: no calibration
    config = root / "batch.yaml"  # no videos: the frame rate comes from the sessions' metadata
    config.write_text(yaml.safe_dump({"visuals": {"skeleton_video": False}}))
    return paths, config


def _check(out, rows, paths):
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["failed"]
    assert "has no calibration" in rows[-1]["error"]
    with (out / "summary.csv").open() as fh:
        summary = list(csv.DictReader(fh))
    assert [r["status"] for r in summary] == ["ok"] * 5 + ["failed"]
    # every successful session was really processed: its report and joint angles exist, and the
    # comparison with the simulation truth was computed (a broken pipeline gives tens of degrees)
    for row, path in zip(summary[:5], paths[:5]):
        assert (path / "mv3d" / "report" / "squat.html").is_file()
        assert (path / "OpenSimData" / "Kinematics" / "squat.mot").is_file()
        assert float(row["lower_limb_rmse_deg"]) < 8.0
    assert (out / "index.html").is_file()


def test_batch_on_dask_local_cluster_then_local_pool(sessions, tmp_path):
    distributed = pytest.importorskip("distributed")
    from pipelines.batch import run_batch

    paths, config = sessions
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        result = run_batch(paths, tmp_path / "dask", scheduler=cluster.scheduler_address, config=config)
    finally:
        cluster.close()
    _check(tmp_path / "dask", result.rows, paths)
    # the local process pool on the same sessions (their unchanged stages are skipped)
    for p in paths[:5]:
        shutil.rmtree(p / "mv3d" / "report")
    result = run_batch(paths, tmp_path / "pool", workers=2, config=config)
    _check(tmp_path / "pool", result.rows, paths)
