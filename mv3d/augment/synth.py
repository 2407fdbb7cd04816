"""Training pairs for the marker augmenter by forward kinematics of an OpenSim model.

An OpenSim model carrying both a video-keypoint marker set (OpenCap's
``_markers_openpose.xml``: where 2D detectors find joints) and an anatomical marker
set (``_markers_augmenter.xml``: the 43 ``_study`` markers) is scaled to random
plausible subjects and moved through real motions (``.mot``) and random smooth
joint trajectories covering each coordinate's range. Forward kinematics gives, at
one rate (60 Hz), the keypoints (inputs) and markers (targets) of every frame.
Noise, dropouts and rotation about the vertical are applied later, per training
window (``mv3d.augment.train``), so the cached pairs stay clean.

``model: builtin`` uses mv3d's own body model instead (``mv3d.kinematics.bodymodel``):
each subject is the model built at its height and mass, then OpenSim-scaled per
segment group by the jitter; its MV3D25 keypoint markers stand for OpenCap's video
keypoints and its ``_study`` markers (its own placements) are the targets. The built-in
motion library (``library_motions``) can be added to the motions.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mv3d.augment.markers import LOWER_OUTPUTS, MV3D_TO_OPENCAP, OPENCAP_KEYPOINTS, UPPER_OUTPUTS
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path, atomic_write
from mv3d.io.mot import read_mot
from mv3d.kinematics._osim import load_model, opensim
from mv3d.kinematics.bodymodel import build_model
from mv3d.kinematics.forward import forward_markers, mot_to_coordinates
from mv3d.simulate.motions import make_motion
from mv3d.timeseries import resample

log = logging.getLogger(__name__)

#: Body groups scaled together (left and right alike) with one random ratio each.
SEGMENT_GROUPS: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis",),
    "thigh": ("femur_r", "femur_l", "patella_r", "patella_l"),
    "shank": ("tibia_r", "tibia_l"),
    "foot": ("talus_r", "talus_l", "calcn_r", "calcn_l", "toes_r", "toes_l"),
    "torso": ("torso",),
    "upper_arm": ("humerus_r", "humerus_l"),
    "forearm": ("ulna_r", "ulna_l", "radius_r", "radius_l"),
    "hand": ("hand_r", "hand_l"),
}
#: Shoulder (C7-level) height over standing height (anthropometric tables, ~0.82).
NECK_HEIGHT_RATIO = 0.818
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
#: ``SynthConfig.model`` value that selects mv3d's built-in body model.
BUILTIN = "builtin"


@dataclass
class SynthConfig:
    """What to synthesize. Heights in m, BMI in kg/m^2, rate in Hz, durations in s."""

    model: str
    marker_files: list[str] = field(default_factory=list)
    motions: list[str] = field(default_factory=list)
    n_subjects: int = 8
    height_range: tuple[float, float] = (1.5, 2.0)
    segment_jitter: float = 0.05
    bmi_range: tuple[float, float] = (18.5, 32.0)
    rate: float = 60.0
    random_clips_per_subject: int = 2
    random_clip_seconds: float = 10.0
    random_max_frequency: float = 1.2
    seed: int = 0
    #: Mocap trials turned into motions by OpenSim IK (run once, the .mot kept beside the cache):
    #: each a dict with name, model, trc, setup (IK setup XML: marker weights), optional
    #: scale_set (applied to the model) and marker_set (replaces the model's markers).
    mocap_trials: list[dict[str, str]] = field(default_factory=list)
    #: Names of ``mv3d.simulate.motions.motion_library()`` motions, each sampled for ``library_seconds``.
    library_motions: list[str] = field(default_factory=list)
    library_seconds: float = 10.0
    #: Each subject performs its own version of every library motion (tempo, depth, style and
    #: posture offsets drawn per subject) instead of the one canonical version.
    library_variants: bool = False


@dataclass
class PairSet:
    """Synthesized pairs, clip after clip, all frames concatenated.

    keypoints (N, K, 3), markers (N, M, 3) metres, model ground frame (Y up);
    clip (N,) clip index of each frame; clip_height, clip_mass, clip_subject (C,);
    clip_motion (C,) motion name ("walking1", "random"...).
    """

    keypoints: np.ndarray
    markers: np.ndarray
    keypoint_names: list[str]
    marker_names: list[str]
    clip: np.ndarray
    clip_height: np.ndarray
    clip_mass: np.ndarray
    clip_subject: np.ndarray
    clip_motion: list[str]
    rate: float
    config: dict[str, Any] = field(default_factory=dict)

    def clip_slices(self) -> list[slice]:
        """Frame slice of each clip."""
        edges = np.flatnonzero(np.diff(self.clip)) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(self.clip)]])
        return [slice(int(s), int(e)) for s, e in zip(starts, ends)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write to a compressed ``.npz`` atomically."""
        path = Path(path)
        with atomic_write(path, "wb") as fh:
            np.savez_compressed(
                fh, keypoints=self.keypoints.astype(np.float32), markers=self.markers.astype(np.float32),
                keypoint_names=np.array(self.keypoint_names), marker_names=np.array(self.marker_names),
                clip=self.clip, clip_height=self.clip_height, clip_mass=self.clip_mass,
                clip_subject=self.clip_subject, clip_motion=np.array(self.clip_motion), rate=self.rate,
                config=json.dumps(self.config))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PairSet:
        """Read a cache written by ``save``."""
        with np.load(path) as z:
            return cls(keypoints=z["keypoints"].astype(float), markers=z["markers"].astype(float),
                       keypoint_names=z["keypoint_names"].tolist(), marker_names=z["marker_names"].tolist(),
                       clip=z["clip"], clip_height=z["clip_height"], clip_mass=z["clip_mass"],
                       clip_subject=z["clip_subject"], clip_motion=z["clip_motion"].tolist(),
                       rate=float(z["rate"]), config=json.loads(str(z["config"])))


