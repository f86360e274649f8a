"""Inspection overhead: the full inspection of each sample next to the raw JAX calls it wraps.

For every sample, in the same process and alternating, it times
  * `inspect(...)` uncached (load, trace before/after, models, lower, compile, texts, stats), and
  * the raw JAX calls alone: make_jaxpr(f), jit(g).trace, lower, compile, and their as_text(),
each on a freshly executed module (new function objects, so JAX's caches don't flatter either).
Then the cached repeat of an unchanged inspection. Prints a table and the median ratio.

    .venv/bin/python benchmarks/overhead.py [--repeat 3] [--only real_models] [--graph]
Targets (issue 2): median ratio <= 1.3; cached repeat < 20 ms.
`--only PREFIX` keeps the samples whose name starts with it (`real_models`: Flax, Equinox, Optax);
`--graph` adds the default graph's build and layout time (the view a user sees first);
`--no-passes` inspects without recording XLA's pass dump (to see what that recording costs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspectors import jaxsetup  # noqa: E402

jax = jaxsetup.jax()

from inspectors import Request, inspect  # noqa: E402
from inspectors.catalog import list_samples  # noqa: E402
from inspectors.source import eval_args, read_defaults  # noqa: E402
from inspectors.transforms import apply_pipeline, parse_pipeline, static_argnums  # noqa: E402


def raw_jax(source: str, filename: str) -> float:
    """Seconds for the JAX calls an inspection wraps, on a fresh module."""
    module = types.ModuleType("bench")
    sys.modules["bench"] = module  # dataclass models (Flax, Equinox) look their module up
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    d = read_defaults(source)
    f = getattr(module, d.entry)
    pipeline = parse_pipeline(d.transforms)
    args = eval_args(d.args, module)
    static = static_argnums(pipeline)
    start = time.perf_counter()
    g = apply_pipeline(f, pipeline)
    str(jax.make_jaxpr(f, static_argnums=static)(*args))
    jitted = jax.jit(g, static_argnums=static)
    str(jitted.trace(*args).jaxpr)
    lowered = jitted.lower(*args)
    lowered.as_text()
    lowered.as_text(debug_info=True)
    compiled = lowered.compile()
    compiled.as_text()
    compiled.cost_analysis()
    return time.perf_counter() - start


def full_inspection(source: str, filename: str) -> float:
    """Seconds for an uncached inspection."""
    start = time.perf_counter()
    result = inspect(Request(source=source, filename=filename), use_cache=False)
    elapsed = time.perf_counter() - start
    return elapsed if result.ok else float("nan")


def cached_repeat(source: str, filename: str) -> float:
    """Seconds for a repeated inspection of unchanged input."""
    request = Request(source=source, filename=filename)
    inspect(request)
    start = time.perf_counter()
    inspect(Request(source=source, filename=filename))
    return time.perf_counter() - start


def graph_time(source: str, filename: str) -> float:
    """Seconds to build and lay out the default graph of the transformed jaxpr."""
    from inspectors import graph, render

    result = inspect(Request(source=source, filename=filename))
    start = time.perf_counter()
    render.to_svg(graph.jaxpr_graph(result.jaxpr().model))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="only samples whose name starts with this")
    parser.add_argument("--graph", action="store_true", help="also time the default graph (build + layout)")
    parser.add_argument("--no-passes", action="store_true", help="inspect without recording XLA's passes")
    ns = parser.parse_args()
    if ns.no_passes:
        from inspectors import pipeline

        pipeline.RECORD_PASSES = False
    rows, ratios, graphs = [], [], {}
    for sample in list_samples():
        if not sample.name.startswith(ns.only):
            continue
        source = sample.source()
        if inspect(Request(source=source, filename=sample.path)).error:
            rows.append((sample.name, float("nan"), float("nan"), float("nan"), float("nan")))
            continue  # the deliberate error sample: nothing to compare
        raws, fulls = [], []
        for _ in range(ns.repeat):
            raws.append(raw_jax(source, sample.path))
            fulls.append(full_inspection(source, sample.path))
        raw, full = statistics.median(raws), statistics.median(fulls)
        ratios.append(full / raw)
        rows.append((sample.name, raw, full, full / raw, cached_repeat(source, sample.path)))
        if ns.graph:
            graphs[sample.name] = graph_time(source, sample.path)
    extra = f" {'graph ms':>9}" if ns.graph else ""
    print(f"{'sample':40} {'raw JAX ms':>11} {'inspect ms':>11} {'ratio':>6} {'cached ms':>10}{extra}")
    for name, raw, full, ratio, cached in rows:
        g = f" {graphs[name] * 1e3:9.0f}" if name in graphs else ""
        print(f"{name:40} {raw * 1e3:11.1f} {full * 1e3:11.1f} {ratio:6.2f} {cached * 1e3:10.3f}{g}")
    cached_max = max(r[4] for r in rows if r[4] == r[4])
    print(f"\nmedian ratio {statistics.median(ratios):.2f} (target <= 1.3); "
          f"max cached repeat {cached_max * 1e3:.3f} ms (target < 20 ms)")


if __name__ == "__main__":
    main()
