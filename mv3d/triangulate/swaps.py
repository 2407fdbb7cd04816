"""Left/right label swaps found from each camera's own 2D trajectories, before triangulation.

With two cameras a camera whose left and right labels are exchanged cannot be out-voted:
the swapped rays still nearly meet (side by side phones have near-horizontal epipolar
lines, and left/right pairs are mostly separated horizontally), they only meet at the
wrong depth. The labels' history in the image tells the swap apart: at the start and at
the end of a swap the left/right separation vector turns round in one frame.

For each camera and body part group (upper body, legs) and each frame, the evidence for a
label switch is ``sum over pairs (|L - R'| + |R - L'|) - (|L - L'| + |R - R'|)``, divided
by the person's height in the image, with ``L', R'`` the pair's last detection (at most
``max_gap`` frames back). A single wrong joint can never favour a switch (triangle
inequality), and two joints crossing each other (legs in a side view) weigh nothing.
A two-state Viterbi per camera and group ("labels as detected" / "labels exchanged")
then pays ``switch_cost`` per switch and ``flip_cost`` per exchanged frame, so short swap
episodes bounded by two clear switches are undone, and clean data is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mv3d.errors import InputError
from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX, MV3D23

#: Body parts (MV3D23 names without "l_"/"r_") whose labels swap together: upper body, legs.
DEFAULT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("eye", "ear", "shoulder", "elbow", "wrist"),
    ("hip", "knee", "ankle", "big_toe", "small_toe", "heel"),
)


@dataclass(frozen=True)
class SwapParams:
    """Settings of :func:`temporal_swaps` (costs in units of the person's height in the image).

    groups: body parts whose left/right labels swap together; switch_cost: the evidence a label
    switch needs (0.1: e.g. knees and ankles each 5 % of the height apart, turning round);
    flip_cost: per frame held exchanged (longer episodes need clearer switches: with 0.002, up to
    100 frames for a switch of evidence 0.1 more than switch_cost); max_gap: frames across which a
    pair's last detection is still compared; min_confidence: detections below are ignored.
    """

    groups: tuple[tuple[str, ...], ...] = DEFAULT_GROUPS
    switch_cost: float = 0.1
    flip_cost: float = 0.002
    max_gap: int = 5
    min_confidence: float = 0.3

    def __post_init__(self) -> None:
        known = {n[2:] for n in MV3D23 if n.startswith("l_")}
        for group in self.groups:
            bad = [g for g in group if g not in known]
            if bad:
                raise InputError(f"unknown left/right body part(s) {', '.join(bad)} in swap groups; "
                                 f"use {', '.join(sorted(known))}")
        if self.switch_cost <= 0 or self.flip_cost < 0:
            raise InputError(f"switch_cost must be positive and flip_cost not negative, got "
                             f"{self.switch_cost} and {self.flip_cost}")
        if self.max_gap < 1:
            raise InputError(f"max_gap must be at least 1 frame, got {self.max_gap}")


def _person_height(kp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C,) median over frames of the vertical extent (pixels) of each camera's detections."""
    y = np.where(valid, kp[..., 1], np.nan)
    with np.errstate(invalid="ignore"):
        span = np.nanmax(np.where(valid, y, -np.inf), -1) - np.nanmin(np.where(valid, y, np.inf), -1)  # (C, F)
    span = np.where(valid.sum(-1) >= 3, span, np.nan)
    h = np.array([np.nanmedian(s) if np.isfinite(s).any() else np.nan for s in span])
    return np.where(np.isfinite(h) & (h > 0), h, 1.0)


def switch_evidence(keypoints: np.ndarray, pairs: np.ndarray, max_gap: int = 5, min_confidence: float = 0.3
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair evidence that labels switch between a frame and the pair's previous detection.

    keypoints: (C, F, J, 3); pairs: (K, 2) joint indices (left, right). Returns evidence
    (C, F, K) in pixels (negative: a switch fits better; 0 where there is no comparison) and
    linked (C, F, K): the pair is detected in frame f and within max_gap frames before.
    """
    kp = np.asarray(keypoints, dtype=float)
    C, F = kp.shape[:2]
    ok = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) >= min_confidence)
    ok &= np.nan_to_num(kp[..., 2]) > 0
    valid = ok[..., pairs[:, 0]] & ok[..., pairs[:, 1]]  # (C, F, K)
    frames = np.arange(F)[None, :, None]
    last = np.maximum.accumulate(np.where(valid, frames, -1), axis=1)
    prev = np.concatenate([np.full((C, 1, len(pairs)), -1), last[:, :-1]], axis=1)  # (C, F, K)
    linked = valid & (prev >= 0) & (frames - prev <= max_gap)
    L, R = kp[..., pairs[:, 0], :2], kp[..., pairs[:, 1], :2]  # (C, F, K, 2)
    idx = np.maximum(prev, 0)[..., None]
    Lp, Rp = np.take_along_axis(L, idx, 1), np.take_along_axis(R, idx, 1)
    same = np.linalg.norm(L - Lp, axis=-1) + np.linalg.norm(R - Rp, axis=-1)
    cross = np.linalg.norm(L - Rp, axis=-1) + np.linalg.norm(R - Lp, axis=-1)
    return np.where(linked, cross - same, 0.0), linked


def _viterbi_flips(evidence: np.ndarray, present: np.ndarray, switch_cost: float, flip_cost: float
                   ) -> np.ndarray:
    """Cheapest label states (B, F) bool (True = exchanged) of B independent 2-state chains.

    evidence: (B, F) cost change of switching between frame f-1 and f (negative favours a
    switch); present: (B, F) False where nothing is detected (the state cannot change there).
    """
    B, F = evidence.shape
    switch = np.where(present, switch_cost + evidence, np.inf)  # (B, F)
    back = np.zeros((B, F, 2), bool)  # back[b, f, s]: state at f-1 was the other one
    cost = np.stack([np.zeros(B), np.full(B, flip_cost)], -1)  # (B, 2)
    for f in range(1, F):
        other = cost[:, ::-1] + switch[:, f, None]
        back[:, f] = other < cost
        cost = np.minimum(cost, other)
        cost[:, 1] += flip_cost
        cost -= cost.min(1, keepdims=True)
    state = np.zeros((B, F), bool)
    s = cost[:, 1] < cost[:, 0]
    for f in range(F - 1, -1, -1):
        state[:, f] = s
        s = s ^ back[np.arange(B), f, s.astype(int)]
    return state


def group_pairs(groups: tuple[tuple[str, ...], ...] = DEFAULT_GROUPS) -> list[np.ndarray]:
    """MV3D23 (left, right) index pairs (K_g, 2) of each group of body parts."""
    return [np.array([(JOINT_INDEX["l_" + part], JOINT_INDEX["r_" + part]) for part in group]) for group in groups]


def temporal_swaps(keypoints: np.ndarray, params: SwapParams | None = None) -> np.ndarray:
    """(C, F, J) True where a camera's left/right labels are exchanged by the detector.

    keypoints: (C, F, 23, 3) MV3D23 pixels + confidence, consecutive frames. Flag both joints
    of every pair of a group that is held exchanged, where either of them is detected.
    """
    p = params or SwapParams()
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim != 4 or kp.shape[2:] != (len(MV3D23), 3):
        raise InputError(f"keypoints must have shape (C, F, {len(MV3D23)}, 3) (MV3D23 joints); got {kp.shape}")
    C, F, J, _ = kp.shape
    out = np.zeros((C, F, J), bool)
    if F < 2:
        return out
    det = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) >= p.min_confidence)
    height = _person_height(kp, det)  # (C,)
    pairs_by_group = group_pairs(p.groups)
    ev, present = [], []
    for pairs in pairs_by_group:
        e, _ = switch_evidence(kp, pairs, p.max_gap, p.min_confidence)
        ev.append(e.sum(-1) / height[:, None])
        present.append((det[..., pairs[:, 0]] | det[..., pairs[:, 1]]).any(-1))
    G = len(pairs_by_group)
    state = _viterbi_flips(np.stack(ev, 1).reshape(C * G, F), np.stack(present, 1).reshape(C * G, F),
                           p.switch_cost, p.flip_cost).reshape(C, G, F)
    for g, pairs in enumerate(pairs_by_group):
        for side in (0, 1):
            out[:, :, pairs[:, side]] = state[:, g, :, None] & (det[..., pairs[:, 0]] | det[..., pairs[:, 1]])
    return out


def apply_swaps(keypoints: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Keypoints (C, F, J, 3) with the left/right labels of the flagged (C, F, J) joints exchanged."""
    kp = np.asarray(keypoints, dtype=float)
    out = kp.copy()
    out[swapped] = kp[:, :, FLIP_INDEX][swapped]
    return out


__all__ = ["DEFAULT_GROUPS", "SwapParams", "apply_swaps", "group_pairs", "switch_evidence", "temporal_swaps"]
