"""`python -m inspectors FILE.py --emit jaxpr`: inspections from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from inspectors.results import InspectionResult, Request
from inspectors.sandbox.limits import Limits
from inspectors.source import source_problem

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
    p.add_argument("--fn", help="entry function (default: the file's declared entry, else the last def)")
    p.add_argument("--args", help="inputs expression, e.g. 'f32[4,8], 3' or 'params, batch'")
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
    too_large = source_problem(request.source, Limits.from_env().source_kb)
    if too_large:
        print(f"error: {too_large}", file=sys.stderr)
        return 2
    result = inspect(request, use_cache=False)
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
