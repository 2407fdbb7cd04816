"""Video kinematics against mocap: time alignment, per-coordinate metrics, marker-space errors.

Time shift: both series are resampled (cubic) to a common uniform grid at the finer of
their rates; each common moving rotational coordinate has its mean removed (offsets do not
matter; coordinates with a large range of motion, which time best, weigh most) and the
pooled cross-correlation is maximized over integer lags (optionally
within ``max_lag_s``); the peak is then refined to sub-sample precision by maximizing the
correlation of the cubic interpolants over a continuous shift within one sample of it.
``shift_s`` is the number of seconds to add to the video times.

Metrics per coordinate on the overlap (mocap times, video interpolated at t - shift):
RMSE, MAE, bias (mean video - mocap), ROM error (video range - mocap range), Pearson r and
the coefficient of multiple correlation of Kadaba et al. (1989, J Orthop Res 7:849), for
G = 2 waveforms (video, mocap) of T samples:

    CMC = sqrt(1 - [sum_g sum_t (Y_gt - Ybar_t)^2 / (T (G - 1))] / [sum_g sum_t (Y_gt - Ybar)^2 / (G T - 1)])

with Ybar_t the mean of the two at sample t and Ybar the grand mean; CMC is NaN when the
ratio exceeds 1 (waveforms too dissimilar for a real CMC). Rotations are in degrees,
translations (``*_tx``, ``*_ty``, ``*_tz`` or the model's translational coordinates) in
metres and reported in their own table. Rotations are compared modulo whole turns: each series
is unwrapped in time (a heading written as 179 then -179 deg is continuous) and the video is
moved by whole turns to within 180 deg of the mocap (``nearest_turn``), so a heading of 190 deg
matches one of -170 deg.

When the video .mot has a coordinate status beside it (``X_coordinate_status.csv``, written
by ``mv3d ik``), each coordinate's row says whether the markers determined it
(``determined``, ``partly``, ``undetermined``): the RMSE of an undetermined coordinate
measures a neutral prior, not the video's accuracy.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy.interpolate import CubicSpline
from scipy.optimize import minimize_scalar

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from mv3d.io.mot import read_mot
from mv3d.io.safe_yaml import load_yaml
from mv3d.io.trc import read_trc
from mv3d.kinematics.bodymodel import side_free
from mv3d.kinematics.coordinate_ranges import KNOWN_CONVENTIONS, flip_signs, is_translation, opposite_signs
from mv3d.kinematics.observability import read_status_csv, status_path
from mv3d.timeseries import cross_correlation, fill_nan_linear, resample

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("coordinate", "rmse", "mae", "bias", "rom_error", "pearson_r", "cmc")
STATUS_COLUMNS = ("status", "determined_fraction")


@dataclass
class TimeShift:
    """shift_s: seconds to add to the video times; correlation: pooled correlation of the signals at the shift;
    rate: the grid rate (Hz) it was found on; coordinates: the coordinates it was found from."""

    shift_s: float
    correlation: float
    rate: float
    coordinates: list[str]


def _uniform_grid(t: np.ndarray, rate: float) -> np.ndarray:
    n = int(np.floor((t[-1] - t[0]) * rate + 1e-9)) + 1
    return t[0] + np.arange(n) / rate


def _centered(x: np.ndarray) -> np.ndarray:
    return x - np.nanmean(x, axis=0)


def estimate_shift(t_video: np.ndarray, x_video: np.ndarray, t_mocap: np.ndarray, x_mocap: np.ndarray,
                   max_lag_s: float | None = None, rate: float | None = None) -> tuple[float, float, float]:
    """Time shift that aligns video to mocap by cross-correlation with sub-sample refinement.

    t_video (F,), x_video (F, N); t_mocap (G,), x_mocap (G, N): the same N signals.
    Returns (shift_s to add to the video times, correlation at the shift, grid rate).
    """
    t_video, t_mocap = np.asarray(t_video, float), np.asarray(t_mocap, float)
    if rate is None:
        rate = float(max(1.0 / np.median(np.diff(t_video)), 1.0 / np.median(np.diff(t_mocap))))
    gv, gm = _uniform_grid(t_video, rate), _uniform_grid(t_mocap, rate)
    xv = _centered(CubicSpline(t_video, fill_nan_linear(x_video, t_video), axis=0)(gv))
    xm = _centered(CubicSpline(t_mocap, fill_nan_linear(x_mocap, t_mocap), axis=0)(gm))
    # Full cross-correlation, summed over signals; normalised by the overlap length.
    lags, cc, overlap = cross_correlation(xm, xv)
    cc = cc / np.maximum(overlap, 1)
    # lag k (samples) pairs mocap grid i with video grid i - k: shift = gm[0] - gv[0] + k / rate.
    shifts = gm[0] - gv[0] + lags / rate
    ok = overlap >= max(10, 0.3 * min(len(gv), len(gm)))
    if max_lag_s is not None:
        ok &= np.abs(shifts) <= max_lag_s + 0.5 / rate
    if not ok.any():
        raise InputError(f"no time shift within the lag window (max_lag_s={max_lag_s}) leaves enough overlap "
                         "between the video and mocap series; widen the window or check the files")
    best = int(np.argmax(np.where(ok, cc, -np.inf)))
    s0 = float(shifts[best])

    spl_v = CubicSpline(t_video, fill_nan_linear(x_video, t_video), axis=0)
    xm_filled = fill_nan_linear(x_mocap, t_mocap)

    def neg_corr(s: float) -> float:
        """Minus the pooled correlation (offsets removed per signal) of the overlapping samples."""
        sel = (t_mocap - s >= t_video[0]) & (t_mocap - s <= t_video[-1])
        if sel.sum() < 10:
            return 1.0
        a, b = _centered(spl_v(t_mocap[sel] - s)), _centered(xm_filled[sel])
        return -float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    res = minimize_scalar(neg_corr, bounds=(s0 - 1.0 / rate, s0 + 1.0 / rate), method="bounded",
                          options={"xatol": 1e-6})
    shift = float(res.x) if res.fun <= neg_corr(s0) else s0
    return shift, -neg_corr(shift), rate


def cmc_kadaba(a: np.ndarray, b: np.ndarray) -> float:
    """Kadaba (1989) CMC of two waveforms a, b (T,); NaN when undefined."""
    y = np.stack([a, b])                     # (G=2, T)
    g, t = y.shape
    within = ((y - y.mean(axis=0)) ** 2).sum() / (t * (g - 1))
    total = ((y - y.mean()) ** 2).sum() / (g * t - 1)
    if total <= 0:
        return float("nan")
    ratio = within / total
    return float(np.sqrt(1.0 - ratio)) if ratio <= 1.0 else float("nan")


#: OpenCap's lower-limb accuracy set (hips, knees, ankles), both sides.
LOWER_LIMB: tuple[str, ...] = tuple(f"{c}_{s}" for s in "rl" for c in (
    "hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle"))


def unwrap_degrees(x: np.ndarray) -> np.ndarray:
    """(T, N) angles in degrees made continuous in time (jumps of more than 180 deg between finite
    samples taken as whole turns); NaN stay NaN."""
    out = np.array(x, dtype=float)
    for j in range(out.shape[1]):
        ok = np.isfinite(out[:, j])
        out[ok, j] = np.unwrap(out[ok, j], period=360.0)
    return out


def nearest_turn(video: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``video`` angles (degrees, any shape) moved by whole turns to within 180 deg of ``reference``."""
    return video + 360.0 * np.round((reference - video) / 360.0)


