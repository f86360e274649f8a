"""Memory analysis overhead: each inspection with the memory report, beside the same inspection without it.

For every sample (and a GPT-2-sized Flax decoder with `--gpt2`), in the same process and
alternating, it times `inspect(...)` uncached three ways: without the memory report
(`memory.start` and `memory.attach` no-ops: the floor, the inspection as it was), with it and the
residual trace in turn after the compile (`memory.RESIDUALS_MEANWHILE = False`), and with the
residual trace on a thread during the compile (as shipped). It prints the memory stage's own time
(`stage_times["memory"]`: what attach adds after the compile), which is the cost itself, free of
the noise whole inspections carry, and, as a share of the inspection, how much longer the span
from the compile through the memory stage took than the compile without it ("added": this also
counts a compile the thread slowed down; noisier). With `--remat`, the cost of one remat comparison: its
variant's compile inside the pipeline, and the app's Compare end to end (the worker's `remat` job,
`memory.remat_job`: load, trace once, compile the variant), beside the inspection's own compile.

    .venv/bin/python benchmarks/memory_overhead.py [--repeat 3] [--only real_models] [--gpt2] [--remat]
Target (issue 21): the analysis adds <= 10 % to an inspection; remat costs <= one extra compile.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspectors import jaxsetup  # noqa: E402

jax = jaxsetup.jax()

from inspectors import Request, inspect, memory, pipeline  # noqa: E402
from inspectors.catalog import list_samples  # noqa: E402
from inspectors.results import InspectionResult  # noqa: E402

GPT2 = """
import jax
import jax.numpy as jnp
import flax.linen as nn

class Block(nn.Module):
    d: int
    heads: int

    @nn.compact
    def __call__(self, x):
        h = nn.LayerNorm()(x)
        h = nn.SelfAttention(num_heads=self.heads, deterministic=True)(h, mask=nn.make_causal_mask(x[..., 0]))
        x = x + h
        h = nn.LayerNorm()(x)
        h = nn.Dense(4 * self.d)(h)
        h = nn.Dense(self.d)(jax.nn.gelu(h))
        return x + h

class GPT(nn.Module):
    vocab: int = 50257
    d: int = 768
    layers: int = 12
    heads: int = 12

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(self.vocab, self.d)(tokens)
        for _ in range(self.layers):
            x = Block(self.d, self.heads)(x)
        return nn.Dense(self.vocab)(nn.LayerNorm()(x))

model = GPT()
tokens = jax.ShapeDtypeStruct((2, 128), jnp.int32)
params = jax.eval_shape(model.init, jax.random.PRNGKey(0), tokens)

def loss(params, tokens):
    logits = model.apply(params, tokens)
    return -jnp.mean(jax.nn.log_softmax(logits)[..., 0])
