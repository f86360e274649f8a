"""Profiler overhead and coverage: each sample profiled per compiled op, next to the same calls untraced.

For every sample (and a few programs with a known hot spot, at sizes where the ops
dominate), it runs `inspect(Request(..., profile=True))` and prints, from the profile:
  * the untraced and traced time per call (fastest call of the same loop) and the
    profiler's overhead (traced / untraced - 1),
  * coverage: op time per call / wall time per call under the profiler (the rest is
    dispatch, argument handling and waiting for threads),
  * events recorded per call, compiled ops seen, the cost of the profile stage itself,
  * the hottest op and its line.

    .venv/bin/python benchmarks/profile_overhead.py [--budget 0.5] [--only NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspectors import jaxsetup  # noqa: E402

jax = jaxsetup.jax()

from inspectors import Request, inspect  # noqa: E402
from inspectors.catalog import list_samples  # noqa: E402
from inspectors.profile import fmt_time  # noqa: E402

HOT_SPOTS = {
    "hot: matmul 512 + elementwise": (
        "import jax.numpy as jnp\n\n\ndef f(a, b, x):\n    y = a @ b\n    z = jnp.sin(x) * 2.0 + 1.0\n"
        "    return y.sum() + z.sum()\n",
        "f32[512,512], f32[512,512], f32[1000]",
        ["jit"],
    ),
    "hot: scan of 64 matmuls": (
        "import jax.numpy as jnp\nfrom jax import lax\n\n\ndef f(w, c0, xs):\n    def body(c, x):\n"
        "        return jnp.tanh(c @ w + x), None\n\n    c, _ = lax.scan(body, c0, xs)\n    return c.sum()\n",
        "f32[256,256], f32[128,256], f32[64,128,256]",
        ["jit"],
    ),
    "hot: grad of an MLP layer": (
        "import jax.numpy as jnp\n\n\ndef loss(w, x):\n    h = jnp.tanh(x @ w)\n    return jnp.sum(h)\n",
        "f32[512,512], f32[1024,512]",
        ["grad(argnums=(0, 1))", "jit"],
    ),
}


def programs(only: str | None) -> list[tuple[str, Request]]:
    """The samples (their own entry, inputs and pipeline) and the hot-spot programs."""
    out = [(s.name, Request(source=s.source(), filename=f"{s.name}.py")) for s in list_samples()]
    out += [
        (name, Request(source=src, filename="hot.py", args=args, transforms=t))
        for name, (src, args, t) in HOT_SPOTS.items()
    ]
    return [(n, r) for n, r in out if not only or only in n]


def row(name: str, request: Request, budget: float) -> list[str] | None:
    """Profile one program; return its table row (None if it does not run)."""
    request.profile, request.time_budget_s = True, budget
    result = inspect(request, use_cache=False)
    p = result.profile
    if p is None or not p.ops:
        reason = f"{result.error.kind} during {result.error.stage}" if result.error else "no op events"
        print(f"{name:<42} skipped: {reason}", file=sys.stderr)
        return None
    top = p.ops[0]
    return [
        name,
        fmt_time(p.untraced_min_s),
        fmt_time(p.wall_min_s),
        f"{100 * p.overhead:+.1f} %",
        fmt_time(p.wall_min_s - p.untraced_min_s) if p.wall_min_s >= p.untraced_min_s else "-",
        f"{100 * p.coverage:.1f} %",
        f"{p.events / max(p.runs, 1):.0f}",
        str(len(p.ops)),
        f"{result.stage_times.get('profile', float('nan')):.2f} s",
        f"{top.name} {100 * top.share:.0f} % " + (f"line {top.line}" if top.line else "no line"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=0.5, help="timing and profiling budget per program (s)"
    )
    parser.add_argument("--only", help="only programs whose name contains this")
    ns = parser.parse_args()
    head = [
        "program",
        "untraced",
        "traced",
        "overhead",
        "extra/call",
        "coverage",
        "events/call",
        "ops",
        "profile stage",
        "hottest",
    ]
    rows = []
    start = time.perf_counter()
    for name, request in programs(ns.only):
        r = row(name, request, ns.budget)
        if r:
            rows.append(r)
            print("  ".join(r), file=sys.stderr, flush=True)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    overheads = [float(r[3].split()[0]) for r in rows]
    coverages = [float(r[5].split()[0]) for r in rows]
    print(
        f"\n{len(rows)} programs in {time.perf_counter() - start:.0f} s on {jax.devices()[0].platform}: "
        f"median overhead {statistics.median(overheads):+.1f} %, median coverage {statistics.median(coverages):.1f} %"
    )


if __name__ == "__main__":
    main()
