"""Accuracy of predicted anatomical markers: marker groups, per-group RMSE, offset analysis, verdicts.

RMSE here is the root mean square of the 3D distance between predicted and true markers
over every (frame, marker) pair of a group, as in ``mv3d.augment.train.evaluate``.
Errors are accumulated as sums of squares so that clips, subjects and motions can be
pooled exactly (``GroupErrors.__add__``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from mv3d.errors import InputError

#: Marker group -> side-less stems of the ``_study`` marker names it holds (OpenCap's 43
#: augmenter markers and the built-in model's hand markers).
MARKER_GROUPS: dict[str, tuple[str, ...]] = {
    "pelvis": ("asis", "psis", "hjc"),
    "thigh/knee": ("knee", "mknee", "thigh1", "thigh2", "thigh3"),
    "shank/ankle": ("sh1", "sh2", "sh3", "ankle", "mankle"),
    "foot": ("toe", "5meta", "calc"),
    "trunk/shoulders": ("shoulder", "c7"),
    "arms": ("lelbow", "melbow", "lwrist", "mwrist", "hand2", "hand5"),
}
#: Group of markers whose name fits none of MARKER_GROUPS.
OTHER = "other"
#: Key of the pooled error over every marker.
ALL = "all"
_STEM_TO_GROUP = {stem: group for group, stems in MARKER_GROUPS.items() for stem in stems}
_SIDE = re.compile(r"^(?:[rl][._]|[rl](?=hjc$))")


def marker_stem(name: str) -> str:
    """Side-less lower-case stem of a marker name: ``r.ASIS_study`` -> ``asis``, ``LHJC_study`` -> ``hjc``."""
    stem = name.lower()
    if stem.endswith("_study"):
        stem = stem[: -len("_study")]
    return _SIDE.sub("", stem)


def marker_group(name: str) -> str:
    """The MARKER_GROUPS group of a marker name, or ``OTHER``."""
    return _STEM_TO_GROUP.get(marker_stem(name), OTHER)


def group_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """Groups present in ``names``, in MARKER_GROUPS order (``OTHER`` last)."""
    present = {marker_group(n) for n in names}
    return [g for g in (*MARKER_GROUPS, OTHER) if g in present]


def squared_distances(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Squared 3D distances (F, M) between predicted and true markers (F, M, 3); NaN where either is missing."""
    predicted, true = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    if predicted.shape != true.shape or predicted.ndim != 3 or predicted.shape[-1] != 3:
        raise InputError(f"predicted and true markers must both have shape (frames, markers, 3); got "
                         f"{predicted.shape} and {true.shape}")
    return ((predicted - true) ** 2).sum(-1)


@dataclass
class GroupErrors:
    """Sums of squared marker distances (m^2) and their counts, per marker group and ``ALL``."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_squared(cls, squared: np.ndarray, names: list[str] | tuple[str, ...]) -> GroupErrors:
        """Pool squared distances (F, M) of markers ``names`` (M); NaN entries are left out."""
        squared = np.asarray(squared, dtype=float)
        if squared.ndim != 2 or squared.shape[1] != len(names):
            raise InputError(f"squared distances must have shape (frames, {len(names)}) for {len(names)} marker "
                             f"names, got {squared.shape}")
        ok = np.isfinite(squared)
        out = cls()
        groups = np.array([marker_group(n) for n in names])
        for g in group_names(names):
            cols = groups == g
            out.sums[g] = float(squared[:, cols][ok[:, cols]].sum())
            out.counts[g] = int(ok[:, cols].sum())
        out.sums[ALL] = float(squared[ok].sum())
        out.counts[ALL] = int(ok.sum())
        return out

    @classmethod
    def from_markers(cls, predicted: np.ndarray, true: np.ndarray, names: list[str] | tuple[str, ...]) -> GroupErrors:
        """Errors of predicted vs true markers (F, M, 3), metres; missing values are left out."""
        return cls.from_squared(squared_distances(predicted, true), names)

    def __add__(self, other: GroupErrors) -> GroupErrors:
        keys = list(self.sums) + [k for k in other.sums if k not in self.sums]
        return GroupErrors({k: self.sums.get(k, 0.0) + other.sums.get(k, 0.0) for k in keys},
                           {k: self.counts.get(k, 0) + other.counts.get(k, 0) for k in keys})

    def rmse_mm(self) -> dict[str, float]:
        """RMSE in millimetres per group and ``ALL`` (NaN for a group without values)."""
        return {k: 1000.0 * float(np.sqrt(self.sums[k] / self.counts[k])) if self.counts[k] else float("nan")
                for k in self.sums}


def pelvis_heading(markers: np.ndarray, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Heading (F,) radians about the vertical (OpenSim Y up) of the pelvis, from L.ASIS -> r.ASIS.

    The rotation about +Y that turns +Z onto the pelvis's right axis: 0 when the right ASIS
    lies along +Z from the left one (the subject faces +X, OpenSim's default pose).
    """
    try:
        right, left = names.index("r.ASIS_study"), names.index("L.ASIS_study")
    except ValueError:
        raise InputError("the pelvis heading needs the markers r.ASIS_study and L.ASIS_study") from None
    axis = markers[:, right] - markers[:, left]
    return np.arctan2(axis[:, 0], axis[:, 2])


