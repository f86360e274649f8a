"""`python -m inspectors FILE.py --emit jaxpr`: inspections from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from typing import TextIO

from inspectors.results import InspectionResult, Request, Stage
from inspectors.sandbox.limits import Limits
from inspectors.source import source_problem

EMITTERS: dict[str, Callable[[InspectionResult], str | None]] = {
    "jaxpr-before": lambda r: r.jaxpr(0).text,
    "jaxpr": lambda r: r.jaxpr().text,
    "stablehlo": lambda r: r.text_of("stablehlo"),
    "stablehlo-debug": lambda r: r.text_of("stablehlo-debug"),
    "hlo": lambda r: r.text_of("hlo"),
    "json": lambda r: r.to_json(indent=1),
    "profile": lambda r: _profile_table(r),  # one row per compiled op, hottest first (implies --profile)
    "residuals": lambda r: _memory_text(r, "residuals"),  # one per line: type, bytes, what made it, line
    "memory": lambda r: _memory_text(r, "memory"),  # `peak SIZE`, then the buffers live at the peak
    "sharding": lambda r: _sharding_text(r, "layouts"),  # the mesh; each input and output: sharding, shard type
    "collectives": lambda r: _sharding_text(r, "collectives"),  # one collective per line: opcode, bytes, axes, line
    "primitives": lambda r: _primitives_listing(r),  # one row per primitive: count, what it does, its ops
}
GRAPH_EMITTERS = ("dot", "svg")  # graphs of --graph-of, drawn with the --graph-* options
STAGE_HEADS = (
    "jaxpr",
    "hlo-pass",
    "llvm",
    "asm",
    "ptx",
    "diff",
)  # `--emit jaxpr:2`, `--emit hlo-pass:17`: any stage id
EMIT_HELP = (
    "what to print: jaxpr-before, jaxpr (after the pipeline), jaxpr:K (after the K-th transform), "
    "stablehlo, stablehlo-debug, hlo-unoptimized, passes (XLA's passes that changed the module), "
    "hlo-pass:I (the module after pass I), hlo (optimized), llvm, asm, ptx (GPU) (every kernel), "
    "llvm:K, asm:K, ptx:K (one kernel, by its stage id), stages (the chain), "
    "diff:A..B (two stages: jaxpr:1..jaxpr:2, hlo-pass:3..hlo-pass:4), "
    "profile (time per compiled op; implies --profile), "
    "json, json-stream (one JSON line per stage as it completes), dot, svg (graphs, options below), "
    "sharding (mesh and layouts), collectives (one per line: opcode, bytes, mesh axes, line), "
    "residuals, memory (where the memory goes), "
    "primitives (one line per primitive: count, what it computes, the StableHLO ops it lowers to)"
)
EPILOG = """commands:
  python -m inspectors FILE.py [options]           inspect a file (a sample declares its own entry,
                                                   inputs and pipeline)
  python -m inspectors --list-devices              list every device of every backend
  python -m inspectors open RESULT.json [--emit W] a saved result (--emit json, inspect_fn(...).to_json()):
                                                   a summary, or any --emit above and html; nothing re-runs
  python -m inspectors FILE.py --emit profile      the profile: time per compiled op, joined to source lines

