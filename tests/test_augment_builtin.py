"""The shipped augmenter of the built-in body model: weights load, markers of a held-out squat; synth 'builtin'."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.augment.markers import LOWER_OUTPUTS, MV3D_TO_OPENCAP, OPENCAP_KEYPOINTS, UPPER_OUTPUTS
from mv3d.augment.weights import load_augmenter
from mv3d.resources import weights_file

WEIGHTS = weights_file("augmenter_mv3d_body.pt")
LAI_WEIGHTS = WEIGHTS.with_name("augmenter_laiuhlrich2022.pt")
MARKERS = list(LOWER_OUTPUTS + UPPER_OUTPUTS)
#: Coordinates that the unseen pelvis frame offset of a subject moves (issue 16).
PELVIS_TILT_AMBIGUOUS = ("pelvis_tilt", "lumbar_extension", "hip_flexion_r", "hip_flexion_l")


def _squat(height: float, mass: float) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(MV3D25 keypoints (F, 25, 3), their names, true `_study` markers (F, 43, 3)) of 6 s of squats, 60 Hz."""
    from mv3d.kinematics.bodymodel import VIDEO_MARKERS, build_model
    from mv3d.kinematics.forward import forward_markers
    from mv3d.simulate.motions import make_motion

    squat = make_motion("squat", 6.0, 60.0)
    times, coords = squat.times, squat.coords
    points, _ = forward_markers(build_model(height, mass), times, coords, list(VIDEO_MARKERS) + MARKERS)
    return points[:, :len(VIDEO_MARKERS)], list(VIDEO_MARKERS), points[:, len(VIDEO_MARKERS):]


@pytest.fixture(scope="module")
def augmenter():
    assert WEIGHTS.is_file(), f"shipped weights {WEIGHTS} missing (mv3d train augmenter --config " \
                              "configs/augmenter/mv3d_body.yaml)"
    return load_augmenter(WEIGHTS)


def test_shipped_weights_match_the_pipeline(augmenter):
    from mv3d.augment.weights import AUGMENTER_FOR_MODEL, shipped_augmenter

    assert shipped_augmenter("mv3d_body") == WEIGHTS and AUGMENTER_FOR_MODEL["mv3d_body"] == WEIGHTS.name
    assert augmenter.marker_names == MARKERS
    config = augmenter.metadata["config"]
    assert config["synth"]["model"] == "builtin"
    # Trained on every motion type, validated on held-out subjects: the tests below use subjects
    # (heights, masses, exact body proportions) that were never trained on.
    assert config["val_subjects"] > 0 and config["bidirectional"]


@pytest.mark.parametrize("height, mass", [(1.75, 70.0), (1.58, 52.0)])
def test_markers_of_squat_of_new_subjects(augmenter, height, mass):
    keypoints, names, truth = _squat(height, mass)
    markers, out_names = augmenter.augment(keypoints, names, height, mass)
    assert out_names == MARKERS and markers.shape == truth.shape
    err = np.linalg.norm(markers - truth, axis=-1)
    # The model card's validation RMSE on this held-out squat (40 random subjects, clean
    # keypoints) is 11.0 mm (lower body 8.1, upper body 19.1 mm); a mean error is below an RMSE,
    # so 15 mm leaves room for a subject at the edge of the training heights (measured: 7.3 mm
    # at 1.75 m, 6.4 mm at 1.58 m). The worst marker's median (an elbow marker, ~21 mm) stays
    # under 35 mm. A wrong keypoint mapping, feature layout or the LaiUhlrich2022 network: >= 25 mm.
    assert err.mean() < 0.015, f"mean marker error {1000 * err.mean():.1f} mm"
    assert np.median(err, axis=0).max() < 0.035, \
        f"worst marker {MARKERS[int(np.median(err, axis=0).argmax())]} {1000 * np.median(err, axis=0).max():.1f} mm"


