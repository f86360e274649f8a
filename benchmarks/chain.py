"""The stage chain: how soon the jaxprs arrive, and what recording XLA's passes costs.

For every sample and for the grad of a Python loop unrolled 1,500 times (12,002
equations, as in graph_scale.py), in the same process:
  * jaxprs ready: seconds from calling `inspect(..., on_stage=...)` until the
    callback hears the whole pipeline's jaxpr (first), every `jaxpr:K` text (all),
    and their models, next to raw `str(jax.make_jaxpr(pipeline)(*args))` on a
    fresh module: first minus raw is what the chain costs before the user sees
    a jaxpr (target: within 0.5 s);
  * passes: a plain `Lowered.compile()` next to the compile that dumps every pass
    plus reading the dump into stages (deltas, opcode counts, kernels, objdump),
    each on a fresh lowering (target: at most 1.5x the plain compile).

    .venv/bin/python benchmarks/chain.py [--repeat 3] [--unrolled 1500] [--samples-only | --unrolled-only]

The jaxpr timings stop the inspection once the models are in (lowering and
compiling are timed on their own, on fresh lowerings).
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

from inspectors import Request, inspect, passes  # noqa: E402
from inspectors.catalog import list_samples  # noqa: E402
from inspectors.source import eval_inputs, read_defaults  # noqa: E402
from inspectors.transforms import apply_pipeline, keep_static, parse_pipeline, static_argnums  # noqa: E402

UNROLLED = """\
import jax.numpy as jnp

__explorer__ = {{"entry": "loss", "args": "f32[8], f32[8]", "transforms": ["grad"]}}


def loss(x, w):
    for _ in range({n}):
        x = jnp.tanh(x * w) + x
    return jnp.sum(x)
"""


def fresh(source: str, filename: str) -> tuple:
    """Return (g, args, kwargs, static) of the file's declared pipeline, on a freshly executed module."""
    module = types.ModuleType("bench")
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    d = read_defaults(source)
    pipeline = parse_pipeline(d.transforms)
    args, kwargs = eval_inputs(d.args, module)
    f, args, kwargs = keep_static(getattr(module, d.entry), args, kwargs)
    return apply_pipeline(f, pipeline), args, kwargs, static_argnums(pipeline), pipeline


def raw_make_jaxpr(source: str, filename: str) -> float:
    """Seconds for `str(jax.make_jaxpr(pipeline)(*args))` on a fresh module."""
    g, args, kwargs, static, _ = fresh(source, filename)
    start = time.perf_counter()
    str(jax.make_jaxpr(g, static_argnums=static)(*args, **kwargs))
    return time.perf_counter() - start


def jaxprs_ready(source: str, filename: str) -> tuple[float, float, float, int]:
    """Seconds until the whole pipeline's jaxpr is announced, every jaxpr text, every model; the stage count."""
    start = time.perf_counter()
    first: list[float] = []
    texts: list[float] = []
    models: list[float] = []

    count: list[int] = []

    def heard(result, stages) -> None:
        now = time.perf_counter() - start
        jaxprs = [s for s in stages if s.kind == "jaxpr"]
        if jaxprs and not first:
            first.append(now)
        if jaxprs and not texts and all(s.text is not None for s in result.jaxpr_stages()):
            if len(result.jaxpr_stages()) == expected:
                texts.append(now)
        if jaxprs and any(s.model is not None for s in jaxprs):
            models.append(now)
            count.append(len(result.jaxpr_stages()))
            raise _Enough  # lowering and compiling are measured on their own below

    expected = len(fresh(source, filename)[4]) + 1
    try:
        inspect(Request(source=source, filename=filename), use_cache=False, on_stage=heard)
    except _Enough:
        pass
    nan = float("nan")
    return (first or [nan])[0], (texts or [nan])[0], (models or [nan])[0], (count or [0])[0]


class _Enough(Exception):
    """Raised from the callback once the jaxpr models are in: the rest of the inspection is not timed here."""


def plain_compile(source: str, filename: str) -> float:
    """Seconds for `Lowered.compile()` of a fresh lowering."""
    lowered = _lowered(source, filename)
    start = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - start


