"""HDF5 session store and typed YAML configs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from mv3d.config import config_hash, load_config, save_config, to_dict
from mv3d.errors import ConfigError, InputError
from mv3d.io.store import SessionStore
from mv3d.skeleton import MV3D23
from pipelines.config import PipelineConfig, default_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_store_arrays_attributes_and_timestamps(tmp_path):
    store = SessionStore(tmp_path / "sub" / "trial.h5")
    assert store.names() == [] and store.config_hash("points3d") is None
    pts = np.random.default_rng(0).normal(size=(50, 23, 3))
    t = np.arange(50) / 60
    store.write("triangulation/points3d", pts, units="m", joint_names=MV3D23, timestamps=t, config_hash="abc123")
    store.write("sync/offsets", np.array([0.0, 0.013]), units="s", cameras=["cam1", "cam2"])
    assert store.names() == ["sync/offsets", "triangulation/points3d"]
    np.testing.assert_array_equal(store.read("triangulation/points3d"), pts)
    np.testing.assert_array_equal(store.timestamps("triangulation/points3d"), t)
    attrs = store.attrs("triangulation/points3d")
    assert attrs["units"] == "m" and attrs["joint_names"] == list(MV3D23) and attrs["config_hash"] == "abc123"
    assert store.attrs("sync/offsets")["cameras"] == ["cam1", "cam2"]
    assert store.timestamps("sync/offsets") is None


def test_store_replace_keeps_others_and_does_not_grow(tmp_path):
    store = SessionStore(tmp_path / "trial.h5")
    big = np.random.default_rng(0).normal(size=(2000, 23, 3))
    store.write("keep", np.arange(5))
    for k in range(4):
        store.write("big", big + k, config_hash=str(k))
    size = store.path.stat().st_size
    store.write("big", big + 9, config_hash="9")
    # Rewritten into a fresh file: the size stays that of one copy (HDF5 would keep dead space).
    assert store.path.stat().st_size <= size * 1.05
    assert store.config_hash("big") == "9"
    np.testing.assert_array_equal(store.read("keep"), np.arange(5))
    store.delete("big")
    assert store.names() == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial.h5"]  # no temp files left


def test_store_failed_write_leaves_file_intact(tmp_path):
    store = SessionStore(tmp_path / "trial.h5")
    store.write("a", np.ones(3))
    with pytest.raises(InputError, match="timestamps of shape \\(2,\\) do not match axis 0"):
        store.write_many({"b": (np.zeros(4), {"timestamps": np.zeros(2)}), "a": (np.zeros(3), {})})
    np.testing.assert_array_equal(store.read("a"), np.ones(3))
    assert store.names() == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial.h5"]
    with pytest.raises(InputError, match="no array 'zzz'; arrays: a"):
        store.read("zzz")


def test_default_yaml_is_generated_from_the_dataclasses():
    text = (ROOT / "configs" / "default.yaml").read_text()
    assert text == default_yaml(), "configs/default.yaml is stale: python -m pipelines.config > configs/default.yaml"
    cfg = load_config(ROOT / "configs" / "default.yaml", PipelineConfig)
    assert cfg == PipelineConfig()
    assert cfg.triangulation.filter_cutoff_hz == 6.0 and cfg.triangulation.max_gap == 10
    assert "filter_cutoff_hz: 6.0" in text and "filter: butterworth        # butterworth (zero-lag" in text  # notes


def test_renamed_and_removed_keys_say_what_to_write_instead():
    with pytest.raises(ConfigError, match=r"'keypoints' is no longer a config key: the section was renamed to "
                                          r"'keypoints2d'.*keypoints2d.model: hrnet:PATH"):
        load_config({"keypoints": {"source": "network"}}, PipelineConfig)
    with pytest.raises(ConfigError, match=r"'triangulation.filter_order' is no longer a config key"):
        load_config({"triangulation": {"filter_order": 4}}, PipelineConfig)
    with pytest.raises(ConfigError, match=r"keypoints2d.model 'Not A Spec' is not a model spec"):
        load_config({"keypoints2d": {"model": "Not A Spec"}}, PipelineConfig)


def test_config_partial_override_and_int_for_float(tmp_path):
    path = tmp_path / "session.yaml"
    path.write_text("triangulation:\n  filter_cutoff_hz: 8\n  method: volumetric\nsync:\n  reference_camera: cam2\n")
    cfg = load_config(path, PipelineConfig)
    assert cfg.triangulation.filter_cutoff_hz == 8.0 and isinstance(cfg.triangulation.filter_cutoff_hz, float)
    assert cfg.triangulation.method == "volumetric" and cfg.sync.reference_camera == "cam2"
    assert cfg.kinematics.ik_accuracy == 1e-5 and cfg.kinematics.model == "builtin"  # untouched sections keep their defaults
    assert config_hash(cfg) != config_hash(PipelineConfig())
    out = save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(out, PipelineConfig) == cfg
    assert to_dict(cfg)["triangulation"]["method"] == "volumetric"


@pytest.mark.parametrize("text,message", [
    ("triangulation:\n  maxgap: 3\n", "unknown key 'triangulation.maxgap'; known keys here: method,"),
    ("triangulation:\n  max_gap: ten\n", "triangulation.max_gap: expected an integer, got str 'ten'"),
    ("triangulation:\n  max_gap: 2.5\n", "triangulation.max_gap: expected an integer, got float 2.5"),
    ("kinematics:\n  ik_accuracy: yes\n", "kinematics.ik_accuracy: expected a number, got bool True"),
    ("triangulation:\n  method: magic\n", "triangulation.method: expected one of 'algebraic', 'volumetric'"),
    ("sync: 3\n", "sync: expected a section (mapping) of SyncConfig, got int 3"),
    ("colour: red\n", "unknown key 'colour'"),
])
def test_config_errors_name_file_and_dotted_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, PipelineConfig)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


@dataclass
class Inner:
    weights: tuple[float, ...] = (1.0,)


@dataclass
class Outer:  # config classes live at module level so their annotations resolve
    cams: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    table: dict[str, int] = field(default_factory=dict)


def test_config_nested_containers():
    cfg = load_config({"cams": ["a", "b"], "inner": {"weights": [1, 2.5]}, "table": {"x": 1}}, Outer)
    assert cfg.cams == ["a", "b"] and cfg.inner.weights == (1.0, 2.5) and cfg.table == {"x": 1}
    with pytest.raises(ConfigError, match=r"inner.weights\[1\]: expected a number, got str 'x'"):
        load_config({"inner": {"weights": [1, "x"]}}, Outer)
    with pytest.raises(ConfigError, match=r"table.x: expected an integer"):
        load_config({"table": {"x": "1"}}, Outer)
