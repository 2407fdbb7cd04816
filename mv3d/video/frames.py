"""Video decoding with true timestamps: streaming batches for the 2D network, frame extraction.

Frames come out of OpenCV upright (the container's rotation metadata is applied). Each
decoded frame carries the timestamp the container gives it (``CAP_PROP_POS_MSEC``); its
*true index* is that time on the nominal frame grid, ``round(t * fps)``, so a dropped
frame leaves a gap in the indices and a duplicated frame (same timestamp as the one
before) is recognised and skipped. Irregular gaps mark a variable frame rate.
"""
from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write

log = logging.getLogger(__name__)

#: A timestamp step below this fraction of a frame interval is a duplicated frame.
DUPLICATE_FRACTION = 0.25
#: A step off the frame grid by more than this fraction of an interval marks variable frame rate.
VFR_TOLERANCE = 0.2


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: size (width, height) of the upright frames, nominal fps,
    frame count (may be an estimate), rotation (degrees, from metadata), codec (FourCC)."""

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    rotation: int
    codec: str


class FrameBatch(NamedTuple):
    """indices (B,) true frame indices, times (B,) seconds, frames (B, H, W, 3) uint8 BGR."""

    indices: np.ndarray
    times: np.ndarray
    frames: np.ndarray


@dataclass
class TimingReport:
    """Decoding summary: unique frames decoded, duplicates skipped, frames missing from the
    index grid (dropped), whether the frame rate varies, the container's frame count."""

    decoded: int = 0
    duplicates: int = 0
    dropped: int = 0
    variable_rate: bool = False
    container_count: int = 0
    warnings: list[str] = field(default_factory=list)


def _open(path: str | os.PathLike):
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the video file is empty (0 bytes); record or copy it again")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: OpenCV cannot open this file as a video (unknown format or corrupt); "
                         f"check that it plays, or re-encode it (e.g. to H.264 MP4)")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # deliver upright frames
    return cap


def probe(path: str | os.PathLike) -> VideoInfo:
    """Container properties of a video (no decoding beyond the first frame)."""
    import cv2

    cap = _open(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(f"{path}: the video holds no decodable frame (zero length or corrupt)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ")
        return VideoInfo(Path(path), frame.shape[1], frame.shape[0], float(fps) if fps > 0 else 0.0,
                         int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), int(cap.get(cv2.CAP_PROP_ORIENTATION_META)),
                         codec)
    finally:
        cap.release()


class _Indexer:
    """Online true-index assignment from timestamps: duplicates, drops and rate changes."""

    def __init__(self, fps: float, report: TimingReport) -> None:
        self.fps = fps
        self.report = report
        self.t0: float | None = None
        self.prev_t = -np.inf
        self.prev_i = -1

    def __call__(self, t: float) -> int | None:
        """True index of a frame at time t (s from the first frame), None for a duplicate."""
        if t - self.prev_t < DUPLICATE_FRACTION / self.fps:
            self.report.duplicates += 1
            return None
        steps = (t - self.prev_t) * self.fps if self.prev_i >= 0 else 1.0
        if abs(steps - round(steps)) > VFR_TOLERANCE:
            self.report.variable_rate = True
        i = max(int(np.floor(t * self.fps + 0.5)), self.prev_i + 1)
        if self.prev_i >= 0 and i > self.prev_i + 1:
            self.report.dropped += i - self.prev_i - 1
        self.prev_t, self.prev_i = t, i
        self.report.decoded += 1
        return i


