"""Training of the heatmap networks: config, loop, checkpoints, CSV log and training curve.

``train(config)`` reads a COCO-WholeBody source from the config, or takes any
:class:`mv3d.pose2d.data.SampleSource` (e.g. rendered simulator frames with their 2D truth)
through ``train(config, source=..., val_source=...)``. Adam with a step learning-rate schedule,
weighted MSE on Gaussian heatmaps, mixed precision on CUDA. ``out_dir/last.pt`` holds model,
optimizer, scheduler, scaler, step and config, so a run resumes where it stopped;
``best.pt`` keeps the weights of the best validation PCK; ``log.csv`` and ``curve.png``
record the run.
"""
from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader

from mv3d.config import to_dict
from mv3d.errors import ConfigError
from mv3d.io.atomic import atomic_path, atomic_write
from mv3d.plotting import pyplot
from mv3d.pose2d.checkpoints import load_weights
from mv3d.pose2d.data import Augmentation, CocoWholeBody, SampleSource, TopDownDataset
from mv3d.pose2d.evaluate import pck
from mv3d.pose2d.heatmaps import decode_heatmaps, heatmap_to_input
from mv3d.pose2d.models import build_model
from mv3d.pose2d.topdown import apply_affine
from mv3d.skeleton import FLIP_INDEX

log = logging.getLogger(__name__)


@dataclass
class Pose2DModelConfig:
    """Network name (``build_model``), joint count, optional initial weights (any checkpoint layout)."""

    name: str = "pose_resnet50"
    num_joints: int = 23
    pretrained: str | None = None
    backbone_only: bool = False


@dataclass
class Pose2DDataConfig:
    """COCO-WholeBody annotation files and image folders (paths relative to the working directory), or
    ``source: synthetic``: rendered simulator crops (:func:`mv3d.pose2d.synthetic.demo_sources`) cached in
    the npz ``cache``, of the built-in ``motions`` (default: ``mv3d.pose2d.synthetic.TRAIN_MOTIONS``)."""

    source: Literal["coco_wholebody", "synthetic"] = "coco_wholebody"
    cache: str | None = None
    motions: list[str] | None = None
    train_annotations: str | None = None
    train_images: str | None = None
    val_annotations: str | None = None
    val_images: str | None = None


@dataclass
class Pose2DOptimConfig:
    """Steps, batch, Adam learning rate and its step schedule (multiplied by ``lr_factor`` at ``lr_steps``)."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    lr_steps: list[int] = field(default_factory=list)
    lr_factor: float = 0.1
    weight_decay: float = 0.0
    amp: bool = True
    device: str = "auto"
    workers: int = 0
    seed: int = 0
    eval_every: int = 100
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("optim.steps, optim.batch_size and optim.lr must be positive")


@dataclass
class Pose2DTrainConfig:
    """A 2D network's training run (``mv3d train pose2d``, ``configs/pose2d/``; loaded with
    ``mv3d.config.load_config``); ``out_dir`` receives last.pt, best.pt, log.csv, curve.png, config.yaml."""

    out_dir: str = "runs/pose2d"
    input_size: tuple[int, int] = (192, 256)
    sigma: float = 2.0
    flip_test: bool = False
    model: Pose2DModelConfig = field(default_factory=Pose2DModelConfig)
    data: Pose2DDataConfig = field(default_factory=Pose2DDataConfig)
    optim: Pose2DOptimConfig = field(default_factory=Pose2DOptimConfig)
    augment: Augmentation | None = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        if any(s % 32 or s < 32 for s in self.input_size):
            raise ValueError(f"input_size must be [width, height], multiples of 32 (the networks' total stride), "
                             f"got {list(self.input_size)}")


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted MSE, 0.5 * mean over joints and pixels of ((pred - target) * w)^2 (Simple Baselines)."""
    w = weight[:, :, None, None]
    return 0.5 * ((pred.float() - target) * w).pow(2).mean()


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset: TopDownDataset, device: str = "cpu", flip: bool = False,
                    batch_size: int = 16) -> np.ndarray:
    """Keypoints (N, J, 3) in original image pixels for the deterministic crops of ``dataset``."""
    model.eval()
    out = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        x = batch["image"].to(device)
        hm = model(x).float()
        if flip:
            perm = torch.as_tensor(FLIP_INDEX[:hm.shape[1]], device=hm.device)
            hm = 0.5 * (hm + model(x.flip(-1)).float().flip(-1)[:, perm])
        coords, conf = decode_heatmaps(hm.cpu())
        uv = heatmap_to_input(coords.double(), dataset.input_size, dataset.heatmap_size)
        xy = apply_affine(batch["affine"].double(), uv)
        out.append(torch.cat([xy, conf.double()[..., None]], -1).numpy())
    return np.concatenate(out)