exit status: 0 ok, 1 the program failed (the error on stderr, its last line JSON), 2 bad usage or a stage the
result does not have (the message names the stages it has)"""


def emit_help() -> str:
    """EMIT_HELP, plus any --emit a table has that it does not name yet (so --help lists every one)."""
    names = [*EMITTERS, *STAGE_EMITTERS, *GRAPH_EMITTERS]
    extra = [n for n in names if not re.search(rf"(^|[ (,:]){re.escape(n)}([ ,(:]|$)", EMIT_HELP)]
    return EMIT_HELP + (f"; also {', '.join(extra)}" if extra else "")


class EmitError(ValueError):
    """An --emit form that names no stage of this result."""


def parse_emit(value: str) -> str:
    """Check an --emit value: a fixed name or a stage id (`jaxpr:2`)."""
    head, sep, tail = value.partition(":")
    if value in EMITTERS or value in GRAPH_EMITTERS or value in STAGE_EMITTERS or value == "json-stream":
        return value
    if sep and head in STAGE_HEADS and tail and (head != "diff" or ".." in tail):
        return value
    raise argparse.ArgumentTypeError(f"unknown --emit {value!r}; {emit_help()}")


def stage_text(result: InspectionResult, stage_id: str) -> str | None:
    """Return the text of stage `stage_id`; EmitError if the chain has no such stage."""
    stage = result.stage(stage_id)
    if stage is None:
        if result.error and not result.stages[1:]:
            return None  # failed before the chain was built: the error says why
        ids = ", ".join(s.id for s in result.stages)
        raise EmitError(f"no stage {stage_id!r} in this result; its stages: {ids}")
    if stage.text is None and stage.error is None and stage.note:
        raise EmitError(f"stage {stage_id} has no text: {stage.note}")
    return stage.text


def chain_listing(result: InspectionResult) -> str:
    """Return one line per stage: id, kind, time, name, in columns as wide as their longest entry.

    A stage's time is its own (a jaxpr's trace, the compile for `hlo`); passes and kernels have none: XLA does
    not report how long each took, and the compile's time on every row would read as a time per pass."""
    rows = []
    for s in result.stages:
        took = f"{s.time_s * 1000:.1f} ms" if s.time_s is not None else "–"
        state = "error" if s.error else (s.note and "no text") or ""
        rows.append((s.id, s.kind, took, s.name + (f"  [{state}]" if state else "")))
    if not rows:
        return ""
    wid, wkind, wtook = (max(len(r[i]) for r in rows) for i in range(3))
    return "\n".join(f"{i:<{wid}}  {k:<{wkind}}  {t:>{wtook}}  {n}".rstrip() for i, k, t, n in rows)


def passes_listing(result: InspectionResult) -> str | None:
    """Return one line per XLA pass that changed the module: index, pipeline, pass name."""
    from inspectors.passes import pass_listing

    stages = result.of_kind("hlo-pass")
    if stages and stages[0].note and len(stages) == 1:
        raise EmitError(stages[0].note)
    return pass_listing(stages) if stages else None


def kernels_text(kind: str) -> Callable[[InspectionResult], str | None]:
    """Return an emitter printing every kernel's `llvm` or `asm` text, each under its name."""
    comment = {"llvm": ";", "ptx": "//"}.get(kind, "#")

    def emit(result: InspectionResult) -> str | None:
        stages = result.of_kind(kind)
        if not stages:
            if result.text_of("hlo") is None:
                return None  # the compile failed: the error says why
            raise EmitError(f"XLA emitted no {kind} kernels for this program on this backend")
        stages = [result.stage(s.id) for s in stages]  # a saved result's index: bodies by id
        missing = [s for s in stages if s.text is None]
        if len(missing) == len(stages):
            raise EmitError(missing[0].note or f"no {kind} text")
        return "\n".join(f"{comment} kernel {s.name}\n{s.text or comment + ' ' + s.note}" for s in stages)

    return emit


STAGE_EMITTERS: dict[str, Callable[[InspectionResult], str | None]] = {
    "hlo-unoptimized": lambda r: r.text_of("hlo-unoptimized"),
    "stages": chain_listing,
    "passes": passes_listing,
    "llvm": kernels_text("llvm"),
    "asm": kernels_text("asm"),
    "ptx": kernels_text("ptx"),
}


