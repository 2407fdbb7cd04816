"""A camera rig as torch tensors: differentiable projection with OpenCV distortion."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from mv3d.camera import CameraRig


@dataclass
class TorchRig:
    """Stacked camera parameters: K (C, 3, 3), dist (C, 5), R (C, 3, 3) world->camera, t (C, 3)."""

    K: torch.Tensor
    dist: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor

    @classmethod
    def from_rig(cls, rig: CameraRig, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
                 ) -> TorchRig:
        def tensor(a):
            return torch.as_tensor(a, dtype=dtype, device=device)

        return cls(tensor(rig.K), tensor(rig.dist), tensor(rig.R), tensor(rig.t))

    def __len__(self) -> int:
        return self.K.shape[0]

    def project(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (..., 3) -> pixels (C, ..., 2) with distortion, and depths (C, ...)."""
        C = len(self)
        flat = X.reshape(-1, 3)
        Xc = torch.einsum("cij,nj->cni", self.R, flat) + self.t[:, None, :]
        z = Xc[..., 2]
        xy = Xc[..., :2] / z.clamp_min(1e-6)[..., None]
        k1, k2, p1, p2, k3 = (self.dist[:, i, None] for i in range(5))
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        u = self.K[:, 0, 0, None] * xd + self.K[:, 0, 1, None] * yd + self.K[:, 0, 2, None]
        v = self.K[:, 1, 1, None] * yd + self.K[:, 1, 2, None]
        uv = torch.stack([u, v], dim=-1)
        return uv.reshape((C,) + X.shape[:-1] + (2,)), z.reshape((C,) + X.shape[:-1])


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (restored after).

    The per-point work of triangulation is small and element-wise: on a busy machine,
    intra-op threads cost far more in synchronisation than they save (measured 30x slower
    for 14k-point projections on 2 shared cores).
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
