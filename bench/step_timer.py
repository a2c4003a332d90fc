"""Time optimization steps inside any library's own loop, without touching its code.

A global `torch.optim` step post-hook stamps the clock after every optimizer step; the gap
between two stamps is one whole step (transforms, parameterization, forward, backward, update).
"""
from __future__ import annotations

import contextlib
import itertools
import statistics
import time

from torch.optim.optimizer import register_optimizer_step_post_hook


@contextlib.contextmanager
def step_times():
    """`with step_times() as gaps: run()`: `gaps[k]` = seconds of step k+1 (step 0 has no gap)."""
    stamps: list[float] = []
    handle = register_optimizer_step_post_hook(lambda *_: stamps.append(time.perf_counter()))
    gaps: list[float] = []
    try:
        yield gaps
    finally:
        handle.remove()
        gaps.extend(b - a for a, b in itertools.pairwise(stamps))


def timed_loop(step, n: int) -> list[float]:
    """Seconds of each of `n` calls of `step()` (for loops without an optimizer, e.g. the floor)."""
    gaps = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        gaps.append(time.perf_counter() - start)
    return gaps


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")
