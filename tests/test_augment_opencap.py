"""OpenCap's published v0.3 augmenter loaded into torch: exactness and shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mv3d.augment import load_opencap_part, load_opencap_weights
from mv3d.augment.markers import LOWER_INPUTS, LOWER_OUTPUTS, UPPER_INPUTS, UPPER_OUTPUTS
from mv3d.errors import InputError


@pytest.fixture(scope="module")
def augmenter_dir(shared_data):
    return shared_data / "opencap" / "augmenter"


@pytest.mark.parametrize("part, n_in, n_out", [("lower", 47, 105), ("upper", 23, 24)])
def test_reproduces_keras_reference_output(augmenter_dir, part, n_in, n_out):
    ref = np.load(augmenter_dir / "opencap_augmenter_v0.3_reference_io.npz")
    x, y = ref[f"{part}_input_normalized"], ref[f"{part}_output"]
    assert x.shape == (1, 150, n_in) and y.shape == (1, 150, n_out)
    net = load_opencap_weights(augmenter_dir / f"v0.3_{part}")
    with torch.no_grad():
        out = net(torch.from_numpy(x)).numpy()
    # The reference is the Keras network's float32 output; a gate-order, transpose or bias
    # mistake gives errors of order 0.1 (outputs are ~0.4 at most), float32 rounding ~1e-7.
    np.testing.assert_allclose(out, y, atol=1e-4, rtol=0)
    assert np.abs(out - y).max() < 1e-5


@pytest.mark.parametrize("part, n_in, n_out", [("lower", 47, 105), ("upper", 23, 24)])
def test_module_maps_batches_of_sequences(augmenter_dir, part, n_in, n_out):
    net = load_opencap_weights(augmenter_dir / f"v0.3_{part}")
    assert isinstance(net, torch.nn.Module) and not net.training
    x = torch.randn(3, 17, n_in, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(x)
        single = net(x[1:2])
    assert out.shape == (3, 17, n_out)
    # Sequences of a batch are independent: item 1 alone gives the same output.
    torch.testing.assert_close(out[1:2], single, atol=1e-6, rtol=0)


def test_part_names_and_statistics(augmenter_dir):
    lower = load_opencap_part(augmenter_dir / "v0.3_lower")
    upper = load_opencap_part(augmenter_dir / "v0.3_upper")
    assert lower.input_names == LOWER_INPUTS and len(LOWER_INPUTS) == 15
    assert lower.output_names == LOWER_OUTPUTS and len(LOWER_OUTPUTS) == 35
    assert upper.input_names == UPPER_INPUTS and len(UPPER_INPUTS) == 7
    assert upper.output_names == UPPER_OUTPUTS and len(UPPER_OUTPUTS) == 8
    assert lower.reference == upper.reference == "midHip"
    # The last two features are height (m) and mass (kg): their training means must look like
    # an adult population (OpenCap's ~1.70 m, ~66 kg); the keypoint features are ~0.1-0.35.
    for part in (lower, upper):
        assert 1.5 < part.mean[-2] < 1.9 and 50 < part.mean[-1] < 90
        assert np.abs(part.mean[:-2]).max() < 0.5
    # Neck (first input) lies above midHip: positive mean y over height (~0.19).
    assert 0.1 < lower.mean[1] < 0.3


def test_missing_files_are_named(tmp_path):
    (tmp_path / "v0.3_lower").mkdir()
    with pytest.raises(InputError, match=r"model\.json not found"):
        load_opencap_weights(tmp_path / "v0.3_lower")
