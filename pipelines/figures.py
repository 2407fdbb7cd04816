"""Diagnostic figures of a trial: reprojection errors, bone lengths, sync offsets, trajectories,
camera layout, calibration errors.

``matplotlib.figure.Figure`` objects made without pyplot (no global state, never shown); the
metrics come from :mod:`mv3d.triangulate` (bone lengths) and the stages' stored arrays.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from mv3d.camera import CameraRig
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path
from mv3d.skeleton import LIMBS, MV3D23
from mv3d.triangulate.evaluation import bone_length_cv, bone_lengths


def _nanmedian(x: np.ndarray, axis) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def reprojection_error_figure(errors: np.ndarray, camera_names: Sequence[str],
                              joint_names: Sequence[str] = MV3D23) -> Figure:
    """Re-projection errors: median per camera x joint (heatmap) and per-camera box plots.

    errors: (C, F, J) pixels, NaN where a joint was not detected or not triangulated.
    """
    errors = np.asarray(errors, dtype=float)
    c, _, j = errors.shape
    if len(camera_names) != c or len(joint_names) != j:
        raise InputError(f"errors of shape {errors.shape} but {len(camera_names)} camera and "
                         f"{len(joint_names)} joint names")
    med = _nanmedian(errors, axis=1)  # (C, J)
    fig = Figure(figsize=(max(8.0, 0.38 * j + 3), 2.2 + 0.45 * c + 3.2), layout="constrained")
    ax_map, ax_box = fig.subplots(2, 1, height_ratios=[0.5 * c + 1.2, 3])
    vmax = np.nanpercentile(med, 95) if np.isfinite(med).any() else 1.0
    im = ax_map.imshow(np.ma.masked_invalid(med), aspect="auto", cmap="viridis", vmin=0, vmax=max(vmax, 1e-3))
    ax_map.set_xticks(range(j), joint_names, rotation=60, ha="right", fontsize=8)
    ax_map.set_yticks(range(c), camera_names, fontsize=8)
    ax_map.set_title("median re-projection error per camera and joint (px)")
    fig.colorbar(im, ax=ax_map, label="px")
    per_cam = [e[np.isfinite(e)] for e in errors.reshape(c, -1)]
    ax_box.boxplot([p if p.size else [np.nan] for p in per_cam], showfliers=False)
    ax_box.set_xticks(range(1, c + 1), [f"{n}\n(median {np.median(p):.1f})" if p.size else f"{n}\n(no data)"
                                        for n, p in zip(camera_names, per_cam)], fontsize=8)
    ax_box.set_ylabel("re-projection error (px)")
    ax_box.set_title("per camera, all joints and frames (whiskers 1.5 IQR, outliers hidden)")
    ax_box.grid(axis="y", alpha=0.3)
    return fig


def bone_length_figure(points3d: np.ndarray, times: np.ndarray) -> Figure:
    """Bone lengths over time and their coefficient of variation (a rigid body has CV 0).

    points3d: (F, 23 or 25, 3) metres; times: (F,) seconds.
    """
    points3d = np.asarray(points3d, dtype=float)
    lengths = bone_lengths(points3d) * 100.0  # cm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cv = 100.0 * bone_length_cv(points3d)
    names = [f"{a}–{b}" for a, b in LIMBS]
    fig = Figure(figsize=(13, 6.5), layout="constrained")
    ax_t, ax_cv = fig.subplots(1, 2, width_ratios=[2.2, 1])
    cmap = colormaps["tab20"]
    for b, name in enumerate(names):
        ax_t.plot(times, lengths[:, b], color=cmap(b % 20), ls="-" if b < 20 else "--", lw=1.1, label=name)
    ax_t.set_xlabel("time (s)")
    ax_t.set_ylabel("bone length (cm)")
    ax_t.set_title("bone lengths over time")
    ax_t.grid(alpha=0.3)
    ax_t.legend(fontsize=6.5, ncol=2, loc="upper left", bbox_to_anchor=(0, -0.1), frameon=False)
    y = np.arange(len(names))
    ax_cv.barh(y, np.nan_to_num(cv), color=[cmap(b % 20) for b in range(len(names))])
    ax_cv.set_yticks(y, names, fontsize=7)
    ax_cv.invert_yaxis()
    ax_cv.set_xlabel("coefficient of variation (%)")
    ax_cv.set_title("bone length variation")
    ax_cv.grid(axis="x", alpha=0.3)
    return fig


def sync_figure(offsets: Mapping[str, float], confidence: Mapping[str, float] | None = None,
                fps: float | None = None) -> Figure:
    """Camera time offsets found by synchronisation.

    offsets: camera -> offset (s); confidence: camera -> confidence in [0, 1] (bar colour);
    fps: frame rate, to show offsets in frames on a second axis.
    """
    names = list(offsets)
    ms = np.array([1000.0 * offsets[n] for n in names])
    conf = np.array([np.nan if confidence is None else float(confidence.get(n, np.nan)) for n in names])
    fig = Figure(figsize=(max(5.0, 1.1 * len(names) + 2), 4), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["RdYlGn"]
    colors = [cmap(float(np.clip(c, 0, 1))) if np.isfinite(c) else (0.5, 0.5, 0.6, 1) for c in conf]
    bars = ax.bar(names, ms, color=colors, edgecolor="k", lw=0.5)
    for bar, c, v in zip(bars, conf, ms):
        label = f"{v:+.1f} ms" + (f"\nconf {c:.2f}" if np.isfinite(c) else "")
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, v), ha="center",
                    va="bottom" if v >= 0 else "top", fontsize=8, xytext=(0, 2 if v >= 0 else -2),
                    textcoords="offset points")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("offset (ms)")
    ax.set_title("camera time offsets (colour: confidence, red low, green high)")
    ax.grid(axis="y", alpha=0.3)
    span = max(np.abs(ms).max() if ms.size else 1.0, 1.0)
    ax.set_ylim(-1.35 * span, 1.35 * span)
    if fps:
        sec = ax.secondary_yaxis("right", functions=(lambda v: v * fps / 1000.0, lambda f: f * 1000.0 / fps))
        sec.set_ylabel(f"offset (frames at {fps:g} fps)")
    return fig


_TRAJECTORY_DEFAULT = ("mid_hip", "l_wrist", "r_wrist", "l_ankle", "r_ankle", "nose")


def keypoint_trajectory_figure(times: np.ndarray, points3d: np.ndarray, names: Sequence[str],
                               select: Sequence[str] | None = None) -> Figure:
    """x, y, z of a few keypoints over time.

    times: (F,) s; points3d: (F, J, 3) metres; names: the J joint names; select: joints
    to plot (default: pelvis, wrists, ankles and nose where present).
    """
    points3d = np.asarray(points3d, dtype=float)
    if points3d.shape[1] != len(names):
        raise InputError(f"{points3d.shape[1]} joints in the points but {len(names)} names")
    select = [n for n in (select or _TRAJECTORY_DEFAULT) if n in names] or list(names[:6])
    missing = [n for n in select if n not in names]
    if missing:
        raise InputError(f"keypoint_trajectory_figure: unknown joint(s) {missing}; known: {list(names)}")
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    cmap = colormaps["tab10"]
    for k, ax in enumerate(axes):
        for i, n in enumerate(select):
            ax.plot(times, points3d[:, list(names).index(n), k], color=cmap(i), lw=1.2, label=n)
        ax.set_ylabel(f"{'xyz'[k]} (m)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=min(6, len(select)), loc="lower left", bbox_to_anchor=(0, 1.02), frameon=False)
    axes[-1].set_xlabel("time (s)")
    return fig


def camera_layout_figure(rig: CameraRig, points3d: np.ndarray | None = None) -> Figure:
    """Camera centres and viewing directions seen from above and from the side.

    rig: ``mv3d.camera.CameraRig`` (its ``R_to_opensim`` turns the world Y-up, so the top
    view is OpenSim's x-z plane); points3d: (F, J, 3) world metres of the subject, or None.
    """
    to_os = rig.R_to_opensim
    centers = rig.centers @ to_os.T  # (C, 3)
    axis_world = np.stack([cam.R[2] for cam in rig.cameras])  # optical axes (C, 3), world
    dirs = axis_world @ to_os.T
    subject = None
    if points3d is not None:
        p = np.asarray(points3d, dtype=float).reshape(-1, 3)
        subject = p[np.isfinite(p).all(axis=1)] @ to_os.T
        if len(subject) > 4000:
            subject = subject[:: len(subject) // 4000 + 1]
    scene = centers if subject is None or not len(subject) else np.vstack([centers, subject])
    arrow = 0.25 * max(np.ptp(scene, axis=0).max(), 1.0)
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    axes = fig.subplots(1, 2)
    cmap = colormaps["tab10"]
    for ax, (hx, vy, title) in zip(axes, ((0, 2, "top view (x-z, y up)"), (0, 1, "side view (x-y)"))):
        if subject is not None and len(subject):
            ax.scatter(subject[:, hx], subject[:, vy], s=2, c="0.4", alpha=0.3, label="subject")
        for i, name in enumerate(rig.names):
            c = cmap(i % 10)
            ax.plot(centers[i, hx], centers[i, vy], "o", color=c, ms=8)
            ax.annotate("", xy=(centers[i, hx] + arrow * dirs[i, hx], centers[i, vy] + arrow * dirs[i, vy]),
                        xytext=(centers[i, hx], centers[i, vy]), arrowprops=dict(arrowstyle="->", color=c, lw=1.5))
            ax.annotate(name, (centers[i, hx], centers[i, vy]), xytext=(5, 5), textcoords="offset points",
                        fontsize=8, color=c)
        ax.set_xlabel(f"{'xyz'[hx]} (m)")
        ax.set_ylabel(f"{'xyz'[vy]} (m)")
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    if subject is not None and len(subject):
        axes[0].legend(loc="best", fontsize=8)
    return fig


def calibration_error_figure(per_camera_px: Mapping[str, float | np.ndarray]) -> Figure:
    """Calibration re-projection error per camera.

    per_camera_px: camera -> RMS error (px), or camera -> (N,) per-point errors (px), shown
    as their RMS with the individual errors scattered over the bar.
    """
    names = list(per_camera_px)
    values = [np.atleast_1d(np.asarray(per_camera_px[n], dtype=float)) for n in names]
    values = [v[np.isfinite(v)] for v in values]
    rms = np.array([np.sqrt(np.mean(v ** 2)) if v.size else np.nan for v in values])
    fig = Figure(figsize=(max(5.0, 1.0 * len(names) + 2), 4), layout="constrained")
    ax = fig.subplots()
    bars = ax.bar(names, np.nan_to_num(rms), color="#4c72b0", alpha=0.8)
    rng = np.random.default_rng(0)
    for i, v in enumerate(values):
        if v.size > 1:
            ax.scatter(i + rng.uniform(-0.25, 0.25, v.size), v, s=4, color="k", alpha=0.4)
    for bar, r in zip(bars, rms):
        ax.annotate("–" if not np.isfinite(r) else f"{r:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_ylabel("re-projection error, RMS (px)")
    ax.set_title("calibration error per camera")
    ax.grid(axis="y", alpha=0.3)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a figure atomically (format from the suffix: png, svg, pdf)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi, bbox_inches="tight")
    return path
