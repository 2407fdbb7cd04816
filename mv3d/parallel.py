"""Run a function over chunks of a long axis in a small thread pool.

numpy releases the GIL inside its array loops, so batched array code over chunks of
tens of thousands of points uses every core from threads, with no copies between
processes. Results land in arrays the caller allocated (each chunk writes its own slice).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def default_threads() -> int:
    """Threads for array work: the cores this process may use, at most 4."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def for_chunks(fn: Callable[[slice], None], n: int, chunk: int, threads: int | None = None) -> None:
    """Call fn(slice) for consecutive slices of range(n) of at most ``chunk`` items.

    threads: pool size (None: ``default_threads()``); 1, or a single chunk, runs inline.
    Exceptions of any chunk are raised here.
    """
    slices = [slice(s, min(s + chunk, n)) for s in range(0, n, max(1, chunk))]
    threads = default_threads() if threads is None else threads
    if threads <= 1 or len(slices) <= 1:
        for sl in slices:
            fn(sl)
        return
    with ThreadPoolExecutor(max_workers=min(threads, len(slices))) as pool:
        for future in [pool.submit(fn, sl) for sl in slices]:
            future.result()
