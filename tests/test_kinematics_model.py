"""The built-in OpenSim body model and forward kinematics: structure, anthropometry, sign conventions, IK recovery."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.kinematics import bodymodel as bm
from mv3d.kinematics.forward import forward_from_mot, forward_markers, mot_to_coordinates
from mv3d.skeleton import MV3D25

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WALK = DATA / "opencap" / "motions" / "walking1_videoAndMocap.mot"
LAI = DATA / "opencap" / "models" / "LaiUhlrich2022.osim"
needs_data = pytest.mark.skipif(not WALK.exists(), reason=f"reference data not found: {WALK}")

CONTRACT_COORDS = ["pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
                   "lumbar_extension", "lumbar_bending", "lumbar_rotation"] + [
    f"{c}_{s}" for s in "rl" for c in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
                                       "subtalar_angle", "mtp_angle", "arm_flex", "arm_add", "arm_rot",
                                       "elbow_flex", "pro_sup", "wrist_flex", "wrist_dev")]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    bm.write_model(out, height=1.80, mass=72.5)
    return out


def test_written_model_loads_with_contract_coordinates_and_exact_mass(model_dir):
    import opensim

    model = opensim.Model(str(model_dir / "mv3d_body.osim"))
    state = model.initSystem()
    names = [c.getName() for c in model.getCoordinateSet()]
    assert len(names) >= 33 and sorted(names) == sorted(CONTRACT_COORDS)
    # The last body takes the remainder, so the sum is exact to float rounding.
    assert model.getTotalMass(state) == pytest.approx(72.5, abs=1e-9)
    markers = {m.getName() for m in model.getMarkerSet()}
    assert set(MV3D25) <= markers and set(bm.ANATOMICAL_MARKERS) <= markers
    for f in ("mv3d_body_markers_video.xml", "mv3d_body_markers_anatomical.xml", "Setup_Scale_mv3d_body.xml",
              "Setup_IK_mv3d_body.xml", "Setup_IK_mv3d_body_video.xml"):
        assert (model_dir / f).stat().st_size > 1000
    # The IK setup is an OpenSim object with the OpenCap weights.
    tool = opensim.InverseKinematicsTool(str(model_dir / "Setup_IK_mv3d_body.xml"))
    tasks = tool.get_IKTaskSet()
    assert tasks.get("r_calc_study").getWeight() == 60 and tasks.get("r_knee").getWeight() == 1


@needs_data
def test_anatomical_marker_names_match_opencap_augmenter_set():
    import re

    text = (DATA / "opencap" / "models" / "LaiUhlrich2022_markers_augmenter.xml").read_text()
    opencap = set(re.findall(r'<Marker name="([^"]+)"', text))
    assert len(opencap) == 43
    assert opencap <= set(bm.ANATOMICAL_MARKERS)          # every OpenCap augmenter output drives the model
    assert set(bm.ANATOMICAL_MARKERS) - opencap == {"r_hand2_study", "r_hand5_study", "L_hand2_study",
                                                    "L_hand5_study"}


@pytest.mark.parametrize("height", [1.55, 1.80, 1.95])
def test_segment_lengths_follow_winter_fractions(height):
    pts, names = forward_markers(bm.build_model(height, 70.0), np.zeros(1), {})
    p = dict(zip(names, pts[0]))
    dist = lambda a, b: float(np.linalg.norm(p[a] - p[b]))  # noqa: E731
    # Winter (2009) Fig. 4.1 fractions of height, joint centre to joint centre in the default pose.
    for side in "rl":
        assert dist(f"{side}_hip", f"{side}_knee") == pytest.approx(0.245 * height, rel=1e-9)
        assert dist(f"{side}_knee", f"{side}_ankle") == pytest.approx(0.246 * height, rel=1e-9)
        assert dist(f"{side}_shoulder", f"{side}_elbow") == pytest.approx(0.186 * height, rel=1e-9)
        assert dist(f"{side}_elbow", f"{side}_wrist") == pytest.approx(0.146 * height, rel=1e-9)
        # Foot length heel to toe tip along the foot (X): 0.152 H.
        assert p[f"{side}_big_toe"][0] - p[f"{side}_heel"][0] == pytest.approx(0.152 * height, rel=1e-9)
    # Landmark heights above the floor (feet flat at y = 0 minus the heel marker's own height).
    floor = p["r_ankle"][1] - 0.039 * height
    assert p["r_hip"][1] - floor == pytest.approx(0.530 * height, rel=1e-9)
    assert p["r_shoulder"][1] - floor == pytest.approx(0.818 * height, rel=1e-9)
    assert p["r_wrist"][1] - floor == pytest.approx((0.818 - 0.186 - 0.146) * height, rel=1e-9)


def test_segment_masses_follow_de_leva():
    a = bm.anthropometry(1.75, 80.0)
    masses = {k: s.mass for k, s in a.segments.items()}
    assert sum(masses.values()) == pytest.approx(80.0, abs=1e-12)
    assert masses["femur_r"] == pytest.approx(0.1416 * 80.0, rel=1e-9)       # de Leva thigh 14.16 %
    assert masses["humerus_l"] == pytest.approx(0.0271 * 80.0, rel=1e-9)     # upper arm 2.71 %
    assert masses["torso"] == pytest.approx((0.1596 + 0.1633 + 0.0694) * 80.0, rel=1e-9)
    # Thigh CoM 40.95 % of its length below the hip; inertia about the long axis from r = 0.149 L.
    L = 0.245 * 1.75
    assert a.segments["femur_r"].com[1] == pytest.approx(-0.4095 * L)
    assert a.segments["femur_r"].inertia[1] == pytest.approx(0.1416 * 80 * (0.149 * L) ** 2)


@pytest.mark.parametrize("height, mass", [(1.75, 0.0), (1.75, -3.0), (0.1, 70.0), (float("nan"), 70.0)])
def test_bad_height_or_mass_is_an_input_error_and_writes_nothing(tmp_path, height, mass):
    with pytest.raises(InputError, match="mass|height"):
        bm.write_model(tmp_path / "m", height, mass)
    assert not (tmp_path / "m").exists()


def test_sign_conventions_of_rajagopal_family():
    """Positive flexion-type coordinates move distal points as in Rajagopal/LaiUhlrich (X forward, Y up)."""
    model = bm.build_model(1.75, 70.0)
    names = ["r_knee", "r_ankle", "r_big_toe", "r_elbow", "r_wrist", "l_knee", "r_small_toe", "nose"]
    rest, _ = forward_markers(model, np.zeros(1), {}, names)
    cases = {
        "hip_flexion_r": ("r_knee", 0, +1),       # knee moves forward
        "knee_angle_r": ("r_ankle", 0, -1),       # ankle moves backward
        "ankle_angle_r": ("r_big_toe", 1, +1),    # dorsiflexion lifts the toes
        "arm_flex_r": ("r_elbow", 0, +1),
        "elbow_flex_r": ("r_wrist", 0, +1),
        "hip_adduction_l": ("l_knee", 2, +1),     # left knee moves medially (+Z)
        "hip_adduction_r": ("r_knee", 2, -1),
        "mtp_angle_r": ("r_big_toe", 1, -1),      # LaiUhlrich axis: positive lowers the toe tip
        "lumbar_extension": ("nose", 0, -1),      # extension moves the head backward
    }
    for coord, (marker, axis, sign) in cases.items():
        moved, _ = forward_markers(model, np.zeros(1), {coord: np.array([0.3])}, names)
        delta = moved[0, names.index(marker), axis] - rest[0, names.index(marker), axis]
        assert np.sign(delta) == sign and abs(delta) > 1e-3, (coord, delta)


@needs_data
def test_forward_from_mot_converts_only_rotations():
    model = bm.build_model(1.75, 70.0)
    times, pts, names = forward_from_mot(model, WALK, ["r_ankle", "mid_hip"])
    from mv3d.io.mot import read_mot

    mot = read_mot(WALK)
    coords = mot_to_coordinates(model, mot.columns, mot.values, mot.in_degrees)
    assert coords["pelvis_ty"][0] == pytest.approx(mot.column("pelvis_ty")[0])        # metres unchanged
    assert coords["knee_angle_r"][0] == pytest.approx(np.deg2rad(mot.column("knee_angle_r")[0]))
    assert "knee_angle_r_beta" not in coords                                          # not in the model
    # mid_hip moves with the pelvis translation over the walk: ~1.5 m forward.
    assert pts.shape == (len(times), 2, 3)
    assert pts[-1, 1, 0] - pts[0, 1, 0] == pytest.approx(mot.column("pelvis_tx")[-1] - mot.column("pelvis_tx")[0],
                                                         abs=0.05)


def test_forward_markers_rejects_unknown_coordinates_and_markers():
    model = bm.build_model(1.75, 70.0)
    with pytest.raises(InputError, match="knee_angle_r_beta"):
        forward_markers(model, np.zeros(2), {"knee_angle_r_beta": np.zeros(2)})
    with pytest.raises(InputError, match="RKNE"):
        forward_markers(model, np.zeros(2), {}, ["RKNE"])


@needs_data
def test_forward_markers_on_laiuhlrich_fills_coupled_coordinates():
    """LaiUhlrich's patella coordinate follows knee_angle through its coupler constraint."""
    import opensim

    from mv3d.kinematics.ik import load_model_with_markers

    model = load_model_with_markers(LAI, [DATA / "opencap" / "models" / "LaiUhlrich2022_markers_augmenter.xml"])
    knee = np.deg2rad(np.array([0.0, 60.0]))
    pts, names = forward_markers(model, np.arange(2.0), {"knee_angle_r": knee})
    # Reference: OpenSim's own constraint projection (assemble) at the same knee angle.
    state = model.initSystem()
    model.getCoordinateSet().get("knee_angle_r").setValue(state, float(knee[1]), True)
    model.realizePosition(state)
    ref = model.getMarkerSet().get("r_ankle_study").getLocationInGround(state).to_numpy()
    assert np.linalg.norm(pts[1, names.index("r_ankle_study")] - ref) < 1e-6
    assert isinstance(model, opensim.Model)