def iter_frames(path: str | os.PathLike, report: TimingReport | None = None,
                destination: Callable[[], np.ndarray | None] | None = None
                ) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video: yields (true index, time s, frame (H, W, 3) uint8 BGR), duplicates skipped.

    ``report`` (optional) is filled as decoding goes; warnings are logged at the end. ``destination``
    (optional) gives the array to decode the next frame into (None: a new array); OpenCV writes into it
    when its shape and type fit the frame, else the frame comes in a new array.
    """
    import cv2

    report = report if report is not None else TimingReport()
    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        report.container_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if not fps > 0:
            raise InputError(f"{path}: the container states no frame rate; re-encode the video with one")
        index = _Indexer(fps, report)
        stamps_ok = True
        n_read = 0
        t_first = None
        while True:
            ok, frame = cap.read(destination() if destination else None)
            if not ok or frame is None:
                break
            ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if t_first is None:
                t_first = ms
            if n_read > 0 and ms <= t_first and stamps_ok:
                stamps_ok = False
                report.warnings.append(f"{path}: the container gives no timestamps; frames are timed "
                                       f"by their order at {fps:g} fps")
            t = (ms - t_first) / 1000.0 if stamps_ok else n_read / fps
            n_read += 1
            i = index(t)
            if i is not None:
                yield i, t, frame
    finally:
        cap.release()
    if report.decoded == 0:
        raise InputError(f"{path}: the video holds no decodable frame (zero length or corrupt)")
    _finish(Path(path), report, fps)


def _finish(path: Path, report: TimingReport, fps: float) -> None:
    if report.duplicates:
        report.warnings.append(f"{path}: {report.duplicates} duplicated frame(s) (repeated timestamps) skipped")
    if report.dropped:
        report.warnings.append(f"{path}: {report.dropped} frame(s) missing from the timestamps (dropped "
                               f"frames); the frame indices keep the gaps")
    if report.variable_rate:
        report.warnings.append(f"{path}: variable frame rate (timestamps off the {fps:g} fps grid); use "
                               f"the timestamps, not the frame order")
    if report.container_count and report.container_count != report.decoded + report.duplicates:
        report.warnings.append(f"{path}: the container announces {report.container_count} frames but "
                               f"{report.decoded + report.duplicates} were decoded")
    for w in report.warnings:
        log.warning(w)


def iter_batches(path: str | os.PathLike, batch_size: int = 16, every: int = 1,
                 report: TimingReport | None = None) -> Iterator[FrameBatch]:
    """Stream a video as FrameBatch of up to ``batch_size`` frames (every ``every``-th true index).

    Frames are decoded straight into each batch's array (no copy); every batch has an array of its own.
    """
    if batch_size < 1 or every < 1:
        raise InputError(f"batch_size and every must be >= 1, got {batch_size} and {every}")
    idx: list[int] = []
    ts: list[float] = []
    batch: np.ndarray | None = None  # (batch_size, H, W, 3), allocated once the frame size is known

    def next_slot() -> np.ndarray | None:
        return None if batch is None else batch[len(idx)]

    for i, t, frame in iter_frames(path, report, next_slot):
        if i % every:
            continue
        if batch is None:
            batch = np.empty((batch_size, *frame.shape), frame.dtype)
        slot = batch[len(idx)]
        if not np.shares_memory(frame, slot):  # the first frame, or a frame of another size
            if frame.shape != slot.shape:
                raise InputError(f"{path}: frame {i} is {frame.shape[1]}x{frame.shape[0]} pixels, the frames "
                                 f"before it {slot.shape[1]}x{slot.shape[0]}; re-encode the video at one size")
            slot[...] = frame
        idx.append(i)
        ts.append(t)
        if len(idx) == batch_size:
            yield FrameBatch(np.array(idx), np.array(ts), batch)
            idx, ts, batch = [], [], np.empty_like(batch)
    if idx:
        yield FrameBatch(np.array(idx), np.array(ts), batch[:len(idx)])


def frame_file_name(index: int, time: float, ext: str = "png") -> str:
    """``frame_000123_t2.050000.png``: true frame index and timestamp (s)."""
    return f"frame_{index:06d}_t{time:.6f}.{ext}"


@dataclass
class Extraction:
    """Result of ``extract_frames``: files written (in order), their indices and times, the
    timing report and the CSV index path."""

    files: list[Path]
    indices: np.ndarray
    times: np.ndarray
    report: TimingReport
    index_csv: Path


def extract_frames(path: str | os.PathLike, out_dir: str | os.PathLike, every: int = 1,
                   times: Sequence[float] | None = None, ext: str = "png") -> Extraction:
    """Write decoded frames as images named by true index and time, plus ``frames.csv``.

    every: keep true indices divisible by N; times: instead, the frame nearest to each of
    these times (s) (within half a frame). Duplicated frames are never written.
    """
    import cv2

    if ext not in ("png", "jpg"):
        raise InputError(f"image format must be png or jpg, got {ext!r}")
    if every < 1:
        raise InputError(f"--every must be >= 1, got {every}")
    info = probe(path)
    wanted = None
    if times is not None:
        wanted = np.asarray(sorted(float(t) for t in times))
        duration = info.frame_count / info.fps if info.fps > 0 and info.frame_count > 0 else np.inf
        bad = wanted[(wanted < 0) | (wanted > duration)]
        if bad.size:
            raise InputError(f"{path}: requested time(s) {', '.join(f'{t:g}' for t in bad)} s lie outside the "
                             f"video (0 to {duration:.3f} s)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1] if ext == "png" else [cv2.IMWRITE_JPEG_QUALITY, 95]
    report = TimingReport()
    files, indices, stamps = [], [], []
    half = 0.5 / info.fps if info.fps > 0 else 0.0
    for i, t, frame in iter_frames(path, report):
        if wanted is not None:
            if not np.any(np.abs(wanted - t) <= half + 1e-9):
                continue
        elif i % every:
            continue
        ok, buf = cv2.imencode(f".{ext}", frame, params)
        if not ok:
            raise InputError(f"{path}: could not encode frame {i} as {ext}")
        target = out_dir / frame_file_name(i, t, ext)
        with atomic_write(target, "wb") as fh:
            fh.write(buf.tobytes())
        files.append(target)
        indices.append(i)
        stamps.append(t)
    if wanted is not None:
        missed = [t for t in wanted if not np.any(np.abs(np.asarray(stamps) - t) <= half + 1e-9)]
        if missed:
            report.warnings.append(f"{path}: no frame within half a frame of {', '.join(f'{t:g}' for t in missed)} s")
            log.warning(report.warnings[-1])
    csv_path = out_dir / "frames.csv"
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["frame", "time_s", "file"])
    writer.writerows([i, f"{t:.6f}", f.name] for i, t, f in zip(indices, stamps, files))
    with atomic_write(csv_path, "w") as fh:
        fh.write(text.getvalue())
    return Extraction(files, np.array(indices, dtype=int), np.array(stamps), report, csv_path)


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, TimingReport]:
    """Decode a whole (short) video into memory: indices (N,), times (N,), frames (N, H, W, 3) uint8."""
    report = TimingReport()
    idx, ts, imgs = [], [], []
    for i, t, frame in iter_frames(path, report):
        idx.append(i)
        ts.append(t)
        imgs.append(frame)
    return np.array(idx), np.array(ts), np.stack(imgs), report
