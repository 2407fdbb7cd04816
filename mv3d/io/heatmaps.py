"""2D heatmaps per camera in an HDF5 file (for volumetric triangulation): written a camera at a time, read a batch
of frames at a time, so that the maps of a whole trial need not fit in memory.

Layout: a group per camera holding ``frames`` (F,) true frame indices, ``maps`` (F, J, h, w) float16
(gzip, one chunk per frame; NaN maps: no heatmap for that joint or frame) and ``to_image`` (F, 2, 3) affine
maps from heatmap cells (column, row, 1) to image pixels; the file's attribute ``source`` names the 2D model.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path


class HeatmapWriter:
    """Adds cameras to a heatmap file being written (see :func:`write_heatmaps`)."""

    def __init__(self, h5: h5py.File) -> None:
        self._h5 = h5

    def add(self, camera: str, frames: np.ndarray, maps: np.ndarray, to_image: np.ndarray) -> None:
        """One camera's heatmaps: frames (F,), maps (F, J, h, w), to_image (F, 2, 3)."""
        maps = np.asarray(maps, dtype=np.float16)
        if maps.ndim != 4 or np.shape(to_image) != (len(maps), 2, 3) or len(frames) != len(maps):
            raise InputError(f"heatmaps of camera {camera}: expected frames (F,), maps (F, J, h, w) and to_image "
                             f"(F, 2, 3), got {np.shape(frames)}, {maps.shape} and {np.shape(to_image)}")
        group = self._h5.create_group(camera)
        group.create_dataset("frames", data=np.asarray(frames, dtype=np.int64))
        group.create_dataset("maps", data=maps, chunks=(1,) + maps.shape[1:], compression="gzip",
                             compression_opts=1, shuffle=True)
        group.create_dataset("to_image", data=np.asarray(to_image, dtype=float))


@contextlib.contextmanager
def write_heatmaps(path: str | os.PathLike, source: str) -> Iterator[HeatmapWriter]:
    """Write a heatmap file atomically: ``with write_heatmaps(path, "blazepose_heavy") as w: w.add(...)``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["source"] = source
        yield HeatmapWriter(h5)


class HeatmapFile:
    """A heatmap file for reading: ``cameras``, ``source`` and per camera ``read(camera, frames)``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            with h5py.File(self.path, "r") as h5:
                self.cameras = list(h5.keys())
                self.source = str(h5.attrs.get("source", ""))
                self._frames = {c: h5[c]["frames"][()] for c in self.cameras}
        except (OSError, KeyError) as exc:
            raise InputError(f"{self.path}: not a readable heatmap file ({exc}); delete it and rerun the "
                             f"keypoints2d stage") from exc

    def read(self, camera: str, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """maps (n, J, h, w) float16 and to_image (n, 2, 3) of true frame indices (n,) (any order, repeats
        allowed); frames the file lacks are NaN."""
        if camera not in self._frames:
            raise InputError(f"{self.path}: no heatmaps for camera {camera!r} (it has {', '.join(self.cameras)})")
        stored, frames = self._frames[camera], np.asarray(frames)
        pos = np.clip(np.searchsorted(stored, frames), 0, max(len(stored) - 1, 0))
        found = stored[pos] == frames if len(stored) else np.zeros(len(frames), bool)
        rows, back = np.unique(pos[found], return_inverse=True)
        with h5py.File(self.path, "r") as h5:
            group = h5[camera]
            maps = np.full((len(frames),) + group["maps"].shape[1:], np.nan, np.float16)
            to_image = np.full((len(frames), 2, 3), np.nan)
            if rows.size:
                maps[found] = group["maps"][rows][back]
                to_image[found] = group["to_image"][rows][back]
        return maps, to_image