def evaluate_pck(model: torch.nn.Module, source: SampleSource, cfg: Pose2DTrainConfig, device: str,
                 alpha: float = 0.05) -> float:
    """PCK@alpha (of the box's longer side) over the labelled joints of ``source``."""
    ds = TopDownDataset(source, cfg.input_size, cfg.sigma, augment=None)
    pred = predict_dataset(model, ds, device, cfg.flip_test)
    gt = np.stack([source[i].keypoints for i in range(len(source))])
    norm = np.array([max(source[i].box[2], source[i].box[3]) for i in range(len(source))])
    return pck(pred, gt, norm, alpha)


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _write_log(out_dir: Path, rows: list[dict[str, float]]) -> None:
    """log.csv and curve.png (loss and validation PCK against step), both written atomically."""
    keys = ["step", "epoch", "lr", "loss", "val_pck", "seconds"]
    with atomic_write(out_dir / "log.csv", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [r["step"] for r in rows if "loss" in r]
    ax.semilogy(steps, [r["loss"] for r in rows if "loss" in r], label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("heatmap MSE")
    val = [(r["step"], r["val_pck"]) for r in rows if r.get("val_pck") is not None]
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), "o-", color="C1", label="val PCK@0.05")
        ax2.set_ylabel("PCK@0.05")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    fig.tight_layout()
    with atomic_path(out_dir / "curve.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _sources(cfg: Pose2DTrainConfig, source: SampleSource | None, val_source: SampleSource | None,
             ) -> tuple[SampleSource, SampleSource]:
    """Training and validation samples: the given ones, else the config's (synthetic renders or COCO-WholeBody
    files); validation defaults to the training people without augmentation."""
    if source is None and cfg.data.source == "synthetic":
        from mv3d.pose2d.synthetic import demo_sources

        source, synthetic_val = demo_sources(cfg.data.cache, motions=cfg.data.motions)
        val_source = synthetic_val if val_source is None else val_source
    if source is None:
        if not cfg.data.train_annotations:
            raise ConfigError("no training data: set data.train_annotations (COCO-WholeBody json) in the config")
        source = CocoWholeBody(cfg.data.train_annotations, cfg.data.train_images)
    if val_source is None:
        val_source = (CocoWholeBody(cfg.data.val_annotations, cfg.data.val_images) if cfg.data.val_annotations
                      else source)
    return source, val_source