def synthesis_model(model_path: str | os.PathLike, marker_files: list[str | os.PathLike]) -> Any:
    """The OpenSim model with the markers of every marker-set file added (first file wins on a name clash)."""
    osim = opensim()
    model = load_model(model_path)
    for f in marker_files:
        if not Path(f).is_file():
            raise InputError(f"marker set file {f} not found")
        mset = osim.MarkerSet(str(f))
        for i in range(mset.getSize()):
            if not model.getMarkerSet().contains(mset.get(i).getName()):
                model.addMarker(mset.get(i).clone())
    model.finalizeConnections()
    model.initSystem()
    return model


def generic_height(model: Any) -> float:
    """Standing height of the model in its default pose, from the neck keypoint above the feet."""
    names = ["Neck", "RHeel", "LHeel", "RBigToe", "LBigToe"]
    pts, _ = forward_markers(model, np.zeros(1), {}, names)
    return float((pts[0, 0, 1] - pts[0, 1:, 1].min()) / NECK_HEIGHT_RATIO)


def scaled_subject(model: Any, height: float, mass: float, jitter: float, rng: np.random.Generator,
                   base_height: float) -> tuple[Any, float]:
    """A copy of ``model`` scaled to ``height`` with each segment group varied by +-jitter.

    Returns (scaled model, the overall scale factor height / base_height).
    """
    osim = opensim()
    s = height / base_height
    scaled = osim.Model(model)
    state = scaled.initSystem()
    scale_set = osim.ScaleSet()
    bodies = {b.getName() for b in scaled.getBodySet()}
    for group in SEGMENT_GROUPS.values():
        factor = s * (1.0 + rng.uniform(-jitter, jitter))
        for body in group:
            if body not in bodies:
                continue
            sc = osim.Scale()
            sc.setSegmentName(body)
            sc.setScaleFactors(osim.Vec3(factor))
            sc.setApply(True)
            scale_set.cloneAndAppend(sc)
    if not scaled.scale(state, scale_set, True, float(mass)):
        raise RuntimeError(f"OpenSim could not scale the model to height {height:.2f} m")
    scaled.initSystem()
    return scaled, s


