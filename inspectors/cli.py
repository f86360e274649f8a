"""`python -m inspectors FILE.py --emit jaxpr`: inspections from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout

from inspectors.results import InspectionResult, Request

EMITTERS: dict[str, Callable[[InspectionResult], str | None]] = {
    "jaxpr-before": lambda r: r.jaxpr_before,
    "jaxpr": lambda r: r.jaxpr_after,
    "stablehlo": lambda r: r.stablehlo,
    "stablehlo-debug": lambda r: r.stablehlo_debug,
    "hlo": lambda r: r.hlo,
    "json": lambda r: r.to_json(indent=1),
}
GRAPH_EMITTERS = ("dot", "svg")  # graphs of --graph-of, drawn with the --graph-* options


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m inspectors",
        description="Trace, transform, lower and compile a JAX function; print any stage.",
    )
    p.add_argument("file", help="Python source file (use - for standard input)")
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
    p.add_argument("--emit", default="jaxpr", choices=sorted([*EMITTERS, *GRAPH_EMITTERS]), help="what to print")
    p.add_argument("--time", action="store_true", help="run and time the compiled function")
    p.add_argument("--time-budget", type=float, default=1.0, help="seconds for timing (default 1)")
    p.add_argument("--device", help="device as platform:id, e.g. cpu:0 (see --list-devices)")
    p.add_argument("--list-devices", action="store_true", help="print the available devices and exit")
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
    g.add_argument("--graph-of", default="after", choices=["before", "after", "stablehlo", "hlo"], help="which graph (default: the transformed jaxpr)")
    g.add_argument("--graph-depth", type=int, default=3, help="levels of sub-jaxprs (or HLO fusions) expanded (default 3)")
    g.add_argument("--color-by", "--colour-by", dest="colour_by", default="family", choices=["family", "provenance", "line"], help="node colours")
    g.add_argument("--graph-budget", type=int, default=250, help="node budget: collapse and summarise above it (default 250)")
    g.add_argument("--graph-search", default="", help="highlight a primitive, variable or `line N`, expanding the path to it")
    g.add_argument("--graph-expand", action="append", default=[], metavar="ID", help="expand this equation id / summary id (repeatable)")
    g.add_argument("--graph-collapse", action="append", default=[], metavar="ID", help="collapse this equation id (repeatable)")
    g.add_argument("--graph-direction", default="TB", choices=["TB", "LR"], help="top-to-bottom or left-to-right")
    g.add_argument("--no-fold", action="store_true", help="do not fold repeated blocks")
    g.add_argument("--graph-timeout", type=float, default=60.0, help="layout time limit in seconds for --emit svg")


def graph_text(result: InspectionResult, ns: argparse.Namespace) -> str | None:
    """Return the DOT or SVG of the graph the options ask for (None when that stage failed)."""
    from inspectors import graph, hlo_graph, render

    opts = graph.GraphOptions(
        depth=ns.graph_depth, colour_by=ns.colour_by, budget=ns.graph_budget, search=ns.graph_search,
        expand=frozenset(ns.graph_expand), collapse=frozenset(ns.graph_collapse),
        direction=ns.graph_direction, fold=not ns.no_fold,
    )
    title = f"{ns.graph_of}: {result.entry or 'f'}"
    if ns.graph_of in ("before", "after"):
        model = result.model_before if ns.graph_of == "before" else result.model_after
        g = graph.jaxpr_graph(model, opts, title) if model else None
    else:
        text = result.stablehlo if ns.graph_of == "stablehlo" else result.hlo
        build = hlo_graph.stablehlo_graph if ns.graph_of == "stablehlo" else hlo_graph.hlo_graph
        g = build(text, opts, title) if text else None
    if g is None:
        return None
    dot = render.to_dot(g)
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
        time=ns.time,
        time_budget_s=ns.time_budget,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["open"]:
        return open_main(argv[1:])
    ns = build_parser().parse_args(argv)
    inspect, list_devices = _runners(ns)

    if ns.list_devices:
        print("\n".join(list_devices()))
        return 0
    try:
        request = request_from_args(ns)
    except OSError as exc:
        print(f"error: cannot read {ns.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with user_output_to_stderr():
        result = inspect(request, use_cache=False)
    if result.output:  # printed in a sandboxed worker, captured there
        sys.stderr.write(result.output if result.output.endswith("\n") else result.output + "\n")
    try:
        text = graph_text(result, ns) if ns.emit in GRAPH_EMITTERS else EMITTERS[ns.emit](result)
    except RuntimeError as exc:  # render.LayoutError / LayoutTimeout
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if result.error:
        print(result.error.format(), file=sys.stderr)
        if ns.emit != "json":
            print(json.dumps({"error": _error_dict(result)}), file=sys.stderr)
        return 1
    if ns.time and result.timing:
        t = result.timing
        print(
            f"# {t.device}: median {t.median_s * 1e6:.1f} µs, min {t.min_s * 1e6:.1f} µs, "
            f"p90 {t.p90_s * 1e6:.1f} µs ({t.repeat}×{t.number} calls)",
            file=sys.stderr,
        )
    return 0


def open_main(argv: Sequence[str]) -> int:
    """`python -m inspectors open result.json [--emit ...]`: print a saved result's stages (nothing re-runs)."""
    from inspectors import live

    p = argparse.ArgumentParser(prog="python -m inspectors open", description="Show a saved inspection result.")
    p.add_argument("result", help="a result saved as JSON (inspect_fn(...).to_json(), --emit json)")
    choices = sorted([*EMITTERS, *GRAPH_EMITTERS, "html", "summary"])
    p.add_argument("--emit", default="summary", choices=choices, help="what to print (default: a summary)")
    add_graph_arguments(p)
    ns = p.parse_args(argv)
    try:
        result = live.open_result(ns.result)
    except (OSError, ValueError) as exc:
        print(f"error: cannot open {ns.result}: {exc}", file=sys.stderr)
        return 2
    if ns.emit == "summary":
        text = summary_text(result)
    elif ns.emit == "html":
        text = live.result_html(result, graph_timeout_s=ns.graph_timeout)
    else:
        text = graph_text(result, ns) if ns.emit in GRAPH_EMITTERS else EMITTERS[ns.emit](result)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if result.error:
        print(result.error.format(), file=sys.stderr)
    return 0


def summary_text(result: InspectionResult) -> str:
    """Return what a saved result holds: the expression, its inputs, its stages and timing."""
    stages = [name for name, attr in (("jaxpr-before", "jaxpr_before"), ("jaxpr", "jaxpr_after"),
              ("stablehlo", "stablehlo"), ("hlo", "hlo")) if getattr(result, attr)]  # fmt: skip
    lines = [
        f"{result.expression or result.entry}  ({result.request.filename}, JAX {result.jax_version})",
        f"inputs: {result.request.args or ''}",
        f"stages: {', '.join(stages) or 'none'} (print one with --emit)",
    ]
    if result.stats:
        lines.append(f"equations: {result.stats.total_before} before, {result.stats.total_after} after")
    if result.timing:
        t = result.timing
        lines.append(f"run on {t.device}: median {t.median_s * 1e6:.1f} µs ({t.repeat}×{t.number} calls)")
    if result.error:
        lines.append(f"error: {result.error.kind} during {result.error.stage}")
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
    return (lambda request, use_cache=False: sandbox.inspect_isolated(request, limits)), (
        lambda: sandbox.devices_isolated(limits)
    )
