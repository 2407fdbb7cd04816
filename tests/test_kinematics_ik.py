"""OpenSim IK: regression against OpenSim's own Gait2354 result, chunked parallel solve, missing markers, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.io.mot import read_mot
from mv3d.io.trc import read_trc, write_trc
from mv3d.kinematics.ik import run_ik, solve_ik

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GAIT = DATA / "opensim-gait2354"
MODEL = GAIT / "reference" / "subject01_simbody.osim"
needs_data = pytest.mark.skipif(not GAIT.exists(), reason=f"reference data not found: {GAIT}")


@needs_data
def test_ik_reproduces_opensim_gait2354_reference(tmp_path):
    """mv3d ik with the setup's weights and coordinate tasks reproduces OpenSim's subject01_walk1_ik.mot."""
    from click.testing import CliRunner

    from pipelines.cli import cli

    out = tmp_path / "walk1_ik.mot"
    result = CliRunner().invoke(cli, ["ik", "--model", str(MODEL), "--trc", str(GAIT / "subject01_walk1.trc"),
                                      "--setup", str(GAIT / "subject01_Setup_IK.xml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ref, mine = read_mot(GAIT / "reference" / "subject01_walk1_ik.mot"), read_mot(out)
    assert len(mine.times) == len(ref.times) == 73                  # time_range 0.4-1.6 s of the setup
    np.testing.assert_allclose(mine.times, ref.times, atol=1e-3)     # TRC times are rounded to 1 ms
    for j, name in enumerate(ref.columns):
        err = mine.column(name) - ref.values[:, j]
        if name.endswith(("_tx", "_ty", "_tz")):
            assert np.sqrt(np.mean(err**2)) < 1e-3, name                # 1 mm
        else:
            # Task tolerance 0.2 deg RMS; measured <= 0.025 deg (lumbar_rotation).
            assert np.sqrt(np.mean(err**2)) < 0.2, name
    errors = (tmp_path / "walk1_ik_marker_errors.csv").read_text().splitlines()
    assert errors[0] == "time,rms_error_m,max_error_m,n_markers,worst_marker" and len(errors) == 74
    rms = np.array([float(r.split(",")[1]) for r in errors[1:]])
    assert 0.005 < np.median(rms) < 0.04      # real mocap on a scaled generic model: ~2 cm marker RMS


@needs_data
def test_parallel_chunks_join_continuously():
    """Two processes with warm-started overlapping chunks give the single-process result."""
    kw = dict(setup=GAIT / "subject01_Setup_IK.xml", time_range=(0.0, 2.5))
    one = solve_ik(MODEL, GAIT / "subject01_walk1.trc", n_jobs=1, **kw)
    two = solve_ik(MODEL, GAIT / "subject01_walk1.trc", n_jobs=2, **kw)
    assert one.values.shape == two.values.shape == (151, 23)
    # OpenSim's assembler stops within ~0.1 deg of the optimum, so its result depends on the starting
    # pose at that level (OpenSim's own reference differs from a 1-process run by up to 0.11 deg).
    assert np.degrees(np.abs(one.values - two.values)[:, one.rotational]).max() < 0.15
    # No jump at the join: the frame-to-frame change there is like its neighbours'.
    steps = np.degrees(np.abs(np.diff(two.values[:, two.rotational], axis=0))).max(axis=1)
    assert steps[70:80].max() < 3 * np.median(steps) + 0.5


@needs_data
def test_nan_markers_are_dropped_for_their_frames(tmp_path):
    trc = read_trc(GAIT / "subject01_walk1.trc")
    pts = trc.points.copy()
    knee = trc.marker_names.index("R.Thigh.Front")
    pts[30:40, knee] = np.nan
    write_trc(tmp_path / "gap.trc", pts, trc.marker_names, trc.times)
    kw = dict(setup=GAIT / "subject01_Setup_IK.xml", time_range=(0.3, 0.8))
    full = solve_ik(MODEL, GAIT / "subject01_walk1.trc", **kw)
    gap = solve_ik(MODEL, tmp_path / "gap.trc", **kw)
    idx = np.flatnonzero((full.times >= trc.times[30] - 1e-9) & (full.times <= trc.times[39] + 1e-9))
    assert len(idx) == 10 and (gap.n_markers[idx] == full.n_markers[idx] - 1).all()
    assert np.isfinite(gap.values).all()
    # One of 3 thigh-cluster markers missing changes the hip angles by well under 2 deg.
    assert np.degrees(np.abs(gap.values - full.values)[:, full.rotational]).max() < 2.0


@needs_data
def test_frames_without_markers_are_left_empty(tmp_path, caplog):
    """A subject out of view for 5 frames: those rows are NaN (said once, no solver failure), the
    frames after them are solved again."""
    trc = read_trc(GAIT / "subject01_walk1.trc")
    pts = trc.points.copy()
    pts[50:55] = np.nan
    pts[55, 2:] = np.nan                   # two markers only
    write_trc(tmp_path / "away.trc", pts, trc.marker_names, trc.times)
    with caplog.at_level("INFO", logger="mv3d.kinematics.ik"):
        res = solve_ik(MODEL, tmp_path / "away.trc", setup=GAIT / "subject01_Setup_IK.xml", time_range=(0.4, 1.6))
    rows = np.flatnonzero(np.isnan(res.values).any(axis=1))
    empty = np.flatnonzero(np.isin(res.times, trc.times[50:56]))
    assert len(empty) == 6 and (rows == empty).all()
    assert "6 of 73 frames" in caplog.text and "fewer than 3 markers" in caplog.text
    assert "IK failed" not in caplog.text


@needs_data
def test_trc_markers_not_in_model_are_named(tmp_path):
    trc = read_trc(GAIT / "subject01_walk1.trc")
    names = [f"X{i}" for i in range(len(trc.marker_names))]
    write_trc(tmp_path / "renamed.trc", trc.points, names, trc.times)
    out = tmp_path / "out.mot"
    with pytest.raises(InputError, match=r"none of the markers of .*renamed\.trc \(X0, X1.*is in model"):
        run_ik(MODEL, tmp_path / "renamed.trc", out)
    assert not out.exists()


@needs_data
def test_required_markers_missing_from_trc_are_named(tmp_path):
    trc = read_trc(GAIT / "subject01_walk1.trc")
    keep = [k for k, n in enumerate(trc.marker_names) if n not in ("R.Heel", "L.Toe.Tip")]
    write_trc(tmp_path / "fewer.trc", trc.points[:, keep], [trc.marker_names[k] for k in keep], trc.times)
    with pytest.raises(InputError, match=r"\['L.Toe.Tip', 'R.Heel'\] are missing from .*fewer.trc"):
        run_ik(MODEL, tmp_path / "fewer.trc", tmp_path / "out.mot", setup=GAIT / "subject01_Setup_IK.xml")
    assert list(tmp_path.iterdir()) == [tmp_path / "fewer.trc"]


def test_model_file_opensim_cannot_load(tmp_path):
    bad = tmp_path / "broken.osim"
    bad.write_text("<OpenSimDocument><Model name='x'><BodySet><objects><Body name='a'><mass>oops")
    trc = tmp_path / "m.trc"
    write_trc(trc, np.zeros((3, 1, 3)), ["a"], np.arange(3) / 100)
    with pytest.raises(InputError, match=r"OpenSim cannot load model file .*broken\.osim"):
        run_ik(bad, trc, tmp_path / "out.mot")
    with pytest.raises(InputError, match=r"model file .*missing\.osim does not exist"):
        run_ik(tmp_path / "missing.osim", trc, tmp_path / "out.mot")
    assert not (tmp_path / "out.mot").exists()


def pipeline_markers_trc(path: Path, model: Path, times: np.ndarray, coords: dict[str, np.ndarray]) -> Path:
    """The pipeline's markers of ``model`` at ``coords`` (radians) with 3 mm noise, written to ``path``."""
    from mv3d.kinematics.forward import forward_markers
    from test_kinematics_stability import PIPELINE_MARKERS

    points, names = forward_markers(model, times, coords, PIPELINE_MARKERS)
    points = points + np.random.default_rng(5).normal(0, 0.003, size=points.shape)
    write_trc(path, points, names, times)
    return path


