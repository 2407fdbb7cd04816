"""The high-level marker augmenter: keypoints of a whole trial in, anatomical markers out.

``Augmenter`` holds one or more body-part models (OpenCap: lower and upper body),
checks the subject and the keypoints, handles gaps explicitly, and saves/loads
mv3d's own trained weights (``.pt``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mv3d.augment.lstm import BodyPartModel, MarkerLSTM
from mv3d.augment.markers import to_opencap_names
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path
from mv3d.subject import limits, plausible
from mv3d.timeseries import fill_gaps

log = logging.getLogger(__name__)

#: Plausible subject ranges; values outside are almost always unit mistakes.
HEIGHT_RANGE = limits("height_m")  # metres
MASS_RANGE = limits("mass_kg")  # kilograms
#: Neck-to-midHip distance over height; adults ~0.29. Outside this range the keypoints
#: or the height are in the wrong unit.
TRUNK_RATIO_RANGE = (0.1, 0.6)
FORMAT = "mv3d-augmenter"


def check_subject(height: float | None, mass: float | None) -> tuple[float, float]:
    """Validate height (m) and mass (kg); raise InputError with what to do when implausible."""
    if height is None or mass is None:
        missing = " and ".join(n for n, v in (("height", height), ("mass", mass)) if v is None)
        raise InputError(f"the subject's {missing} must be given (height in metres, mass in kg): the augmenter "
                         "uses both as inputs and scales its outputs by height")
    height, mass = float(height), float(mass)
    if not plausible("height_m", height):
        hint = " (it looks like centimetres or millimetres; give metres, e.g. 1.75)" if height > 10 else ""
        raise InputError(f"implausible height {height:g}: expected metres within {HEIGHT_RANGE}{hint}")
    if not plausible("mass_kg", mass):
        hint = " (it looks like grams or pounds; give kilograms)" if mass > MASS_RANGE[1] else ""
        raise InputError(f"implausible mass {mass:g}: expected kilograms within {MASS_RANGE}{hint}")
    return height, mass


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges of the True runs of a (F,) boolean mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


class Augmenter:
    """Predicts anatomical markers from video keypoints with one model per body part.

    parts: body-part models (their outputs are concatenated in order).
    max_gap: missing runs of at most this many frames are interpolated (pchip).
    long_gaps: what to do with longer gaps or missing first/last frames: "error" raises
    InputError naming the keypoint and frames; "split" runs the network on each gap-free
    stretch separately and leaves the markers NaN in the gaps.
    threads: torch CPU threads for inference (see ``BodyPartModel.predict``).
    """

    def __init__(self, parts: list[BodyPartModel], source: str = "", max_gap: int = 12,
                 long_gaps: str = "error", metadata: dict[str, Any] | None = None,
                 threads: int | None = 1) -> None:
        if long_gaps not in ("error", "split"):
            raise InputError(f"long_gaps must be 'error' or 'split', got {long_gaps!r}")
        self.parts = parts
        self.source = source
        self.max_gap = int(max_gap)
        self.long_gaps = long_gaps
        self.metadata = dict(metadata or {})
        self.threads = threads
        for p in parts:
            p.network.eval()

    @property
    def marker_names(self) -> list[str]:
        """Names of the predicted markers, parts in order."""
        return [n for p in self.parts for n in p.output_names]

    @property
    def keypoint_names(self) -> list[str]:
        """OpenCap names of every keypoint the parts read (inputs and references)."""
        names: list[str] = []
        for p in self.parts:
            for n in (*p.input_names, p.reference):
                if n not in names:
                    names.append(n)
        return names

    def to(self, device: str | torch.device) -> Augmenter:
        """Move every network to ``device`` ("cpu", "cuda")."""
        for p in self.parts:
            p.network.to(device)
        return self

    def _fill(self, points: np.ndarray, names: list[str], frame_numbers: np.ndarray, source: str,
              max_gap: int, long_gaps: str) -> tuple[np.ndarray, np.ndarray]:
        """Interpolate short gaps; return (points, valid (F,)) or raise for long gaps."""
        if np.isfinite(points).all():
            return points, np.ones(len(points), bool)
        filled = fill_gaps(points, max_gap=max_gap).filled if len(points) > 1 else points
        valid = np.isfinite(filled).all(axis=(1, 2))
        if not valid.any():
            raise InputError(f"{source}: no frame has all the keypoints the augmenter needs "
                             f"({', '.join(names)})")
        if long_gaps == "error" and not valid.all():
            bad = np.flatnonzero(~np.isfinite(filled).all(axis=(0, 2)))
            details = []
            for k in bad[:5]:
                for s, e in _runs(~np.isfinite(filled[:, k]).any(axis=1))[:3]:
                    details.append(f"{names[k]} frames {frame_numbers[s]}-{frame_numbers[e - 1]} ({e - s} frames)")
            raise InputError(f"{source}: keypoints missing for longer than max_gap={max_gap} frames or at the "
                             f"start/end: {'; '.join(details)}. Fill or trim the trial, raise max_gap, or use "
                             f"long_gaps='split' (CLI: --long-gaps split) to augment each complete stretch "
                             f"and leave the markers missing in the gaps")
        return filled, valid

    def augment(self, keypoints: np.ndarray, names: list[str] | tuple[str, ...], height: float, mass: float,
                frame_numbers: np.ndarray | None = None, source: str = "keypoints",
                max_gap: int | None = None, long_gaps: str | None = None) -> tuple[np.ndarray, list[str]]:
        """Markers of a whole trial.

        keypoints: (F, K, 3) world metres, Y up (OpenSim frame), named by ``names`` in MV3D
        (``r_knee``, ``mid_hip``) or OpenCap (``RKnee``, ``midHip``) style.
        height: metres; mass: kg. frame_numbers: (F,) used in error messages (default 1..F).
        Returns (markers (F, M, 3) world metres, M marker names); NaN only in frames left
        out under long_gaps="split".
        """
        height, mass = check_subject(height, mass)
        max_gap = self.max_gap if max_gap is None else int(max_gap)
        long_gaps = long_gaps or self.long_gaps
        needed = self.keypoint_names
        points = to_opencap_names(keypoints, list(names), tuple(needed), source=source)
        n = len(points)
        frame_numbers = np.arange(1, n + 1) if frame_numbers is None else np.asarray(frame_numbers)
        self._check_scale(points, needed, height, source)
        points, valid = self._fill(points, needed, frame_numbers, source, max_gap, long_gaps)
        index = {name: i for i, name in enumerate(needed)}
        out = np.full((n, len(self.marker_names), 3), np.nan)
        for s, e in _runs(valid):
            col = 0
            for part in self.parts:
                kp = points[s:e, [index[k] for k in part.input_names]]
                ref = points[s:e, index[part.reference]]
                m = len(part.output_names)
                out[s:e, col:col + m] = part.predict(kp, ref, height, mass, threads=self.threads)
                col += m
        if not valid.all():
            log.warning("%s: %d of %d frames left without markers (keypoint gaps longer than %d frames)",
                        source, int((~valid).sum()), n, max_gap)
        return out, self.marker_names

    @staticmethod
    def _check_scale(points: np.ndarray, names: list[str], height: float, source: str) -> None:
        """Raise when the trunk length does not fit the height (mm keypoints, height in cm...)."""
        if "Neck" not in names or "midHip" not in names:
            return
        axis = points[:, names.index("Neck")] - points[:, names.index("midHip")]
        trunk = np.linalg.norm(axis, axis=-1)
        upright = axis[:, 1] / np.where(trunk > 0, trunk, np.nan)
        ok = np.isfinite(trunk) & np.isfinite(upright)
        trunk = trunk[ok]
        if trunk.size == 0:
            return
        if np.median(upright[ok]) < 0.5:
            log.warning("%s: the trunk (midHip -> Neck) points mostly away from +Y (median cosine %.2f); the "
                        "augmenter expects OpenSim's frame with Y up", source, float(np.median(upright[ok])))
        ratio = float(np.median(trunk)) / height
        if not TRUNK_RATIO_RANGE[0] <= ratio <= TRUNK_RATIO_RANGE[1]:
            raise InputError(f"{source}: the neck-to-midHip distance ({np.median(trunk):.3g} m, median) is "
                             f"{ratio:.3g} x the height {height:g} m; expected {TRUNK_RATIO_RANGE[0]}-"
                             f"{TRUNK_RATIO_RANGE[1]}. Check that the keypoints are in metres (TRC Units) "
                             f"and the height is the subject's height in metres")

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the augmenter (networks, statistics, names, metadata) to a ``.pt`` file atomically; the
        network weights are stored in fp16 (half the size; markers move by < 0.1 mm) and read back
        into float32."""
        payload = {
            "format": FORMAT, "version": 1, "source": self.source, "metadata": self.metadata,
            "max_gap": self.max_gap,
            "parts": [{
                "name": p.name, "input_names": list(p.input_names), "output_names": list(p.output_names),
                "reference": p.reference, "mean": torch.as_tensor(p.mean, dtype=torch.float64),
                "std": torch.as_tensor(p.std, dtype=torch.float64), "config": p.network.config(),
                "state_dict": {k: v.detach().cpu().half() for k, v in p.network.state_dict().items()},
            } for p in self.parts],
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs: Any) -> Augmenter:
        """Read an augmenter written by ``save``; extra keyword arguments go to the constructor."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"augmenter weights {path} not found")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged or foreign file
            raise InputError(f"{path}: not an mv3d augmenter weights file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise InputError(f"{path}: not an mv3d augmenter weights file (no format={FORMAT!r} entry); "
                             "OpenCap weights are given as opencap-v0.3:DIR")
        parts = []
        for p in payload["parts"]:
            net = MarkerLSTM(**p["config"])
            net.load_state_dict(p["state_dict"])
            parts.append(BodyPartModel(name=p["name"], network=net, input_names=tuple(p["input_names"]),
                                       output_names=tuple(p["output_names"]), mean=p["mean"].numpy(),
                                       std=p["std"].numpy(), reference=p["reference"]))
        kwargs.setdefault("max_gap", payload.get("max_gap", 12))
        return cls(parts, source=payload.get("source") or str(path), metadata=payload.get("metadata"), **kwargs)
