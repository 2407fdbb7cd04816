"""TRC marker files, laid out as OpenSim's ``TRCFileAdapter`` reads and writes them.

Layout (tab separated)::

    PathFileType  4  (X/Y/Z)  <file name>
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    <values of the line above>
    Frame#  Time  <marker 1>  ''  ''  <marker 2>  ''  ''  ...
    ''  ''  X1  Y1  Z1  X2  Y2  Z2 ...
    <blank line>
    <frame>  <time>  x1  y1  z1  x2 ...

A missing marker is written as ``NaN`` in its three fields. OpenSim 4.6 reads ``NaN``
anywhere in a row, while empty fields at the end of a row make it reject the file
("Unexpected number of columns"); the reader here accepts both.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write

#: Metres per unit of the TRC ``Units`` field.
UNIT_SCALE: dict[str, float] = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
_HEADER_KEYS = ("DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units",
                "OrigDataRate", "OrigDataStartFrame", "OrigNumFrames")


@dataclass
class TrcData:
    """Markers of a TRC file. ``points`` (F, M, 3) are in metres whatever the file's unit."""

    points: np.ndarray
    marker_names: list[str]
    times: np.ndarray
    frame_numbers: np.ndarray
    rate: float
    units: str = "m"
    header: dict[str, str] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return self.points.shape[0]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_trc(path: str | os.PathLike) -> TrcData:
    """Read a TRC file; coordinates are converted to metres (``units`` keeps the file's unit)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the TRC file ({exc.strerror})") from exc
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise InputError(f"{path}: not a TRC file (the first line must start with 'PathFileType' and "
                         f"the header needs 5 lines)")
    keys = [k.strip() for k in lines[1].split("\t") if k.strip()]
    values = lines[2].split()
    if len(values) != len(keys) or any(k not in keys for k in ("DataRate", "NumMarkers", "Units")):
        raise InputError(f"{path}: line 2-3 must hold the TRC header keys ({', '.join(_HEADER_KEYS)}) "
                         f"and one value for each; found keys {keys} and {len(values)} values")
    header = dict(zip(keys, values))
    units = header["Units"]
    if units not in UNIT_SCALE:
        raise InputError(f"{path}: unknown Units {units!r} in the header; use one of {', '.join(UNIT_SCALE)}")
    try:
        rate = float(header["DataRate"])
        n_markers = int(header["NumMarkers"])
    except ValueError as exc:
        raise InputError(f"{path}: header line 3 has a non-numeric DataRate or NumMarkers ({exc})") from exc

    names_row = lines[3].split("\t")
    if names_row[:2] != ["Frame#", "Time"]:
        raise InputError(f"{path}: line 4 must start with 'Frame#<tab>Time', found {lines[3][:40]!r}")
    names = [n.strip() for n in names_row[2:] if n.strip()]
    if len(names) != n_markers:
        raise InputError(f"{path}: the header says NumMarkers={n_markers} but line 4 names {len(names)} "
                         f"markers; fix the header or the marker name row")

    n_cols = 2 + 3 * n_markers
    body = [(lineno, line.rstrip("\r\n")) for lineno, line in enumerate(lines[5:], start=6) if line.strip()]
    if not body:
        raise InputError(f"{path}: the TRC file has a header but no data rows")
    counts = np.array([line.count("\t") + 1 for _, line in body])
    # Many writers end each row with a tab. When most rows do, that last empty field is the
    # row end, so a row with one value too few is reported instead of read as a missing Z.
    trailing_tab = np.bincount(counts).argmax() == n_cols + 1
    rows: list[str] = []
    for (lineno, line), n in zip(body, counts):
        if trailing_tab and line.endswith("\t"):
            line, n = line[:-1], n - 1
        extra = n - n_cols
        if extra > 0 and line.endswith("\t" * extra):  # empty trailing fields
            line, n = line[:-extra], n_cols
        if n != n_cols:
            raise InputError(f"{path}: line {lineno} has {n} columns, expected {n_cols} "
                             f"(Frame#, Time and X/Y/Z of {n_markers} markers); a column is missing or extra")
        rows.append(line)
    import pandas as pd  # imported here: only the TRC reader needs it

    try:
        # pandas' C parser; empty fields (missing markers) and "NaN" become NaN.
        data = pd.read_csv(io.StringIO("\n".join(rows)), sep="\t", header=None, dtype=float,
                           skip_blank_lines=False).to_numpy()
    except ValueError:
        for (lineno, _), line in zip(body, rows):
            bad = [t for t in line.split("\t") if t.strip() and not _is_number(t)]
            if bad:
                raise InputError(f"{path}: line {lineno} holds {bad[0]!r}, which is not a number") from None
        raise
    if not np.isfinite(data[:, :2]).all():
        lineno = body[int(np.flatnonzero(~np.isfinite(data[:, :2]).all(axis=1))[0])][0]
        raise InputError(f"{path}: line {lineno} has no Frame# or Time value")
    points = data[:, 2:].reshape(len(body), n_markers, 3) * UNIT_SCALE[units]
    return TrcData(points=points, marker_names=names, times=data[:, 1],
                   frame_numbers=data[:, 0].astype(np.int64), rate=rate, units=units, header=header)


def _number(value: float) -> str:
    """A header number without spurious digits: 60 -> '60', 59.94 -> '59.94'."""
    return f"{value:.10g}"


def write_trc(path: str | os.PathLike, points: np.ndarray, marker_names: list[str] | tuple[str, ...],
              times: np.ndarray, units: str = "m", rate: float | None = None,
              frame_numbers: np.ndarray | None = None, decimals: int | None = None) -> Path:
    """Write markers to a TRC file atomically.

    points: (F, M, 3) in metres (NaN = missing); times: (F,) seconds.
    units: the file's unit, "m" or "mm" (or "cm"); coordinates are converted on writing.
    rate: DataRate; by default 1 / median time step. frame_numbers: default 1..F.
    decimals: digits after the point; by default a resolution of 1 nm (9 in m, 6 in mm).
    """
    path = Path(path)
    points = np.asarray(points, dtype=float)
    times = np.asarray(times, dtype=float)
    names = [str(n) for n in marker_names]
    if points.ndim != 3 or points.shape[2] != 3:
        raise InputError(f"{path}: points must have shape (frames, markers, 3), got {points.shape}")
    n_frames, n_markers, _ = points.shape
    if len(names) != n_markers or times.shape != (n_frames,):
        raise InputError(f"{path}: {n_markers} markers and {n_frames} frames in points, but "
                         f"{len(names)} names and times of shape {times.shape}")
    if any(("\t" in n or not n.strip()) for n in names):
        raise InputError(f"{path}: marker names must be non-empty and contain no tab: {names}")
    if units not in UNIT_SCALE:
        raise InputError(f"{path}: units must be one of {', '.join(UNIT_SCALE)}, got {units!r}")
    if rate is None:
        rate = 1.0 / float(np.median(np.diff(times))) if n_frames > 1 else 1.0
    if frame_numbers is None:
        frame_numbers = np.arange(1, n_frames + 1)
    if decimals is None:
        decimals = {"m": 9, "cm": 7, "mm": 6}[units]

    values = points.reshape(n_frames, 3 * n_markers) / UNIT_SCALE[units]
    header = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "\t".join(_HEADER_KEYS),
        "\t".join([_number(rate), _number(rate), str(n_frames), str(n_markers), units,
                   _number(rate), str(int(frame_numbers[0]) if n_frames else 1), str(n_frames)]),
        "Frame#\tTime\t" + "\t".join(f"{n}\t\t" for n in names),
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, n_markers + 1)),
        "",
    ]
    row_fmt = "%d\t%.8f\t" + "\t".join([f"%.{decimals}f"] * values.shape[1]) + "\n"
    table = np.column_stack([np.asarray(frame_numbers, dtype=float), times, values])
    with atomic_write(path, "w", newline="\n") as fh:
        fh.write("\n".join(header) + "\n")
        # Python prints NaN (and inf) as "nan"/"inf"; OpenSim's spelling is "NaN".
        fh.writelines((row_fmt % tuple(row)).replace("nan", "NaN") for row in table.tolist())
    return path