def heading_error_deg(result, heading: np.ndarray) -> np.ndarray:
    """(F,) absolute pelvis_rotation error in degrees, modulo 360."""
    solved = result.values[:, result.coordinates.index("pelvis_rotation")]
    return np.degrees(np.abs(np.angle(np.exp(1j * (solved - heading)))))


@pytest.fixture(scope="module")
def builtin_model(tmp_path_factory):
    from mv3d.kinematics.bodymodel import write_model

    return write_model(tmp_path_factory.mktemp("builtin"))


def test_subject_facing_180_degrees_is_tracked(builtin_model, tmp_path):
    """The heading is free: a subject swaying about 180 deg of heading (165-195 deg, across the +-180
    wrap) is solved within 2 deg in every frame (clamped to +-180 deg, 54 of 120 frames were up to
    15 deg off)."""
    times = np.arange(120) / 30.0
    heading = np.radians(180 + 15 * np.sin(2 * np.pi * times / 1.3))
    trc = pipeline_markers_trc(tmp_path / "sway.trc", builtin_model, times,
                               {"pelvis_rotation": heading, "pelvis_ty": np.full(len(times), 0.95)})
    result = solve_ik(builtin_model, trc, refine=True, stabilize=True)
    assert heading_error_deg(result, heading).max() < 2.0
    assert not result.warnings


