"""Left/right label swaps of single cameras, found from each camera's own 2D trajectories.

With two cameras a camera whose left and right labels are exchanged cannot be out-voted:
the swapped rays still nearly meet (side-by-side phones have near-horizontal epipolar
lines, and left/right pairs lie mostly side by side), only at the wrong depth, so both
labellings reproject within the noise. The history of the labels in the image tells the
swap apart: where a swap starts or ends, the pair's points trade places in one frame.

Per camera, body part group (upper body, legs) and frame, the evidence against a label
switch is ``sum over pairs min(|L - R'|, cap) + min(|R - L'|, cap) - min(|L - L'|, cap)
- min(|R - R'|, cap)`` over the person's height in the image, with ``L', R'`` the pair in
the group's previous frame. Legs crossing each other (side views) weigh nothing, a single
wrong joint never favours a switch (triangle inequality) and ``cap`` bounds what several
wrong joints can do. With three or more cameras, the other cameras' inlier views add per
frame how much better the camera's labels fit as detected than exchanged. A two-state
Viterbi per camera and group ("as detected" / "exchanged") pays ``switch_cost`` per switch
and ``flip_cost`` per exchanged frame: swap episodes bounded by clear switches are undone,
and clean data is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mv3d.errors import InputError
from mv3d.geometry import outer_terms, sym3_solve
from mv3d.parallel import for_chunks
from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX, MV3D23
from mv3d.triangulate.algebraic import depths

if TYPE_CHECKING:  # pragma: no cover
    from mv3d.camera import CameraRig

#: Body parts (MV3D23 names without "l_"/"r_") whose labels swap together: upper body, legs.
DEFAULT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("eye", "ear", "shoulder", "elbow", "wrist"),
    ("hip", "knee", "ankle", "big_toe", "small_toe", "heel"),
)


@dataclass(frozen=True)
class SwapParams:
    """Settings of :func:`find_swaps`; distances and costs are fractions of the person's height
    in the image (the median over frames of the detections' vertical extent).

    groups: body parts whose left/right labels swap together. switch_cost: evidence a switch
    needs (phones at +-35 degrees, squat: clean frames give +0.45 or more against a switch per
    group, typically +1 to +1.4; the start or end of a swap about as much the other way).
    flip_cost: per frame held exchanged (an episode of k frames needs boundary evidence of
    2 switch_cost + k flip_cost). cap: largest distance counted per point (bounds the pull of
    gross outliers). max_gap: frames across which the group's last detection still counts.
    min_confidence: detections below are ignored. geometric_margin: frames around each of a
    camera's flips in which the other cameras' views (3+ cameras) are weighed.
    """

    groups: tuple[tuple[str, ...], ...] = DEFAULT_GROUPS
    switch_cost: float = 0.3
    flip_cost: float = 0.002
    cap: float = 0.15
    max_gap: int = 5
    min_confidence: float = 0.3
    geometric_margin: int = 5

    def __post_init__(self) -> None:
        known = {n[2:] for n in MV3D23 if n.startswith("l_")}
        bad = [g for group in self.groups for g in group if g not in known]
        if bad:
            raise InputError(f"unknown left/right body part(s) {', '.join(bad)} in swap groups; "
                             f"use {', '.join(sorted(known))}")
        if self.switch_cost <= 0 or self.flip_cost < 0 or self.cap <= 0:
            raise InputError(f"switch_cost and cap must be positive and flip_cost not negative, got "
                             f"{self.switch_cost}, {self.cap} and {self.flip_cost}")
        if self.max_gap < 1:
            raise InputError(f"max_gap must be at least 1 frame, got {self.max_gap}")


def group_pairs(groups: tuple[tuple[str, ...], ...] = DEFAULT_GROUPS) -> list[np.ndarray]:
    """MV3D23 (left, right) index pairs (K_g, 2) of each group of body parts."""
    return [np.array([(JOINT_INDEX["l_" + part], JOINT_INDEX["r_" + part]) for part in group]) for group in groups]


def person_height(keypoints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C,) pixels: median over frames of the vertical extent of each camera's valid detections.

    keypoints: (C, F, J, 3); valid: (C, F, J). Frames with fewer than 3 joints are ignored;
    a camera without any gets 1 (its evidence is then zero anyway).
    """
    y = keypoints[..., 1]
    span = np.max(np.where(valid, y, -np.inf), -1) - np.min(np.where(valid, y, np.inf), -1)  # (C, F)
    span = np.where(valid.sum(-1) >= 3, span, np.nan)
    out = np.ones(len(span))
    for c, s in enumerate(span):
        if np.isfinite(s).any():
            out[c] = max(float(np.nanmedian(s)), 1.0)
    return out


def temporal_evidence(keypoints: np.ndarray, valid: np.ndarray, pairs: np.ndarray, cap: np.ndarray,
                      max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Evidence against a label switch of one group between each frame and the group's previous one.

    keypoints: (C, F, J, 3); valid: (C, F, J); pairs: (K, 2) (left, right); cap: (C,) pixels.
    Returns evidence (C, F) pixels (negative: exchanging the labels from frame f on fits
    better; 0 without comparison) and present (C, F): some pair of the group is detected.
    The previous frame is the last one with a detected pair (the labels cannot change in
    frames without any), at most max_gap frames back.
    """
    C, F = keypoints.shape[:2]
    ok = valid[..., pairs[:, 0]] & valid[..., pairs[:, 1]]  # (C, F, K)
    present = ok.any(-1)
    frames = np.arange(F)[None]
    last = np.maximum.accumulate(np.where(present, frames, -1), axis=1)
    prev = np.concatenate([np.full((C, 1), -1), last[:, :-1]], axis=1)  # (C, F)
    linked = present & (prev >= 0) & (frames - prev <= max_gap)
    idx = np.maximum(prev, 0)[..., None, None]
    L, R = keypoints[..., pairs[:, 0], :2], keypoints[..., pairs[:, 1], :2]  # (C, F, K, 2)
    Lp, Rp = np.take_along_axis(L, idx, 1), np.take_along_axis(R, idx, 1)
    both = ok & np.take_along_axis(ok, idx[..., 0], 1) & linked[..., None]
    cap = cap[:, None, None]

    def d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.minimum(np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1]), cap)

    ev = d(L, Rp) + d(R, Lp) - d(L, Lp) - d(R, Rp)
    return np.where(both, ev, 0.0).sum(-1), present


def geometric_evidence(rig: CameraRig, keypoints: np.ndarray, valid: np.ndarray, used: np.ndarray,
                       cap: np.ndarray, xy: np.ndarray | None = None, outer: np.ndarray | None = None,
                       frames: np.ndarray | None = None) -> np.ndarray:
    """Per camera, frame and joint, how much better the labels fit the other cameras' points as detected.

    keypoints: (C, F, J, 3); valid, used: (C, F, J) detections and inlier views (e.g. of
    ``robust_triangulate``); cap: (C,) pixels; xy, outer: the observations' undistorted
    normalised coordinates (C, F * J, 2) and ``outer_terms`` (C, F * J, 9) if already computed.
    Each camera's points are triangulated from the other cameras' inlier views (where at
    least two remain; depth weights from the all-view solution) and projected into it.
    frames: optional (C, F) bool, the frames wanted per camera (others get 0).
    Returns (C, F, J) undistorted pixels: min(distance to the opposite joint's projection,
    cap) minus min(distance to its own, cap); positive: exchanging costs that much; 0 where unknown.
    """
    C, F, J = valid.shape
    ok = valid.reshape(C, -1)
    P = rig.normalized_projection_matrices()
    if xy is None:
        uv = keypoints[..., :2].reshape(C, -1, 2)
        xy = np.nan_to_num(rig.undistort_points(np.where(ok[..., None], uv, 0.0)))
    if outer is None:
        outer = outer_terms(P, xy)
    wanted = np.ones((C, F), bool) if frames is None else np.asarray(frames, bool)
    focal = rig.focal_lengths
    w = np.where(used.reshape(C, -1) & ok, np.nan_to_num(keypoints[..., 2].reshape(C, -1)), 0.0)
    w *= (focal ** 2)[:, None]
    S = np.einsum("cn,cnk->nk", w, outer)
    z = depths(P, np.nan_to_num(sym3_solve(S[:, :6], -S[:, 6:])))
    w /= np.where(z > 1e-6, z, np.inf) ** 2
    S = np.einsum("cn,cnk->nk", w, outer)
    n_views = (w > 0).sum(0)
    out = np.zeros((C, F, J))

    def camera(cams: slice) -> None:
        for c in range(C)[cams]:
            rows = np.flatnonzero(wanted[c])  # this camera's frames
            idx = (rows[:, None] * J + np.arange(J)).ravel()
            Sc = S[idx] - w[c, idx, None] * outer[c, idx]
            X = sym3_solve(Sc[:, :6], -Sc[:, 6:])
            X[n_views[idx] - (w[c, idx] > 0) < 2] = np.nan
            Xc = X @ P[c, :, :3].T + P[c, :, 3]
            with np.errstate(invalid="ignore", divide="ignore"):
                proj = (Xc[:, :2] / np.where(Xc[:, 2:] > 1e-6, Xc[:, 2:], np.nan)).reshape(-1, J, 2)
            obs = xy[c, idx].reshape(-1, J, 2)
            own = focal[c] * np.hypot(obs[..., 0] - proj[..., 0], obs[..., 1] - proj[..., 1])
            flipped = proj[:, FLIP_INDEX]
            other = focal[c] * np.hypot(obs[..., 0] - flipped[..., 0], obs[..., 1] - flipped[..., 1])
            known = np.isfinite(own) & np.isfinite(other) & ok[c, idx].reshape(-1, J)
            out[c, rows] = np.where(known, np.minimum(other, cap[c]) - np.minimum(own, cap[c]), 0.0)

    for_chunks(camera, C, 1)
    return out


def _scan(m: list[np.ndarray], reverse: bool = False) -> list[np.ndarray]:
    """Inclusive min-plus prefix products along axis 1 of 2x2 matrices (suffix products if reverse).

    m: the entries [m00, m01, m10, m11], each (B, F). Hillis-Steele doubling: log2(F) batched
    steps, no loop over frames.
    """
    a00, a01, a10, a11 = (x.copy() for x in m)
    F = a00.shape[1]
    k = 1
    while k < F:
        # earlier (frames f-k..) times later (frames ..f); written into the later (or earlier) slot
        e, l_ = (slice(None, -k), slice(k, None))
        dst = e if reverse else l_
        p00, p01, p10, p11 = a00[:, e], a01[:, e], a10[:, e], a11[:, e]
        q00, q01, q10, q11 = a00[:, l_], a01[:, l_], a10[:, l_], a11[:, l_]
        r00 = np.minimum(p00 + q00, p01 + q10)
        r01 = np.minimum(p00 + q01, p01 + q11)
        r10 = np.minimum(p10 + q00, p11 + q10)
        r11 = np.minimum(p10 + q01, p11 + q11)
        a00[:, dst], a01[:, dst], a10[:, dst], a11[:, dst] = r00, r01, r10, r11
        k *= 2
    return [a00, a01, a10, a11]


def viterbi_flips(switch: np.ndarray, flip: np.ndarray, edge: float | np.ndarray = 0.0) -> np.ndarray:
    """Cheapest states (B, F) bool (True = exchanged) of B independent two-state chains.

    switch: (B, F) cost of changing state between frame f-1 and f (inf: not allowed);
    flip: (B, F) cost of being exchanged in frame f; edge: cost of being exchanged in the
    first and in the last frame (an episode cut by the sequence's ends pays its missing
    switches). Each frame's state minimises the cost of the best path through it (forward
    plus backward min-plus scans of the 2x2 transition costs, no loop over frames); that is
    the Viterbi path wherever the best path is unique, ties going to "as detected".
    """
    switch, flip = np.asarray(switch, float), np.asarray(flip, float)
    B, F = switch.shape
    edge = np.broadcast_to(np.asarray(edge, float), (B,))
    # transition costs from frame f-1 (state s) to frame f (state s'), including s' at frame f
    t00, t11 = np.zeros((B, F - 1)), flip[:, 1:]
    t10, t01 = switch[:, 1:], switch[:, 1:] + flip[:, 1:]
    s0, s1 = np.zeros(B)[:, None], (flip[:, 0] + edge)[:, None]  # cost of the first frame's state
    e0, e1 = np.zeros(B)[:, None], edge[:, None]  # cost of the last frame's state
    forward = np.empty((B, F, 2))  # best cost of a path over frames 0..f ending in state s
    backward = np.empty((B, F, 2))  # best cost over frames f+1..F-1 (and the end) given state s at f
    forward[:, 0, 0], forward[:, 0, 1] = s0[:, 0], s1[:, 0]
    backward[:, -1, 0], backward[:, -1, 1] = e0[:, 0], e1[:, 0]
    if F > 1:
        p00, p01, p10, p11 = _scan([t00, t01, t10, t11])  # frames 1..f
        forward[:, 1:, 0] = np.minimum(s0 + p00, s1 + p10)
        forward[:, 1:, 1] = np.minimum(s0 + p01, s1 + p11)
        q00, q01, q10, q11 = _scan([t00, t01, t10, t11], reverse=True)  # frames f+1..F-1
        backward[:, :-1, 0] = np.minimum(q00 + e0, q01 + e1)
        backward[:, :-1, 1] = np.minimum(q10 + e0, q11 + e1)
    total = forward + backward
    return total[..., 1] < total[..., 0]


def find_swaps(keypoints: np.ndarray, params: SwapParams | None = None, rig: CameraRig | None = None,
               used: np.ndarray | None = None, xy: np.ndarray | None = None, outer: np.ndarray | None = None
               ) -> np.ndarray:
    """(C, F, J) True where a camera's left/right labels are exchanged (both joints of each pair).

    keypoints: (C, F, 23, 3) MV3D23 pixels + confidence, consecutive frames. rig and used
    (C, F, J) inlier views of a first triangulation: with three or more cameras, add the
    other cameras' geometric evidence (xy, outer: the observations' undistorted coordinates
    and ``outer_terms``, if at hand).
    Joints are flagged where either of their pair is detected.
    """
    p = params or SwapParams()
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim != 4 or kp.shape[2:] != (len(MV3D23), 3):
        raise InputError(f"keypoints must have shape (C, F, {len(MV3D23)}, 3) (MV3D23 joints); got {kp.shape}")
    if (rig is None) != (used is None):
        raise InputError("geometric swap evidence needs both the rig and the inlier views (used)")
    C, F, J, _ = kp.shape
    out = np.zeros((C, F, J), bool)
    if F < 2:
        return out
    conf = np.nan_to_num(kp[..., 2])
    valid = np.isfinite(kp[..., :2]).all(-1) & (conf >= p.min_confidence) & (conf > 0)
    height = person_height(kp, valid)
    cap = p.cap * height
    groups = group_pairs(p.groups)
    G = len(groups)
    switch = np.empty((C, G, F))
    for g, pairs in enumerate(groups):
        ev, present = temporal_evidence(kp, valid, pairs, cap, p.max_gap)
        switch[:, g] = np.where(present, p.switch_cost + ev / height[:, None], np.inf)
    flip = np.full((C, G, F), p.flip_cost)
    state = viterbi_flips(switch.reshape(C * G, F), flip.reshape(C * G, F), p.switch_cost).reshape(C, G, F)
    if rig is not None and C >= 3 and state.any():
        # The other cameras' views may contradict the flips (and a flip may spread to frames
        # where the views say nothing): weigh them in each camera's frames around its flips
        # (elsewhere a flip needs a switch that the 2D history supports; robust triangulation's
        # per-frame swap test with 3+ views covers the rest).
        kernel = np.ones(2 * p.geometric_margin + 1)
        near = np.array([np.convolve(s.astype(float), kernel, "same") > 0 for s in state.any(1)])  # (C, F)
        geo = geometric_evidence(rig, kp, valid, used, cap, xy, outer, near)  # (C, F, J)
        for g, pairs in enumerate(groups):
            flip[:, g] += geo[..., pairs.ravel()].sum(-1) / height[:, None]
        state = viterbi_flips(switch.reshape(C * G, F), flip.reshape(C * G, F), p.switch_cost).reshape(C, G, F)
    for g, pairs in enumerate(groups):
        seen = state[:, g, :, None] & (valid[..., pairs[:, 0]] | valid[..., pairs[:, 1]])
        out[:, :, pairs[:, 0]] = seen
        out[:, :, pairs[:, 1]] = seen
    return out


def apply_swaps(keypoints: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Keypoints (C, F, J, 3) with the left/right labels of the flagged (C, F, J) joints exchanged."""
    kp = np.asarray(keypoints, dtype=float)
    out = kp.copy()
    out[swapped] = kp[:, :, FLIP_INDEX][swapped]
    return out


__all__ = ["DEFAULT_GROUPS", "SwapParams", "apply_swaps", "find_swaps", "geometric_evidence", "group_pairs",
           "person_height", "temporal_evidence", "viterbi_flips"]
