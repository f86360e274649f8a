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


def time_calls(call: Callable[[], object], device: str, budget_s: float = 1.0, first_s: float | None = None) -> Timing:
    """Time `call` on its device within about `budget_s` seconds.

    `first_s` is a call already made (the warm-up the caller ran for the outputs). A big model
    whose one call takes longer than the budget is timed with fewer calls, and the note says so
    ("1 call of 15.2 s; the 1 s budget allows no repeats"): the budget is kept, never stretched.
    """
    start = time.perf_counter()
    first = _run(call, 1) if first_s is None else first_s  # the warm-up call: first dispatch, transfers, caches
    spent = 0.0 if first_s is None else first_s
    if first + spent >= budget_s:  # no second call fits: the one call made is the timing
        return _timing(device, [first], 1, first, _few_note(1, first, budget_s))
    number = autorange(call) if first < AUTORANGE_TARGET_S else 1
    per_rep = max(_run(call, number), 1e-9)
    spent += time.perf_counter() - start
    fits = int((budget_s - spent) / per_rep)
    # Fewer than MIN_REPEAT only for calls that are long themselves (one call per repetition):
    # a fast call's repetitions cost little, whatever autorange spent finding their length.
    least = MIN_REPEAT if number > 1 else min(MIN_REPEAT, max(fits, 1))
    repeat = int(max(least, min(MAX_REPEAT, fits)))
    samples = sorted(_run(call, number) / number for _ in range(repeat))
    note = _few_note(repeat, per_rep / number, budget_s) if repeat < MIN_REPEAT else ""
    return _timing(device, samples, number, first, note)


def _few_note(calls: int, each_s: float, budget_s: float) -> str:
    """Say that the budget allowed fewer calls than a robust timing wants."""
    allows = "no repeats" if calls == 1 else f"only {calls} repeats"
    return f"{calls} call{'s' if calls != 1 else ''} of {each_s:.3g} s; the {budget_s:g} s budget allows {allows}"


def _timing(device: str, samples: list[float], number: int, first: float, note: str) -> Timing:
    """Summarise per-call samples (sorted) as a Timing."""
    repeat = len(samples)
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
        note=note,
    )
