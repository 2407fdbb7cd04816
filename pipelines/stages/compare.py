"""Stage ``compare``: joint angles against the trial's mocap (or the simulation's truth): aligned
metrics CSV and figures."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from mv3d.kinematics.compare import compare_mot, write_comparison
from mv3d.kinematics.plots import plot_comparison
from pipelines.context import Context
from pipelines.stage import Stage

log = logging.getLogger(__name__)


def run_compare(ctx: Context) -> None:
    reference = ctx.mocap_reference()
    if reference is None:
        log.info("trial %s has no mocap: comparison skipped", ctx.trial.name)
        return
    result = compare_mot(ctx.session.kinematics_mot(ctx.trial.name), reference, max_lag_s=0.5,
                         flip_sign=ctx.config.compare.flip_sign)
    out_dir = ctx.session.work_dir() / f"{ctx.trial.name}_comparison"
    paths = write_comparison(result, out_dir)
    plot_comparison(result, out_dir / "figures")
    shutil.copyfile(paths["comparison"], ctx.session.comparison_csv(ctx.trial.name))


def reference_files(ctx: Context) -> list[Path]:
    reference = ctx.mocap_reference()
    return [reference] if reference else []


STAGE = Stage("compare", run_compare, inputs=("mot",), external_inputs=reference_files, config_keys=("compare",),
              description="comparison with mocap")
