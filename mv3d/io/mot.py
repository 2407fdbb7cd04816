"""OpenSim motion/storage files (.mot, .sto): a ``key=value`` header closed by ``endheader``,
then a tab-separated row of column labels starting with ``time``, then one row per frame."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write


@dataclass
class MotData:
    """Columns of a .mot/.sto file. ``values`` (F, N) are exactly as in the file (degrees when
    ``in_degrees``); ``columns`` excludes ``time``."""

    times: np.ndarray
    values: np.ndarray
    columns: list[str]
    in_degrees: bool = True
    name: str = ""
    header: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        """The (F,) values of one column; InputError naming the known columns if absent."""
        if name not in self.columns:
            raise InputError(f"column {name!r} not in the motion {self.name!r}; columns: {', '.join(self.columns)}")
        return self.values[:, self.columns.index(name)]


def read_mot(path: str | os.PathLike) -> MotData:
    """Read an OpenSim .mot or .sto file (``inDegrees`` defaults to no when absent, as in OpenSim)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the motion file ({exc.strerror})") from exc
    try:
        end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
    except StopIteration:
        raise InputError(f"{path}: no 'endheader' line; not an OpenSim .mot/.sto file") from None
    header: dict[str, str] = {}
    name = ""
    for i, line in enumerate(lines[:end]):
        if "=" in line:
            key, _, value = line.partition("=")
            header[key.strip()] = value.strip()
        elif i == 0:
            name = line.strip()
    if end + 1 >= len(lines):
        raise InputError(f"{path}: no column label row after 'endheader'")
    labels = [c.strip() for c in lines[end + 1].split("\t") if c.strip()]
    if len(labels) <= 1:
        labels = lines[end + 1].split()
    if not labels or labels[0].lower() != "time":
        raise InputError(f"{path}: the column labels after 'endheader' must start with 'time', "
                         f"found {lines[end + 1][:40]!r}")
    rows = []
    for lineno, line in enumerate(lines[end + 2:], start=end + 3):
        if not line.strip():
            continue
        tokens = line.split()
        if len(tokens) != len(labels):
            raise InputError(f"{path}: line {lineno} has {len(tokens)} values, expected {len(labels)} "
                             f"(one per column label)")
        try:
            rows.append([float(t) for t in tokens])
        except ValueError as exc:
            raise InputError(f"{path}: line {lineno} holds a value that is not a number ({exc})") from exc
    data = np.asarray(rows, dtype=float).reshape(len(rows), len(labels))
    in_degrees = header.get("inDegrees", "no").lower() == "yes"
    return MotData(times=data[:, 0], values=data[:, 1:], columns=labels[1:], in_degrees=in_degrees,
                   name=name or path.stem, header=header)


def write_mot(path: str | os.PathLike, times: np.ndarray, values: np.ndarray, columns: list[str] | tuple[str, ...],
              in_degrees: bool = True, name: str | None = None, decimals: int = 8) -> Path:
    """Write an OpenSim .mot/.sto file atomically.

    times: (F,) seconds; values: (F, N) written as given (degrees if ``in_degrees``);
    columns: N labels (without ``time``). ``decimals`` digits after the point (OpenSim writes 8).
    """
    path = Path(path)
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    columns = [str(c) for c in columns]
    if values.ndim != 2 or values.shape != (times.shape[0], len(columns)):
        raise InputError(f"{path}: values must have shape (frames={times.shape[0]}, columns={len(columns)}), "
                         f"got {values.shape}")
    if any(("\t" in c or " " in c or not c) for c in columns):
        raise InputError(f"{path}: column labels must be non-empty without spaces or tabs: {columns}")
    lines = [
        name or path.stem,
        "version=1",
        f"nRows={times.shape[0]}",
        f"nColumns={len(columns) + 1}",
        f"inDegrees={'yes' if in_degrees else 'no'}",
        "endheader",
        "\t".join(["time", *columns]),
    ]
    table = np.column_stack([times, values])
    fmt = f"%.{decimals}f"
    with atomic_write(path, "w", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        for row in table:
            fh.write("\t".join(fmt % v for v in row) + "\n")
    return path