def coordinate_metrics(video: np.ndarray, mocap: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, bias, ROM error, Pearson r, CMC of one coordinate; video, mocap (T,) same units."""
    ok = np.isfinite(video) & np.isfinite(mocap)
    v, m = video[ok], mocap[ok]
    if len(v) < 3:
        return dict(rmse=np.nan, mae=np.nan, bias=np.nan, rom_error=np.nan, pearson_r=np.nan, cmc=np.nan)
    e = v - m
    r = float(np.corrcoef(v, m)[0, 1]) if np.std(v) > 0 and np.std(m) > 0 else float("nan")
    return dict(rmse=float(np.sqrt(np.mean(e**2))), mae=float(np.mean(np.abs(e))), bias=float(np.mean(e)),
                rom_error=float(np.ptp(v) - np.ptp(m)), pearson_r=r, cmc=cmc_kadaba(v, m))


@dataclass
class MotComparison:
    """Aligned series (mocap times) and metrics; rotations in degrees, translations in metres."""

    alignment: TimeShift
    times: np.ndarray
    coordinates: list[str]
    video: np.ndarray
    mocap: np.ndarray
    metrics: dict[str, dict[str, float]]
    translations: list[str]
    status: dict[str, tuple[str, float]] = field(default_factory=dict)

    def determined(self, names: list[str]) -> list[str]:
        """The names whose status is ``determined`` or unknown (no status file)."""
        return [n for n in names if self.status.get(n, ("determined",))[0] == "determined"]


def _read_status(video_mot: str | os.PathLike, status_csv: str | os.PathLike | None) -> dict[str, tuple[str, float]]:
    """coordinate -> (status, determined fraction) from the status CSV beside the video .mot (if any)."""
    path = Path(status_csv) if status_csv is not None else status_path(video_mot)
    if not path.is_file():
        if status_csv is not None:
            raise InputError(f"coordinate status file {path} does not exist")
        return {}
    try:
        return {k: (v.status, v.determined_fraction) for k, v in read_status_csv(path).items()}
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path} is not a coordinate status CSV written by mv3d ik ({exc})") from exc


def _in_units(mot: object, rotational_names: set[str] | None) -> np.ndarray:
    vals = np.asarray(mot.values, float).copy()
    if not mot.in_degrees:
        for j, c in enumerate(mot.columns):
            if (c in rotational_names) if rotational_names is not None else not is_translation(c):
                vals[:, j] = np.rad2deg(vals[:, j])
    return vals


def _check_signs(names: list[str], xv: np.ndarray, xm: np.ndarray, is_rot: np.ndarray, video_mot: object,
                 mocap_mot: object) -> None:
    """Rotations whose mocap values match the video's only with the opposite sign.

    InputError for coordinates of a known convention difference (the knee); a warning for
    others (an ill-determined video coordinate can mimic a flip).
    """
    rot = [j for j in range(len(names)) if is_rot[j]]
    flipped = opposite_signs(xv[:, rot], xm[:, rot], [names[j] for j in rot])
    known = [n for n in flipped if side_free(n) in KNOWN_CONVENTIONS]
    if flipped and not known:
        log.warning("%s matches %s only with the opposite sign for %s; if its model measures them the other "
                    "way, pass --flip-sign", mocap_mot, video_mot, ", ".join(flipped[:6]))
    if not known:
        return
    spans = "; ".join(f"{n}: video {_span(xv[:, names.index(n)])}, mocap {_span(xm[:, names.index(n)])} deg"
                      for n in known[:4])
    flips = sorted({side_free(n) for n in known})
    notes = " ".join(KNOWN_CONVENTIONS[n] for n in flips)
    raise InputError(f"{mocap_mot} and {video_mot} measure {', '.join(known)} with opposite signs ({spans}): "
                     f"{notes}. Negate them in the mocap file: {' '.join(f'--flip-sign {n}' for n in flips)} "
                     f"(mv3d compare) or compare.flip_sign: [{', '.join(flips)}] (mv3d run config)")


def _span(x: np.ndarray) -> str:
    x = x[np.isfinite(x)]
    return f"{np.percentile(x, 5):.0f}..{np.percentile(x, 95):.0f}" if len(x) else "no values"


def compare_mot(video_mot: str | os.PathLike, mocap_mot: str | os.PathLike, max_lag_s: float | None = None,
                coordinates: list[str] | None = None, rotational: set[str] | None = None,
                shift_s: float | None = None, flip_sign: list[str] | tuple[str, ...] = (),
                status_csv: str | os.PathLike | None = None) -> MotComparison:
    """Align a video .mot to a mocap .mot and compute per-coordinate metrics.

    coordinates: subset to compare (default: all common columns with motion in either file);
    rotational: names of rotational coordinates (default: every name not ending in _tx/_ty/_tz);
    shift_s: use this shift instead of estimating it; flip_sign: mocap columns to negate
    (``knee_angle`` negates ``knee_angle_r`` and ``_l``), for a mocap model of the opposite sign
    convention. A rotation whose values match only with the opposite sign raises InputError.
    status_csv: the video's coordinate status (default: ``<video stem>_coordinate_status.csv``
    beside it, when present).
    """
    vid, moc = read_mot(video_mot), read_mot(mocap_mot)
    if flip_sign:
        moc.values = flip_signs(moc.columns, moc.values, flip_sign, source=mocap_mot)
    common = [c for c in vid.columns if c in moc.columns]
    if coordinates is not None:
        missing = [c for c in coordinates if c not in common]
        if missing:
            raise InputError(f"coordinates {missing} are not in both {video_mot} and {mocap_mot}")
        common = list(coordinates)
    if not common:
        raise InputError(f"{video_mot} and {mocap_mot} have no coordinate column in common "
                         f"(video: {vid.columns[:8]}, mocap: {moc.columns[:8]})")
    xv = _in_units(vid, rotational)[:, [vid.columns.index(c) for c in common]]
    xm = _in_units(moc, rotational)[:, [moc.columns.index(c) for c in common]]
    is_rot = np.array([(c in rotational) if rotational is not None else not is_translation(c) for c in common])
    xv[:, is_rot], xm[:, is_rot] = unwrap_degrees(xv[:, is_rot]), unwrap_degrees(xm[:, is_rot])
    _check_signs(common, xv, xm, is_rot, video_mot, mocap_mot)
    moving = (np.nanstd(xm, axis=0) > 1e-6) | (np.nanstd(xv, axis=0) > 1e-6)
    align_cols = is_rot & (np.nanstd(xm, axis=0) > 1e-3) & (np.nanstd(xv, axis=0) > 1e-3)
    if not align_cols.any():
        align_cols = moving
    if shift_s is None:
        shift, corr, rate = estimate_shift(vid.times, xv[:, align_cols], moc.times, xm[:, align_cols], max_lag_s)
    else:
        shift, corr, rate = float(shift_s), float("nan"), float(1.0 / np.median(np.diff(moc.times)))
    t = moc.times[(moc.times - shift >= vid.times[0] - 1e-9) & (moc.times - shift <= vid.times[-1] + 1e-9)]
    if len(t) < 3:
        raise InputError(f"after the shift of {shift:.3f} s the video and mocap motions do not overlap")
    video_on_t = CubicSpline(vid.times, fill_nan_linear(xv, vid.times), axis=0)(t - shift)
    mocap_on_t = xm[np.isin(moc.times, t)]
    video_on_t[:, is_rot] = nearest_turn(video_on_t[:, is_rot], mocap_on_t[:, is_rot])
    keep = [j for j in range(len(common)) if moving[j]]
    names = [common[j] for j in keep]
    metrics = {common[j]: coordinate_metrics(video_on_t[:, j], mocap_on_t[:, j]) for j in keep}
    translations = [c for c in names if not is_rot[common.index(c)]]
    return MotComparison(TimeShift(shift, corr, rate, [c for c, a in zip(common, align_cols) if a]), t, names,
                         video_on_t[:, keep], mocap_on_t[:, keep], metrics, translations,
                         _read_status(video_mot, status_csv))


def write_metrics_csv(path: str | os.PathLike, metrics: dict[str, dict[str, float]], names: list[str],
                      status: dict[str, tuple[str, float]] | None = None) -> Path:
    """CSV with columns coordinate,rmse,mae,bias,rom_error,pearson_r,cmc,status,determined_fraction.

    status: coordinate -> (status, fraction of frames the markers determine it); ``unknown``
    and an empty fraction for coordinates without one.
    """
    status = status or {}
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(METRIC_COLUMNS + STATUS_COLUMNS)
        for n in names:
            state, frac = status.get(n, ("unknown", float("nan")))
            w.writerow([n] + [f"{metrics[n][k]:.6g}" for k in METRIC_COLUMNS[1:]] +
                       [state, "" if np.isnan(frac) else f"{frac:.3f}"])
    return Path(path)


def write_comparison(result: MotComparison, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write comparison.csv (rotations in degrees first, then translations in metres) and alignment.yaml
    (figures: ``mv3d.kinematics.plots.plot_comparison``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rot = [c for c in result.coordinates if c not in result.translations]
    paths = {"comparison": write_metrics_csv(out / "comparison.csv", result.metrics,
                                             rot + list(result.translations), result.status)}
    a = result.alignment
    with atomic_write(out / "alignment.yaml") as fh:
        yaml.safe_dump({"shift_s": float(a.shift_s), "correlation": float(a.correlation), "rate_hz": float(a.rate),
                        "aligned_on": list(a.coordinates), "overlap_s": float(result.times[-1] - result.times[0]),
                        "note": "shift_s is the number of seconds to add to the video times"}, fh, sort_keys=False)
    paths["alignment"] = out / "alignment.yaml"
    return paths


# ----------------------------------------------------------------------------- marker space
def read_mocap_to_video(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """R (3,3) and p (3,) from OpenCap's ``mocapToVideoTransform.yaml``.

    ``R_fromMocap_toVideo`` rotates mocap axes to video axes and
    ``position_fromMocapOrigin_toVideoOrigin`` is the video origin in mocap coordinates (m),
    so ``x_video = R @ (x_mocap - p)``.
    """
    data = load_yaml(path)
    try:
        R = np.asarray(data["R_fromMocap_toVideo"], float).reshape(3, 3)
        p = np.asarray(data["position_fromMocapOrigin_toVideoOrigin"], float).reshape(3)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: needs R_fromMocap_toVideo (3x3) and position_fromMocapOrigin_toVideoOrigin (3)") \
            from exc
    return R, p


def umeyama(src: np.ndarray, dst: np.ndarray, scale: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares similarity (R, t, s) with dst ~ s R src + t; src, dst (K, 3) (Umeyama 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    R = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / a.var(0).sum()) if scale else 1.0
    return R, mu_d - s * R @ mu_s, s


def robust_rigid(src: np.ndarray, dst: np.ndarray, iters: int = 5, k: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Kabsch fit that drops outliers (residual > k x median) and refits; src, dst (K, 3). Returns R, t."""
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    if ok.sum() < 3:
        raise InputError("fewer than 3 valid marker samples in common; cannot fit the mocap-to-video transform")
    keep = ok.copy()
    for _ in range(iters):
        R, t, _ = umeyama(src[keep], dst[keep])
        res = np.linalg.norm(src @ R.T + t - dst, axis=1)
        new = ok & (res <= k * np.median(res[ok]) + 1e-9)
        if (new == keep).all():
            break
        keep = new
    return R, t


