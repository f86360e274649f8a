"""Primitive cards: what they add to an inspection, beside the floor (tracing the same program with JAX).

For each sample: the time `inspect` spends building the cards (`stage_times["primitives"]`: walking every
jaxpr stage, explaining parameters, lowering the primitives the source map has no ops for, running the live
examples), the time the live examples take again once JAX's caches are warm, and the floor: `jax.make_jaxpr` of the whole pipeline.

    python benchmarks/primitive_cards.py [SAMPLE ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspectors import jaxsetup  # noqa: E402

jax = jaxsetup.jax()

from inspectors import Request, inspect, primitives  # noqa: E402
from inspectors.catalog import list_samples  # noqa: E402
from inspectors.source import eval_args, load_module, read_defaults  # noqa: E402
from inspectors.transforms import apply_pipeline, parse_pipeline, static_argnums  # noqa: E402

DEFAULT = ["slides_mlp", "differentiability_grad", "control_flow_scan_rnn", "real_models_transformer_block"]


def floor_s(sample) -> float:  # noqa: ANN001
    """Seconds `jax.make_jaxpr` takes for the sample's whole pipeline (a fresh trace)."""
    source = sample.source()
    defaults = read_defaults(source)
    module = load_module(source, sample.path)
    pipeline = parse_pipeline(defaults.transforms)
    g = apply_pipeline(getattr(module, defaults.entry), pipeline)
    args = eval_args(defaults.args, module)
    start = time.perf_counter()
    jax.make_jaxpr(g, static_argnums=static_argnums(pipeline))(*args)
    return time.perf_counter() - start


def main(names: list[str]) -> None:
    """Print one row per sample: cards, primitives, cards time, examples time, floor."""
    samples = {s.name: s for s in list_samples()}
    print(f"{'sample':<34} {'cards':>5} {'cards s':>8} {'examples s':>10} {'floor s':>8}")
    for name in names or DEFAULT:
        sample = samples[name]
        primitives.live_example.cache_clear()  # a worker forked per request starts without them
        primitives._RAN.clear()
        result = inspect(Request(source=sample.source(), filename=sample.path), use_cache=False)
        cards = result.primitives.cards if result.primitives else []
        primitives.live_example.cache_clear()
        primitives._RAN.clear()
        start = time.perf_counter()
        primitives.live_examples([c.name for c in cards])
        examples = time.perf_counter() - start
        took = result.stage_times.get("primitives", 0.0)
        print(f"{name:<34} {len(cards):>5} {took:>8.3f} {examples:>10.3f} {floor_s(sample):>8.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
