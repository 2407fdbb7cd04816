"""BlazePose inference library: mapping, anchors, decoding, NMS, regions, crops, refinement; real images."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mv3d.errors import InputError
from mv3d.pose2d.blazepose import detection as det
from mv3d.pose2d.blazepose.estimator import BlazePose, crop_images, distinct_people
from mv3d.pose2d.blazepose.mapping import (BLAZEPOSE_INDEX, DERIVED_CONFIDENCE, DERIVED_JOINTS, SMALL_TOE_BACK,
                                           SMALL_TOE_LATERAL, to_mv3d23)
from mv3d.pose2d.blazepose.regions import (ROI_SCALE, crop_to_image, refine_with_heatmaps, regions_from_alignment,
                                           regions_from_boxes, tile_regions)
from mv3d.pose2d.blazepose.tracking import track_video
from mv3d.pose2d.topdown import apply_affine
from mv3d.skeleton import JOINT_INDEX, LIMB_INDEX, MV3D23

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def read_frame(video, index: int) -> np.ndarray:
    """One frame (H, W, 3) uint8 BGR of a video, decoding only up to it."""
    from mv3d.video.frames import iter_batches

    for idx, _times, frames in iter_batches(video, batch_size=8):
        if index in idx:
            return frames[list(idx).index(index)]
    raise IndexError(index)


# ------------------------------------------------------------------ mapping

def test_index_table_follows_the_issue():
    expected = {"nose": 0, "l_eye": 2, "r_eye": 5, "l_ear": 7, "r_ear": 8, "l_shoulder": 11, "r_shoulder": 12,
                "l_elbow": 13, "r_elbow": 14, "l_wrist": 15, "r_wrist": 16, "l_hip": 23, "r_hip": 24,
                "l_knee": 25, "r_knee": 26, "l_ankle": 27, "r_ankle": 28, "l_heel": 29, "r_heel": 30,
                "l_big_toe": 31, "r_big_toe": 32}
    assert {k: v for k, v in BLAZEPOSE_INDEX.items() if v >= 0} == expected
    assert DERIVED_JOINTS == ("l_small_toe", "r_small_toe")
    assert set(BLAZEPOSE_INDEX) == set(MV3D23)


def test_mapping_copies_landmarks_and_derives_small_toes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (4, 33, 2))
    conf = rng.uniform(0.2, 1.0, (4, 33))
    kp = to_mv3d23(xy, conf)
    assert kp.shape == (4, 23, 3)
    for name, i in BLAZEPOSE_INDEX.items():
        if i >= 0:
            np.testing.assert_array_equal(kp[:, JOINT_INDEX[name], :2], xy[:, i])
            np.testing.assert_array_equal(kp[:, JOINT_INDEX[name], 2], conf[:, i])
    toe, heel, hip_l, hip_r = xy[:, 31], xy[:, 29], xy[:, 23], xy[:, 24]
    want = toe + SMALL_TOE_BACK * (heel - toe) + SMALL_TOE_LATERAL * (hip_l - hip_r)
    np.testing.assert_allclose(kp[:, JOINT_INDEX["l_small_toe"], :2], want)
    np.testing.assert_allclose(kp[:, JOINT_INDEX["l_small_toe"], 2],
                               DERIVED_CONFIDENCE * np.minimum(conf[:, 31], conf[:, 29]))


def test_derived_small_toe_lies_outwards_and_keeps_foot_bones_nonzero():
    # a person facing the camera: their left hip is on the image's right
    xy = np.zeros((1, 33, 2))
    xy[0, 23], xy[0, 24] = (110, 100), (90, 100)                  # hips, 20 px apart
    xy[0, 29], xy[0, 31] = (112, 200), (112, 180)                 # left heel, left toe (pointing at the camera)
    xy[0, 30], xy[0, 32] = (88, 200), (88, 180)
    kp = to_mv3d23(xy, np.ones((1, 33)))
    assert kp[0, JOINT_INDEX["l_small_toe"], 0] > kp[0, JOINT_INDEX["l_big_toe"], 0]   # outwards: to the right
    assert kp[0, JOINT_INDEX["r_small_toe"], 0] < kp[0, JOINT_INDEX["r_big_toe"], 0]
    bones = np.linalg.norm(kp[0, LIMB_INDEX[:, 0], :2] - kp[0, LIMB_INDEX[:, 1], :2], axis=-1)
    toe_bones = [k for k, (a, b) in enumerate(LIMB_INDEX) if "small_toe" in MV3D23[b]]
    assert (bones[toe_bones] > 3).all()


# ------------------------------------------------------------------ detection

def test_anchors_layout():
    a = det.ssd_anchors()
    assert a.shape == (2254, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1], a[0])                       # two anchors per 28x28 cell
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])       # next cell along x
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])    # the 14x14 grid after 28*28*2 anchors
    np.testing.assert_allclose(a[1960:1966], np.full((6, 2), 0.5 / 7))  # six anchors per 7x7 cell


def test_decode_box_and_keypoints():
    anchors = torch.tensor([[0.5, 0.25]], dtype=torch.float64)
    raw = torch.zeros(1, 1, 12)
    raw[0, 0, :4] = torch.tensor([22.4, 0.0, 44.8, 22.4])        # centre +0.1 in x, size 0.2 x 0.1
    raw[0, 0, 4:6] = torch.tensor([-22.4, 11.2])                 # keypoint 0 at anchor + (-0.1, 0.05)
    boxes, kps, scores = det.decode(raw, torch.full((1, 1, 1), 200.0), anchors)
    np.testing.assert_allclose(boxes[0, 0], [0.5, 0.2, 0.7, 0.3], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0, 0], [0.4, 0.3], atol=1e-6)
    assert float(scores[0, 0]) == pytest.approx(1.0)             # logits clipped at 100 before the sigmoid


def test_weighted_nms_blends_overlaps_and_keeps_the_rest():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 4, 2))
    kps[:, 0, 0] = [0.0, 3.0, 55.0]
    scores = np.array([0.9, 0.3, 0.6])
    b, k, s = det.weighted_nms(boxes, kps, scores)
    np.testing.assert_allclose(s, [0.9, 0.6])                    # the best score of each group
    np.testing.assert_allclose(b[0], [0.25, 0, 10.25, 10])       # score-weighted box (0.9 and 0.3)
    np.testing.assert_allclose(k[0, 0, 0], 0.75)
    np.testing.assert_allclose(b[1], boxes[2])
    empty = det.weighted_nms(np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))
    assert len(empty[2]) == 0


# ------------------------------------------------------------------ regions

def test_merge_detections_keeps_the_best_of_overlapping_boxes():
    def one(x: float, score: float) -> det.Detections:
        return det.Detections(np.array([[x, 10.0, 40.0, 40.0]]), np.full((1, 4, 2), x), np.array([score]))

    merged = det.merge_detections([one(100, 0.6), one(104, 0.9), one(300, 0.7), det.Detections(
        np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))])
    np.testing.assert_array_equal(merged.scores, [0.9, 0.7])         # the same person in two windows: the better
    np.testing.assert_array_equal(merged.boxes[:, 0], [104, 300])


def test_tile_regions_cover_a_wide_frame_with_half_overlapping_windows():
    tiles = tile_regions((1920, 1080), (0.5, 0.25)).numpy()
    assert len(tiles) == 3 * 2 + 7 * 4 and (tiles[:, 3] == 0).all()
    for side in (960.0, 480.0):
        level = tiles[tiles[:, 2] == side]
        lo, hi = level[:, :2] - side / 2, level[:, :2] + side / 2
        assert lo.min(0).tolist() == [0, 0] and hi.max(0).tolist() == [1920, 1080]   # inside, reaching both ends
        for axis in range(2):
            starts = np.unique(lo[:, axis])
            assert (np.diff(starts) <= side / 2).all()                 # neighbours overlap by half or more
    assert len(tile_regions((200, 150), (0.5, 0.25))) == 3 * 2      # 50 px windows: too small, left out
    tall = tile_regions((100, 400), (0.5,)).numpy()                   # an axis shorter than the side: centred
    np.testing.assert_allclose(tall[:, 0], 50)
    np.testing.assert_allclose(tall[:, 1], [100, 200, 300])


def _stick_figure(center: tuple[float, float], height: float) -> np.ndarray:
    """33 BlazePose landmarks (33, 2) of an upright person facing the camera, ``height`` pixels tall."""
    unit = {0: (0, 0.05), 7: (0.04, 0.04), 8: (-0.04, 0.04), 11: (0.1, 0.18), 12: (-0.1, 0.18), 13: (0.13, 0.34),
            14: (-0.13, 0.34), 15: (0.14, 0.48), 16: (-0.14, 0.48), 23: (0.07, 0.52), 24: (-0.07, 0.52),
            25: (0.07, 0.74), 26: (-0.07, 0.74), 27: (0.07, 0.94), 28: (-0.07, 0.94), 29: (0.07, 0.97),
            30: (-0.07, 0.97), 31: (0.08, 1.0), 32: (-0.08, 1.0)}
    xy = np.zeros((33, 2))
    for i in range(33):   # the other face and hand points near the nose and the wrists
        xy[i] = unit.get(i, unit[0] if i < 11 else unit[15 + i % 2])
    return np.asarray(center) + height * (xy - [0, 0.5])


def test_distinct_people_drops_the_same_person_again_and_a_body_drawn_onto_a_part():
    person = _stick_figure((300, 300), 400)
    again = person + np.random.default_rng(0).normal(0, 3, person.shape)
    onto_torso = _stick_figure((300, 250), 120)                      # a region that held only the chest
    neighbour = _stick_figure((520, 310), 380)                       # another person, touching
    small_far = _stick_figure((700, 200), 80)                        # a small person beside them
    xy = np.stack([again, person, onto_torso, neighbour, small_far, person + 200])
    presence = np.array([0.998, 0.999, 1.0, 0.99, 0.8, 0.3])
    # most present first, ties to the hundredth going to the larger: the body drawn onto the chest (presence 1.0)
    # gives way to the whole person, found twice (0 and 1: the larger of the two kept)
    np.testing.assert_array_equal(distinct_people(xy, presence, 0.5), [0, 3, 4])


def test_region_from_alignment_points():
    upright = regions_from_alignment(torch.tensor([[100.0, 200.0]]), torch.tensor([[100.0, 120.0]]))
    np.testing.assert_allclose(upright[0], [100, 200, ROI_SCALE * 80, 0], atol=1e-9)
    lying = regions_from_alignment(torch.tensor([[100.0, 200.0]]), torch.tensor([[180.0, 200.0]]))
    assert float(lying[0, 3]) == pytest.approx(math.pi / 2)      # head to the right: the crop's up turns right
    m = crop_to_image(lying, 256)
    up = apply_affine(m, torch.tensor([[[128.0, 0.0]]], dtype=torch.float64))  # top centre of the crop
    assert float(up[0, 0, 0]) > 100 + 0.49 * ROI_SCALE * 80      # lies to the right of the centre


def test_crop_affine_corners_and_boxes():
    regions = regions_from_boxes(np.array([[10.0, 20.0, 100.0, 200.0]]), 1.5)
    np.testing.assert_allclose(regions[0], [60, 120, 300, 0])
    m = crop_to_image(regions, 256)
    corners = apply_affine(m, torch.tensor([[[0.0, 0.0], [256.0, 256.0], [128.0, 128.0]]], dtype=torch.float64))
    np.testing.assert_allclose(corners[0], [[-90, -30], [210, 270], [60, 120]])


def test_crop_samples_the_region_and_maps_back():
    image = np.zeros((300, 400, 3), np.uint8)
    image[148:153, 248:253] = (0, 0, 255)                           # a red 5x5 square centred at (250, 150)
    region = torch.tensor([[230.0, 160.0, 128.0, 0.4]], dtype=torch.float64)
    crops, m = crop_images([image], region, np.zeros(1, int), 256, "replicate", torch.device("cpu"))
    red = crops[0, 0].double()                                     # RGB: channel 0 is red
    assert float(red.max()) == 255.0 and float(crops[0, 2].max()) == 0.0
    v, u = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    centroid = torch.stack([(red * u).sum(), (red * v).sum()]) / red.sum()
    back = apply_affine(m, centroid.reshape(1, 1, 2).double())
    np.testing.assert_allclose(back[0, 0], [250, 150], atol=0.1)


def test_heatmap_refinement_moves_to_the_peak_only_when_confident():
    hm = torch.full((1, 3, 64, 64), -10.0, dtype=torch.float64)
    hm[0, 0, 20, 30] = 10.0                                         # a sharp peak at column 30, row 20
    hm[0, 1, 20, 30] = -1.0                                         # too weak (sigmoid < 0.5)
    hm[0, 2, 20, 30] = 10.0
    xy = torch.tensor([[[121.0, 79.0], [121.0, 79.0], [300.0, 79.0]]], dtype=torch.float64)
    out, peak = refine_with_heatmaps(xy, hm)
    np.testing.assert_allclose(out[0, 0], [120.0, 80.0], atol=0.01)  # cell (30, 20) x stride 4
    np.testing.assert_allclose(out[0, 1], xy[0, 1])
    np.testing.assert_allclose(out[0, 2], xy[0, 2])                # outside the heatmap: unchanged
    np.testing.assert_allclose(peak[0], [torch.sigmoid(torch.tensor(10.0)), torch.sigmoid(torch.tensor(-1.0)), 0])


# ------------------------------------------------------------------ real images

@pytest.fixture(scope="module")
def coco(shared_data):
    import cv2

    root = shared_data / "mmpose-samples" / "coco-wholebody"
    ann = json.loads((root / "test_coco_wholebody.json").read_text())
    images = {im["id"]: cv2.imread(str(root / im["file_name"])) for im in ann["images"]}
    return images, ann["annotations"]


@pytest.fixture(scope="module")
def full_model():
    return BlazePose("full")


def test_box_mode_gives_one_result_per_box_near_the_annotation(coco, full_model):
    images, anns = coco
    ann = next(a for a in anns if a["image_id"] == 785)             # one clearly visible person
    others = [a for a in anns if a["image_id"] == 785 and a is not ann]
    boxes = np.array([ann["bbox"]] + [a["bbox"] for a in others] + [ann["bbox"]])
    (kp, scores), = full_model.estimate_images([images[785]], [boxes])
    assert kp.shape == (len(boxes), 23, 3) and scores.shape == (len(boxes),)
    gt = np.reshape(ann["keypoints"], (17, 3))
    dist = np.linalg.norm(kp[0, :17, :2] - gt[:, :2], axis=-1)[gt[:, 2] > 0]
    assert np.median(dist) < 0.05 * max(ann["bbox"][2:])
    np.testing.assert_allclose(kp[-1], kp[0])                      # same box, same result
    (empty, _), = full_model.estimate_images([images[785]], [np.zeros((0, 4))])
    assert empty.shape == (0, 23, 3)


def test_detector_finds_the_person_and_nobody_in_a_blank_image(coco, full_model):
    images, anns = coco
    found = full_model.detect([images[785], np.full((240, 320, 3), 127, np.uint8)])
    assert len(found[1]) == 0 and len(found[0]) >= 1
    x, y, w, h = next(a for a in anns if a["image_id"] == 785)["bbox"]
    hip = found[0].keypoints[0, 0]
    assert x < hip[0] < x + w and y < hip[1] < y + h
    (kp, _), = full_model.estimate_images([np.full((240, 320, 3), 127, np.uint8)])
    assert kp.shape == (0, 23, 3)


def test_people_are_found_in_a_crowded_image_through_windows(coco, full_model):
    images, anns = coco
    people = [a for a in anns if a["image_id"] == 196141]
    assert len(full_model.detect([images[196141]])[0]) == 1        # the whole image: only the largest person
    (kp, scores), = full_model.estimate_images([images[196141]])
    assert len(kp) <= len(people) + 1 and (scores >= 0.5).all()
    matched = 0
    for a in people:
        gt = np.reshape(a["keypoints"], (17, 3))
        if (gt[:, 2] > 0).sum() < 8:
            continue
        err = np.linalg.norm(kp[:, :17, :2] - gt[:, :2], axis=-1)[:, gt[:, 2] > 0] / max(a["bbox"][2:])
        matched += bool((np.mean(err < 0.1, axis=1) >= 0.8).any())
    assert matched >= 4                                              # measured: all 4 people with 8+ points


def test_bad_images_and_boxes_are_rejected(full_model):
    with pytest.raises(InputError, match="uint8"):
        full_model.detect([np.zeros((10, 10, 3), np.float32)])
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(InputError, match="not finite"):
        full_model.estimate_images([image], [np.array([[10.0, 10.0, np.nan, 20.0]])])
    with pytest.raises(InputError, match="outside"):
        full_model.estimate_images([image], [np.array([[500.0, 10.0, 20.0, 20.0]])])
    with pytest.raises(InputError, match="box lists"):
        full_model.estimate_images([image], [None, None])
    with pytest.raises(InputError, match="variant"):
        BlazePose("huge")


def test_tracking_follows_the_subject_of_a_real_video(shared_data, full_model):
    from mv3d.io.keypoints import read_keypoints
    from mv3d.video.frames import iter_batches

    root = shared_data / "pose2sim-demo"
    batches = []
    for idx, times, frames in iter_batches(root / "videos" / "cam01.mp4", batch_size=4):
        batches.append((idx, times, frames))
        if len(batches) == 3:
            break
    kp, frames, extras = track_video(full_model, batches)
    assert kp.shape == (12, 23, 3) and np.array_equal(frames, np.arange(12))
    assert extras["detected"][0] and extras["detected"].sum() <= 2    # detected once, then tracked
    assert (extras["pose_presence"] > 0.5).all()
    openpose = read_keypoints(root / "pose" / "cam01_json", fps=60)   # the subject chosen among OpenPose's people
    ref = openpose.data[0, :12]
    ok = ref[..., 2] > 0.3
    dist = np.linalg.norm(kp[..., :2] - ref[..., :2], axis=-1)[ok]
    assert np.median(dist) < 25.0                                     # px, for a person ~700 px tall


def _lab_clip_in_a_wide_frame(video, scale: float, corner: tuple[int, int]):
    """The first 3 frames of a lab video as a batch, tracked at full size (keypoints (3, 23, 3)), and the same
    frames shrunk by ``scale`` into grey 1920x1080 frames at ``corner`` (x, y)."""
    import cv2

    from mv3d.video.frames import iter_batches

    idx, times, frames = next(iter(iter_batches(video, batch_size=3)))
    wide = np.full((len(frames), 1080, 1920, 3), 90, np.uint8)
    for k, frame in enumerate(frames):
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        wide[k, corner[1]:corner[1] + small.shape[0], corner[0]:corner[0] + small.shape[1]] = small
    return (idx, times, frames), (idx, times, wide)


def _distance_to_full_size(kp: np.ndarray, full: np.ndarray, scale: float, corner: tuple[int, int]) -> np.ndarray:
    """Distance (..., 23) of keypoints found in the wide frames, taken back to the video's pixels, to ``full``'s."""
    return np.linalg.norm((kp[..., :2] - np.asarray(corner)) / scale - full[..., :2], axis=-1)


def test_tracking_finds_a_subject_too_small_for_the_whole_frame_detector(shared_data, full_model):
    """A lab video's subject (~700 px tall) shrunk into a 1920x1080 frame, ~170 px tall: the detector sees
    nobody on the whole frame; the windows find the subject, and the landmarks agree with the full-size ones."""
    scale, corner = 0.25, (1200, 300)
    original, wide = _lab_clip_in_a_wide_frame(shared_data / "pose2sim-demo" / "videos" / "cam01.mp4", scale, corner)
    full = track_video(full_model, [original])[0]
    assert len(full_model.detect(wide[2][:1])[0]) == 0
    kp, _, extras = track_video(full_model, [wide])
    assert (extras["pose_presence"] > 0.5).all()
    height = np.ptp(full[0, :, 1])
    assert np.median(_distance_to_full_size(kp, full, scale, corner)) < 0.02 * height   # measured 0.5-0.7 %


def test_tracking_chooses_the_subject_among_people_confirmed_by_their_landmarks(shared_data, full_model):
    """A back view (cam04) shrunk into a 1920x1080 frame, ~350 px tall: the whole-frame detector finds the subject
    but its region comes out turned over and the landmark network draws a small body onto the back; chosen among
    the people found through the windows, the subject is followed as in the full-size video."""
    scale, corner = 0.45, (300, 108)
    original, wide = _lab_clip_in_a_wide_frame(shared_data / "pose2sim-demo" / "videos" / "cam04.mp4", scale, corner)
    full = track_video(full_model, [original])[0]
    height = np.ptp(full[0, :, 1])
    found = full_model.detect(wide[2][:1])[0]
    assert len(found) == 1
    alone = full_model.landmarks(wide[2][:1], full_model.regions_of(found)).mv3d23()   # the detection's landmarks
    assert np.median(_distance_to_full_size(alone, full[:1], scale, corner)) > 0.1 * height
    kp = track_video(full_model, [wide])[0]
    assert np.median(_distance_to_full_size(kp, full, scale, corner)) < 0.02 * height   # measured 0.5 %


def test_windows_are_searched_at_most_once_every_windows_every_frames(full_model, monkeypatch):
    from mv3d.pose2d.blazepose.tracking import TrackParams

    searched = []
    find_people = full_model.find_people
    monkeypatch.setattr(full_model, "find_people", lambda image, *levels: searched.append(levels) or
                        find_people(image, *levels))
    blank = np.full((12, 120, 160, 3), 90, np.uint8)                 # 40 px quarter windows: one level only
    batches = [(np.arange(k, k + 4), np.arange(k, k + 4) / 30, blank[k:k + 4]) for k in range(0, 12, 4)]
    kp = track_video(full_model, batches, params=TrackParams(windows_every=8))[0]
    assert np.isnan(kp[..., :2]).all() and len(searched) == 2         # frames 0 and 8, not 4


def test_tracking_reports_frames_without_anybody(full_model):
    blank = np.full((3, 120, 160, 3), 90, np.uint8)
    kp, frames, extras = track_video(full_model, [(np.arange(3), np.arange(3) / 30, blank)])
    assert np.isnan(kp[..., :2]).all() and (kp[..., 2] == 0).all()
    assert not np.isfinite(extras["regions"]).any()
    with pytest.raises(InputError, match="no frames"):
        track_video(full_model, [])


def _similarity_about(center: np.ndarray, reference: np.ndarray, points: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares scale s and shift t (2,) with points - center ~ s * (reference - center) + t; (J, 2) each."""
    a, b = reference - center, points - center
    a0, b0 = a - a.mean(0), b - b.mean(0)
    scale = float((a0 * b0).sum() / (a0 * a0).sum())
    return scale, b.mean(0) - scale * a.mean(0)


