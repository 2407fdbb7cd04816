"""The sections of a trial report, one function each: ``section(ctx, report)``.

Each reads what the stages wrote (store arrays, TRC/MOT/CSV files), adds its HTML and
figures to the report, and raises warnings for what a user must look at.
"""
from __future__ import annotations

import tempfile
from html import escape
from pathlib import Path

import numpy as np

from mv3d.io import read_mot
from mv3d.kinematics.compare import is_translation
from mv3d.plotting import pyplot
from mv3d.skeleton import MV3D23, add_derived
from mv3d.video.frames import iter_frames
from pipelines import figures, media
from pipelines.context import Context
from pipelines.report import Report, figure_to_data_uri, file_to_data_uri, image_to_data_uri, read_csv_rows, table_html

LOW_SYNC_CONFIDENCE = 0.5
HIGH_REPROJECTION_PX = 15.0
HIGH_IK_ERROR_M = 0.04
FEW_INLIERS = 0.5


def cameras(ctx: Context, rep: Report) -> None:
    rig = ctx.rig
    rows = [[c.name, f"{c.size[0]}x{c.size[1]}", c.K[0, 0], c.K[1, 1], *np.round(c.center, 3)] for c in rig]
    body = table_html(["camera", "image", "fx (px)", "fy (px)", "centre x (m)", "y (m)", "z (m)"], rows, "{:.1f}")
    points = ctx.store.read("points3d") if ctx.has_output("points3d") else None
    fig = figures.camera_layout_figure(rig, points)
    rep.add("Cameras and calibration", body + keypoint_source_html(ctx)
            + f'<img alt="camera layout" src="{figure_to_data_uri(fig)}">')
    if ctx.has_output("reprojection_errors"):
        err, used = ctx.store.read("reprojection_errors"), ctx.store.read("views_used").astype(bool)
        cams = list(ctx.store.attrs("reprojection_errors")["cameras"])
        for c, name in enumerate(cams):
            seen = np.isfinite(err[c])
            if seen.sum() and used[c][seen].mean() < FEW_INLIERS:
                rep.warn(f"camera {name}: only {100 * used[c][seen].mean():.0f} % of its detections agree with the "
                         f"other views; it was mostly excluded (check its calibration and sync)")


def keypoint_source_html(ctx: Context) -> str:
    """Where the 2D keypoints came from (imported detections or which 2D model) and which joints the model
    derived instead of detecting them."""
    if not ctx.has_output("keypoints2d"):
        return ""
    attrs = ctx.store.attrs("keypoints2d")
    if attrs.get("source") != "network":
        return f"<p class='note'>2D keypoints: imported {escape(ctx.config.keypoints2d.format)} detections.</p>"
    model = attrs.get("model", ctx.config.keypoints2d.model)
    made_by = attrs.get("model_name", model)
    text = f"2D keypoints: the 2D model {model}" + (f" ({made_by})" if made_by != model else "") + "."
    derived = attrs.get("derived_joints") or []
    if derived:
        rules = attrs.get("derivation") or [""] * len(derived)
        text += " Derived, not detected: " + "; ".join(f"{j} = {r}" for j, r in zip(derived, rules)) + "."
    return f"<p class='note'>{escape(text)}</p>"


def sync(ctx: Context, rep: Report) -> None:
    if not ctx.has_output("sync_offsets"):
        return
    offsets = ctx.store.read("sync_offsets")
    conf = ctx.store.read("sync_confidence")
    cams = list(ctx.store.attrs("sync_offsets")["cameras"])
    fps = float(ctx.store.attrs("keypoints2d")["fps"])
    rows = [[n, 1000 * o, o * fps, c] for n, o, c in zip(cams, offsets, conf)]
    rep.add("Camera synchronisation",
            table_html(["camera", "offset (ms)", "offset (frames)", "confidence"], rows, "{:.2f}"))
    rep.add_figure("Sync offsets", figures.sync_figure(dict(zip(cams, offsets)), dict(zip(cams, conf)), fps))
    for n, c in zip(cams[1:], conf[1:]):
        if c < LOW_SYNC_CONFIDENCE:
            rep.warn(f"camera {n}: sync confidence {c:.2f} is low; the movement may not determine the offset")


