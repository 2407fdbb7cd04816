"""Video decoding and frame extraction: real Pose2Sim demo video, synthetic videos with known
content and timing, bad files."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.video.frames import (TimingReport, _Indexer, extract_frames, frame_file_name, iter_batches, iter_frames,
                               probe, read_video)


def _write_video(path, n=12, size=(160, 120), fps=30.0):
    """A small MJPG video whose frame k shows a bright square at x = 8 k (known content)."""
    import cv2

    w, h = size
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for k in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        img[40:70, 8 * k:8 * k + 20] = 230
        wr.write(img)
    wr.release()
    return path


def test_real_video_batches_have_true_times(shared_data):
    video = shared_data / "pose2sim-demo" / "videos" / "cam01.mp4"
    info = probe(video)
    assert (info.width, info.height, info.fps, info.frame_count) == (1080, 1920, 60.0, 100)  # portrait, upright
    report = TimingReport()
    batches = list(iter_batches(video, batch_size=32, report=report))
    assert [len(b.indices) for b in batches] == [32, 32, 32, 4]
    idx = np.concatenate([b.indices for b in batches])
    t = np.concatenate([b.times for b in batches])
    assert batches[0].frames.shape == (32, 1920, 1080, 3) and batches[0].frames.dtype == np.uint8
    np.testing.assert_array_equal(idx, np.arange(100))
    np.testing.assert_allclose(t, idx / 60.0, atol=1e-6)  # constant 60 fps, no gaps
    assert (report.decoded, report.duplicates, report.dropped, report.variable_rate) == (100, 0, 0, False)
    assert not report.warnings


def test_batches_hold_the_decoded_frames_in_arrays_of_their_own(tmp_path):
    video = _write_video(tmp_path / "v.avi", n=11)
    frames = [f.copy() for _, _, f in iter_frames(video)]
    batches = list(iter_batches(video, batch_size=4))  # decoded straight into each batch's array
    assert [len(b.frames) for b in batches] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate([b.frames for b in batches]), np.stack(frames))
    assert not any(np.shares_memory(a.frames, b.frames) for i, a in enumerate(batches) for b in batches[i + 1:])
    every = list(iter_batches(video, batch_size=4, every=3))  # skipped frames leave no trace
    np.testing.assert_array_equal(np.concatenate([b.frames for b in every]), np.stack(frames[::3]))


def test_extract_writes_named_images_and_index(tmp_path):
    import cv2

    video = _write_video(tmp_path / "v.avi")
    res = extract_frames(video, tmp_path / "out", every=1)
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == [frame_file_name(k, k / 30.0) for k in range(12)]
    assert names[3] == "frame_000003_t0.100000.png"
    assert len(res.files) == res.report.decoded == 12  # count written = count decoded
    rows = list(csv.DictReader(open(res.index_csv)))
    assert [int(r["frame"]) for r in rows] == list(range(12))
    np.testing.assert_allclose([float(r["time_s"]) for r in rows], np.arange(12) / 30.0, atol=1e-6)
    img = cv2.imread(str(tmp_path / "out" / names[5]))
    cols = np.flatnonzero(img[55, :, 0] > 150)  # the square of frame 5 starts at x = 40
    assert abs(cols[0] - 40) <= 1 and abs(cols[-1] - 59) <= 1


def test_extract_every_and_times(tmp_path, shared_data):
    video = _write_video(tmp_path / "v.avi")
    res = extract_frames(video, tmp_path / "every", every=4)
    assert list(res.indices) == [0, 4, 8]
    res = extract_frames(video, tmp_path / "times", times=[0.1, 0.21])  # nearest frames: 3 and 6 (0.2 s)
    assert list(res.indices) == [3, 6]
    with pytest.raises(InputError, match=r"v.avi: requested time\(s\) 5 s lie outside the video"):
        extract_frames(video, tmp_path / "bad", times=[5.0])


def test_timestamps_duplicates_drops_and_variable_rate():
    # The index logic on container timestamps (s): a repeated stamp, a 2-frame gap, an off-grid step.
    fps = 60.0
    stamps = np.array([0, 1, 2, 2, 3, 5, 6], float) / fps  # duplicate of 2, frame 4 dropped
    rep = TimingReport()
    index = _Indexer(fps, rep)
    got = [index(t) for t in stamps]
    assert got == [0, 1, 2, None, 3, 5, 6]
    assert (rep.decoded, rep.duplicates, rep.dropped, rep.variable_rate) == (6, 1, 1, False)
    rep = TimingReport()
    index = _Indexer(fps, rep)
    got = [index(t) for t in np.array([0, 1, 2.5, 3.5, 5], float) / fps]
    assert rep.variable_rate and got == [0, 1, 3, 4, 5]  # nearest grid index (halves up), increasing


def test_container_count_mismatch_is_reported(tmp_path, caplog):
    # Truncate an AVI: the header still announces 12 frames, fewer decode.
    video = _write_video(tmp_path / "v.avi")
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    idx, t, frames, rep = read_video(cut)
    assert 0 < rep.decoded < 12
    assert any("announces 12 frames" in w for w in rep.warnings)


@pytest.mark.parametrize("content, message", [
    (None, "no such video file"),
    (b"", "the video file is empty"),
    (b"this is not a video" * 100, "cannot open this file as a video|no decodable frame"),
])
def test_bad_videos_are_named(tmp_path, content, message):
    path = tmp_path / "broken.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        list(iter_batches(path))
    assert "broken.mp4" in str(err.value)


def test_cli_frames_extract(tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import cli

    video = _write_video(tmp_path / "v.avi")
    out = tmp_path / "frames"
    result = CliRunner().invoke(cli, ["frames", "extract", str(video), "--out", str(out), "--every", "5"])
    assert result.exit_code == 0, result.output
    assert "decoded 12 frames" in result.output and "wrote 3 images" in result.output
    assert sorted(p.name for p in out.glob("*.png"))[1] == "frame_000005_t0.166667.png"


def test_rotation_metadata_gives_upright_frames(tmp_path):
    # Phones store portrait video as landscape frames plus a display rotation in the track
    # header. Write a landscape mp4, set its tkhd display matrix to a 90 degree rotation, and
    # expect portrait frames with the content turned clockwise.
    import struct

    import cv2

    path = tmp_path / "landscape.mp4"
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (160, 120))
    for _ in range(4):
        img = np.full((120, 160, 3), 40, np.uint8)
        img[0:20, 0:40] = 230  # bright block in the top-left corner
        wr.write(img)
    wr.release()
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0 and data[at + 4] == 0  # version-0 track header: the matrix lies 44 bytes on
    data[at + 44:at + 80] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    rotated = tmp_path / "rotated.mp4"
    rotated.write_bytes(bytes(data))
    info = probe(rotated)
    assert (info.rotation, info.width, info.height) == (90, 120, 160)
    _, _, frames, _ = read_video(rotated)
    bright = np.argwhere(frames[0, ..., 0] > 150)
    # Turned clockwise, the 40x20 top-left block becomes 20x40 in the top-right corner.
    assert tuple(bright.min(0)) == (0, 100) and tuple(bright.max(0)) == (39, 119)
