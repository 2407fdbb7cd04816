"""Figures of a video-vs-mocap comparison (matplotlib, Agg backend): overlays and a summary bar chart."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mv3d.io.atomic import atomic_path
from mv3d.kinematics.compare import MotComparison
from mv3d.plotting import pyplot


def _save(fig: object, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def plot_comparison(result: MotComparison, out_dir: str | os.PathLike) -> dict[str, Path]:
    """One overlay PNG per coordinate (mocap, shifted video, the band between them, the error) and
    ``summary.png`` (RMSE and |bias| per rotational coordinate). Returns name -> path."""
    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    t = result.times
    for j, name in enumerate(result.coordinates):
        unit = "m" if name in result.translations else "deg"
        m = result.metrics[name]
        fig, (ax, ax_e) = plt.subplots(2, 1, figsize=(7, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        ax.plot(t, result.mocap[:, j], color="k", lw=1.6, label="mocap")
        ax.plot(t, result.video[:, j], color="tab:orange", lw=1.4, label="video (aligned)")
        ax.fill_between(t, result.mocap[:, j], result.video[:, j], color="tab:red", alpha=0.25, label="difference")
        ax.set_ylabel(f"{name} [{unit}]")
        ax.set_title(f"{name}: RMSE {m['rmse']:.3g} {unit}, bias {m['bias']:.3g} {unit}, r {m['pearson_r']:.3f}, "
                     f"CMC {m['cmc']:.3f}", fontsize=9)
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
        err = result.video[:, j] - result.mocap[:, j]
        ax_e.fill_between(t, m["bias"] - m["rmse"], m["bias"] + m["rmse"], color="tab:red", alpha=0.15,
                          label="bias ± RMSE")
        ax_e.plot(t, err, color="tab:red", lw=1.0, label="video - mocap")
        ax_e.axhline(0.0, color="k", lw=0.6)
        ax_e.set_xlabel(f"mocap time [s] (video shifted by {result.alignment.shift_s * 1000:.1f} ms)")
        ax_e.set_ylabel(f"error [{unit}]")
        ax_e.legend(fontsize=7, loc="upper right")
        ax_e.grid(alpha=0.3)
        fig.tight_layout()
        paths[name] = _save(fig, out / f"{name}.png")
        plt.close(fig)

    rot = [c for c in result.coordinates if c not in result.translations]
    if rot:
        rmse = np.array([result.metrics[c]["rmse"] for c in rot])
        bias = np.abs(np.array([result.metrics[c]["bias"] for c in rot]))
        fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(rot) + 2), 4))
        x = np.arange(len(rot))
        ax.bar(x - 0.2, rmse, width=0.4, label="RMSE", color="tab:blue")
        ax.bar(x + 0.2, bias, width=0.4, label="|bias|", color="tab:gray")
        ax.set_xticks(x, rot, rotation=70, ha="right", fontsize=8)
        ax.set_ylabel("deg")
        ax.set_title(f"video vs mocap, {len(rot)} coordinates (mean RMSE {np.nanmean(rmse):.2f} deg)")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        paths["summary"] = _save(fig, out / "summary.png")
        plt.close(fig)
    return paths
