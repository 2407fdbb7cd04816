"""Which coordinates the IK markers determine, and priors that hold the others.

The weighted least-squares IK solution moves by ``dq = (H + P)^-1 J^T W dx`` when the
markers move by ``dx`` (J: marker Jacobian (3M, n), W: marker weights, H = J^T W J, P: the
diagonal of prior weights). The **sensitivity** of a coordinate is the standard deviation of
its change, in degrees, when every marker moves by independent noise of 1 mm RMS (per axis
1/sqrt(3) mm). On the built-in model with the pipeline's markers (video keypoints and
augmented markers, weight 1; simulated squat) it is 0.06-0.25 deg/mm for the hip, knee,
ankle, pelvis, trunk, shoulder elevation and elbow flexion, 0.4-0.5 for the arm's axial
rotation with a nearly straight elbow, 0.75-0.8 for pronation/supination and 1.1-1.2 for
the toes; a coordinate that no marker moves (the wrists, without hand markers) has infinite
sensitivity. The largest change over a trial is 4-5 times the sensitivity.

``stabilizing_priors`` adds, frame by frame, the smallest prior weight on each rotation
whose sensitivity exceeds ``SENSITIVITY_LIMIT`` toward its neutral value, so that its
sensitivity becomes the limit (exact for one coordinate by the Sherman-Morrison formula, a
few fixed-point steps for several): a coordinate the markers determine is untouched, one
they do not is drawn toward neutral by ``1 - limit / sensitivity`` of its distance. Neutral
is the model's default value, except for the forearm (``NEUTRAL_DEG``).

A coordinate is **not determined** in a frame when its sensitivity exceeds twice the limit:
the prior then carries more than half of its value. ``summarize`` turns the per-frame
figures into a status per coordinate, written next to the IK result (``write_status_csv``).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mv3d.io.atomic import atomic_write
from mv3d.kinematics._osim import coordinate_is_rotational
from mv3d.kinematics.bodymodel import side_free

#: Rotations moving more than this (deg RMS) per 1 mm RMS of marker noise are held by a prior.
SENSITIVITY_LIMIT = 0.2
#: Above this sensitivity (deg/mm) a rotation is not determined by the markers: its prior
#: carries more than half of its value.
UNDETERMINED_ABOVE = 2 * SENSITIVITY_LIMIT
#: The same for a translation (mm RMS per mm RMS): it follows the markers at most one to one.
TRANSLATION_LIMIT = 1.0
#: Neutral values (deg) that differ from the model's default: in the Rajagopal/LaiUhlrich
#: convention (and the built-in model) pro_sup 0 is full supination (palm forward with the arm
#: hanging); at 80 deg the 2nd-5th metacarpal line points forward (palm facing the thigh), the
#: forearm's mid-position.
NEUTRAL_DEG = {"pro_sup": 80.0}
#: Prior weight on a coordinate that no marker moves (any positive value holds it at neutral).
NO_MARKER_WEIGHT = 1.0
#: Fraction of frames that decides the summary status (see ``summarize``).
STATUS_FRACTION = 0.95
_NOISE_PER_AXIS_M = 1e-3 / np.sqrt(3.0)
_NO_INFORMATION = 1e-12


def neutral_values(names: list[str], defaults: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Neutral value (radians/metres) of each coordinate: ``NEUTRAL_DEG`` by side-free name, else the default."""
    out = np.asarray(defaults, dtype=float).copy()
    for j, name in enumerate(names):
        if side_free(name) in NEUTRAL_DEG:
            out[j] = np.radians(NEUTRAL_DEG[side_free(name)])
    return np.clip(out, lo, hi)


