"""Constant bone lengths: robust estimation over a trial and trajectory refinement.

``estimate_limb_lengths`` takes the median bone length over frames where both joints are
reliably triangulated (optionally blended with an anthropometric prior from the height).
``refine_with_limbs`` then minimises over the whole trajectory

    sum rho(|project(X) - uv| / sigma_px) * conf              (inlier views only; soft-L1)
  + sum ((|X_a - X_b| - L_ab) / sigma_bone)^2                 (every limb, every frame)
  + sum (|X_{f+1} - 2 X_f + X_{f-1}| / (sigma_acc / fps^2))^2  (smoothness)

by L-BFGS in torch (float64, analytic gradients), in overlapping chunks of frames. The
bone term makes lengths constant to a fraction of a millimetre while the image term keeps
the points on their detections.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mv3d.errors import InputError
from mv3d.parallel import for_chunks
from mv3d.skeleton import LIMB_INDEX, LIMBS, MV3D23
from mv3d.timeseries import fill_gaps

log = logging.getLogger(__name__)

#: Segment lengths as fractions of body height, from Winter (2009), "Biomechanics and Motor
#: Control of Human Movement", 4th ed., Fig. 4.1 (Drillis & Contini): upper arm 0.186,
#: forearm 0.146, thigh (hip-knee) 0.245, shank (knee-ankle) 0.246, shoulder width 0.259,
#: hip width 0.191, trunk side (shoulder-hip, 0.818 - 0.530) 0.288, heel-ankle 0.039.
ANTHROPOMETRIC_RATIOS: dict[tuple[str, str], float] = {
    ("l_shoulder", "l_elbow"): 0.186, ("r_shoulder", "r_elbow"): 0.186,
    ("l_elbow", "l_wrist"): 0.146, ("r_elbow", "r_wrist"): 0.146,
    ("l_hip", "l_knee"): 0.245, ("r_hip", "r_knee"): 0.245,
    ("l_knee", "l_ankle"): 0.246, ("r_knee", "r_ankle"): 0.246,
    ("l_shoulder", "r_shoulder"): 0.259, ("l_hip", "r_hip"): 0.191,
    ("l_shoulder", "l_hip"): 0.288, ("r_shoulder", "r_hip"): 0.288,
    ("l_ankle", "l_heel"): 0.039, ("r_ankle", "r_heel"): 0.039,
}


#: Segments whose lengths give the standing height by default: legs and arms (pose-independent).
HEIGHT_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("l_hip", "l_knee"), ("r_hip", "r_knee"), ("l_knee", "l_ankle"), ("r_knee", "r_ankle"),
    ("l_shoulder", "l_elbow"), ("r_shoulder", "r_elbow"), ("l_elbow", "l_wrist"), ("r_elbow", "r_wrist"),
)


def estimate_height(points: np.ndarray, joint_names: Sequence[str] = MV3D23,
                    segments: Sequence[tuple[str, str]] = HEIGHT_SEGMENTS, min_frames: int = 10) -> float:
    """Standing height (unit of the points) from median segment lengths over frames (F, J, 3).

    H = sum of the median lengths / sum of their ANTHROPOMETRIC_RATIOS, over the ``segments``
    whose joints are in ``joint_names`` and that were reconstructed in at least ``min_frames`` frames.
    COCO's hip keypoint is the hip joint, not the trochanter of the table, and people deviate from
    average proportions: expect a few percent.
    """
    idx = {n: i for i, n in enumerate(joint_names)}
    total, ratio = 0.0, 0.0
    for a, b in segments:
        if a in idx and b in idx:
            d = np.linalg.norm(points[:, idx[a]] - points[:, idx[b]], axis=-1)
            d = d[np.isfinite(d)]
            if d.size >= min_frames:
                total += float(np.median(d))
                ratio += ANTHROPOMETRIC_RATIOS[(a, b)]
    if ratio == 0:
        raise InputError("cannot estimate the subject's height: none of the segments "
                         f"{', '.join(f'{a}-{b}' for a, b in segments)} was reconstructed in {min_frames} frames "
                         "or more; give the height (e.g. sessionMetadata.yaml height_m)")
    return total / ratio


def limb_lengths_from_height(height: float) -> np.ndarray:
    """(B,) prior bone lengths (metres) of LIMBS from the body height; NaN where no ratio is known."""
    return np.array([height * ANTHROPOMETRIC_RATIOS.get(limb, np.nan) for limb in LIMBS])


def estimate_limb_lengths(points: np.ndarray, used: np.ndarray | None = None, min_views: int = 3,
                          height: float | None = None, prior_weight: float = 0.0) -> np.ndarray:
    """Robust bone lengths (B,) of LIMBS over a trial.

    points: (F, 23, 3) metres; used: optional (C, F, 23) inlier views; a frame counts for a
    bone when both joints are finite and (if used is given) seen by at least min_views
    cameras (falls back to >= 2 views when fewer than 10 frames qualify). The median over
    those frames; with height and prior_weight in (0, 1], blended with the anthropometric
    prior (prior_weight 1: the prior only where known). NaN for a bone never measured.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 3 or points.shape[1:] != (len(MV3D23), 3):
        raise InputError(f"estimate_limb_lengths expects (F, {len(MV3D23)}, 3) points, got {points.shape}")
    a, b = LIMB_INDEX[:, 0], LIMB_INDEX[:, 1]
    L = np.linalg.norm(points[:, a] - points[:, b], axis=-1)  # (F, B)
    ok = np.isfinite(L)
    if used is not None:
        n = np.asarray(used).sum(0)  # (F, J)
        strict = ok & (n[:, a] >= min_views) & (n[:, b] >= min_views)
        ok = np.where(strict.sum(0) >= 10, strict, ok)
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lengths = np.nanmedian(np.where(ok, L, np.nan), axis=0)
    if height is not None and prior_weight > 0:
        prior = limb_lengths_from_height(height)
        known = np.isfinite(prior)
        blend = np.where(np.isfinite(lengths), (1 - prior_weight) * lengths + prior_weight * prior, prior)
        lengths = np.where(known, blend, lengths)
    return lengths


