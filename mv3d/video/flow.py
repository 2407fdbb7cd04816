"""Retiming onto a common time base: keypoints by spline resampling, video frames by optical flow.

Frame synthesis at a fraction ``a`` between frames I0 and I1:

1. Dense optical flow both ways, F01 and F10 (OpenCV DIS), on a downscaled grey image.
2. Flow from the intermediate frame back to each real one, under linear motion
   (as in Super SloMo): Ft0 = -(1-a) a F01 + a^2 F10, Ft1 = (1-a)^2 F01 - a (1-a) F10.
3. Backward warping of I0 by Ft0 and of I1 by Ft1 (bilinear ``cv2.remap``).
4. Occlusion-aware blending: a pixel of I0 whose flow is not undone by F10 (forward-backward
   inconsistency) is missing from I1, so the intermediate pixel that samples it takes I0
   only, and conversely. Weights ``(1-a) v1`` and ``a v0`` with v the consistency of the
   *other* frame's sample, ``exp(-(e / sigma)^2)``.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.timeseries import resample
from mv3d.video.frames import iter_frames, probe

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- keypoints

def retime_keypoints(keypoints: np.ndarray, times: np.ndarray, new_times: np.ndarray,
                     kind: str = "cubic") -> np.ndarray:
    """Resample one camera's keypoints (F, J, 3) taken at increasing times (F,) onto new_times (G,).

    Coordinates by spline (``mv3d.timeseries.resample``: NaN in gaps and outside the samples, except
    within half a frame of the first or last one, which holds its value: a camera that started a
    fraction of a frame after the reference loses no frame), confidence linearly. Returns (G, J, 3),
    missing = NaN with confidence 0.
    """
    kp = np.asarray(keypoints, dtype=float)
    conf = np.nan_to_num(kp[..., 2])
    xy = np.where((conf > 0)[..., None], kp[..., :2], np.nan)
    times, new_times = np.asarray(times, dtype=float), np.asarray(new_times, dtype=float)
    if len(times) > 1:
        half = 0.5 * float(np.median(np.diff(times)))
        near_start = (new_times < times[0]) & (new_times >= times[0] - half)
        near_end = (new_times > times[-1]) & (new_times <= times[-1] + half)
        new_times = np.where(near_start, times[0], np.where(near_end, times[-1], new_times))
    out = np.empty((len(new_times),) + kp.shape[1:])
    out[..., :2] = resample(times, xy, new_times, kind=kind)
    c = resample(times, np.where(conf > 0, conf, np.nan), new_times, kind="linear")
    ok = np.isfinite(out[..., :2]).all(-1) & np.isfinite(c)
    out[..., 2] = np.where(ok, c, 0.0)
    out[~ok, :2] = np.nan
    return out


def retime_cameras(keypoints: np.ndarray, offsets: np.ndarray, rates: np.ndarray | float,
                   new_times: np.ndarray) -> np.ndarray:
    """Put all cameras' keypoints (C, F, J, 3) on one time base: camera c's frame k was taken at
    ``offsets[c] + k / rates[c]`` (``SyncResult``); returns (C, G, J, 3) at new_times (G,)."""
    kp = np.asarray(keypoints, dtype=float)
    rates = np.broadcast_to(np.asarray(rates, dtype=float), (kp.shape[0],))
    return np.stack([retime_keypoints(kp[c], offsets[c] + np.arange(kp.shape[1]) / rates[c], new_times)
                     for c in range(kp.shape[0])])


# ----------------------------------------------------------------------------- frames

class FlowInterpolator:
    """Synthesises frames between two real ones (see module doc).

    scale: the flow is computed on images downscaled by this factor (speed; DIS is robust
    to it); preset: DIS preset ("ultrafast", "fast", "medium"); sigma: forward-backward
    error (pixels) at which a sample's weight drops to 1/e.
    """

    def __init__(self, scale: float = 0.5, preset: str = "medium", sigma: float = 1.5) -> None:
        import cv2

        presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                   "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
        if preset not in presets:
            raise InputError(f"unknown optical-flow preset {preset!r}; use one of {', '.join(presets)}")
        if not 0 < scale <= 1:
            raise InputError(f"flow scale must be in (0, 1], got {scale}")
        self.dis = cv2.DISOpticalFlow_create(presets[preset])
        self.scale = scale
        self.sigma = sigma

    def flows(self, frame0: np.ndarray, frame1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flows F01 and F10 (h, w, 2) on the downscaled grid, in downscaled pixels."""
        import cv2

        small = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in (frame0, frame1)]
        if self.scale != 1:
            small = [cv2.resize(g, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA) for g in small]
        return self.dis.calc(small[0], small[1], None), self.dis.calc(small[1], small[0], None)

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, alphas: list[float] | np.ndarray,
                    flows: tuple[np.ndarray, np.ndarray] | None = None) -> list[np.ndarray]:
        """Frames (H, W, 3) uint8 at fractions ``alphas`` in (0, 1) between frame0 and frame1.

        Flows, consistency and weights are computed on the downscaled grid; only the final
        warps and the blend run at full resolution.
        """
        import cv2

        if frame0.shape != frame1.shape:
            raise InputError(f"frames to interpolate differ in size: {frame0.shape} and {frame1.shape}")
        f01, f10 = flows if flows is not None else self.flows(frame0, frame1)
        h, w = f01.shape[:2]
        H, W = frame0.shape[:2]
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        # Forward-backward consistency of each frame's pixels: |F01(p) + F10(p + F01(p))|.
        back = cv2.remap(f10, gx + f01[..., 0], gy + f01[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fwd = cv2.remap(f01, gx + f10[..., 0], gy + f10[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        sigma = self.sigma * self.scale
        v0 = np.exp(-((f01 + back) ** 2).sum(-1) / sigma ** 2).astype(np.float32)
        v1 = np.exp(-((f10 + fwd) ** 2).sum(-1) / sigma ** 2).astype(np.float32)
        GX, GY = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        i0, i1 = frame0.astype(np.float32), frame1.astype(np.float32)
        out = []
        for a in alphas:
            if not 0 < a < 1:
                raise InputError(f"interpolation fraction must lie strictly between 0 and 1, got {a}")
            ft0 = (-(1 - a) * a * f01 + a * a * f10).astype(np.float32)
            ft1 = ((1 - a) ** 2 * f01 - a * (1 - a) * f10).astype(np.float32)
            # The sample of I0 is trusted where I1's sample is consistent (visible in both), etc.
            vis0 = cv2.remap(v1, gx + ft1[..., 0], gy + ft1[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
            vis1 = cv2.remap(v0, gx + ft0[..., 0], gy + ft0[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
            wt0 = (1 - a) * (vis0 + 1e-3)
            wt0 = cv2.resize(wt0 / (wt0 + a * (vis1 + 1e-3)), (W, H), interpolation=cv2.INTER_LINEAR)
            ft0 = cv2.resize(ft0, (W, H), interpolation=cv2.INTER_LINEAR) / self.scale
            ft1 = cv2.resize(ft1, (W, H), interpolation=cv2.INTER_LINEAR) / self.scale
            w0 = cv2.remap(i0, GX + ft0[..., 0], GY + ft0[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            w1 = cv2.remap(i1, GX + ft1[..., 0], GY + ft1[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            blend = w1 + wt0[..., None] * (w0 - w1)
            out.append(cv2.convertScaleAbs(blend))  # rounds and saturates to uint8
        return out


def linear_blend(frame0: np.ndarray, frame1: np.ndarray, alpha: float) -> np.ndarray:
    """Cross-fade (1 - alpha) frame0 + alpha frame1 (the baseline flow interpolation must beat)."""
    mix = (1 - alpha) * frame0.astype(np.float32) + alpha * frame1.astype(np.float32)
    return np.clip(mix + 0.5, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) between two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def retime_frames(frames: Iterator[tuple[float, np.ndarray]], new_times: np.ndarray,
                  interpolator: FlowInterpolator | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Stream frames (time s, image) onto new_times (G,) increasing: a real frame where a new time
    falls within 1e-6 s of one, else a flow-interpolated frame between its two neighbours.
    New times outside the video are skipped (never extrapolated)."""
    interp = interpolator or FlowInterpolator()
    new_times = np.asarray(new_times, dtype=float)
    k = 0
    prev: tuple[float, np.ndarray] | None = None
    for t, img in frames:
        while k < new_times.size and new_times[k] < (prev[0] if prev else t) - 1e-6:
            k += 1
        if prev is not None:
            t0, img0 = prev
            inside = []
            while k < new_times.size and new_times[k] < t - 1e-6:
                inside.append(new_times[k])
                k += 1
            exact = [x for x in inside if abs(x - t0) <= 1e-6]
            for _ in exact:
                yield t0, img0
            between = [x for x in inside if abs(x - t0) > 1e-6]
            if between:
                alphas = [(x - t0) / (t - t0) for x in between]
                for x, f in zip(between, interp.interpolate(img0, img, alphas)):
                    yield x, f
        prev = (t, img)
    while prev is not None and k < new_times.size and abs(new_times[k] - prev[0]) <= 1e-6:
        yield prev
        k += 1


def interpolate_video(path: str | os.PathLike, out: str | os.PathLike, factor: int = 2,
                      interpolator: FlowInterpolator | None = None) -> int:
    """Write ``out`` (.mp4 / .avi) at ``factor`` times the frame rate, factor - 1 flow-synthesised
    frames between every two real ones. Returns the number of frames written."""
    import cv2

    if factor < 2:
        raise InputError(f"--factor must be an integer >= 2, got {factor}")
    out = Path(out)
    fourccs = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
    if out.suffix.lower() not in fourccs:
        raise InputError(f"{out}: output must be .mp4, .avi or .mkv")
    info = probe(path)
    interp = interpolator or FlowInterpolator()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*fourccs[out.suffix.lower()]), info.fps * factor,
                             (info.width, info.height))
    n = 0
    try:
        if not writer.isOpened():
            raise InputError(f"{out}: OpenCV cannot write this video file")
        prev = None
        alphas = np.arange(1, factor) / factor
        for _, _, frame in iter_frames(path):
            if prev is not None:
                for f in interp.interpolate(prev, frame, alphas):
                    writer.write(f)
                    n += 1
            writer.write(frame)
            n += 1
            prev = frame
        writer.release()
        os.replace(tmp, out)
    except BaseException:
        writer.release()
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
