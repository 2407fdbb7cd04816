"""HDF5 session store: named arrays with their attributes, every change written atomically.

A store is one ``.h5`` file. Each named array (``"keypoints2d"``, ``"triangulation/points3d"``)
is a dataset with attributes: ``units``, ``joint_names``, ``config_hash`` (of the stage that
wrote it) and any others given. Timestamps, which may be long, are a dataset of their own
under ``/_timestamps/<name>``. A write writes a new temp file in the same folder (the
other arrays copied over) and renames it over the original, so readers never see a half-written
file and a failed write leaves the old file intact.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path

_TIMES = "_timestamps"


def _attr_value(value: Any) -> Any:
    """An attribute value h5py can store: sequences of str become variable-length strings."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return np.array(value, dtype=h5py.string_dtype())
    return value


def _from_attr(value: Any) -> Any:
    """Attribute values back as Python objects: string arrays -> list[str], bytes -> str."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


class SessionStore:
    """Named arrays of one session trial in an HDF5 file.

    >>> store = SessionStore("out/mv3d/walk.h5")
    >>> store.write("points3d", X, units="m", joint_names=MV3D23, timestamps=t, config_hash="ab12")
    >>> X = store.read("points3d"); store.attrs("points3d")["units"]
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # -------------------------------------------------------------- writing
    def write(self, name: str, array: np.ndarray, *, units: str | None = None,
              joint_names: list[str] | tuple[str, ...] | None = None, timestamps: np.ndarray | None = None,
              config_hash: str | None = None, **attrs: Any) -> None:
        """Store ``array`` under ``name`` (replacing an existing one) with its attributes.

        timestamps: (n,) seconds along the frame axis, axis 0 unless ``time_axis=`` is given
        (kept as an attribute, e.g. 1 for (C, F, J, 3) keypoints).
        """
        self.write_many({name: (array, dict(units=units, joint_names=joint_names, timestamps=timestamps,
                                             config_hash=config_hash, **attrs))})

    def write_many(self, items: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
        """Store several arrays in one atomic step: ``{name: (array, attrs)}``; attrs as in ``write``
        (``timestamps`` is stored as a dataset, attributes that are None are left out)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._rewrite(skip=set(items)) as h5:
            for name, (array, attrs) in items.items():
                self._put(h5, name, np.asarray(array), dict(attrs))

    @contextlib.contextmanager
    def _rewrite(self, skip: set[str]) -> Iterator[h5py.File]:
        """A new file holding every array of the current one except ``skip``; replaces it on success.

        Copying into a fresh file (rather than deleting in place) keeps the file from growing
        with every rewrite, as HDF5 does not reclaim the space of deleted datasets.
        """
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as new:
            if self.path.exists():
                with self._open() as old:
                    for name in self._names(old):
                        if name in skip:
                            continue
                        for src in (name, f"{_TIMES}/{name}"):
                            if src in old:
                                parent = src.rpartition("/")[0]
                                old.copy(old[src], new.require_group(parent) if parent else new,
                                         name=src.rpartition("/")[2])
            yield new

    @staticmethod
    def _put(h5: h5py.File, name: str, array: np.ndarray, attrs: dict[str, Any]) -> None:
        if not name or name.startswith(_TIMES) or name.startswith("/"):
            raise InputError(f"invalid array name {name!r} for a session store")
        times = attrs.pop("timestamps", None)
        axis = int(attrs.get("time_axis") or 0)
        ds = h5.create_dataset(name, data=array, compression="gzip" if array.size > 4096 else None)
        for key, value in attrs.items():
            if value is not None:
                ds.attrs[key] = _attr_value(value)
        if times is not None:
            times = np.asarray(times, dtype=float)
            if array.ndim <= axis or times.shape != (array.shape[axis],):
                raise InputError(f"{name}: timestamps of shape {times.shape} do not match axis {axis} "
                                 f"of the array's shape {array.shape}")
            h5.create_dataset(f"{_TIMES}/{name}", data=times)

    def delete(self, name: str) -> None:
        """Remove an array (no error if absent)."""
        if name not in self:
            return
        with self._rewrite(skip={name}):
            pass

    # -------------------------------------------------------------- reading
    def _open(self) -> h5py.File:
        try:
            return h5py.File(self.path, "r")
        except FileNotFoundError:
            raise InputError(f"{self.path}: session store not found") from None
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable HDF5 file ({exc})") from exc

    def _dataset(self, h5: h5py.File, name: str) -> h5py.Dataset:
        if name not in h5 or not isinstance(h5[name], h5py.Dataset):
            raise InputError(f"{self.path}: no array {name!r}; arrays: {', '.join(self._names(h5)) or 'none'}")
        return h5[name]

    @staticmethod
    def _names(h5: h5py.File) -> list[str]:
        names: list[str] = []
        h5.visititems(lambda n, obj: names.append(n)
                      if isinstance(obj, h5py.Dataset) and not n.startswith(_TIMES) else None)
        return sorted(names)

    def names(self) -> list[str]:
        """Names of the stored arrays (empty if the file does not exist yet)."""
        if not self.path.exists():
            return []
        with self._open() as h5:
            return self._names(h5)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def read(self, name: str) -> np.ndarray:
        """The stored array."""
        with self._open() as h5:
            return self._dataset(h5, name)[()]

    def attrs(self, name: str) -> dict[str, Any]:
        """Attributes of an array as Python values (string lists as list[str])."""
        with self._open() as h5:
            return {k: _from_attr(v) for k, v in self._dataset(h5, name).attrs.items()}

    def timestamps(self, name: str) -> np.ndarray | None:
        """(F,) timestamps stored with an array, or None."""
        with self._open() as h5:
            self._dataset(h5, name)
            key = f"{_TIMES}/{name}"
            return h5[key][()] if key in h5 else None

    def config_hash(self, name: str) -> str | None:
        """The config hash of the stage that wrote ``name``; None if absent or never written."""
        if name not in self:
            return None
        return self.attrs(name).get("config_hash")