def analyses_for(emit: str) -> frozenset[str] | None:
    """The analyses an --emit prints (None: all of them). The chain's own texts and listings need none, so
    `--emit stages`, `--emit hlo` and the like skip the jaxpr models, the memory report, the source map and the
    primitive cards; a diff reads two stages' models (a jaxpr diff lists equations by origin)."""
    head = emit.partition(":")[0]
    if head == "diff":
        return frozenset({"models"})
    if emit in ("jaxpr-before", "jaxpr", "stablehlo", "stablehlo-debug", "hlo", *STAGE_EMITTERS) or head in STAGE_HEADS:
        return frozenset()
    return None


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m inspectors",
        description="Trace, transform, lower and compile a JAX function; print any stage.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", help="Python source file (- for standard input); see also `open` below")
    p.add_argument(
        "--fn",
        help="entry function or expression, e.g. loss, 'partial(loss, model)', model.__call__ "
        "(default: the file's declared entry, else the last def)",
    )
    p.add_argument("--args", help="inputs expression, e.g. 'f32[4,8], 3' or 'params, batch, train=False'")
    p.add_argument(
        "--transform",
        action="append",
        metavar="T",
        help="transform, innermost first, repeatable: grad, vmap(in_axes=(None, 0)), jit, ...",
    )
    p.add_argument("--no-transforms", action="store_true", help="ignore the file's default pipeline")
    p.add_argument("--emit", default="jaxpr", type=parse_emit, metavar="WHAT", help=emit_help())
    p.add_argument("--time", action="store_true", help="run and time the compiled function")
    p.add_argument("--profile", action="store_true", help="measure time per compiled op (implies --time)")
    p.add_argument(
        "--remat-policy",
        metavar="NAME",
        help="compile the grad's function once more under jax.checkpoint with this policy and compare memory: "
        "nothing_saveable, dots_saveable, dots_with_no_batch_dims_saveable, save_only_these_names:a,b",
    )
    p.add_argument("--time-budget", type=float, default=1.0, help="seconds for timing (default 1)")
    p.add_argument("--device", help="device as platform:id, e.g. cpu:0 (see --list-devices)")
    p.add_argument("--list-devices", action="store_true", help="print the available devices and exit")
    p.add_argument("--devices", type=int, metavar="N", help="split the CPU into N virtual devices (1, 2, 4, 8)")
    p.add_argument(
        "--isolated",
        action="store_true",
        help="run in a sandboxed worker, as the app does (limits: JAXPR_EXPLORER_* variables)",
    )
    p.add_argument("--hosted", action="store_true", help="like --isolated, and fail unless bwrap can sandbox")
    add_graph_arguments(p)
    return p


