"""Media of a trial: 2D keypoints drawn on video frames (overlay images and videos) and 3D skeleton
animations (gif, mp4).

Plain functions over arrays; files are written atomically. Colours follow one rule everywhere:
left joints and bones blue, right ones red, the midline green, re-projected 3D points yellow.
Diagnostic figures (matplotlib) are in :mod:`pipelines.figures`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path
from mv3d.skeleton import JOINT_INDEX, LIMB_INDEX, MV3D23, MV3D25, add_derived
from mv3d.video.frames import iter_frames, probe

log = logging.getLogger(__name__)

#: BGR colours of left, right and midline joints, and of re-projected 3D points.
LEFT_BGR = (230, 120, 20)
RIGHT_BGR = (40, 40, 220)
MIDDLE_BGR = (40, 170, 40)
REPROJ_BGR = (0, 230, 255)

_BONES25 = np.vstack([LIMB_INDEX, [[MV3D25.index("neck"), JOINT_INDEX["nose"]],
                                   [MV3D25.index("neck"), MV3D25.index("mid_hip")]]])


def _side(name: str) -> int:
    """0 left, 1 right, 2 midline."""
    return 0 if name.startswith("l_") else 1 if name.startswith("r_") else 2


def _joint_colors(names: Sequence[str]) -> list[tuple[int, int, int]]:
    palette = (LEFT_BGR, RIGHT_BGR, MIDDLE_BGR)
    return [palette[_side(n)] for n in names]


def _bone_colors(bones: np.ndarray, names: Sequence[str]) -> list[tuple[int, int, int]]:
    """A bone is left/right when both ends are on that side, midline otherwise."""
    palette = (LEFT_BGR, RIGHT_BGR, MIDDLE_BGR)
    out = []
    for a, b in bones:
        sa, sb = _side(names[a]), _side(names[b])
        out.append(palette[sa if sa == sb else 2])
    return out


#: BGR colour of each MV3D23 joint and of each bone of LIMBS.
JOINT_BGR = _joint_colors(MV3D23)
LIMB_BGR = _bone_colors(LIMB_INDEX, MV3D23)


# ------------------------------------------------------------------------------------
# Atomic media files
# ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _media_path(out: Path) -> Iterator[Path]:
    """A temp path beside ``out`` that keeps its suffix (cv2 and Pillow pick the format from it).

    On success the file replaces ``out`` atomically; on an error nothing is left behind.
    """
    out = Path(out)
    with atomic_path(out) as tmp:
        media = tmp.with_name(tmp.stem + out.suffix)
        try:
            yield media
            if not media.is_file() or media.stat().st_size == 0:
                raise OSError(f"{out}: the writer produced no data")
            os.replace(media, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                media.unlink()


# ------------------------------------------------------------------------------------
# 2D overlays
# ------------------------------------------------------------------------------------

def _valid_xy(kp: np.ndarray, min_conf: float) -> np.ndarray:
    """(J,) bool: finite coordinates and, with a confidence column, confidence above min_conf."""
    ok = np.isfinite(kp[:, :2]).all(axis=1)
    if kp.shape[1] > 2:
        ok &= np.nan_to_num(kp[:, 2], nan=0.0) > min_conf
    return ok


def overlay_frame(image: np.ndarray, kp2d: np.ndarray, reproj: np.ndarray | None = None,
                  min_conf: float = 0.0, legend: bool = True) -> np.ndarray:
    """Draw detected keypoints, the skeleton and re-projected 3D points on a copy of ``image``.

    image: (H, W, 3) uint8 BGR; kp2d: (23, 3) detected (x, y, conf) pixels, missing NaN/conf 0;
    reproj: (23, 2) re-projected triangulated points or None. Detections are filled dots
    (left blue, right red, midline green) joined by bones; re-projections are yellow rings
    with a line to their detection, so the line length is the re-projection error.
    Returns the (H, W, 3) uint8 annotated image.
    """
    import cv2

    img = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"overlay_frame expects an (H, W, 3) BGR image, got shape {img.shape}")
    kp = np.asarray(kp2d, dtype=float)
    if kp.shape[0] != len(MV3D23) or kp.shape[1] not in (2, 3):
        raise InputError(f"overlay_frame expects (23, 3) keypoints (x, y, conf), got shape {kp.shape}")
    h, w = img.shape[:2]
    radius = max(3, round(min(h, w) / 120))
    thick = max(1, round(min(h, w) / 400))
    ok = _valid_xy(kp, min_conf)
    pts = np.zeros((len(kp), 2), dtype=np.int32)
    pts[ok] = np.round(kp[ok, :2]).astype(np.int32)

    for (a, b), color in zip(LIMB_INDEX, LIMB_BGR):
        if ok[a] and ok[b]:
            cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thick + 1, cv2.LINE_AA)
    if reproj is not None:
        rp = np.asarray(reproj, dtype=float)[:, :2]
        if rp.shape != (len(MV3D23), 2):
            raise InputError(f"overlay_frame expects (23, 2) re-projected points, got shape {rp.shape}")
        rok = np.isfinite(rp).all(axis=1) & (np.abs(rp) < 1e6).all(axis=1)
        rpts = np.zeros((len(rp), 2), dtype=np.int32)
        rpts[rok] = np.round(rp[rok]).astype(np.int32)
        for j in np.flatnonzero(rok):
            if ok[j]:
                cv2.line(img, tuple(map(int, pts[j])), tuple(map(int, rpts[j])), REPROJ_BGR, thick, cv2.LINE_AA)
            cv2.circle(img, tuple(map(int, rpts[j])), radius + 2 * thick + 1, REPROJ_BGR, thick, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(img, tuple(map(int, pts[j])), radius, JOINT_BGR[j], -1, cv2.LINE_AA)
    if legend:
        _draw_legend(img, with_reproj=reproj is not None)
    return img


def _draw_legend(img: np.ndarray, with_reproj: bool) -> None:
    """A small key in the top-left corner on a dark box."""
    import cv2

    entries = [("left", LEFT_BGR, "dot"), ("right", RIGHT_BGR, "dot"), ("midline", MIDDLE_BGR, "dot")]
    if with_reproj:
        entries.append(("3D re-projected", REPROJ_BGR, "ring"))
    scale = max(0.4, min(img.shape[:2]) / 1200)
    line_h = int(22 * scale / 0.5)
    box_w = int(190 * scale / 0.5)
    overlay = img[: line_h * len(entries) + 8, :box_w]
    overlay[:] = (overlay * 0.35).astype(np.uint8)
    for i, (text, color, kind) in enumerate(entries):
        cy = 4 + line_h * i + line_h // 2
        r = max(3, line_h // 4)
        cv2.circle(img, (4 + r + 2, cy), r, color, -1 if kind == "dot" else 2, cv2.LINE_AA)
        cv2.putText(img, text, (4 + 3 * r + 6, cy + r), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    1, cv2.LINE_AA)


def write_overlay_video(video: str | os.PathLike | Iterable[np.ndarray], kp2d: np.ndarray,
                        reproj: np.ndarray | None, out_mp4: str | os.PathLike, fps: float | None = None,
                        scale: float = 1.0, min_conf: float = 0.0) -> Path:
    """Write one camera's overlay video (mp4, codec mp4v).

    video: a video file or an iterable of (H, W, 3) BGR frames; kp2d: (F, 23, 3) detections;
    reproj: (F, 23, 2) re-projected 3D points or None; fps: output rate (default: the
    video's own); scale: resize factor of the written frames (drawing is done at full
    resolution). A video file is decoded upright by ``mv3d.video.frames.iter_frames`` and
    each frame gets the keypoints of its true index (a dropped frame is skipped, not
    shifted). Writes the frames with an index below F and returns ``out_mp4``.
    """
    import cv2

    kp2d = np.asarray(kp2d, dtype=float)
    if kp2d.ndim != 3 or kp2d.shape[1] != len(MV3D23):
        raise InputError(f"write_overlay_video expects (F, 23, 3) keypoints, got shape {kp2d.shape}")
    if reproj is not None and np.shape(reproj)[:2] != kp2d.shape[:2]:
        raise InputError(f"re-projections of shape {np.shape(reproj)} do not match keypoints {kp2d.shape}")
    if isinstance(video, (str, os.PathLike)):
        fps = fps or probe(video).fps
        frames = ((i, frame) for i, _, frame in iter_frames(video))
    else:
        frames = enumerate(video)
    if not fps or fps <= 0:
        raise InputError(f"{out_mp4}: unknown frame rate; pass fps=")
    out_mp4 = Path(out_mp4)
    n = 0
    with _media_path(out_mp4) as tmp:
        writer = None
        try:
            for i, frame in tqdm(frames, total=len(kp2d), desc=f"overlay {out_mp4.name}", unit="frame",
                                 disable=None):
                if i >= len(kp2d):
                    break
                img = overlay_frame(frame, kp2d[i], None if reproj is None else reproj[i], min_conf)
                if scale != 1.0:
                    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                if writer is None:
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                             (img.shape[1], img.shape[0]))
                    if not writer.isOpened():
                        raise OSError(f"{out_mp4}: OpenCV cannot write mp4 (mp4v) video here")
                writer.write(img)
                n += 1
        finally:
            if writer is not None:
                writer.release()
        if n == 0:
            raise InputError(f"{out_mp4}: no frames to write (the video is empty or unreadable)")
    if n < len(kp2d):
        log.warning("%s: %d video frames matched the %d keypoint frames; wrote %d", out_mp4, n, len(kp2d), n)
    log.info("wrote %s (%d frames, %.3g fps)", out_mp4, n, fps)
    return out_mp4


# ------------------------------------------------------------------------------------
# 3D skeleton animation (orthographic front + side views drawn with OpenCV)
# ------------------------------------------------------------------------------------

_AXES = {"y": (0, 2, 1), "z": (0, 1, 2)}  # (first horizontal, second horizontal, up)


#: Palette (BGR) of the skeleton animation: background, divider, ground, label, stamp, sides.
_ANIM_PALETTE = np.array([(255, 255, 255), (215, 215, 215), (160, 160, 160), (110, 110, 110), (40, 40, 40),
                          LEFT_BGR, RIGHT_BGR, MIDDLE_BGR], dtype=np.uint8)


def skeleton_frames(points3d: np.ndarray, up_axis: str = "y", size: int = 320, follow: bool = True,
                    times: np.ndarray | None = None) -> np.ndarray:
    """Render a 3D skeleton as two orthographic views side by side.

    points3d: (F, 25, 3) MV3D25 (or (F, 23, 3) MV3D23, neck and mid-hip derived) metres;
    up_axis: the vertical world axis ("y" for OpenSim, "z" for most calibrations);
    size: pixels of each square view; follow: centre each frame horizontally on the pelvis
    (a walk stays in view) instead of fitting the whole path; times: (F,) s stamped on frames.
    Returns (F, size, 2 * size, 3) uint8 BGR frames.
    """
    return _ANIM_PALETTE[_skeleton_index_frames(points3d, up_axis, size, follow, times)]


def _skeleton_index_frames(points3d: np.ndarray, up_axis: str, size: int, follow: bool,
                           times: np.ndarray | None) -> np.ndarray:
    """Like :func:`skeleton_frames` but (F, size, 2 * size) indices into ``_ANIM_PALETTE``.

    Drawing palette indices on one channel is several times faster than BGR, and GIF frames
    need indices anyway.
    """
    import cv2

    pts = _as_mv3d25(points3d)
    if up_axis not in _AXES:
        raise InputError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    h1, h2, up = _AXES[up_axis]
    f = len(pts)
    finite = np.isfinite(pts).all(axis=-1)
    if not finite.any():
        raise InputError("skeleton animation: every 3D point is missing (NaN)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if follow:
            centre = np.nanmean(pts[:, [JOINT_INDEX["l_hip"], JOINT_INDEX["r_hip"]]], axis=1)
            centre = np.where(np.isfinite(centre), centre, np.nanmean(pts, axis=1))
            centre = _fill_forward(centre, np.nanmedian(pts.reshape(-1, 3), axis=0))
        else:
            lo, hi = np.nanmin(pts.reshape(-1, 3), axis=0), np.nanmax(pts.reshape(-1, 3), axis=0)
            centre = np.broadcast_to((lo + hi) / 2, (f, 3))
        rel = pts - centre[:, None, :]
        up_lo, up_hi = np.nanmin(pts[..., up]), np.nanmax(pts[..., up])
        half_h = np.nanmax(np.abs(rel[..., [h1, h2]]))
    extent = max(up_hi - up_lo, 2 * half_h, 1e-6) * 1.1
    px = (size - 1) / extent
    mid_up = (up_lo + up_hi) / 2
    # Pixel coordinates of both views for all frames at once: (F, 2 views, 25, 2).
    v = (size - 1) / 2 - (pts[..., up] - mid_up) * px
    uv = np.stack([np.stack([(size - 1) / 2 + rel[..., h1] * px, v], axis=-1),
                   np.stack([(size - 1) / 2 + size + rel[..., h2] * px, v], axis=-1)], axis=1)
    uv = np.round(np.nan_to_num(uv, nan=-1.0)).astype(np.int32).tolist()
    bone_ok = (finite[:, _BONES25[:, 0]] & finite[:, _BONES25[:, 1]]).tolist()
    finite_l = finite.tolist()

    side_index = {LEFT_BGR: 5, RIGHT_BGR: 6, MIDDLE_BGR: 7}
    joint_ci = [side_index[c] for c in _joint_colors(MV3D25)]
    bone_ci = [side_index[c] for c in _bone_colors(_BONES25, MV3D25)]
    bones = _BONES25.tolist()
    ground = int(round((size - 1) / 2 - (up_lo - mid_up) * px))
    base = np.zeros((size, 2 * size), np.uint8)
    cv2.line(base, (size, 0), (size, size), 1, 1)
    for k, label in enumerate((f"{'xyz'[h1]}-{'xyz'[up]} view", f"{'xyz'[h2]}-{'xyz'[up]} view")):
        cv2.line(base, (k * size + 4, ground), ((k + 1) * size - 4, ground), 2, 1)
        cv2.putText(base, label, (k * size + 6, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 3, 1)
    radius = max(2, size // 110)
    out = np.empty((f, size, 2 * size), np.uint8)
    for i in range(f):  # drawing is per frame by nature; the geometry above is vectorised
        img = out[i]
        img[:] = base
        for view in uv[i]:
            for (a, b), ci, ok in zip(bones, bone_ci, bone_ok[i]):
                if ok:
                    cv2.line(img, view[a], view[b], ci, 2)
            for j, (p, ci) in enumerate(zip(view, joint_ci)):
                if finite_l[i][j]:
                    cv2.circle(img, p, radius, ci, -1)
        stamp = f"frame {i}" if times is None else f"t = {times[i]:.2f} s"
        cv2.putText(img, stamp, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 4, 1)
    return out


def _fill_forward(x: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Replace NaN rows of (F, 3) by the last finite row (``default`` before the first)."""
    ok = np.isfinite(x).all(axis=1)
    idx = np.where(ok, np.arange(len(x)), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where((idx >= 0)[:, None], x[np.maximum(idx, 0)], default)


def _as_mv3d25(points3d: np.ndarray) -> np.ndarray:
    pts = np.asarray(points3d, dtype=float)
    if pts.ndim != 3 or pts.shape[2] != 3 or pts.shape[1] not in (len(MV3D23), len(MV3D25)):
        raise InputError(f"expected (F, 25, 3) MV3D25 or (F, 23, 3) MV3D23 points, got shape {pts.shape}")
    return add_derived(pts) if pts.shape[1] == len(MV3D23) else pts


def skeleton_animation(points3d: np.ndarray, out_path: str | os.PathLike, fps: float = 30.0,
                       up_axis: str = "y", stride: int = 1, size: int = 320, follow: bool = True,
                       times: np.ndarray | None = None) -> Path:
    """Write an animation of the 3D skeleton (front + side orthographic views).

    points3d: (F, 25, 3) MV3D25 or (F, 23, 3) metres; out_path: ``.gif`` (Pillow; embeddable
    in the HTML report) or ``.mp4`` (OpenCV mp4v); fps: rate of the points; stride: keep
    every stride-th frame (the animation still plays in real time); times: (F,) seconds
    shown on each frame. Writes ceil(F / stride) frames and returns ``out_path``.
    """
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise InputError(f"{out_path}: the animation must be a .gif or an .mp4 file")
    if stride < 1 or fps <= 0:
        raise InputError(f"skeleton_animation: stride must be >= 1 and fps > 0 (got {stride}, {fps})")
    pts = _as_mv3d25(points3d)[::stride]
    if times is None:
        times = np.arange(len(points3d)) / fps
    frames = _skeleton_index_frames(pts, up_axis, size, follow, np.asarray(times)[::stride])
    rate = fps / stride
    with _media_path(out_path) as tmp:
        if suffix == ".gif":
            _write_gif(frames, tmp, rate)
        else:
            _write_mp4(frames, tmp, rate)
    log.info("wrote %s (%d frames at %.3g fps)", out_path, len(frames), rate)
    return out_path


def _write_gif(index_frames: np.ndarray, path: Path, fps: float) -> None:
    """(N, H, W) indices into ``_ANIM_PALETTE`` as a looping GIF (delays are whole 10 ms)."""
    palette = _ANIM_PALETTE[:, ::-1].ravel().tolist()  # RGB
    images = []
    for fr in index_frames:
        im = Image.fromarray(fr, mode="P")
        im.putpalette(palette)
        images.append(im)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, 10 * round(100 / fps)), loop=0, optimize=False, disposal=1)


def _write_mp4(index_frames: np.ndarray, path: Path, fps: float) -> None:
    """(N, H, W) indices into ``_ANIM_PALETTE`` as an mp4 (mp4v) video."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                             (index_frames.shape[2], index_frames.shape[1]))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write mp4 (mp4v) video here")
    try:
        for fr in index_frames:
            writer.write(_ANIM_PALETTE[fr])
    finally:
        writer.release()
