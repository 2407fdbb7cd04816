"""Camera poses from one board placement seen by every camera (IPPE), with its two-fold ambiguity resolved.

World frame = board frame (:mod:`calibration.board`): origin at the first inner corner,
x along the corner rows, y along the columns, z = x cross y pointing away from the cameras
(into the floor or the wall). This is OpenCap's world frame. ``placement`` says how the
board lay — "ground" (flat on the floor) or "backwall" (vertical) — and gives the rig's
``R_to_opensim`` (:func:`calibration.frames.opensim_rotation_for_board`): OpenSim Y up is
the board normal towards the cameras on the ground and the cameras' image-up on the wall.

A planar target seen by one camera has two poses that explain the corners almost equally
well when the board is small or far (the tilt mirrored about the line of sight). IPPE
returns both (``cv2.solvePnPGeneric``). Each camera's choice is made, in this order, by:
(1) the board seen from its printed side (camera centre at z < 0); (2) a clear reprojection
winner (the other solution's RMS over ``clear_ratio`` x the best); (3) for the remaining
cameras, consistency across cameras: with extra correspondences seen by several cameras
(e.g. a person's keypoints or the board elsewhere), the combination with the smallest
multi-view reprojection error (OpenCap's approach); otherwise, for a board on the ground, the
solution whose image-up direction points along the floor normal (tripods stand upright: right in
120 of 120 simulated far views, where the lower reprojection error alone was wrong in 34).
For a board on the wall the two poses differ by a mirrored yaw that the up direction cannot
tell apart; without correspondences the lower reprojection error is kept and a warning logged.
"""
from __future__ import annotations

import itertools
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from calibration.board import Checkerboard
from calibration.frames import opensim_rotation_for_board
from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.triangulate.algebraic import triangulate_dlt

log = logging.getLogger(__name__)


@dataclass
class PoseCandidates:
    """IPPE solutions of one camera: R (S, 3, 3) board->camera, t (S, 3) m, rms (S,) px, sorted by rms."""

    R: np.ndarray
    t: np.ndarray
    rms: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        """Camera centres (S, 3) in the board frame."""
        return -np.einsum("sji,sj->si", self.R, self.t)


def board_pose_candidates(camera: Camera, corners: np.ndarray, board: Checkerboard) -> PoseCandidates:
    """Both IPPE board poses for one view. corners: (N, 2) distorted pixels."""
    import cv2

    obj = board.object_points()
    n, R, t, err = cv2.solvePnPGeneric(obj, corners.reshape(-1, 1, 2).astype(np.float64), camera.K, camera.dist,
                                       flags=cv2.SOLVEPNP_IPPE)
    Rs, ts, rms = [], [], []
    for rv, tv in zip(R, t):
        Rm = cv2.Rodrigues(rv)[0]
        proj = cv2.projectPoints(obj, rv, tv, camera.K, camera.dist)[0].reshape(-1, 2)
        Rs.append(Rm)
        ts.append(tv.ravel())
        rms.append(np.sqrt(np.mean(np.sum((proj - corners.reshape(-1, 2)) ** 2, axis=1))))
    order = np.argsort(rms)
    return PoseCandidates(np.array(Rs)[order], np.array(ts)[order], np.array(rms)[order])


@dataclass
class ExtrinsicsResult:
    """rig: the calibrated cameras (world = board frame); choice: (C,) index of the IPPE
    solution used; reason: (C,) how it was chosen; rms: (C,) board reprojection px;
    rms_other: (C,) px of the rejected solution (NaN if none); ambiguous: (C,) bool, the
    camera's two solutions fit the corners alike (the choice came from rule (3))."""

    rig: CameraRig
    choice: np.ndarray
    reason: list[str]
    rms: np.ndarray
    rms_other: np.ndarray
    ambiguous: np.ndarray


def pose_options(candidates: PoseCandidates, name: str, clear_ratio: float = 2.0) -> tuple[list[int], str]:
    """The IPPE solutions still in play for one camera after rules (1) and (2), and why.

    Returns (indices into ``candidates``, reason); two indices mean the camera is ambiguous
    (reason ""). Raises InputError when every solution sees the board from behind.
    """
    pc = candidates
    front = [s for s in range(len(pc.rms)) if pc.centers[s, 2] < 0]
    if not front:
        raise InputError(f"camera {name!r} sees the board from behind in every pose solution; "
                         "the corners may be ordered inconsistently (use a board with cols + rows odd)")
    if len(front) == 1:
        return front, ("front side" if len(pc.rms) > 1 else "unique")
    if pc.rms[front[1]] > clear_ratio * max(pc.rms[front[0]], 1e-3):
        return [front[0]], f"reprojection {pc.rms[front[0]]:.2f} vs {pc.rms[front[1]]:.2f} px"
    return front[:2], ""


def _multiview_error(cams: list[Camera], points2d: np.ndarray) -> float:
    """Median reprojection error (px) of correspondences (C, N, 2) (NaN = unseen) after DLT."""
    rig = CameraRig(cams)
    conf = np.isfinite(points2d).all(-1).astype(float)
    kp = np.concatenate([np.nan_to_num(points2d), conf[..., None]], axis=-1)
    kp[conf == 0, :2] = np.nan
    _, _, err = triangulate_dlt(rig, kp)
    return float(np.nanmedian(err))


