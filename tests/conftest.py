"""Shared test fixtures: the path of the real reference data in ../shared/data, simulated sessions, one torch thread."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip when the shared reference data is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real reference data not found at {SHARED_DATA} (../shared/data is absent)")
    return SHARED_DATA


def simulated_session(out: Path, seed: int, seconds: float = 3.0, video: bool = False, rig: str = "opencap2",
                      motion: str = "squat") -> Path:
    """An OpenCap-layout session made by the simulator (small 360 px images; ``video=False``: the
    detections only, as ``mv3d simulate --no-video`` writes them)."""
    from calibration import save_rig
    from mv3d.simulate.session import SimulationConfig, simulate, write_session

    sim = simulate(SimulationConfig(motion=motion, seconds=seconds, rig=rig, resolution=360, seed=seed))
    write_session(sim, out, video=video, calibration_writer=lambda r, folder: save_rig(r, folder, format="opencap"))
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): the
    suite runs two workers on two cores, where spinning OpenMP threads slow every network call several-fold."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
