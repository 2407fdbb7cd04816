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

import csv
import os
import warnings
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


#: Longest header line read (a marker-name row of 2000 markers fits easily).
_MAX_HEADER_LINE = 1 << 20
#: Widest plausible spread of one frame's markers (m): a person, a wand, a few force plates.
_MAX_FRAME_SPREAD_M = 6.0
#: Narrowest plausible spread of a frame's markers (m), when it has several markers.
_MIN_FRAME_SPREAD_M = 0.02


def _read_header(fh, path: Path) -> tuple[dict[str, str], list[str]]:
    """The header key/values (lines 2-3) and the marker names (line 4); the file is left at line 6."""
    lines = []
    for _ in range(5):
        raw = fh.readline(_MAX_HEADER_LINE)
        if len(raw) >= _MAX_HEADER_LINE:
            raise InputError(f"{path}: header line {len(lines) + 1} is over {_MAX_HEADER_LINE} bytes; not a TRC file")
        lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    if not lines[0].startswith("PathFileType"):
        raise InputError(f"{path}: not a TRC file (the first line must start with 'PathFileType' and "
                         f"the header needs 5 lines)")
    keys = [k.strip() for k in lines[1].split("\t") if k.strip()]
    values = lines[2].split()
    if len(values) != len(keys) or any(k not in keys for k in ("DataRate", "NumMarkers", "Units")):
        raise InputError(f"{path}: line 2-3 must hold the TRC header keys ({', '.join(_HEADER_KEYS)}) "
                         f"and one value for each; found {len(keys)} keys and {len(values)} values")
    header = dict(zip(keys, values))
    names_row = lines[3].split("\t")
    if names_row[:2] != ["Frame#", "Time"]:
        raise InputError(f"{path}: line 4 must start with 'Frame#<tab>Time', found {lines[3][:40]!r}")
    return header, [n.strip() for n in names_row[2:] if n.strip()]


def _row_layout(fh, path: Path, n_cols: int) -> tuple[np.ndarray, int]:
    """Line numbers of the data rows, and how many fields to read from each (``n_cols`` or
    ``n_cols + 1`` with a trailing tab); InputError at the first row with a column missing or extra."""
    linenos, counts, trailing = [], [], []
    for lineno, raw in enumerate(fh, start=6):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        linenos.append(lineno)
        counts.append(line.count(b"\t") + 1)
        trailing.append(len(line) - len(line.rstrip(b"\t")))
    if not linenos:
        raise InputError(f"{path}: the TRC file has a header but no data rows")
    linenos, counts, trailing = np.array(linenos), np.array(counts), np.array(trailing)
    # Many writers end each row with a tab. When most rows do, that last empty field is the
    # row end, so a row with one value too few is reported instead of read as a missing Z.
    if np.bincount(counts).argmax() == n_cols + 1:
        strip = np.minimum(trailing, 1)
        counts, trailing = counts - strip, trailing - strip
    extra = counts - n_cols
    counts = np.where((extra > 0) & (trailing >= extra), n_cols, counts)  # empty trailing fields
    bad = np.flatnonzero(counts != n_cols)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{path}: line {linenos[i]} has {counts[i]} columns, expected {n_cols} (Frame#, Time and "
                         f"X/Y/Z of {n_cols // 3} markers); a column is missing or extra")
    return linenos, int(np.max(extra + n_cols))


def _check_units(path: Path, points: np.ndarray, units: str) -> None:
    """InputError when the markers' spread within a frame is implausible for the header's unit
    (e.g. a header saying m over values in mm: a person 1700 m tall)."""
    if points.shape[1] < 3:
        return
    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        spread = np.nanmax(points, axis=1) - np.nanmin(points, axis=1)  # (F, 3), NaN where no marker
        size = np.nanmedian(np.linalg.norm(spread, axis=1))
    if not np.isfinite(size):
        return
    if size > _MAX_FRAME_SPREAD_M or 0 < size < _MIN_FRAME_SPREAD_M:
        guess = min(UNIT_SCALE, key=lambda u: abs(np.log(size / UNIT_SCALE[units] * UNIT_SCALE[u] / 1.0)))
        raise InputError(f"{path}: the header says Units={units}, but then one frame's markers span {size:.4g} m "
                         f"(median over frames), which no marker set does; the values look like {guess}. Fix the "
                         f"Units value in line 3 of the header")


