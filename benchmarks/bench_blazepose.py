"""BlazePose GHUM in mv3d's torch code: accuracy on the shared COCO-WholeBody images (with boxes, and everyone
found without), the derived small toes, systematic joint offsets (COCO annotators, OpenPose on the Pose2Sim lab
videos), subjects small in a wide frame, and speed.

    python benchmarks/bench_blazepose.py [--reference mediapipe_coco.npz] [--reference-python PY --tflite-dir DIR]

The original MediaPipe runtime is not a project dependency. Its COCO figures are printed from a recorded run
(``REFERENCE_PCK``; how: below) unless ``--reference`` gives the file ``bench_blazepose_reference.py`` writes. Its
speed is measured in this run when ``--reference-python`` names a Python with ``ai-edge-litert`` and
``--tflite-dir`` holds the .tflite files; otherwise the recorded ratio is printed, marked as recorded.
"""
from __future__ import annotations

import os

# Threads that sleep at OpenMP barriers instead of spinning: on a shared machine spinning makes 2-thread torch
# 5-10x slower (measured here); must be set before torch starts. Export OMP_WAIT_POLICY to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mv3d.io.keypoints import read_keypoints  # noqa: E402
from mv3d.pose2d.blazepose import BlazePose, to_mv3d23  # noqa: E402
from mv3d.pose2d.blazepose.mapping import BLAZEPOSE_INDEX, derivation_text  # noqa: E402
from mv3d.pose2d.blazepose.tracking import track_video  # noqa: E402
from mv3d.skeleton import JOINT_INDEX  # noqa: E402
from mv3d.video.frames import iter_batches  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COCO = SHARED / "mmpose-samples" / "coco-wholebody"
POSE2SIM = SHARED / "pose2sim-demo"
BODY, FOOT, LIMBS = np.arange(17), np.arange(17, 23), np.arange(5, 17)
PAD = 0.25  # the reference's crops: each box padded by 25 % per side (bench_blazepose_reference.py)

#: MediaPipe 0.10.21 (Python wheel, static-image mode, its own detector on each padded box crop), measured
#: 2026-12-04 with benchmarks/bench_blazepose_reference.py on this project's 2-core machine: PCK of the box's
#: longer side on the 12 shared COCO-WholeBody people with keypoints (181 body, 38 foot points).
REFERENCE_PCK: dict[str, dict[str, float]] = {
    "heavy": {"body@0.05": 0.757, "body@0.1": 0.901, "foot@0.05": 0.658, "foot@0.1": 0.789,
              "limbs@0.05": 0.704, "limbs@0.1": 0.896},
    "full": {"body@0.05": 0.724, "body@0.1": 0.895, "foot@0.05": 0.526, "foot@0.1": 0.816,
             "limbs@0.05": 0.667, "limbs@0.1": 0.867},
}
#: torch / original runtime (ai-edge-litert 2.3.0, XNNPACK) time per landmark-network call, measured 2026-12-04
#: interleaved in one process on the same machine (overloaded: load ~8 on 2 cores), OMP_WAIT_POLICY=PASSIVE;
#: by thread count. The figures varied by about +-0.1 between runs.
REFERENCE_SPEED: dict[str, dict[int, float]] = {"heavy": {1: 1.44, 2: 1.37}, "full": {1: 1.18, 2: 1.01}}


def load_coco() -> tuple[dict[int, np.ndarray], list[dict], np.ndarray]:
    """Images by id, annotations with at least one labelled body or foot point, and their (A, 23, 3) MV3D23
    ground truth (COCO-17 then the six foot points: MV3D23's order)."""
    data = json.loads((COCO / "test_coco_wholebody.json").read_text())
    images = {im["id"]: cv2.imread(str(COCO / im["file_name"])) for im in data["images"]}
    anns = [a for a in data["annotations"] if a["num_keypoints"] > 0 or any(a["foot_kpts"][2::3])]
    gt = np.array([np.concatenate([np.reshape(a["keypoints"], (17, 3)), np.reshape(a["foot_kpts"], (6, 3))])
                   for a in anns])
    return images, anns, gt