def test_better_than_laiuhlrich_augmenter_on_builtin_markers(augmenter):
    if not LAI_WEIGHTS.is_file():
        pytest.skip(f"{LAI_WEIGHTS} is absent")
    keypoints, names, truth = _squat(1.75, 70.0)
    own = np.linalg.norm(augmenter.augment(keypoints, names, 1.75, 70.0)[0] - truth, axis=-1).mean()
    lai = np.linalg.norm(load_augmenter(LAI_WEIGHTS).augment(keypoints, names, 1.75, 70.0)[0] - truth, axis=-1).mean()
    # The LaiUhlrich2022 network places the `_study` markers where that model has them (pelvis
    # markers, knees and ankles several cm away from the built-in model's); measured 26.8 mm vs 7.3 mm.
    assert own < 0.5 * lai, f"built-in {1000 * own:.1f} mm vs LaiUhlrich2022 {1000 * lai:.1f} mm"


def test_synthesize_builtin_pairs(shared_data):
    from mv3d.augment.synth import SynthConfig, synthesize

    config = SynthConfig(model="builtin", marker_files=[],
                         motions=[str(shared_data / "opencap" / "motions" / "walking1_videoAndMocap.mot")],
                         library_motions=["squat"], library_seconds=2.0, n_subjects=1,
                         random_clips_per_subject=1, random_clip_seconds=2.0, seed=5)
    p = synthesize(config, progress=False)
    assert p.clip_motion == ["walking1", "squat", "random"]
    assert p.keypoint_names == list(OPENCAP_KEYPOINTS) and p.marker_names == MARKERS
    assert np.isfinite(p.keypoints).all() and np.isfinite(p.markers).all()
    # walking1: 1.57 s at 100 Hz -> 95 frames at 60 Hz; the built-in squat 2 s -> 121 frames; random 2 s -> 120.
    assert [s.stop - s.start for s in p.clip_slices()] == [95, 121, 120]
    k, m = p.keypoint_names.index, p.marker_names.index
    # The built-in model's hip keypoints are its hip joint centres, which RHJC_study/LHJC_study mark too.
    np.testing.assert_allclose(p.keypoints[:, k("RHip")], p.markers[:, m("RHJC_study")], atol=1e-9)
    # The subject is the model built at its height, pelvis scaled by 1 +- 5 % (segment jitter):
    # the hip width over height stays within 5 % of the unscaled model's.
    from mv3d.kinematics.bodymodel import build_model
    from mv3d.kinematics.forward import forward_markers

    inverse = {v: k for k, v in MV3D_TO_OPENCAP.items()}
    ref, _ = forward_markers(build_model(1.75, 70.0), np.zeros(1), {}, [inverse["RHip"], inverse["LHip"]])
    ref_ratio = np.linalg.norm(ref[0, 0] - ref[0, 1]) / 1.75
    width = np.linalg.norm(p.keypoints[:, k("RHip")] - p.keypoints[:, k("LHip")], axis=-1)
    assert np.ptp(width) < 1e-9  # rigid pelvis
    assert 0.949 < width[0] / p.clip_height[0] / ref_ratio < 1.051


@pytest.mark.slow
@pytest.mark.parametrize("motion", ["squat", "walk_in_place"])
def test_joint_angles_through_augmenter_and_ik(augmenter, motion):
    # Issue 7: the default augmenter + IK on the simulator's noise-free keypoints recovers the joint
    # angles within 2 deg RMS. The model is the subject's own, so IK on the true markers is exact
    # (0.00 deg, benchmarks/bench_augment_ik.py): every degree left is the augmenter's. Issue 16: the
    # training subjects carry pelvis/trunk frame offsets (N(0, 5) deg about each motion's own frames, as
    # real IK results differ) that the keypoints cannot see, so pelvis tilt / hip flexion / lumbar
    # extension may take up to ~2.5 deg (measured: squat 1.48 deg hip flexion, walk in place 1.48 deg
    # hip rotation); a one-directional LSTM or the LaiUhlrich2022 network gives 2.5-7 deg there.
    from mv3d.augment.ik_check import builtin_angle_errors

    errors = builtin_angle_errors(augmenter, motion, height=1.68, mass=63.0, seconds=4.0)
    worst = max(errors.rms_deg, key=errors.rms_deg.get)
    limit = 2.6 if worst in PELVIS_TILT_AMBIGUOUS else 2.0
    assert errors.rms_deg[worst] < limit, f"{motion}: {worst} {errors.rms_deg[worst]:.2f} deg RMS"
    assert errors.overall_rms_deg < 1.5, f"{motion}: all coordinates {errors.overall_rms_deg:.2f} deg RMS"