def test_a_full_turn_is_written_continuously(builtin_model, tmp_path):
    """A subject turning by 400 deg, solved in two chunks that assemble separately: the heading column
    is continuous (no jump of a whole turn at the join) and follows the turn."""
    times = np.arange(80) / 20.0
    heading = np.radians(np.linspace(0.0, 400.0, len(times)))
    trc = pipeline_markers_trc(tmp_path / "spin.trc", builtin_model, times,
                               {"pelvis_rotation": heading, "pelvis_ty": np.full(len(times), 0.95)})
    result = solve_ik(builtin_model, trc, refine=True, stabilize=True, n_jobs=2)
    solved = result.values[:, result.coordinates.index("pelvis_rotation")]
    assert np.degrees(np.abs(np.diff(solved))).max() < 15.0
    offset = np.round(np.mean(solved - heading) / (2 * np.pi)) * 2 * np.pi
    assert np.degrees(np.abs(solved - offset - heading)).max() < 2.0


def test_backward_pass_recovers_frames_where_tracking_is_stuck(builtin_model, tmp_path, monkeypatch):
    """A model whose heading is clamped to +-180 deg (as in many OpenSim models), a subject turning from
    140 to 220 deg: tracking forward pins the heading at +180 deg once the subject turns past it (40 deg
    off, 3 cm marker error); the backward pass tracks those frames from the other end."""
    import mv3d.kinematics.ik as ik
    from mv3d.kinematics._osim import load_model

    model = load_model(builtin_model)
    model.getCoordinateSet().get("pelvis_rotation").setRangeMin(-np.pi)
    model.getCoordinateSet().get("pelvis_rotation").setRangeMax(np.pi)
    model.printToXML(str(tmp_path / "clamped.osim"))
    times = np.arange(40) / 20.0
    heading = np.angle(np.exp(1j * np.radians(np.linspace(140.0, 220.0, len(times)))))
    trc = pipeline_markers_trc(tmp_path / "turn.trc", tmp_path / "clamped.osim", times,
                               {"pelvis_rotation": heading, "pelvis_ty": np.full(len(times), 0.95)})
    result = solve_ik(tmp_path / "clamped.osim", trc, refine=True, stabilize=True)
    assert heading_error_deg(result, heading).max() < 2.0
    assert np.nanmax(result.rms_error) < 0.012
    monkeypatch.setattr(ik, "BACKWARD_COST_SHARE", 0.0)       # forward tracking alone
    forward = solve_ik(tmp_path / "clamped.osim", trc, refine=True, stabilize=True)
    assert (heading_error_deg(forward, heading) > 20.0).sum() >= 10
    assert np.nanmax(forward.rms_error) > 0.025


OPENCAP = DATA / "opencap"


@pytest.mark.skipif(not (OPENCAP / "models").exists(), reason=f"OpenCap's models not found: {OPENCAP}")
def test_constrained_model_is_solved_without_refinement(tmp_path):
    """LaiUhlrich2022 (enforced coupler constraints) with OpenCap's IK setup: OpenSim's solution, both
    passes, no coordinate status; 20 frames of OpenCap's squat from noise-free markers."""
    from mv3d.kinematics.forward import forward_markers, mot_to_coordinates
    from mv3d.kinematics.ik import load_model_with_markers

    model_path = OPENCAP / "models" / "LaiUhlrich2022.osim"
    marker_sets = [OPENCAP / "models" / "LaiUhlrich2022_markers_augmenter.xml"]
    mot = read_mot(OPENCAP / "motions" / "squats1_videoAndMocap.mot")
    model = load_model_with_markers(model_path, marker_sets)
    coords = mot_to_coordinates(model, list(mot.columns), mot.values[100:120], True)
    points, names = forward_markers(model, mot.times[100:120], coords)
    write_trc(tmp_path / "squat.trc", points, names, mot.times[100:120])
    result = solve_ik(model_path, tmp_path / "squat.trc", setup=OPENCAP / "setup" / "Setup_IK.xml",
                      marker_sets=marker_sets, refine=True)
    assert result.coordinate_status() == [] and result.sensitivity is None
    for name in ("hip_flexion_r", "knee_angle_r", "ankle_angle_l", "pelvis_tilt"):
        err = result.values[:, result.coordinates.index(name)] - coords[name]
        assert np.degrees(np.sqrt(np.mean(err ** 2))) < 1.0, name


def test_keypoint_weight_applies_only_beside_augmented_markers(builtin_model):
    """The pipeline's IK weighs the video keypoints ``keypoint_weight`` against the augmented markers; a TRC
    of keypoints alone keeps them at 1."""
    from mv3d.kinematics._osim import load_model
    from mv3d.kinematics.ik import resolve_tasks
    from mv3d.skeleton import MV3D25

    model = load_model(builtin_model)
    both = resolve_tasks(model, list(MV3D25) + ["r_knee_study", "L_calc_study"], None, "t.trc", keypoint_weight=0.25)
    assert both["r_knee_study"] == both["L_calc_study"] == 1.0
    assert {both[n] for n in MV3D25 if n in both} == {0.25}
    alone = resolve_tasks(model, list(MV3D25), None, "t.trc", keypoint_weight=0.25)
    assert set(alone.values()) == {1.0}
