"""How graph views scale: build time and peak memory of real-shaped models, and the unrolled-loop sweep.

    .venv/bin/python benchmarks/graph_scale.py --real [--gpt2]      # real shapes, beside make_jaxpr
    .venv/bin/python benchmarks/graph_scale.py [--limit 20] [--sizes 100,1000,5000,20000]

`--real`: the Flax linen LM with an aux output and the Equinox CNN of tests/models (the two
programs whose graphs once ran away), the same LM at GPT-2-small size (12 layers, d=768,
vocab 50,257, sequence 256, parameters from `jax.eval_shape`) with `--gpt2`, and the grad of a
loop unrolled 1,500 times (13,502 equations in JAX 0.10: 9 per iteration). Each row: the floor (`jax.make_jaxpr` of the same
function, seconds and peak traced Python memory), the default graph built in-process (seconds,
peak memory, nodes), the same build bounded in a child process (wall seconds, spawn included),
and the layout.

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

UNROLLED = """
import jax.numpy as jnp

def loss(x, w):
    for _ in range({n}):
        x = jnp.tanh(x * w) + x
    return jnp.sum(x)
"""
EQNS_PER_ITER = 9  # measured: grad of one iteration is 9 equations


def unrolled_result(n_eqns: int):
    """Return the inspection result of grad of a loop unrolled to about n_eqns equations."""
    n = max(1, n_eqns // EQNS_PER_ITER)
    src = UNROLLED.format(n=n)
    return inspect(
        Request(source=src, filename="unrolled.py", fn="loss", args="f32[8], f32[8]", transforms=["grad"])
    )


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


def peak(fn):  # noqa: ANN001, ANN201 - any thunk
    """Return (value, seconds, peak MB of Python allocations) of fn: timed alone, then measured under tracemalloc."""
    import tracemalloc

    t0 = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t0
    import jax

    jax.clear_caches()  # the second call traces afresh, like the first
    tracemalloc.start()  # a second call: tracemalloc slows what it measures
    fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return value, seconds, top / 2**20


def real_programs(gpt2: bool) -> dict:
    """Return {name: (function, args)} of the real-shaped programs, each under its pipeline."""
    import importlib.util

    import jax
    import jax.numpy as jnp

    from inspectors.transforms import keep_static

    models = Path(__file__).resolve().parents[1] / "tests" / "models"

    def load(name: str):  # noqa: ANN202
        spec = importlib.util.spec_from_file_location(f"bench_{name}", models / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    lm, cnn = load("linen_lm"), load("eqx_cnn")
    out = {
        "Flax LM, value_and_grad(has_aux) + jit": (
            jax.jit(jax.value_and_grad(lm.loss, has_aux=True)),
            (lm.params, lm.tokens),
        ),
    }
    f, args, _ = keep_static(cnn.loss, (cnn.model, cnn.images, cnn.labels), {})
    out["Equinox CNN, value_and_grad + jit"] = (jax.jit(jax.value_and_grad(f)), args)
    if gpt2:
        big = load("linen_lm")
        big.VOCAB, big.D_MODEL, big.HEADS, big.LAYERS, big.SEQ = 50257, 768, 12, 12, 256
        tokens = jnp.zeros(big.SEQ + 1, jnp.int32)
        params = jax.eval_shape(big.model.init, jax.random.PRNGKey(0), tokens[:-1])
        out["GPT-2-small-sized LM (eval_shape params)"] = (
            jax.jit(jax.value_and_grad(big.loss, has_aux=True)),
            (params, tokens),
        )
    src = UNROLLED.format(n=1500)
    ns: dict = {}
    exec(compile(src, "unrolled.py", "exec"), ns)
    out["grad of a loop unrolled 1,500 times"] = (jax.grad(ns["loss"]), (jnp.ones(8), jnp.ones(8)))
    return out


def real(ns: argparse.Namespace) -> None:
    """Print build time and peak memory of the real-shaped programs beside raw make_jaxpr."""
    import jax

    from inspectors.graph.bounded import BuildRequest, GraphTooLarge, bounded_build
    from inspectors.jaxpr_model import build_model

    head = f"{'program':<42} {'eqns':>6} {'make_jaxpr':>10} {'peak':>7} {'graph':>7} {'peak':>7} {'nodes':>5}"
    print(head + f" {'bounded':>8} {'layout':>8}")
    for name, (fn, args) in real_programs(ns.gpt2).items():
        closed, t_trace, m_trace = peak(lambda fn=fn, args=args: jax.make_jaxpr(fn)(*args))
        model = build_model(closed, "prog.py", "")[1]
        graph, t_graph, m_graph = peak(lambda m=model: jaxpr_graph(m, GraphOptions()))
        t0 = time.perf_counter()
        try:
            _, dot = bounded_build(BuildRequest("jaxpr", model, GraphOptions(), name))
            t_bounded = f"{time.perf_counter() - t0:7.2f}s"
        except GraphTooLarge:
            dot, t_bounded = to_dot(graph), "too big".rjust(8)
        t0 = time.perf_counter()
        try:
            dot_to_svg(dot, timeout=ns.limit)
            t_layout = f"{time.perf_counter() - t0:7.2f}s"
        except LayoutTimeout:
            t_layout = f">{ns.limit:g}s".rjust(8)
        n_eqns = sum(1 for _ in walk(model))
        print(
            f"{name:<42} {n_eqns:>6} {t_trace:>9.2f}s {m_trace:>5.0f}MB {t_graph:>6.2f}s {m_graph:>5.0f}MB"
            f" {len(graph.nodes):>5} {t_bounded} {t_layout}",
            flush=True,
        )


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=float, default=20.0, help="layout time limit in seconds")
    p.add_argument("--sizes", default="100,1000,5000,20000")
    p.add_argument("--real", action="store_true", help="the real-shaped models, beside make_jaxpr")
    p.add_argument("--gpt2", action="store_true", help="with --real: add a GPT-2-small-sized LM")
    ns = p.parse_args()
    if ns.real:
        real(ns)
        return
    views = {
        "default": GraphOptions(),
        "no-fold": GraphOptions(fold=False),
        "expanded": expanded_options(long_edges=GraphOptions().long_edges),
        "raw": expanded_options(),
    }
    print(f"{'equations':>9} {'view':>9} {'nodes':>6} {'DOT build':>10} {'layout':>9}")
    for size in (int(s) for s in ns.sizes.split(",")):
        model = unrolled_result(size).jaxpr().model
        n_eqns = sum(1 for _ in walk(model))
        for name, opts in views.items():
            build, layout, nodes = measure(model, opts, ns.limit)
            shown = f"{layout:8.2f}s" if layout is not None else f">{ns.limit:g}s".rjust(9)
            print(f"{n_eqns:>9} {name:>9} {nodes:>6} {build:>9.3f}s {shown}", flush=True)


if __name__ == "__main__":
    main()