def pck(pred: np.ndarray, gt: np.ndarray, size: np.ndarray, joints: np.ndarray, thr: float) -> float:
    """Fraction of labelled joints within ``thr`` x the box's longer side (missing predictions count as wrong)."""
    ok = gt[:, joints, 2] > 0
    dist = np.linalg.norm(pred[:, joints, :2] - gt[:, joints, :2], axis=-1)
    return float(((dist < thr * size[:, None]) & ok).sum() / ok.sum())


def pck_row(pred: np.ndarray, gt: np.ndarray, size: np.ndarray) -> dict[str, float]:
    return {f"{name}@{t}": pck(pred, gt, size, j, t)
            for name, j in (("body", BODY), ("foot", FOOT), ("limbs", LIMBS)) for t in (0.05, 0.1)}


def padded_box(box: list[float], shape: tuple[int, ...]) -> np.ndarray:
    x, y, w, h = box
    x0, y0 = max(0.0, np.floor(x - PAD * w)), max(0.0, np.floor(y - PAD * h))
    x1, y1 = min(shape[1], np.ceil(x + w + PAD * w)), min(shape[0], np.ceil(y + h + PAD * h))
    return np.array([x0, y0, x1, y1], int)


def coco_predictions(bp: BlazePose, images, anns) -> dict[str, np.ndarray]:
    """BlazePose-33 xy and MV3D23 keypoints per annotation: box mode (no detector) and, like the reference, the
    detector on the whole padded crop, its best person (NaN where nobody is found)."""
    box_xy, box_kp, one_kp, det_kp = [], [], [], []
    passes = bp.box_passes
    for a in anns:
        image = images[a["image_id"]]
        lm = bp.estimate_boxes([image], np.array([a["bbox"]]))
        box_xy.append(lm.xy[0, :33])
        box_kp.append(lm.mv3d23()[0])
        bp.box_passes = 1
        one_kp.append(bp.estimate_boxes([image], np.array([a["bbox"]])).mv3d23()[0])
        bp.box_passes = passes
        x0, y0, x1, y1 = padded_box(a["bbox"], image.shape)
        kp = whole_image_people(bp, np.ascontiguousarray(image[y0:y1, x0:x1]))
        one = np.full((23, 3), np.nan) if not len(kp) else kp[0] + np.array([x0, y0, 0])
        det_kp.append(one)
    return {"xy": np.array(box_xy), "boxes": np.array(box_kp), "one_pass": np.array(one_kp),
            "detector": np.array(det_kp)}


def reference_rows(path: Path, anns: list[dict]) -> dict[str, np.ndarray]:
    """MV3D23 keypoints of the original runtime per annotation from bench_blazepose_reference.py's file."""
    ref = np.load(path)
    order = {int(i): k for k, i in enumerate(ref["annotation_ids"])}
    rows = {}
    for variant in ("heavy", "full"):
        lm = ref[variant][[order[a["id"]] for a in anns]]
        rows[variant] = to_mv3d23(lm[:, :, :2], lm[:, :, 2])
    return rows


