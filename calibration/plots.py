"""Small PNGs that show detected points against their reprojection."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mv3d.io.atomic import atomic_write


def write_reprojection_png(path: Path, size: tuple[int, int], observed: np.ndarray, reprojected: np.ndarray,
                           title: str, background: np.ndarray | None = None, max_side: int = 960,
                           max_points: int = 3000) -> Path:
    """PNG of an image area (w, h): observed points (N, 2) as green circles, reprojections (N, 2) as
    red crosses, joined by a line; NaN points skipped; the background image if given."""
    import cv2

    w, h = size
    s = min(1.0, max_side / max(w, h))
    W, H = int(round(w * s)), int(round(h * s))
    if background is not None:
        img = cv2.resize(background, (W, H), interpolation=cv2.INTER_AREA)
        canvas = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img.copy()
        canvas = (canvas * 0.6 + 100).astype(np.uint8)
    else:
        canvas = np.full((H, W, 3), 255, np.uint8)
    obs, rep = np.asarray(observed, float).reshape(-1, 2), np.asarray(reprojected, float).reshape(-1, 2)
    ok = np.isfinite(obs).all(1) & np.isfinite(rep).all(1)
    idx = np.flatnonzero(ok)
    if len(idx) > max_points:
        idx = idx[np.linspace(0, len(idx) - 1, max_points).astype(int)]
    err = np.linalg.norm(obs[ok] - rep[ok], axis=1)
    for p, q in zip(obs[idx] * s, rep[idx] * s):
        p, q = tuple(int(round(v)) for v in p), tuple(int(round(v)) for v in q)
        cv2.line(canvas, p, q, (0, 0, 255), 1, cv2.LINE_AA)
        cv2.circle(canvas, p, 3, (0, 170, 0), 1, cv2.LINE_AA)
        cv2.drawMarker(canvas, q, (0, 0, 255), cv2.MARKER_CROSS, 6, 1)
    text = f"{title}: median {np.median(err):.2f} px, n={ok.sum()}" if err.size else f"{title}: no points"
    cv2.putText(canvas, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "green: detected  red: reprojected", (8, 44), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (60, 60, 60), 1, cv2.LINE_AA)
    ok_enc, buf = cv2.imencode(".png", canvas)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.tobytes())
    return Path(path)
