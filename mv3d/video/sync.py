"""Camera time offsets from 2D keypoint motion, refined by multi-view reprojection error.

1. Per camera, motion signals from the 2D keypoints (vertical speed of wrists and ankles,
   confidence-weighted mean speed of all joints), band-pass filtered.
2. Normalised cross-correlation of every camera's signals against the reference camera's
   over a window of lags; the peak, refined to sub-frame by a parabola, is the first
   estimate; peak height and its margin over the second peak give a confidence.
3. With a calibrated rig, every lag of the window is scored by the reprojection error of
   points triangulated from all cameras, the camera's 2D tracks (low-passed, then a cubic
   spline) placed at that offset; per-camera, per-joint mean residuals are removed so
   static biases (calibration, detector habits) do not pull the optimum
   (:mod:`mv3d.video.sync_geometry`). The lowest minima and the correlation's peak are
   refined by a bounded scalar search to sub-frame. Geometry tells apart peaks that
   correlation cannot (periodic gait, squats); the margin of the best minimum over the next
   one and over its own flanks is the confidence. The scan only proposes candidates (each lag
   is scored on the points it overlaps: a bad stretch of detections slides out of the window
   one stride away); they are compared on common points, both the other cameras' (same
   reference frames) and the camera's own (same frames of its own), and a candidate within
   ``NEAR_TIE`` of the best on either is a tie (a treadmill runner fits as well one stride
   away), resolved for the smallest offset (up to ``PRIOR_SCALE``: nearer starts are equally
   plausible, the lowest cost decides); a close rival also lowers the confidence.
4. Optionally a clock-rate difference (drift) is fitted: with a rig, offset and rate of each
   camera by minimising the reprojection error (Nelder-Mead, two rounds over the cameras);
   without, by a weighted line through local correlation lags in sliding windows.

Time model: frame k of camera c was taken at ``offsets[c] + k / rates[c]`` on the common
clock, whose origin is the first frame of camera 0 (so ``offsets[0] == 0``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, signal

from mv3d.camera import CameraRig
from mv3d.errors import InputError
from mv3d.skeleton import JOINT_INDEX
from mv3d.timeseries import fill_nan_linear, lagged_ncc, local_maxima, parabolic_peak
from mv3d.video.sync_geometry import ReprojectionCost

log = logging.getLogger(__name__)

#: Joints whose vertical image speed is a signal of its own.
SIGNAL_JOINTS = ("l_wrist", "r_wrist", "l_ankle", "r_ankle")


@dataclass(frozen=True)
class SyncParams:
    """max_offset: largest |offset| searched (s); band: band-pass of the motion signals (Hz);
    min_conf: detections at or below this confidence are ignored; min_overlap: fraction of the
    shorter track two cameras must share at any lag; n_candidates: lowest reprojection minima
    refined to sub-frame; robust_px: reprojection errors are truncated here (wrong detections);
    smooth_hz: low-pass of the 2D tracks before the reprojection refinement;
    min_confidence: offsets below this confidence are reported with a warning;
    fit_drift: also fit each camera's clock rate; drift_window: window (s) of the local lags."""

    max_offset: float = 1.0
    band: tuple[float, float] = (0.2, 6.0)
    min_conf: float = 0.2
    min_overlap: float = 0.5
    n_candidates: int = 3
    robust_px: float = 25.0
    min_confidence: float = 0.5
    smooth_hz: float = 8.0
    fit_drift: bool = False
    drift_window: float = 3.0


@dataclass
class SyncResult:
    """Offsets (C,) s of each camera's first frame relative to camera 0's; rates (C,) frames/s
    on the common clock; confidence (C,) in [0, 1]; correlation (C, L) combined NCC over lags
    (frames, ``lags``) against the reference; warnings for the user."""

    cameras: list[str]
    offsets: np.ndarray
    rates: np.ndarray
    confidence: np.ndarray
    lags: np.ndarray
    correlation: np.ndarray
    reference: int = 0
    methods: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def times(self, camera: int | str, n_frames: int) -> np.ndarray:
        """(n_frames,) common-clock times of the camera's frames."""
        c = self.cameras.index(camera) if isinstance(camera, str) else camera
        return self.offsets[c] + np.arange(n_frames) / self.rates[c]

    def as_dict(self) -> dict:
        """``{camera: seconds, ..., "confidence": {camera: value}}`` (plus rates when fitted)."""
        out: dict = {name: float(o) for name, o in zip(self.cameras, self.offsets)}
        out["confidence"] = {name: round(float(c), 3) for name, c in zip(self.cameras, self.confidence)}
        return out


