"""Graph views: the jaxpr before/after side by side, and StableHLO/HLO graphs.

The graph model and DOT come from `inspectors.graph`/`hlo_graph`/`render`
(no JAX). Layout runs graphviz-pure in a subprocess with a time limit, cached
on the DOT text, so a huge graph costs at most the limit and a clear message.
The SVG is shown in a small self-contained pan/zoom viewer (no CDN): wheel to
zoom, drag to pan, hover or click a node for the equation, params, source
line and types.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import streamlit as st

from app import safe, state
from app.components.embed import embed
from inspectors.graph import COLOUR_BY, Graph, GraphOptions, jaxpr_graph
from inspectors.hlo_graph import hlo_graph as build_hlo_graph
from inspectors.hlo_graph import stablehlo_graph
from inspectors.render import LayoutError, LayoutTimeout, dot_to_svg, to_dot
from inspectors.results import InspectionResult, JaxprModel

LAYOUT_LIMIT_S = 10.0
VIEWER_HEIGHT = 620
PROJECTOR_HEIGHT = 760  # lecture mode: a graph fills a 1920x1080 (16:9) screen below the tabs
BUDGETS = [50, 100, 150, 250, 400, 600, 1000]
COLOUR_LABELS = {
    "family": "primitive family",
    "provenance": "transform (primal / jvp / transpose)",
    "line": "source line",
}
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


def _cached_graph(kind: str, source: tuple[str | None, ...], opts: GraphOptions, build) -> tuple[Graph, str]:
    """Return (graph, DOT), remembered per session for the same texts and options."""
    cache: OrderedDict = st.session_state.setdefault("_graph_cache", OrderedDict())
    key = (kind, source, opts)
    if key not in cache:
        graph = build()
        cache[key] = (graph, to_dot(graph))
        while len(cache) > _GRAPH_CACHE_SIZE:
            cache.popitem(last=False)
    return cache[key]


# ---------------------------------------------------------------- the viewer

_VIEWER = """
<div id="wrap" style="position:relative;height:{height}px;border:1px solid #e5e7eb;border-radius:8px;
     overflow:hidden;background:#fff;cursor:grab;font-family:system-ui,sans-serif">
  <div id="stage" style="position:absolute;left:0;top:0;transform-origin:0 0">{svg}</div>
  <div style="position:absolute;top:6px;left:6px;z-index:2;display:flex;gap:4px">
    <button data-z="in" title="zoom in">+</button><button data-z="out" title="zoom out">&minus;</button>
    <button data-z="fit" title="fit to view">fit</button><button data-z="one" title="actual size">1:1</button>
    <span id="hint" style="font-size:11px;color:#6b7280;align-self:center">wheel zoom · drag pan · click: details</span>
  </div>
  <div id="info" style="position:absolute;right:6px;top:6px;max-width:48%;max-height:85%;overflow:auto;z-index:3;
       background:rgba(255,255,255,.97);border:1px solid #d1d5db;border-radius:6px;padding:6px 8px;font-size:12px;
       display:none;box-shadow:0 2px 8px rgba(0,0,0,.12)"></div>