#: Bones between keypoints that are not joint centres of one rigid segment (the torso
#: quadrilateral bends and twists; face points are close together): a softer constraint.
SOFT_LIMBS: frozenset[tuple[str, str]] = frozenset({
    ("l_shoulder", "r_shoulder"), ("l_hip", "r_hip"), ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"),
    ("nose", "l_eye"), ("nose", "r_eye"), ("l_eye", "l_ear"), ("r_eye", "r_ear"),
})


@dataclass(frozen=True)
class LimbParams:
    """Weights of the refinement: sigma_px (image noise, pixels); sigma_bone (metres) for the
    limb segments and sigma_bone_soft for SOFT_LIMBS (torso, face); sigma_acc (m/s^2,
    smoothness prior), fps; chunk/overlap in frames; max_iter of L-BFGS; projection_iters:
    iterations of the final exact length projection (``enforce_lengths``, 0 = none); threads:
    chunks refined at once (None: one per core)."""

    sigma_px: float = 3.0
    sigma_bone: float = 0.003
    sigma_bone_soft: float = 0.004
    sigma_acc: float = 100.0
    fps: float = 60.0
    chunk: int = 1000
    overlap: int = 30
    max_iter: int = 40
    projection_iters: int = 20
    threads: int | None = None


def _refine_chunk(trig, X0: np.ndarray, uv: np.ndarray, w: np.ndarray, lengths: np.ndarray,
                  known: np.ndarray, p: LimbParams) -> np.ndarray:
    import torch

    dt = torch.float64
    x0 = torch.as_tensor(np.where(known[..., None], X0, 0.0), dtype=dt)
    obs = torch.as_tensor(np.nan_to_num(uv), dtype=dt)
    wt = torch.as_tensor(w, dtype=dt)
    L = torch.as_tensor(np.nan_to_num(lengths), dtype=dt)
    has_L = torch.as_tensor(np.isfinite(lengths))
    kn = torch.as_tensor(known)
    a, b = torch.as_tensor(LIMB_INDEX[:, 0]), torch.as_tensor(LIMB_INDEX[:, 1])
    bone_ok = (kn[:, a] & kn[:, b] & has_L).to(dt)
    acc_ok = (kn[2:] & kn[1:-1] & kn[:-2]).to(dt)
    s_acc = p.sigma_acc / p.fps ** 2
    sig_b = torch.as_tensor([p.sigma_bone_soft if limb in SOFT_LIMBS else p.sigma_bone for limb in LIMBS], dtype=dt)
    scale = 1e-3  # optimise millimetre offsets: well-scaled variables for L-BFGS
    delta = torch.zeros_like(x0, requires_grad=True)
    opt = torch.optim.LBFGS([delta], lr=1.0, max_iter=p.max_iter, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def loss_fn():
        opt.zero_grad()
        X = x0 + scale * delta
        proj, z = trig.project(X)
        r2 = ((proj - obs) ** 2).sum(-1) / p.sigma_px ** 2
        reproj = (wt * 2 * (torch.sqrt(1 + r2) - 1)).sum()
        bl = torch.linalg.norm(X[:, a] - X[:, b], dim=-1)
        bone = (bone_ok * ((bl - L) / sig_b) ** 2).sum()
        acc = X[2:] - 2 * X[1:-1] + X[:-2]
        smooth = (acc_ok[..., None] * (acc / s_acc) ** 2).sum()
        loss = reproj + bone + smooth
        loss.backward()
        return loss

    opt.step(loss_fn)
    return (x0 + scale * delta).detach().numpy()


def refine_with_limbs(rig, keypoints: np.ndarray, points: np.ndarray, used: np.ndarray,
                      lengths: np.ndarray | None = None, params: LimbParams | None = None,
                      max_gap: int = 10) -> np.ndarray:
    """Refine a trajectory so bone lengths are constant while staying on the images.

    rig: CameraRig (C); keypoints: (C, F, 23, 3) the 2D detections (with any swaps already
    corrected); points: (F, 23, 3) initial 3D (NaN = missing); used: (C, F, 23) inlier views
    (only those pull on the points). lengths: (B,) bone lengths (default
    ``estimate_limb_lengths(points, used)``). Missing points in gaps of at most max_gap
    frames are initialised by interpolation and estimated from bones and smoothness; longer
    gaps stay NaN. Returns (F, 23, 3).
    """
    from mv3d.triangulate.torch_camera import TorchRig, single_thread

    p = params or LimbParams()
    points = np.asarray(points, dtype=float)
    F, J, _ = points.shape
    if J != len(MV3D23):
        raise InputError(f"limb refinement needs the {len(MV3D23)} MV3D23 joints, got {J}")
    if lengths is None:
        lengths = estimate_limb_lengths(points, used)
    init = fill_gaps(points, max_gap).filled if F > 1 else points
    known = np.isfinite(init).all(-1)
    kp = np.asarray(keypoints, dtype=float)
    w = np.where(used & np.isfinite(kp[..., :2]).all(-1), np.nan_to_num(kp[..., 2]), 0.0)
    trig = TorchRig.from_rig(rig)
    out = np.full_like(points, np.nan)
    with single_thread():
        _refine_chunks(trig, init, kp, w, lengths, known, p, out)
    out = enforce_lengths(out, lengths, known, p.projection_iters)
    out[~known] = np.nan
    log.info("limb refinement: %d frames, bone lengths (mm) %s", F,
             np.array2string(np.round(lengths * 1000), separator=","))
    return out


def enforce_lengths(points: np.ndarray, lengths: np.ndarray, known: np.ndarray | None = None,
                    iters: int = 20) -> np.ndarray:
    """Make the limb-segment bones exactly their lengths by alternating projections.

    points: (F, 23, 3); lengths: (B,) of LIMBS (NaN = free). Each iteration moves both ends
    of every bone (not SOFT_LIMBS) along the bone by half its length error, all frames at
    once (Gauss-Seidel over bones, which share joints). After L-BFGS the errors are a few
    millimetres, so the points move by as little and stay on the images. Returns (F, 23, 3).
    """
    X = np.array(points, dtype=float)
    known = np.isfinite(X).all(-1) if known is None else known
    rigid = [k for k, limb in enumerate(LIMBS) if limb not in SOFT_LIMBS and np.isfinite(lengths[k])]
    for _ in range(iters):
        for k in rigid:
            a, b = LIMB_INDEX[k]
            d = X[:, b] - X[:, a]
            n = np.linalg.norm(d, axis=-1, keepdims=True)
            ok = (known[:, a] & known[:, b])[:, None] & (n > 1e-9)
            corr = np.where(ok, 0.5 * (n - lengths[k]) * d / np.where(ok, n, 1.0), 0.0)
            X[:, a] += corr
            X[:, b] -= corr
    return X


def _refine_chunks(trig, init, kp, w, lengths, known, p: LimbParams, out: np.ndarray) -> None:
    """Refine overlapping chunks of frames (in parallel threads) and keep each chunk's core."""
    F = init.shape[0]
    step = max(p.chunk - 2 * p.overlap, 1)
    starts = []
    for s in range(0, F, step):
        starts.append(s)
        if s + step + p.overlap >= F:
            break

    def refine(chunks: slice) -> None:
        for i in range(len(starts))[chunks]:
            s = starts[i]
            lo = max(s - p.overlap, 0)
            last = i == len(starts) - 1
            hi, stop = (F, F) if last else (s + step + p.overlap, s + step)
            res = _refine_chunk(trig, init[lo:hi], kp[:, lo:hi, :, :2], w[:, lo:hi], lengths, known[lo:hi], p)
            out[s:stop] = res[s - lo:stop - lo]

    for_chunks(refine, len(starts), 1, p.threads)