def report_pck(preds: dict, gt: np.ndarray, size: np.ndarray, reference: dict | None) -> None:
    print("\n1. COCO-WholeBody (shared images, given boxes): PCK of the box's longer side")
    cols = list(pck_row(preds["heavy"]["boxes"], gt, size))
    print(f"   {'':44s}" + " ".join(f"{c:>11s}" for c in cols))
    for variant in ("heavy", "full"):
        rows = [(f"mv3d {variant}, box -> region (2 passes)", pck_row(preds[variant]["boxes"], gt, size)),
                (f"mv3d {variant}, box -> region (1 pass)", pck_row(preds[variant]["one_pass"], gt, size)),
                (f"mv3d {variant}, own detector on padded crop", pck_row(preds[variant]["detector"], gt, size))]
        if reference is not None:
            rows.append((f"MediaPipe {variant} (measured now)", pck_row(reference[variant], gt, size)))
        elif variant in REFERENCE_PCK:
            rows.append((f"MediaPipe {variant} (recorded)", REFERENCE_PCK[variant]))
        for label, row in rows:
            print(f"   {label:44s}" + " ".join(f"{row[c]:11.3f}" for c in cols))
    print(f"   {len(gt)} people, {(gt[:, BODY, 2] > 0).sum()} body and {(gt[:, FOOT, 2] > 0).sum()} foot points; "
          "limbs = shoulders, elbows, wrists, hips, knees, ankles. One point is ~0.6 % (body), ~2.6 % (foot).")


def report_small_toes(xy: np.ndarray, kp: np.ndarray, gt: np.ndarray, size: np.ndarray) -> None:
    print("\n2. Derived small toes against the COCO-WholeBody small-toe annotations")
    for k, v in derivation_text().items():
        print(f"   {k} = {v}")
    for label, pred in (("derived rule", kp), ("copy of the foot-index point", None)):
        errs = []
        for side in ("l", "r"):
            j = JOINT_INDEX[f"{side}_small_toe"]
            p = kp[:, j, :2] if pred is not None else xy[:, BLAZEPOSE_INDEX[f"{side}_big_toe"]]
            ok = gt[:, j, 2] > 0
            errs.append(np.linalg.norm(p[ok] - gt[ok, j, :2], axis=-1) / size[ok])
        e = np.concatenate(errs)
        print(f"   {label:30s} n={len(e)}: median error {np.median(e):.3f}, mean {np.mean(e):.3f} of the box side; "
              f"PCK@0.05 {np.mean(e < 0.05):.2f}, @0.1 {np.mean(e < 0.1):.2f}")
    big = np.concatenate([np.linalg.norm(kp[gt[:, j, 2] > 0, j, :2] - gt[gt[:, j, 2] > 0, j, :2], axis=-1)
                          / size[gt[:, j, 2] > 0] for j in (JOINT_INDEX["l_big_toe"], JOINT_INDEX["r_big_toe"])])
    print(f"   (for scale: the big toes, detected, median {np.median(big):.3f} of the box side, n={len(big)})")


def body_frame_offsets(pred: np.ndarray, ref: np.ndarray, scale: np.ndarray, joints: list[str]
                       ) -> dict[str, np.ndarray]:
    """Per joint (n, 2) offsets pred - ref in the person's frame from ``ref``: along the body axis (positive
    towards the head) and sideways (positive away from the body's midline), per unit of ``scale`` (n,)."""
    mid_hip = ref[:, [JOINT_INDEX["l_hip"], JOINT_INDEX["r_hip"]], :2].mean(1)
    mid_sh = ref[:, [JOINT_INDEX["l_shoulder"], JOINT_INDEX["r_shoulder"]], :2].mean(1)
    up = mid_sh - mid_hip
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    side = np.stack([-up[:, 1], up[:, 0]], -1)
    out = {}
    for name in joints:
        j = JOINT_INDEX[name]
        d = pred[:, j, :2] - ref[:, j, :2]
        sign = np.sign(np.sum((ref[:, j, :2] - mid_hip) * side, -1))  # outward
        out[name] = np.stack([np.sum(d * up, -1), sign * np.sum(d * side, -1)], -1) / scale[:, None]
    return out


def print_offsets(offsets: dict[str, np.ndarray], valid: dict[str, np.ndarray], unit: str) -> None:
    for name, o in offsets.items():
        o = o[valid[name]]
        if len(o) < 3:
            continue
        mean, se = o.mean(0), o.std(0, ddof=1) / np.sqrt(len(o))
        print(f"   {name:11s} n={len(o):3d}  along body {mean[0]:+.3f} +- {se[0]:.3f}   outwards {mean[1]:+.3f} "
              f"+- {se[1]:.3f}  ({unit}; mean +- standard error)")