"""


def requests(only: str, gpt2: bool) -> list[tuple[str, Request]]:
    """The samples (those whose name starts with `only`) and the GPT-2-sized model."""
    out = []
    for s in list_samples():  # every inspection gets the peak; the ones with a grad, the residuals too
        if s.name.startswith(only) and "error" not in s.name:
            out.append((s.name, Request(source=s.source(), filename=f"{s.name}.py")))
    if gpt2:
        model = Path(__file__).resolve().parent / "models" / "gpt2_linen.py"
        out.append(
            ("gpt2_linen (benchmarks/models)", Request(source=model.read_text(), filename="gpt2_linen.py"))
        )
        out.append(("gpt2_small_decoder", Request(source=GPT2, filename="gpt2.py", fn="loss",
                                                 args="params, tokens",
                                                 transforms=["grad", "jit"])))  # fmt: skip
    return out


class _NoResiduals:
    """`memory.start` switched off: nothing traced before the compile."""

    def discard(self) -> None:  # noqa: D102 - as `memory.Residuals.discard`
        pass


AROUND_COMPILE = ("compile", "passes", "kernels", "memory")  # the span the residual thread overlaps


def timed(request: Request, mode: str) -> tuple[float, float, float]:
    """Seconds for one uncached inspection, its memory stage's seconds, and compile-to-memory's seconds.

    `mode`: "without" (no memory report: the inspection as it was), "in turn" (the residual trace
    after the compile), "meanwhile" (the residual trace on a thread during the compile: as shipped).
    """
    real = memory.attach, memory.dump_options, memory.start, memory.RESIDUALS_MEANWHILE
    if mode == "without":  # no memory report, and no dump where passes are not recorded
        pipeline.memory.attach = lambda *a, **k: None  # type: ignore[assignment]
        pipeline.memory.dump_options = lambda folder: None  # type: ignore[assignment]
        pipeline.memory.start = lambda *a, **k: _NoResiduals()  # type: ignore[assignment]
    memory.RESIDUALS_MEANWHILE = mode == "meanwhile"
    try:
        start = time.perf_counter()
        result = inspect(request, use_cache=False)
        took = time.perf_counter() - start
    finally:
        memory.attach, memory.dump_options, memory.start, memory.RESIDUALS_MEANWHILE = real
    if result.error:
        raise RuntimeError(result.error.format())
    span = sum(result.stage_times.get(k, 0.0) for k in AROUND_COMPILE)
    return took, result.stage_times.get("memory", 0.0), span


def compare_s(request: Request, inspected: InspectionResult) -> float:
    """Seconds the app's Compare takes in the worker: the `remat` job alone (no second inspection)."""
    before = [dataclasses.asdict(r) for r in inspected.memory_report.residuals.residuals]
    start = time.perf_counter()
    memory.remat_job({"request": dataclasses.asdict(request), "policy": "dots_saveable", "before": before})
    return time.perf_counter() - start


MODES = ("without", "in turn", "meanwhile")


def main() -> None:
    """Print one row per program: inspection without the memory report, with it in turn and meanwhile."""
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default="")
    p.add_argument("--gpt2", action="store_true")
    p.add_argument("--remat", action="store_true", help="also time one remat comparison (dots_saveable)")
    ns = p.parse_args()
    print(f"{'program':<36} {'without':>8} {'in turn':>8} {'meanwhl':>8} {'mem(t)':>8} {'share':>6} "
          f"{'mem(m)':>8} {'share':>6} {'added(t)':>8} {'added(m)':>8}" +
          (f" {'remat':>9} {'compare':>9} {'compile':>9}" if ns.remat else ""))  # fmt: skip
    shares: dict[str, list[float]] = {"in turn": [], "meanwhile": []}
    for name, request in requests(ns.only, ns.gpt2):
        try:
            timed(request, "meanwhile")  # warm: imports, JAX's first compile
        except RuntimeError as exc:
            print(f"{name:<36} skipped: {str(exc).splitlines()[0]}", flush=True)
            continue
        runs: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
        for _ in range(ns.repeat):  # alternating, so the machine's load falls on every mode alike
            for mode in MODES:
                runs[mode].append(timed(request, mode))
        med = {m: [statistics.median(r[i] for r in runs[m]) for i in range(3)] for m in MODES}
        base = med["without"][0]
        row = f"{name:<36} {base:>7.3f}s {med['in turn'][0]:>7.3f}s {med['meanwhile'][0]:>7.3f}s"
        for mode in ("in turn", "meanwhile"):
            shares[mode].append(med[mode][1] / base)
            row += f" {med[mode][1] * 1e3:>6.0f}ms {100 * med[mode][1] / base:>5.1f}%"
        for mode in ("in turn", "meanwhile"):  # compile through memory, beside the compile without it
            row += f" {100 * (med[mode][2] - med['without'][2]) / base:>7.1f}%"
        if ns.remat:
            rq = dataclasses.replace(request, remat_policy="dots_saveable")
            result = inspect(rq, use_cache=False)
            remat = result.memory_report.remat if result.memory_report else None
            compile_s = result.stage_times.get("compile", 0.0)
            row += f" {remat.compile_s:>8.3f}s" if remat else f" {'-':>9}"
            row += f" {compare_s(request, result):>8.3f}s" if remat else f" {'-':>9}"
            row += f" {compile_s:>8.3f}s"
        print(row, flush=True)
    for mode in ("in turn", "meanwhile"):
        print(
            f"median memory-stage share of an inspection, {mode}: {100 * statistics.median(shares[mode]):.1f} %"
            " (target <= 10 %)"
        )

if __name__ == "__main__":
    main()
