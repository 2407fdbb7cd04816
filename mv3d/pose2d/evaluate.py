"""COCO-style keypoint evaluation (OKS AP/AR) and PCK for MV3D23 predictions.

OKS and the matching/accumulation follow the COCO keypoint evaluation protocol: per image,
detections sorted by score (at most ``max_dets``) are matched greedily to the unmatched
ground truth of highest OKS above a threshold; AP is the mean, over OKS thresholds
0.50:0.05:0.95, of the 101-point interpolated precision; AR the mean recall. Area range "all".
Crowd annotations are ignored: never counted, and a detection matching one (possibly several
detections per crowd region) is neither a true nor a false positive. A ground-truth person counts
for a part (body, foot, body+foot) only when it has at least one labelled keypoint of that
part (COCO's ``num_keypoints == 0`` rule applied per part); a detection matched to an ignored
person is neither a true nor a false positive.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.pose2d.data import wholebody_to_mv3d23

log = logging.getLogger(__name__)

#: COCO body keypoint sigmas (17, COCO order).
BODY_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                        0.107, 0.107, 0.087, 0.087, 0.089, 0.089])
#: COCO-WholeBody foot sigmas (L big toe, L small toe, L heel, R big toe, R small toe, R heel).
FOOT_SIGMAS = np.array([0.068, 0.066, 0.066, 0.092, 0.094, 0.094])
#: Parts evaluated: name -> MV3D23 joint indices.
PARTS: dict[str, np.ndarray] = {"body": np.arange(17), "foot": np.arange(17, 23), "body_foot": np.arange(23)}
SIGMAS23 = np.concatenate([BODY_SIGMAS, FOOT_SIGMAS])
OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


@dataclass
class GroundTruth:
    """Annotations of one image: keypoints (G, 23, 3), areas (G,), boxes (G, 4), crowd (G,) bool."""

    keypoints: np.ndarray
    areas: np.ndarray
    boxes: np.ndarray
    crowd: np.ndarray


def compute_oks(dt: np.ndarray, gt: np.ndarray, areas: np.ndarray, boxes: np.ndarray, sigmas: np.ndarray,
                ) -> np.ndarray:
    """Object keypoint similarity (D, G) of detections dt (D, K, 2|3) with gt (G, K, 3).

    A ground truth without labelled keypoints is compared through its box, enlarged to 3x
    (distance 0 inside), as COCO does.
    """
    d = np.asarray(dt, dtype=float)[:, None, :, :2]  # (D, 1, K, 2)
    g = np.asarray(gt, dtype=float)
    var = (2 * sigmas) ** 2
    vis = g[..., 2] > 0  # (G, K)
    k = vis.sum(-1)
    diff = d - g[None, :, :, :2]
    # Box-based distances for unlabelled ground truth.
    x0, y0 = boxes[:, 0] - boxes[:, 2], boxes[:, 1] - boxes[:, 3]
    x1, y1 = boxes[:, 0] + 2 * boxes[:, 2], boxes[:, 1] + 2 * boxes[:, 3]
    bdx = np.maximum(0, x0[None, :, None] - d[..., 0]) + np.maximum(0, d[..., 0] - x1[None, :, None])
    bdy = np.maximum(0, y0[None, :, None] - d[..., 1]) + np.maximum(0, d[..., 1] - y1[None, :, None])
    dx = np.where(k[None, :, None] > 0, diff[..., 0], bdx)
    dy = np.where(k[None, :, None] > 0, diff[..., 1], bdy)
    e = (dx**2 + dy**2) / var / (areas[None, :, None] + np.spacing(1)) / 2
    sim = np.exp(-e)
    sim = np.where(np.isfinite(sim), sim, 0.0)  # a NaN prediction counts as a miss
    mask = np.where(k[None, :, None] > 0, vis[None], True)
    return (sim * mask).sum(-1) / np.maximum(mask.sum(-1), 1)


def _match_image(oks: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy COCO matching for all thresholds. oks (D, G) with D sorted by score, ground truth sorted with
    non-ignored first; crowd (G,) regions may absorb several detections. Returns dt_matched (T, D) bool, dt_ignored (T, D) bool, gt_matched (T, G) bool."""
    n_t, (n_d, n_g) = len(OKS_THRESHOLDS), oks.shape
    dtm = np.zeros((n_t, n_d), bool)
    dti = np.zeros((n_t, n_d), bool)
    gtm = np.zeros((n_t, n_g), bool)
    for ti, t in enumerate(OKS_THRESHOLDS):
        for di in range(n_d):
            best, m = min(t, 1 - 1e-10), -1
            for gi in range(n_g):
                if gtm[ti, gi] and not crowd[gi]:
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[gi]:
                    break  # only ignored ground truth left
                if oks[di, gi] < best:
                    continue
                best, m = oks[di, gi], gi
            if m > -1:
                dtm[ti, di], dti[ti, di], gtm[ti, m] = True, gt_ignore[m], True
    return dtm, dti, gtm


