"""What placing equations on their printed jaxpr lines costs, on jaxprs of about 12,000 equations.

    .venv/bin/python benchmarks/placement.py [--iters 1335] [--repeat 3]

Programs: the grad of a loop unrolled N times (9 equations an iteration in JAX 0.10: about
12,000 for the default N), the same under `jax.jit` (one sub-jaxpr of 12,000 equations, which
JAX hoists to the top of the text as `let loss = { lambda ... } in`), and a jitted step called
twice (a sub-jaxpr printed once, referenced twice). Each row: equations in the model, seconds to
print through JAX's printer (`PrintedJaxpr`: the text and, since the placement moved there, every
equation's lines and text), seconds to build the model (`model_of`, placement included), and
placed equations. Medians of `--repeat` runs.

Measured (2 shared cores, load 1.5-2, December 2026), before → after the placement moved into the
printer: placed 12,017 → 12,017, 1 → 12,018 and 3 → 12,013 equations; print 0.18-0.25 s → 0.30-0.47 s,
model 0.70-0.91 s → 0.62-0.90 s (it no longer re-prints each equation). The old text scan alone took
0.03-0.06 s; the source-map pass that replaced it 0.03 s at 12,000 equations, 0.06 s at 24,000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from inspectors._jax_private import PrintedJaxpr  # noqa: E402
from inspectors.jaxpr_model import model_of  # noqa: E402
from inspectors.results import walk  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_scale import UNROLLED  # noqa: E402 - the same unrolled loop as the graph benchmark


def _loss(iters: int):
    """Return the user's loss of a loop unrolled `iters` times, compiled from source like a sample."""
    ns: dict = {}
    exec(compile(UNROLLED.format(n=iters), "unrolled.py", "exec"), ns)
    return ns["loss"]


def programs(iters: int) -> dict:
    """Return name → (closed jaxpr, source)."""
    x = (jnp.ones(8), jnp.ones(8))
    grad = jax.grad(_loss(iters))
    half = jax.jit(jax.grad(_loss(iters // 2)))
    src = UNROLLED.format(n=iters)
    return {
        f"grad, loop unrolled {iters}x": (jax.make_jaxpr(grad)(*x), src),
        f"jit(grad), loop unrolled {iters}x": (jax.make_jaxpr(jax.jit(grad))(*x), src),
        f"jit(grad) {iters // 2}x, called twice": (
            jax.make_jaxpr(lambda a, b: half(a, b) + half(b, a))(*x),
            UNROLLED.format(n=iters // 2),
        ),
    }


def median_time(fn, repeat: int) -> tuple[float, object]:
    """Return (median seconds, last result) of `repeat` calls."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=1335)
    p.add_argument("--repeat", type=int, default=3)
    ns = p.parse_args()
    print(f"{'program':<36} {'eqns':>6} {'print':>7} {'model':>7} {'placed':>6}")
    for name, (closed, src) in programs(ns.iters).items():
        t_print, printed = median_time(lambda c=closed: PrintedJaxpr(c.jaxpr), ns.repeat)
        t_model, model = median_time(
            lambda c=closed, pr=printed, s=src: model_of(pr, c, "unrolled.py", s), ns.repeat
        )
        eqns = list(walk(model))
        placed = sum(1 for e in eqns if e.lines)
        print(f"{name:<36} {len(eqns):>6} {t_print:>6.2f}s {t_model:>6.2f}s {placed:>6}", flush=True)


if __name__ == "__main__":
    main()
