"""OKS AP/AR and PCK on the COCO-WholeBody sample annotations."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mv3d.errors import InputError
from mv3d.pose2d.evaluate import BODY_SIGMAS, FOOT_SIGMAS, evaluate, load_ground_truth, load_results

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GT = DATA / "mmpose-samples" / "coco-wholebody" / "test_coco_wholebody.json"
pytestmark = pytest.mark.skipif(not GT.exists(), reason=f"shared data missing: {GT}")


def _gt_as_detections(gts):
    """Ground truth as predictions; unlabelled joints at the box centre (a detector always outputs every joint)."""
    dets = {}
    for image_id, g in gts.items():
        kp = g.keypoints.copy()
        centre = g.boxes[:, :2] + g.boxes[:, 2:] / 2
        kp[..., :2] = np.where(kp[..., 2:] > 0, kp[..., :2], centre[:, None])
        kp[..., 2] = 1.0
        dets[image_id] = (kp, np.ones(len(kp)))
    return dets


def _oks_by_hand(shift, gt_kp, area, sigmas):
    """COCO OKS of keypoints all displaced by ``shift`` pixels: mean over labelled joints of exp(-d^2 / (2 A (2 s)^2))."""
    vis = gt_kp[:, 2] > 0
    return float(np.mean(np.exp(-shift**2 / (2 * area * (2 * sigmas[vis]) ** 2))))


def _ap_one_miss(n_pos):
    """AP at one OKS threshold when n_pos - 1 people are found first and the last detection misses:
    precision 1 up to recall (n_pos-1)/n_pos, so the recall thresholds 0, 0.01, ... up to it count 1, others 0."""
    return sum(1 for i in range(101) if i / 100 <= (n_pos - 1) / n_pos) / 101


def test_ground_truth_against_itself_is_perfect():
    gts = load_ground_truth(GT)
    m = evaluate(gts, _gt_as_detections(gts))
    for key in ("body_ap", "foot_ap", "body_foot_ap", "body_ar", "foot_ar", "body_foot_ar", "pck@0.05"):
        assert m[key] == pytest.approx(1.0, abs=1e-12), key


def test_known_perturbation_gives_hand_computed_ap():
    from scipy.optimize import brentq

    gts = load_ground_truth(GT)
    dets = _gt_as_detections(gts)
    g = gts[785]  # the only person of its image: a displaced copy cannot match anyone else
    kp = g.keypoints[0]
    # displacement giving body OKS 0.72 (between the 0.70 and 0.75 thresholds), found with the formula above
    shift = brentq(lambda d: _oks_by_hand(d, kp[:17], g.areas[0], BODY_SIGMAS) - 0.72, 0.0, 200.0)
    moved = dets[785][0].copy()
    moved[0, :17, 0] += shift  # body joints only; feet untouched
    dets[785] = (moved, np.array([0.5]))  # the lowest score: ranked after all other people
    n_body = sum(int((((gg.keypoints[:, :17, 2] > 0).sum(-1) > 0) & ~gg.crowd).sum()) for gg in gts.values())
    assert n_body == 12  # the 14 annotations minus 2 without any labelled joint
    m = evaluate(gts, dets)
    # thresholds 0.50..0.70 (5 of 10): all true positives, AP 1; 0.75..0.95: one miss, AP 92/101
    assert m["body_ap"] == pytest.approx((5 * 1.0 + 5 * _ap_one_miss(n_body)) / 10, abs=1e-12)
    assert _ap_one_miss(n_body) == pytest.approx(92 / 101)
    assert m["body_ar"] == pytest.approx((5 * 1.0 + 5 * 11 / 12) / 10, abs=1e-12)
    assert m["foot_ap"] == pytest.approx(1.0)
    # PCK@0.05 of the box's longer side (346.68 px = 17.3 px): the 13.8 px shift is still a hit ...
    assert 0.03 * 346.68 < shift < 0.05 * 346.68
    assert m["pck@0.05"] == 1.0
    # ... but not at 0.03 of the box (10.4 px): exactly that person's 17 body joints miss
    from mv3d.pose2d.evaluate import best_matches, pck

    pred, gt, norm = best_matches(gts, dets)
    n_vis = int((gt[..., 2] > 0).sum())
    assert pck(pred, gt, norm, 0.03) == pytest.approx(1 - 17 / n_vis, abs=1e-12)


def test_foot_sigmas_and_foot_miss():
    assert FOOT_SIGMAS.tolist() == [0.068, 0.066, 0.066, 0.092, 0.094, 0.094]  # COCO-WholeBody
    gts = load_ground_truth(GT)
    dets = _gt_as_detections(gts)
    moved = dets[785][0].copy()
    moved[0, 17:, :2] += 1000.0  # feet far away: foot OKS 0
    dets[785] = (moved, np.array([0.5]))
    n_foot = sum(int((((gg.keypoints[:, 17:, 2] > 0).sum(-1) > 0) & ~gg.crowd).sum()) for gg in gts.values())
    m = evaluate(gts, dets)
    assert m["foot_ap"] == pytest.approx(_ap_one_miss(n_foot), abs=1e-12)  # a miss at every threshold
    assert m["body_ap"] == pytest.approx(1.0)


def test_cli_writes_metrics(tmp_path):
    from pipelines.cli import cli

    gts = load_ground_truth(GT)
    results = [{"image_id": int(i), "category_id": 1, "keypoints": kp.reshape(-1).tolist(), "score": 1.0}
               for i, (kps, _) in _gt_as_detections(gts).items() for kp in kps]
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps(results))
    out = tmp_path / "metrics.json"
    res = CliRunner().invoke(cli, ["eval", "pose2d", "--gt", str(GT), "--pred", str(pred), "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads(out.read_text())
    assert metrics["body_ap"] == metrics["foot_ap"] == metrics["body_foot_ap"] == 1.0
    assert "body_ap" in res.output


def test_bad_results_file_names_the_detection(tmp_path):
    gts = load_ground_truth(GT)
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps([{"image_id": 785, "category_id": 1, "keypoints": [0.0] * 51, "score": 1}]))
    with pytest.raises(InputError, match=r"detection 0 \(image 785\) has 51 keypoint values; expected 69"):
        load_results(bad, gts)
