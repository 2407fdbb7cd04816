"""Train a lower- and upper-body marker augmenter on synthesized pairs.

Windows of ``window`` frames are drawn from the training clips; each window is
rotated about the vertical (Y) axis by a random angle, its keypoints get a
constant per-keypoint offset (detector bias), white noise and short dropouts that
are bridged by linear interpolation (as short gaps are at inference), and the
stated height gets a small error. Loss: weighted mean squared error of the
markers relative to midHip over height. Validation clips are whole motions of
the held-out motion types (``val_motions``), run end to end without augmentation.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from tqdm import tqdm

from mv3d.augment.augmenter import Augmenter
from mv3d.augment.lstm import BodyPartModel, MarkerLSTM, keypoint_features
from mv3d.augment.markers import LOWER_INPUTS, LOWER_OUTPUTS, REFERENCE, UPPER_INPUTS, UPPER_OUTPUTS
from mv3d.augment.synth import BUILTIN, PairSet, SynthConfig, cached_pairs
from mv3d.errors import ConfigError
from mv3d.io.atomic import atomic_path, atomic_write
from mv3d.plotting import pyplot
from mv3d.resources import source_root

log = logging.getLogger(__name__)
PARTS = {"lower": (LOWER_INPUTS, LOWER_OUTPUTS), "upper": (UPPER_INPUTS, UPPER_OUTPUTS)}


@dataclass
class AugmenterTrainConfig:
    """A marker augmenter's training run (``mv3d train augmenter``, ``configs/augmenter/``; loaded with
    ``mv3d.config.load_config``); lengths in frames, noise in metres, time in minutes."""

    name: str = "augmenter_laiuhlrich2022"
    synth: SynthConfig | None = None
    cache: str = "out/augmenter/pairs.npz"
    out_dir: str = "out/augmenter"
    hidden: int = 128
    layers: int = 2
    bidirectional: bool = False
    window: int = 90
    batch_size: int = 32
    lr: float = 2e-3
    max_steps: int = 4000
    max_minutes: float = 15.0
    eval_every: int = 200
    val_motions: list[str] = field(default_factory=lambda: ["squats1"])
    val_subjects: int = 0             # also hold out the last N subjects (all their motions)
    noise_std: float = 0.008
    bias_std: float = 0.01
    smooth_noise_std: float = 0.0     # slowly varying error (m), as triangulation + low-pass filtering leave
    smooth_noise_frames: float = 4.0  # its Gaussian correlation length (sigma, frames)
    height_error: float = 0.01
    dropout_prob: float = 0.05
    max_dropout: int = 12
    marker_weights: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    threads: int = 1
    #: Optional weights spec (e.g. ``opencap-v0.3:DIR``) evaluated on the same validation clips
    #: for the model card.
    compare_weights: str | None = None

    def relative_to(self, root: Path) -> AugmenterTrainConfig:
        """The config with its relative file paths taken relative to ``root`` (the shipped configs
        name files relative to the project root)."""
        def at(path: str) -> str:
            return str(path if Path(path).is_absolute() else root / path)

        synth = self.synth
        if synth is not None:
            synth = dataclasses.replace(
                synth, model=synth.model if synth.model == BUILTIN else at(synth.model),
                marker_files=[at(p) for p in synth.marker_files], motions=[at(p) for p in synth.motions],
                mocap_trials=[{k: (v if k == "name" else at(v)) for k, v in t.items()} for t in synth.mocap_trials])
        compare = self.compare_weights
        if compare:
            prefix, sep, rest = compare.rpartition(":")
            compare = f"{prefix}{sep}{at(rest)}"
        return dataclasses.replace(self, synth=synth, cache=at(self.cache), out_dir=at(self.out_dir),
                                   compare_weights=compare)


@dataclass
class TrainResult:
    """What a training run produced; RMSEs in mm on the validation clips."""

    augmenter: Augmenter
    weights_path: Path
    card_path: Path
    curve_path: Path
    val_rmse_mm: float
    val_rmse_by_part: dict[str, float]
    val_rmse_by_motion: dict[str, float]
    history: list[dict[str, float]]


# ------------------------------------------------------------------------------ data
class WindowSampler:
    """Random augmented training windows from the training clips of a PairSet."""

    def __init__(self, pairs: PairSet, clips: list[int], config: AugmenterTrainConfig, rng: np.random.Generator) -> None:
        self.pairs, self.config, self.rng = pairs, config, rng
        slices = pairs.clip_slices()
        self.slices = [slices[c] for c in clips if slices[c].stop - slices[c].start >= config.window]
        if not self.slices:
            raise ConfigError(f"no training clip has {config.window} frames; lower 'window'")
        self.clip_ids = [c for c in clips if slices[c].stop - slices[c].start >= config.window]
        lengths = np.array([s.stop - s.start - config.window + 1 for s in self.slices], float)
        self.p = lengths / lengths.sum()

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(keypoints (B,T,K,3), markers (B,T,M,3), stated height (B,), true height (B,), mass (B,))."""
        cfg, rng, pairs = self.config, self.rng, self.pairs
        b, t = cfg.batch_size, cfg.window
        pick = rng.choice(len(self.slices), size=b, p=self.p)
        starts = np.array([self.slices[i].start + rng.integers(0, self.slices[i].stop - self.slices[i].start - t + 1)
                           for i in pick])
        idx = starts[:, None] + np.arange(t)[None]
        kp, mk = pairs.keypoints[idx], pairs.markers[idx]
        clips = np.array([self.clip_ids[i] for i in pick])
        height, mass = pairs.clip_height[clips], pairs.clip_mass[clips]
        # Rotation about the vertical axis (Y up).
        theta = rng.uniform(-np.pi, np.pi, b)
        c, s = np.cos(theta), np.sin(theta)
        rot = np.zeros((b, 3, 3))
        rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1.0, -s, c
        kp = np.einsum("bij,btkj->btki", rot, kp)
        mk = np.einsum("bij,btkj->btki", rot, mk)
        # Detector-like errors on the keypoints: constant offset, white noise, bridged dropouts.
        n_kp = kp.shape[2]
        kp = kp + rng.normal(0, cfg.bias_std, (b, 1, n_kp, 3)) + rng.normal(0, cfg.noise_std, kp.shape)
        if cfg.smooth_noise_std > 0:
            slow = gaussian_filter1d(rng.normal(0, 1, kp.shape), cfg.smooth_noise_frames, axis=1, mode="reflect")
            kp = kp + slow * (cfg.smooth_noise_std / max(float(slow.std()), 1e-12))
        drop = np.argwhere(rng.random((b, n_kp)) < cfg.dropout_prob)
        for bi, k in drop:
            length = int(rng.integers(2, cfg.max_dropout + 1))
            s0 = int(rng.integers(1, t - length - 1))
            a, z = kp[bi, s0 - 1, k], kp[bi, s0 + length, k]
            w = (np.arange(1, length + 1) / (length + 1))[:, None]
            kp[bi, s0:s0 + length, k] = (1 - w) * a + w * z
        stated = height * (1.0 + rng.normal(0, cfg.height_error, b))
        return kp, mk, stated, height, mass


