"""The ``mv3d pose2d`` contract: ``--images`` with and without ``--boxes`` (COCO keypoint results), ``--videos``
without weights (the default model), bad input named in one line with exit status 2, and the demo-weights
warning. Real data: the shared COCO-WholeBody images and a clip cut from a Pose2Sim lab video."""
from __future__ import annotations

import json
import shutil
import sys

import h5py
import numpy as np
import pytest

from mv3d.io.keypoints import read_keypoints
from mv3d.pose2d.evaluate import evaluate_files
from mv3d.skeleton import MV3D23

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mv3d(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the console entry point in-process: (exit status, stdout, stderr)."""
    from pipelines.cli import main

    monkeypatch.setattr(sys, "argv", ["mv3d", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def coco(shared_data):
    folder = shared_data / "mmpose-samples" / "coco-wholebody"
    return folder, folder / "test_coco_wholebody.json"


def write_clip(source, out, frames: int) -> None:
    """The first ``frames`` frames of a video, re-encoded (MJPG .avi)."""
    import cv2

    from mv3d.video.frames import iter_batches

    writer = None
    for idx, _t, batch in iter_batches(source, batch_size=8):
        for i, frame in zip(idx, batch):
            if i >= frames:
                break
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 60.0,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(frame)
        if idx[-1] + 1 >= frames:
            break
    writer.release()


def test_images_with_boxes_give_one_result_per_box(coco, tmp_path, monkeypatch, capsys):
    folder, boxes = coco
    out = tmp_path / "results.json"
    code, stdout, _ = mv3d(monkeypatch, capsys, "pose2d", "--images", folder, "--boxes", boxes, "--out", out)
    assert code == 0 and "14 people in 4 images (model blazepose_heavy)" in stdout
    results = json.loads(out.read_text())
    annotations = json.loads(boxes.read_text())["annotations"]
    assert [(r["image_id"], r["box_id"]) for r in results] == [(a["image_id"], a["id"]) for a in annotations]
    for r in results:
        assert r["category_id"] == 1 and len(r["keypoints"]) == 23 * 3 and 0 <= r["score"] <= 1
        assert r["file_name"] == f"{r['image_id']:012d}.jpg"
    # the results are COCO keypoint results: mv3d's evaluator reads them (measured PCK@0.1 0.92, foot 0.89)
    metrics = evaluate_files(boxes, out)
    assert metrics["pck@0.1"] > 0.85 and metrics["foot_pck@0.1"] > 0.75


def test_images_without_boxes_find_people_with_stable_ids(coco, tmp_path, monkeypatch, capsys):
    folder, _ = coco
    out = tmp_path / "found.json"
    code, _, _ = mv3d(monkeypatch, capsys, "pose2d", "--images", folder, "--out", out, "--model", "blazepose_full")
    assert code == 0
    results = json.loads(out.read_text())
    names = sorted(p.name for p in folder.glob("*.jpg"))
    assert {r["file_name"] for r in results} == set(names)        # somebody found in every image
    crowded = [r for r in results if r["file_name"] == "000000196141.jpg"]
    assert len(crowded) >= 3                                     # more than the largest person (measured: 4 of 5)
    for r in results:
        assert r["image_id"] == names.index(r["file_name"]) and "box_id" not in r
        assert len(r["keypoints"]) == 69 and r["score"] >= 0.5
    # one image file as PATH, its box from the boxes file
    one = folder / names[0]
    code, _, _ = mv3d(monkeypatch, capsys, "pose2d", "--images", one, "--boxes", coco[1], "--out", out,
                      "--model", "blazepose_full")
    assert code == 0 and [r["box_id"] for r in json.loads(out.read_text())] == [442619]


@pytest.mark.parametrize("case, message", [
    ("malformed", "boxes.json: not valid JSON"),
    ("unknown_image", "box 7 is on image id 99, which 'images' does not list"),
    ("missing_image", "nothere.jpg: image 3 of"),
    ("bad_bbox", "box 7 (image 785): bbox must be [x, y, w, h]"),
    ("no_area", "boxes.json: image 785 (000000000785.jpg): box 7 (x, y, w, h = [10.0, 10.0, -5.0, 80.0]) has no "
                "area (w, h <= 0); 1 such box(es). Fix the bbox [x, y, w, h] (pixels) in the boxes file"),
    ("not_finite", "boxes.json: image 785 (000000000785.jpg): box 7 (x, y, w, h = [10.0, nan, 50.0, 80.0]) is "
                   "not finite"),
    ("outside", "000000000785.jpg (image 785): box 7 (x, y, w, h = [5000.0, 10.0, 20.0, 20.0]) lies outside the "
                "640x"),
])
def test_bad_boxes_files_name_the_file_or_box(coco, tmp_path, monkeypatch, capsys, case, message):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(coco[0] / "000000000785.jpg", folder)
    images = [{"id": 785, "file_name": "000000000785.jpg"}]
    box = {"id": 7, "image_id": 785, "bbox": [10.0, 10.0, 50.0, 80.0]}
    if case == "unknown_image":
        box["image_id"] = 99
    if case == "missing_image":
        images.append({"id": 3, "file_name": "nothere.jpg"})
    if case == "bad_bbox":
        box["bbox"] = [10.0, 10.0, "50", 80.0]
    if case == "no_area":
        box["bbox"] = [10.0, 10.0, -5.0, 80.0]
    if case == "not_finite":
        box["bbox"] = [10.0, float("nan"), 50.0, 80.0]  # json writes NaN, which Python's json reads back
    if case == "outside":
        box["bbox"] = [5000.0, 10.0, 20.0, 20.0]
    boxes = tmp_path / "boxes.json"
    boxes.write_text("{not json" if case == "malformed" else json.dumps({"images": images, "annotations": [box]}))
    code, _, stderr = mv3d(monkeypatch, capsys, "pose2d", "--images", folder, "--boxes", boxes,
                           "--out", tmp_path / "r.json", "--model", "blazepose_full")
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / "r.json").exists()


def test_videos_without_weights_run_the_default_model(shared_data, tmp_path, monkeypatch, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for cam in ("cam01", "cam02"):
        write_clip(shared_data / "pose2sim-demo" / "videos" / f"{cam}.mp4", videos / f"{cam}.avi", 5)
    out = tmp_path / "kp.h5"
    code, stdout, _ = mv3d(monkeypatch, capsys, "pose2d", "--videos", videos, "--out", out)
    assert code == 0 and "model blazepose_heavy" in stdout
    with h5py.File(out) as f:
        data = f["keypoints2d"][:]
        assert list(f["keypoints2d"].attrs["joint_names"]) == list(MV3D23)
    assert data.shape == (2, 5, 23, 3) and np.isfinite(data).all()
    openpose = read_keypoints(shared_data / "pose2sim-demo" / "pose", fps=60)  # the subject's OpenPose points
    for c, cam in enumerate(("cam01", "cam02")):
        ref = openpose.data[openpose.cameras.index(cam), :5]
        ok = ref[..., 2] > 0.3
        # measured 12.5-16.8 px per camera (person ~650-750 px tall)
        assert np.median(np.linalg.norm(data[c, ..., :2] - ref[..., :2], axis=-1)[ok]) < 25.0


def test_demo_weights_warn_that_they_cannot_see_real_people(shared_data, tmp_path, monkeypatch, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_clip(shared_data / "pose2sim-demo" / "videos" / "cam01.mp4", videos / "cam01.avi", 2)
    code, _, stderr = mv3d(monkeypatch, capsys, "pose2d", "--videos", videos, "--out", tmp_path / "kp.h5",
                           "--model", "demo_synthetic")
    assert code == 0 and "demo_synthetic was trained on simulator renders only" in stderr
    code, _, stderr = mv3d(monkeypatch, capsys, "pose2d", "--videos", videos, "--out", tmp_path / "kp.h5",
                           "--model", "blazepose_full", "--weights", "w.pt")
    assert code == 2 and "either --model or --weights" in stderr
