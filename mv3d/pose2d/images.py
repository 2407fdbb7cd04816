"""2D keypoints of image files (``mv3d pose2d --images``): the images of a file or folder, optional COCO person
boxes, and COCO keypoint results.

Boxes file (COCO style): ``images`` with ``id`` and ``file_name`` (relative to the image folder, or the image
file's own name when PATH is one file) and ``annotations`` with ``id``, ``image_id`` and ``bbox`` [x, y, w, h].
With boxes, each listed image gets exactly one result per box (``box_id``: the annotation's ``id``); without,
every image file found gets one result per person the model finds, ``image_id`` then being the file's index
in the sorted list of relative paths (0, 1, ...). Each result also names its ``file_name``.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from mv3d.pose2d.interface import Estimator
from mv3d.pose2d.topdown import check_boxes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: What to do about a bad box of a boxes file (the end of ``check_boxes``'s message).
_BOX_ADVICE = "Fix the bbox [x, y, w, h] (pixels) in the boxes file or remove the annotation."


@dataclass
class ImageItem:
    """One image to read: its path, COCO id, name relative to the image folder, and (with boxes) the boxes
    (n, 4) x, y, w, h with their annotation ids (n,)."""

    path: Path
    image_id: int
    file_name: str
    boxes: np.ndarray | None = None
    box_ids: list[int] = field(default_factory=list)


def _root_and_files(path: Path) -> tuple[Path, list[str]]:
    """The folder file names are relative to, and the image files (relative POSIX paths, sorted)."""
    if path.is_file():
        return path.parent, [path.name]
    if not path.is_dir():
        raise InputError(f"{path}: no such image file or folder")
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder or its subfolders")
    return path, files


def list_images(path: str | os.PathLike, boxes_file: str | os.PathLike | None = None) -> list[ImageItem]:
    """The images to process (see the module docstring); InputError naming the file, image or box at fault."""
    root, files = _root_and_files(Path(path))
    if boxes_file is None:
        return [ImageItem(root / name, i, name) for i, name in enumerate(files)]
    boxes_file = Path(boxes_file)
    images, annotations = _read_boxes_json(boxes_file)
    items: dict[int, ImageItem] = {}
    for k, im in enumerate(images):
        where = f"{boxes_file}: images[{k}]"
        if not isinstance(im, dict) or not _is_int(im.get("id")) or not isinstance(im.get("file_name"), str):
            raise InputError(f"{where} needs an integer 'id' and a string 'file_name', got {im!r:.200}")
        if im["id"] in items:
            raise InputError(f"{where}: image id {im['id']} appears twice")
        if Path(path).is_file() and Path(im["file_name"]).name != Path(path).name:
            continue  # PATH is one image: the others listed in the boxes file are not asked for
        items[im["id"]] = ImageItem(root / im["file_name"], im["id"], im["file_name"], np.zeros((0, 4)))
    if not items:
        raise InputError(f"{boxes_file}: no image entry for {path}; its 'images' must name the file in 'file_name'")
    per_image: dict[int, list] = {i: [] for i in items}
    listed = {im.get("id") for im in images if isinstance(im, dict)}
    for k, ann in enumerate(annotations):
        box_id, image_id, bbox = _annotation(boxes_file, k, ann)
        if image_id not in listed:
            raise InputError(f"{boxes_file}: box {box_id} is on image id {image_id}, which 'images' does not list")
        if image_id in per_image:
            per_image[image_id].append((box_id, bbox))
    for image_id, found in per_image.items():
        item = items[image_id]
        if not item.path.is_file():
            raise InputError(f"{item.path}: image {image_id} of {boxes_file} not found (file_name "
                             f"{item.file_name!r} is relative to {root})")
        item.box_ids = [b for b, _ in found]
        item.boxes = np.array([bb for _, bb in found], dtype=float).reshape(-1, 4)
        check_boxes(item.boxes, None, f"{boxes_file}: image {image_id} ({item.file_name}): ", _box_names(item),
                    _BOX_ADVICE)
    return list(items.values())


def _box_names(item: ImageItem) -> list[str]:
    """The boxes of an image named by their annotation ids, for messages."""
    return [f"box {box_id}" for box_id in item.box_ids]


def _read_boxes_json(path: Path) -> tuple[list, list]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: boxes file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) \
            or not isinstance(doc.get("annotations"), list):
        raise InputError(f"{path}: expected a COCO-style object with lists 'images' (id, file_name) and "
                         f"'annotations' (id, image_id, bbox [x, y, w, h])")
    return doc["images"], doc["annotations"]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _annotation(path: Path, k: int, ann) -> tuple[int, int, list[float]]:
    """(box id, image id, bbox) of annotations[k], its types checked (the box itself: ``check_boxes``)."""
    if not isinstance(ann, dict) or not _is_int(ann.get("id")) or not _is_int(ann.get("image_id")):
        raise InputError(f"{path}: annotations[{k}] needs integer 'id' and 'image_id', got {ann!r:.200}")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
        raise InputError(f"{path}: box {ann['id']} (image {ann['image_id']}): bbox must be [x, y, w, h], four "
                         f"finite numbers with w, h > 0; got {bbox!r:.200}")
    return ann["id"], ann["image_id"], [float(v) for v in bbox]


def read_image(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 BGR; InputError naming the file when it cannot be read."""
    import cv2

    if not path.is_file():
        raise InputError(f"{path}: image not found")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return image


def keypoint_results(estimator: Estimator, items: list[ImageItem], progress: bool = True) -> Iterator[dict]:
    """COCO keypoint results of every image, one dict per person (see the module docstring): ``image_id``,
    ``file_name``, ``box_id`` (with boxes), ``category_id`` 1, ``keypoints`` (69: 23 x (x, y, confidence),
    MV3D23 order; a point not found: 0, 0, 0) and ``score``."""
    for item in tqdm(items, desc="images", unit="image", disable=None if progress else True):
        image = read_image(item.path)
        if item.boxes is not None:
            check_boxes(item.boxes, (image.shape[1], image.shape[0]), f"{item.path} (image {item.image_id}): ",
                        _box_names(item), _BOX_ADVICE)
        people = estimator.estimate_images([image], None if item.boxes is None else [item.boxes])[0]
        for k, person in enumerate(people):
            kp = np.asarray(person.keypoints, dtype=float)
            found = np.isfinite(kp).all(-1)
            kp = np.where(found[:, None], kp, 0.0)
            result = {"image_id": item.image_id, "file_name": item.file_name}
            if item.boxes is not None:
                result["box_id"] = item.box_ids[k]
            score = float(person.score)
            result.update({"category_id": 1, "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
                           "score": round(score, 5) if math.isfinite(score) else 0.0})
            yield result


def write_results(path: str | os.PathLike, results: list[dict]) -> None:
    """The results as a JSON list, written atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        json.dump(results, fh)