def calibrate_extrinsics(cameras: list[Camera], corners: list[np.ndarray | None], board: Checkerboard,
                         placement: str = "ground", correspondences: np.ndarray | None = None,
                         clear_ratio: float = 2.0) -> ExtrinsicsResult:
    """Poses of C cameras (intrinsics known) from the board's corners in one simultaneous view each.

    corners: per camera (N, 2) pixels or None where the board was not found;
    correspondences: optional (C, M, 2) pixels of M other points (NaN where unseen) used to
    resolve ambiguous cameras. Returns the rig in the board frame with R_to_opensim set.
    """
    missing = [cam.name for cam, c in zip(cameras, corners) if c is None]
    if missing:
        raise InputError(f"the board was not found by camera(s) {', '.join(missing)}; every camera must see "
                         "the whole board in the extrinsics frame (check its view and lighting)")
    cands = [board_pose_candidates(cam, c, board) for cam, c in zip(cameras, corners)]
    C = len(cameras)
    options, reason = map(list, zip(*[pose_options(pc, cam.name, clear_ratio) for cam, pc in zip(cameras, cands)]))
    ambiguous = [c for c in range(C) if len(options[c]) > 1]
    choice = np.array([o[0] for o in options])

    def cams_for(ch) -> list[Camera]:
        return [Camera(cam.name, cam.size, cam.K, cam.dist, cands[c].R[ch[c]], cands[c].t[ch[c]])
                for c, cam in enumerate(cameras)]

    if ambiguous and correspondences is not None:
        best = None
        for combo in itertools.product(*[options[c] for c in ambiguous]):
            ch = choice.copy()
            ch[ambiguous] = combo
            err = _multiview_error(cams_for(ch), correspondences)
            if best is None or err < best[0]:
                best = (err, ch)
        choice = best[1]
        for c in ambiguous:
            reason[c] = f"multi-view consistency ({best[0]:.2f} px)"
    elif ambiguous and placement.lower().replace("_", "") == "ground":
        up = np.array([0.0, 0.0, -1.0])  # the floor's normal on the cameras' side is up
        for c in ambiguous:
            agreement = [-cands[c].R[s][1] @ up for s in options[c]]
            choice[c] = options[c][int(np.argmax(agreement))]
            reason[c] = "image-up along the floor normal"
    elif ambiguous:
        # on a wall the two poses differ mostly by a mirrored yaw, which the cameras' up direction
        # cannot tell apart: keep the better reprojection and ask for correspondences
        for c in ambiguous:
            reason[c] = "lower reprojection (ambiguous: give keypoints to resolve)"
        log.warning("camera(s) %s: the board pose is ambiguous (IPPE solutions fit alike); pass a person's "
                    "keypoints (correspondences) to choose by multi-view consistency",
                    ", ".join(cameras[c].name for c in ambiguous))
    for c in ambiguous:
        log.info("camera %s: IPPE ambiguity (%.2f vs %.2f px) resolved by %s", cameras[c].name,
                 cands[c].rms[0], cands[c].rms[1], reason[c])
    cams = cams_for(choice)
    R_os = opensim_rotation_for_board(placement, np.array([c.R for c in cams]), np.array([c.center for c in cams]))
    rms = np.array([cands[c].rms[choice[c]] for c in range(C)])
    other = np.array([cands[c].rms[1 - choice[c]] if len(cands[c].rms) > 1 else np.nan for c in range(C)])
    return ExtrinsicsResult(CameraRig(cams, R_os), choice, reason, rms, other,
                            np.array([len(o) > 1 for o in options]))


def still_correspondences(keypoints: np.ndarray, n_frames: int = 30, window: int = 30,
                          min_confidence: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correspondences for :func:`calibrate_extrinsics` from a person's 2D keypoints seen by
    cameras that are not synchronised yet.

    keypoints: (C, F, J, 3) pixels + confidence, row f of each camera its f-th frame (the
    cameras' offsets, up to about ``window`` frames, are unknown). Rows of different cameras
    show the same pose only where the person stands still for +-``window`` frames, so the
    frames are chosen there: a frame's motion is, per camera, the mean over the window of the
    median keypoint displacement per frame (in person heights in that image), the worst camera
    counting; frames missing in a camera count as moving. ``n_frames`` rows are taken evenly
    from the stillest fifth of the trial (at least ``n_frames`` rows).
    Returns points (C, n_frames * J, 2) (NaN below ``min_confidence``), frames (n_frames,)
    the rows used, motion (n_frames,) their motion (person heights per frame).
    """
    C, F = keypoints.shape[:2]
    xy = np.where(keypoints[..., 2:] >= min_confidence, keypoints[..., :2], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames where a camera has no keypoint
        height = np.nanmedian(np.nanmax(xy[..., 1], axis=-1) - np.nanmin(xy[..., 1], axis=-1), axis=1)  # (C,)
        step = np.nanmedian(np.linalg.norm(np.diff(xy, axis=1), axis=-1), axis=-1) / height[:, None]  # (C, F-1)
    step = np.where(np.isfinite(step), step, 1.0)  # a person height per frame: never still
    cum = np.concatenate([np.zeros((C, 1)), np.cumsum(step, axis=1)], axis=1)  # (C, F)
    rows = np.arange(F)
    lo, hi = np.clip(rows - window, 0, F - 1), np.clip(rows + window, 0, F - 1)
    motion = ((cum[:, hi] - cum[:, lo]) / np.maximum(hi - lo, 1)).max(axis=0)  # (F,)
    pool = np.sort(np.argsort(motion, kind="stable")[:max(n_frames, F // 5)])
    frames = pool[np.unique(np.round(np.linspace(0, len(pool) - 1, min(n_frames, len(pool)))).astype(int))]
    return xy[:, frames].reshape(C, -1, 2), frames, motion[frames]