@dataclass
class MarkerComparison:
    """Per-marker errors (mm) after transform and time alignment."""

    shift_s: float
    R: np.ndarray
    t: np.ndarray
    markers: list[str]
    rmse_mm: np.ndarray
    mae_mm: np.ndarray
    max_mm: np.ndarray


def compare_trc(video_trc: str | os.PathLike, mocap_trc: str | os.PathLike,
                transform_yaml: str | os.PathLike | None = None, max_lag_s: float | None = None) -> MarkerComparison:
    """Marker-space comparison of two TRC files (common marker names).

    Time alignment uses marker speeds (invariant to the unknown rigid transform); the mocap
    points are then taken to the video frame with the OpenCap transform when given, else
    with a robust Kabsch fit over all aligned samples.
    """
    vid, moc = read_trc(video_trc), read_trc(mocap_trc)
    names = [n for n in vid.marker_names if n in moc.marker_names]
    if not names:
        raise InputError(f"{video_trc} and {mocap_trc} have no marker name in common")
    pv = vid.points[:, [vid.marker_names.index(n) for n in names]]
    pm = moc.points[:, [moc.marker_names.index(n) for n in names]]
    sv = np.linalg.norm(np.gradient(pv, vid.times, axis=0), axis=-1)
    sm = np.linalg.norm(np.gradient(pm, moc.times, axis=0), axis=-1)
    cols = (np.isfinite(sv).mean(0) > 0.5) & (np.isfinite(sm).mean(0) > 0.5)
    shift, _, _ = estimate_shift(vid.times, sv[:, cols], moc.times, sm[:, cols], max_lag_s)
    t = moc.times[(moc.times - shift >= vid.times[0]) & (moc.times - shift <= vid.times[-1])]
    pv_t = resample(vid.times, pv, t - shift, kind="linear")
    pm_t = pm[np.isin(moc.times, t)]
    if transform_yaml is not None:
        R0, p0 = read_mocap_to_video(transform_yaml)
        R, tr = R0, -R0 @ p0
    else:
        R, tr = robust_rigid(pm_t.reshape(-1, 3), pv_t.reshape(-1, 3))
    err = np.linalg.norm(pm_t @ R.T + tr - pv_t, axis=-1) * 1000.0       # (T, M) mm
    with np.errstate(invalid="ignore"):
        rmse = np.sqrt(np.nanmean(err**2, axis=0))
        return MarkerComparison(shift, R, tr, names, rmse, np.nanmean(err, axis=0), np.nanmax(err, axis=0))


def write_marker_comparison(result: MarkerComparison, out_dir: str | os.PathLike) -> dict[str, Path]:
    """marker_errors.csv (marker,rmse_mm,mae_mm,max_mm) and alignment.yaml (shift_s, R, t)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "marker_errors.csv", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["marker", "rmse_mm", "mae_mm", "max_mm"])
        for i, n in enumerate(result.markers):
            w.writerow([n, f"{result.rmse_mm[i]:.4g}", f"{result.mae_mm[i]:.4g}", f"{result.max_mm[i]:.4g}"])
    with atomic_write(out / "alignment.yaml") as fh:
        yaml.safe_dump({"shift_s": float(result.shift_s), "R_fromMocap_toVideo": result.R.tolist(),
                        "t_fromMocap_toVideo_m": result.t.tolist(),
                        "note": "x_video = R x_mocap + t; shift_s is added to the video times"}, fh, sort_keys=False)
    return {"marker_errors": out / "marker_errors.csv", "alignment": out / "alignment.yaml"}
