"""``mv3d augment``: video keypoints (TRC) -> keypoints + anatomical markers (TRC); ``mv3d train augmenter``."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli_groups import subgroup


def register(cli: click.Group) -> None:
    """Add ``augment`` and ``train augmenter`` to the mv3d command line."""

    @cli.command("augment")
    @click.argument("trc_in", type=click.Path(dir_okay=False))
    @click.option("--height", type=float, default=None, help="Subject height in metres (e.g. 1.75).")
    @click.option("--mass", type=float, default=None, help="Subject mass in kg.")
    @click.option("--weights", default=None,
                  help="opencap-v0.3:DIR (OpenCap's Keras model folders) or FILE.pt (mv3d-trained). "
                       "Default: data/weights/augmenter_laiuhlrich2022.pt.")
    @click.option("--out", "trc_out", required=True, type=click.Path(dir_okay=False),
                  help="Output TRC: input keypoints plus predicted markers.")
    @click.option("--max-gap", type=int, default=12, show_default=True,
                  help="Interpolate keypoint gaps up to this many frames.")
    @click.option("--long-gaps", type=click.Choice(["error", "split"]), default="error", show_default=True,
                  help="Longer gaps: stop with an error, or augment each complete stretch (markers NaN in gaps).")
    @click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda).")
    def augment(trc_in: str, height: float | None, mass: float | None, weights: str | None, trc_out: str,
                max_gap: int, long_gaps: str, device: str) -> None:
        """Predict anatomical markers from the video keypoints of TRC_IN (metres, Y up)."""
        import numpy as np

        from mv3d.augment.augmenter import check_subject
        from mv3d.augment.weights import load_augmenter
        from mv3d.io.trc import read_trc, write_trc

        check_subject(height, mass)
        trc = read_trc(trc_in)
        augmenter = load_augmenter(weights, max_gap=max_gap, long_gaps=long_gaps).to(device)
        markers, names = augmenter.augment(trc.points, trc.marker_names, height, mass,
                                           frame_numbers=trc.frame_numbers, source=trc_in)
        clash = sorted(set(names) & set(trc.marker_names))
        keep = [i for i, n in enumerate(trc.marker_names) if n not in clash]
        points = np.concatenate([trc.points[:, keep], markers], axis=1)
        all_names = [trc.marker_names[i] for i in keep] + names
        write_trc(trc_out, points, all_names, trc.times, rate=trc.rate, frame_numbers=trc.frame_numbers)
        click.echo(f"{trc_out}: {len(keep)} keypoints + {len(names)} markers, {len(points)} frames "
                   f"({augmenter.source})")

    train = subgroup(cli, "train", "Train networks (2D pose, marker augmenter).")

    @train.command("augmenter")
    @click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
                  help="YAML training config (see configs/augmenter/).")
    @click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
                  help="Output folder (default: the config's out_dir).")
    def train_augmenter(config_path: str, out_dir: str | None) -> None:
        """Synthesize training pairs (cached) and train a lower+upper body marker augmenter."""
        from mv3d.augment.train import AugmenterTrainConfig, train_from_config
        from mv3d.config import load_config
        from mv3d.resources import source_root

        config = load_config(config_path, AugmenterTrainConfig).relative_to(source_root() or Path.cwd())
        result = train_from_config(config, out_dir=out_dir)
        click.echo(f"weights: {result.weights_path}\nmodel card: {result.card_path}\n"
                   f"validation RMSE: {result.val_rmse_mm:.1f} mm")