def average_precision(gts: dict[int, GroundTruth], dets: dict[int, tuple[np.ndarray, np.ndarray]], joints: np.ndarray,
                      sigmas: np.ndarray, max_dets: int = 20) -> tuple[float, float]:
    """COCO OKS AP and AR over images. dets: image_id -> (keypoints (D, 23, 3), scores (D,))."""
    scores_all, tp_all, fp_all = [], [], []
    n_pos = 0
    for image_id, gt in gts.items():
        kp = gt.keypoints[:, joints]
        ignore = gt.crowd | ((kp[..., 2] > 0).sum(-1) == 0)
        order_g = np.argsort(ignore, kind="stable")
        n_pos += int((~ignore).sum())
        dk, ds = dets.get(image_id, (np.zeros((0, 23, 3)), np.zeros(0)))
        order_d = np.argsort(-ds, kind="stable")[:max_dets]
        if len(order_d) == 0:
            continue
        oks = compute_oks(dk[order_d][:, joints], kp[order_g], gt.areas[order_g], gt.boxes[order_g], sigmas)
        dtm, dti, _ = _match_image(oks, ignore[order_g], gt.crowd[order_g])
        scores_all.append(ds[order_d])
        tp_all.append(dtm & ~dti)
        fp_all.append(~dtm & ~dti)
    if n_pos == 0:
        return float("nan"), float("nan")
    if not scores_all:
        return 0.0, 0.0
    scores = np.concatenate(scores_all)
    order = np.argsort(-scores, kind="mergesort")
    tps = np.concatenate(tp_all, axis=1)[:, order]
    fps = np.concatenate(fp_all, axis=1)[:, order]
    precisions, recalls = [], []
    for tp, fp in zip(np.cumsum(tps, 1, dtype=float), np.cumsum(fps, 1, dtype=float)):
        rc = tp / n_pos
        pr = tp / (fp + tp + np.spacing(1))
        recalls.append(rc[-1] if len(rc) else 0.0)
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
        idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        q = np.where(idx < len(pr), pr[np.minimum(idx, len(pr) - 1)], 0.0)
        precisions.append(q.mean())
    return float(np.mean(precisions)), float(np.mean(recalls))


def pck(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray, alpha: float = 0.05) -> float:
    """Fraction of labelled joints within alpha * norm pixels. pred (N, J, 2+), gt (N, J, 3), norm (N,)."""
    vis = gt[..., 2] > 0
    if not vis.any():
        return float("nan")
    dist = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    hit = np.nan_to_num(dist, nan=np.inf) <= alpha * norm[:, None]
    return float(hit[vis].mean())


def load_ground_truth(path: str | Path) -> dict[int, GroundTruth]:
    """COCO-WholeBody annotations (person category) -> image_id -> :class:`GroundTruth` in MV3D23 order."""
    path = Path(path)
    try:
        coco = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read ground-truth annotations ({exc})") from exc
    if "annotations" not in coco or "images" not in coco:
        raise InputError(f"{path}: not a COCO annotation file (needs 'images' and 'annotations')")
    per_image: dict[int, list] = {im["id"]: [] for im in coco["images"]}
    for ann in coco["annotations"]:
        if ann.get("category_id", 1) != 1:
            continue
        per_image.setdefault(ann["image_id"], []).append(ann)
    out = {}
    for image_id, anns in per_image.items():
        if not anns:
            out[image_id] = GroundTruth(np.zeros((0, 23, 3)), np.zeros(0), np.zeros((0, 4)), np.zeros(0, bool))
            continue
        out[image_id] = GroundTruth(
            keypoints=np.stack([wholebody_to_mv3d23(a) for a in anns]),
            areas=np.array([a["area"] for a in anns], dtype=float),
            boxes=np.array([a["bbox"] for a in anns], dtype=float),
            crowd=np.array([bool(a.get("iscrowd", 0)) for a in anns]))
    return out


