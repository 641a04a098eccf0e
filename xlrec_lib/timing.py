"""Wall-clock timing the same way everywhere (chapters and benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Minimum wall-clock seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed runs.

    The minimum, not the mean: other processes only ever add time, so the fastest run is the closest to what the
    code itself costs, and it moves least between runs on a shared machine.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