def recording_compile(source: str, filename: str) -> tuple[float, int]:
    """Seconds for the dumping compile plus reading the dump into stages; the number of passes kept."""
    lowered = _lowered(source, filename)
    start = time.perf_counter()
    with passes.dump_folder() as folder:
        lowered.compile(passes.compile_options(folder))
        dump = passes.read_dump(folder)
        stages = passes.pass_stages(dump) + passes.kernel_stages(dump)
    return time.perf_counter() - start, sum(s.kind == "hlo-pass" for s in stages) - 1


def _lowered(source: str, filename: str):
    """A fresh lowering of the file's pipeline, as the chain lowers it."""
    g, args, kwargs, static, pipeline = fresh(source, filename)
    ends_in_jit = bool(pipeline) and pipeline[-1].name == "jit"
    return (g if ends_in_jit else jax.jit(g, static_argnums=static)).lower(*args, **kwargs)


def measure(name: str, source: str, filename: str, repeat: int, compile_repeat: int | None = None) -> tuple:
    """One row: raw make_jaxpr, first/all jaxprs/models ready, stages, plain and recording compile, passes."""
    raws, firsts, alls, models, plains, records = [], [], [], [], [], []
    stages = kept = 0
    for _ in range(repeat):  # alternating, so a busy moment hits both sides
        raws.append(raw_make_jaxpr(source, filename))
        first, every, model, stages = jaxprs_ready(source, filename)
        firsts.append(first)
        alls.append(every)
        models.append(model)
    for _ in range(compile_repeat or repeat):
        plains.append(plain_compile(source, filename))
        seconds, kept = recording_compile(source, filename)
        records.append(seconds)
    med = statistics.median
    raw, plain, record = med(raws), med(plains), med(records)
    return name, raw, med(firsts), med(alls), med(models), stages, plain, record, record / plain, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--unrolled", type=int, default=1500, help="loop iterations of the big grad (8N+2 equations)")
    parser.add_argument("--unrolled-repeat", type=int, default=3)
    parser.add_argument("--unrolled-compile-repeat", type=int, default=1, help="its compiles take a minute each")
    parser.add_argument("--samples-only", action="store_true")
    parser.add_argument("--unrolled-only", action="store_true")
    ns = parser.parse_args()
    rows = []
    if not ns.unrolled_only:
        for sample in list_samples():
            source = sample.source()
            if inspect(Request(source=source, filename=sample.path)).error:
                continue  # the deliberate error sample: nothing to compare
            rows.append(measure(sample.name, source, sample.path, ns.repeat))
    if not ns.samples_only:
        name = f"grad of unrolled loop ({8 * ns.unrolled + 2} eqns)"
        source = UNROLLED.format(n=ns.unrolled)
        rows.append(measure(name, source, "unrolled.py", ns.unrolled_repeat, ns.unrolled_compile_repeat))
    print(
        f"{'program':44} {'make_jaxpr':>10} {'first':>7} {'diff':>6} {'all':>7} {'models':>7} {'stages':>6} "
        f"{'compile':>8} {'+passes':>8} {'ratio':>6} {'passes':>6}"
    )
    for name, raw, first, every, model, stages, plain, record, ratio, kept in rows:
        print(
            f"{name:44} {raw:10.3f} {first:7.3f} {first - raw:6.3f} {every:7.3f} {model:7.3f} {stages:6d} "
            f"{plain:8.3f} {record:8.3f} {ratio:6.2f} {kept:6d}"
        )
    diffs, ratios = [r[2] - r[1] for r in rows], [r[8] for r in rows]
    print("(seconds; first: the whole pipeline's jaxpr announced; all: every jaxpr:K text; models: with models)")
    print(
        f"\nfirst jaxpr minus raw make_jaxpr: median {statistics.median(diffs):.3f} s, "
        f"worst {max(diffs):.3f} s (target <= 0.5 s)"
    )
    total = sum(r[7] for r in rows) / sum(r[6] for r in rows)
    print(
        f"compile recording every pass / plain compile: median {statistics.median(ratios):.2f}, "
        f"worst {max(ratios):.2f}, all programs together {total:.2f} (target <= 1.5)"
    )


if __name__ == "__main__":
    main()
