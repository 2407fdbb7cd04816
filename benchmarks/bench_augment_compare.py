"""Accuracy of mv3d's LaiUhlrich2022 marker augmenter vs OpenCap v0.3 on identical, realistically noisy inputs.

Test subjects are random scalings of OpenCap's LaiUhlrich2022 model (``mv3d.augment.synth``
machinery, a seed apart from the training's seed 0). Each performs OpenCap's ``walking1``
(a movement type both networks were trained on; other subjects) and movement types held out
from mv3d's training: OpenCap's ``squats1`` and the built-in motions of
``mv3d.simulate.motions``. Forward kinematics gives the video keypoints and the true
``_study`` markers. The realistic input: the keypoints are projected into an OpenCap-like
rig of 2 or 3 phones (``mv3d.simulate.rigs``), corrupted by the simulator's 2D detector
error model (noise scaled by the person's size, occlusion, outliers, left/right swaps,
missed frames; ``mv3d.simulate.detections``), triangulated and low-pass filtered with the
pipeline's default triangulation settings (``configs/default.yaml``), then given, in
OpenSim's frame, to both augmenters. A clean-input row (the keypoints by forward
kinematics) is reported too. Errors are RMSE (mm) of the 3D marker distance per marker
group (``mv3d.augment.evaluation``).

Caveat: the truth is the model's own ``_study`` marker definitions, the targets mv3d was
trained on; OpenCap's network learnt real mocap marker placements, which differ. The
offset table splits each error into a constant body-fixed offset and the varying rest.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_augment_compare.py [--quick] [--subjects 10] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OPENCAP = SHARED / "opencap"
RATE = 60.0  # Hz: OpenCap's video rate, the rate both augmenters were trained at
WALKING = "walking (trained type)"
HELD_OUT = "held out"
#: Motion -> its type for mv3d's shipped weights (model card: trained on walking1, the Rajagopal walk and
#: random clips; squats1 held out; the built-in motion library was not in its training).
MOTIONS: dict[str, str] = {"walking1": WALKING, "squats1": HELD_OUT, "squat": HELD_OUT, "sit_to_stand": HELD_OUT,
                           "walk_in_place": HELD_OUT, "arm_raises": HELD_OUT}
FILE_MOTIONS = {"walking1": "walking1_videoAndMocap.mot", "squats1": "squats1_videoAndMocap.mot"}
#: Face keypoints the LaiUhlrich2022 model lacks, placed on its torso body (which holds the head) at
#: approximate adult positions (m, torso frame: X forward, Y up, Z right; the Neck keypoint is at Y 0.37).
#: They only shape the detector's bounding box (its noise scale) and are not augmenter inputs.
FACE_MARKERS: dict[str, tuple[float, float, float]] = {
    "nose": (0.10, 0.555, 0.0), "l_eye": (0.085, 0.585, -0.033), "r_eye": (0.085, 0.585, 0.033),
    "l_ear": (0.0, 0.57, -0.075), "r_ear": (0.0, 0.57, 0.075)}
FOOT = ("RHeel", "LHeel", "RSmallToe", "LSmallToe", "RBigToe", "LBigToe")
NETWORKS = ("mv3d", "opencap")
INPUTS = ("noisy", "clean")

log = logging.getLogger("bench_augment_compare")


@dataclass
class Clip:
    """One subject performing one motion: OpenCap keypoints (F, 20, 3), face (F, 5, 3) and true markers
    (F, M, 3), OpenSim frame, metres, floor at Y = 0."""

    motion: str
    subject: int
    height: float
    mass: float
    keypoints: np.ndarray
    face: np.ndarray
    markers: np.ndarray


def base_model():
    """LaiUhlrich2022 with its video keypoint, ``_study`` and face markers; (model, generic height m)."""
    from mv3d.augment.synth import generic_height, synthesis_model
    from mv3d.kinematics._osim import opensim

    osim = opensim()
    models = OPENCAP / "models"
    model = synthesis_model(models / "LaiUhlrich2022.osim", [models / "LaiUhlrich2022_markers_openpose.xml",
                                                             models / "LaiUhlrich2022_markers_augmenter.xml"])
    torso = model.getBodySet().get("torso")
    for name, loc in FACE_MARKERS.items():
        model.addMarker(osim.Marker(name, torso, osim.Vec3(*loc)))
    model.finalizeConnections()
    model.initSystem()
    return model, generic_height(model)


def subject_clips(base, base_height: float, subject: int, rng: np.random.Generator, motions: list[str],
                  seconds: float) -> list[Clip]:
    """One random subject (height 1.5-2.0 m, BMI 18.5-32, segment groups +-5 %, as in training) doing each motion."""
    from mv3d.augment.markers import LOWER_OUTPUTS, OPENCAP_KEYPOINTS, UPPER_OUTPUTS
    from mv3d.augment.synth import library_motion, motion_coordinates, scaled_subject
    from mv3d.kinematics.forward import forward_markers

    height = float(rng.uniform(1.5, 2.0))
    mass = float(rng.uniform(18.5, 32.0) * height ** 2)
    model, scale = scaled_subject(base, height, mass, 0.05, rng, base_height)
    names = list(OPENCAP_KEYPOINTS) + list(FACE_MARKERS) + list(LOWER_OUTPUTS + UPPER_OUTPUTS)
    k, f = len(OPENCAP_KEYPOINTS), len(OPENCAP_KEYPOINTS) + len(FACE_MARKERS)
    foot = [names.index(n) for n in FOOT]
    clips = []
    for motion in motions:
        if motion in FILE_MOTIONS:
            times, coords = motion_coordinates(base, OPENCAP / "motions" / FILE_MOTIONS[motion], RATE)
            for t in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):  # the recorded subject's translations, rescaled
                coords[t] = coords[t] * scale
        else:
            times, coords = library_motion(base, motion, seconds, RATE)
        pts, _ = forward_markers(model, times, coords, names)
        floor = pts[:, foot, 1].min(axis=1)  # (F,) lowest foot point
        # A recorded motion keeps its own vertical movement (one shift); a built-in one stands on the floor
        # in every frame (as mv3d.simulate grounds it). Pelvis translations move every point alike.
        pts[..., 1] -= floor.min() if motion in FILE_MOTIONS else floor[:, None]
        clips.append(Clip(motion, subject, height, mass, pts[:, :k], pts[:, k:f], pts[:, f:]))
    return clips


def triangulation_settings() -> dict:
    """The pipeline's default triangulation section (configs/default.yaml)."""
    import yaml

    with open(ROOT / "configs" / "default.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)["triangulation"]


def noisy_keypoints(clip: Clip, rig_name: str, seed: list[int], settings: dict) -> tuple[np.ndarray, list[str]]:
    """The clip's keypoints as the pipeline would triangulate them from noisy 2D detections.

    seed: entropy of the rig's placement jitter and the detection errors.
    Returns ((F, 25, 3) MV3D25 keypoints in OpenSim's frame, NaN where not triangulated; names).
    """
    from mv3d.augment.markers import MV3D_TO_OPENCAP, OPENCAP_KEYPOINTS
    from mv3d.simulate.detections import DetectionNoise, detect, hidden_weight
    from mv3d.simulate.rigs import Board, check_visibility, make_rig, subject_pose
    from mv3d.skeleton import MV3D23, MV3D25, add_derived
    from mv3d.triangulate import reconstruct

    source = {**dict(zip(OPENCAP_KEYPOINTS, clip.keypoints.transpose(1, 0, 2))),
              **dict(zip(FACE_MARKERS, clip.face.transpose(1, 0, 2)))}
    mv3d23 = np.stack([source[MV3D_TO_OPENCAP.get(n, n)] for n in MV3D23], axis=1)  # (F, 23, 3)
    board = Board(placement="ground")  # world frame: floor Z = 0; OpenSim Y = world Z
    R_os = board.R_to_opensim
    world = add_derived(mv3d23) @ R_os
    rng_rig, rng_det = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    centre, forward = subject_pose(world, R_os.T @ np.array([0.0, 1.0, 0.0]))
    rig = make_rig(rig_name, centre, forward, seed=int(rng_rig.integers(2**31)), board=board)
    check_visibility(rig, world)
    noise = DetectionNoise(second_person=False)  # one person in view: association is not tested here
    uv = rig.project(world[:, :23])  # (C, F, 23, 2)
    kp = np.stack([detect(uv[c], hidden_weight(rig, c, world, noise.occlusion_depth), cam.size, noise, rng_det)
                   for c, cam in enumerate(rig.cameras)])  # (C, F, 23, 3)
    low = kp[..., 2] < float(settings.get("min_confidence", 0.3))
    kp[low] = np.nan
    kp[..., 2][low] = 0.0
    cutoff = settings.get("filter_cutoff_hz")
    rec = reconstruct(rig, kp, method=settings.get("method", "algebraic"),
                      limb_constraints=bool(settings.get("limb_constraints", True)),
                      filter=f"butterworth:{cutoff}" if cutoff else None, fps=RATE,
                      max_gap=int(settings.get("max_gap", 10)))
    return add_derived(rig.to_opensim(rec.points)), list(MV3D25)


def keypoint_errors(points: np.ndarray, names: list[str], clip: Clip) -> tuple[float, int]:
    """(sum of squared errors m^2, count) of the 20 augmenter keypoints vs the clip's truth."""
    from mv3d.augment.markers import OPENCAP_KEYPOINTS, to_opencap_names

    sq = ((to_opencap_names(points, names, OPENCAP_KEYPOINTS) - clip.keypoints) ** 2).sum(-1)
    ok = np.isfinite(sq)
    return float(sq[ok].sum()), int(ok.sum())


def run(args: argparse.Namespace) -> dict:
    """Every (subject, motion, input, network): errors per group, offset split, paired per-subject results."""
    import torch

    from mv3d.augment.evaluation import (GroupErrors, heading_errors, mean_offsets, offset_split, pelvis_heading,
                                         pelvis_tilt)
    from mv3d.augment.markers import OPENCAP_KEYPOINTS
    from mv3d.augment.weights import load_augmenter

    torch.set_num_threads(args.threads)
    networks = {"mv3d": load_augmenter(args.weights, long_gaps="split", threads=args.threads),
                "opencap": load_augmenter(f"opencap-v0.3:{args.opencap}", long_gaps="split", threads=args.threads)}
    settings = triangulation_settings()
    base, base_height = base_model()
    rigs = args.rigs.split(",")
    subject_rng = np.random.default_rng(np.random.SeedSequence([args.seed, 0]))
    errors: dict[tuple, GroupErrors] = {}  # (input, motion, network, subject) -> errors
    offsets: dict[tuple, tuple[GroupErrors, GroupErrors]] = {}  # (input, motion, network) -> (offset, residual)
    clip_offsets: dict[tuple, list[np.ndarray]] = {}  # (input, motion, network) -> per clip (M, 3) mean errors
    unaugmented: dict[str, int] = {}  # motion -> noisy-input frames left without markers (keypoint gaps)
    tilt_errors: dict[tuple, list[np.ndarray]] = {}  # (input, motion, network) -> pelvis tilt errors (deg) per clip
    keypoint_sq: dict[str, list[float]] = {}  # motion -> [sum sq, count] of the noisy input keypoints
    frames: dict[str, int] = {}
    timing = {"synthesis": 0.0, "triangulation": 0.0, "augmentation": 0.0}
    for s in range(args.subjects):
        t0 = time.perf_counter()
        clips = subject_clips(base, base_height, s, subject_rng, args.motions, args.seconds)
        timing["synthesis"] += time.perf_counter() - t0
        for clip in clips:
            t0 = time.perf_counter()
            seed = [args.seed, 1, s, list(MOTIONS).index(clip.motion)]  # the same noise whatever motions are run
            noisy, noisy_names = noisy_keypoints(clip, rigs[s % len(rigs)], seed, settings)
            timing["triangulation"] += time.perf_counter() - t0
            acc = keypoint_sq.setdefault(clip.motion, [0.0, 0])
            for i, v in enumerate(keypoint_errors(noisy, noisy_names, clip)):
                acc[i] += v
            frames[clip.motion] = frames.get(clip.motion, 0) + len(clip.keypoints)
            for kind, (points, names) in {"noisy": (noisy, noisy_names),
                                          "clean": (clip.keypoints, list(OPENCAP_KEYPOINTS))}.items():
                for net, augmenter in networks.items():
                    t0 = time.perf_counter()
                    pred, marker_names = augmenter.augment(points, names, clip.height, clip.mass,
                                                           source=f"subject {s} {clip.motion} ({kind})")
                    timing["augmentation"] += time.perf_counter() - t0
                    errors[(kind, clip.motion, net, s)] = GroupErrors.from_markers(pred, clip.markers, marker_names)
                    heading = pelvis_heading(clip.markers, marker_names)
                    split = offset_split(pred, clip.markers, marker_names, heading)
                    key = (kind, clip.motion, net)
                    offsets[key] = split if key not in offsets else (offsets[key][0] + split[0],
                                                                     offsets[key][1] + split[1])
                    clip_offsets.setdefault(key, []).append(mean_offsets(heading_errors(pred, clip.markers, heading)))
                    tilt = np.degrees(pelvis_tilt(pred, marker_names) - pelvis_tilt(clip.markers, marker_names))
                    tilt_errors.setdefault(key, []).append(tilt[np.isfinite(tilt)])
                    if kind == "noisy" and net == "mv3d":
                        unaugmented[clip.motion] = unaugmented.get(clip.motion, 0) + int(
                            (~np.isfinite(pred).all(axis=(1, 2))).sum())
        log.info("subject %d of %d done", s + 1, args.subjects)
    return {"errors": errors, "offsets": offsets, "clip_offsets": clip_offsets, "keypoint_sq": keypoint_sq,
            "frames": frames, "unaugmented": unaugmented, "tilt_errors": tilt_errors, "timing": timing,
            "marker_names": networks["mv3d"].marker_names}


def pooled(errors: dict, kind: str, motions: list[str], net: str, subject: int | None = None):
    """Sum of the GroupErrors of (input, any of ``motions``, network, ``subject`` or every subject)."""
    from mv3d.augment.evaluation import GroupErrors

    total = GroupErrors()
    for (k, m, n, s), e in errors.items():
        if k == kind and n == net and m in motions and (subject is None or s == subject):
            total = total + e
    return total


def summary_rows(result: dict, motions: list[str], subjects: int) -> list[dict]:
    """One row per (input, motion or "held out (all)", group): RMSE of both networks, verdict, paired counts."""
    from mv3d.augment.evaluation import ALL, group_names, verdict

    groups = group_names(result["marker_names"]) + [ALL]
    held = [m for m in motions if MOTIONS[m] == HELD_OUT]
    scopes = [(m, MOTIONS[m], [m]) for m in motions] + ([("held out (all)", HELD_OUT, held)] if len(held) > 1 else [])
    rows = []
    for kind in INPUTS:
        for label, mtype, members in scopes:
            per_net = {net: pooled(result["errors"], kind, members, net).rmse_mm() for net in NETWORKS}
            per_subject = {net: [pooled(result["errors"], kind, members, net, s).rmse_mm() for s in range(subjects)]
                           for net in NETWORKS}
            for g in groups:
                ours, theirs = per_net["mv3d"][g], per_net["opencap"][g]
                wins = sum(a[g] < b[g] for a, b in zip(per_subject["mv3d"], per_subject["opencap"]))
                rows.append({"input": kind, "motion": label, "type": mtype, "group": g,
                             "mv3d_rmse_mm": ours, "opencap_rmse_mm": theirs, "difference_mm": ours - theirs,
                             "verdict": verdict(ours, theirs), "subjects_mv3d_better": wins, "subjects": subjects,
                             "values": pooled(result["errors"], kind, members, "mv3d").counts[g]})
    return rows


def offset_rows(result: dict, motions: list[str]) -> list[dict]:
    """Clean and noisy input: each network's RMSE split into a constant body-fixed offset and the varying rest."""
    from mv3d.augment.evaluation import ALL, group_names

    groups = group_names(result["marker_names"]) + [ALL]
    rows = []
    for kind in INPUTS:
        for motion in motions:
            for net in NETWORKS:
                off, res = result["offsets"][(kind, motion, net)]
                o, r = off.rmse_mm(), res.rmse_mm()
                for g in groups:
                    rows.append({"input": kind, "motion": motion, "network": net, "group": g,
                                 "rmse_mm": float(np.hypot(o[g], r[g])), "offset_mm": o[g], "varying_mm": r[g]})
    return rows


def common_offsets(result: dict, kind: str, motions: list[str], net: str) -> np.ndarray:
    """Mean over the clips of ``motions`` of each marker's clip offset (M, 3) m, pelvis heading frame: the part
    of the error common to every subject (for OpenCap mostly its other marker placement convention)."""
    return np.mean([o for m in motions for o in result["clip_offsets"][(kind, m, net)]], axis=0)


def common_offset_rows(result: dict, motions: list[str]) -> list[dict]:
    """Per network and marker: the common offset (mm, X forward / Y up / Z right of the pelvis) over all clean clips."""
    rows = []
    for net in NETWORKS:
        mean = common_offsets(result, "clean", motions, net)
        for name, v in zip(result["marker_names"], 1000 * mean):
            rows.append({"network": net, "marker": name, "forward_mm": v[0], "up_mm": v[1], "right_mm": v[2],
                         "distance_mm": float(np.linalg.norm(v))})
    return rows


def print_tables(rows: list[dict], offsets: list[dict], result: dict, motions: list[str]) -> None:
    from mv3d.augment.evaluation import ALL

    groups = list(dict.fromkeys(r["group"] for r in rows))
    short = {"thigh/knee": "thigh/knee", "shank/ankle": "shank/ankl", "trunk/shoulders": "trunk/shld"}
    for kind in INPUTS:
        what = ("noisy input: 2D detector error model -> triangulation + 6 Hz low-pass (pipeline defaults)"
                if kind == "noisy" else "clean input: forward-kinematics keypoints (no noise)")
        print(f"\n== {what}\n   marker RMSE (mm), mv3d / OpenCap v0.3 per group")
        head = f"{'motion':<16} {'type':<22}" + "".join(f"{short.get(g, g):>14}" for g in groups) + "   verdict (all)"
        print(head)
        print("-" * len(head))
        for motion in dict.fromkeys(r["motion"] for r in rows if r["input"] == kind):
            sel = {r["group"]: r for r in rows if r["input"] == kind and r["motion"] == motion}
            cells = "".join(f"{sel[g]['mv3d_rmse_mm']:>6.1f}/{sel[g]['opencap_rmse_mm']:<6.1f} " for g in groups)
            a = sel[ALL]
            print(f"{motion:<16} {a['type']:<22} {cells}  mv3d {a['verdict']} "
                  f"({a['difference_mm']:+.1f} mm; better on {a['subjects_mv3d_better']}/{a['subjects']} subjects)")
    print("\n== input keypoint error (noisy input vs truth, 20 augmenter keypoints)")
    for motion in motions:
        sq, n = result["keypoint_sq"][motion]
        print(f"   {motion:<16} {1000 * np.sqrt(sq / n):5.1f} mm RMSE over {result['frames'][motion]} frames "
              f"({result['unaugmented'][motion]} frames without markers: keypoint gaps > 12 frames, left out)")
    print("\n== constant body-fixed offset vs varying error (all markers; clean input)"
          "  RMSE = sqrt(offset^2 + varying^2)")
    print(f"{'motion':<16} {'network':<8} {'rmse':>7} {'offset':>7} {'varying':>8}")
    for r in offsets:
        if r["input"] == "clean" and r["group"] == ALL:
            print(f"{r['motion']:<16} {r['network']:<8} {r['rmse_mm']:7.1f} {r['offset_mm']:7.1f} "
                  f"{r['varying_mm']:8.1f}")
    print("   (an offset is fixed to the pelvis heading frame; OpenCap learnt real mocap marker placements,"
          " the truth here is LaiUhlrich2022's _study marker definitions)")
    from mv3d.augment.evaluation import group_names, marker_group

    names = result["marker_names"]
    groups = group_names(names)
    print("\n== offset common to every subject and motion (clean input; RMS over the group's markers, mm)")
    print(f"{'network':<9}" + "".join(f"{g:>17}" for g in groups) + f"{'all':>8}")
    for net in NETWORKS:
        norm = np.linalg.norm(common_offsets(result, "clean", motions, net), axis=-1) * 1000
        cells = "".join(f"{np.sqrt(np.mean(norm[[marker_group(n) == g for n in names]] ** 2)):>17.1f}" for g in groups)
        print(f"{net:<9}{cells}{np.sqrt(np.mean(norm ** 2)):>8.1f}")
    print("\n== pelvis tilt implied by the predicted ASIS/PSIS minus the true one (deg; + = more posterior tilt):"
          " mean / RMS")
    print(f"{'motion':<16}" + "".join(f"{k + ' ' + n:>18}" for k in INPUTS for n in NETWORKS))
    for motion in motions:
        cells = ""
        for kind in INPUTS:
            for net in NETWORKS:
                e = np.concatenate(result["tilt_errors"][(kind, motion, net)])
                cells += f"{e.mean():>+11.1f} / {np.sqrt(np.mean(e ** 2)):<4.1f}"
        print(f"{motion:<16}{cells}")
    print("\n== verdict on the realistic (noisy) input; requirement: at least as good on walking, better on held-out"
          " types (tolerance: max(1 mm, 5 %))")
    for r in rows:
        if r["input"] == "noisy" and r["group"] == ALL:
            need = ("better", "as good") if r["type"] == WALKING else ("better",)
            status = "meets" if r["verdict"] in need else "FAILS"
            worst = [x for x in rows if x["input"] == "noisy" and x["motion"] == r["motion"] and x["group"] != ALL
                     and x["verdict"] == "worse"]
            extra = f"; worse groups: {', '.join(x['group'] for x in worst)}" if worst else ""
            print(f"   {r['motion']:<16} {r['type']:<22} mv3d {r['verdict']:<7} {r['mv3d_rmse_mm']:5.1f} vs "
                  f"{r['opencap_rmse_mm']:5.1f} mm -> {status} the requirement{extra}")


def write_csv(path: Path, rows: list[dict]) -> None:
    from mv3d.io.atomic import atomic_write

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: f"{v:.2f}" if isinstance(v, float) else v for k, v in r.items()})
    with atomic_write(path, "w") as fh:
        fh.write(buf.getvalue())


