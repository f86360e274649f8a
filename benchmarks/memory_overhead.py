"""Memory analysis overhead: each inspection with the memory report, beside the same inspection without it.

For every sample (and a GPT-2-sized Flax decoder with `--gpt2`), in the same process and
alternating, it times `inspect(...)` uncached with `memory.attach` as the pipeline calls it, and
with `memory.attach` replaced by a no-op (the floor: the inspection as it was). It also prints
the memory stage's own time (`stage_times["memory"]`), which is the cost itself, free of the
noise two whole inspections carry, and, with `--remat`, the cost of one remat comparison: its
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


def timed(request: Request, with_memory: bool) -> tuple[float, float]:
    """Seconds for one uncached inspection, and its memory stage's seconds."""
    real, real_options = memory.attach, memory.dump_options
    if (
        not with_memory
    ):  # the inspection as it was: no memory report, and no dump where passes are not recorded
        pipeline.memory.attach = lambda *a, **k: None  # type: ignore[assignment]
        pipeline.memory.dump_options = lambda folder: None  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        result = inspect(request, use_cache=False)
        took = time.perf_counter() - start
    finally:
        pipeline.memory.attach, pipeline.memory.dump_options = real, real_options  # type: ignore[assignment]
    if result.error:
        raise RuntimeError(result.error.format())
    return took, result.stage_times.get("memory", 0.0)


def compare_s(request: Request, inspected: InspectionResult) -> float:
    """Seconds the app's Compare takes in the worker: the `remat` job alone (no second inspection)."""
    before = [dataclasses.asdict(r) for r in inspected.memory_report.residuals.residuals]
    start = time.perf_counter()
    memory.remat_job({"request": dataclasses.asdict(request), "policy": "dots_saveable", "before": before})
    return time.perf_counter() - start


def main() -> None:
    """Print one row per program: inspection with and without the memory report, and the ratio."""
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default="")
    p.add_argument("--gpt2", action="store_true")
    p.add_argument("--remat", action="store_true", help="also time one remat comparison (dots_saveable)")
    ns = p.parse_args()
    print(f"{'program':<42} {'without':>9} {'with':>9} {'ratio':>7} {'memory':>9} {'share':>7}" +
          (f" {'remat':>9} {'compare':>9} {'compile':>9}" if ns.remat else ""))  # fmt: skip
    shares = []
    for name, request in requests(ns.only, ns.gpt2):
        try:
            timed(request, True)  # warm: imports, JAX's first compile
        except RuntimeError as exc:
            print(f"{name:<42} skipped: {str(exc).splitlines()[0]}", flush=True)
            continue
        without, with_, stage = [], [], []
        for _ in range(ns.repeat):
            without.append(timed(request, False)[0])
            t, m = timed(request, True)
            with_.append(t)
            stage.append(m)
        a, b, m = statistics.median(without), statistics.median(with_), statistics.median(stage)
        shares.append(m / a)
        row = f"{name:<42} {a:>8.3f}s {b:>8.3f}s {b / a:>7.2f} {m * 1e3:>7.1f}ms {100 * m / a:>6.1f}%"
        if ns.remat:
            rq = dataclasses.replace(request, remat_policy="dots_saveable")
            result = inspect(rq, use_cache=False)
            remat = result.memory_report.remat if result.memory_report else None
            compile_s = result.stage_times.get("compile", 0.0)
            row += f" {remat.compile_s:>8.3f}s" if remat else f" {'-':>9}"
            row += f" {compare_s(request, result):>8.3f}s" if remat else f" {'-':>9}"
            row += f" {compile_s:>8.3f}s"
        print(row, flush=True)
    print(
        f"\nmedian memory-stage share of an inspection: {100 * statistics.median(shares):.1f} %"
        " (target <= 10 %)"
    )


if __name__ == "__main__":
    main()