</div>
<style>button{{font-size:12px;padding:1px 7px;border:1px solid #d1d5db;border-radius:4px;background:#f9fafb;cursor:pointer}}
pre{{margin:2px 0;font-size:11.5px;white-space:pre-wrap}} .k{{color:#6b7280}} g.node{{cursor:pointer}}</style>
<script>
const details = {details};
const matches = {matches};
const wrap = document.getElementById("wrap"), stage = document.getElementById("stage");
const info = document.getElementById("info"), svg = stage.querySelector("svg");
let s = 1, x = 0, y = 0, pinned = false;
if (svg) {{
  const vb = svg.viewBox.baseVal;
  svg.setAttribute("width", vb.width); svg.setAttribute("height", vb.height);
  svg.querySelectorAll("title").forEach(t => {{ if (t.parentNode.classList.contains("node")) t.parentNode.dataset.id = t.textContent; }});
}}
function apply() {{ stage.style.transform = `translate(${{x}}px,${{y}}px) scale(${{s}})`; }}
function fit() {{
  if (!svg) return;
  const vb = svg.viewBox.baseVal, W = wrap.clientWidth, H = wrap.clientHeight;
  const top = 30;  // keep the title clear of the toolbar
  s = Math.min(W / vb.width, (H - top) / vb.height, 1.5); x = (W - vb.width * s) / 2; y = top + Math.max((H - top - vb.height * s) / 2, 0); apply();
}}
function zoom(k, mx, my) {{
  const s2 = Math.min(Math.max(s * k, 0.01), 12);
  x = mx - (mx - x) * (s2 / s); y = my - (my - y) * (s2 / s); s = s2; apply();
}}
function esc(t) {{ return String(t).replace(/[&<>]/g, c => ({{"&": "&amp;", "<": "&lt;", ">": "&gt;"}})[c]); }}
function show(id) {{
  const d = details[id]; if (!d) return;
  let h = "";
  for (const [k, v] of Object.entries(d)) if (v) h += `<div><span class="k">${{esc(k)}}</span><pre>${{esc(v)}}</pre></div>`;
  info.innerHTML = h + (pinned ? '<div class="k">(click the background to close)</div>' : ""); info.style.display = "block";
}}
function nodeOf(el) {{ while (el && el !== svg) {{ if (el.classList && el.classList.contains("node")) return el; el = el.parentNode; }} return null; }}
wrap.addEventListener("wheel", e => {{
  e.preventDefault(); const r = wrap.getBoundingClientRect();
  zoom(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
}}, {{passive: false}});
let drag = null;
wrap.addEventListener("mousedown", e => {{ if (e.target.tagName === "BUTTON" || info.contains(e.target)) return; drag = {{x: e.clientX, y: e.clientY, x0: x, y0: y, moved: false}}; wrap.style.cursor = "grabbing"; }});
window.addEventListener("mousemove", e => {{
  if (!drag) return; const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true; x = drag.x0 + dx; y = drag.y0 + dy; apply();
}});
window.addEventListener("mouseup", e => {{
  if (drag && !drag.moved && !info.contains(e.target)) {{
    const n = nodeOf(e.target);
    if (n) {{ pinned = true; show(n.dataset.id); }} else {{ pinned = false; info.style.display = "none"; }}
  }}
  drag = null; wrap.style.cursor = "grab";
}});
wrap.addEventListener("mouseover", e => {{ if (pinned) return; const n = nodeOf(e.target); if (n) show(n.dataset.id); }});
wrap.addEventListener("mouseout", e => {{ if (!pinned && nodeOf(e.target)) info.style.display = "none"; }});
document.querySelectorAll("button[data-z]").forEach(b => b.addEventListener("click", () => {{
  const W = wrap.clientWidth / 2, H = wrap.clientHeight / 2, z = b.dataset.z;
  if (z === "in") zoom(1.3, W, H); else if (z === "out") zoom(1 / 1.3, W, H);
  else if (z === "fit") fit(); else {{ x = 0; y = 0; s = 1; apply(); }}
}}));
function focusMatch() {{
  const g = [...svg.querySelectorAll("g.node")].find(n => n.dataset.id === matches[0]); if (!g) return;
  s = Math.max(s, 0.8); apply();
  const r = g.getBoundingClientRect(), w = wrap.getBoundingClientRect();
  x += w.left + w.width / 2 - (r.left + r.width / 2); y += w.top + w.height / 2 - (r.top + r.height / 2); apply();
  pinned = true; show(matches[0]);
}}
function fitWidth() {{
  if (!svg) return;
  const vb = svg.viewBox.baseVal; s = Math.min(wrap.clientWidth / vb.width, 1.2);
  x = (wrap.clientWidth - vb.width * s) / 2; y = 30; apply();
}}
fitWidth(); if (svg && matches.length) focusMatch();
</script>
"""


def viewer_html(svg: str, graph: Graph, height: int = VIEWER_HEIGHT) -> str:
    """Return the self-contained pan/zoom viewer page for an SVG and its graph's node details."""
    svg = svg[svg.find("<svg") :] if "<svg" in svg else svg
    details = {n.id: n.details for n in graph.nodes if n.details}
    matches = [n.id for n in graph.nodes if n.match]
    as_js = lambda v: json.dumps(v).replace("</", "<\\/")  # noqa: E731
    return _VIEWER.format(height=height, svg=svg, details=as_js(details), matches=as_js(matches))


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
        embed(viewer_html(payload, graph, height), height + 8)
    elif status == "timeout":
        st.warning(
            f"Layout stopped: {payload}. Lower the depth or the node budget, or search for what you need."
        )
    else:
        st.error(payload)
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
    store = st.session_state["graph"]
    if value == default:
        store.pop(wkey, None)
    else:
        store[wkey] = list(value) if isinstance(value, (list, tuple)) else value


def option(widget, key: str, name: str, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """Draw one graph option's widget, seeded from the store; return its value."""
    wkey, default = f"{key}_{name}", OPTION_DEFAULTS[name]
    st.session_state[wkey] = st.session_state["graph"].get(wkey, default)
    return widget(*args, key=wkey, on_change=_keep, args=(wkey, default), **kwargs)


def options_widgets(key: str, hlo: bool = False) -> GraphOptions:
    """Draw the graph options; return them as GraphOptions."""
    cols = st.columns([1, 1.6, 1.2, 1.6, 1]) if not hlo else st.columns([1, 1.2, 1.6, 1])
    depth = option(cols[0].number_input, key, "depth", "Depth", 0, 12,
                   help="How many levels of sub-jaxprs (or HLO fusions and loops) start expanded.")  # fmt: skip
    if hlo:
        colour_by, i = "family", 1
    else:
        colour_by = option(cols[1].selectbox, key, "colour", "Colour by", COLOUR_BY, format_func=COLOUR_LABELS.get)
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
    store = st.session_state["graph"]
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


def expand_widgets(graphs: list[Graph], key: str) -> None:
    """Offer the collapsed nodes and summaries of the drawn graphs for expanding (and open ones for collapsing)."""
    closed = {k: v for g in graphs for k, v in g.expandable().items()}
    opened = {k: v for g in graphs for k, v in g.collapsible().items()}
    for name, pool in (("expand", closed), ("collapse", opened)):
        current = st.session_state["graph"].get(f"{key}_{name}", [])
        label = "Expand" if name == "expand" else "Collapse"
        option(st.multiselect, key, name, label, list(dict.fromkeys([*current, *pool])),
               format_func=lambda k, p=pool: p.get(k, k),
               help=f"{label} these sub-graphs (the depth setting decides the rest).")  # fmt: skip


def height() -> int:
    """Return the graph viewer's height: taller in lecture mode, to fill a 16:9 projector."""
    return PROJECTOR_HEIGHT if state.lecture() else VIEWER_HEIGHT


# ---------------------------------------------------------------- the two public views


def jaxpr_graphs(result: InspectionResult, key: str, height: int = VIEWER_HEIGHT) -> None:
    """Render the before/after jaxpr graphs side by side, with options and DOT/SVG downloads."""
    models: list[tuple[str, JaxprModel | None]] = [
        ("before", result.model_before),
        ("after", result.model_after),
    ]
    if all(m is None for _, m in models):
        st.info(
            "No jaxpr to draw"
            + (f": {safe.md(result.error.kind)} during {safe.md(result.error.stage)}." if result.error else ".")
        )
        return
    opts = options_widgets(key)
    same = result.jaxpr_before is not None and result.jaxpr_before == result.jaxpr_after
    if same:
        models = [("after", result.model_after)]
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
            text = result.jaxpr_before if label == "before" else result.jaxpr_after
            source = (text, result.request.source, result.request.filename, title)
            graph, dot = _cached_graph(
                f"jaxpr-{label}", source, opts, lambda m=model, t=title: jaxpr_graph(m, opts, t)
            )
            show_graph(graph, dot, f"{key}_{label}", f"{name}_{label}", height)
            drawn.append(graph)
    with st.expander("Expand or collapse sub-graphs"):
        expand_widgets(drawn, key)


def hlo_graph(result: InspectionResult, which: str, key: str, height: int = VIEWER_HEIGHT) -> None:
    """Render the StableHLO (`which="stablehlo"`) or compiled HLO (`"hlo"`) graph."""
    text = result.stablehlo if which == "stablehlo" else result.hlo
    label = "StableHLO" if which == "stablehlo" else "compiled HLO"
    if not text:
        st.info(
            f"No {label} to draw"
            + (f": {safe.md(result.error.kind)} during {safe.md(result.error.stage)}." if result.error else ".")
        )
        return
    opts = options_widgets(key, hlo=True)
    build = stablehlo_graph if which == "stablehlo" else build_hlo_graph
    title = f"{label} of {result.entry or 'f'}"
    graph, dot = _cached_graph(which, (text, title), opts, lambda: build(text, opts, title))
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
    graph, dot = _cached_graph(f"line-{key}", (text, title), opts, lambda: jaxpr_graph(model, opts, title))
    status, payload = layout(dot)
    if status != "svg":
        st.warning(payload)
        return
    embed(viewer_html(payload, graph, height=height), height + 8)
