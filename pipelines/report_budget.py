"""Report section of a simulated session: the error each stage adds against the simulation's truth.

Shown only for sessions made by ``mv3d simulate`` (they have ``truth/``). The budget written by
``mv3d eval budget`` is reused when it is newer than the trial's outputs (it may hold the
reference passes); otherwise it is computed here without them (a few seconds) and written.
"""
from __future__ import annotations

import logging
from html import escape

import numpy as np

from mv3d.plotting import pyplot
from mv3d.kinematics.compare import LOWER_LIMB
from mv3d.simulate.budget import Budget, read_budget
from pipelines.budget import budget_json, context_budget
from pipelines.context import Context
from pipelines.report import Report, figure_to_data_uri, table_html

log = logging.getLogger(__name__)

#: Angle tables of a budget, in the order the errors build up, with their labels.
ANGLE_TABLES = (("angles_true_markers", "IK of true markers"),
                ("angles_augmented_true_keypoints", "augmented from true keypoints"),
                ("angles", "pipeline"))


def _current_budget(ctx: Context) -> Budget:
    path = budget_json(ctx.session, ctx.trial.name)
    outputs = [ctx.session.kinematics_mot(ctx.trial.name), ctx.session.store_path(ctx.trial.name)]
    newest = max((p.stat().st_mtime for p in outputs if p.is_file()), default=0.0)
    if path.is_file() and path.stat().st_mtime >= newest:
        return read_budget(path)
    budget, _ = context_budget(ctx, floors=False)
    return budget


def _angle_figure(budget: Budget):
    plt = pyplot()
    tables = [(budget.tables[n], label) for n, label in ANGLE_TABLES if n in budget.tables]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / len(tables)
    x = np.arange(len(LOWER_LIMB))
    for k, (table, label) in enumerate(tables):
        rmse = table.column("rmse_deg")
        ax.bar(x + (k - (len(tables) - 1) / 2) * width, [rmse.get(c, np.nan) for c in LOWER_LIMB], width, label=label)
    ax.set_xticks(x, [c.replace("_angle", "").replace("hip_", "hip ").replace("_", " ") for c in LOWER_LIMB],
                  rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("RMSE (deg)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def error_budget(ctx: Context, rep: Report) -> None:
    """Summary of the budget, the joint-angle table (RMSE, bias, ROM error) and a per-coordinate chart."""
    if not (ctx.session.root / "truth" / "truth2d.npz").is_file() or not ctx.has_output("points3d"):
        return
    budget = _current_budget(ctx)
    intro = ("<p class='note'>Each stage's output against the simulation's truth, on the true clock "
             "(<code>mv3d eval budget</code>; files <code>mv3d/&lt;trial&gt;_budget*.csv/json</code>). "
             "The reference passes (IK of the true markers, augmentation of the true keypoints) separate "
             "what scaling, the augmenter and the video each add.</p>")
    body = intro + table_html(["stage", "measure", "value", "unit"], budget.summary, "{:.1f}")
    if "angles" in budget.tables:
        t = budget.tables["angles"]
        body += "<h3>Joint angles against the truth (deg)</h3>" + table_html(t.columns, t.rows, "{:.1f}")
        body += f'<img alt="angle errors by stage" src="{figure_to_data_uri(_angle_figure(budget))}">'
    body += "".join(f"<p class='note'>{escape(n)}</p>" for n in budget.notes)
    rep.add("Error budget (simulation truth)", body)
