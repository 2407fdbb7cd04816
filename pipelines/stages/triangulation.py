"""Stage ``triangulation``: 3D keypoints (F, 23, 3) with robust view selection, limb constraints and
filtering, their reprojection errors and views used, and the pre-augmentation TRC (OpenSim frame).

``method: volumetric`` aggregates the 2D model's heatmaps when the keypoints2d stage kept them
(:class:`SyncedHeatmaps`), else Gaussians around the 2D keypoints."""
from __future__ import annotations

import logging

import numpy as np

from mv3d.errors import InputError
from mv3d.io import write_trc
from mv3d.io.heatmaps import HeatmapFile
from mv3d.skeleton import FLIP_INDEX, MV3D23, MV3D25, add_derived
from mv3d.triangulate import reconstruct
from mv3d.triangulate.swaps import find_swaps
from pipelines.context import Context
from pipelines.stage import Stage

log = logging.getLogger(__name__)


class SyncedHeatmaps:
    """The stored heatmaps on the synced time base (a ``mv3d.triangulate.volumetric.HeatmapSource``): for each
    synced time, camera c's frame nearest to it (its frame k was taken at ``offsets[c] + k / rates[c]``), with
    the left/right channels exchanged where the sync stage undid a label swap (``swaps`` (C, F, J) over the
    cameras' own frames)."""

    def __init__(self, file: HeatmapFile, cameras: list[str], times: np.ndarray, offsets: np.ndarray,
                 rates: np.ndarray, swaps: np.ndarray) -> None:
        self.file, self.cameras, self.times = file, cameras, times
        self.offsets, self.rates, self.swaps = offsets, rates, swaps

    def read(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps, to_image = [], []
        for c, cam in enumerate(self.cameras):
            src = np.rint((self.times[frames] - self.offsets[c]) * self.rates[c]).astype(int)
            m, a = self.file.read(cam, src)
            inside = (src >= 0) & (src < self.swaps.shape[1])
            sw = np.zeros(m.shape[:2], bool)
            sw[inside] = self.swaps[c, src[inside]]
            channel = np.where(sw, np.asarray(FLIP_INDEX), np.arange(m.shape[1]))
            maps.append(np.take_along_axis(m, channel[..., None, None], axis=1))
            to_image.append(a)
        return np.stack(maps), np.stack(to_image)


def stored_heatmaps(ctx: Context, cams: list[str], times: np.ndarray) -> SyncedHeatmaps | None:
    """The 2D model's heatmaps of every camera when the keypoints2d stage kept them, else None."""
    path = ctx.session.heatmaps_path(ctx.trial.name)
    if not path.is_file():
        return None
    file = HeatmapFile(path)
    if not set(cams) <= set(file.cameras):
        log.info("%s lacks heatmaps of camera(s) %s: Gaussians around the 2D keypoints instead", path,
                 ", ".join(sorted(set(cams) - set(file.cameras))))
        return None
    swaps = find_swaps(ctx.store.read("keypoints2d"))  # the sync stage's, on the cameras' own frames
    return SyncedHeatmaps(file, cams, times, ctx.store.read("sync_offsets"), ctx.store.read("sync_rates"), swaps)


def run_triangulation(ctx: Context) -> None:
    cfg = ctx.config.triangulation
    kp = ctx.store.read("keypoints2d_synced").copy()
    attrs = ctx.store.attrs("keypoints2d_synced")
    cams, fps = list(attrs["cameras"]), float(attrs["fps"])
    times = ctx.store.timestamps("keypoints2d_synced")
    low = kp[..., 2] < cfg.min_confidence
    kp[low] = np.nan
    kp[..., 2][low] = 0.0
    heatmaps = stored_heatmaps(ctx, cams, times) if cfg.method == "volumetric" else None
    rec = reconstruct(ctx.rig.subset(cams), kp, method=cfg.method, limb_constraints=cfg.limb_constraints,
                      filter=f"{cfg.filter}:{cfg.filter_cutoff_hz}" if cfg.filter_cutoff_hz else None, fps=fps,
                      max_gap=cfg.max_gap, heatmaps=heatmaps)
    points = rec.points
    if not np.isfinite(points).all(-1).any(-1).any():
        raise InputError(f"trial {ctx.trial.name}: no frame could be triangulated; check that the cameras see the "
                         f"subject and that the calibration matches the videos")
    ctx.store.write_many({
        "points3d": (points, {"units": "m", "joint_names": list(MV3D23), "timestamps": times,
                              "frame": "calibration", "method": cfg.method,
                              "evidence": "heatmaps" if heatmaps is not None else "keypoints"}),
        "reprojection_errors": (rec.errors, {"units": "px", "cameras": cams, "joint_names": list(MV3D23)}),
        "views_used": (rec.used.astype(np.uint8), {"cameras": cams, "joint_names": list(MV3D23)}),
    })
    out = ctx.session.pre_augmentation_trc(ctx.trial.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_trc(out, ctx.rig.to_opensim(add_derived(points)), list(MV3D25), times, units="m")


STAGE = Stage("triangulation", run_triangulation, inputs=("keypoints2d_synced", "keypoints2d"),
              outputs=("points3d", "trc_pre"), config_keys=("triangulation",), description="3D keypoints")
