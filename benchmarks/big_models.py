"""A GPT-2-small-sized model, whole, through the app's backend and the CLI, beside raw JAX in the same run.

    .venv/bin/python benchmarks/big_models.py [--model FILE ...] [--caps] [--json]
    .venv/bin/python benchmarks/big_models.py --model benchmarks/models/unrolled_grad.py   # the 12,002-equation grad

One row set per model: by default the three GPT-2-small-sized files in benchmarks/models/ (Flax linen, Flax
NNX, Equinox; the same shapes), each beside raw JAX on the same file. Rows (seconds, medians of one run each on a loaded machine; memory in MB):
  raw make_jaxpr        `jax.make_jaxpr(value_and_grad(loss))` in a fresh process (the floor of the first jaxpr)
  raw lower+compile     `jax.jit(...).lower(...).compile()` in the same process
  raw process           that whole process: python start, imports, trace, lower, compile
  cli --emit stages     `python -m inspectors MODEL --emit stages` (in-process inspection: every stage)
  app first jaxpr       `app.backend.run_inspection` until the first jaxpr stage arrives (sandboxed worker)
  app whole result      until the whole result is in the stage store (its index returned)
  app tab switch        reading the optimized HLO from the index (a view opening the Compiled HLO tab)
  server memory growth  resident memory of this process (the server) after the result, minus before
`--caps` runs the backend with the hosted caps (8 MB per stage, 64 MB per result) under local isolation and
lists the notes of what was not kept. Targets (issue 18): whole ≤ 2× raw process; --emit stages ≤ 1.5× raw
process; first jaxpr ≤ raw make_jaxpr + 1 s; memory growth ≤ 300 MB per result.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODELS = ROOT / "benchmarks" / "models"
WARM_S = 4.0
DEFAULT_MODELS = [MODELS / "gpt2_linen.py", MODELS / "gpt2_nnx.py", MODELS / "gpt2_eqx.py"]

RAW = """
import runpy, sys, time, json
start = time.perf_counter()
import jax
ns = runpy.run_path(sys.argv[1])
f = jax.value_and_grad(ns["loss"])
args = [ns[name.strip()] for name in ns["__explorer__"]["args"].split(",")]  # (params|model), tokens
t = time.perf_counter(); closed = jax.make_jaxpr(f)(*args); trace = time.perf_counter() - t
t = time.perf_counter(); jax.jit(f).lower(*args).compile(); compile = time.perf_counter() - t
print(json.dumps({"make_jaxpr": trace, "compile": compile, "equations": len(closed.jaxpr.eqns)}))
"""


def rss_mb() -> float:
    """Resident memory of this process now, MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_process(argv: list[str]) -> tuple[float, str]:
    """Run a process; return its wall time and stdout."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def backend_run(model: Path, caps: bool) -> dict[str, float | str | list[str]]:
    """Inspect the model through the app's backend (a sandboxed worker, the stage store)."""
    if caps:
        os.environ.update({"JAXPR_EXPLORER_STAGE_MB": "8", "JAXPR_EXPLORER_RESULT_MB": "64"})
    from app import backend
    from inspectors.results import Request

    # A warm server: the workers have started (JAX and the model libraries imported) before the user's request.
    warm = backend.run_inspection(Request(source="def f(x):\n    return x\n", args="f32[3]"), session="warm")
    assert warm.ok, warm.error
    time.sleep(WARM_S)  # a server up for a few seconds: its workers have run the primitive cards' examples once
    request = Request(source=model.read_text(), filename=model.name)
    gc.collect()
    before = rss_mb()
    start, first = time.perf_counter(), []

    def heard(so_far) -> None:
        if not first and any(s.text for s in so_far.stages if s.kind == "jaxpr"):
            first.append(time.perf_counter() - start)

    result = backend.run_inspection(request, session="bench", on_partial=heard)
    whole = time.perf_counter() - start
    gc.collect()
    grown = rss_mb() - before
    t = time.perf_counter()
    hlo = result.text_of("hlo") or ""
    switch = time.perf_counter() - t
    notes = [s.note for s in result.stages if "not kept" in s.note] + result.notes
    return {
        "first_jaxpr": first[0] if first else float("nan"), "whole": whole, "tab_switch": switch,
        "memory_mb": grown, "ok": "ok" if result.ok else result.error.format()[:300],
        "stages": len(result.stages), "hlo_kb": len(hlo) // 1024, "store_mb": backend.STORE.stored_bytes() / 2**20,
        "notes": notes,
    }  # fmt: skip


def measure(model: Path, caps: bool) -> dict:
    """One model's figures: raw JAX, the CLI and the app's backend, in that order."""
    raw_s, out = timed_process([sys.executable, "-c", RAW, str(model)])
    raw = json.loads(out.strip().splitlines()[-1])
    stages_s, _ = timed_process([sys.executable, "-m", "inspectors", str(model), "--emit", "stages"])
    return {"model": model.name, "raw": raw, "raw_process": raw_s, "emit_stages": stages_s,
            "app": backend_run(model, caps)}  # fmt: skip


def rows(m: dict) -> list[tuple[str, float, str]]:
    """The table rows of one model's figures."""
    raw, raw_s, stages_s, app = m["raw"], m["raw_process"], m["emit_stages"], m["app"]
    return [
        ("raw make_jaxpr", raw["make_jaxpr"], ""),
        ("raw lower+compile", raw["compile"], ""),
        ("raw process", raw_s, f"{raw['equations']} equations"),
        ("cli --emit stages", stages_s, f"{stages_s / raw_s:.2f}× raw process (target ≤ 1.5×)"),
        (
            "app first jaxpr",
            app["first_jaxpr"],
            f"raw make_jaxpr + {app['first_jaxpr'] - raw['make_jaxpr']:.1f} s",
        ),
        (
            "app whole result",
            app["whole"],
            f"{app['whole'] / raw_s:.2f}× raw process (target ≤ 2×); {app['ok']}",
        ),
        ("app tab switch (hlo)", app["tab_switch"], f"{app['hlo_kb']} KB fetched from the store"),
        ("server memory growth", app["memory_mb"], f"MB; store holds {app['store_mb']:.1f} MB compressed"),
    ]


def main() -> None:
    """Measure and print the table: a row set per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--caps", action="store_true", help="the hosted caps per stage and per result")
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    figures = [measure(model, ns.caps) for model in ns.model]
    if ns.json:
        print(json.dumps(figures, indent=1))
        return
    print(f"{'model':<18}{'measure':<24}{'value':>10}  note")
    for m in figures:
        for name, value, note in rows(m):
            print(f"{m['model']:<18}{name:<24}{value:>10.2f}  {note}")
        for note in m["app"]["notes"]:
            print(f"{'':<18}  not kept: {note}")


if __name__ == "__main__":
    main()