def read_trc(path: str | os.PathLike, check_units: bool = True) -> TrcData:
    """Read a TRC file; coordinates are converted to metres (``units`` keeps the file's unit).

    check_units: refuse a file whose markers' spread within a frame is implausible for the
    header's unit (values in mm under ``Units m``). Memory: about twice the file's size.
    """
    import pandas as pd  # imported here: only the TRC reader needs it

    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the TRC file ({exc.strerror})") from exc
    with fh:
        header, names = _read_header(fh, path)
        units = header["Units"]
        if units not in UNIT_SCALE:
            raise InputError(f"{path}: unknown Units {units[:20]!r} in the header; use one of {', '.join(UNIT_SCALE)}")
        try:
            rate = float(header["DataRate"])
            n_markers = int(header["NumMarkers"])
        except ValueError:
            raise InputError(f"{path}: header line 3 has a non-numeric DataRate or NumMarkers") from None
        if not (np.isfinite(rate) and rate > 0) or n_markers < 1:
            raise InputError(f"{path}: header line 3 says DataRate={header['DataRate'][:20]} and "
                             f"NumMarkers={n_markers}; both must be positive")
        if len(names) != n_markers:
            raise InputError(f"{path}: the header says NumMarkers={n_markers} but line 4 names {len(names)} "
                             f"markers; fix the header or the marker name row")
        n_cols = 2 + 3 * n_markers
        linenos, width = _row_layout(fh, path, n_cols)
    try:
        # pandas' C parser straight from the file; empty fields (missing markers) and "NaN" become NaN.
        data = pd.read_csv(path, sep="\t", header=None, skiprows=5, names=range(width), usecols=range(n_cols),
                           dtype=float, quoting=csv.QUOTE_NONE, skip_blank_lines=True, engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError):
        raise InputError(f"{path}: line {_first_non_number(path, linenos)} holds a value that is not a "
                         f"number") from None
    if data.shape[0] != len(linenos):
        raise InputError(f"{path}: some data rows hold only spaces or tabs; remove them")
    if not np.isfinite(data[:, :2]).all():
        lineno = linenos[int(np.flatnonzero(~np.isfinite(data[:, :2]).all(axis=1))[0])]
        raise InputError(f"{path}: line {lineno} has no Frame# or Time value")
    if np.abs(data[:, 0]).max() > 2**53:
        raise InputError(f"{path}: the Frame# column holds numbers too large to be frame numbers")
    points = data[:, 2:].reshape(len(linenos), n_markers, 3)
    points *= UNIT_SCALE[units]
    if check_units:
        _check_units(path, points, units)
    return TrcData(points=points, marker_names=names, times=data[:, 1].copy(),
                   frame_numbers=data[:, 0].astype(np.int64), rate=rate, units=units, header=header)


def _first_non_number(path: Path, linenos: np.ndarray) -> int:
    """Line number of the first data row holding a token that is not a number (error path only)."""
    wanted = set(linenos.tolist())
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno in wanted:
                tokens = raw.decode("utf-8", errors="replace").rstrip("\r\n").split("\t")
                if any(t.strip() and not _is_number(t) for t in tokens):
                    return lineno
    return int(linenos[0])


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
        for chunk in range(0, len(table), 2000):  # bounded memory for long trials
            fh.writelines((row_fmt % tuple(row)).replace("nan", "NaN") for row in table[chunk:chunk + 2000].tolist())
    return path