def report_coco_offsets(kp: np.ndarray, gt: np.ndarray, size: np.ndarray) -> None:
    print("\n3a. Systematic offsets, BlazePose heavy (box mode) - COCO annotators, per box longer side")
    torso = (gt[:, [5, 6, 11, 12], 2] > 0).all(1)
    joints = ["l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel", "l_big_toe",
              "r_big_toe", "l_shoulder", "r_shoulder"]
    off = body_frame_offsets(kp[torso], gt[torso], size[torso], joints)
    valid = {n: gt[torso, JOINT_INDEX[n], 2] > 0 for n in joints}
    print_offsets(off, valid, "box side")


def first_frames(video: Path, frames: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The first ``frames`` frames of a video as decoded batches of 8."""
    return [(i[i < frames], t[i < frames], f[i < frames]) for i, t, f in iter_batches(video, batch_size=8)
            if (i < frames).any()]


def track_pose2sim(bp: BlazePose, frames: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per camera: keypoints (F, 23, 3) and frame indices of the first ``frames`` frames."""
    return {video.stem: track_video(bp, first_frames(video, frames))[:2]
            for video in sorted((POSE2SIM / "videos").glob("cam*.mp4"))}


def report_pose2sim(tracks: dict, openpose) -> None:
    print("\n3b. BlazePose heavy (tracking) - OpenPose BODY_25B on the Pose2Sim lab videos, per person height")
    joints = ["l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel", "l_big_toe",
              "r_big_toe", "l_shoulder", "r_shoulder"]
    per_cam = {n: [] for n in joints}
    for cam, (kp, idx) in tracks.items():
        ref = openpose.data[openpose.cameras.index(cam)][np.searchsorted(openpose.frames, idx)]
        ok = (ref[..., 2] > 0.3) & np.isfinite(kp[..., 0])
        torso = ok[:, [5, 6, 11, 12]].all(1)
        height = np.nanmax(ref[..., 1], 1) - np.nanmin(np.where(ok, ref[..., 1], np.nan), 1)
        dist = np.linalg.norm(kp[..., :2] - ref[..., :2], axis=-1)
        print(f"   {cam}: median distance {np.median(dist[ok]):.1f} px over all joints, hips "
              f"{np.median(dist[:, 11:13][ok[:, 11:13]]):.1f} px; person ~{np.median(height):.0f} px tall")
        off = body_frame_offsets(kp[torso], ref[torso], height[torso], joints)
        for n in joints:
            per_cam[n].append(off[n][ok[torso, JOINT_INDEX[n]]].mean(0))
    print("   mean offset per camera (along the body, towards the head; outwards), per person height:")
    for n, rows in per_cam.items():
        rows = np.array(rows)
        cams = "  ".join(f"({a:+.3f}, {b:+.3f})" for a, b in rows)
        print(f"   {n:11s} {cams}   mean ({rows[:, 0].mean():+.3f}, {rows[:, 1].mean():+.3f})")


def whole_image_people(bp: BlazePose, image: np.ndarray) -> np.ndarray:
    """MV3D23 keypoints (P, 23, 3) of the people the detector finds on the whole image alone, one landmark pass
    (how images without boxes were read before the windows)."""
    regions = bp.regions_of(bp.detect([image])[0])
    if not len(regions):
        return np.zeros((0, 23, 3))
    lm = bp.landmarks([image], regions, np.zeros(len(regions), int))
    return lm.mv3d23()[lm.pose_presence >= bp.min_presence]


def match_people(found: list[np.ndarray], images: list[int], anns: list[dict], gt: np.ndarray,
                 size: np.ndarray) -> tuple[int, float, int]:
    """Annotated people matched by a found one (limbs PCK@0.1 >= 0.5; each found person used once), the limbs
    PCK@0.1 of the matched, and the found people left unmatched."""
    used, scores = set(), []
    for n, a in enumerate(anns):
        kp = found[images.index(a["image_id"])]
        ok = gt[n, LIMBS, 2] > 0
        best, best_pck = None, 0.5
        for k in range(len(kp)):
            hit = np.linalg.norm(kp[k, LIMBS, :2] - gt[n, LIMBS, :2], axis=-1) < 0.1 * size[n]
            if (a["image_id"], k) not in used and ok.any() and hit[ok].mean() >= best_pck:
                best, best_pck = k, hit[ok].mean()
        if best is not None:
            used.add((a["image_id"], best))
            scores.append(best_pck)
    return len(scores), float(np.mean(scores)) if scores else float("nan"), sum(map(len, found)) - len(used)


def report_people_without_boxes(models: dict[str, BlazePose], images, anns, gt, size) -> None:
    print("\n1b. COCO-WholeBody (shared images) without boxes: every person found")
    ids = sorted(images)
    for variant, bp in models.items():
        for label, find in (("whole image, one pass (before)", lambda im: whole_image_people(bp, im)),
                            ("whole image + windows, two passes", lambda im: bp.estimate_images([im])[0][0])):
            start = time.perf_counter()
            found = [find(images[i]) for i in ids]
            seconds = (time.perf_counter() - start) / len(ids)
            matched, limbs, extra = match_people(found, ids, anns, gt, size)
            print(f"   {variant:5s} {label:34s} people found per image {[len(f) for f in found]}; annotated people "
                  f"matched {matched} of {len(anns)} (limbs PCK@0.1 of those {limbs:.3f}); found people matching "
                  f"nobody {extra}; {seconds:.2f} s per image")


def shrunk_into_wide_frames(batches, scale: float) -> tuple[list, np.ndarray]:
    """Frame batches with each frame shrunk by ``scale`` and pasted into a grey 1920x1080 frame, 300 px from the
    left, vertically centred; and where the frame's corner landed (x, y)."""
    out = []
    for idx, times, frames in batches:
        wide = np.full((len(frames), 1080, 1920, 3), 90, np.uint8)
        for k, frame in enumerate(frames):
            small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            corner = np.array([300, (1080 - small.shape[0]) // 2])
            wide[k, corner[1]:corner[1] + small.shape[0], corner[0]:corner[0] + small.shape[1]] = small
        out.append((idx, times, wide))
    return out, corner


def report_small_subjects(bp: BlazePose, frames: int) -> None:
    print(f"\n3c. A subject small in a wide frame: each Pose2Sim lab video's first {frames} frames shrunk into a "
          f"1920x1080 frame, tracked, against the tracking of the full-size frames")
    for video in sorted((POSE2SIM / "videos").glob("cam*.mp4")):
        batches = first_frames(video, frames)
        full = track_video(bp, batches)[0]
        height = np.nanmedian(np.ptp(full[..., 1], axis=1))
        rows = []
        for scale in (0.55, 0.45, 0.3, 0.2):
            wide, corner = shrunk_into_wide_frames(batches, scale)
            whole = len(bp.detect(wide[0][2][:1])[0])
            start = time.perf_counter()
            kp = track_video(bp, wide)[0]
            ms = 1000 * (time.perf_counter() - start) / len(kp)
            err = np.linalg.norm((kp[..., :2] - corner) / scale - full[..., :2], axis=-1)
            rows.append(f"{scale * height:.0f} px tall: whole-frame detector finds {whole}; subject in "
                        f"{np.isfinite(kp[..., 0]).any(-1).sum()}/{len(kp)} frames, "
                        f"{100 * np.nanmedian(err) / height:.1f} % of its height from the full-size landmarks, "
                        f"{ms:.0f} ms/frame")
        print(f"   {video.stem}: " + "; ".join(rows))


def time_torch(bp: BlazePose, threads: int, reps: int = 8) -> float:
    """Median ms of one landmark-network call on a 256x256 crop, ``threads`` torch threads."""
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, 256, 256, device=bp.device).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for _ in range(reps + 2):
            start = time.perf_counter()
            bp.landmark_net(x)
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times[2:]))