@needs_data
@pytest.mark.slow
def test_ik_recovers_known_walking_motion_on_builtin_model(model_dir, tmp_path):
    """Noise-free anatomical + video markers of OpenCap's walking1 motion: IK returns the motion."""
    from mv3d.io.mot import read_mot
    from mv3d.io.trc import write_trc
    from mv3d.kinematics.ik import run_ik

    model_path = model_dir / "mv3d_body.osim"
    mot = read_mot(WALK)
    sl = slice(0, 158, 2)                       # 79 frames at 50 Hz keep the test short
    import opensim

    coords = mot_to_coordinates(opensim.Model(str(model_path)), mot.columns, mot.values[sl], mot.in_degrees)
    pts, names = forward_markers(model_path, mot.times[sl], coords)
    write_trc(tmp_path / "walk.trc", pts, names, mot.times[sl])
    # the solver's exactness: no stabilizing priors (tests/test_kinematics_stability.py has those)
    res = run_ik(model_path, tmp_path / "walk.trc", tmp_path / "walk.mot",
                 setup=model_dir / "Setup_IK_mv3d_body.xml", refine=True, stabilize=False)
    assert len(res.times) == len(mot.times[sl])
    for j, name in enumerate(res.coordinates):
        truth = coords.get(name, np.zeros(len(res.times)))     # wrists are not in the motion: stay at 0
        err = res.values[:, j] - truth
        if res.rotational[j]:
            assert np.degrees(np.sqrt(np.mean(err**2))) < 0.5, name      # task: <= 0.5 deg RMS
        else:
            assert np.sqrt(np.mean(err**2)) < 1e-3, name                 # 1 mm for the pelvis translation
    assert np.nanmax(res.max_error) < 1e-4      # markers are matched to 0.1 mm
    written = read_mot(tmp_path / "walk.mot")
    assert written.in_degrees and written.columns == res.coordinates
    assert (tmp_path / "walk_marker_errors.csv").read_text().startswith("time,rms_error_m,max_error_m")


def test_cli_model_build(tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import cli

    result = CliRunner().invoke(cli, ["model", "build", "--height", "1.62", "--mass", "55", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pts, names = forward_markers(tmp_path / "mv3d_body.osim", np.zeros(1), {}, ["r_knee", "r_ankle"])
    assert np.linalg.norm(pts[0, 0] - pts[0, 1]) == pytest.approx(0.246 * 1.62, rel=1e-9)
    bad = CliRunner().invoke(cli, ["model", "build", "--mass", "0", "--out", str(tmp_path / "bad")])
    assert isinstance(bad.exception, InputError) and "mass 0.0 kg must be a positive" in str(bad.exception)
    assert not (tmp_path / "bad").exists()
