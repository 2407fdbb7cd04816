"""Error budget of a simulated session: how much error each stage adds against the simulation's truth.

Arrays in, tables out. Each function compares one stage's output with its truth:

* :func:`pixel_errors`: 2D detections (px) per joint: median, 90th percentile, gross and missing share;
* :func:`offset_errors`: camera time offsets (s) from sync against the true ones;
* :func:`point_errors`: 3D points (m) per point: RMS distance and mean (mm), missing share (keypoints or markers);
* :func:`angle_errors`: joint angles (deg) per coordinate: RMSE, bias, range-of-motion error.

A :class:`Budget` collects the tables and a one-line-per-stage summary, prints them and writes
them (CSV per table + one JSON) atomically.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mv3d.io.atomic import atomic_write
from mv3d.kinematics.compare import coordinate_metrics, nearest_turn, unwrap_degrees

#: Pelvis and trunk angles reported beside the lower limb.
PELVIS_TRUNK: tuple[str, ...] = ("pelvis_tilt", "pelvis_list", "pelvis_rotation",
                                 "lumbar_extension", "lumbar_bending", "lumbar_rotation")
#: A 2D error above this many pixels counts as gross (an outlier, a swap, the wrong person).
GROSS_PX = 20.0


@dataclass
class Table:
    """A named table: ``columns`` and ``rows`` (lists of values, first column a label)."""

    name: str
    columns: list[str]
    rows: list[list]

    def column(self, name: str) -> dict[str, float]:
        """Row label -> value of one column."""
        j = self.columns.index(name)
        return {r[0]: r[j] for r in self.rows}

    def format(self, digits: int = 1) -> str:
        """Fixed-width text of the table."""
        cells = [[c for c in self.columns]] + [[_cell(v, digits) for v in r] for r in self.rows]
        widths = [max(len(row[j]) for row in cells) for j in range(len(self.columns))]
        lines = [" ".join(v.rjust(w) if j else v.ljust(w) for j, (v, w) in enumerate(zip(row, widths)))
                 for row in cells]
        return "\n".join([lines[0], "-" * len(lines[0])] + lines[1:])


def _cell(value, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def _nan_stat(fn, x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(fn(x)) if x.size else float("nan")


def pixel_errors(detected: np.ndarray, truth: np.ndarray, joint_names: list[str] | tuple[str, ...],
                 min_confidence: float = 0.3) -> Table:
    """2D detection errors per joint.

    detected (N, J, 3) x, y, confidence; truth (N, J, 2) px (NaN where the truth is unknown).
    A detection is *used* when finite with confidence >= ``min_confidence`` (the triangulation's
    threshold); median and p90 are over used detections; ``gross_pct`` is the share of used ones
    off by more than ``GROSS_PX``; ``missing_pct`` the share of frames without a used detection.
    """
    err = np.linalg.norm(detected[..., :2] - truth, axis=-1)             # (N, J)
    known = np.isfinite(truth).all(-1)
    used = known & np.isfinite(err) & (np.nan_to_num(detected[..., 2]) >= min_confidence)
    rows = []
    for j, name in enumerate(joint_names):
        e = err[used[:, j], j]
        n = max(int(known[:, j].sum()), 1)
        rows.append([name, _nan_stat(np.median, e), _nan_stat(lambda x: np.percentile(x, 90), e),
                     100.0 * float((e > GROSS_PX).sum()) / max(e.size, 1), 100.0 * (1 - e.size / n)])
    e = err[used]
    n = max(int(known.sum()), 1)
    rows.append(["all", _nan_stat(np.median, e), _nan_stat(lambda x: np.percentile(x, 90), e),
                 100.0 * float((e > GROSS_PX).sum()) / max(e.size, 1), 100.0 * (1 - e.size / n)])
    return Table("pixels", ["joint", "median_px", "p90_px", "gross_pct", "missing_pct"], rows)


def offset_errors(estimated: dict[str, float], truth: dict[str, float], fps: float) -> Table:
    """Camera offsets (s, relative to the first camera) against the truth: error in ms and frames."""
    rows = []
    for cam, true in truth.items():
        est = estimated.get(cam, float("nan"))
        err = est - true
        rows.append([cam, 1000.0 * est, 1000.0 * true, 1000.0 * err, err * fps])
    return Table("sync", ["camera", "estimated_ms", "true_ms", "error_ms", "error_frames"], rows)


def point_errors(points: np.ndarray, truth: np.ndarray, names: list[str] | tuple[str, ...],
                 name: str = "points") -> Table:
    """Per point RMS and mean 3D distance (mm) over the frames where both are known, and the share
    of the frames with a known truth where the point is missing (%: errors hide in gaps too).

    points, truth (F, K, 3) metres in the same frame and on the same times. The last row "all"
    pools every point (its RMS is over all point-frames; its mean is the MPJPE).
    """
    d = 1000.0 * np.linalg.norm(points - truth, axis=-1)                  # (F, K) mm
    known = np.isfinite(truth).all(axis=-1)
    missing = known & ~np.isfinite(points).all(axis=-1)

    def row(n: str, dist: np.ndarray, miss: np.ndarray, of: np.ndarray) -> list:
        return [n, _nan_stat(lambda x: np.sqrt(np.mean(x ** 2)), dist), _nan_stat(np.mean, dist),
                _nan_stat(lambda x: np.percentile(x, 95), dist), 100.0 * miss.sum() / max(int(of.sum()), 1)]

    rows = [row(n, d[:, k], missing[:, k], known[:, k]) for k, n in enumerate(names)]
    rows.append(row("all", d.ravel(), missing, known))
    return Table(name, ["point", "rms_mm", "mean_mm", "p95_mm", "missing_pct"], rows)


def angle_errors(video: np.ndarray, truth: np.ndarray, names: list[str] | tuple[str, ...],
                 name: str = "angles") -> Table:
    """Per coordinate RMSE, bias (mean video - truth), ROM error (video range - true range), deg.

    video, truth (F, N) degrees on the same times (NaN frames are left out per coordinate); the
    truth is unwrapped in time and the video compared with it modulo whole turns (``nearest_turn``).
    """
    truth = unwrap_degrees(truth)
    video = nearest_turn(video, truth)
    metrics = [coordinate_metrics(video[:, k], truth[:, k]) for k in range(len(names))]
    rows = [[n, m["rmse"], m["bias"], m["rom_error"]] for n, m in zip(names, metrics)]
    return Table(name, ["coordinate", "rmse_deg", "bias_deg", "rom_error_deg"], rows)


def mean_of(table: Table, column: str, labels: tuple[str, ...] | list[str]) -> float:
    """Mean of ``column`` over the rows labelled ``labels`` (those present)."""
    values = table.column(column)
    picked = [values[k] for k in labels if k in values and np.isfinite(values[k])]
    return float(np.mean(picked)) if picked else float("nan")


@dataclass
class Budget:
    """Tables by name and the summary: one row per stage (stage, measure, value, unit)."""

    tables: dict[str, Table] = field(default_factory=dict)
    summary: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, table: Table) -> Table:
        self.tables[table.name] = table
        return table

    def stage(self, stage: str, measure: str, value: float, unit: str) -> None:
        self.summary.append([stage, measure, float(value), unit])

    def summary_table(self) -> Table:
        return Table("summary", ["stage", "measure", "value", "unit"], self.summary)

    def format(self, tables: tuple[str, ...] | None = None) -> str:
        """Text: the summary, then the named tables (all when None), then the notes."""
        parts = [self.summary_table().format(1)]
        for name, table in self.tables.items():
            if tables is None or name in tables:
                parts.append(f"[{name}]\n{table.format(1)}")
        parts += [f"note: {n}" for n in self.notes]
        return "\n\n".join(parts)

    def to_dict(self) -> dict:
        tables = {"summary": self.summary_table(), **self.tables}
        return {"tables": {n: {"columns": t.columns, "rows": [[_json_value(v) for v in r] for r in t.rows]}
                           for n, t in tables.items()}, "notes": list(self.notes)}

    def write(self, folder: str | os.PathLike, prefix: str) -> dict[str, Path]:
        """``<prefix>_budget.json`` and ``<prefix>_budget_<table>.csv`` in ``folder`` (atomic writes)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"json": folder / f"{prefix}_budget.json"}
        with atomic_write(paths["json"]) as fh:
            json.dump(self.to_dict(), fh, indent=1)
        for name, table in {"summary": self.summary_table(), **self.tables}.items():
            paths[name] = folder / f"{prefix}_budget_{name}.csv"
            with atomic_write(paths[name], newline="") as fh:
                w = csv.writer(fh)
                w.writerow(table.columns)
                w.writerows([[_csv_value(v) for v in r] for r in table.rows])
        return paths


def _json_value(v):
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v


def _csv_value(v):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return v


def read_budget(path: str | os.PathLike) -> Budget:
    """A Budget from its JSON (as :meth:`Budget.write` wrote it)."""
    data = json.loads(Path(path).read_text())
    tables = {n: Table(n, t["columns"], [[float("nan") if v is None else v for v in r] for r in t["rows"]])
              for n, t in data["tables"].items()}
    summary = tables.pop("summary")
    return Budget(tables, summary.rows, data.get("notes", []))
