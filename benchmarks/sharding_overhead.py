"""What the sharding analysis adds to an inspection: its own time against the whole inspection's.

For every parallelization sample, a few other samples, and a deep FSDP-style program
(many sharded layers, many collectives), it runs `inspect(Request(...))` a few times and
prints the median of: the whole inspection (wall time), the sharding analysis
(`stage_times["sharding"]`) and its share of the inspection (target: at most 10 %), the
collectives found, and beside them the floor: raw JAX tracing, lowering and compiling the
same function (`jax.jit(f).trace(*args).lower().compile()`, the work no inspection can skip).

    .venv/bin/python benchmarks/sharding_overhead.py [--repeat 3] [--only NAME]
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
from inspectors.source import eval_args, load_module, read_defaults  # noqa: E402
from inspectors.transforms import apply_pipeline, parse_pipeline  # noqa: E402

DEEP_FSDP = """
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P


def by_rows(shape):
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(mesh, P("data", None)))


def params(n=24, d=256):
    return [by_rows((d, d)) for _ in range(n)]


def loss(ws, x):
    for w in ws:
        x = jnp.tanh(x @ w)
    return jnp.mean(x**2)


def gradients(ws, x):
    return jax.grad(loss)(ws, x)
"""
OTHERS = ["slides_mlp", "real_models_transformer_block", "control_flow_scan_rnn"]


def cases(only: str | None) -> list[tuple[str, str, str, str | None, list[str] | None]]:
    """(name, source, filename, args, transforms) for each program measured."""
    out = []
    for s in list_samples():
        if s.stream == "parallelization" or s.name in OTHERS:
            out.append((s.name, s.source(), s.path, None, None))
    out.append(
        ("deep FSDP (24 sharded layers)", DEEP_FSDP, "deep_fsdp.py", "params(), by_rows((64, 256))", ["jit"])
    )
    return [c for c in out if not only or only in c[0]]


def floor_s(source: str, filename: str, args_expr: str | None, specs: list[str] | None) -> float:
    """Raw JAX: trace, lower and compile the same function once (a fresh jit each time)."""
    defaults = read_defaults(source)
    module = load_module(source, filename)
    f = getattr(module, defaults.entry or "gradients")
    g = apply_pipeline(f, parse_pipeline(specs if specs is not None else defaults.transforms))
    args = eval_args(args_expr or defaults.args, module)
    start = time.perf_counter()
    jax.jit(g).trace(*args).lower().compile()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only")
    ns = parser.parse_args()
    print(
        f"JAX {jax.__version__}, {jax.device_count()} {jax.default_backend()} devices; medians of {ns.repeat} runs"
    )
    head = f"{'program':<40} {'inspect':>9} {'sharding':>9} {'share':>7} {'colls':>6} {'floor: jax':>11}"
    print(head)
    print("-" * len(head))
    worst = 0.0
    for name, source, filename, args, specs in cases(ns.only):
        walls, costs, found = [], [], 0
        for _ in range(ns.repeat):
            start = time.perf_counter()
            r = inspect(
                Request(source=source, filename=filename, args=args, transforms=specs), use_cache=False
            )
            walls.append(time.perf_counter() - start)
            costs.append(r.stage_times.get("sharding", 0.0))
            found = len(r.sharding.collectives) if r.sharding else 0
        floor = statistics.median(floor_s(source, filename, args, specs) for _ in range(ns.repeat))
        wall, cost = statistics.median(walls), statistics.median(costs)
        worst = max(worst, cost / wall)
        print(f"{name:<40} {wall:>8.3f}s {cost * 1e3:>7.1f}ms {cost / wall:>6.1%} {found:>6} {floor:>10.3f}s")
    print(f"\nlargest share: {worst:.1%} (target: at most 10 %)")


if __name__ == "__main__":
    main()
