"""Pick one person out of the several detected per frame and follow them through a video.

Detections of a camera come as ``(F, P, J, 3)``: frames, people (padded with NaN), joints,
(x, y, conf); missing joints are NaN with confidence 0. The person to follow is the one with
the largest bounding box of confident joints in the first frames; from there they are
tracked frame to frame (forward and backward) as the detection whose joints lie closest to
the person's last known joints, relative to the person's size; each joint is compared with
its own and its mirror joint's last position, so a left/right label swap of the detector
(MV3D23 joints) does not make the person look far away and lose the track to someone else
nearby. The other people of the previous frame are remembered: a detection closer to one of
them than to the person is that other person, so a frame where the person is not detected
does not hand the track to a passer-by next to them. A frame where nobody is
close enough is left empty and the search widens while the person stays lost. Detections
of the same person split into fragments (e.g. upper and lower body as two "people") are
merged when their joints do not overlap.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from mv3d.skeleton import FLIP_INDEX, MV3D23

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingParams:
    """Thresholds of ``select_person``.

    min_conf: joints below it do not count for the initial bounding box.
    min_joints: a detection with fewer valid joints is ignored.
    init_frames: the first frames searched for the largest person.
    max_jump: largest accepted median joint displacement per frame, in units of the
    person's bounding-box diagonal (0.1: far above real motion, ~0.02 at 60 fps in the
    Pose2Sim demo); it widens by one step per consecutive missed frame, up to
    ``max_missed_widen`` steps, so a person lost for a while is found again nearby.
    min_separation: a detection this close to the person (same units) is a duplicate of them, not
    another person whose track would exclude detections near it.
    """

    min_conf: float = 0.3
    min_joints: int = 4
    init_frames: int = 10
    max_jump: float = 0.1
    max_missed_widen: int = 5
    min_separation: float = 0.03


def _bbox(pose: np.ndarray, min_conf: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Bounding boxes of poses (..., J, 3): returns area (...) and diagonal (...), NaN if < 2 joints."""
    ok = pose[..., 2] > min_conf
    xy = np.where(ok[..., None], pose[..., :2], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        span = np.nanmax(xy, axis=-2) - np.nanmin(xy, axis=-2)
    span = np.where((ok.sum(-1) >= 2)[..., None], span, np.nan)
    return span[..., 0] * span[..., 1], np.hypot(span[..., 0], span[..., 1])


def _median_distance(cands: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Median over shared joints of |cand - ref|: cands (P, J, 3), ref (J, 3) -> (P,), NaN if none shared.

    With the 23 MV3D23 joints each joint's distance is the smaller one to the joint and to its
    left/right mirror in ``ref``: label swaps (whole body or legs only) cost nothing.
    """
    d = np.linalg.norm(cands[..., :2] - ref[None, :, :2], axis=-1)
    if ref.shape[0] == len(MV3D23):
        mirrored = np.linalg.norm(cands[..., :2] - ref[None, FLIP_INDEX, :2], axis=-1)
        d = np.where(np.isfinite(d) & np.isfinite(mirrored), np.minimum(d, mirrored), d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(d, axis=-1)


def _others(frame: np.ndarray, keep: np.ndarray, merged: np.ndarray, ref: np.ndarray, diag: float,
            p: TrackingParams) -> np.ndarray:
    """The other people of a frame (K, J, 3): kept detections not merged into the subject and at least
    ``p.min_separation`` from the subject's joints (nearer ones are duplicates of the subject)."""
    sep = _median_distance(frame, ref) / diag
    return frame[keep & ~merged & ~(sep < p.min_separation)]


def _closer_to_others(frame: np.ndarray, dist: np.ndarray, others: np.ndarray, diag: float) -> np.ndarray:
    """(P,) True where a detection lies closer to one of the other people's last poses than ``dist``,
    its distance to the subject: it is that other person, even when the subject is not detected."""
    if len(others) == 0:
        return np.zeros(len(frame), bool)
    d = np.stack([_median_distance(frame, o) for o in others]) / diag  # (K, P)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(d, axis=0) < dist


def _track(cands: np.ndarray, order: np.ndarray, start_pose: np.ndarray, p: TrackingParams,
           out: np.ndarray) -> None:
    """Follow the person from ``start_pose`` through the frames in ``order``, writing into out (F, J, 3).

    The other people seen beside the subject are followed too, so that a frame where the subject is
    missed does not hand the track to someone standing nearby."""
    ref = start_pose.copy()  # last known position of each joint
    others = np.empty((0,) + ref.shape)
    missed = 0
    for f in order:
        frame = cands[f]
        keep = (frame[..., 2] > 0).sum(-1) >= p.min_joints
        if not keep.any():
            missed += 1
            continue
        _, diag = _bbox(ref)
        dist = _median_distance(frame, ref) / diag
        taken = keep & _closer_to_others(frame, dist, others, diag)
        dist[~keep | taken] = np.nan
        limit = p.max_jump * (1 + min(missed, p.max_missed_widen))
        used = dist < limit
        if not used.any():
            missed += 1
            others = frame[taken]  # only people already known as others: the subject may be among the rest
            continue
        best = int(np.nanargmin(dist))
        pose = frame[best].copy()
        merged = np.arange(len(frame)) == best
        # Fragments of the same person: close to the reference and on other joints.
        for other in np.flatnonzero(used):
            frag = frame[other]
            have, add = pose[:, 2] > 0, frag[:, 2] > 0
            if other != best and (have & add).sum() <= 1:
                pose[add & ~have] = frag[add & ~have]
                merged[other] = True
        out[f] = pose
        seen = pose[:, 2] > 0
        ref[seen] = pose[seen]
        others = _others(frame, keep, merged, ref, diag, p)
        missed = 0


def select_person(cands: np.ndarray, params: TrackingParams | None = None) -> np.ndarray:
    """The keypoints of one person followed through the video.

    cands: (F, P, J, 3) detections per frame (NaN / conf 0 where absent).
    Returns (F, J, 3): the chosen person's joints, NaN with confidence 0 in frames where
    they were not found (all NaN if nobody is ever detected).
    """
    p = params or TrackingParams()
    n_frames, _, n_joints, _ = cands.shape
    out = np.full((n_frames, n_joints, 3), np.nan)
    out[..., 2] = 0.0
    if cands.shape[1] == 0:
        return out
    area, _ = _bbox(cands, p.min_conf)  # (F, P)
    enough = (cands[..., 2] > p.min_conf).sum(-1) >= p.min_joints
    area = np.where(enough, area, np.nan)
    found = np.flatnonzero(np.isfinite(area).any(axis=1))
    if found.size == 0:
        return out
    first = found[found < found[0] + p.init_frames]
    start = first[np.argmax(np.nanmax(area[first], axis=1))]
    who = int(np.nanargmax(area[start]))
    log.debug("select_person: start at frame %d with detection %d", start, who)
    start_pose = cands[start, who]
    _track(cands, np.arange(start, n_frames), start_pose, p, out)
    _track(cands, np.arange(start - 1, -1, -1), out[start], p, out)
    return out