def motion_coordinates(model: Any, mot_path: str | os.PathLike, rate: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A .mot motion resampled to ``rate``: (times (F,), coordinate -> (F,) radians/metres)."""
    mot = read_mot(mot_path)
    coords = mot_to_coordinates(model, list(mot.columns), np.asarray(mot.values), bool(mot.in_degrees))
    t0, t1 = float(mot.times[0]), float(mot.times[-1])
    times = t0 + np.arange(int(np.floor((t1 - t0) * rate + 1e-9)) + 1) / rate
    stacked = np.stack(list(coords.values()), axis=1)
    values = resample(np.asarray(mot.times, float), stacked, times)
    return times, {n: values[:, j] for j, n in enumerate(coords)}


def mocap_motion(trial: dict[str, str], out_dir: str | os.PathLike) -> Path:
    """The ``.mot`` of a mocap trial by OpenSim inverse kinematics (reused when already there).

    trial: name, model, trc, setup, optional scale_set and marker_set (see SynthConfig).
    Returns ``out_dir/<name>_ik.mot``.
    """
    osim = opensim()
    out = Path(out_dir) / f"{trial['name']}_ik.mot"
    if out.is_file():
        return out
    missing = [k for k in ("name", "model", "trc", "setup") if k not in trial]
    if missing:
        raise InputError(f"mocap trial {trial}: missing keys {missing} (name, model, trc, setup are required)")
    model = load_model(trial["model"])
    model.updForceSet().clearAndDestroy()  # kinematics only
    state = model.initSystem()
    if trial.get("scale_set"):
        if not model.scale(state, osim.ScaleSet(str(trial["scale_set"])), True, -1.0):
            raise RuntimeError(f"OpenSim could not apply scale set {trial['scale_set']}")
    if trial.get("marker_set"):
        model.updMarkerSet().clearAndDestroy()
        mset = osim.MarkerSet(str(trial["marker_set"]))
        for i in range(mset.getSize()):
            model.addMarker(mset.get(i).clone())
    model.finalizeConnections()
    model.initSystem()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    tool = osim.InverseKinematicsTool(str(trial["setup"]))
    tool.setModel(model)
    tool.setMarkerDataFileName(str(trial["trc"]))
    tool.setResultsDir(str(out_dir))
    tool.set_report_errors(False)
    with atomic_path(out) as tmp:
        tool.setOutputMotionFileName(str(tmp))
        if not tool.run():
            raise RuntimeError(f"OpenSim inverse kinematics failed for mocap trial {trial['name']}")
    log.info("IK of %s written to %s", trial["trc"], out)
    return out


def random_motion(model: Any, seconds: float, rate: float, rng: np.random.Generator,
                  max_frequency: float = 1.2) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Smooth random joint trajectories within each coordinate's range.

    Each free rotational coordinate is a sum of 3 sinusoids (0.05..max_frequency Hz, random
    phases) around a random centre, clipped to the coordinate's range: over many clips this
    covers the full range of motion. The pelvis stays upright-ish (tilt/list within +-35 deg),
    turns freely about the vertical, and drifts slowly in the horizontal plane.
    """
    times = np.arange(int(seconds * rate)) / rate
    coords: dict[str, np.ndarray] = {}
    for c in model.getCoordinateSet():
        name = c.getName()
        if name.endswith("_beta") or name in TRANSLATIONS:
            continue
        lo, hi = c.getRangeMin(), c.getRangeMax()
        if name in ("pelvis_tilt", "pelvis_list"):
            lo, hi = np.deg2rad(-35.0), np.deg2rad(35.0)
        elif name == "pelvis_rotation":
            lo, hi = -np.pi, np.pi
        centre = rng.uniform(lo, hi)
        amp = rng.uniform(0.1, 0.6) * (hi - lo)
        f = rng.uniform(0.05, max_frequency, 3)
        w = rng.dirichlet(np.ones(3))
        phase = rng.uniform(0, 2 * np.pi, 3)
        wave = (w[None] * np.sin(2 * np.pi * f[None] * times[:, None] + phase[None])).sum(axis=1)
        coords[name] = np.clip(centre + amp * wave, lo, hi)
    drift = np.cumsum(rng.normal(0, 0.02, (len(times), 2)), axis=0)
    coords["pelvis_tx"], coords["pelvis_tz"] = drift[:, 0], drift[:, 1]
    return times, coords


def library_motion(model: Any, name: str, seconds: float, rate: float,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A built-in motion (``mv3d.simulate.motions``; a subject's own version of it with ``rng``)
    restricted to the coordinates of ``model``."""
    motion = make_motion(name, seconds, rate, rng=rng)
    known = {c.getName() for c in model.getCoordinateSet()}
    return motion.times, {k: v for k, v in motion.coords.items() if k in known}


def _subject_model(config: SynthConfig, base: Any, height: float, mass: float, rng: np.random.Generator,
                   base_height: float) -> tuple[Any, float]:
    """(model of one random subject, its scale relative to ``base``); see ``scaled_subject``."""
    if config.model == BUILTIN:
        model, _ = scaled_subject(build_model(height, mass), height, mass, config.segment_jitter, rng, height)
        return model, height / base_height
    return scaled_subject(base, height, mass, config.segment_jitter, rng, base_height)


def _standing_ty(model: Any) -> float:
    """Default pelvis height of the (scaled) model."""
    return float(model.getCoordinateSet().get("pelvis_ty").getDefaultValue())


def synthesize(config: SynthConfig, progress: bool | None = None, work_dir: str | os.PathLike = ".") -> PairSet:
    """Forward kinematics of every (subject, motion) pair; see the module docstring.

    work_dir: where the IK motions of ``config.mocap_trials`` are written.
    """
    rng = np.random.default_rng(config.seed)
    keypoint_names = list(OPENCAP_KEYPOINTS)
    marker_names = list(LOWER_OUTPUTS + UPPER_OUTPUTS)
    if config.model == BUILTIN:
        base_height = 1.75
        base = build_model(base_height, 70.0)
        to_mv3d = {v: k for k, v in MV3D_TO_OPENCAP.items()}
        names = [to_mv3d[n] for n in keypoint_names] + marker_names
    else:
        base = synthesis_model(config.model, config.marker_files)
        base_height = generic_height(base)
        names = keypoint_names + marker_names
    real = []
    for mot in config.motions:
        times, coords = motion_coordinates(base, mot, config.rate)
        real.append((Path(mot).stem.split("_")[0], times, coords))
    for trial in config.mocap_trials:
        times, coords = motion_coordinates(base, mocap_motion(trial, work_dir), config.rate)
        real.append((trial["name"], times, coords))
    if not config.library_variants:
        for name in config.library_motions:
            real.append((name, *library_motion(base, name, config.library_seconds, config.rate)))
    variants = config.library_motions if config.library_variants else []
    variant_rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(2)[1])
    base_ty = _standing_ty(base)

    kps, mks, clip = [], [], []
    heights, masses, subjects, motions = [], [], [], []
    per_subject = len(real) + len(variants) + config.random_clips_per_subject
    jobs = [(s, m) for s in range(config.n_subjects) for m in range(per_subject)]
    subject_model = None
    for s, m in tqdm(jobs, desc="synthesize", disable=None if progress is None else not progress):
        if m == 0:
            height = rng.uniform(*config.height_range)
            mass = rng.uniform(*config.bmi_range) * height ** 2
            subject_model, scale = _subject_model(config, base, height, mass, rng, base_height)
        if m < len(real) + len(variants):
            if m < len(real):
                name, times, coords = real[m]
            else:
                name = variants[m - len(real)]
                times, coords = library_motion(base, name, config.library_seconds, config.rate, variant_rng)
            coords = dict(coords)
            for t in ("pelvis_tx", "pelvis_tz"):
                if t in coords:
                    coords[t] = coords[t] * scale
            if "pelvis_ty" in coords:
                coords["pelvis_ty"] = coords["pelvis_ty"] * scale
        else:
            name = "random"
            times, coords = random_motion(base, config.random_clip_seconds, config.rate, rng,
                                          config.random_max_frequency)
            coords["pelvis_ty"] = np.full(len(times), base_ty * scale)
        pts, _ = forward_markers(subject_model, times, coords, names)
        kps.append(pts[:, :len(keypoint_names)])
        mks.append(pts[:, len(keypoint_names):])
        clip.append(np.full(len(times), len(motions)))
        heights.append(height)
        masses.append(mass)
        subjects.append(s)
        motions.append(name)
    return PairSet(keypoints=np.concatenate(kps), markers=np.concatenate(mks), keypoint_names=keypoint_names,
                   marker_names=marker_names, clip=np.concatenate(clip), clip_height=np.array(heights),
                   clip_mass=np.array(masses), clip_subject=np.array(subjects), clip_motion=motions,
                   rate=config.rate, config=asdict(config))


def cached_pairs(config: SynthConfig, cache: str | os.PathLike, progress: bool | None = None) -> PairSet:
    """Pairs from ``cache`` when it was made with the same config, else synthesize and write it."""
    cache = Path(cache)
    wanted = asdict(config)
    # Fields added to SynthConfig after a cache was written count as their defaults.
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory()
                for f in fields(SynthConfig) if f.default is not MISSING or f.default_factory is not MISSING}
    if cache.is_file():
        pairs = PairSet.load(cache)
        if _jsonable({**defaults, **pairs.config}) == _jsonable(wanted):
            log.info("synthesized pairs read from %s", cache)
            return pairs
        log.info("cache %s was made with another config; synthesizing again", cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    pairs = synthesize(config, progress=progress, work_dir=cache.parent)
    pairs.save(cache)
    return pairs


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj))