class _Run:
    """The network, its optimizer, schedule and loss scaler, the step and the log rows of a training run."""

    def __init__(self, cfg: Pose2DTrainConfig, device: str) -> None:
        o = cfg.optim
        self.cfg, self.device = cfg, device
        self.model = build_model(cfg.model.name, cfg.model.num_joints).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay, foreach=True)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, milestones=list(o.lr_steps), gamma=o.lr_factor)
        self.use_amp = o.amp and device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.step, self.rows, self.best = 0, [], -1.0

    def start(self, last: Path, resume: bool) -> None:
        """Continue from ``last`` (resume), else start from the config's pretrained weights, if any."""
        if resume and last.exists():
            ck = torch.load(last, map_location=self.device, weights_only=True)
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            self.sched.load_state_dict(ck["scheduler"])
            self.scaler.load_state_dict(ck["scaler"])
            self.step, self.rows, self.best = ck["step"], ck["log"], ck.get("best_val_pck", -1.0)
            log.info("resumed %s at step %d", last, self.step)
        elif self.cfg.model.pretrained:
            report = load_weights(self.model, self.cfg.model.pretrained, backbone_only=self.cfg.model.backbone_only)
            log.info("initial weights: %s", report.summary())

    def save(self, path: Path, val_pck: float | None, full: bool = True) -> None:
        """last.pt: everything needed to resume; best.pt (full=False): weights, config and metrics."""
        state = {"model": self.model.state_dict(), "step": self.step, "config": to_dict(self.cfg), "val_pck": val_pck}
        if full:
            state.update(optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict(),
                         scaler=self.scaler.state_dict(), log=self.rows, best_val_pck=self.best)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def learn(self, batch: dict) -> float:
        """One optimizer step on a batch; returns its loss."""
        self.model.train()
        x = batch["image"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        weight = batch["target_weight"].to(self.device, non_blocking=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=self.use_amp):
            loss = heatmap_loss(self.model(x), target, weight)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.step += 1
        return float(loss.detach())

    def loader(self, source: SampleSource) -> DataLoader:
        """Shuffled augmented batches; each worker's random stream depends on the seed and the step."""
        cfg, o, step = self.cfg, self.cfg.optim, self.step
        dataset = TopDownDataset(source, cfg.input_size, cfg.sigma, cfg.augment, seed=o.seed + step)

        def seed_worker(worker_id: int) -> None:
            info = torch.utils.data.get_worker_info()
            info.dataset.rng = np.random.default_rng(o.seed + step + 1000 * (worker_id + 1))

        return DataLoader(dataset, batch_size=min(o.batch_size, len(dataset)), shuffle=True, drop_last=True,
                          num_workers=o.workers, worker_init_fn=seed_worker if o.workers else None,
                          pin_memory=self.device.startswith("cuda"))


def train(cfg: Pose2DTrainConfig, source: SampleSource | None = None, val_source: SampleSource | None = None,
          resume: bool = True) -> dict[str, Any]:
    """Train a network; returns {"step", "loss", "val_pck", "best_val_pck", "out_dir"}.

    source / val_source default to the COCO-WholeBody files of ``cfg.data``; validation defaults to
    the training people without augmentation.
    """
    o = cfg.optim
    device = _device(o.device)
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    source, val_source = _sources(cfg, source, val_source)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / "config.yaml") as fh:
        yaml.safe_dump(to_dict(cfg), fh, sort_keys=False)
    run = _Run(cfg, device)
    last = out_dir / "last.pt"
    run.start(last, resume)
    loader = run.loader(source)
    per_epoch = max(len(loader), 1)
    t0, running, n_run = time.perf_counter(), 0.0, 0
    val_pck = None
    while run.step < o.steps:
        for batch in loader:
            running += run.learn(batch)
            n_run += 1
            step, row = run.step, None
            if step % o.log_every == 0 or step == o.steps:
                row = {"step": step, "epoch": step / per_epoch, "lr": run.opt.param_groups[0]["lr"],
                       "loss": running / n_run, "seconds": time.perf_counter() - t0}
                running, n_run = 0.0, 0
            if step % o.eval_every == 0 or step == o.steps:
                val_pck = evaluate_pck(run.model, val_source, cfg, device)
                row = row or {"step": step, "epoch": step / per_epoch, "lr": run.opt.param_groups[0]["lr"],
                              "seconds": time.perf_counter() - t0}
                row["val_pck"] = val_pck
                log.info("step %d: val PCK@0.05 %.4f", step, val_pck)
                if val_pck > run.best:
                    run.best = val_pck
                    run.save(out_dir / "best.pt", val_pck, full=False)
            if row is not None:
                run.rows.append(row)
                log.info("step %d loss %.3e lr %.1e", step, row.get("loss", float("nan")), row["lr"])
            if step % o.checkpoint_every == 0 or step == o.steps:
                run.save(last, val_pck)
                _write_log(out_dir, run.rows)
            if step >= o.steps:
                break
    losses = [r["loss"] for r in run.rows if "loss" in r]
    return {"step": run.step, "loss": losses[-1] if losses else float("nan"), "val_pck": val_pck,
            "best_val_pck": run.best, "out_dir": str(out_dir)}