def add_graph_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `--emit dot|svg`."""
    g = p.add_argument_group("graphs (--emit dot / --emit svg)")
    g.add_argument(
        "--graph-of",
        default="after",
        choices=["before", "after", "stablehlo", "hlo"],
        help="which graph (default: the transformed jaxpr)",
    )
    g.add_argument(
        "--graph-depth",
        type=int,
        default=3,
        help="levels of sub-jaxprs (or HLO fusions) expanded (default 3)",
    )
    g.add_argument(
        "--color-by",
        "--colour-by",
        dest="colour_by",
        default="family",
        choices=["family", "provenance", "line", "time", "collective", "memory"],
        help="node colours (time: measured, implies --profile; collective: bytes moved; "
        "memory: residual bytes on the jaxpr, bytes live at the peak on the compiled HLO)",
    )
    g.add_argument(
        "--graph-budget",
        type=int,
        default=250,
        help="node budget: collapse and summarise above it (default 250)",
    )
    g.add_argument(
        "--graph-search",
        default="",
        help="highlight a primitive, variable or `line N`, expanding the path to it",
    )
    g.add_argument(
        "--graph-expand",
        action="append",
        default=[],
        metavar="ID",
        help="expand this equation id / summary id (repeatable)",
    )
    g.add_argument(
        "--graph-collapse",
        action="append",
        default=[],
        metavar="ID",
        help="collapse this equation id (repeatable)",
    )
    g.add_argument(
        "--graph-direction", default="TB", choices=["TB", "LR"], help="top-to-bottom or left-to-right"
    )
    g.add_argument("--no-fold", action="store_true", help="do not fold repeated blocks")
    g.add_argument(
        "--graph-timeout", type=float, default=60.0, help="layout time limit in seconds for --emit svg"
    )


def graph_text(result: InspectionResult, ns: argparse.Namespace) -> str | None:
    """Return the DOT or SVG of the graph the options ask for (None when that stage failed)."""
    from inspectors import graph, render
    from inspectors.graph import bounded

    opts = graph.GraphOptions(
        depth=ns.graph_depth,
        colour_by=ns.colour_by,
        budget=ns.graph_budget,
        search=ns.graph_search,
        expand=frozenset(ns.graph_expand),
        collapse=frozenset(ns.graph_collapse),
        direction=ns.graph_direction,
        fold=not ns.no_fold,
        heat=_heat(result, ns),
    )
    title = f"{ns.graph_of}: {result.entry or 'f'}"
    if ns.graph_of in ("before", "after"):
        source = result.jaxpr(0).model if ns.graph_of == "before" else result.jaxpr().model
    else:
        source = result.text_of("stablehlo") if ns.graph_of == "stablehlo" else result.text_of("hlo")
    if not source:
        return None
    # Built in a child process under a time and memory limit (GraphTooLarge names what to collapse).
    kind = ns.graph_of if ns.graph_of in ("stablehlo", "hlo") else "jaxpr"
    _, dot = bounded.bounded_build(bounded.BuildRequest(kind, source, opts, title))
    return dot if ns.emit == "dot" else render.dot_to_svg(dot, timeout=ns.graph_timeout)


def request_from_args(ns: argparse.Namespace) -> Request:
    """Build the inspection request from parsed arguments."""
    if ns.file == "-":
        source, filename = sys.stdin.read(), "<stdin>"
    else:
        with open(ns.file, encoding="utf-8", errors="replace") as fh:
            source, filename = fh.read(), ns.file
    transforms = [] if ns.no_transforms else ns.transform
    return Request(
        source=source,
        filename=filename,
        fn=ns.fn,
        args=ns.args,
        transforms=transforms,
        device=ns.device,
        time=ns.time or _profiles(ns),
        profile=_profiles(ns),
        time_budget_s=ns.time_budget,
        remat_policy=getattr(ns, "remat_policy", None) or None,
        devices=ns.devices,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["open"]:
        return open_main(argv[1:])
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.file is None and not ns.list_devices:
        parser.error("the following arguments are required: file (or --list-devices, or open RESULT.json)")
    inspect, list_devices = _runners(ns)

    if ns.list_devices:
        print("\n".join(list_devices()))
        return 0
    try:
        request = request_from_args(ns)
    except OSError as exc:
        print(f"error: cannot read {ns.file}: {exc.strerror}", file=sys.stderr)
        return 2
    too_large = source_problem(request.source, Limits.from_env().source_kb)
    if too_large:
        print(f"error: {too_large}", file=sys.stderr)
        return 2
    stream = StreamPrinter(os.fdopen(os.dup(1), "w", encoding="utf-8")) if ns.emit == "json-stream" else None
    with user_output_to_stderr():
        result = inspect(request, use_cache=False, on_stage=stream, analyses=analyses_for(ns.emit))
    if stream:
        stream.finish(result)
    if result.output:  # printed in a sandboxed worker, captured there
        sys.stderr.write(result.output if result.output.endswith("\n") else result.output + "\n")
    try:
        text = emit_text(result, ns)
    except EmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # render.LayoutError / LayoutTimeout, graph.bounded.GraphTooLarge
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if result.error:
        print(result.error.format(), file=sys.stderr)
        if ns.emit not in ("json", "json-stream"):
            print(json.dumps({"error": _error_dict(result)}), file=sys.stderr)
        return 1
    if result.profile is not None:
        from inspectors.profile import summary

        print(summary(result.profile), file=sys.stderr, end="")
    hlo = result.find("hlo")
    if hlo is not None and hlo.note and (ns.time or result.request.profile):
        print(f"# not timed: {hlo.note}", file=sys.stderr)
    if result.timing:
        t = result.timing
        print(
            f"# {t.device}: median {t.median_s * 1e6:.1f} µs, min {t.min_s * 1e6:.1f} µs, "
            f"p90 {t.p90_s * 1e6:.1f} µs ({t.repeat}×{t.number} calls)" + (f"; {t.note}" if t.note else ""),
            file=sys.stderr,
        )
    return 0


def open_main(argv: Sequence[str]) -> int:
    """`python -m inspectors open result.json [--emit ...]`: print a saved result's stages (nothing re-runs)."""
    from inspectors import live

    p = argparse.ArgumentParser(
        prog="python -m inspectors open", description="Show a saved inspection result."
    )
    p.add_argument("result", help="a saved result: a stage-store file (inspectors.store.save_result) or JSON")
    p.add_argument(
        "--emit", default="summary", type=_open_emit, metavar="WHAT",
        help=f"summary (the default: what it holds), html (one page), or any of the file form's: {emit_help()}",
    )  # fmt: skip
    add_graph_arguments(p)
    ns = p.parse_args(argv)
    try:
        from inspectors import store

        result = store.open_saved(ns.result) if store.is_store_file(ns.result) else live.open_result(ns.result)
    except (OSError, ValueError) as exc:
        print(f"error: cannot open {ns.result}: {exc}", file=sys.stderr)
        return 2
    try:
        text = _open_text(result, ns)
    except EmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # render.LayoutError / LayoutTimeout
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if result.error:
        print(result.error.format(), file=sys.stderr)
    return 0


