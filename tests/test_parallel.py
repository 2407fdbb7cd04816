"""mv3d.parallel.for_chunks: every item once, results as the serial loop, errors raised."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.parallel import default_threads, for_chunks


@pytest.mark.parametrize("n, chunk, threads", [(10, 3, 2), (10, 20, 2), (0, 5, 2), (1000, 7, 4), (9, 3, 1)])
def test_every_item_once(n, chunk, threads):
    hits = np.zeros(n, int)
    sizes = []

    def work(sl: slice) -> None:
        hits[sl] += 1
        sizes.append(sl.stop - sl.start)

    for_chunks(work, n, chunk, threads)
    assert np.all(hits == 1)
    assert all(0 < s <= chunk for s in sizes)


def test_threaded_numpy_equals_serial():
    x = np.random.default_rng(0).normal(size=(200_000, 3))
    serial = np.sqrt((x ** 2).sum(-1))
    out = np.empty(len(x))

    def norm(sl: slice) -> None:
        out[sl] = np.sqrt((x[sl] ** 2).sum(-1))

    for_chunks(norm, len(x), 30_000, 2)
    assert np.array_equal(out, serial)


def test_errors_of_a_chunk_are_raised():
    def work(sl: slice) -> None:
        if sl.start >= 6:
            raise ValueError(f"bad chunk {sl.start}")

    with pytest.raises(ValueError, match="bad chunk"):
        for_chunks(work, 10, 3, 2)


def test_default_threads_bounded():
    assert 1 <= default_threads() <= 4
