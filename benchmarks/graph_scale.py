"""How graph views scale: DOT build and layout time for 100 to 20,000 equations.

    .venv/bin/python benchmarks/graph_scale.py [--limit 20] [--sizes 100,1000,5000,20000]

The programs are the grad of a Python loop unrolled N times (the case that
stalls other Graphviz-based viewers: long forward-to-backward edges). Each
size is measured three ways: the default view (folds, node budget), the
default view without folding (summary nodes have to do the work), fully
expanded (every equation, long edges as stubs), and raw (every equation and
every edge drawn in full, as other viewers do). Layout runs graphviz-pure in a subprocess under a time limit, so
the script always finishes; a layout past the limit prints `>LIMIT`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspectors import Request, inspect  # noqa: E402
from inspectors.graph import GraphOptions, expanded_options, jaxpr_graph, walk  # noqa: E402
from inspectors.render import LayoutTimeout, dot_to_svg, to_dot  # noqa: E402

UNROLLED = '''
import jax.numpy as jnp

def loss(x, w):
    for _ in range({n}):
        x = jnp.tanh(x * w) + x
    return jnp.sum(x)
'''
EQNS_PER_ITER = 9  # measured: grad of one iteration is 9 equations


def unrolled_result(n_eqns: int):
    """Return the inspection result of grad of a loop unrolled to about n_eqns equations."""
    n = max(1, n_eqns // EQNS_PER_ITER)
    src = UNROLLED.format(n=n)
    return inspect(Request(source=src, filename="unrolled.py", fn="loss", args="f32[8], f32[8]", transforms=["grad"]))


def measure(model, opts: GraphOptions, limit: float) -> tuple[float, float | None, int]:
    """Return (DOT build seconds, layout seconds or None past the limit, visible nodes)."""
    t0 = time.perf_counter()
    graph = jaxpr_graph(model, opts)
    dot = to_dot(graph)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        dot_to_svg(dot, timeout=limit)
        layout: float | None = time.perf_counter() - t0
    except LayoutTimeout:
        layout = None
    return build, layout, len(graph.nodes)


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=float, default=20.0, help="layout time limit in seconds")
    p.add_argument("--sizes", default="100,1000,5000,20000")
    ns = p.parse_args()
    views = {
        "default": GraphOptions(),
        "no-fold": GraphOptions(fold=False),
        "expanded": expanded_options(long_edges=GraphOptions().long_edges),
        "raw": expanded_options(),
    }
    print(f"{'equations':>9} {'view':>9} {'nodes':>6} {'DOT build':>10} {'layout':>9}")
    for size in (int(s) for s in ns.sizes.split(",")):
        model = unrolled_result(size).model_after
        n_eqns = sum(1 for _ in walk(model))
        for name, opts in views.items():
            build, layout, nodes = measure(model, opts, ns.limit)
            shown = f"{layout:8.2f}s" if layout is not None else f">{ns.limit:g}s".rjust(9)
            print(f"{n_eqns:>9} {name:>9} {nodes:>6} {build:>9.3f}s {shown}", flush=True)


if __name__ == "__main__":
    main()
