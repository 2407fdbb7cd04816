"""Scaling and IK do not depend on which way the subject faces in the lab frame."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.io.trc import read_trc, write_trc
from mv3d.kinematics.compare import LOWER_LIMB
from mv3d.kinematics.facing import heading_fit
from tests.conftest import simulated_session


def test_heading_fit_recovers_a_turn_about_the_vertical():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 3))
    for angle in np.radians([0.0, 37.0, 180.0, -100.0]):
        c, s = np.cos(angle), np.sin(angle)
        turned = a @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T + [1.0, 0.2, -3.0]
        assert np.angle(np.exp(1j * (heading_fit(a, turned) - angle))) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def squat_trc(tmp_path_factory):
    """The post-augmentation TRC of a simulated 3 s squat (2 phones, simulated detections)."""
    from pipelines.run import run_session
    from pipelines.session import discover_session

    session = simulated_session(tmp_path_factory.mktemp("facing") / "session", seed=4)
    run_session(session, config={"keypoints2d": {"source": "detections"}}, stop="augmentation")
    found = discover_session(session)
    return found.post_augmentation_trc(found.trial(None).name)


def turned(trc_path, out, degrees: float):
    """The TRC with every marker turned by ``degrees`` about OpenSim's vertical (Y) axis through the origin."""
    trc = read_trc(trc_path)
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    write_trc(out, np.asarray(trc.points) @ rot.T, list(trc.marker_names), trc.times)
    return out


def scaled_ik(trc, out):
    """Scale the built-in model on the trial (as the pipeline does) and solve its IK: lower-limb angles (F, 10)
    in degrees and the median marker RMS (m)."""
    from mv3d.kinematics.bodymodel import write_model
    from mv3d.kinematics.ik import solve_ik
    from mv3d.kinematics.scale import scale_model

    generic = write_model(out / "generic", 1.75, 70.0)
    scaled = scale_model(generic, trc, 70.0, out / "scaled", height=1.75).model_path
    result = solve_ik(scaled, trc, refine=True, stabilize=True)
    return result.degrees()[:, [result.coordinates.index(c) for c in LOWER_LIMB]], np.nanmedian(result.rms_error)


def test_joint_angles_do_not_depend_on_the_subjects_heading(squat_trc, tmp_path):
    """The same markers turned by 180 deg (facing -X) and by -90 deg give the same joint angles: the
    scaling's marker placement and IK's first assembly start facing the subject (from the default
    pose, the 180 deg case settled in a twisted pose: hip rotation 40 deg off, 3 cm marker error)."""
    (tmp_path / "a").mkdir()
    base, base_rms = scaled_ik(squat_trc, tmp_path / "a")
    for degrees in (180.0, -90.0):
        folder = tmp_path / f"turn{degrees:+.0f}"
        folder.mkdir()
        angles, rms = scaled_ik(turned(squat_trc, folder / "turned.trc", degrees), folder)
        assert np.sqrt(np.nanmean((angles - base) ** 2, axis=0)).max() < 1.0, degrees
        assert abs(rms - base_rms) < 0.001, degrees