def pelvis_tilt(markers: np.ndarray, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Sagittal tilt (F,) radians of the pelvis from its ASIS and PSIS markers (F, M, 3), OpenSim frame (Y up).

    The angle by which the line from the PSIS midpoint to the ASIS midpoint rises above the
    pelvis's horizontal forward direction (``pelvis_heading``): positive when the ASIS are
    higher, i.e. more posterior tilt (OpenSim's positive ``pelvis_tilt``).
    """
    try:
        idx = [names.index(n) for n in ("r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study")]
    except ValueError:
        raise InputError("the pelvis tilt needs the markers r.ASIS_study, L.ASIS_study, r.PSIS_study and "
                         "L.PSIS_study") from None
    v = 0.5 * (markers[:, idx[0]] + markers[:, idx[1]] - markers[:, idx[2]] - markers[:, idx[3]])
    h = pelvis_heading(markers, names)
    forward = v[:, 0] * np.cos(h) - v[:, 2] * np.sin(h)  # along (cos h, 0, -sin h): +X turned by h about +Y
    return np.arctan2(v[:, 1], forward)


def heading_errors(predicted: np.ndarray, true: np.ndarray, heading: np.ndarray | None = None) -> np.ndarray:
    """Errors predicted - true (F, M, 3) turned about the vertical (Y) by ``-heading`` (F,) radians.

    With ``pelvis_heading`` of the true markers, an error fixed to a body that turns only
    about the vertical stays constant. heading None: the errors are not turned.
    """
    err = np.asarray(predicted, dtype=float) - np.asarray(true, dtype=float)
    if err.ndim != 3 or err.shape[-1] != 3:
        raise InputError(f"markers must have shape (frames, markers, 3); got {err.shape}")
    if heading is None:
        return err
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    x, z = err[..., 0], err[..., 2]
    return np.stack([c * x - s * z, err[..., 1], s * x + c * z], axis=-1)


def mean_offsets(errors: np.ndarray) -> np.ndarray:
    """Mean error (M, 3) of each marker over the frames where it is present; NaN for a marker never present.

    errors: (F, M, 3), e.g. from ``heading_errors``.
    """
    ok = np.isfinite(errors).all(-1)
    with np.errstate(invalid="ignore"):
        return np.where(ok[..., None], errors, 0.0).sum(0) / ok.sum(0)[:, None]


def offset_split(predicted: np.ndarray, true: np.ndarray, names: list[str] | tuple[str, ...],
                 heading: np.ndarray | None = None) -> tuple[GroupErrors, GroupErrors]:
    """Split the error of one clip into a constant offset per marker and the part that varies.

    The errors are taken in the heading frame (``heading_errors``); the offset of a marker is
    its mean error (``mean_offsets``). Returns (offset, residual) with offset.sums +
    residual.sums equal to the total sums of squares, so RMSE^2 = offset^2 + residual^2.
    """
    err = heading_errors(predicted, true, heading)
    if err.shape[1] != len(names):
        raise InputError(f"markers must have shape (frames, {len(names)}, 3) for {len(names)} names; got {err.shape}")
    ok = np.isfinite(err).all(-1)
    mean = mean_offsets(err)
    offset_sq = np.where(ok, (mean ** 2).sum(-1)[None], np.nan)
    residual_sq = np.where(ok, ((err - mean[None]) ** 2).sum(-1), np.nan)
    return GroupErrors.from_squared(offset_sq, names), GroupErrors.from_squared(residual_sq, names)


def verdict(ours_mm: float, theirs_mm: float, rel_tol: float = 0.05, abs_tol_mm: float = 1.0) -> str:
    """"better", "as good" or "worse": ours within max(abs_tol_mm, rel_tol * theirs) of theirs is "as good"."""
    tol = max(abs_tol_mm, rel_tol * theirs_mm)
    if ours_mm < theirs_mm - tol:
        return "better"
    if ours_mm <= theirs_mm + tol:
        return "as good"
    return "worse"