def test_similarity_fit_sees_a_mapping_error_that_grows_with_the_region():
    rng = np.random.default_rng(0)
    center, ref = np.array([500.0, 800.0]), rng.uniform(100, 1000, (33, 2))
    scale, shift = _similarity_about(center, ref, center + 0.99 * (ref - center) + [0.0, 2.0])
    assert scale == pytest.approx(0.99) and shift == pytest.approx([0.0, 2.0])


@pytest.mark.parametrize("variant", ["full", "heavy"])
def test_matches_the_original_mediapipe_runtime_on_real_frames(shared_data, variant):
    """The whole chain (letterbox, detector, NMS, region, crop, network, heatmap refinement, projection) against
    MediaPipe 0.10.21's own results on Pose2Sim frames (tests/data/make_blazepose_mediapipe_reference.py)."""
    from pathlib import Path

    ref = np.load(Path(__file__).with_name("data") / "blazepose_mediapipe_reference.npz")
    bp = BlazePose(variant)
    for k, name in enumerate(ref["frames"]):
        cam, index = str(name).split("/")
        frame = read_frame(shared_data / "pose2sim-demo" / "videos" / f"{cam}.mp4", int(index))
        want = ref[f"{variant}_landmarks"][k]
        region = bp.regions_of(bp.detect([frame])[0])[0]
        # the region from our detector: within a pixel (the detector's input crop differs by rounding only)
        assert np.abs(region[:3].numpy() - ref[f"{variant}_regions"][k, :3]).max() < 1.0
        # landmarks on MediaPipe's own region: only the crop's resampling differs (MediaPipe's internal 8-bit warp),
        # which the heatmap refinement's discrete window can amplify for single landmarks; measured median
        # 0.15-0.8 px, 90th percentile 0.4-4.4 px for a person ~700 px tall
        given = bp.landmarks([frame], torch.as_tensor(ref[f"{variant}_regions"][k])[None])
        d = np.linalg.norm(given.xy[0, :33] - want[:, :2], axis=-1)
        assert np.median(d) < 1.0 and np.percentile(d, 90) < 5.0
        # no error of the crop -> image mapping that grows with the region (portrait 1080x1920 frames, regions
        # turned by up to 40 degrees): about the region's centre, ours = scale x MediaPipe's + shift, measured
        # scale 0.9967-1.0023, shift < 1.7 px (heavy 1.0001-1.0016, < 0.4 px). A 1 % scale error would move a hip
        # ~300 px from the centre by 3 px; the hips' offset to OpenPose on these videos is ~20 px
        scale, shift = _similarity_about(ref[f"{variant}_regions"][k, :2], want[:, :2], given.xy[0, :33])
        assert abs(scale - 1) < 0.01 and np.linalg.norm(shift) < 3.0
        np.testing.assert_allclose(given.visibility[0, :33], want[:, 2], atol=0.02)
        # end to end, our region (measured median 0.24-2.1 px)
        own = bp.landmarks([frame], region[None])
        assert np.median(np.linalg.norm(own.xy[0, :33] - want[:, :2], axis=-1)) < 2.5


def test_tracking_redetects_after_the_subject_leaves(shared_data, full_model):
    from mv3d.video.frames import iter_batches

    idx, times, frames = next(iter(iter_batches(shared_data / "pose2sim-demo" / "videos" / "cam01.mp4",
                                                batch_size=6)))
    gap = frames.copy()
    gap[2:4] = 60                                                     # the person vanishes for two frames
    kp, _, extras = track_video(full_model, [(idx, times, gap)])
    found = np.isfinite(kp[:, 11, 0])
    np.testing.assert_array_equal(found, [True, True, False, False, True, True])
    assert extras["detected"][2:5].all() and not extras["detected"][5]  # searched while lost, tracked after
    alone = track_video(full_model, [(idx[4:5], times[4:5], frames[4:5])])[0][0]
    np.testing.assert_allclose(kp[4, :, :2], alone[:, :2], atol=25)    # back on the same person
