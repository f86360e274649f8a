"""Reading StableHLO: the module model (JAX's `ir.Module`, walked once) beside the text scanners it replaces.

Lowers `value_and_grad` + `jit` of a model file's entry (default: the GPT-2-small-sized Flax linen model),
then times, best of `--repeat`:
  * floor: `Lowered.as_text(debug_info=True)`, the text the app shows (JAX's printer, paid in any case),
  * model: `compiler_ir("stablehlo")` + `stablehlo_module.build` (walk, typed locations, line placement),
  * old scan: `mapping.stablehlo_ops` over the debug text (line scan + `#loc` alias parser),
and checks that both give the same user lines for the same text lines.

    .venv/bin/python benchmarks/stablehlo_model.py [--file benchmarks/models/gpt2_linen.py] [--repeat 3]
"""

from __future__ import annotations

import argparse
import runpy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspectors import jaxsetup  # noqa: E402

jax = jaxsetup.jax()

from inspectors import mapping, stablehlo_module  # noqa: E402


def best(fn, repeat: int) -> tuple[float, object]:
    """Return the best time of `repeat` calls of `fn` and its last value."""
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", default=str(Path(__file__).parent / "models" / "gpt2_linen.py"))
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    ns = runpy.run_path(opts.file, run_name="bench")
    meta = ns["__explorer__"]
    args = [ns[a.strip()] for a in meta["args"].split(",")]
    lowered = jax.jit(jax.value_and_grad(ns[meta["entry"]])).lower(*args)
    filename = opts.file
    t_text, debug = best(lambda: lowered.as_text(debug_info=True), opts.repeat)
    plain = lowered.as_text()
    t_model, model = best(
        lambda: stablehlo_module.build(lowered.compiler_ir("stablehlo"), debug, plain), opts.repeat
    )
    t_ops, _ = best(lambda: mapping.module_ops(model, filename), opts.repeat)
    t_scan, scanned = best(lambda: mapping.stablehlo_ops(debug, filename, plain), opts.repeat)
    ours = mapping.module_ops(model, filename)
    same = [(o.text_line, o.line, o.primitive, o.scope) for o in ours] == [
        (o.text_line, o.line, o.primitive, o.scope) for o in scanned
    ]
    print(
        f"{Path(opts.file).name}: {len(model.ops)} ops, {len(debug.splitlines())} text lines, placed={model.placed}"
    )
    print(f"{'step':46} {'seconds':>8}")
    for name, seconds in (
        ("floor: as_text(debug_info=True)", t_text),
        ("model: compiler_ir + walk + place", t_model),
        ("model -> source-map ops (mapping.module_ops)", t_ops),
        ("old: text scan + #loc parser (stablehlo_ops)", t_scan),
    ):
        print(f"{name:46} {seconds:8.3f}")
    print(f"same text lines, user lines, primitives and scopes: {same}")


if __name__ == "__main__":
    main()
