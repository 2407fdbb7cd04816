"""Robust view selection for algebraic triangulation, vectorised over every point.

For each point, hypotheses are triangulated from every pair of its ``max_views`` most
confident views (6 pairs for 4 cameras, 15 for 6 or more), each scored in all views by a
truncated quadratic (MSAC) of the pixel reprojection error. The views within
``threshold_px`` of the best hypothesis are re-solved by the confidence- and depth-weighted
DLT, inliers re-estimated and solved once more. Left/right swaps are tested explicitly per
camera, frame and flip pair: a pair whose swapped observations fit the 3D points of the
opposite side is swapped back and its points re-solved. Points with fewer than
``min_views`` consistent views are NaN and flagged. Before all this, swaps that each
camera's own 2D trajectories show (``mv3d.triangulate.swaps``) are undone: the only cue
when two cameras disagree about left and right. A camera whose detections in a frame disagree
with the other views on most joints shows another person there (a tracking slip): its few
agreeing joints are chance agreements and are dropped too. The cost is a fixed number of batched
3x3 solves and projections per point: no subset enumeration, no Python loop over points.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from mv3d.errors import InputError
from mv3d.geometry import outer_terms, sym3_solve
from mv3d.parallel import for_chunks
from mv3d.skeleton import FLIP_INDEX, FLIP_PAIRS, JOINT_INDEX, MV3D23
from mv3d.triangulate.algebraic import check_keypoints, reprojection_errors, residuals_px, solve_weighted
from mv3d.triangulate.swaps import SwapParams, find_swaps

if TYPE_CHECKING:  # pragma: no cover
    from mv3d.camera import CameraRig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RobustParams:
    """Settings of the robust view selection.

    min_confidence: 2D detections below are ignored. threshold_px: a view whose reprojection
    error exceeds this is an outlier. max_views: hypotheses come from pairs of the point's
    most confident views (cost grows as max_views^2). min_views: fewer consistent views ->
    NaN. swaps: test left/right swap hypotheses per camera. temporal_radius: metres; points
    farther than this from the median of their +-2 neighbouring frames are re-selected among
    the hypotheses near that median, and left/right pairs closer to the other side's
    neighbours are flipped (None: frames independent). temporal_swaps: first undo the swaps
    that each camera's 2D trajectories show (``swaps.find_swaps``; needs ``swaps``).
    max_disagreement: a camera whose detections in a frame disagree with the other views for more
    than this share of their joints (of at least 6 seen by another camera too) shows someone else
    there: its agreeing joints are dropped too, as chance agreements (with two cameras any pair of
    points near each other's epipolar line agrees); None: keep them.
    chunk: points per batch (memory; batches run in ``threads`` threads, None: one per core).
    """

    min_confidence: float = 0.3
    threshold_px: float = 15.0
    max_views: int = 6
    min_views: int = 2
    swaps: bool = True
    temporal_radius: float | None = 0.2
    temporal_swaps: bool = True
    max_disagreement: float | None = 0.5
    chunk: int = 30_000
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.min_views < 2:
            raise InputError(f"min_views must be at least 2 (two rays meet in a point), got {self.min_views}")
        if self.threshold_px <= 0:
            raise InputError(f"threshold_px must be positive, got {self.threshold_px}")
        if self.max_views < 2:
            raise InputError(f"max_views must be at least 2, got {self.max_views}")


def _select_hypothesis(P, focal, O, xy, conf, valid, p: RobustParams, prior: np.ndarray | None = None
                       ) -> np.ndarray:
    """Initial inlier mask (C, N) from the best pair hypothesis of each point.

    prior: optional (N, 3) expected positions (NaN = none); hypotheses farther than
    p.temporal_radius from it lose to any hypothesis within it.
    """
    C, N = valid.shape
    Of = O * (focal ** 2)[:, None, None]
    if C <= p.max_views:  # every pair of cameras: the same for all points, no gather
        pairs = np.array(list(combinations(range(C), 2)))
        Sh = Of[pairs[:, 0]] + Of[pairs[:, 1]]
        pair_ok = valid[pairs[:, 0]] & valid[pairs[:, 1]]
    else:  # pairs of each point's max_views most confident views
        order = np.argsort(-np.where(valid, conf, -1.0), axis=0, kind="stable")[:p.max_views]  # (k, N)
        pairs = np.array(list(combinations(range(p.max_views), 2)))
        ia, ib = order[pairs[:, 0]], order[pairs[:, 1]]  # (H, N)
        Sh = np.take_along_axis(Of, ia[..., None], 0) + np.take_along_axis(Of, ib[..., None], 0)
        pair_ok = np.take_along_axis(valid, ia, 0) & np.take_along_axis(valid, ib, 0)
    Xh = sym3_solve(Sh[..., :6], -Sh[..., 6:])  # (H, N, 3)
    err = residuals_px(P, focal, xy, np.nan_to_num(Xh, nan=0.0))  # (C, H, N)
    tau2 = p.threshold_px ** 2
    cost = np.where(valid[:, None], np.minimum(np.nan_to_num(err, nan=np.inf, posinf=1e30), 1e30) ** 2, 0.0)
    cost = np.minimum(cost, tau2).sum(0)
    cost = np.where(pair_ok & np.isfinite(Xh).all(-1), cost, np.inf)
    if prior is not None:
        far = np.linalg.norm(Xh - prior, axis=-1) > p.temporal_radius
        cost = cost + np.where(far & np.isfinite(prior).all(-1), 1e12, 0.0)
    best = np.argmin(cost, axis=0)  # (N,)
    err_best = np.take_along_axis(err, best[None, None, :], 1)[:, 0]
    return valid & (err_best < p.threshold_px)


def _solve_flat(P, focal, O, xy, conf, valid, p: RobustParams, prior: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Robust points (N, 3) and inlier views (C, N) of flattened observations.

    Points whose views all agree with the all-view solution within half the threshold
    (most of them) are done after one weighted solve; only the others go through the pair
    hypotheses. (Half: an outlier pulls the all-view solution towards itself, so its own
    residual shrinks; a clean view's residual is the detection noise.)
    """
    X = solve_weighted(P, focal, O, np.where(valid, conf, 0.0))
    err = residuals_px(P, focal, xy, np.nan_to_num(X))
    easy = ((err < 0.5 * p.threshold_px) | ~valid).all(0) & np.isfinite(X).all(-1)
    if prior is not None:
        easy &= ~np.isfinite(prior).all(-1) | (np.linalg.norm(X - prior, axis=-1) <= p.temporal_radius)
    inl = valid & easy
    hard = np.flatnonzero(~easy)
    if hard.size:
        Oh, xyh, ch, vh = O[:, hard], xy[:, hard], conf[:, hard], valid[:, hard]
        inh = _select_hypothesis(P, focal, Oh, xyh, ch, vh, p, None if prior is None else prior[hard])
        Xh = solve_weighted(P, focal, Oh, np.where(inh, ch, 0.0))  # inliers re-estimated once
        eh = residuals_px(P, focal, xyh, np.nan_to_num(Xh))
        inh = vh & (eh < p.threshold_px) & np.isfinite(Xh).all(-1)
        X[hard] = solve_weighted(P, focal, Oh, np.where(inh, ch, 0.0))
        inl[:, hard] = inh
    bad = inl.sum(0) < p.min_views
    X[bad] = np.nan
    inl[:, bad] = False
    return X, inl


@dataclass
class _Obs:
    """Flattened observations of a chunk of points."""

    uv: np.ndarray     # (C, N, 2) pixels
    xy: np.ndarray     # (C, N, 2) undistorted normalised (0 where invalid)
    conf: np.ndarray   # (C, N)
    valid: np.ndarray  # (C, N)


def _observations(rig: CameraRig, kp: np.ndarray, p: RobustParams) -> _Obs:
    C = kp.shape[0]
    uv = kp[..., :2].reshape(C, -1, 2)
    conf = np.nan_to_num(kp[..., 2].reshape(C, -1))
    valid = np.isfinite(uv).all(-1) & (conf >= p.min_confidence) & (conf > 0)
    xy = np.empty(uv.shape)

    def undistort(sl: slice) -> None:
        xy[:, sl] = rig.undistort_points(np.where(valid[:, sl, None], uv[:, sl], 0.0))

    for_chunks(undistort, uv.shape[1], p.chunk, p.threads)
    valid &= np.isfinite(xy).all(-1)
    xy[~valid] = 0.0
    return _Obs(uv, xy, conf, valid)


def _swap_observations(obs: _Obs, shape: tuple[int, int, int], c: np.ndarray, f: np.ndarray,
                       left: np.ndarray, right: np.ndarray) -> _Obs:
    """Observations with joints left and right exchanged in cameras c, frames f."""
    out = []
    for a in (obs.uv, obs.xy, obs.conf, obs.valid):
        a = a.reshape(shape + a.shape[2:]).copy()
        a[c, f, left], a[c, f, right] = a[c, f, right].copy(), a[c, f, left].copy()
        out.append(a.reshape((shape[0], -1) + a.shape[3:]))
    return _Obs(*out)


def _exchange_observations(obs: _Obs, shape: tuple[int, int, int], mask: np.ndarray) -> _Obs:
    """Observations with the joints flagged in mask (C, F, J) replaced by their left/right opposites."""
    J = shape[2]
    c, f, j = np.nonzero(mask)
    src = (c, f * J + FLIP_INDEX[j])
    dst = (c, f * J + j)
    out = []
    for a in (obs.uv, obs.xy, obs.conf, obs.valid):
        b = a.copy()
        b[dst] = a[src]
        out.append(b)
    return _Obs(*out)


#: Largest (C * N * 9) outer-term array kept for the whole trial (~240 MB); longer trials
#: compute them chunk by chunk.
_MAX_OUTER = 30_000_000


def _all_outer_terms(rig: CameraRig, obs: _Obs, p: RobustParams) -> np.ndarray | None:
    """The observations' (C, N, 9) ``outer_terms``, kept for reuse (first solve, swap evidence);
    None when the trial is too long to hold them (they are then made chunk by chunk)."""
    if obs.xy.size * 4.5 > _MAX_OUTER:
        return None
    P = rig.normalized_projection_matrices()
    outer = np.empty(obs.xy.shape[:2] + (9,))

    def fill(sl: slice) -> None:
        outer[:, sl] = outer_terms(P, obs.xy[:, sl])

    for_chunks(fill, outer.shape[1], p.chunk, p.threads)
    return outer


def _solve_all(rig: CameraRig, obs: _Obs, p: RobustParams, prior: np.ndarray | None = None,
               outer: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Robust solve of all observations in chunks: X (N, 3), inliers (C, N).

    outer: the observations' (C, N, 9) ``outer_terms`` if already computed.
    """
    P = rig.normalized_projection_matrices()
    focal = rig.focal_lengths
    N = obs.valid.shape[1]
    X = np.full((N, 3), np.nan)
    inl = np.zeros(obs.valid.shape, bool)

    def solve(sl: slice) -> None:
        O = outer_terms(P, obs.xy[:, sl]) if outer is None else outer[:, sl]
        X[sl], inl[:, sl] = _solve_flat(P, focal, O, obs.xy[:, sl], obs.conf[:, sl], obs.valid[:, sl], p,
                                        None if prior is None else prior[sl])

    for_chunks(solve, N, p.chunk, p.threads)
    return X, inl


def _swap_mask(rig: CameraRig, obs: _Obs, X: np.ndarray, shape: tuple[int, int], pairs: np.ndarray,
               p: RobustParams) -> np.ndarray:
    """(C, F, B) True where camera c's observations of flip pair b in frame f fit the other side better."""
    C = len(rig)
    F, J = shape
    P = rig.normalized_projection_matrices()
    focal = rig.focal_lengths
    Xj = X.reshape(F, J, 3)
    xy = obs.xy.reshape(C, F, J, 2)
    valid = obs.valid.reshape(C, F, J)
    XL, XR = Xj[:, pairs[:, 0]].reshape(-1, 3), Xj[:, pairs[:, 1]].reshape(-1, 3)
    xl, xr = xy[:, :, pairs[:, 0]].reshape(C, -1, 2), xy[:, :, pairs[:, 1]].reshape(C, -1, 2)
    e_ll, e_rr = residuals_px(P, focal, xl, np.nan_to_num(XL)), residuals_px(P, focal, xr, np.nan_to_num(XR))
    both = (valid[:, :, pairs[:, 0]] & valid[:, :, pairs[:, 1]]).reshape(C, -1)
    known = (np.isfinite(XL).all(-1) & np.isfinite(XR).all(-1))[None]
    tau = p.threshold_px
    # Swap only where the current assignment is inconsistent and the swapped one consistent:
    # where both sides project close together (a side view) both fit, and nothing changes.
    inconsistent = both & known & (np.maximum(e_ll, e_rr) > tau)
    fits_swapped = np.zeros_like(inconsistent)
    n = np.flatnonzero(inconsistent.any(0))  # (pair, frame) columns worth testing
    if n.size:
        e_lr = residuals_px(P, focal, xl[:, n], np.nan_to_num(XR[n]))
        e_rl = residuals_px(P, focal, xr[:, n], np.nan_to_num(XL[n]))
        fits_swapped[:, n] = np.maximum(e_lr, e_rl) < tau
    return (inconsistent & fits_swapped).reshape(C, F, len(pairs))


def temporal_reference(X: np.ndarray) -> np.ndarray:
    """(F, J, 3) median of each point's frames f-2, f-1, f+1, f+2 (NaN ignored; unbiased for constant velocity)."""
    F = X.shape[0]
    pad = np.full((2,) + X.shape[1:], np.inf)
    Xp = np.concatenate([pad, np.where(np.isnan(X), np.inf, X), pad])
    a, b, c, d = (Xp[k:k + F] for k in (0, 1, 3, 4))  # missing = +inf, sorted last
    # sorting network of four values: s0 <= s1 <= s2 <= s3
    a, b = np.minimum(a, b), np.maximum(a, b)
    c, d = np.minimum(c, d), np.maximum(c, d)
    s0, c = np.minimum(a, c), np.maximum(a, c)
    b, s3 = np.minimum(b, d), np.maximum(b, d)
    s1, s2 = np.minimum(b, c), np.maximum(b, c)
    n = np.isfinite(s0).astype(np.int8) + np.isfinite(s1) + np.isfinite(s2) + np.isfinite(s3)
    with np.errstate(invalid="ignore"):
        return np.select([n == 4, n == 3, n == 2, n == 1], [0.5 * (s1 + s2), s1, 0.5 * (s0 + s1), s0], np.nan)


def _temporal_flips(X: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(F, B) True where a left/right pair matches the opposite sides of its neighbouring frames."""
    ref = temporal_reference(X)
    L, R, Lr, Rr = X[:, pairs[:, 0]], X[:, pairs[:, 1]], ref[:, pairs[:, 0]], ref[:, pairs[:, 1]]
    keep = np.linalg.norm(L - Lr, axis=-1) + np.linalg.norm(R - Rr, axis=-1)
    flip = np.linalg.norm(L - Rr, axis=-1) + np.linalg.norm(R - Lr, axis=-1)
    return np.isfinite(keep) & np.isfinite(flip) & (flip < 0.5 * keep)


def disagreeing_views(valid: np.ndarray, inliers: np.ndarray, max_share: float, min_joints: int = 6
                      ) -> np.ndarray:
    """(C, F) True where a camera's detections in a frame mostly disagree with the other views.

    valid, inliers: (C, F, J). Only joints that another camera detected too count; a camera-frame
    needs ``min_joints`` of them and more than ``max_share`` of them outliers.
    """
    paired = valid & (valid.sum(0) >= 2)
    n = paired.sum(-1)
    return (n >= min_joints) & ((paired & ~inliers).sum(-1) > max_share * n)


def robust_triangulate(rig: CameraRig, keypoints: np.ndarray, params: RobustParams | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Robust algebraic triangulation of 2D keypoints.

    rig: C cameras; keypoints: (C, F, J, 3) pixels + confidence. Returns points (F, J, 3)
    (NaN where fewer than min_views consistent views), used (C, F, J) inlier views,
    errors (C, F, J) pixel reprojection errors with distortion (NaN where not detected) and
    swapped (C, F, J) True where the camera's left/right observations were swapped back.
    Left/right swaps are tested when J is the 23 joints of MV3D23.
    """
    p = params or RobustParams()
    kp = check_keypoints(rig, keypoints)
    if kp.ndim != 4:
        raise InputError(f"keypoints must have shape (C, F, J, 3), got {kp.shape}")
    C, F, J, _ = kp.shape
    flip_pairs = np.array([(JOINT_INDEX[a], JOINT_INDEX[b]) for a, b in FLIP_PAIRS]) if J == len(MV3D23) else None
    obs = _observations(rig, kp, p)
    outer = _all_outer_terms(rig, obs, p)
    X, inl = _solve_all(rig, obs, p, outer=outer)
    X = X.reshape(F, J, 3)
    temporal = p.temporal_radius is not None and F >= 5

    def resolve(redo: np.ndarray, prior: np.ndarray | None) -> None:
        idx = np.flatnonzero(redo.ravel())
        if idx.size:
            sub = _Obs(obs.uv[:, idx], obs.xy[:, idx], obs.conf[:, idx], obs.valid[:, idx])
            Xs, inl[:, idx] = _solve_all(rig, sub, p, None if prior is None else prior.reshape(-1, 3)[idx])
            X.reshape(-1, 3)[idx] = Xs

    swapped_2d = np.zeros((C, F, J), bool)
    if p.swaps and p.temporal_swaps and flip_pairs is not None:
        geometric = C >= 3  # with two cameras the inliers are the detections themselves
        swapped_2d = find_swaps(kp, SwapParams(min_confidence=p.min_confidence), rig if geometric else None,
                                inl.reshape(C, F, J) if geometric else None, obs.xy, outer)
        if swapped_2d.any():
            obs = _exchange_observations(obs, (C, F, J), swapped_2d)
            resolve(swapped_2d.any(0), None)
            log.info("left/right swaps seen in the cameras' 2D trajectories undone in %d (camera, frame) cases",
                     int(swapped_2d.any(-1).sum()))
    if temporal:
        # Only points that rejected some of their views are in doubt: a point all of whose
        # views agree is never changed by the temporal checks.
        doubtful = (inl.sum(0) < obs.valid.sum(0)).reshape(F, J)
        # Whole-side confusions (e.g. two of four cameras swapped) win the per-frame vote:
        # flip the 3D labels where the neighbouring frames disagree, then let the camera
        # swap test below put the swapped cameras right.
        if flip_pairs is not None:
            flips = _temporal_flips(X, flip_pairs) & (doubtful[:, flip_pairs[:, 0]] | doubtful[:, flip_pairs[:, 1]])
            f, b = np.nonzero(flips)
            lft, rgt = flip_pairs[b, 0], flip_pairs[b, 1]
            X[f, lft], X[f, rgt] = X[f, rgt].copy(), X[f, lft].copy()
            # The flipped points are re-solved from their views right after (as "far" or as
            # swapped); until then they keep no views.
            inl.reshape(C, F, J)[:, f, lft] = inl.reshape(C, F, J)[:, f, rgt] = False
        ref = temporal_reference(X)
        far = (np.linalg.norm(X - ref, axis=-1) > p.temporal_radius) & doubtful
        if flip_pairs is not None:
            far[f, lft] = far[f, rgt] = True
        resolve(far, ref)
    swapped = np.zeros((C, F, J), bool)
    if p.swaps and flip_pairs is not None:
        swap = _swap_mask(rig, obs, X.reshape(-1, 3), (F, J), flip_pairs, p)
        if swap.any():
            c, f, b = np.nonzero(swap)
            left, right = flip_pairs[b, 0], flip_pairs[b, 1]
            swapped[c, f, left] = swapped[c, f, right] = True
            obs = _swap_observations(obs, (C, F, J), c, f, left, right)
            redo = np.zeros((F, J), bool)
            redo[f, left] = redo[f, right] = True
            resolve(redo, X.copy() if temporal else None)
            log.info("left/right swaps corrected in %d (camera, frame, pair) cases", len(c))
    if p.max_disagreement is not None:
        other = disagreeing_views(obs.valid.reshape(C, F, J), inl.reshape(C, F, J), p.max_disagreement)
        if other.any():
            obs = _Obs(obs.uv, obs.xy, obs.conf, obs.valid & ~np.repeat(other, J, axis=1))
            resolve(np.repeat(other.any(0)[:, None], J, axis=1), None)
            log.info("%d (camera, frame) cases disagree with the other views on most joints (another person?): "
                     "dropped", int(other.sum()))
    err = np.empty(obs.valid.shape)
    Xf = X.reshape(-1, 3)

    def errors(sl: slice) -> None:
        err[:, sl] = np.where(obs.valid[:, sl], reprojection_errors(rig, obs.uv[:, sl], Xf[sl]), np.nan)

    for_chunks(errors, len(Xf), p.chunk, p.threads)
    n_missing = int(np.isnan(X).any(-1).sum())
    if n_missing:
        log.info("%d of %d points have fewer than %d consistent views (NaN)", n_missing, F * J, p.min_views)
    return X, inl.reshape(C, F, J), err.reshape(C, F, J), swapped ^ swapped_2d
