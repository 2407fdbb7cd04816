"""Follow one person through a camera's video with BlazePose, as MediaPipe's tracking graph does.

The region of frame t+1 comes from frame t's auxiliary alignment landmarks (hip centre and body-scale point,
``pose_landmarks_to_roi``); the detector runs only when there is no region yet, when the pose presence drops
below ``min_presence`` or when the new region jumps away from the one the crop was taken from (the network
followed something else). The subject is the largest person in the first frame that shows anybody, among the
people ``BlazePose.find_people`` finds through overlapping windows, each confirmed by its own landmarks (a person
under about a third of a wide frame's height is too small for the detector on the whole frame, and a person not
much larger can come out of it with a region turned over); after a loss, the detection nearest to where the
subject was, and only after ``reacquire_after`` frames without one, the largest again (as ``mv3d.io.tracking``
does); where the whole frame shows nobody, the windows are searched when the subject is lost, then at most
once every ``windows_every`` frames.
Bystanders are ignored. The detector runs on the whole first batch at once; the landmark network, whose region
depends on the previous frame, one frame at a time.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mv3d.errors import InputError
from mv3d.pose2d.blazepose.estimator import TILE_LEVELS, BlazePose, Landmarks
from mv3d.pose2d.blazepose.mapping import mv3d23_heatmaps
from mv3d.pose2d.blazepose.regions import tile_regions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackParams:
    """max_shift: a new region whose centre moved by more than this fraction of the previous region's side, or
    whose side changed by more than ``max_scale`` times, is a jump; near: a detection counts as the subject when
    its region centre lies within this many previous-region sides; reacquire_after: frames without the subject
    before the largest person is taken instead; detect_every_frame: run the detector on every frame (the subject
    still chosen by nearness) instead of following the landmarks; windows_every: where the whole frame shows nobody
    (before the subject is found, or while it is lost), the windows (for people small in the frame) are searched
    on the frame the subject was lost and then at most once every this-many frames (a search costs about 35
    detector runs and the landmarks of each person found: 0.5-1.5 s on a CPU core)."""

    max_shift: float = 0.5
    max_scale: float = 1.6
    near: float = 0.75
    reacquire_after: int = 30
    detect_every_frame: bool = False
    windows_every: int = 15


@dataclass
class TrackState:
    region: Tensor | None = None        # (4,) region for the next frame
    last_region: Tensor | None = None   # (4,) where the subject was last seen
    missed: int = 0
    frame: int = 0                      # index of the frame being looked at, from the video's start
    windows_at: int | None = None       # the frame the windows were last searched on


def pick_subject(regions: Tensor, state: TrackState, params: TrackParams) -> Tensor | None:
    """The subject's region (4,) among a frame's people's regions (P, 4), or None: the one nearest to where the
    subject was last seen (within ``near``), or, with no recent sighting, the largest."""
    if not len(regions):
        return None
    if state.last_region is not None and state.missed < params.reacquire_after:
        dist = torch.linalg.norm(regions[:, :2] - state.last_region[:2], dim=-1) / state.last_region[2]
        best = int(torch.argmin(dist))
        return regions[best] if float(dist[best]) <= params.near * (1 + state.missed / 10) else None
    return regions[int(torch.argmax(regions[:, 2]))]


def is_jump(old: Tensor, new: Tensor, params: TrackParams) -> bool:
    """True when region ``new`` (4,) left region ``old`` (4,): centre moved too far or size changed too much."""
    shift = float(torch.linalg.norm(new[:2] - old[:2])) / float(old[2])
    ratio = float(new[2] / old[2])
    return not np.isfinite(shift) or shift > params.max_shift or not 1 / params.max_scale < ratio < params.max_scale


class VideoTracker:
    """Tracks one subject over successive frame batches of one camera (see the module docstring)."""

    def __init__(self, bp: BlazePose, params: TrackParams | None = None, heatmaps: bool = False):
        self.bp = bp
        self.params = params or TrackParams()
        self.heatmaps = heatmaps
        self.state = TrackState()
        self.started = False

    def _windows_due(self, now: bool = False) -> bool:
        """Whether the windows may be searched on the current frame: ``now`` (the subject was just lost), or the
        first time, or ``windows_every`` frames after the last search; if so, marks it searched."""
        due = (now or self.state.windows_at is None
               or self.state.frame - self.state.windows_at >= self.params.windows_every)
        if due:
            self.state.windows_at = self.state.frame
        return due

    def _people_through_windows(self, frame: np.ndarray) -> Tensor:
        """Regions (P, 4) of the distinct people ``BlazePose.find_people`` finds in one frame through its windows,
        coarse to fine. A finer level is searched only while no person found fills a window of the coarser one:
        whoever those windows missed is smaller than them, so it cannot be the largest person (the subject)."""
        regions = torch.zeros((0, 4), dtype=torch.float64)
        for k, level in enumerate(TILE_LEVELS, 1):
            if not len(tile_regions((frame.shape[1], frame.shape[0]), (level,))):
                break                                   # no window at this level: nothing more to see
            landmarks, people = self.bp.find_people(frame, TILE_LEVELS[:k])
            if len(people):
                regions = torch.from_numpy(landmarks.regions[people])
                if float(regions[:, 2].max()) >= level * max(frame.shape[:2]):
                    break
        return regions

    def _first_regions(self, frames: list[np.ndarray]) -> list[Tensor | None]:
        """The subject's region in the first frame of a batch that shows anybody (None elsewhere): the largest of
        the people found there through the windows, each confirmed by its own landmarks (the whole-frame detector
        alone can return a region turned over or scaled wrongly for a person small in the frame; on a back view
        the landmark network then draws a small body onto the subject's back)."""
        detected = [len(d) > 0 for d in self.bp.detect(frames)]
        if not any(detected) and not self._windows_due():
            return [None] * len(frames)
        first = detected.index(True) if any(detected) else 0    # nobody at the whole-frame scale: frame 0
        people = self._people_through_windows(frames[first])
        if not len(people):
            return [None] * len(frames)
        self.started = True
        subject = people[int(torch.argmax(people[:, 2]))]
        self.state.last_region = subject
        return [None] * first + [subject] + [None] * (len(frames) - first - 1)

    def step(self, frame: np.ndarray, region: Tensor | None, detected: bool = False,
             ) -> tuple[Landmarks | None, bool]:
        """Landmarks of the subject in one frame (None when not found) and whether its region came from the
        detector. ``region`` (4,) is the tracked region or a detection's (``detected``); None detects first."""
        if region is None:
            people = self.bp.regions_of(self.bp.detect([frame])[0])
            if not len(people) and self._windows_due(now=self.state.missed == 0):
                people = self._people_through_windows(frame)
            region = pick_subject(people, self.state, self.params)
            detected = True
            if region is None:
                return None, detected
        lm = self.bp.landmarks([frame], region[None], heatmaps=self.heatmaps)
        if lm.pose_presence[0] >= self.bp.min_presence and (detected or not is_jump(region, lm.next_regions()[0],
                                                                                   self.params)):
            return lm, detected
        if detected:
            return None, detected
        return self.step(frame, None)

    def run(self, frames: np.ndarray) -> tuple[list[Landmarks | None], np.ndarray]:
        """Results for a batch of frames (B, H, W, 3) uint8 BGR: per frame Landmarks (1 region) or None, and
        whether the detector ran (B,)."""
        images = list(frames)
        seeds = [None] * len(images)
        start = self.state.frame
        if not self.started:
            seeds = self._first_regions(images)
        out, detected = [], np.zeros(len(images), bool)
        for t, frame in enumerate(images):
            self.state.frame = start + t
            if not self.started:
                out.append(None)
                continue
            if self.params.detect_every_frame:
                self.state.region = None
            tracked = self.state.region is not None
            lm, detected[t] = self.step(frame, self.state.region if tracked else seeds[t], not tracked and
                                        seeds[t] is not None)
            out.append(lm)
            if lm is None:
                if self.state.missed == 0:
                    log.debug("subject lost at batch frame %d", t)
                self.state.region = None
                self.state.missed += 1
            else:
                self.state.region = lm.next_regions()[0]
                self.state.last_region = torch.from_numpy(lm.regions[0])
                self.state.missed = 0
        self.state.frame = start + len(images)
        return out, detected


def _collect(results: list[Landmarks | None], heatmaps: bool) -> dict[str, np.ndarray]:
    """Arrays of one batch's per-frame results (see :func:`track_video`)."""
    f = len(results)
    out = {"keypoints": np.full((f, 23, 3), np.nan), "landmarks": np.full((f, 39, 5), np.nan),
           "pose_presence": np.zeros(f), "regions": np.full((f, 4), np.nan)}
    out["keypoints"][..., 2] = 0.0
    if heatmaps:
        out["heatmaps"] = np.full((f, 23, 64, 64), np.nan, np.float16)
        out["heatmap_to_image"] = np.full((f, 2, 3), np.nan)
    for t, lm in enumerate(results):
        if lm is None:
            continue
        out["keypoints"][t] = lm.mv3d23()[0]
        out["landmarks"][t] = np.concatenate([lm.xy[0], np.stack([lm.visibility[0], lm.presence[0],
                                                                  lm.heatmap_peak[0]], -1)], -1)
        out["pose_presence"][t] = lm.pose_presence[0]
        out["regions"][t] = lm.regions[0]
        if heatmaps:
            out["heatmaps"][t] = mv3d23_heatmaps(lm.heatmaps[:1])[0]
            out["heatmap_to_image"][t] = lm.heatmap_to_image[0]
    return out


def track_video(bp: BlazePose, batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
                params: TrackParams | None = None, heatmaps: bool = False, where: str = "video",
                ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One subject followed through a camera's video.

    batches: (indices (B,), times (B,), frames (B, H, W, 3) uint8 BGR), as ``mv3d.video.frames`` yields them.
    Returns MV3D23 keypoints (F, 23, 3) (NaN, confidence 0 where the subject was not found), frame indices (F,)
    and extras: ``landmarks`` (F, 39, 5) x, y, visibility, presence, heatmap peak of all BlazePose landmarks,
    ``pose_presence`` (F,), ``regions`` (F, 4), ``detected`` (F,) whether the detector ran, and with
    ``heatmaps``: ``heatmaps`` (F, 23, 64, 64) float16 probabilities of the MV3D23 joints
    (``mapping.mv3d23_heatmaps``: NaN for the derived joints and where the subject was not found) and
    ``heatmap_to_image`` (F, 2, 3) affine maps from heatmap cells (column, row, 1) to image pixels.
    """
    tracker = VideoTracker(bp, params, heatmaps)
    parts, indices, detected = [], [], []
    for idx, _times, frames in batches:
        try:
            res, det = tracker.run(frames)
        except InputError as exc:
            raise InputError(f"{where}, frames {int(idx[0])}-{int(idx[-1])}: {exc}") from exc
        parts.append(_collect(res, heatmaps))
        indices.append(np.asarray(idx))
        detected.append(det)
    if not indices:
        raise InputError(f"{where}: the video yielded no frames; check that it is a readable, non-empty video")
    extras = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    extras["detected"] = np.concatenate(detected)
    return extras.pop("keypoints"), np.concatenate(indices), extras