def load_results(path: str | Path, gts: dict[int, GroundTruth]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """COCO results list (image_id, category_id, keypoints 23x3 MV3D23, score) -> image_id -> (kps, scores)."""
    path = Path(path)
    try:
        res = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read results ({exc})") from exc
    if not isinstance(res, list):
        raise InputError(f"{path}: results must be a JSON list of detections")
    per_image: dict[int, list] = {}
    for i, r in enumerate(res):
        if r.get("category_id", 1) != 1:
            continue
        kp = np.asarray(r.get("keypoints", []), dtype=float)
        if kp.size != 69:
            raise InputError(f"{path}: detection {i} (image {r.get('image_id')}) has {kp.size} keypoint values; "
                             "expected 69 (23 MV3D23 joints x (x, y, score))")
        if r.get("image_id") not in gts:
            raise InputError(f"{path}: detection {i} refers to image_id {r.get('image_id')}, "
                             "which is not in the ground truth")
        per_image.setdefault(r["image_id"], []).append((kp.reshape(23, 3), float(r.get("score", 1.0))))
    return {k: (np.stack([a for a, _ in v]), np.array([s for _, s in v])) for k, v in per_image.items()}


def best_matches(gts: dict[int, GroundTruth], dets: dict[int, tuple[np.ndarray, np.ndarray]],
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For PCK: non-crowd labelled people paired one-to-one with detections in decreasing body+foot OKS. Returns pred (N, 23, 3) (NaN when unmatched), gt (N, 23, 3), norm (N,)."""
    preds, gtk, norms = [], [], []
    for image_id, gt in gts.items():
        keep = ~gt.crowd & ((gt.keypoints[..., 2] > 0).sum(-1) > 0)
        kp, areas, boxes = gt.keypoints[keep], gt.areas[keep], gt.boxes[keep]
        pred = np.full(kp.shape, np.nan)
        dk, ds = dets.get(image_id, (np.zeros((0, 23, 3)), np.zeros(0)))
        if len(dk) and len(kp):
            oks = compute_oks(dk, kp, areas, boxes, SIGMAS23)
            used_d, used_g = set(), set()
            for flat in np.argsort(-oks, axis=None, kind="stable"):
                di, gi = divmod(int(flat), len(kp))
                if oks[di, gi] <= 0 or di in used_d or gi in used_g:
                    continue
                used_d.add(di)
                used_g.add(gi)
                pred[gi] = dk[di]
        preds.append(pred)
        gtk.append(kp)
        norms.append(boxes[:, 2:].max(-1) if len(boxes) else np.zeros(0))
    return np.concatenate(preds), np.concatenate(gtk), np.concatenate(norms)


def evaluate(gts: dict[int, GroundTruth], dets: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """AP/AR for body, foot, body+foot and PCK@0.05/0.1 (of the box's longer side) for body+foot."""
    metrics: dict[str, float] = {}
    for part, joints in PARTS.items():
        ap, ar = average_precision(gts, dets, joints, SIGMAS23[joints])
        metrics[f"{part}_ap"], metrics[f"{part}_ar"] = ap, ar
    pred, gt, norm = best_matches(gts, dets)
    for alpha in (0.05, 0.1):
        metrics[f"pck@{alpha:g}"] = pck(pred, gt, norm, alpha)
        metrics[f"foot_pck@{alpha:g}"] = pck(pred[:, 17:], gt[:, 17:], norm, alpha)
    return metrics


def evaluate_files(gt_path: str | Path, results_path: str | Path) -> dict[str, float]:
    """:func:`evaluate` on a COCO-WholeBody annotation file and a COCO results file."""
    gts = load_ground_truth(gt_path)
    return evaluate(gts, load_results(results_path, gts))
