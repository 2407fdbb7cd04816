"""Built-in motions, the motion sources and their grounding, and bad motion/model input."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.io.mot import read_mot
from mv3d.simulate.motions import COORDINATES, make_motion, motion_library
from mv3d.skeleton import MV3D25


def test_library_names_and_shapes():
    lib = motion_library()
    assert {"squat", "sit_to_stand", "walk_in_place", "arm_raises"} <= set(lib)
    for name, make in lib.items():
        m = make(2.0, 50.0)
        t, c = m.times, m.coords
        assert t.shape == (101,) and np.allclose(np.diff(t), 0.02)
        assert set(c) == set(COORDINATES), name
        assert all(v.shape == t.shape and np.isfinite(v).all() for v in c.values()), name


@pytest.mark.parametrize("name, coord, lo, hi", [
    # Peak angles (deg) within the ranges of real squats / sit-to-stand / marching / raises
    # (OpenCap squats1: hip 106, knee 88, ankle 28; sit-to-stand knee ~90-100 seated).
    ("squat", "hip_flexion_r", 85, 120), ("squat", "knee_angle_l", 80, 120), ("squat", "ankle_angle_r", 15, 35),
    ("sit_to_stand", "knee_angle_r", 80, 110), ("walk_in_place", "hip_flexion_l", 30, 60),
    ("arm_raises", "arm_flex_r", 120, 170),
])
def test_motion_amplitudes(name, coord, lo, hi):
    c = make_motion(name, 6.0, 100.0).coords
    peak = np.degrees(c[coord]).max()
    assert lo <= peak <= hi


def test_motions_are_smooth():
    # Joint velocities of everyday movements stay below ~600 deg/s; a jump in a curve would not.
    for name, make in motion_library().items():
        c = make(6.0, 200.0).coords
        for k, v in c.items():
            if k.startswith("pelvis_t"):
                continue
            # jumps extend the knee at up to ~1000 deg/s (countermovement jump take-off)
            limit = 1300 if name == "jump" else 900 if name.startswith("run") else 600
            assert np.abs(np.degrees(np.diff(v)) * 200).max() < limit, (name, k)


def test_unknown_motion_lists_known_ones():
    with pytest.raises(InputError) as err:
        make_motion("backflip", 2.0, 60.0)
    msg = str(err.value)
    assert "backflip" in msg
    for name in motion_library():
        assert name in msg


@pytest.fixture(scope="module")
def model():
    from mv3d.simulate.source import load_model

    return load_model(None, 1.75, 70.0)


def test_grounding_puts_lowest_foot_on_floor_and_pins_feet(model):
    from mv3d.simulate.source import FOOT_POINTS, builtin_source

    src = builtin_source("squat", 3.0, model, rate=60.0, stand_at=(0.2, 0.0, -0.3))
    feet = src.keypoints[:, [MV3D25.index(n) for n in FOOT_POINTS]]
    # The lowest foot point is exactly on the floor in every frame (the shift is exact: pelvis
    # translations move every point rigidly); 1e-9 m allows for float rounding.
    assert np.abs(feet[..., 1].min(axis=1)).max() < 1e-9
    # Feet stay where they were put: without the pin the heels would travel ~0.3 m (the pelvis
    # moves back by that much); with it they move < 3 cm (the foot pitches ~2 deg in the squat,
    # a rolling contact in joint space) and centre on stand_at.
    heels = src.keypoints[:, [MV3D25.index("l_heel"), MV3D25.index("r_heel")]][..., [0, 2]]
    assert np.ptp(heels, axis=0).max() < 0.03
    # The pin holds the mean of the foot points weighted towards the lowest ones; the plain mean
    # lies within a third of a foot length (~9 cm) of it, never further.
    centre = feet[..., [0, 2]].mean(axis=(0, 1))
    assert np.allclose(centre, [0.2, -0.3], atol=0.09)
    # The pelvis drops during the squat (hip ~0.9 m standing, < 0.7 m at the bottom).
    hip_y = src.keypoints[:, MV3D25.index("mid_hip"), 1]
    assert hip_y.max() > 0.85 and hip_y.min() < 0.7


def test_keypoints_at_arbitrary_times_follow_the_motion(model):
    from mv3d.simulate.source import builtin_source

    src = builtin_source("walk_in_place", 2.0, model, rate=120.0)
    # At the sample times, evaluation reproduces the stored samples (spline through the samples).
    assert np.abs(src.keypoints_at(src.times[10:20]) - src.keypoints[10:20]).max() < 1e-9
    # Between samples it interpolates: half-way values lie within 1 mm of the chord midpoint
    # (marching moves a foot < 2 m/s, i.e. < 8 mm per 1/240 s).
    mid = 0.5 * (src.times[10:20] + src.times[11:21])
    chord = 0.5 * (src.keypoints[10:20] + src.keypoints[11:21])
    assert np.abs(src.keypoints_at(mid) - chord).max() < 1e-3
    with pytest.raises(InputError, match="covers"):
        src.keypoints_at(np.array([src.times[-1] + 1.0]))


def test_model_without_keypoint_markers_is_named(shared_data):
    from mv3d.simulate.source import load_model

    models = shared_data / "opencap" / "models"
    with pytest.raises(InputError) as err:
        load_model(models / "LaiUhlrich2022.osim", marker_files=[models / "LaiUhlrich2022_markers_openpose.xml"])
    msg = str(err.value)
    assert "LaiUhlrich2022.osim" in msg
    # Its OpenPose marker set has no face points and names the body points differently.
    for name in ("nose", "l_eye", "r_ear", "l_big_toe"):
        assert name in msg


def test_missing_marker_file_is_named(tmp_path):
    from mv3d.simulate.source import load_model

    with pytest.raises(InputError, match="nomarkers.xml"):
        load_model(None, marker_files=[tmp_path / "nomarkers.xml"])


NEW_MOTIONS = ("gait_slow", "gait", "gait_fast", "run_slow", "run", "run_fast", "jump", "lunge", "cutting", "stairs",
               "trunk_lean")


@pytest.mark.parametrize("variant", [None, 0, 1, 2])
def test_every_motion_stays_within_the_model_ranges(variant):
    from mv3d.simulate.motions import model_limits

    limits = model_limits()
    rng = None if variant is None else np.random.default_rng(variant)
    for name in motion_library():
        m = make_motion(name, 8.0, 60.0, rng=rng)
        for coord, (lo, hi) in limits.items():
            v = m.coords[coord]
            assert np.isfinite(v).all() and v.min() >= lo - 1e-12 and v.max() <= hi + 1e-12, (name, coord)


@pytest.mark.parametrize("name, lo, hi, knee_peak", [
    # Published running kinematics: peak swing knee flexion ~90 deg jogging, ~105 at 3.5 m/s, ~125 at 5 m/s;
    # stride frequency 1.3-1.5 Hz; walking: 55-70 deg swing knee, 0.8-1.0 Hz.
    ("run_slow", 1.25, 1.35, (85, 96)), ("run", 1.33, 1.45, (98, 112)), ("run_fast", 1.45, 1.58, (118, 132)),
    ("gait_slow", 0.76, 0.84, (54, 62)), ("gait_fast", 0.96, 1.04, (62, 70)),
])
def test_gait_cycles_frequency_and_knee_peak(name, lo, hi, knee_peak):
    m = make_motion(name, 10.0, 200.0)
    knee = m.coords["knee_angle_r"]
    spectrum = np.abs(np.fft.rfft(knee - knee.mean()))
    freq = np.fft.rfftfreq(len(knee), 1 / 200.0)[np.argmax(spectrum)]
    assert lo - 0.1 <= freq <= hi + 0.1          # 0.1 Hz: the FFT bin width of 10 s
    assert knee_peak[0] <= np.degrees(knee.max()) <= knee_peak[1]
    # periodic: one stride later the curves repeat (canonical motions have a constant tempo)
    step = int(round(200.0 / freq))
    assert np.abs(np.degrees(knee[step:] - knee[:-step])).max() < 15   # FFT-bin tempo error over one stride


def test_left_leg_is_half_a_cycle_behind_and_running_has_flight_phases():
    m = make_motion("run", 6.0, 200.0)
    r, left = m.coords["hip_flexion_r"], m.coords["hip_flexion_l"]
    lags = np.arange(1, 200)
    best = lags[np.argmax([np.dot(r[:-k], left[k:]) for k in lags])]
    period = 200.0 / 1.39
    assert abs(best - period / 2) < 5
    # stance 37 % of the cycle at 3.5 m/s: two flights of 13 % per stride, ~26 % of the time airborne
    assert 0.2 < m.airborne.mean() < 0.32
    assert make_motion("gait", 6.0, 100.0).airborne is None


def test_variants_differ_and_the_canonical_motion_is_reproducible():
    a = make_motion("run", 4.0, 100.0)
    b = make_motion("run", 4.0, 100.0)
    assert all(np.array_equal(a.coords[k], b.coords[k]) for k in a.coords)
    v1 = make_motion("run", 4.0, 100.0, rng=np.random.default_rng(1))
    v2 = make_motion("run", 4.0, 100.0, rng=np.random.default_rng(2))
    diff = np.degrees(np.abs(v1.coords["knee_angle_r"] - v2.coords["knee_angle_r"])).max()
    assert diff > 5.0                             # another subject: speed, tempo, gains, offsets


@pytest.mark.parametrize("name", NEW_MOTIONS)
def test_new_motions_are_grounded(model, name):
    from mv3d.simulate.source import FOOT_POINTS, builtin_source

    src = builtin_source(name, 4.0, model, rate=100.0)
    feet = src.keypoints[:, [MV3D25.index(n) for n in FOOT_POINTS]]
    low = feet[..., 1].min(axis=1)
    assert low.min() > -1e-6                      # never below the floor
    m = make_motion(name, 4.0, 100.0)
    grounded = np.ones(len(low), bool) if m.airborne is None else ~m.airborne
    on_surface = low if m.floor is None else np.minimum(
        feet[:, :3, 1].min(1) - m.floor[:, 1], feet[:, 3:, 1].min(1) - m.floor[:, 0])
    assert np.abs(on_surface[grounded]).max() < 1e-6       # a foot touches its surface whenever not in flight
    if m.airborne is not None and name != "run_slow":   # flights lift both feet (a jump: ~25 cm at its apex;
        assert low[m.airborne].max() > (0.2 if name == "jump" else 0.03)   # jogging's ~0.07 s flights barely clear)
    if name.startswith(("run", "gait")):          # a treadmill: the pelvis stays within a few cm
        hip = src.keypoints[:, MV3D25.index("mid_hip")]
        assert np.ptp(hip[:, 0]) < 0.05 and np.ptp(hip[:, 2]) < 0.05


@pytest.mark.parametrize("path", ["opencap/motions/walking1_videoAndMocap.mot",
                                  "opensim-gait2354/reference/subject01_walk1_ik.mot"])
def test_gait_carries_the_pelvis_and_trunk_frames_of_real_ik(shared_data, path):
    """Real IK of walking (OpenCap's video IK; OpenSim's Gait2354 mocap IK) tilts the pelvis
    posteriorly with the hips compensating and leans the trunk forward (~+9 and ~-13 deg); the
    keypoints do not show the pelvis part, so a library gait without it trains the augmenter to a
    pelvis 9-13 deg away from real results (issue 16)."""
    real = read_mot(shared_data / path)
    gait = {k: np.degrees(v).mean() for k, v in make_motion("gait", 4.0, 60.0).coords.items()}
    tilt = real.column("pelvis_tilt").mean()
    trunk = tilt + real.column("lumbar_extension").mean()
    assert abs(gait["pelvis_tilt"] - tilt) < 5.0, f"library gait tilt {gait['pelvis_tilt']:.1f}, real {tilt:.1f} deg"
    assert abs(gait["pelvis_tilt"] + gait["lumbar_extension"] - trunk) < 5.0, \
        f"library gait trunk {gait['pelvis_tilt'] + gait['lumbar_extension']:.1f}, real {trunk:.1f} deg"
