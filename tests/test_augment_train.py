"""Training-pair synthesis, a tiny training run, saved weights and the ``mv3d augment`` CLI."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from mv3d.augment import Augmenter
from mv3d.augment.markers import LOWER_OUTPUTS, MV3D_TO_OPENCAP, UPPER_OUTPUTS
from mv3d.augment.synth import PairSet, SynthConfig, cached_pairs
from mv3d.augment.train import AugmenterTrainConfig, train, train_from_config
from mv3d.config import load_config
from mv3d.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def synth_config(shared_data):
    models, motions = shared_data / "opencap" / "models", shared_data / "opencap" / "motions"
    return SynthConfig(model=str(models / "LaiUhlrich2022.osim"),
                       marker_files=[str(models / "LaiUhlrich2022_markers_openpose.xml"),
                                     str(models / "LaiUhlrich2022_markers_augmenter.xml")],
                       motions=[str(motions / "walking1_videoAndMocap.mot")], n_subjects=2,
                       random_clips_per_subject=1, random_clip_seconds=3.0, seed=3)


@pytest.fixture(scope="module")
def pairs(synth_config, tmp_path_factory):
    cache = tmp_path_factory.mktemp("pairs") / "pairs.npz"
    first = cached_pairs(synth_config, cache, progress=False)
    assert cache.is_file()
    return first, cache


def test_synthesized_pairs(pairs, synth_config):
    p, cache = pairs
    slices = p.clip_slices()
    assert p.clip_motion == ["walking1", "random", "walking1", "random"]
    assert p.keypoints.shape == (len(p.clip), 20, 3) and p.markers.shape == (len(p.clip), 43, 3)
    assert p.marker_names == list(LOWER_OUTPUTS + UPPER_OUTPUTS)
    assert np.isfinite(p.keypoints).all() and np.isfinite(p.markers).all()
    # walking1 spans 1.57 s of OpenCap IK at 100 Hz -> 95 frames at 60 Hz; random clips 3 s.
    assert [s.stop - s.start for s in slices] == [95, 180, 95, 180]
    k = p.keypoint_names.index
    # midHip of the keypoint set is the midpoint of RHip/LHip by construction (same pelvis point, z mirrored).
    np.testing.assert_allclose(p.keypoints[:, k("midHip")], 0.5 * (p.keypoints[:, k("RHip")] + p.keypoints[:, k("LHip")]),
                               atol=1e-9)
    # Subjects are scaled: the hip width (0.1895 m in the generic model, whose standing height by
    # synth's convention is 1.686 m) follows the subject's height ratio within the +-5 % jitter
    # of the pelvis segment group.
    generic, generic_height = 2 * 0.09476, 1.6865
    for c, sl in enumerate(slices):
        width = np.linalg.norm(p.keypoints[sl, k("RHip")] - p.keypoints[sl, k("LHip")], axis=-1)
        assert np.ptp(width) < 1e-9  # rigid pelvis
        ratio = width[0] / generic / (p.clip_height[c] / generic_height)
        assert 0.949 < ratio < 1.051
        assert synth_config.height_range[0] <= p.clip_height[c] <= synth_config.height_range[1]
        assert 18.5 <= p.clip_mass[c] / p.clip_height[c] ** 2 <= 32.0
    again = cached_pairs(synth_config, cache, progress=False)  # read back, not redone
    np.testing.assert_allclose(again.markers, p.markers, atol=1e-6)  # float32 cache


@pytest.fixture(scope="module")
def trained(pairs, tmp_path_factory):
    p, _ = pairs
    cfg = AugmenterTrainConfig(out_dir=str(tmp_path_factory.mktemp("train")), hidden=32, layers=1, window=60,
                      batch_size=8, lr=3e-3, max_steps=60, eval_every=30, val_motions=["walking1"], seed=0)
    return train(p, cfg, progress=False)


def test_tiny_training_decreases_loss(trained):
    losses = [h["loss"] for h in trained.history if "loss" in h]
    # 60 Adam steps of a small LSTM from scratch: the normalised loss falls by far more than
    # its batch-to-batch noise (measured ~4x); an untrained or frozen net would stay flat.
    assert losses[-1] < 0.5 * losses[0]
    vals = [h["val_rmse_mm"] for h in trained.history if "val_rmse_mm" in h]
    assert vals[0] == trained.history[0]["val_rmse_mm"] and min(vals[1:]) < vals[0]
    assert trained.weights_path.is_file() and trained.curve_path.stat().st_size > 1000
    card = trained.card_path.read_text()
    assert "validation RMSE" in card and f"{trained.val_rmse_mm:.1f} mm" in card


def test_saved_weights_roundtrip(trained, pairs):
    p, _ = pairs
    loaded = Augmenter.load(trained.weights_path)
    assert loaded.marker_names == trained.augmenter.marker_names
    sl = p.clip_slices()[0]
    a, _ = loaded.augment(p.keypoints[sl], p.keypoint_names, p.clip_height[0], p.clip_mass[0])
    b, _ = trained.augmenter.augment(p.keypoints[sl], p.keypoint_names, p.clip_height[0], p.clip_mass[0])
    # the network weights are stored in fp16: markers move by a fraction of a millimetre (this briefly
    # trained network: 0.22 mm at most; the shipped one 0.08 mm); a wrong layout moves them by cm
    np.testing.assert_allclose(a, b, rtol=0, atol=5e-4)
    assert np.abs(a - b).mean() < 1e-4


def _write_mv3d_trc(path, p: PairSet, clip: int) -> None:
    from mv3d.io.trc import write_trc

    sl = p.clip_slices()[clip]
    inverse = {v: k for k, v in MV3D_TO_OPENCAP.items()}
    names = [inverse[n] for n in p.keypoint_names]
    write_trc(path, p.keypoints[sl], names, np.arange(sl.stop - sl.start) / 60.0)


def test_cli_augment_end_to_end(pairs, trained, shared_data, tmp_path):
    from mv3d.io.trc import read_trc
    from pipelines.cli import cli

    p, _ = pairs
    trc_in, trc_out = tmp_path / "walk.trc", tmp_path / "walk_aug.trc"
    _write_mv3d_trc(trc_in, p, clip=2)  # walking of subject 1, MV3D25 names, metres
    h, m = p.clip_height[2], p.clip_mass[2]
    weights = f"opencap-v0.3:{shared_data / 'opencap' / 'augmenter'}"
    res = CliRunner().invoke(cli, ["augment", str(trc_in), "--height", f"{h:.4f}", "--mass", f"{m:.2f}",
                                   "--weights", weights, "--out", str(trc_out)])
    assert res.exit_code == 0, res.output
    out = read_trc(trc_out)
    assert out.marker_names[:20] == read_trc(trc_in).marker_names
    assert out.marker_names[20:] == list(LOWER_OUTPUTS + UPPER_OUTPUTS)
    sl = p.clip_slices()[2]
    np.testing.assert_allclose(out.points[:, :20], p.keypoints[sl], atol=1e-8)
    err = np.linalg.norm(out.points[:, 20:] - p.markers[sl], axis=-1)
    # OpenCap v0.3 vs this model's own markers on a scaled subject: a few cm (see test_augment_augmenter).
    assert err.mean() < 0.04

    res = CliRunner().invoke(cli, ["augment", str(trc_in), "--height", "1.7", "--mass", "70",
                                   "--weights", str(trained.weights_path), "--out", str(tmp_path / "b.trc")])
    assert res.exit_code == 0, res.output
    assert len(read_trc(tmp_path / "b.trc").marker_names) == 63


def test_cli_bad_inputs(pairs, trained, tmp_path):
    from mv3d.io.trc import read_trc, write_trc
    from pipelines.cli import cli

    p, _ = pairs
    trc_in = tmp_path / "walk.trc"
    _write_mv3d_trc(trc_in, p, clip=0)
    w = ["--weights", str(trained.weights_path), "--out", str(tmp_path / "o.trc")]
    res = CliRunner().invoke(cli, ["augment", str(trc_in), "--mass", "70", *w])
    assert isinstance(res.exception, InputError) and "height must be given" in str(res.exception)
    res = CliRunner().invoke(cli, ["augment", str(trc_in), "--height", "1750", "--mass", "70", *w])
    assert isinstance(res.exception, InputError) and "millimetres" in str(res.exception)
    trc = read_trc(trc_in)
    drop = [i for i, n in enumerate(trc.marker_names) if n not in ("r_knee", "l_small_toe")]
    write_trc(tmp_path / "few.trc", trc.points[:, drop], [trc.marker_names[i] for i in drop], trc.times)
    res = CliRunner().invoke(cli, ["augment", str(tmp_path / "few.trc"), "--height", "1.7", "--mass", "70", *w])
    assert isinstance(res.exception, InputError)
    assert "few.trc" in str(res.exception) and "RKnee (mv3d: r_knee), LSmallToe (mv3d: l_small_toe)" in str(res.exception)
    assert not (tmp_path / "o.trc").exists()
    res = CliRunner().invoke(cli, ["augment", str(trc_in), "--height", "1.7", "--mass", "70",
                                   "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o.trc")])
    assert isinstance(res.exception, InputError) and "none.pt not found" in str(res.exception)


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlearning_rate: 0.1\nsynth: {model: m.osim}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'learning_rate'"):
        load_config(bad, AugmenterTrainConfig)
    bad.write_text("name: x\n")
    with pytest.raises(ConfigError, match="'synth' section"):
        train_from_config(load_config(bad, AugmenterTrainConfig))


def test_shipped_config_loads():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "configs" / "augmenter" / "laiuhlrich2022.yaml", AugmenterTrainConfig).relative_to(root)
    assert cfg.val_motions == ["squats1"] and cfg.synth.n_subjects > 0
    assert cfg.synth.mocap_trials[0]["trc"].endswith("motion_capture_walk.trc")
    assert cfg.compare_weights.startswith("opencap-v0.3:") and cfg.compare_weights.endswith("augmenter")
    assert cfg.synth.model.endswith("LaiUhlrich2022.osim")
