"""Joint angles do not depend on which way the subject faces in the calibration's world frame.

Each motion is simulated once (a subject's own variant, 2 phones, simulated detections), then again
with the whole world turned about the vertical by 90, 180 and 270 deg: the cameras and the subject
(pelvis heading, tilt/list in OpenSim's ground-frame convention, position) turn together, so every
camera sees the same images and the same 2D detections; only the world frame differs (where the
board lay). Each session runs through the pipeline and is compared with its own truth. The columns:
lower-limb RMSE (deg), IK marker residual (mm) and the largest difference of the 2D detections from
the session turned by 0 deg (px; ~0 when the turn is exact). The first row of a motion is the built-in
motion itself; the turned sessions are simulated from its truth .mot.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_heading.py [--motions squat,run] [--rig opencap2]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

SUBJECT = (1.68, 63.0)


def turn_world(base: Path, degrees: float, out: Path) -> tuple[Path, Path]:
    """The truth motion (.mot) and rig (.toml) of the session at ``base`` turned by ``degrees`` about
    OpenSim's vertical; returns their paths under ``out``."""
    from calibration import load_rig, save_rig
    from mv3d.camera import Camera, CameraRig
    from mv3d.io.mot import read_mot, write_mot

    turn = Rotation.from_euler("Y", degrees, degrees=True)
    rig = load_rig(base / "truth" / "rig.toml")
    world = rig.R_to_opensim.T @ turn.as_matrix() @ rig.R_to_opensim
    cameras = [Camera(c.name, c.size, c.K, c.dist, c.R @ world.T, c.t) for c in rig.cameras]
    rig_path = out / "rig.toml"
    save_rig(CameraRig(cameras, rig.R_to_opensim), rig_path)
    mot = read_mot(base / "truth" / "coordinates.mot")
    values = np.array(mot.values, dtype=float)
    col = {n: mot.columns.index(n) for n in ("pelvis_tilt", "pelvis_list", "pelvis_rotation",
                                             "pelvis_tx", "pelvis_ty", "pelvis_tz")}
    # the pelvis joint rotates body-fixed about Z (tilt), X (list), Y (rotation); ground-frame translations
    pelvis = Rotation.from_euler("ZXY", values[:, [col["pelvis_tilt"], col["pelvis_list"], col["pelvis_rotation"]]],
                                 degrees=True)
    angles = (turn * pelvis).as_euler("ZXY", degrees=True)
    angles[:, 2] = np.unwrap(angles[:, 2], period=360.0)
    for k, name in enumerate(("pelvis_tilt", "pelvis_list", "pelvis_rotation")):
        values[:, col[name]] = angles[:, k]
    position = values[:, [col["pelvis_tx"], col["pelvis_ty"], col["pelvis_tz"]]]
    values[:, [col["pelvis_tx"], col["pelvis_ty"], col["pelvis_tz"]]] = turn.apply(position)
    mot_path = out / "motion.mot"
    write_mot(mot_path, mot.times, values, mot.columns, in_degrees=True, name=mot.name)
    return mot_path, rig_path


def simulate_and_run(motion: str, rig: str, seconds: float, folder: Path) -> dict:
    """Simulate ``motion`` (a built-in name, or a .mot seen by the rig of a .toml), run the
    pipeline to IK and return the budget's lower-limb RMSE, IK residual and the 2D detections."""
    from calibration import load_rig, save_rig
    from mv3d.simulate.session import SimulationConfig, simulate, write_session
    from mv3d.kinematics.compare import LOWER_LIMB
    from pipelines.budget import session_budget
    from pipelines.config import load_pipeline_config
    from pipelines.context import Context
    from pipelines.runner import Runner
    from pipelines.session import discover_session
    from pipelines.stages import build_stages

    turned = motion.endswith(".mot")
    sim = simulate(SimulationConfig(motion=motion, seconds=seconds, rig=rig, seed=11, height=SUBJECT[0],
                                    mass=SUBJECT[1], variant=None if turned else 1000),
                   rig=load_rig(rig) if turned else None)
    write_session(sim, folder, video=False, calibration_writer=lambda r, f: save_rig(r, f, format="opencap"))
    config = {"keypoints2d": {"source": "detections", "fps": 60.0}}
    session = discover_session(folder)
    ctx = Context(session, session.trial(None), load_pipeline_config(config))
    Runner(build_stages(), ctx, session.work_dir() / f"{sim.trial}.stages.json").run(stop="ik")
    budget, _ = session_budget(folder, config=config, floors=False)
    rmse = budget.tables["angles"].column("rmse_deg")
    summary = {(s[0], s[1]): s[2] for s in budget.summary}
    with np.load(folder / "truth" / "truth2d.npz") as z:
        detections = {k: z[k] for k in z.files if k.startswith("detections_")}
    return {"lower": float(np.mean([rmse[c] for c in LOWER_LIMB])), "detections": detections,
            "ik_mm": summary.get(("IK marker residual (pipeline)", "RMS"), float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motions", default="squat,run")
    parser.add_argument("--rig", default="opencap2")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", type=Path, default=None, help="keep the sessions here (default: a temporary folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"subject {SUBJECT[0]} m / {SUBJECT[1]} kg, variant 1000, {args.rig}, 2D: simulated detections")
    print(f"{'motion':<10} {'turn':>5} {'lower':>6} {'IKmm':>5} {'2D px':>7} {'s':>4}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for motion in args.motions.split(","):
            t0 = time.perf_counter()
            base = simulate_and_run(motion, args.rig, args.seconds, out / f"{motion}_base")
            print(f"{motion:<10} {'-':>5} {base['lower']:6.2f} {base['ik_mm']:5.1f} {'':>7} "
                  f"{time.perf_counter() - t0:4.0f}", flush=True)
            reference = None
            for degrees in (0.0, 90.0, 180.0, 270.0):
                t0 = time.perf_counter()
                folder = out / f"{motion}_turn{degrees:.0f}"
                folder.mkdir(parents=True, exist_ok=True)
                mot, rig = turn_world(out / f"{motion}_base", degrees, folder)
                m = simulate_and_run(str(mot), str(rig), args.seconds, folder / "session")
                reference = reference or m["detections"]      # the unturned world, simulated from the same .mot
                px = max(float(np.nanmax(np.abs(m["detections"][k] - reference[k]))) for k in reference)
                print(f"{motion:<10} {degrees:5.0f} {m['lower']:6.2f} {m['ik_mm']:5.1f} {px:7.1e} "
                      f"{time.perf_counter() - t0:4.0f}", flush=True)


if __name__ == "__main__":
    main()
