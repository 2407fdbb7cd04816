"""Intrinsic calibration from checkerboard views, with iterative rejection of outlier views."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration.board import BoardViews
from mv3d.camera import Camera
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write

log = logging.getLogger(__name__)

MIN_VIEWS = 5
COVERAGE_GRID = (8, 6)  # cells across, down
MIN_COVERAGE = 0.5  # warn below this fraction of cells holding a corner


@dataclass
class IntrinsicsResult:
    """camera: Camera (identity extrinsics); rms: px over the kept views; view_rms: (V,) px of every
    view (NaN for rejected); used: (V,) bool; rvecs, tvecs: (V, 3) board poses (NaN for rejected);
    coverage: (gh, gw) corner counts per image cell; views: the input views."""

    camera: Camera
    rms: float
    view_rms: np.ndarray
    used: np.ndarray
    rvecs: np.ndarray
    tvecs: np.ndarray
    coverage: np.ndarray
    views: BoardViews

    @property
    def coverage_fraction(self) -> float:
        return float((self.coverage > 0).mean())


def coverage_map(corners: np.ndarray, image_size: tuple[int, int], grid: tuple[int, int] = COVERAGE_GRID) -> np.ndarray:
    """Corner counts (gh, gw) per cell of a grid over the image; corners (..., 2) pixels."""
    w, h = image_size
    pts = corners.reshape(-1, 2)
    gx = np.clip((pts[:, 0] / w * grid[0]).astype(int), 0, grid[0] - 1)
    gy = np.clip((pts[:, 1] / h * grid[1]).astype(int), 0, grid[1] - 1)
    counts = np.zeros((grid[1], grid[0]), int)
    np.add.at(counts, (gy, gx), 1)
    return counts


def _view_rms(obj, img, rvecs, tvecs, K, dist) -> np.ndarray:
    import cv2

    out = []
    for o, i, r, t in zip(obj, img, rvecs, tvecs):
        proj = cv2.projectPoints(o, r, t, K, dist)[0].reshape(-1, 2)
        out.append(np.sqrt(np.mean(np.sum((proj - i.reshape(-1, 2)) ** 2, axis=1))))
    return np.array(out)


def calibrate_intrinsics(views: BoardViews, name: str = "cam", fix_k3: bool = True, max_view_rms: float | None = None,
                         outlier_factor: float = 3.0, max_rounds: int = 5) -> IntrinsicsResult:
    """cv2.calibrateCamera on the board views, dropping outlier views until none is left.

    A view is an outlier when its RMS exceeds ``max_view_rms`` px (if given) or
    ``outlier_factor`` x the median view RMS (and 0.5 px). fix_k3: estimate (k1, k2, p1, p2) only,
    the stable choice for ordinary lenses. Warns when the kept corners cover less than half of the image.
    """
    import cv2

    V = len(views)
    if V < MIN_VIEWS:
        raise InputError(f"camera {name!r}: the board was found in {V} views, intrinsics need at least {MIN_VIEWS} "
                         "(move the board over the whole image, tilted in several directions)")
    obj = views.board.object_points().astype(np.float32)
    keep = np.ones(V, bool)
    flags = cv2.CALIB_FIX_K3 if fix_k3 else 0
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    for _ in range(max_rounds):
        idx = np.flatnonzero(keep)
        img = [views.corners[i].astype(np.float32) for i in idx]
        rms, K, dist, rvecs, tvecs = cv2.calibrateCamera([obj] * len(idx), img, tuple(views.image_size), None, None,
                                                          flags=flags, criteria=crit)
        per_view = _view_rms([obj] * len(idx), img, rvecs, tvecs, K, dist)
        limit = max(outlier_factor * np.median(per_view), 0.5)
        if max_view_rms is not None:
            limit = min(limit, max_view_rms)
        bad = per_view > limit
        if not bad.any() or keep.sum() - bad.sum() < MIN_VIEWS:
            break
        log.info("camera %s: dropping %d outlier views (RMS > %.2f px)", name, bad.sum(), limit)
        keep[idx[bad]] = False
    view_rms = np.full(V, np.nan)
    view_rms[idx] = per_view
    rv, tv = np.full((V, 3), np.nan), np.full((V, 3), np.nan)
    rv[idx] = np.array(rvecs).reshape(-1, 3)
    tv[idx] = np.array(tvecs).reshape(-1, 3)
    cov = coverage_map(views.corners[keep], views.image_size)
    cam = Camera(name, views.image_size, K, dist.ravel()[:5], np.eye(3), np.zeros(3))
    result = IntrinsicsResult(cam, float(np.sqrt(np.mean(per_view ** 2))), view_rms, keep, rv, tv, cov, views)
    if result.coverage_fraction < MIN_COVERAGE:
        log.warning("camera %s: board corners cover only %.0f%% of the image; the distortion model is poorly "
                    "constrained at the borders — show the board near the edges and corners too",
                    name, 100 * result.coverage_fraction)
    return result


def write_coverage_png(result: IntrinsicsResult, path: Path) -> Path:
    """PNG of the image area: covered grid cells shaded, every kept corner (green) and its
    reprojection (red), rejected views' corners in grey."""
    import cv2

    w, h = result.views.image_size
    scale = min(1.0, 1200 / max(w, h))
    canvas = np.full((int(h * scale), int(w * scale), 3), 255, np.uint8)
    gh, gw = result.coverage.shape
    for r in range(gh):
        for c in range(gw):
            if result.coverage[r, c]:
                x0, y0 = int(c * w / gw * scale), int(r * h / gh * scale)
                x1, y1 = int((c + 1) * w / gw * scale), int((r + 1) * h / gh * scale)
                cv2.rectangle(canvas, (x0, y0), (x1, y1), (230, 245, 230), -1)
            cv2.rectangle(canvas, (int(c * w / gw * scale), int(r * h / gh * scale)),
                          (int((c + 1) * w / gw * scale), int((r + 1) * h / gh * scale)), (200, 200, 200), 1)
    obj = result.views.board.object_points()
    cam = result.camera
    for v in range(len(result.views)):
        pts = result.views.corners[v]
        if not result.used[v]:
            for p in pts * scale:
                cv2.circle(canvas, (int(p[0]), int(p[1])), 2, (160, 160, 160), -1)
            continue
        proj = cv2.projectPoints(obj, result.rvecs[v], result.tvecs[v], cam.K, cam.dist)[0].reshape(-1, 2)
        for p, q in zip(pts * scale, proj * scale):
            cv2.circle(canvas, (int(p[0]), int(p[1])), 3, (0, 160, 0), 1)
            cv2.drawMarker(canvas, (int(q[0]), int(q[1])), (0, 0, 255), cv2.MARKER_CROSS, 5, 1)
    cv2.putText(canvas, f"{cam.name}: RMS {result.rms:.2f} px, {result.used.sum()}/{len(result.used)} views, "
                f"coverage {100 * result.coverage_fraction:.0f}%", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (0, 0, 0), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", canvas)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.tobytes())
    return path