def overlays(ctx: Context, rep: Report) -> None:
    """Detected 2D keypoints and re-projected 3D points on a frame of each camera's video."""
    if not (ctx.has_output("keypoints2d") and ctx.has_output("points3d")) or not ctx.trial.videos:
        return
    kp = ctx.store.read("keypoints2d")
    cams = list(ctx.store.attrs("keypoints2d")["cameras"])
    points = ctx.store.read("points3d")
    valid = np.flatnonzero(np.isfinite(points).all(-1).all(-1))
    if not valid.size:
        return
    frame = int(valid[len(valid) // 2])
    rig = ctx.rig.subset(cams)
    reproj = rig.project(points[frame])
    html = []
    for c, cam in enumerate(ctx.trial.cameras):
        video = ctx.trial.videos.get(cam)
        if video is None:
            continue
        for k, (index, _, image) in enumerate(iter_frames(video)):
            if index >= frame:
                break
        else:
            continue
        img = media.overlay_frame(image, kp[c, frame], reproj[c])
        scale = 480 / max(img.shape[:2])
        import cv2

        small = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        html.append(f'<img alt="{cam} frame {frame}" style="max-width:32%" src="{image_to_data_uri(small)}">')
    if html:
        rep.add("2D keypoints on the videos",
                f"<p class='note'>Frame {frame}: detected keypoints (left blue, right red) and the re-projected "
                f"3D points (yellow rings).</p>" + "".join(html))


def reprojection(ctx: Context, rep: Report) -> None:
    if not ctx.has_output("reprojection_errors"):
        return
    err = ctx.store.read("reprojection_errors")
    used = ctx.store.read("views_used").astype(bool)
    cams = list(ctx.store.attrs("reprojection_errors")["cameras"])
    rows = []
    for c, name in enumerate(cams):
        e = err[c][used[c] & np.isfinite(err[c])]
        rows.append([name, np.median(e) if e.size else np.nan, np.percentile(e, 90) if e.size else np.nan,
                     100 * used[c].sum() / max(np.isfinite(err[c]).sum(), 1)])
        if e.size and np.median(e) > HIGH_REPROJECTION_PX:
            rep.warn(f"camera {name}: median reprojection error {np.median(e):.1f} px is high")
    rep.add("Reprojection error", table_html(["camera", "median (px)", "90th pct (px)", "views used (%)"], rows))
    rep.add_figure("Reprojection error per camera and joint",
                   figures.reprojection_error_figure(np.where(used, err, np.nan), cams, list(MV3D23)))


def bones(ctx: Context, rep: Report) -> None:
    if not ctx.has_output("points3d"):
        return
    points = ctx.store.read("points3d")
    times = ctx.store.timestamps("points3d")
    rep.add_figure("Bone-length stability", figures.bone_length_figure(points, times),
                   "Each bone's length over the trial; constant lengths mean a consistent reconstruction.")


def skeleton(ctx: Context, rep: Report) -> None:
    if not ctx.has_output("points3d"):
        return
    points = ctx.rig.to_opensim(add_derived(ctx.store.read("points3d")))
    times = ctx.store.timestamps("points3d")
    fps = 1.0 / np.median(np.diff(times)) if len(times) > 1 else 30.0
    stride = max(1, int(round(fps / 15)))
    with tempfile.TemporaryDirectory() as tmp:
        gif = Path(tmp) / "skeleton.gif"
        media.skeleton_animation(points, gif, fps=fps, up_axis="y", stride=stride)
        rep.add("3D skeleton", f'<img alt="3D skeleton animation" src="{file_to_data_uri(gif)}">'
                "<p class='note'>Front and side views of the triangulated keypoints (OpenSim frame).</p>")


def ik_errors(ctx: Context, rep: Report) -> None:
    plt = pyplot()
    path = ctx.session.ik_errors_csv(ctx.trial.name)
    if not path.is_file():
        return
    rows = read_csv_rows(path)
    t = np.array([float(r["time"]) for r in rows])
    rms = np.array([float(r["rms_error_m"]) for r in rows])
    mx = np.array([float(r["max_error_m"]) for r in rows])
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t, 1000 * rms, label="RMS")
    ax.plot(t, 1000 * mx, label="max", alpha=0.7)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("marker error (mm)")
    ax.legend()
    ax.grid(alpha=0.3)
    rep.add_figure("IK marker errors", fig,
                   f"Mean RMS {1000 * np.nanmean(rms):.1f} mm, largest {1000 * np.nanmax(mx):.1f} mm.")
    if np.nanmean(rms) > HIGH_IK_ERROR_M:
        rep.warn(f"IK marker error is large (mean RMS {1000 * np.nanmean(rms):.0f} mm): check scaling and markers")


ANGLE_GROUPS = {
    "Pelvis": ["pelvis_tilt", "pelvis_list", "pelvis_rotation"],
    "Hips": ["hip_flexion_r", "hip_flexion_l", "hip_adduction_r", "hip_adduction_l"],
    "Knees and ankles": ["knee_angle_r", "knee_angle_l", "ankle_angle_r", "ankle_angle_l"],
    "Trunk and arms": ["lumbar_extension", "arm_flex_r", "arm_flex_l", "elbow_flex_r", "elbow_flex_l"],
}


def joint_angles(ctx: Context, rep: Report) -> None:
    plt = pyplot()
    path = ctx.session.kinematics_mot(ctx.trial.name)
    if not path.is_file():
        return
    mot = read_mot(path)
    fig, axes = plt.subplots(1, len(ANGLE_GROUPS), figsize=(16, 3.4))
    for ax, (title, names) in zip(axes, ANGLE_GROUPS.items()):
        for n in names:
            if n in mot.columns:
                ax.plot(mot.times, mot.values[:, mot.columns.index(n)], label=n)
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("angle (deg)" if mot.in_degrees else "angle (rad)")
    rep.add_figure("Joint angles (inverse kinematics)", fig, f"From {path.name}.")


def comparison(ctx: Context, rep: Report) -> None:
    csv_path = ctx.session.comparison_csv(ctx.trial.name)
    if not csv_path.is_file():
        return
    rows = read_csv_rows(csv_path)
    cols = ["rmse", "mae", "bias", "rom_error", "pearson_r", "cmc"]
    angle_rows = [[r["coordinate"]] + [float(r[k]) for k in cols] for r in rows if not is_translation(r["coordinate"])]
    trans_rows = [[r["coordinate"]] + [float(r[k]) for k in cols] for r in rows if is_translation(r["coordinate"])]
    fig_dir = ctx.session.work_dir() / f"{ctx.trial.name}_comparison" / "figures"
    body = ("<p>Joint angles (degrees):</p>" + table_html(["coordinate", *cols], angle_rows) +
            ("<p>Pelvis translations (metres):</p>" + table_html(["coordinate", *cols], trans_rows, "{:.4f}")
             if trans_rows else ""))
    summary = fig_dir / "summary.png"
    if summary.is_file():
        body += f'<img alt="comparison summary" src="{file_to_data_uri(summary)}">'
    for name in ("knee_angle_r", "hip_flexion_r", "ankle_angle_r"):
        f = fig_dir / f"{name}.png"
        if f.is_file():
            body += f'<img alt="{name}" style="max-width:32%" src="{file_to_data_uri(f)}">'
    rep.add("Comparison with mocap", body)