def _open_emit(value: str) -> str:
    """Check `open`'s --emit: summary, html, or any --emit of the file form."""
    return value if value in ("summary", "html") else parse_emit(value)


def _open_text(result: InspectionResult, ns: argparse.Namespace) -> str | None:
    """Return what `open --emit` asks for, from the saved result alone."""
    from inspectors import live

    if ns.emit == "summary":
        return summary_text(result)
    if ns.emit == "html":
        return live.result_html(result, graph_timeout_s=ns.graph_timeout)
    if ns.emit == "json-stream":  # the saved stages, one line each, then the closing line
        StreamPrinter(os.fdopen(os.dup(1), "w", encoding="utf-8")).finish(result)
        return None
    return emit_text(result, ns)


def _inputs_line(result: InspectionResult) -> str:
    """The inputs as the request gave them, else as the first jaxpr's input types, else `none`."""
    if result.request.args:
        return result.request.args
    first = next((s for s in result.jaxpr_stages() if s.text), None)
    # `{ lambda consts ; a:f32[3] b:f32[8,3]. let`: the input binders, between the `;` and `. let`
    head = first.text.split("\n", 1)[0].partition(";")[2].rpartition(". let")[0].strip() if first else ""
    return f"{head} (as traced)" if head else "none"


def summary_text(result: InspectionResult) -> str:
    """Return what a saved result holds: the expression, its inputs, its timing, then every stage."""
    lines = [
        f"{result.expression or result.entry}  ({result.request.filename}, JAX {result.jax_version})",
        f"inputs: {_inputs_line(result)}",
    ]
    before, after = result.equations(0), result.equations()
    if before is not None or after is not None:
        lines.append(f"equations: {before or 0} before, {after or 0} after")
    if result.timing:
        t = result.timing
        lines.append(f"run on {t.device}: median {t.median_s * 1e6:.1f} µs ({t.repeat}×{t.number} calls)")
    if result.error:
        lines.append(f"error: {result.error.kind} during {result.error.stage}")
    lines += [f"{len(result.stages)} stages (print one with --emit ID):", chain_listing(result)]
    return "\n".join(lines)


@contextmanager
def user_output_to_stderr() -> Iterator[None]:
    """Send whatever runs inside to stderr (Python prints and fd 1 alike): stdout is only for --emit."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


class StreamPrinter:
    """`--emit json-stream`: one JSON line per stage as it completes, then one line for the whole result.

    A jaxpr stage is printed twice: with JAX's text as soon as it is traced, then with its model.
    Called as `on_stage(result, stages)` in this process, or with the result so far
    from a sandboxed worker (`stages` None: the ones not printed yet are printed).
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.printed: set[tuple[str, bool, bool]] = set()

    def __call__(self, result: InspectionResult, stages: list[Stage] | None = None) -> None:
        # A jaxpr stage comes twice: its text right after tracing, then with its model.
        for stage in stages if stages is not None else result.stages:
            key = (stage.id, stage.text is not None, stage.model is not None)
            if key not in self.printed:
                self.printed.add(key)
                self.line({"event": "stage", "stage": dataclasses.asdict(stage)})

    def finish(self, result: InspectionResult) -> None:
        """Print any stage not printed yet and the closing line (error, timings, analyses)."""
        self(result)
        data = result.to_dict()
        closing = {k: v for k, v in data.items() if k not in ("stages", "request")}
        self.line({"event": "done", "ok": result.ok, **closing})
        self.out.close()

    def line(self, data: dict) -> None:
        """Write one JSON line and flush it at once."""
        self.out.write(json.dumps(data) + "\n")
        self.out.flush()


def emit_text(result: InspectionResult, ns: argparse.Namespace) -> str | None:
    """Return what `--emit` asks for (None when that stage failed)."""
    if ns.emit == "json-stream":
        return None  # printed while the stages completed
    if ns.emit in GRAPH_EMITTERS:
        return graph_text(result, ns)
    if ns.emit in EMITTERS:
        return EMITTERS[ns.emit](result)
    if ns.emit in STAGE_EMITTERS:
        return STAGE_EMITTERS[ns.emit](result)
    if ns.emit.startswith("diff:"):
        return diff_text(result, ns.emit.removeprefix("diff:"))
    return stage_text(result, ns.emit)


