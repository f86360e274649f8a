"""Graph views: the jaxpr before/after side by side, and StableHLO/HLO graphs.

The graph model and DOT come from `inspectors.graph`/`hlo_graph`/`render`
(no JAX). Layout runs graphviz-pure in a subprocess with a time limit, cached
on the DOT text, so a huge graph costs at most the limit and a clear message.
The SVG goes to the explorer component (`app.components.explorer.graph_view`):
it opens at 100 % at the top of the graph, wheel zooms gently, drag pans, hover
or click a node for the equation, params, source line and types; clicking a
collapsed node or a summary opens it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import replace

import streamlit as st

from app import safe, state
from app.components.explorer import graph_view
from app.views import primitives
from app.views.common import rerun_views
from inspectors import memory as mem
from inspectors import sharding
from inspectors.graph import COLOUR_BY, Graph, GraphOptions
from inspectors.graph.bounded import BuildRequest, GraphTooLarge, bounded_build
from inspectors.render import LayoutError, LayoutTimeout, dot_to_svg
from inspectors.results import InspectionResult, JaxprModel

LAYOUT_LIMIT_S = 10.0
VIEWER_HEIGHT = 620
PROJECTOR_HEIGHT = 760  # lecture mode: a graph fills a 1920x1080 (16:9) screen below the tabs
BUDGETS = [50, 100, 150, 250, 400, 600, 1000]
COLOUR_LABELS = {
    "family": "primitive family",
    "provenance": "transform (primal / jvp / transpose)",
    "line": "source line",
    "memory": "memory (residual bytes; on HLO: bytes at the peak)",
    "collective": "collective (bytes moved)",
}
# The colourings each graph offers. "memory": `inspectors.memory.graph_heat` of the worker's report;
# "collective" colours what the compiled module's collectives move (`inspectors.sharding.collective_heat`,
# as `--color-by collective`): its instructions (compiled HLO) and the equations they come from (the jaxpr
# after the transforms). StableHLO has neither of its own.
JAXPR_COLOURS = (*COLOUR_BY, "memory", "collective")
HLO_COLOURS = {"hlo": ("family", "memory", "collective"), "stablehlo": ("family",)}
_GRAPH_CACHE_SIZE = 16


# ---------------------------------------------------------------- layout, off the script's own work


@st.cache_data(max_entries=64, show_spinner=False)
def layout(dot: str, timeout: float = LAYOUT_LIMIT_S) -> tuple[str, str]:
    """Return ("svg", svg) or ("timeout"/"error", message); Graphviz runs in a subprocess under a limit."""
    try:
        return "svg", dot_to_svg(dot, timeout=timeout)
    except LayoutTimeout as exc:
        return "timeout", str(exc)
    except LayoutError as exc:
        return "error", str(exc)


def cached_graph(key: str, source: tuple, req: BuildRequest) -> tuple[Graph | None, str]:
    """Return (graph, DOT), or (None, why) when the build ran past its limits; remembered per session.

    The build runs in a child process under a time and memory limit (`inspectors.graph.bounded`):
    a graph that cannot be drawn costs this view a message, never the server.
    """
    cache: OrderedDict = st.session_state.setdefault("_graph_cache", OrderedDict())
    ckey = (key, source, req.options, req.title)  # `source`: the texts the graph is of
    if ckey not in cache:
        try:
            cache[ckey] = bounded_build(req)
        except GraphTooLarge as exc:
            cache[ckey] = (None, str(exc))
        while len(cache) > _GRAPH_CACHE_SIZE:
            cache.popitem(last=False)
    return cache[ckey]


def too_large(message: str) -> None:
    """Say that a graph cannot be drawn, and what to collapse (the other views are unaffected)."""
    st.warning(safe.md(message), icon=":material/account_tree:")


def _open(key: str, expand_id: str) -> None:
    """Open a collapsed node or summary that was clicked in the graph (it joins the expand set)."""
    group = key.rsplit("_", 1)[0] if key.endswith(("_before", "_after")) else key
    wkey = f"{group}_expand"
    store = st.session_state.setdefault("graph", {})
    store[wkey] = sorted({*store.get(wkey, []), expand_id})
    rerun_views()


def show_graph(graph: Graph, dot: str, key: str, filename: str, height: int = VIEWER_HEIGHT) -> None:
    """Lay out and show one graph with its notes and DOT/SVG downloads."""
    status, payload = layout(dot)
    shown = sum(1 for n in graph.nodes if n.kind in ("eqn", "call", "collapsed", "summary", "op"))
    st.caption(
        " · ".join(
            [
                f"{len(graph.nodes)} nodes ({shown} operations shown, {graph.total_equations} in total)",
                *graph.notes,
            ]
        )
    )
    if status == "svg":
        details = {n.id: n.details for n in graph.nodes if n.details}
        matches = [n.id for n in graph.nodes if n.match]
        closed = [n.id for n in graph.nodes if n.kind in ("collapsed", "summary")]
        prims = {n.id: n.primitive for n in graph.nodes if n.primitive}  # a node's click opens its card
        picked = graph_view(
            payload, details, matches, closed, key=f"{key}_view", height=height,
            primitives=prims, on_primitive=primitives.open_card,
        )  # fmt: skip
        if picked and picked.get("node") in closed:
            _open(key, picked["node"].removeprefix("eqn_"))
    elif status == "timeout":
        st.warning(
            f"Layout stopped: {safe.md(payload)}. "
            "Lower the depth or the node budget, or search for what you need."
        )
    else:
        st.error(safe.md(payload))
    left, right = st.columns(2)
    left.download_button(
        "DOT", dot, f"{filename}.dot", "text/vnd.graphviz", key=f"{key}_dot", icon=":material/download:"
    )
    if status == "svg":
        right.download_button(
            "SVG", payload, f"{filename}.svg", "image/svg+xml", key=f"{key}_svg", icon=":material/download:"
        )


# ---------------------------------------------------------------- options


# Each option: (suffix of its widget key, default). Values that differ from the default live in
# `st.session_state["graph"]` (so they outlive the tab that draws them, and travel in the shared link).
OPTION_DEFAULTS = {
    "depth": 3,
    "colour": "family",
    "budget": 250,
    "search": "",
    "dir": "TB",
    "fold": True,
    "labels": True,
    "expand": [],
    "collapse": [],
}


def _keep(wkey: str, default: object) -> None:
    """Copy a graph option's widget into the shareable store (dropping it when back at its default)."""
    value = st.session_state[wkey]
    store = st.session_state.setdefault("graph", {})
    if value == default:
        store.pop(wkey, None)
    else:
        store[wkey] = list(value) if isinstance(value, (list, tuple)) else value


