"""The marker-augmenter network and one body part's model (features in, markers out).

A body part (OpenCap: lower body, upper body) maps K video keypoints to M
anatomical markers. Its input features per frame are, as in OpenCap: the K
keypoints relative to the reference keypoint (``midHip``) divided by the
subject's height (3K values, x, y, z per keypoint), then height (m) and mass
(kg); z-scored with stored ``mean``/``std``. The network (stacked LSTM + per-frame
linear head) outputs 3M values per frame: markers relative to the reference,
divided by height, which are de-normalised back to world metres.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mv3d.augment.markers import REFERENCE
from mv3d.errors import InputError


class MarkerLSTM(nn.Module):
    """Stacked LSTM + per-frame linear head: (B, T, n_inputs) -> (B, T, n_outputs).

    bidirectional: each frame also sees the frames after it (offline use; no lag on fast
    movements). OpenCap's networks are one-directional.
    """

    def __init__(self, n_inputs: int, n_outputs: int, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.n_inputs, self.n_outputs, self.hidden, self.layers = n_inputs, n_outputs, hidden, layers
        self.bidirectional = bidirectional
        self.lstm = nn.LSTM(n_inputs, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, n_inputs) z-scored features -> (B, T, n_outputs)."""
        out, _ = self.lstm(x)
        return self.head(out)

    def config(self) -> dict[str, int | bool]:
        """Constructor arguments (for saving and rebuilding)."""
        return {"n_inputs": self.n_inputs, "n_outputs": self.n_outputs, "hidden": self.hidden,
                "layers": self.layers, "bidirectional": self.bidirectional}


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Temporarily use ``n`` torch CPU threads (None: leave the setting alone)."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def keypoint_features(keypoints: np.ndarray, reference: np.ndarray, height: float, mass: float) -> np.ndarray:
    """Un-normalised input features of one body part.

    keypoints: (F, K, 3) world metres, in the model's input order; reference: (F, 3) midHip.
    Returns (F, 3K + 2): (keypoints - reference) / height flattened x, y, z per keypoint,
    then height and mass in every frame.
    """
    rel = (keypoints - reference[:, None, :]) / height
    n = rel.shape[0]
    return np.concatenate([rel.reshape(n, -1), np.full((n, 1), height), np.full((n, 1), mass)], axis=1)


@dataclass
class BodyPartModel:
    """One body part's augmenter: names, normalisation statistics and network.

    input_names: K keypoint names (OpenCap style); output_names: M marker names;
    mean, std: (3K + 2,) feature statistics; reference: keypoint subtracted from inputs.
    """

    name: str
    network: MarkerLSTM
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    reference: str = REFERENCE

    def __post_init__(self) -> None:
        n_feat = 3 * len(self.input_names) + 2
        if self.mean.shape != (n_feat,) or self.std.shape != (n_feat,):
            raise InputError(f"augmenter part {self.name!r}: mean/std must have shape ({n_feat},) for "
                             f"{len(self.input_names)} keypoints, got {self.mean.shape} and {self.std.shape}")
        if self.network.n_inputs != n_feat or self.network.n_outputs != 3 * len(self.output_names):
            raise InputError(f"augmenter part {self.name!r}: network maps {self.network.n_inputs} -> "
                             f"{self.network.n_outputs} values but the part has {n_feat} features and "
                             f"{len(self.output_names)} markers (x3)")
        if np.any(self.std <= 0):
            raise InputError(f"augmenter part {self.name!r}: std must be positive")

    def normalise(self, features: np.ndarray) -> np.ndarray:
        """(F, 3K + 2) raw features -> z-scored features."""
        return (features - self.mean) / self.std

    def predict(self, keypoints: np.ndarray, reference: np.ndarray, height: float, mass: float,
                threads: int | None = 1) -> np.ndarray:
        """Markers of one continuous, gap-free trial.

        keypoints: (F, K, 3) world metres in ``input_names`` order; reference: (F, 3).
        threads: torch CPU threads while predicting (None: torch's setting). The LSTM steps
        through time with small matrix products, so 1 thread is as fast on an idle machine
        and avoids OpenMP oversubscription (10x slower) on a loaded one.
        Returns (F, M, 3) world metres (network output x height + reference).
        """
        z = self.normalise(keypoint_features(keypoints, reference, height, mass))
        param = next(self.network.parameters())
        with torch.no_grad(), cpu_threads(threads if param.device.type == "cpu" else None):
            x = torch.as_tensor(z[None], dtype=param.dtype, device=param.device)
            raw = self.network(x)[0].double().cpu().numpy()
        return raw.reshape(len(raw), -1, 3) * height + reference[:, None, :]
