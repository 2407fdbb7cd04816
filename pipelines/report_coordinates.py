"""Report section: the coordinates that the IK markers do not determine.

Reads ``<trial>_coordinate_status.csv`` beside the trial's .mot (``mv3d.kinematics.observability``)
and, when the trial was compared with mocap or simulation truth, its comparison CSV; lists each
coordinate that is not determined with its sensitivity, the share of its value that the neutral
prior carries and its RMSE marked as not an accuracy.
"""
from __future__ import annotations

from html import escape

import numpy as np

from mv3d.kinematics.observability import SENSITIVITY_LIMIT, UNDETERMINED_ABOVE, read_status_csv, status_path
from pipelines.context import Context
from pipelines.report import Report, read_csv_rows, table_html

HEADING = "Coordinates the markers do not determine"


def coordinate_status(ctx: Context, rep: Report) -> None:
    """Add the section (nothing when the trial has no status file); warn about undetermined coordinates."""
    path = status_path(ctx.session.kinematics_mot(ctx.trial.name))
    if not path.is_file():
        return
    status = read_status_csv(path)
    weak = [s for s in status.values() if s.status != "determined"]
    if not weak:
        rep.add(HEADING, "<p class='note'>The markers determine every coordinate in at least 95 % of the frames "
                         f"(sensitivity at most {UNDETERMINED_ABOVE:g} deg per mm of marker noise).</p>")
        return
    rmse = {}
    comparison = ctx.session.comparison_csv(ctx.trial.name)
    if comparison.is_file():
        rmse = {r["coordinate"]: float(r["rmse"]) for r in read_csv_rows(comparison)}
    rows = [[s.coordinate, s.status, 100 * s.determined_fraction, s.sensitivity_median, 100 * s.prior_share,
             s.neutral, rmse.get(s.coordinate, np.nan)] for s in weak]
    header = ["coordinate", "status", "frames determined (%)", "sensitivity (deg/mm)", "value from prior (%)",
              "neutral", "RMSE vs reference (not an accuracy)"]
    undetermined = [s.coordinate for s in weak if s.status == "undetermined"]
    if undetermined:
        rep.warn(f"{len(undetermined)} coordinates are not determined by the markers ({', '.join(undetermined[:8])}"
                 f"{', ...' if len(undetermined) > 8 else ''}): their values are held toward neutral; do not read "
                 f"them as measured")
    body = (f"<p>A coordinate's sensitivity is how far it moves (deg RMS) when every marker moves by 1 mm RMS of "
            f"independent noise. IK holds a rotation whose sensitivity exceeds {SENSITIVITY_LIMIT:g} deg/mm toward "
            f"its neutral value with the smallest prior that brings it to that limit, so that sub-millimetre "
            f"changes of the markers cannot move it by degrees; above {UNDETERMINED_ABOVE:g} deg/mm the prior "
            f"carries more than half of its value and the coordinate is not determined in that frame. "
            f"Their RMSE against the reference measures the neutral value, not the video.</p>"
            + table_html(header, rows, "{:.1f}")
            + f"<p class='note'>From {escape(path.name)}.</p>")
    rep.add(HEADING, body)
