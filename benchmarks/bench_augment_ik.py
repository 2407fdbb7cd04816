"""Joint angles through the shipped built-in augmenter + IK on noise-free simulator keypoints.

For each built-in motion (squat, sit_to_stand, walk_in_place, arm_raises) and a few
subjects, the built-in model's video keypoints (forward kinematics, no noise) are
augmented with the shipped ``augmenter_mv3d_body.pt`` and fitted by IK; the table
gives each coordinate's RMS error (deg) against the motion, with IK on the keypoints
alone for reference. Target (issue 7): within 2 deg RMS.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_augment_ik.py [--weights W.pt] [--seconds 6]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = ((1.75, 70.0), (1.58, 52.0), (1.92, 95.0))
MOTIONS = ("squat", "sit_to_stand", "walk_in_place", "arm_raises")


def main() -> None:
    from mv3d.augment.ik_check import CHECKED_COORDINATES, builtin_angle_errors
    from mv3d.augment.weights import load_augmenter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(ROOT / "data" / "weights" / "augmenter_mv3d_body.pt"))
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--motions", default=",".join(MOTIONS))
    args = ap.parse_args()
    augmenter = load_augmenter(args.weights)
    held_out = augmenter.metadata.get("config", {}).get("val_motions", [])
    print(f"weights {args.weights} (motion types held out of its training: {held_out})")
    short = {c: c.replace("_angle", "").replace("pelvis_", "pel_").replace("lumbar_", "lum_")
             .replace("flexion", "flex").replace("adduction", "add").replace("rotation", "rot")
             .replace("extension", "ext").replace("bending", "bend") for c in CHECKED_COORDINATES}
    print(f"{'motion':>14} {'subject':>10} {'input':>9} " + " ".join(f"{short[c]:>8}" for c in CHECKED_COORDINATES)
          + f" {'all':>6} {'max':>6}")
    worst = {}
    for motion in args.motions.split(","):
        for height, mass in SUBJECTS:
            for label, aug in (("augmented", augmenter), ("keypoints", None)):
                t = time.perf_counter()
                e = builtin_angle_errors(aug, motion, height, mass, seconds=args.seconds)
                vals = [e.rms_deg[c] for c in CHECKED_COORDINATES]
                print(f"{motion:>14} {height:.2f}/{mass:.0f} {label:>9} " + " ".join(f"{v:8.2f}" for v in vals)
                      + f" {e.overall_rms_deg:6.2f} {max(vals):6.2f}   ({time.perf_counter() - t:.0f} s)", flush=True)
                if aug is not None:
                    worst[motion] = max(worst.get(motion, 0.0), max(vals))
    print("\nworst coordinate RMS per motion (augmented): "
          + ", ".join(f"{m} {v:.2f} deg" for m, v in worst.items())
          + f"; target 2 deg -> {'met' if max(worst.values()) < 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