def part_arrays(pairs: PairSet, part: str, keypoints: np.ndarray, markers: np.ndarray, height: np.ndarray,
                mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (B, T, 3K+2) and targets (B, T, 3M) (markers - midHip) / height of one part."""
    inputs, outputs = PARTS[part]
    ki = [pairs.keypoint_names.index(n) for n in inputs]
    ref = pairs.keypoint_names.index(REFERENCE)
    mi = [pairs.marker_names.index(n) for n in outputs]
    b, t = keypoints.shape[:2]
    feats = np.stack([keypoint_features(keypoints[j][:, ki], keypoints[j][:, ref], height[j], mass[j])
                      for j in range(b)])
    rel = (markers[:, :, mi] - keypoints[:, :, ref, None]) / height[:, None, None, None]
    return feats, rel.reshape(b, t, -1)


# ------------------------------------------------------------------------------ training
def _split(pairs: PairSet, val_motions: list[str], val_subjects: int = 0) -> tuple[list[int], list[int]]:
    """Training and validation clips: the motion types in val_motions and the last
    ``val_subjects`` subjects (every motion of theirs) are validation."""
    motions = np.array(pairs.clip_motion)
    subjects = np.unique(pairs.clip_subject)
    held = set(subjects[len(subjects) - val_subjects:].tolist()) if val_subjects > 0 else set()
    is_val = [m in val_motions or int(subj) in held for m, subj in zip(motions, pairs.clip_subject)]
    val = [i for i, v in enumerate(is_val) if v]
    train = [i for i, v in enumerate(is_val) if not v]
    if not train or not val:
        raise ConfigError(f"val_motions {val_motions} and val_subjects {val_subjects} must select some but not all "
                          f"clips (motion types {sorted(set(motions))}, {len(subjects)} subjects)")
    return train, val


def _statistics(pairs: PairSet, clips: list[int], part: str) -> tuple[np.ndarray, np.ndarray]:
    slices = pairs.clip_slices()
    feats = []
    for c in clips:
        sl = slices[c]
        f, _ = part_arrays(pairs, part, pairs.keypoints[None, sl], pairs.markers[None, sl],
                           pairs.clip_height[[c]], pairs.clip_mass[[c]])
        feats.append(f[0])
    allf = np.concatenate(feats)
    return allf.mean(0), np.maximum(allf.std(0), 1e-6)


def evaluate(augmenter: Augmenter, pairs: PairSet, clips: list[int]) -> tuple[float, dict[str, float], dict[str, float]]:
    """RMSE (mm) of predicted markers over whole clips: overall, by part, by motion."""
    slices = pairs.clip_slices()
    sq_part: dict[str, list[np.ndarray]] = {p.name: [] for p in augmenter.parts}
    sq_motion: dict[str, list[np.ndarray]] = {}
    for c in clips:
        sl = slices[c]
        kp, mk = pairs.keypoints[sl], pairs.markers[sl]
        ref = kp[:, pairs.keypoint_names.index(REFERENCE)]
        for part in augmenter.parts:
            pred = part.predict(kp[:, [pairs.keypoint_names.index(n) for n in part.input_names]], ref,
                                pairs.clip_height[c], pairs.clip_mass[c])
            true = mk[:, [pairs.marker_names.index(n) for n in part.output_names]]
            sq = ((pred - true) ** 2).sum(-1).ravel()
            sq_part[part.name].append(sq)
            sq_motion.setdefault(pairs.clip_motion[c], []).append(sq)
    rmse = lambda xs: float(1000 * np.sqrt(np.concatenate(xs).mean()))  # noqa: E731
    overall = rmse([x for xs in sq_part.values() for x in xs])
    return overall, {k: rmse(v) for k, v in sq_part.items()}, {k: rmse(v) for k, v in sq_motion.items()}


def train(pairs: PairSet, config: AugmenterTrainConfig, progress: bool | None = None) -> TrainResult:
    """Train both parts; write weights, checkpoint, curve and model card to ``config.out_dir``.

    Uses ``config.threads`` torch threads while training (restored afterwards).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(pairs, config, progress)
    finally:
        torch.set_num_threads(previous)


def _train(pairs: PairSet, config: AugmenterTrainConfig, progress: bool | None) -> TrainResult:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_clips, val_clips = _split(pairs, config.val_motions, config.val_subjects)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for name, (inputs, outputs) in PARTS.items():
        mean, std = _statistics(pairs, train_clips, name)
        net = MarkerLSTM(3 * len(inputs) + 2, 3 * len(outputs), hidden=config.hidden, layers=config.layers,
                         bidirectional=config.bidirectional)
        parts.append(BodyPartModel(name, net, inputs, outputs, mean, std))
    meta = {"name": config.name, "config": _jsonable(dataclasses.asdict(config))}
    augmenter = Augmenter(parts, source=f"mv3d {config.name}", metadata=meta)
    weights = {p.name: torch.tensor([config.marker_weights.get(n, 1.0) for n in p.output_names
                                     for _ in range(3)], dtype=torch.float32) for p in parts}
    params = [q for p in parts for q in p.network.parameters()]
    opt = torch.optim.Adam(params, lr=config.lr)
    start = time.perf_counter()

    def progress_fraction(step: int) -> float:
        """Fraction of the budget used: steps or time, whichever runs out first."""
        return min(1.0, max(step / config.max_steps, (time.perf_counter() - start) / (60 * config.max_minutes)))

    # Cosine decay over the step or time budget, so a time-limited run still ends at a low rate.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * progress_fraction(s))))
    sampler = WindowSampler(pairs, train_clips, config, rng)
    for p in parts:
        p.network.eval()
    history: list[dict[str, float]] = [{"step": 0, "val_rmse_mm": evaluate(augmenter, pairs, val_clips)[0]}]
    best = (math.inf, None)
    step = 0
    bar = tqdm(total=config.max_steps, desc="train augmenter", disable=None if progress is None else not progress)
    while step < config.max_steps and (time.perf_counter() - start) < 60 * config.max_minutes:
        kp, mk, stated, _, mass = sampler.sample()
        for p in parts:
            p.network.train()
        loss = torch.zeros(())
        for p in parts:
            feats, target = part_arrays(pairs, p.name, kp, mk, stated, mass)
            x = torch.as_tensor(p.normalise(feats), dtype=torch.float32)
            y = torch.as_tensor(target, dtype=torch.float32)
            loss = loss + (weights[p.name] * (p.network(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        if step % config.eval_every == 0 or step == config.max_steps:
            for p in parts:
                p.network.eval()
            val, by_part, _ = evaluate(augmenter, pairs, val_clips)
            history.append({"step": step, "loss": loss.item(), "val_rmse_mm": val,
                            "minutes": (time.perf_counter() - start) / 60, **{f"val_{k}_mm": v for k, v in by_part.items()}})
            log.info("step %d loss %.3g val RMSE %.1f mm", step, loss.item(), val)
            if val < best[0]:
                best = (val, {p.name: {k: v.clone() for k, v in p.network.state_dict().items()} for p in parts})
                augmenter.save(out_dir / "checkpoint_best.pt")
        elif step % 20 == 0 or step == 1:
            history.append({"step": step, "loss": loss.item()})
    bar.close()
    if best[1] is None:
        for p in parts:
            p.network.eval()
        val, _, _ = evaluate(augmenter, pairs, val_clips)
        best = (val, {p.name: p.network.state_dict() for p in parts})
    for p in parts:
        p.network.load_state_dict(best[1][p.name])
        p.network.eval()
    val, by_part, by_motion = evaluate(augmenter, pairs, val_clips)
    train_rmse, _, _ = evaluate(augmenter, pairs, train_clips[: max(1, len(train_clips) // 4)])
    compared = None
    if config.compare_weights:
        from mv3d.augment.weights import load_augmenter

        compared = (config.compare_weights, *evaluate(load_augmenter(config.compare_weights), pairs, val_clips))
    minutes = (time.perf_counter() - start) / 60
    augmenter.metadata.update({"val_rmse_mm": val, "val_rmse_by_part_mm": by_part,
                               "val_rmse_by_motion_mm": by_motion, "steps": step, "minutes": minutes})
    weights_path = augmenter.save(out_dir / f"{config.name}.pt")
    curve_path = _plot(history, out_dir / f"{config.name}_curve.png")
    card_path = _write_card(out_dir / f"{config.name}.md", config, pairs, train_clips, val_clips, val, by_part,
                            by_motion, train_rmse, step, minutes,
                            sum(q.numel() for q in params), compared)
    return TrainResult(augmenter, weights_path, card_path, curve_path, val, by_part, by_motion, history)


def train_from_config(config: AugmenterTrainConfig, out_dir: str | None = None, progress: bool | None = None) -> TrainResult:
    """Synthesize (or read the cached) pairs, then train."""
    if out_dir is not None:
        config = dataclasses.replace(config, out_dir=str(out_dir))
    if config.synth is None:
        raise ConfigError("the training config needs a 'synth' section (model, marker_files, motions...)")
    pairs = cached_pairs(config.synth, config.cache, progress=progress)
    return train(pairs, config, progress=progress)


def _shorten(text: str) -> str:
    """Paths in a model card's text relative to the project checkout (they are written from one)."""
    root = source_root()
    return text if root is None else text.replace(str(root) + os.sep, "")


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _plot(history: list[dict[str, float]], path: Path) -> Path:
    plt = pyplot()

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    steps = [h["step"] for h in history if "loss" in h]
    ax[0].semilogy(steps, [h["loss"] for h in history if "loss" in h])
    ax[0].set(xlabel="step", ylabel="training loss (normalised units^2)")
    ev = [h for h in history if "val_rmse_mm" in h]
    ax[1].semilogy([h["step"] for h in ev], [h["val_rmse_mm"] for h in ev], "o-")
    ax[1].set(xlabel="step", ylabel="validation RMSE (mm)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def _write_card(path: Path, config: AugmenterTrainConfig, pairs: PairSet, train_clips: list[int], val_clips: list[int],
                val: float, by_part: dict[str, float], by_motion: dict[str, float], train_rmse: float,
                steps: int, minutes: float, n_params: int,
                compared: tuple[str, float, dict[str, float], dict[str, float]] | None) -> Path:
    s = config.synth or SynthConfig(**pairs.config)
    slices = pairs.clip_slices()
    frames = lambda clips: sum(slices[c].stop - slices[c].start for c in clips)  # noqa: E731
    motions = sorted(set(pairs.clip_motion))
    lines = [
        f"# Model card: {config.name}",
        "",
        "Marker augmenter (lower body: 15 video keypoints -> 35 `_study` markers; upper body: 7 -> 8),",
        "same inputs/outputs and feature definition as OpenCap's v0.3 augmenter (keypoints relative to",
        "midHip / height, plus height and mass, z-scored), trained by mv3d (`mv3d train augmenter`).",
        "",
        "## Network",
        f"- per part: {config.layers}-layer {'bidirectional ' if config.bidirectional else ''}LSTM, {config.hidden} units, per-frame linear head (torch, float32; stored in fp16); "
        f"{n_params} parameters in all",
        f"- training: Adam lr {config.lr} with cosine decay, batch {config.batch_size} windows of {config.window} "
        f"frames, {steps} steps in {minutes:.1f} min on CPU (torch threads={config.threads}); best validation checkpoint kept",
        "- loss: mean squared error of (marker - midHip) / height, weights "
        f"{config.marker_weights or 'all 1'}",
        "",
        "## Data (synthesized by forward kinematics, `mv3d.augment.synth`)",
        (f"- model: mv3d's built-in body model, `build_model(height, mass)` for each subject; its MV3D25 "
         "keypoint markers as OpenCap's video keypoints, its own `_study` markers as targets"
         if s.model == BUILTIN else
         f"- model: `{Path(s.model).name}` with marker sets {[Path(f).name for f in s.marker_files]}"),
        f"- motions: {[Path(m).name for m in s.motions]}, built-in motions {s.library_motions} "
        f"({s.library_seconds:g} s each), IK of mocap trials "
        f"{[(t['name'], Path(t['trc']).name, Path(t['model']).name) for t in s.mocap_trials]}, resampled to "
        f"{s.rate:g} Hz, plus "
        f"{s.random_clips_per_subject} random clip(s) of {s.random_clip_seconds:g} s per subject (sum of 3 sinusoids, "
        f"0.05-{s.random_max_frequency:g} Hz, within each coordinate's range)",
        f"- subjects: {s.n_subjects}, height uniform {s.height_range[0]}-{s.height_range[1]} m, segment groups scaled "
        f"+-{100 * s.segment_jitter:g} % independently, BMI uniform {s.bmi_range[0]}-{s.bmi_range[1]} kg/m^2, seed {s.seed}",
        f"- frames: {len(pairs.clip)} in {len(slices)} clips; training {frames(train_clips)} frames, "
        f"validation {frames(val_clips)} frames (motion types held out: {config.val_motions}; subjects held out: "
        f"{config.val_subjects}; all types: {motions})",
        "",
        "## Augmentation (training windows only)",
        "- rotation about the vertical axis uniform in [-180, 180] deg",
        f"- keypoint offset per window and keypoint N(0, {1000 * config.bias_std:g} mm), white noise "
        f"N(0, {1000 * config.noise_std:g} mm) per frame"
        + (f", slowly varying error {1000 * config.smooth_noise_std:g} mm RMS (Gaussian correlation "
           f"{config.smooth_noise_frames:g} frames)" if config.smooth_noise_std > 0 else ""),
        f"- dropouts: probability {config.dropout_prob} per keypoint and window, 2-{config.max_dropout} frames, "
        "bridged by linear interpolation",
        f"- stated height error N(0, {100 * config.height_error:g} %)",
        "",
        "## Metrics (whole validation clips, clean keypoints, markers in metres -> RMSE of 3D distance)",
        f"- validation RMSE: **{val:.1f} mm** (lower {by_part.get('lower', float('nan')):.1f} mm, "
        f"upper {by_part.get('upper', float('nan')):.1f} mm)",
        "- by motion: " + ", ".join(f"{k} {v:.1f} mm" for k, v in by_motion.items()),
        f"- training clips (first quarter, clean; includes the random full-range motions): {train_rmse:.1f} mm",
        *([f"- for comparison, {_shorten(compared[0])} on the same validation clips: "
           f"{compared[1]:.1f} mm (lower {compared[2].get('lower', float('nan')):.1f} mm, upper "
           f"{compared[2].get('upper', float('nan')):.1f} mm)"] if compared else []),
        "",
        "## Limits",
        "- trained on synthetic pairs of one model's marker definitions; not validated against real mocap here",
        "- expects keypoints in metres in OpenSim's frame (Y up) at about the training rate",
        "",
        "## Config",
        "```",
        *[_shorten(f"{k}: {v}") for k, v in _jsonable(dataclasses.asdict(config)).items()],
        "```",
    ]
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path