def _normal_matrix(jac: np.ndarray, marker_w: np.ndarray, prior_w: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marker weights per row (3M,), ``H + P`` made positive definite (n, n), and the coordinates
    (n,) that neither a marker nor a prior constrains.

    A relative ridge of 1e-10 keeps combinations the markers do not see (few markers, gimbal
    lock) solvable: their sensitivity comes out huge instead of undefined.
    """
    w = np.repeat(np.asarray(marker_w, float), 3)
    info = jac.T @ (w[:, None] * jac)
    scale = max(float(np.max(np.diag(info), initial=0.0)), _NO_INFORMATION)
    unseen = (np.diag(info) + prior_w) <= _NO_INFORMATION * scale
    h = info + np.diag(prior_w + unseen * scale + 1e-10 * scale)
    return w, h, unseen


def sensitivity(jac: np.ndarray, marker_w: np.ndarray, prior_w: np.ndarray, rotational: np.ndarray) -> np.ndarray:
    """Per-coordinate change (deg for rotations, mm for translations) per 1 mm RMS of marker noise.

    jac (3M, n): unweighted marker Jacobian (m per rad or m per m); marker_w (M,): IK weights;
    prior_w (n,): prior weights (cost per rad^2). A coordinate that neither the markers nor a
    prior constrain gets ``inf``.
    """
    w, h, unseen = _normal_matrix(jac, marker_w, prior_w)
    gain = np.linalg.solve(h, jac.T * w)               # (n, 3M): dq per marker displacement
    out = np.sqrt((gain ** 2).sum(axis=1)) * _NOISE_PER_AXIS_M
    out = np.where(rotational, np.degrees(out), out * 1e3)
    out[unseen] = np.inf
    return out


def stabilizing_priors(jac: np.ndarray, marker_w: np.ndarray, rotational: np.ndarray,
                       base_prior: np.ndarray | None = None, limit: float = SENSITIVITY_LIMIT,
                       steps: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Prior weights (n,) that cap every rotation's sensitivity at ``limit``, and the sensitivity
    (n,) of the markers alone (with ``base_prior``, e.g. the setup's coordinate tasks).

    jac, marker_w as in ``sensitivity``; rotational (n,) bool. Translations get no prior.
    """
    n = jac.shape[1]
    base = np.zeros(n) if base_prior is None else np.asarray(base_prior, float)
    s_markers = sensitivity(jac, marker_w, base, rotational)
    prior = base.copy()
    prior[rotational & ~np.isfinite(s_markers)] += NO_MARKER_WEIGHT
    for _ in range(steps):
        s = sensitivity(jac, marker_w, prior, rotational)
        over = rotational & (s > limit * 1.001)
        if not over.any():
            break
        cov_diag = np.diag(np.linalg.inv(_normal_matrix(jac, marker_w, prior)[1]))
        # one coordinate's sensitivity scales by 1 / (1 + dp * cov_cc) when dp is added to its prior
        prior[over] += (s[over] / limit - 1.0) / cov_diag[over]
    return prior - base, s_markers


def prior_share(jac: np.ndarray, marker_w: np.ndarray, prior_w: np.ndarray) -> np.ndarray:
    """Share (n,) in [0, 1] of each coordinate's estimate that comes from its prior: p_c [(H + P)^-1]_cc."""
    cov = np.linalg.inv(_normal_matrix(jac, marker_w, prior_w)[1])
    return np.clip(np.asarray(prior_w) * np.diag(cov), 0.0, 1.0)


@dataclass
class CoordinateStatus:
    """Summary of one coordinate over a trial.

    status: ``determined`` (sensitivity <= ``UNDETERMINED_ABOVE`` in >= 95 % of the frames),
    ``undetermined`` (in <= 5 %) or ``partly``; determined_fraction: of the solved frames;
    sensitivity (deg or mm per mm of marker noise): median and max over frames (inf: no marker
    moves it); prior_share: median share of the value that comes from the prior (0 without
    stabilization, unless the setup has coordinate tasks); neutral: the prior's value (deg or m).
    """

    coordinate: str
    status: str
    determined_fraction: float
    sensitivity_median: float
    sensitivity_max: float
    prior_share: float
    neutral: float


STATUS_COLUMNS = ("coordinate", "status", "determined_fraction", "sensitivity_median", "sensitivity_max",
                  "prior_share", "neutral")


def summarize(names: list[str], sens: np.ndarray, share: np.ndarray, neutral: np.ndarray,
              rotational: np.ndarray) -> list[CoordinateStatus]:
    """Status per coordinate from per-frame sensitivity (F, n) and prior share (F, n) (NaN rows:
    failed frames); rotations against ``UNDETERMINED_ABOVE``, translations ``TRANSLATION_LIMIT``."""
    ok = np.isfinite(share).all(axis=1)
    out = []
    for j, name in enumerate(names):
        s, p = sens[ok, j], share[ok, j]
        if not len(s):
            continue
        frac = float(np.mean(s <= (UNDETERMINED_ABOVE if rotational[j] else TRANSLATION_LIMIT)))
        status = "determined" if frac >= STATUS_FRACTION else "undetermined" if frac <= 1 - STATUS_FRACTION \
            else "partly"
        out.append(CoordinateStatus(name, status, frac, float(np.median(s)), float(np.max(s)),
                                    float(np.median(p)), float(neutral[j])))
    return out


def write_status_csv(path: str | os.PathLike, rows: list[CoordinateStatus]) -> Path:
    """CSV with ``STATUS_COLUMNS``, one row per coordinate (written atomically)."""
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(STATUS_COLUMNS)
        for r in rows:
            w.writerow([r.coordinate, r.status, f"{r.determined_fraction:.3f}", f"{r.sensitivity_median:.4g}",
                        f"{r.sensitivity_max:.4g}", f"{r.prior_share:.3f}", f"{r.neutral:.6g}"])
    return Path(path)


def read_status_csv(path: str | os.PathLike) -> dict[str, CoordinateStatus]:
    """Coordinate -> status from ``write_status_csv``'s file."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {r["coordinate"]: CoordinateStatus(r["coordinate"], r["status"], float(r["determined_fraction"]),
                                              float(r["sensitivity_median"]), float(r["sensitivity_max"]),
                                              float(r["prior_share"]), float(r["neutral"])) for r in rows}


def status_path(mot_path: str | os.PathLike) -> Path:
    """Where the status of an IK result ``X.mot`` is written: ``X_coordinate_status.csv`` beside it."""
    mot_path = Path(mot_path)
    return mot_path.with_name(mot_path.stem + "_coordinate_status.csv")


class FrameObserver:
    """Per IK frame: the coordinates' sensitivity to the markers, the stabilizing priors, the polish.

    coords: the model's coordinates; refiner: a ``refine.MarkerRefiner`` (its free coordinates,
    marker Jacobian and Gauss-Newton). With ``stabilize`` the coordinates in
    ``NEUTRAL_DEG`` start at their neutral value, so the first assembly does not settle in a far
    basin (e.g. a supinated forearm).
    """

    def __init__(self, state: Any, coords: list, refiner: Any, stabilize: bool) -> None:
        self.refiner, self.stabilize = refiner, stabilize
        names = [c.getName() for c in coords]
        self.cols = np.array([names.index(c.getName()) for c in refiner.free], dtype=int)
        free = refiner.free
        self.rotational = np.array([coordinate_is_rotational(c) for c in free])
        self.neutral = neutral_values([c.getName() for c in free], np.array([c.getDefaultValue() for c in free]),
                                      refiner.lo, refiner.hi)
        self.neutral_all = np.array([c.getDefaultValue() for c in coords], dtype=float)
        self.neutral_all[self.cols] = self.neutral
        self.base = np.zeros(len(free))
        self.base[refiner.task_cols] = refiner.task_sqrt_w ** 2
        self.n_coords = len(coords)
        if stabilize:
            for c, v in zip(free, self.neutral):
                if side_free(c.getName()) in NEUTRAL_DEG:
                    c.setValue(state, float(v), False)

    def frame(self, state: Any, targets: np.ndarray, polish: bool) -> tuple[np.ndarray, np.ndarray]:
        """Sensitivity and prior share (N,) of a frame at the state's pose, in model coordinate order
        (NaN for locked coordinates, and for all when fewer than 3 markers are valid); with ``polish``
        the refiner's Gauss-Newton (with the stabilizing priors) then moves the state; targets (M, 3),
        NaN = missing."""
        sens_row, share_row = np.full(self.n_coords, np.nan), np.full(self.n_coords, np.nan)
        jac, marker_w = self.refiner.marker_jacobian(state, targets)
        if len(marker_w) < 3:
            return sens_row, share_row
        if self.stabilize:
            prior, sens = stabilizing_priors(jac, marker_w, self.rotational, self.base)
        else:
            prior, sens = np.zeros(len(self.base)), sensitivity(jac, marker_w, self.base, self.rotational)
        if polish:
            self.refiner.set_priors(prior, self.neutral)
            self.refiner.refine(state, targets)
        sens_row[self.cols] = sens
        share_row[self.cols] = prior_share(jac, marker_w, self.base + prior)
        return sens_row, share_row