# ----------------------------------------------------------------------------- signals

def bandpass(x: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """Zero-phase band-pass of (F, S) signals, NaN-aware (gaps bridged for filtering, NaN again after)."""
    lo, hi = band
    hi = min(hi, 0.45 * fs)
    sos = signal.butter(2, [lo, hi], btype="band", fs=fs, output="sos")
    ok = np.isfinite(x)
    if x.shape[0] < 16:
        return np.full_like(x, np.nan)
    y = signal.sosfiltfilt(sos, fill_nan_linear(x, empty=0.0), axis=0, padlen=min(3 * 7, x.shape[0] - 1))
    return np.where(ok, y, np.nan)


def motion_signals(keypoints: np.ndarray, fs: float, params: SyncParams = SyncParams()) -> np.ndarray:
    """Band-passed motion signals (F, S) of one camera's keypoints (F, J, 3); NaN where unknown.

    Columns: vertical image speed of each of SIGNAL_JOINTS, then the confidence-weighted
    mean speed of all joints. Units are irrelevant (correlation is normalised).
    """
    xy = keypoints[..., :2]
    conf = np.nan_to_num(keypoints[..., 2])
    ok = np.isfinite(xy).all(-1) & (conf > params.min_conf)
    xy = np.where(ok[..., None], xy, np.nan)
    v = np.gradient(xy, axis=0) * fs if xy.shape[0] > 1 else np.zeros_like(xy)
    vy = v[:, [JOINT_INDEX[j] for j in SIGNAL_JOINTS], 1]
    speed = np.linalg.norm(v, axis=-1)
    w = np.where(np.isfinite(speed), conf, 0.0)
    wsum = w.sum(1)
    overall = np.where(wsum > 0, (np.nan_to_num(speed) * w).sum(1) / np.where(wsum > 0, wsum, 1), np.nan)
    return bandpass(np.column_stack([vy, overall]), fs, params.band)


# ----------------------------------------------------------------------------- main entry

def _check_cameras(keypoints: np.ndarray, cameras: list[str], min_conf: float) -> None:
    frac = ((np.nan_to_num(keypoints[..., 2]) > min_conf).sum(-1) >= 3).mean(1)
    for name, f in zip(cameras, frac):
        if f == 0:
            raise InputError(f"camera {name}: no detections (no frame with 3 or more joints above confidence "
                             f"{min_conf}); check its 2D keypoints or leave the camera out")
        if f < 0.2:
            log.warning("camera %s: the person is detected in only %.0f%% of the frames; its offset may be "
                        "unreliable", name, 100 * f)


def _drift(ref_sig: np.ndarray, sig: np.ndarray, lag0: float, fs: float, window: float,
           min_overlap: int) -> tuple[float, float] | None:
    """Line lag(k) = a + b k fitted to local correlation lags in sliding windows, or None."""
    w = int(round(window * fs))
    n = sig.shape[0]
    if n < 3 * w:
        return None
    starts = np.arange(0, n - w + 1, max(w // 2, 1))
    ks, ls, ws = [], [], []
    base = int(round(lag0))
    lags = np.arange(base - 3, base + 4)
    for s in starts:
        seg = np.full_like(sig, np.nan)
        seg[s:s + w] = sig[s:s + w]
        ncc = lagged_ncc(ref_sig, seg, lags, min(min_overlap, w // 2))
        curve = np.nanmean(ncc, axis=1) if np.isfinite(ncc).any() else None
        if curve is None or not np.isfinite(curve).any():
            continue
        i = int(np.nanargmax(curve))
        if i in (0, len(lags) - 1) or curve[i] < 0.5:
            continue
        ks.append(s + w / 2)
        ls.append(lags[0] + parabolic_peak(curve, i))
        ws.append(curve[i])
    if len(ks) < 3:
        return None
    b, a = np.polyfit(ks, ls, 1, w=ws)
    return float(a), float(b)


def synchronize(keypoints: np.ndarray, fps: float | np.ndarray, rig: CameraRig | None = None,
                cameras: list[str] | None = None, reference: int = 0,
                params: SyncParams = SyncParams()) -> SyncResult:
    """Estimate camera time offsets from 2D keypoints (C, F, J, 3) (pixels, confidence).

    fps: nominal frame rate (scalar or (C,)); rig: calibrated cameras in the keypoints' order
    (enables the reprojection refinement); reference: camera index the correlation is done
    against (offsets are reported relative to camera 0 all the same).
    Raises InputError for a camera without detections or an offset beyond ``max_offset``.
    """
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim != 4 or kp.shape[-1] != 3 or kp.shape[0] < 2:
        raise InputError(f"synchronize expects keypoints (C >= 2, F, J, 3), got {kp.shape}")
    n_cams, n_frames = kp.shape[:2]
    cameras = list(cameras) if cameras is not None else [f"cam{c}" for c in range(n_cams)]
    if len(cameras) != n_cams:
        raise InputError(f"synchronize: {len(cameras)} camera names for {n_cams} cameras of keypoints")
    if rig is not None and len(rig) != n_cams:
        raise InputError(f"synchronize: the calibration has {len(rig)} cameras but the keypoints {n_cams} "
                         f"({', '.join(cameras)})")
    fps_arr = np.broadcast_to(np.asarray(fps, dtype=float), (n_cams,)).copy()
    _check_cameras(kp, cameras, params.min_conf)
    fs = fps_arr[reference]

    sigs = [motion_signals(kp[c], fps_arr[c], params) for c in range(n_cams)]
    max_lag = int(np.ceil(params.max_offset * fs))
    min_overlap = int(params.min_overlap * n_frames)
    max_lag = min(max_lag, n_frames - min_overlap)
    lags = np.arange(-max_lag, max_lag + 1)
    warnings: list[str] = []

    lag_est = np.zeros(n_cams)
    corr_conf = np.ones(n_cams)
    corr = np.full((n_cams, lags.size), np.nan)
    cands: dict[int, list[float]] = {}
    rates = fps_arr.copy()
    for c in range(n_cams):
        if c == reference:
            continue
        ncc = lagged_ncc(sigs[reference], sigs[c], lags, min_overlap)
        n_ok = np.isfinite(ncc).sum(1)
        curve = np.where(n_ok > 0, np.nansum(ncc, axis=1) / np.maximum(n_ok, 1), np.nan)
        corr[c] = curve
        peaks = local_maxima(curve)
        if peaks.size == 0:
            raise InputError(f"camera {cameras[c]}: no usable motion overlaps the reference camera "
                             f"{cameras[reference]} within ±{params.max_offset} s; check its detections")
        best = peaks[0]
        p1 = curve[best]
        others = [p for p in peaks[1:] if abs(p - best) >= 3]
        p2 = max(curve[others[0]], 0.0) if others else 0.0
        # Signals that peak elsewhere on their own (noise, or motion seen differently) lower the trust.
        own = np.array([np.nanargmax(ncc[:, s]) for s in range(ncc.shape[1]) if np.isfinite(ncc[:, s]).any()])
        agree = float(np.mean(np.abs(own - best) <= 2)) if own.size else 0.0
        corr_conf[c] = float(np.clip((p1 - 0.25) / 0.35, 0, 1) * np.clip((p1 - p2) / (0.3 * max(p1, 1e-9)), 0, 1)
                             * np.clip((agree - 0.2) / 0.6, 0, 1))
        lag_est[c] = lags[0] + parabolic_peak(curve, int(best))
        cands[c] = [lags[0] + parabolic_peak(curve, int(p)) for p in [best] + others[:2]]
        log.info("camera %s: correlation peak %.3f at lag %.2f frames (second %.3f), confidence %.2f",
                 cameras[c], p1, lag_est[c], p2, corr_conf[c])
        if best in (0, lags.size - 1) and corr_conf[c] >= params.min_confidence and rig is None:
            raise InputError(f"camera {cameras[c]}: the motion correlates best at the edge of the lag window "
                             f"(±{max_lag / fs:.2f} s): its offset is probably larger; rerun with a larger "
                             f"max offset (--max-offset)")
        if params.fit_drift and rig is None:  # with a rig, reprojection fits the rate (more precise)
            fit = _drift(sigs[reference], sigs[c], lag_est[c], fs, params.drift_window, min_overlap)
            if fit is not None:
                a, b = fit
                rates[c] = fps_arr[reference] / (1.0 + b)
                lag_est[c] = a
                log.info("camera %s: drift %.1f ppm from windowed correlation", cameras[c], 1e6 * b)

    offsets = lag_est / fs  # relative to the reference camera
    conf = corr_conf.copy()
    methods = ["reference" if c == reference else "correlation" for c in range(n_cams)]
    if rig is not None:
        offsets, rates, conf = _refine(rig, kp, fps_arr, reference, offsets, rates, cands, corr_conf,
                                       cameras, params, max_lag, methods)
    conf[reference] = 1.0
    offsets = offsets - offsets[0]
    for c in range(n_cams):
        if conf[c] < params.min_confidence:
            msg = (f"camera {cameras[c]}: offset {offsets[c]:+.4f} s is uncertain (confidence {conf[c]:.2f}): "
                   f"the movement is near-static or repetitive, so the cameras cannot be told apart in time; "
                   f"check it, or record a distinct movement (a jump, a clap) in every camera")
            warnings.append(msg)
            log.warning(msg)
    return SyncResult(cameras, offsets, rates, conf, lags, corr, reference, methods, warnings)


def _local_minima(curve: np.ndarray) -> np.ndarray:
    """Indices of the local minima of a (L,) curve (edges included), lowest first."""
    return local_maxima(-curve)


#: Reprojection costs within this factor of the best (on the points all candidates see) are a tie
#: between candidate offsets: on a strictly periodic movement the candidates one stride apart differ
#: by noise alone (10-20 % on simulated treadmill running). The sync confidence is low for such
#: candidates anyway (full confidence needs the next minimum 1.5 times worse).
NEAR_TIE = 1.25

#: Offsets (s) that differ by less than this are equally plausible starts: the smallest-offset rule
#: resolves ties between repetitions, which are further apart (a running step lasts 0.3 s or more).
PRIOR_SCALE = 0.2


def _shared_ratios(geo: ReprojectionCost, c: int, lags: list[float], rate: float, active: list[int], frame: float,
                   scored: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """(K,) cost of each candidate lag (frames) over the best one's, on common points, the more
    lenient of two comparisons.

    Candidates pair different frames, so each is scored on data all of them use: the other
    cameras' frames (points on the reference clock that every candidate sees) and camera c's own
    frames (its observations that every candidate pairs with other views). Either set can favour a
    wrong candidate when the trial has a bad stretch on the other side: a lag one stride away
    slides camera c's noisy ends, or the frames where its detector followed another person, out
    of the other cameras' window. Only a candidate that loses on both is out of the tie.
    """
    ratios = []
    for masks in (_common_on_grid(scored), _common_in_camera(geo, c, lags, rate, frame, scored)):
        costs = np.array([geo.cost(c, x * frame, rate, active, mask=m)[0] for x, m in zip(lags, masks)])
        if np.isfinite(costs).all():
            ratios.append(costs / max(costs.min(), 1e-12))
    if not ratios:
        costs = np.array([k for k, _ in scored])
        return costs / max(costs.min(), 1e-12)
    return np.min(ratios, axis=0)


def _common_on_grid(scored: list[tuple[float, np.ndarray]]) -> list[np.ndarray]:
    """Masks (G, J) of the points on the reference clock that every candidate uses."""
    shared = np.logical_and.reduce([used for _, used in scored])
    return [shared] * len(scored)


def _common_in_camera(geo: ReprojectionCost, c: int, lags: list[float], rate: float, frame: float,
                      scored: list[tuple[float, np.ndarray]]) -> list[np.ndarray]:
    """Masks (G, J), one per candidate, of camera c's own points (its frames, nearest to each grid
    time) that every candidate uses."""
    n = geo.tracks[c].n
    frames = [np.rint((geo.grid - x * frame) * rate).astype(int) for x in lags]
    seen = []
    for k, (_, used) in zip(frames, scored):
        own = np.zeros((n, used.shape[1]), bool)
        inside = (k >= 0) & (k < n)
        np.logical_or.at(own, k[inside], used[inside])
        seen.append(own)
    common = np.logical_and.reduce(seen)
    return [((k >= 0) & (k < n))[:, None] & common[np.clip(k, 0, n - 1)] for k in frames]


def _pick(lags: list[float], ratios: np.ndarray, fs: float) -> int:
    """Index of the chosen lag (frames at fs) among candidates with cost ratios to the best.

    Of the lags within NEAR_TIE of the best, the ones within PRIOR_SCALE of the smallest |lag|:
    a repetitive movement (running, squats) fits as well one stride or repetition away, and
    phones start within a fraction of a second of each other; nearer than that the start prior
    tells nothing, and the lowest cost decides (a slow movement's flat minimum).
    """
    tied = [i for i, r in enumerate(ratios) if r <= NEAR_TIE]
    nearest = min(abs(lags[i]) for i in tied)
    plausible = [i for i in tied if abs(lags[i]) <= nearest + PRIOR_SCALE * fs]
    return min(plausible, key=lambda i: ratios[i])


def _refine(rig: CameraRig, kp: np.ndarray, fps: np.ndarray, ref: int, offsets: np.ndarray,
            rates: np.ndarray, cands: dict[int, list[float]], corr_conf: np.ndarray, cameras: list[str],
            params: SyncParams, max_lag: int, methods: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose and refine each camera's lag by reprojection error (see module doc).

    Pass 1, cameras in order of correlation confidence, each against the cameras placed so
    far: the cost over every integer lag of the window (on every fourth frame), its lowest
    minima and the correlation peak refined by a bounded scalar search; the confidence is
    the margin of the best minimum over the next one and over its own flanks (3 frames away).
    Pass 2 (3+ cameras): each camera refined again against all the others.
    """
    geo = ReprojectionCost(rig, kp, params.min_conf, ref, fps, params.robust_px, params.smooth_hz)
    scan = ReprojectionCost(rig, kp, params.min_conf, ref, fps, params.robust_px, params.smooth_hz, step=4)
    fs = fps[ref]
    frame = 1.0 / fs
    offsets, rates = offsets.copy(), rates.copy()
    conf = corr_conf.copy()
    for g in (geo, scan):
        g.set(ref, 0.0, rates[ref])
    active = [ref]
    lags = np.arange(-max_lag, max_lag + 1)
    order = sorted((c for c in range(len(rig)) if c != ref), key=lambda c: -corr_conf[c])
    for c in order:
        profile = np.array([scan.cost(c, lag * frame, rates[c], active)[0] for lag in lags])
        if not np.isfinite(profile).any():
            raise InputError(f"camera {cameras[c]}: shares no detected joints with the cameras "
                             f"{', '.join(cameras[a] for a in active)} at any offset within "
                             f"±{params.max_offset} s; check its detections or the calibration")
        minima = _local_minima(profile)
        # The scan scores each lag on the points it overlaps, which differ from lag to lag (a bad stretch of
        # detections slides out of the window one stride away): it proposes candidates, it does not rule them out.
        starts: list[float] = []
        for m in minima:
            if len(starts) < params.n_candidates and all(abs(lags[m] - s) >= 3 for s in starts):
                starts.append(float(lags[m]))
        starts += [x for x in cands.get(c, [])[:1] if min(abs(x - s) for s in starts) > 1.5]  # cross-check
        refined = [_minimise(geo, c, x, rates[c], active, frame, half_width=1.0) for x in starts]
        scored = [geo.cost(c, x * frame, rates[c], active) for x in refined]
        costs = [k for k, _ in scored]
        ratios = _shared_ratios(geo, c, refined, rates[c], active, frame, scored)
        pick = _pick(refined, ratios, fs)
        lag = refined[pick]
        rivals = [r for x, r in zip(refined, ratios) if abs(x - lag) >= 3]  # other minima, on common points
        r_rival = min(rivals, default=np.inf) / ratios[pick]
        edge = refined[int(np.argmin(costs))]   # the best fit on the window's edge: the offset may lie beyond
        best = profile[minima[0]]
        far = [profile[m] for m in minima[1:] if abs(lags[m] - lags[minima[0]]) >= 3]
        r_second = (min(far) if far else np.inf) / max(best, 1e-12)
        flank = profile[np.clip(minima[0] + np.array([-3, 3]), 0, lags.size - 1)]
        r_flank = np.nanmin(flank) / max(best, 1e-12)
        conf[c] = float(np.clip((min(r_second, r_rival) - 1.1) / 0.4, 0, 1) * np.clip((r_flank - 1.02) / 0.1, 0, 1))
        log.info("camera %s: lag %.3f frames, reprojection %.2f px rms, next minimum x%.2f, flanks x%.2f, "
                 "confidence %.2f", cameras[c], lag, np.sqrt(min(costs)), r_second, r_flank, conf[c])
        if abs(edge) >= max_lag - 1.0:
            raise InputError(f"camera {cameras[c]}: the best offset lies at the edge of the searched window "
                             f"(±{max_lag * frame:.2f} s): the offset is probably larger; rerun with a larger "
                             f"max offset (--max-offset)")
        if abs(lag - offsets[c] * fs) > 1.0:
            log.info("camera %s: reprojection moved the correlation offset by %.2f frames",
                     cameras[c], lag - offsets[c] * fs)
        offsets[c] = lag * frame
        methods[c] = "reprojection"
        for g in (geo, scan):
            g.set(c, offsets[c], rates[c])
        active.append(c)
    if len(rig) > 2:
        for c in order:
            offsets[c] = _minimise(geo, c, offsets[c] * fs, rates[c], active, frame, half_width=0.75) * frame
            geo.set(c, offsets[c], rates[c])
    for _ in range(2 if params.fit_drift else 0):  # two rounds: each camera's fit moves the others' optimum
        for c in order:
            offsets[c], rates[c] = _minimise_drift(geo, c, offsets[c], rates[c], active, frame)
            geo.set(c, offsets[c], rates[c])
    return offsets, rates, conf


def _minimise(geo: ReprojectionCost, c: int, lag0: float, rate: float, active: list[int], frame: float,
              half_width: float = 0.75) -> float:
    """Lag (frames) of least reprojection cost within lag0 ± half_width, on a fixed point set."""
    lo, hi = lag0 - half_width, lag0 + half_width
    mask = geo.cost(c, lo * frame, rate, active)[1] & geo.cost(c, hi * frame, rate, active)[1]
    res = optimize.minimize_scalar(lambda g: geo.cost(c, g * frame, rate, active, mask)[0],
                                   bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return float(res.x)


def _minimise_drift(geo: ReprojectionCost, c: int, offset: float, rate: float, active: list[int],
                    frame: float) -> tuple[float, float]:
    """Offset (s) and rate (frames/s) of least reprojection cost, from the given start.

    Parametrised by the time of the camera's middle frame and the rate, which the cost
    constrains independently (offset and rate alone are strongly correlated).
    """
    mask = geo.cost(c, offset - frame, rate, active)[1] & geo.cost(c, offset + frame, rate, active)[1]
    k_mid = 0.5 * (geo.tracks[c].n - 1)
    t_mid = offset + k_mid / rate

    def unpack(p: np.ndarray) -> tuple[float, float]:
        r = rate * (1 + 1e-4 * p[1])
        return t_mid + p[0] * frame - k_mid / r, r

    res = optimize.minimize(lambda p: geo.cost(c, *unpack(p), active, mask)[0], np.zeros(2), method="Nelder-Mead",
                            options={"xatol": 1e-3, "fatol": 1e-12, "initial_simplex": [[0, 0], [0.3, 0], [0, 3]]})
    return unpack(res.x)
