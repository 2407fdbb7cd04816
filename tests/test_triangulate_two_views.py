"""Two cameras showing different people in some frames: chance agreements are dropped, not triangulated."""
from __future__ import annotations

import numpy as np

from mv3d.triangulate import reconstruct
from mv3d.triangulate.robust import RobustParams, disagreeing_views


def _two_phones():
    """A 2-phone squat, 4 s at 60 fps on one clock, no passer-by: rig, detections (2, F, 23, 3), truth (F, 23, 3)."""
    from mv3d.simulate.detections import DetectionNoise
    from mv3d.simulate.session import SimulationConfig, simulate
    from mv3d.simulate.timing import TimingConfig

    sim = simulate(SimulationConfig(motion="squat", seconds=4, rig="opencap2", seed=5,
                                    timing=TimingConfig(max_offset=0.0, ntsc_probability=0.0, drop_rate=0.0),
                                    noise=DetectionNoise(second_person=False)))
    n = min(len(d) for d in sim.detections)
    return sim.rig, np.stack([d[:n] for d in sim.detections]), sim.points3d[0][:n, :23]


def test_a_camera_showing_someone_else_leaves_no_chance_agreements():
    rig, kp, truth = _two_phones()
    wrong = np.arange(40, 80)
    kp = kp.copy()
    kp[1, wrong] = kp[1, wrong + 120]  # camera 1 follows "another person": the subject's pose 2 s later
    kept = reconstruct(rig, kp, robust=RobustParams(max_disagreement=None)).points
    dropped = reconstruct(rig, kp).points
    err_kept = np.linalg.norm(kept[wrong] - truth[wrong], axis=-1)
    assert (err_kept > 0.1).sum() >= 10  # without the check, points far off survive as chance agreements
    assert np.isnan(dropped[wrong]).all()
    rest = np.setdiff1d(np.arange(len(truth)), wrong)
    np.testing.assert_array_equal(np.isnan(dropped[rest]), np.isnan(kept[rest]))  # clean frames untouched
    assert np.nanmean(np.linalg.norm(dropped[rest] - truth[rest], axis=-1)) < 0.05


def test_disagreeing_views_counts_only_joints_another_camera_saw():
    valid = np.ones((2, 3, 10), bool)
    inliers = np.ones((2, 3, 10), bool)
    inliers[:, 0, :6] = False       # frame 0: 6 of 10 joints disagree -> both cameras flagged
    valid[1, 1] = False             # frame 1: camera 1 saw nothing, camera 0's joints have no partner
    inliers[:, 1] = False
    inliers[:, 2, :4] = False       # frame 2: 4 of 10 disagree -> fine
    np.testing.assert_array_equal(disagreeing_views(valid, inliers, 0.5),
                                  [[True, False, False], [True, False, False]])