def diff_text(result: InspectionResult, pair: str) -> str | None:
    """Return `--emit diff:A..B`: summary, structural rows (jaxprs), line diff."""
    from inspectors import diff

    try:
        a, b = diff.parse_pair(pair)
        if result.error and (result.find(a) is None or result.find(b) is None):
            return None  # the stage that failed has no text: the error says why
        return diff.format_diff(diff.diff(result, a, b))
    except diff.DiffError as exc:
        raise EmitError(str(exc)) from None


def _heat(result: InspectionResult, ns: argparse.Namespace) -> tuple[tuple[str, float], ...]:
    """Return the measured share of each node for `--color-by time` (after jaxpr or compiled HLO)."""
    if ns.colour_by == "collective":  # the share of the bytes collectives move, per equation or instruction
        from inspectors import sharding

        return tuple(sorted(sharding.collective_heat(result.sharding, ns.graph_of).items())) if result.sharding else ()
    if ns.colour_by == "memory":  # residual bytes per equation, or bytes live at the peak per instruction
        from inspectors import memory

        return memory.graph_heat(result.memory_report, ns.graph_of)
    if ns.colour_by != "time" or result.profile is None:
        return ()
    from inspectors import profile

    heat = {"after": profile.equation_heat, "hlo": profile.instruction_heat}.get(ns.graph_of)
    return tuple(sorted(heat(result.profile).items())) if heat else ()


def _profiles(ns: argparse.Namespace) -> bool:
    """True when the output needs the profile: `--profile`, `--emit profile`, `--emit json` (everything), time colours."""
    return ns.profile or ns.emit in ("profile", "json") or ns.colour_by == "time"


def _profile_table(result: InspectionResult) -> str | None:
    """Return the `--emit profile` table (None when the profile stage did not run)."""
    from inspectors.profile import table

    return table(result.profile) if result.profile is not None else None


def _memory_text(result: InspectionResult, what: str) -> str | None:
    """Return `--emit residuals` or `--emit memory` (None when the compile failed: the error says why)."""
    from inspectors import memory

    report = result.memory_report
    if report is None:
        return None
    if what == "residuals":
        if report.residuals is None:
            raise EmitError("; ".join(report.notes) or "no residuals: the pipeline has no grad")
        text = memory.residual_lines(report.residuals)
        total = report.residuals
        print(f"# {len(total.residuals)} residuals, {memory.fmt_bytes(total.total_bytes)}", file=sys.stderr)
        if report.remat:
            print(memory.remat_summary(report), file=sys.stderr)
        return text
    if report.peak is None:
        raise EmitError("; ".join(report.notes) or "no buffer assignment")
    return memory.memory_lines(report.peak)
def _sharding_text(result: InspectionResult, what: str) -> str | None:
    """Return `--emit sharding` or `--emit collectives` (None when the program did not compile)."""
    from inspectors import sharding

    if result.sharding is None:
        return None
    if what == "layouts":
        return sharding.layouts_text(result.sharding)
    times = {op.name: op.time_s for op in result.profile.ops} if result.profile else None  # measured, per call
    return sharding.collectives_text(result.sharding, times)


def _primitives_listing(result: InspectionResult) -> str | None:
    """Return the `--emit primitives` listing (None when no jaxpr was traced)."""
    from inspectors.primitives import listing

    return listing(result.primitives)


def _error_dict(result: InspectionResult) -> dict:
    """Return the structured error as plain data."""
    return result.to_dict()["error"]


def _runners(ns: argparse.Namespace) -> tuple[Callable[..., InspectionResult], Callable[[], list[str]]]:
    """Return (inspect, list_devices): in this process, or in a sandboxed worker."""
    if not (ns.isolated or ns.hosted):
        from inspectors import inspect, list_devices

        return inspect, list_devices
    from inspectors import sandbox

    try:
        limits = sandbox.Limits.from_env(hosted=True if ns.hosted else None)
        print(f"# {sandbox.isolation_status(limits)}", file=sys.stderr)
        if limits.hosted:
            sandbox.launcher.choose_mode(limits)
    except (sandbox.IsolationUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    def isolated(
        request: Request, use_cache: bool = False, on_stage: Callable | None = None, analyses: object = None
    ) -> InspectionResult:  # the worker makes every analysis, as it does for the app
        on_partial = (lambda so_far: on_stage(so_far, None)) if on_stage else None
        return sandbox.inspect_isolated(request, limits, on_partial=on_partial)

    return isolated, (lambda: sandbox.devices_isolated(limits))