def write_plot(path: Path, rows: list[dict]) -> None:
    """Bar chart: noisy-input RMSE per group, one panel per motion."""
    from mv3d.io.atomic import atomic_write
    from mv3d.plotting import pyplot

    plt = pyplot()

    noisy = [r for r in rows if r["input"] == "noisy"]
    motions = list(dict.fromkeys(r["motion"] for r in noisy))
    groups = list(dict.fromkeys(r["group"] for r in noisy))
    cols = min(4, len(motions))
    nrows = int(np.ceil(len(motions) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False, sharey=True)
    x = np.arange(len(groups))
    for ax, motion in zip(axes.ravel(), motions):
        sel = {r["group"]: r for r in noisy if r["motion"] == motion}
        ax.bar(x - 0.2, [sel[g]["mv3d_rmse_mm"] for g in groups], 0.4, label="mv3d LaiUhlrich2022")
        ax.bar(x + 0.2, [sel[g]["opencap_rmse_mm"] for g in groups], 0.4, label="OpenCap v0.3")
        kind = sel[groups[0]]["type"]
        ax.set_title(motion if motion.startswith(kind) else f"{motion} ({kind})", fontsize=9)
        ax.set_xticks(x, groups, rotation=60, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.ravel()[len(motions):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("marker RMSE (mm)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Marker augmentation on triangulated noisy keypoints (identical inputs)", fontsize=10)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def main() -> None:
    from mv3d.augment.weights import DEFAULT_WEIGHTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10, help="random test subjects (default 10)")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each built-in motion (s)")
    parser.add_argument("--motions", default=",".join(MOTIONS), help=f"comma-separated, from {', '.join(MOTIONS)}")
    parser.add_argument("--rigs", default="opencap2,opencap3", help="built-in rigs, used in turn per subject")
    parser.add_argument("--seed", type=int, default=2024, help="test subjects and noise (training used seed 0)")
    parser.add_argument("--quick", action="store_true", help="3 subjects, 4 s built-in motions")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="mv3d augmenter weights (.pt)")
    parser.add_argument("--opencap", default=str(OPENCAP / "augmenter"), help="folder of OpenCap's v0.3 models")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "augment_compare"))
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.seconds = 3, 4.0
    args.motions = [m.strip() for m in args.motions.split(",") if m.strip()]
    unknown = [m for m in args.motions if m not in MOTIONS]
    if unknown:
        raise SystemExit(f"unknown motions {unknown}; choose from {', '.join(MOTIONS)}")
    if not OPENCAP.is_dir():
        raise SystemExit(f"{OPENCAP} not found: the benchmark needs ../shared/data (OpenCap model, motions, weights)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("mv3d.augment.augmenter").setLevel(logging.ERROR)  # gaps: counted and printed instead

    t0 = time.perf_counter()
    result = run(args)
    rows = summary_rows(result, args.motions, args.subjects)
    offsets = offset_rows(result, args.motions)
    print(f"mv3d weights: {args.weights}\nOpenCap: opencap-v0.3:{args.opencap}\n{args.subjects} test subjects "
          f"(seed {args.seed}), rigs {args.rigs} in turn, {RATE:g} Hz, built-in motions {args.seconds:g} s, "
          f"cameras synchronised")
    print_tables(rows, offsets, result, args.motions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "augment_compare.csv", rows)
    write_csv(out / "augment_compare_offsets.csv", offsets)
    write_csv(out / "augment_compare_common_offsets.csv", common_offset_rows(result, args.motions))
    if not args.no_plot:
        write_plot(out / "augment_compare.png", rows)
    t = result["timing"]
    print(f"\nwritten to {out}; {time.perf_counter() - t0:.0f} s in all (synthesis {t['synthesis']:.0f} s, "
          f"triangulation {t['triangulation']:.0f} s, augmentation {t['augmentation']:.0f} s; 2-core CPU)")


if __name__ == "__main__":
    main()
