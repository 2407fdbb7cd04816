"""Marker groups, per-group RMSE, offset split and verdicts of mv3d.augment.evaluation (hand-computed values)."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.augment.evaluation import (ALL, MARKER_GROUPS, OTHER, GroupErrors, group_names, marker_group,
                                     marker_stem, mean_offsets, offset_split, pelvis_heading, pelvis_tilt,
                                     squared_distances, verdict)
from mv3d.augment.markers import LOWER_OUTPUTS, UPPER_OUTPUTS
from mv3d.errors import InputError

NAMES = ["r.ASIS_study", "r_knee_study", "L_knee_study"]


def test_every_opencap_marker_has_its_group():
    groups = [marker_group(n) for n in LOWER_OUTPUTS + UPPER_OUTPUTS]
    counts = {g: groups.count(g) for g in MARKER_GROUPS}
    # 4 ASIS/PSIS + 2 hip centres; knee, mknee, thigh1-3 per side; sh1-3, ankle, mankle per side;
    # toe, 5meta, calc per side; both shoulders + C7; 2 elbow + 2 wrist markers per side.
    assert counts == {"pelvis": 6, "thigh/knee": 10, "shank/ankle": 10, "foot": 6, "trunk/shoulders": 3, "arms": 8}
    assert OTHER not in groups
    assert marker_stem("LHJC_study") == "hjc" and marker_stem("L.PSIS_study") == "psis"
    assert marker_group("r_hand2_study") == "arms"  # the built-in model's hand markers
    assert marker_group("RKnee") == OTHER  # a video keypoint is no augmenter marker
    assert group_names(["C7_study", "RKnee", "r_toe_study"]) == ["foot", "trunk/shoulders", OTHER]


def _two_frames() -> tuple[np.ndarray, np.ndarray]:
    true = np.zeros((2, 3, 3))
    pred = true.copy()
    pred[0, 0] = [0.003, 0.004, 0.0]  # r.ASIS: 5 mm, then 0 mm
    pred[0, 1] = [0.0, 0.010, 0.0]  # r_knee: 10 mm, then missing
    pred[1, 1] = np.nan
    pred[0, 2] = [0.002, 0.0, 0.0]  # L_knee: 2 mm, then 6 mm
    pred[1, 2] = [0.0, 0.0, 0.006]
    return pred, true


def test_group_rmse_matches_hand_computed_values():
    pred, true = _two_frames()
    sq = squared_distances(pred, true)
    assert sq[0] == pytest.approx([25e-6, 100e-6, 4e-6])
    assert np.isnan(sq[1, 1])
    err = GroupErrors.from_markers(pred, true, NAMES)
    assert err.counts == {"pelvis": 2, "thigh/knee": 3, ALL: 5}  # the missing value is left out
    rmse = err.rmse_mm()
    assert rmse["pelvis"] == pytest.approx(np.sqrt(25 / 2))  # sqrt((25 + 0) / 2) mm
    assert rmse["thigh/knee"] == pytest.approx(np.sqrt(140 / 3))  # sqrt((100 + 4 + 36) / 3) mm
    assert rmse[ALL] == pytest.approx(np.sqrt(33.0))  # sqrt(165 / 5) mm


def test_pooling_is_exact_over_clips():
    pred, true = _two_frames()
    toe = GroupErrors.from_markers(np.array([[[0.0, 0.012, 0.0]]]), np.zeros((1, 1, 3)), ["r_toe_study"])
    pooled = GroupErrors.from_markers(pred, true, NAMES) + toe
    rmse = pooled.rmse_mm()
    assert rmse["foot"] == pytest.approx(12.0)
    assert rmse["pelvis"] == pytest.approx(np.sqrt(12.5))  # unchanged by a clip without pelvis markers
    assert rmse[ALL] == pytest.approx(np.sqrt((165 + 144) / 6))
    empty = GroupErrors.from_squared(np.full((2, 1), np.nan), ["C7_study"])  # nothing to average: NaN, not 0
    assert np.isnan(empty.rmse_mm()["trunk/shoulders"]) and np.isnan(empty.rmse_mm()[ALL])


def test_offset_split_separates_a_body_fixed_offset_from_the_varying_error():
    heading = np.array([0.0, 1.0, 2.0, -2.5])
    right = np.stack([np.sin(heading), np.zeros(4), np.cos(heading)], axis=1)  # +Z turned by heading about +Y
    true = np.stack([0.1 * right, -0.1 * right, 0.2 * right], axis=1) + [0.0, 1.0, 0.0]
    names = ["r.ASIS_study", "L.ASIS_study", "r_knee_study"]
    np.testing.assert_allclose(pelvis_heading(true, names), heading, atol=1e-12)
    forward = np.stack([np.cos(heading), np.zeros(4), -np.sin(heading)], axis=1)  # +X turned the same way
    pred = true + 0.010 * forward[:, None]  # every marker 10 mm in front of the truth, in the body's frame
    offset, residual = offset_split(pred, true, names, pelvis_heading(true, names))
    assert offset.rmse_mm()[ALL] == pytest.approx(10.0)
    assert residual.rmse_mm()[ALL] == pytest.approx(0.0, abs=1e-9)
    # Not turned, the world-frame mean of a turning offset is smaller; the squares still add up.
    offset_w, residual_w = offset_split(pred, true, names)
    assert offset_w.rmse_mm()[ALL] < 5.0
    assert offset_w.rmse_mm()[ALL] ** 2 + residual_w.rmse_mm()[ALL] ** 2 == pytest.approx(100.0)


def test_pelvis_tilt_of_a_turned_and_tilted_pelvis():
    heading = np.array([0.0, 0.8, -2.0])
    tilt = np.radians([10.0, -35.0, 0.0])
    right = np.stack([np.sin(heading), np.zeros(3), np.cos(heading)], axis=1)
    forward = np.stack([np.cos(heading), np.zeros(3), -np.sin(heading)], axis=1)
    up = np.array([0.0, 1.0, 0.0])
    psis = np.array([0.3, 0.9, -0.2])
    asis = psis + 0.16 * (np.cos(tilt)[:, None] * forward + np.sin(tilt)[:, None] * up)  # 16 cm PSIS -> ASIS
    markers = np.stack([asis + 0.12 * right, asis - 0.12 * right, psis + 0.04 * right, psis - 0.04 * right], axis=1)
    names = ["r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study"]
    np.testing.assert_allclose(pelvis_tilt(markers, names), tilt, atol=1e-12)
    with pytest.raises(InputError, match="r.PSIS_study and L.PSIS_study"):
        pelvis_tilt(markers[:, :2], names[:2])


def test_offset_split_of_a_two_frame_error():
    pred = np.array([[[0.001, 0.0, 0.0]], [[0.003, 0.0, 0.0]], [[np.nan, 0.0, 0.0]]])
    offset, residual = offset_split(pred, np.zeros((3, 1, 3)), ["r_calc_study"])
    # errors 1 and 3 mm (third frame missing): mean 2 mm, deviations +-1 mm, total sqrt(5) mm
    assert offset.rmse_mm()["foot"] == pytest.approx(2.0)
    assert residual.rmse_mm()["foot"] == pytest.approx(1.0)
    assert offset.counts["foot"] == 2
    np.testing.assert_allclose(mean_offsets(pred), [[0.002, 0.0, 0.0]])
    never = mean_offsets(np.full((2, 1, 3), np.nan))  # a marker never predicted has no offset, not 0
    assert np.isnan(never).all()


def test_verdict_uses_the_larger_of_the_tolerances():
    assert verdict(20.0, 25.0) == "better"
    assert verdict(26.2, 25.0) == "as good"  # within 5 % of 25 mm = 1.25 mm
    assert verdict(23.8, 25.0) == "as good"
    assert verdict(26.3, 25.0) == "worse"
    assert verdict(10.9, 10.0) == "as good"  # 5 % is 0.5 mm; the 1 mm floor applies
    assert verdict(11.1, 10.0) == "worse"


def test_bad_shapes_raise_errors_that_say_what_was_given():
    with pytest.raises(InputError, match=r"shape \(frames, markers, 3\); got \(2, 3, 3\) and \(2, 4, 3\)"):
        squared_distances(np.zeros((2, 3, 3)), np.zeros((2, 4, 3)))
    with pytest.raises(InputError, match=r"shape \(frames, 2\) for 2 marker names, got \(5, 3\)"):
        GroupErrors.from_squared(np.zeros((5, 3)), ["C7_study", "r_toe_study"])
    with pytest.raises(InputError, match="r.ASIS_study and L.ASIS_study"):
        pelvis_heading(np.zeros((1, 1, 3)), ["C7_study"])
    with pytest.raises(InputError, match=r"shape \(frames, 2, 3\) for 2 names; got \(4, 1, 3\)"):
        offset_split(np.zeros((4, 1, 3)), np.zeros((4, 1, 3)), ["C7_study", "r_toe_study"])
