"""Stage ``triangulation``: 3D keypoints (F, 23, 3) with robust view selection, limb constraints and
filtering, their reprojection errors and views used, and the pre-augmentation TRC (OpenSim frame)."""
from __future__ import annotations

import numpy as np

from mv3d.errors import InputError
from mv3d.io import write_trc
from mv3d.skeleton import MV3D23, MV3D25, add_derived
from mv3d.triangulate import reconstruct
from pipelines.context import Context
from pipelines.stage import Stage


def run_triangulation(ctx: Context) -> None:
    cfg = ctx.config.triangulation
    kp = ctx.store.read("keypoints2d_synced").copy()
    attrs = ctx.store.attrs("keypoints2d_synced")
    cams, fps = list(attrs["cameras"]), float(attrs["fps"])
    times = ctx.store.timestamps("keypoints2d_synced")
    low = kp[..., 2] < cfg.min_confidence
    kp[low] = np.nan
    kp[..., 2][low] = 0.0
    rec = reconstruct(ctx.rig.subset(cams), kp, method=cfg.method, limb_constraints=cfg.limb_constraints,
                      filter=f"butterworth:{cfg.filter_cutoff_hz}" if cfg.filter_cutoff_hz else None, fps=fps,
                      max_gap=cfg.max_gap)
    points = rec.points
    if not np.isfinite(points).all(-1).any(-1).any():
        raise InputError(f"trial {ctx.trial.name}: no frame could be triangulated; check that the cameras see the "
                         f"subject and that the calibration matches the videos")
    ctx.store.write_many({
        "points3d": (points, {"units": "m", "joint_names": list(MV3D23), "timestamps": times,
                              "frame": "calibration"}),
        "reprojection_errors": (rec.errors, {"units": "px", "cameras": cams, "joint_names": list(MV3D23)}),
        "views_used": (rec.used.astype(np.uint8), {"cameras": cams, "joint_names": list(MV3D23)}),
    })
    out = ctx.session.pre_augmentation_trc(ctx.trial.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_trc(out, ctx.rig.to_opensim(add_derived(points)), list(MV3D25), times, units="m")


STAGE = Stage("triangulation", run_triangulation, inputs=("keypoints2d_synced",), outputs=("points3d", "trc_pre"),
              config_keys=("triangulation",), description="3D keypoints")
