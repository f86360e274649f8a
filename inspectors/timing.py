"""Honest execution timing: warm-up, timeit-style autorange, robust statistics."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import jax

from inspectors.results import Timing

AUTORANGE_TARGET_S = 0.02
MAX_REPEAT = 200
MIN_REPEAT = 3


def _run(call: Callable[[], object], number: int) -> float:
    """Return seconds for `number` calls, each waited on with block_until_ready."""
    start = time.perf_counter()
    for _ in range(number):
        jax.block_until_ready(call())
    return time.perf_counter() - start


def autorange(call: Callable[[], object], target_s: float = AUTORANGE_TARGET_S) -> int:
    """Return the calls per repetition, 1, 2, 5, 10, 20, ... until one takes `target_s`."""
    number = 1
    while True:
        for step in (1, 2, 5):
            n = number * step
            if _run(call, n) >= target_s or n >= 10**6:
                return n
        number *= 10


def time_calls(call: Callable[[], object], device: str, budget_s: float = 1.0) -> Timing:
    """Time `call` on its device within about `budget_s` seconds."""
    start = time.perf_counter()
    first = _run(call, 1)  # the warm-up call: first dispatch, transfers, caches
    number = autorange(call)
    per_rep = max(_run(call, number), 1e-9)
    spent = time.perf_counter() - start
    repeat = int(max(MIN_REPEAT, min(MAX_REPEAT, (budget_s - spent) / per_rep)))
    samples = sorted(_run(call, number) / number for _ in range(repeat))
    q = statistics.quantiles(samples, n=10, method="inclusive") if len(samples) > 1 else samples * 9
    quartiles = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else samples * 3
    median = statistics.median(samples)
    return Timing(
        device=device,
        number=number,
        repeat=repeat,
        first_call_s=first,
        min_s=samples[0],
        median_s=median,
        p90_s=q[8],
        mean_s=statistics.fmean(samples),
        stdev_s=statistics.stdev(samples) if len(samples) > 1 else 0.0,
        spread=(quartiles[2] - quartiles[0]) / median if median else 0.0,
    )