_LITERT = """
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=int(sys.argv[2])); it.allocate_tensors()
i = it.get_input_details()[0]["index"]; x = np.random.rand(1, 256, 256, 3).astype(np.float32); t = []
for _ in range(int(sys.argv[3]) + 2):
    s = time.perf_counter(); it.set_tensor(i, x); it.invoke(); t.append(time.perf_counter() - s)
print(1000 * float(np.median(t[2:])))
"""


def time_litert(python: str, model: Path, threads: int, reps: int = 8) -> float:
    out = subprocess.run([python, "-c", _LITERT, str(model), str(threads), str(reps)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def report_speed(models: dict[str, BlazePose], args) -> None:
    print("\n4. Speed, ms per camera-frame (this machine is shared: compare ratios measured in the same run; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})")
    clip = first_frames(POSE2SIM / "videos" / "cam01.mp4", 48)  # the detector runs on the first batch of 8
    for variant, bp in models.items():
        for threads in (1, 2):
            rows = []
            for _ in range(2):  # alternate torch and the reference twice to average out the machine's load
                t = time_torch(bp, threads)
                r = None
                if args.reference_python and args.tflite_dir:
                    model = next(args.tflite_dir.rglob(f"pose_landmark_{variant}.tflite"))
                    r = time_litert(args.reference_python, model, threads)
                rows.append((t, r))
            t = float(np.mean([a for a, _ in rows]))
            line = f"   {variant:5s} {threads} thread(s): landmark network {t:6.1f} ms"
            if rows[0][1] is not None:
                r = float(np.mean([b for _, b in rows]))
                line += f"; original runtime (ai-edge-litert, XNNPACK) {r:6.1f} ms; ratio {t / r:.2f} (measured now)"
            elif variant in REFERENCE_SPEED:
                line += f"; ratio to the original runtime {REFERENCE_SPEED[variant][threads]:.2f} (recorded)"
            print(line)
            torch.set_num_threads(threads)
            start = time.perf_counter()
            _, idx, _ = track_video(bp, clip)
            print(f"   {variant:5s} {threads} thread(s): whole tracking pipeline (crop, network, refinement, "
                  f"mapping; video decoding apart) {1000 * (time.perf_counter() - start) / len(idx):6.1f} ms per "
                  "camera-frame")
    torch.set_num_threads(args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="bench_blazepose_reference.py's output")
    parser.add_argument("--reference-python", help="a Python with ai-edge-litert, to time the original runtime")
    parser.add_argument("--tflite-dir", type=Path, help="folder holding pose_landmark_{heavy,full}.tflite")
    parser.add_argument("--frames", type=int, default=30, help="Pose2Sim frames tracked per camera")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not COCO.is_dir():
        sys.exit(f"shared data not found at {SHARED}")
    torch.set_num_threads(args.threads)
    images, anns, gt = load_coco()
    size = np.array([max(a["bbox"][2:]) for a in anns])
    models = {v: BlazePose(v) for v in ("heavy", "full")}
    preds = {v: coco_predictions(bp, images, anns) for v, bp in models.items()}
    reference = reference_rows(args.reference, anns) if args.reference else None
    report_pck(preds, gt, size, reference)
    report_people_without_boxes(models, images, anns, gt, size)
    report_small_toes(preds["heavy"]["xy"], preds["heavy"]["boxes"], gt, size)
    report_coco_offsets(preds["heavy"]["boxes"], gt, size)
    openpose = read_keypoints(POSE2SIM / "pose", fps=60)
    report_pose2sim(track_pose2sim(models["heavy"], args.frames), openpose)
    report_small_subjects(models["heavy"], args.frames)
    report_speed(models, args)


if __name__ == "__main__":
    main()
