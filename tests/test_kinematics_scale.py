"""Scaling with OpenSim's ScaleTool: Gait2354 regression, the built-in and LaiUhlrich2022 models, bad input."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.io.trc import write_trc
from mv3d.kinematics import bodymodel as bm
from mv3d.kinematics.forward import forward_markers
from mv3d.kinematics.scale import find_static_window, scale_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GAIT = DATA / "opensim-gait2354"
OPENCAP = DATA / "opencap"
needs_data = pytest.mark.skipif(not GAIT.exists(), reason=f"reference data not found: {GAIT}")


def _scales(path: Path) -> dict[str, np.ndarray]:
    return {e.findtext("segment").strip(): np.array(e.findtext("scales").split(), float)
            for e in ET.parse(path).getroot().iter("Scale")}


@needs_data
def test_scale_setup_reproduces_opensim_scale_set(tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import cli

    result = CliRunner().invoke(cli, ["scale", "--trc", str(GAIT / "subject01_static.trc"), "--mass", "72.6",
                                      "--setup", str(GAIT / "subject01_Setup_Scale.xml"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    ref = _scales(GAIT / "reference" / "subject01_scaleSet_applied.xml")
    mine = _scales(tmp_path / "gait2354_simbody_scale_set.xml")
    for body, s in ref.items():
        np.testing.assert_allclose(mine[body], s, atol=2e-6, err_msg=body)   # the file keeps 6 digits
    import opensim

    model = opensim.Model(str(tmp_path / "gait2354_simbody_scaled.osim"))
    assert model.getTotalMass(model.initSystem()) == pytest.approx(72.6, abs=1e-6)


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    out = tmp_path_factory.mktemp("generic")
    return bm.write_model(out, 1.75, 70.0)


def _static_trial(path: Path, height: float, still: tuple[float, float] = (1.0, 2.2),
                  swap: tuple[str, str] | None = None) -> None:
    """4 s trial of a subject of the given height: moving except during ``still``."""
    t = np.arange(0.0, 4.0, 0.01)
    moving = (t < still[0]) | (t > still[1])
    coords = {"hip_flexion_r": np.where(moving, 0.4 * np.sin(4 * t), 0.0),
              "elbow_flex_l": np.where(moving, 0.5 + 0.4 * np.sin(3 * t), 0.0),
              "pelvis_tx": np.where(moving, 0.05 * np.sin(2 * t), 0.0)}
    pts, names = forward_markers(bm.build_model(height, 80.0), t, coords)
    if swap:
        i, j = names.index(swap[0]), names.index(swap[1])
        names[i], names[j] = names[j], names[i]
    write_trc(path, pts, names, t)


def test_find_static_window_picks_the_still_part():
    t = np.arange(0, 5, 0.01)
    x = np.sin(3 * t)[:, None, None] * np.ones((1, 4, 3))
    x[250:380] = x[250]                         # still from 2.5 to 3.8 s
    t0, t1 = find_static_window(t, x, seconds=1.0)
    assert 2.5 - 1e-9 <= t0 and t1 <= 3.8 + 1e-9 and t1 - t0 == pytest.approx(1.0)
    with pytest.raises(InputError, match="shorter than the 2 s static window"):
        find_static_window(t[:150], x[:150], seconds=2.0)


def test_builtin_model_scales_to_a_taller_subject(generic, tmp_path):
    _static_trial(tmp_path / "static.trc", 1.90)
    res = scale_model(generic, tmp_path / "static.trc", 80.0, tmp_path / "out", height=1.90)
    assert 1.0 - 1e-9 <= res.time_range[0] and res.time_range[1] <= 2.2 + 1e-9    # inside the still part
    # Every dimension of the model is proportional to height: all factors are 1.90 / 1.75.
    for name, f in res.measurement_factors.items():
        assert f == pytest.approx(1.90 / 1.75, rel=1e-6), name
    for body in bm.anthropometry(1.75, 70.0).segments:
        s = res.body_scales[body]
        np.testing.assert_allclose(s, 1.90 / 1.75, rtol=1e-5, err_msg=body)   # OpenSim writes 6 digits
    import opensim

    model = opensim.Model(str(res.model_path))
    assert model.getTotalMass(model.initSystem()) == pytest.approx(80.0, abs=1e-9)
    # The scaled model matches the taller subject's own model marker for marker (< 1 mm) in the same pose
    # (scaling keeps the default joint angles; the root's defaults face the static trial's markers).
    same = {"pelvis_ty": np.ones(1), "pelvis_tx": np.zeros(1), "pelvis_tz": np.zeros(1), "pelvis_rotation": np.zeros(1)}
    a, names = forward_markers(res.model_path, np.zeros(1), same)
    b, _ = forward_markers(bm.build_model(1.90, 80.0), np.zeros(1), same, names)
    assert np.abs(a - b).max() < 1e-3


def test_swapped_markers_give_an_implausible_scale_error_and_nothing_written(generic, tmp_path):
    _static_trial(tmp_path / "static.trc", 1.80, swap=("r_knee_study", "r_ankle_study"))
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"implausible scaling.*'thigh'.*RHJC_study-r_knee_study"):
        scale_model(generic, tmp_path / "static.trc", 75.0, out)
    assert not out.exists() or not any(out.iterdir())


def test_missing_static_window_and_bad_mass(generic, tmp_path):
    _static_trial(tmp_path / "static.trc", 1.80)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"static time range 5.0-6.0 s is outside .*static.trc "
                                         r"\(it spans 0.000-3.990 s\)"):
        scale_model(generic, tmp_path / "static.trc", 75.0, out, time_range=(5.0, 6.0))
    for mass in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError, match="mass .* must be a positive number of kilograms"):
            scale_model(generic, tmp_path / "static.trc", mass, out)
    assert not out.exists()


@needs_data
def test_laiuhlrich_scales_with_opencap_setup_and_marker_set(tmp_path):
    from mv3d.kinematics.ik import load_model_with_markers

    markers = OPENCAP / "models" / "LaiUhlrich2022_markers_augmenter.xml"
    model = load_model_with_markers(OPENCAP / "models" / "LaiUhlrich2022.osim", [markers])
    t = np.arange(0.0, 1.5, 0.01)
    pts, names = forward_markers(model, t, {})
    write_trc(tmp_path / "static.trc", 1.08 * pts, names, t)      # a subject 8 % larger in every direction
    res = scale_model(OPENCAP / "models" / "LaiUhlrich2022.osim", tmp_path / "static.trc", 75.0, tmp_path / "out",
                      setup=OPENCAP / "setup" / "Setup_scaling_LaiUhlrich2022.xml", marker_sets=[markers])
    assert set(res.measurement_factors) >= {"femur_r", "tibia_l", "pelvisXY", "torsoZ", "humerus", "radius"}
    for name, f in res.measurement_factors.items():
        assert f == pytest.approx(1.08, rel=1e-6), name
    np.testing.assert_allclose(res.body_scales["femur_r"], 1.08, rtol=1e-5)


def test_markers_are_not_moved_onto_a_moving_window(generic, tmp_path):
    # No still part: legs swing as in running (1.4 Hz, hips +-30 deg, knees 10-100 deg), markers move
    # ~1 m/s. Averaging them would misplace them (the window's poses are apart): they stay put.
    t = np.arange(0.0, 3.0, 0.01)
    w = 2 * np.pi * 1.4 * t
    coords = {f"hip_flexion_{s}": 0.5 * np.sin(w + ph) for s, ph in (("r", 0), ("l", np.pi))}
    coords.update({f"knee_angle_{s}": 0.95 + 0.8 * np.sin(w + ph) for s, ph in (("r", 1), ("l", 1 + np.pi))})
    pts, names = forward_markers(bm.build_model(1.75, 70.0), t, coords)
    write_trc(tmp_path / "moving.trc", pts, names, t)
    res = scale_model(generic, tmp_path / "moving.trc", 70.0, tmp_path / "moving", height=1.75)
    assert not res.markers_moved and res.window_speed > 0.5
    import opensim

    def locations(path):
        model = opensim.Model(str(path))
        return {m.getName(): m.get_location().to_numpy() for m in model.getMarkerSet()}

    scaled, own = locations(res.model_path), locations(generic)
    # the subject is the model itself: every marker stays within 2 mm of its place (the scale factors
    # come from pair distances averaged over the window, written with 6 digits)
    assert max(np.abs(scaled[n] - own[n]).max() for n in own) < 0.002
    # forcing OpenSim's marker placement on this window misplaces markers by centimetres
    forced = scale_model(generic, tmp_path / "moving.trc", 70.0, tmp_path / "forced", height=1.75, move_markers=True)
    moved = locations(forced.model_path)
    assert max(np.linalg.norm(moved[n] - own[n]) for n in own) > 0.02
    # a still window moves the markers (OpenSim's marker placement), as before
    _static_trial(tmp_path / "still.trc", 1.75)
    assert scale_model(generic, tmp_path / "still.trc", 70.0, tmp_path / "still", height=1.75).markers_moved


def test_moving_window_does_not_measure_the_torso_across_the_lumbar_joint(generic, tmp_path):
    # A walk with the trunk flexed 20 deg at the lumbar joint, as real IK results of walking have it:
    # the shoulder-hip pairs span that joint and come out ~4 % short (IK then tilts the pelvis ~6 deg);
    # on a moving window the torso keeps the size the subject's height gives it (issue 16).
    t = np.arange(0.0, 3.0, 0.01)
    w = 2 * np.pi * 1.0 * t
    coords = {f"hip_flexion_{s}": 0.4 * np.sin(w + ph) for s, ph in (("r", 0), ("l", np.pi))}
    coords["lumbar_extension"] = np.full_like(t, np.radians(-20.0))
    pts, names = forward_markers(bm.build_model(1.75, 70.0), t, coords)
    write_trc(tmp_path / "walk.trc", pts, names, t)
    res = scale_model(generic, tmp_path / "walk.trc", 70.0, tmp_path / "walk", height=1.75)
    assert not res.markers_moved
    assert _scales(res.scale_set_path)["torso"] == pytest.approx(1.0, abs=0.005)
