"""``mv3d eval budget``: the error each stage adds on a simulated session, against its truth."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli_groups import subgroup

#: Tables printed besides the summary (the others are in the CSV/JSON files).
PRINTED = ("sync", "3d_final", "markers", "angles")


def register(cli: click.Group) -> None:
    evaluate = subgroup(cli, "eval", "Evaluate results against ground truth.")

    @evaluate.command("budget")
    @click.argument("session", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--trial", default=None, help="Trial name (default: the session's only trial).")
    @click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  default=None, help="The pipeline config the session was run with (triangulation settings).")
    @click.option("--no-floors", is_flag=True,
                  help="Skip the reference passes (augmenter and IK on the true keypoints and markers).")
    @click.option("--all-tables", is_flag=True, help="Print every table (2D per joint, 3D per joint, ...).")
    def budget_cmd(session: Path, trial: str | None, config_file: Path | None, no_floors: bool,
                   all_tables: bool) -> None:
        """Error budget of SESSION (made by `mv3d simulate`, processed by `mv3d run`): 2D px per joint, sync,
        3D keypoints before/after limb constraints and filtering, augmented markers, IK residuals and joint
        angles (RMSE, bias, ROM error), each against the simulation's truth.

        Writes mv3d/<trial>_budget.json and mv3d/<trial>_budget_<table>.csv in the session."""
        from pipelines.budget import session_budget

        budget, paths = session_budget(session, trial, config_file, floors=not no_floors)
        click.echo(budget.format(None if all_tables else PRINTED))
        click.echo(f"\nBudget: {paths['json']}")