def option(widget, key: str, name: str, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """Draw one graph option's widget, seeded from the store; return its value."""
    wkey, default = f"{key}_{name}", OPTION_DEFAULTS[name]
    st.session_state[wkey] = st.session_state.setdefault("graph", {}).get(wkey, default)
    return widget(*args, key=wkey, on_change=_keep, args=(wkey, default), **kwargs)


def options_widgets(key: str, colours: tuple[str, ...] = JAXPR_COLOURS) -> GraphOptions:
    """Draw the graph options (a colour picker when there is more than one of `colours`); return them."""
    cols = st.columns([1, 1.6, 1.2, 1.6, 1]) if len(colours) > 1 else st.columns([1, 1.2, 1.6, 1])
    depth = option(cols[0].number_input, key, "depth", "Depth", 0, 12,
                   help="How many levels of sub-jaxprs (or HLO fusions and loops) start expanded.")  # fmt: skip
    if len(colours) == 1:
        colour_by, i = colours[0], 1
    else:
        wkey = f"{key}_colour"
        if st.session_state.setdefault("graph", {}).get(wkey, "family") not in colours:
            st.session_state["graph"].pop(wkey)  # a link's colouring this graph does not offer
        colour_by = option(
            cols[1].selectbox, key, "colour", "Colour by", colours, format_func=COLOUR_LABELS.get
        )
        i = 2
    budget = option(cols[i].select_slider, key, "budget", "Node budget", BUDGETS,
                    help="Above this many nodes the view collapses sub-graphs, then summarises runs of equations.")  # fmt: skip
    search = option(cols[i + 1].text_input, key, "search", "Search", placeholder="primitive, variable, or line 12",
                    help="Highlights matches and expands the path to them.")  # fmt: skip
    direction = option(cols[i + 2].selectbox, key, "dir", "Direction", ["TB", "LR"])
    with st.expander("More options"):
        a, b = st.columns(2)
        fold = option(a.toggle, key, "fold", "Fold repeated blocks",
                      help="The same run of equations repeated shows once, marked ×N.")  # fmt: skip
        labels = option(b.toggle, key, "labels", "Label edges with types")
    store = st.session_state.setdefault("graph", {})
    return GraphOptions(
        depth=int(depth),
        colour_by=colour_by,
        budget=budget,
        search=search,
        direction=direction,
        fold=fold,
        edge_labels=labels,
        expand=frozenset(store.get(f"{key}_expand", [])),
        collapse=frozenset(store.get(f"{key}_collapse", [])),
    )


def with_memory_heat(opts: GraphOptions, result: InspectionResult, graph_of: str) -> GraphOptions:
    """`opts` with the memory report's heat for graph `graph_of` ("after", "hlo") when colouring by memory."""
    if opts.colour_by != "memory":
        return opts
    return dataclasses.replace(opts, heat=mem.graph_heat(result.memory_report, graph_of))


MEMORY_CAPTIONS = {
    "after": "Each equation by its share of the residual bytes (what the backward pass reads from it); "
    "the program before the transforms has no memory colours.",
    "hlo": "Each instruction by its share of the bytes live at XLA's peak (the buffers it defines; "
    "an open fusion's root wears the fusion's).",
}


def memory_caption(result: InspectionResult, graph_of: str) -> None:
    """Say what the memory colours are, or why there are none."""
    report = result.memory_report
    if not mem.graph_heat(report, graph_of):
        why = "\n".join(report.notes) if report and report.notes else "no memory report for this program"
        if graph_of == "hlo" and report and report.peak and not report.peak.available:
            why = report.peak.note
        st.caption(f"No memory colours: {safe.md(why)}")
        return
    st.caption(MEMORY_CAPTIONS[graph_of])


def expand_widgets(graphs: list[Graph], key: str) -> None:
    """Offer the collapsed nodes and summaries of the drawn graphs for expanding (and open ones for collapsing)."""
    closed = {k: v for g in graphs for k, v in g.expandable().items()}
    opened = {k: v for g in graphs for k, v in g.collapsible().items()}
    for name, pool in (("expand", closed), ("collapse", opened)):
        current = st.session_state.setdefault("graph", {}).get(f"{key}_{name}", [])
        label = "Expand" if name == "expand" else "Collapse"
        option(st.multiselect, key, name, label, list(dict.fromkeys([*current, *pool])),
               format_func=lambda k, p=pool: p.get(k, k),
               help=f"{label} these sub-graphs (the depth setting decides the rest).")  # fmt: skip


def collective_colours(result: InspectionResult, opts: GraphOptions, graph_of: str) -> GraphOptions:
    """`opts` with each node's share of the bytes collectives move, when colouring by collective."""
    if opts.colour_by != "collective" or result.sharding is None:
        return opts
    return replace(opts, heat=tuple(sorted(sharding.collective_heat(result.sharding, graph_of).items())))


def no_collectives_note(result: InspectionResult, opts: GraphOptions) -> None:
    """Say why a graph coloured by collective is all grey: the compiled module moves nothing."""
    if opts.colour_by == "collective" and not (result.sharding and result.sharding.collectives):
        devices = result.sharding.devices if result.sharding else 1
        st.caption(
            f"The compiled module has no collectives (on {devices} device{'s' * (devices != 1)}): nothing to colour. "
            "A sharded program on more *Virtual CPU devices* (sidebar) has some."
        )


def height() -> int:
    """Return the graph viewer's height: taller in lecture mode, to fill a 16:9 projector."""
    return PROJECTOR_HEIGHT if state.lecture() else VIEWER_HEIGHT


# ---------------------------------------------------------------- the two public views


def jaxpr_graphs(result: InspectionResult, key: str, height: int = VIEWER_HEIGHT) -> None:
    """Render the before/after jaxpr graphs side by side, with options and DOT/SVG downloads."""
    models: list[tuple[str, JaxprModel | None]] = [
        ("before", result.jaxpr(0).model),
        ("after", result.jaxpr().model),
    ]
    if all(m is None for _, m in models):
        st.info(
            "No jaxpr to draw"
            + (
                f": {safe.md(result.error.kind)} during {safe.md(result.error.stage)}."
                if result.error
                else "."
            )
        )
        return
    opts = options_widgets(key)
    if opts.colour_by == "memory":
        memory_caption(result, "after")
    no_collectives_note(result, opts)
    same = result.jaxpr(0).text is not None and result.jaxpr(0).text == result.jaxpr().text
    if same:
        models = [("after", result.jaxpr().model)]
        st.caption("No transforms change this program: one graph.")
    cols = st.columns(len(models))
    drawn = []
    name = result.entry or "jaxpr"
    for col, (label, model) in zip(cols, models, strict=True):
        with col:
            title = name if label == "before" else (result.expression or name)
            st.markdown(f"**{'Before' if label == 'before' else 'After'}** · {safe.md(title)}")
            if model is None:
                st.info(f"No jaxpr {label} the transforms.")
                continue
            text = result.jaxpr(0).text if label == "before" else result.jaxpr().text
            source = (text, result.request.source, result.request.filename)
            drawn_opts = collective_colours(result, with_memory_heat(opts, result, label), label)
            graph, dot = cached_graph(f"jaxpr-{label}", source, BuildRequest("jaxpr", model, drawn_opts, title))
            if graph is None:
                too_large(dot)
                continue
            show_graph(graph, dot, f"{key}_{label}", f"{name}_{label}", height)
            drawn.append(graph)
    primitives.pending_dialog(result)  # a card a node asked for
    with st.expander("Expand or collapse sub-graphs"):
        expand_widgets(drawn, key)


def hlo_graph(result: InspectionResult, which: str, key: str, height: int = VIEWER_HEIGHT) -> None:
    """Render the StableHLO (`which="stablehlo"`) or compiled HLO (`"hlo"`) graph."""
    text = result.text_of("stablehlo") if which == "stablehlo" else result.text_of("hlo")
    label = "StableHLO" if which == "stablehlo" else "compiled HLO"
    if not text:
        st.info(
            f"No {label} to draw"
            + (
                f": {safe.md(result.error.kind)} during {safe.md(result.error.stage)}."
                if result.error
                else "."
            )
        )
        return
    opts = options_widgets(key, HLO_COLOURS[which])
    if opts.colour_by == "memory":
        memory_caption(result, which)
    no_collectives_note(result, opts)
    opts = collective_colours(result, with_memory_heat(opts, result, which), which)
    title = f"{label} of {result.entry or 'f'}"
    graph, dot = cached_graph(which, (text,), BuildRequest(which, text, opts, title))
    if graph is None:
        too_large(dot)
        return
    show_graph(graph, dot, key, f"{result.entry or 'module'}_{which}", height)
    with st.expander("Expand or collapse fusions, loops and calls"):
        expand_widgets([graph], key)


def line_graph(
    model: JaxprModel | None, text: str | None, title: str, line: int | None, key: str, height: int = 560
) -> None:
    """A jaxpr graph (of `text`, printed) coloured by source line, `line`'s equations marked."""
    if model is None:
        st.info("No jaxpr to draw.")
        return
    opts = GraphOptions(colour_by="line", search=f"line {line}" if line else "", depth=2)
    graph, dot = cached_graph(f"line-{key}", (text,), BuildRequest("jaxpr", model, opts, title))
    if graph is None:
        too_large(dot)
        return
    status, payload = layout(dot)
    if status != "svg":
        st.warning(safe.md(payload))
        return
    details = {n.id: n.details for n in graph.nodes if n.details}
    graph_view(payload, details, [n.id for n in graph.nodes if n.match], [], key=f"{key}_view", height=height)
