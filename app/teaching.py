"""Teaching views: the mode bar, lecture mode, the source map, provenance, and the walkthrough.

Source map and provenance are read from an `InspectionResult` with
`inspectors.mapping`/`provenance` (no JAX). The walkthrough runs user code, so
it comes from the sandboxed worker (`app.backend.run_walkthrough`), cached on
the request. Text views paint every line with the colour of the source line it
came from, as Compiler Explorer does; the selected source line's lines get an
outline and a `sel` class (the tests read them back).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter

from app import backend, graph_view, inspection, safe, state, views
from inspectors.graph import GraphOptions, jaxpr_graph
from inspectors.lexers import get_lexer
from inspectors.mapping import (
    line_color,
    line_info,
    line_of_equation,
    line_of_hlo_instruction,
    line_of_stablehlo_line,
    walk,
)
from inspectors.provenance import grad_provenance, jit_provenance, vmap_provenance
from inspectors.render import to_dot
from inspectors.results import InspectionResult, JaxprModel, Request, request_from_dict
from inspectors.teaching_results import SourceMap, Walkthrough

MODE_LABELS = {"explore": "Explore", "walkthrough": "Walkthrough"}
STATUS_LABELS = {
    "traced": "traced",
    "lowered": "lowered (ops only)",
    "called": "called (via a local def)",
    "nothing": "produced nothing",
}
FORWARD_FILL, BACKWARD_FILL, INTRODUCED_FILL = "#dbeafe", "#fde2e4", "#fef3c7"
STEP_SHORT = ["Source", "Tracing", "Jaxpr", "Interpreter", "StableHLO", "XLA", "Run & time"]
STEP_TITLES = [
    "The Python source",
    "Tracing with abstract values",
    "The jaxpr",
    "jvp as a jaxpr interpreter",
    "Lowering to StableHLO",
    "XLA compilation and fusion",
    "Run and time",
]
PAINTED = (
    '<div class="explorer-code painted" style="max-height:{height}px; overflow:auto; border:1px solid #e5e7eb; '
    'border-radius:0.5rem; background:#fff"><pre style="margin:0; padding:0.4rem 0; white-space:pre">'
    "{body}</pre></div>"
)
LECTURE_CSS = """
<style>
/* lecture mode: large type, high contrast, fewer panels */
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stAppViewContainer"] { background: #ffffff; color: #000000; }
.block-container { max-width: 100% !important; padding: 3rem 2rem 1rem !important; }
.explorer-code, .explorer-code pre, .explorer-code code { font-size: 22px !important; line-height: 1.45 !important; }
[data-testid="stCode"] code, [data-testid="stCode"] pre { font-size: 21px !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 22px; }
[data-testid="stCaptionContainer"] { font-size: 18px !important; color: #111 !important; }
[data-testid="stDownloadButton"], [data-testid="stSidebarCollapsedControl"] + div .explorer-hide { display: none !important; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * { font-size: 2.2rem !important; }
.st-key-wt_prev button, .st-key-wt_next button { font-size: 26px !important; min-height: 3.4rem; padding: 0 2rem; }
.st-key-wt_prev button p, .st-key-wt_next button p { font-size: 26px !important; }
button[role="tab"] p { font-size: 22px !important; }
.painted-line.sel { outline: 3px solid #000 !important; }
</style>
"""
KEYS_JS = """
<script>
// Arrow keys and a presenter's clicker (PageUp/PageDown) press Prev/Next in the app's page.
const doc = window.parent.document;
if (window.parent.__explorerKeys) doc.removeEventListener("keydown", window.parent.__explorerKeys, true);
window.parent.__explorerKeys = (e) => {
  const t = e.target, tag = (t && t.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || (t && t.isContentEditable)) return;
  if (t && t.closest && t.closest(".ace_editor")) return;
  const next = e.key === "ArrowRight" || e.key === "PageDown";
  const prev = e.key === "ArrowLeft" || e.key === "PageUp";
  if (!next && !prev) return;
  const button = doc.querySelector(next ? ".st-key-wt_next button" : ".st-key-wt_prev button");
  if (button && !button.disabled) { e.preventDefault(); button.click(); }
};
doc.addEventListener("keydown", window.parent.__explorerKeys, true);
</script>
"""


# --- mode bar and lecture mode ------------------------------------------------------------------


def _set_mode() -> None:
    """Copy the mode picker into the state."""
    state_ = st.session_state
    state_["mode"] = state_.get("mode_pick") or state_["mode"]


def _set_lecture() -> None:
    """Copy the lecture toggle into the state."""
    st.session_state["lecture"] = st.session_state["lecture_pick"]


def mode_bar() -> None:
    """Explore | Walkthrough, and the lecture-mode switch (both also in the URL)."""
    st.session_state["mode_pick"] = st.session_state["mode"]
    st.session_state["lecture_pick"] = st.session_state["lecture"]
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.segmented_control(
        "Mode", list(MODE_LABELS), format_func=MODE_LABELS.get, key="mode_pick", on_change=_set_mode,
        required=True, label_visibility="collapsed",
        help="Explore every stage at once, or walk through how JAX works step by step.",
    )  # fmt: skip
    right.toggle(
        "Lecture mode", key="lecture_pick", on_change=_set_lecture,
        help="Large type, high contrast, fewer panels: for a projector. Links keep it (`lecture=1`).",
    )  # fmt: skip


def lecture_theme() -> None:
    """Inject the lecture stylesheet when lecture mode is on."""
    if state.lecture():
        st.markdown(LECTURE_CSS, unsafe_allow_html=True)


def scheme() -> str:
    """The line palette: "contrast" in lecture mode."""
    return "contrast" if state.lecture() else "light"


# --- painted text: every line in its source line's colour ---------------------------------------


@st.cache_data(max_entries=128, show_spinner=False)
def lexed_lines(text: str, language: str) -> list[str]:
    """Return `text` highlighted by Pygments, one HTML fragment per line."""
    formatter = HtmlFormatter(noclasses=True, nowrap=True)
    body = pygments_highlight(text, get_lexer(language), formatter)
    lines = body.split("\n")
    count = len(text.split("\n"))
    return (lines + [""] * count)[:count]


def painted_html(
    text: str,
    language: str,
    colors: dict[int, str],
    selected: set[int] = frozenset(),  # type: ignore[assignment]
    sources: dict[int, int] | None = None,
    height: int = 560,
    emphasis: dict[int, set[str]] | None = None,
    linenos: bool = False,
    only: tuple[int, int] | None = None,
) -> str:
    """Return `text` as HTML, each line on the background `colors[line]`, `selected` lines outlined.

    Every line is `<span class="painted-line" data-line="N" data-src="L">`: N its 1-based
    number, L the source line it came from (when known).
    """
    out = []
    lecture = state.lecture()
    for number, fragment in enumerate(lexed_lines(text, language), start=1):
        if only and not only[0] <= number <= only[1]:
            continue
        color = colors.get(number)
        sel = number in selected
        style = ["display:block", "padding:0 0.8rem"]
        if color:
            style.append(f"background:{color}" if not lecture else f"border-left:8px solid {color}")
        if sel:
            style.append("outline:2px solid #111;outline-offset:-2px;font-weight:600")
        if emphasis and number in emphasis:
            fragment = _emphasise(fragment, emphasis[number])
        src = f' data-src="{sources[number]}"' if sources and number in sources else ""
        cls = "painted-line sel" if sel else "painted-line"
        if linenos:
            fragment = f'<span style="color:#9ca3af;user-select:none">{number:>3} </span>' + fragment
        out.append(
            f'<span class="{cls}" data-line="{number}"{src} style="{";".join(style)}">{fragment or " "}</span>'
        )
    return PAINTED.format(height=height, body="".join(out))


def _emphasise(fragment: str, names: set[str]) -> str:
    """Underline and embolden whole-word variable names in one highlighted line (outside tags)."""
    pattern = re.compile(r"(?<![\w:.])(" + "|".join(map(re.escape, sorted(names))) + r")(?![\w\[])")
    parts = re.split(r"(<[^>]+>)", fragment)
    mark = r'<b style="text-decoration:underline;text-decoration-thickness:2px;color:#b91c1c">\1</b>'
    return "".join(p if p.startswith("<") else pattern.sub(mark, p) for p in parts)


def show_painted(text: str, language: str, colors: dict[int, str], **kwargs) -> None:  # noqa: ANN003
    """Draw painted text."""
    st.html(painted_html(text, language, colors, **kwargs))


# --- where equations and ops are in the texts ----------------------------------------------------


def equation_lines(text: str, model: JaxprModel | None) -> dict[str, list[int]]:
    """Map equation ids to the 1-based lines of the printed jaxpr that show them.

    Equations print in the order `walk` visits them (a sub-jaxpr inside its equation's
    params), so one forward scan finds each one's first line. A leaf equation spans its
    own text's lines; an equation holding sub-jaxprs is marked on its first line only.
    """
    lines = text.split("\n")
    out, cursor = {}, 0
    for eqn in walk(model):
        own = eqn.text.split("\n")
        head = own[0].strip()
        for n in range(cursor, len(lines)):
            if lines[n].strip() == head:
                span = 1 if eqn.subjaxprs else len(own)
                out[eqn.id] = list(range(n + 1, n + 1 + span))
                cursor = n + 1
                break
    return out


def _eqn_index(model: JaxprModel | None) -> dict[str, object]:
    """Equation id → equation."""
    return {e.id: e for e in walk(model)}


def jaxpr_colors(text: str, model: JaxprModel | None, filename: str) -> tuple[dict[int, str], dict[int, int]]:
    """Return (text line → colour, text line → source line) for a printed jaxpr."""
    colors, sources = {}, {}
    eqns = _eqn_index(model)
    for eqn_id, numbers in equation_lines(text, model).items():
        src = eqns[eqn_id].source  # type: ignore[attr-defined]
        if src is None or not src.file.endswith(filename):
            continue
        for n in numbers:
            colors[n], sources[n] = line_color(src.line, scheme()), src.line
    return colors, sources


def op_colors(smap: SourceMap, which: str, plain: bool = False) -> tuple[dict[int, str], dict[int, int]]:
    """Return (text line → colour, text line → source line) for StableHLO or compiled HLO text."""
    ops = smap.stablehlo_ops if which == "stablehlo" else smap.hlo_ops
    colors, sources = {}, {}
    for op in ops:
        n = op.plain_line if plain else op.text_line
        if op.line is not None and n is not None:
            colors[n], sources[n] = line_color(op.line, scheme()), op.line
    return colors, sources


# --- the source map and provenance, cached per result --------------------------------------------


def _memo(kind: str, result: InspectionResult, build: Callable) -> object:
    """Return `build()`, remembered per session for this result's request."""
    cache = st.session_state.setdefault("_teaching_cache", {})
    key = (kind, state.request_key(result.request), len(result.hlo or ""), len(result.jaxpr_after or ""))
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        cache[key] = build()
    return cache[key]


def smap_of(result: InspectionResult) -> SourceMap:
    """Return the result's source map."""
    from inspectors.mapping import source_map

    return _memo("smap", result, lambda: source_map(result))  # type: ignore[return-value]


@dataclass
class Row:
    """One line of the user's code as the source map lists it."""

    line: int
    code: str
    status: str
    color: str
    eqns: int
    stablehlo: int
    hlo: int


def source_rows(smap: SourceMap, code: str) -> list[Row]:
    """Every line of the entry function plus every other line something came from."""
    lines = code.split("\n")
    numbers = set(range(smap.entry_span[0], smap.entry_span[1] + 1)) if smap.entry_span else set()
    numbers |= {i.line for i in smap.lines}
    rows = []
    for n in sorted(x for x in numbers if 0 < x <= len(lines)):
        info = line_info(smap, n)
        rows.append(
            Row(
                line=n,
                code=lines[n - 1],
                status=STATUS_LABELS.get(info.status, info.status) if info else "",
                color=line_color(n, scheme()) if info and info.status != "nothing" else "",
                eqns=len(info.eqns_after) if info else 0,
                stablehlo=len(info.stablehlo) if info else 0,
                hlo=len(info.hlo) if info else 0,
            )
        )
    return rows


def source_table_html(rows: list[Row], selected: int | None) -> str:
    """The user's lines with a colour swatch and a status each."""
    out = []
    for r in rows:
        swatch = (
            f'<span style="display:inline-block;width:1.1em;height:1.1em;border-radius:3px;background:{r.color};'
            'border:1px solid #9ca3af;vertical-align:middle"></span>'
            if r.color
            else '<span style="display:inline-block;width:1.1em"></span>'
        )
        status = r.status
        if status == "produced nothing":
            status = f'<span style="color:#b45309;font-style:italic">{status}</span>'
        counts = (
            f"{r.eqns} eqn · {r.stablehlo} shlo · {r.hlo} hlo"
            if r.status and r.status != "produced nothing"
            else ""
        )
        sel = " sel" if r.line == selected else ""
        weight = "font-weight:700;outline:2px solid #111;" if sel else ""
        out.append(
            f'<tr class="src-row{sel}" data-src="{r.line}" style="{weight}">'
            f'<td style="color:#6b7280;text-align:right;padding:0 0.4rem">{r.line}</td><td>{swatch}</td>'
            f'<td style="white-space:nowrap;padding:0 0.4rem" class="status">{status}</td>'
            f'<td style="white-space:nowrap;color:#6b7280;font-size:0.85em;padding:0 0.4rem">{counts}</td>'
            f'<td style="font-family:monospace;white-space:pre;padding:0 0.6rem;width:100%">{html.escape(r.code)}</td></tr>'
        )
    return (
        '<div class="explorer-code source-table" style="overflow:auto;border:1px solid #e5e7eb;border-radius:0.5rem">'
        '<table style="border-collapse:collapse;width:100%;font-size:13px">' + "".join(out) + "</table></div>"
    )


# --- Explore mode: the Source map tab ------------------------------------------------------------


def _pick_line(value: int | None) -> None:
    """Select a source line."""
    st.session_state["sm_line"] = value


def _from_equation() -> None:
    """Select the source line of the picked equation."""
    pick = st.session_state.get("sm_eqn")
    if pick:
        _pick_line(int(pick.split("@")[1]) if "@" in pick else None)


def _from_op() -> None:
    """Select the source line of the picked StableHLO op or HLO instruction."""
    pick = st.session_state.get("sm_op")
    if pick:
        _pick_line(int(pick.split("@")[1]) if "@" in pick else None)


def source_map_tab(result: InspectionResult) -> None:
    """Source lines with colours and statuses; pick a line (or an equation, an op) to highlight."""
    if result.model_after is None and result.model_before is None:
        st.info("No source map: the inspection stopped before tracing.")
        return
    smap = smap_of(result)
    rows = source_rows(smap, result.request.source)
    mapped = [r.line for r in rows if r.status]
    if st.session_state.get("sm_line") not in mapped:
        st.session_state["sm_line"] = next(
            (i.line for i in smap.lines if i.eqns_after), mapped[0] if mapped else None
        )
    selected = st.session_state["sm_line"]
    left, right = st.columns([2, 3], gap="medium")
    with left:
        st.markdown("**Source lines** · colour, and what each produced")
        st.selectbox(
            "Source line", mapped, key="sm_line",
            format_func=lambda n: f"line {n}: {result.request.source.split(chr(10))[n - 1].strip()[:60]}",
            help="Highlights the equations, StableHLO ops and HLO instructions traced or lowered from this line.",
        )  # fmt: skip
        st.html(source_table_html(rows, selected))
        _reverse_pickers(result, smap)
    with right:
        _mapped_views(result, smap, selected)


def _reverse_pickers(result: InspectionResult, smap: SourceMap) -> None:
    """Pick an equation or an op: its source line becomes the selection."""
    eqns = [f"{e.id} · {e.text.splitlines()[0].strip()[:70]}" + (f" @{line}" if (line := line_of_equation(smap, e.id)) else "")
            for e in walk(result.model_after) if not e.subjaxprs]  # fmt: skip
    st.selectbox("…or pick an equation (after)", [""] + eqns, key="sm_eqn", on_change=_from_equation,
                 help="Selects the source line this equation was traced from.")  # fmt: skip
    ops = []
    for op in smap.stablehlo_ops:
        line = line_of_stablehlo_line(smap, op.text_line)
        ops.append(f"StableHLO {op.name or ''} {op.opcode}".strip() + (f" @{line}" if line else ""))
    for op in smap.hlo_ops:
        line = line_of_hlo_instruction(smap, op.name)
        ops.append(f"HLO {op.name} ({op.opcode})" + (f" @{line}" if line else ""))
    st.selectbox("…or pick a StableHLO op / HLO instruction", [""] + ops, key="sm_op", on_change=_from_op,
                 help="Selects the source line this op was lowered or compiled from.")  # fmt: skip


def highlighted_lines(result: InspectionResult, smap: SourceMap, line: int | None) -> dict[str, set[int]]:
    """Return the text lines to highlight for a source line: jaxpr before/after, StableHLO, HLO."""
    info = line_info(smap, line) if line else None
    if info is None:
        return {"before": set(), "after": set(), "stablehlo": set(), "hlo": set()}
    before = equation_lines(result.jaxpr_before or "", result.model_before)
    after = equation_lines(result.jaxpr_after or "", result.model_after)
    hlo_lines = {op.name: op.text_line for op in smap.hlo_ops}
    return {
        "before": {n for e in info.eqns_before for n in before.get(e, [])},
        "after": {n for e in info.eqns_after for n in after.get(e, [])},
        "stablehlo": set(info.stablehlo),
        "hlo": {hlo_lines[name] for name in info.hlo if name in hlo_lines},
    }


def _mapped_views(result: InspectionResult, smap: SourceMap, line: int | None) -> None:
    """The jaxprs, StableHLO and HLO, painted by source line, the selected line's parts outlined."""
    hl = highlighted_lines(result, smap, line)
    info = line_info(smap, line) if line else None
    if info is not None:
        st.markdown(
            f"**line {line}** `{info.code.strip()}` → {len(info.eqns_before)} equation(s) before, "
            f"{len(info.eqns_after)} after · {len(info.stablehlo)} StableHLO op(s) · "
            f"{len(info.hlo)} HLO instruction(s)"
        )
    jaxpr_t, shlo_t, hlo_t, graph_t = st.tabs(["Jaxpr", "StableHLO", "Compiled HLO", "Graph"], key="sm_view")
    fname = result.request.filename
    with jaxpr_t:
        for title, text, model, which in (
            ("Before", result.jaxpr_before, result.model_before, "before"),
            ("After", result.jaxpr_after, result.model_after, "after"),
        ):
            if text is None or (which == "before" and text == result.jaxpr_after):
                continue
            colors, sources = jaxpr_colors(text, model, fname)
            st.caption(f"{title} · {safe.code_span(result.entry if which == 'before' else result.expression)}")
            show_painted(text, "jaxpr", colors, selected=hl[which], sources=sources, height=360)
    with shlo_t:
        if result.stablehlo_debug:
            colors, sources = op_colors(smap, "stablehlo")
            st.caption(
                "StableHLO with source locations: each op's `loc(...)` names the line it was lowered from."
            )
            show_painted(
                result.stablehlo_debug, "stablehlo", colors, selected=hl["stablehlo"], sources=sources
            )
        else:
            st.info("No StableHLO: the inspection stopped before lowering.")
    with hlo_t:
        if result.hlo:
            colors, sources = op_colors(smap, "hlo")
            st.caption(
                "Compiled HLO: each instruction's metadata names its source line (fusions keep the lines of what they fused)."
            )
            show_painted(result.hlo, "hlo", colors, selected=hl["hlo"], sources=sources)
        else:
            st.info("No compiled HLO: the inspection stopped before compiling.")
    if graph_t.open is not False:
        with graph_t:
            model = result.model_after or result.model_before
            st.caption("Coloured by source line; the selected line's equations are marked as search matches.")
            line_graph(model, f"{result.entry} — {result.expression}", line, key="sm_graph")


def line_graph(model: JaxprModel | None, title: str, line: int | None, key: str, height: int = 560) -> None:
    """A jaxpr graph coloured by source line with `line`'s equations marked (public graph API only)."""
    if model is None:
        st.info("No jaxpr to draw.")
        return
    opts = GraphOptions(colour_by="line", search=f"line {line}" if line else "", depth=2)
    graph = jaxpr_graph(model, opts, title)
    status, payload = graph_view.layout(to_dot(graph))
    if status != "svg":
        st.warning(payload)
        return
    page = graph_view.viewer_html(payload, graph, height=height)
    _embed(page, height + 8)


def _embed(page: str, height: int) -> None:
    """Show a self-contained page in an iframe that may reach the app's page (st.iframe where available)."""
    if hasattr(st, "iframe"):
        st.iframe(page, height=height) if height else st.iframe(page, height=1)
    else:
        components.html(page, height=height)


# --- Explore mode: the Provenance tab -------------------------------------------------------------


def provenance_tab(result: InspectionResult) -> None:
    """What each transformation did: grad's two passes, vmap's batch dimensions, jit's fusions."""
    if result.model_after is None:
        st.info("No provenance: the inspection stopped before tracing.")
        return
    shown = False
    grad = grad_provenance(result.model_after)
    if grad.forward or grad.backward:
        _grad_section(result, grad)
        shown = True
    vmap = vmap_provenance(result.model_before, result.model_after)
    if vmap.batched or vmap.introduced:
        _vmap_section(result, vmap)
        shown = True
    if result.hlo:
        _jit_section(result)
        shown = True
    if not shown:
        st.info("Nothing to trace back yet: add grad or vmap, or wait for the compiled HLO.")


def _grad_section(result: InspectionResult, grad) -> None:  # noqa: ANN001
    """Forward and backward counts, residuals, and the after-jaxpr in two colours."""
    st.markdown("#### :material/swap_horiz: grad: forward and backward passes")
    c = grad.counts
    cols = st.columns(4)
    cols[0].metric("Forward (jvp)", c["forward"])
    cols[1].metric("Backward (transpose)", c["backward"])
    cols[2].metric("Other", c["other"])
    cols[3].metric("Residuals", c["residuals"], help="Values the forward pass saves for the backward pass.")
    text = result.jaxpr_after or ""
    where = equation_lines(text, result.model_after)
    colors: dict[int, str] = {}
    for ids, fill in ((grad.forward, FORWARD_FILL), (grad.backward, BACKWARD_FILL)):
        for e in ids:
            colors.update({n: fill for n in where.get(e, [])})
    emphasis: dict[int, set[str]] = {}
    for r in grad.residuals:
        for e in [r.produced_by, *r.consumed_by]:
            for n in where.get(e, []):
                emphasis.setdefault(n, set()).add(r.name)
    text_col, res_col = st.columns([3, 2], gap="medium")
    with text_col:
        st.html(
            f'<span style="background:{FORWARD_FILL};padding:0 0.4rem">forward</span> '
            f'<span style="background:{BACKWARD_FILL};padding:0 0.4rem">backward</span> '
            '<b style="color:#b91c1c;text-decoration:underline">residual</b>'
        )
        show_painted(text, "jaxpr", colors, emphasis=emphasis, height=420)
    with res_col:
        st.markdown("**Residuals** (saved by the forward pass, read by the backward pass)")
        frame = pd.DataFrame(
            [
                {
                    "name": r.name,
                    "type": r.type,
                    "produced by": r.produced_by,
                    "read by": ", ".join(r.consumed_by),
                }
                for r in grad.residuals
            ]  # fmt: skip
        )
        st.dataframe(frame, hide_index=True, width="stretch")


def _vmap_section(result: InspectionResult, vmap) -> None:  # noqa: ANN001
    """Variables that gained a batch dimension, and equations vmap introduced."""
    st.markdown("#### :material/view_week: vmap: batch dimensions")
    a, b, c = st.columns(3)
    a.metric("Batched variables", len(vmap.batched))
    b.metric("Matched equations", len(vmap.matched))
    c.metric("Introduced equations", len(vmap.introduced))
    left, right = st.columns(2, gap="medium")
    left.markdown("**Variables that gained a batch dimension**")
    left.dataframe(
        pd.DataFrame(
            [
                {
                    "name": v.name,
                    "where": v.where,
                    "before": v.before_type,
                    "after": v.after_type,
                    "axis": v.axis,
                }
                for v in vmap.batched
            ]
        ),  # fmt: skip
        hide_index=True,
        width="stretch",
    )
    right.markdown("**Equations vmap introduced** (no per-example counterpart)")
    right.dataframe(
        pd.DataFrame(
            [{"equation": i.id, "primitive": i.primitive, "origin": i.origin} for i in vmap.introduced]
        ),
        hide_index=True,
        width="stretch",
    )
    changed = [m for m in vmap.matched if m.changed_params]
    if changed:
        with st.expander(f"Params vmap changed ({len(changed)} equations)"):
            for m in changed:
                st.markdown(
                    f"- `{m.after}` {m.primitive}: "
                    + "; ".join(f"`{k}`: {v}" for k, v in m.changed_params.items())
                )
    where = equation_lines(result.jaxpr_after or "", result.model_after)
    colors = {n: INTRODUCED_FILL for i in vmap.introduced for n in where.get(i.id, [])}
    names = {v.name for v in vmap.batched}
    emphasis = {n: names for n in range(1, (result.jaxpr_after or "").count("\n") + 2)}
    st.caption("The vmapped jaxpr: introduced equations in yellow, batched variables underlined.")
    show_painted(result.jaxpr_after or "", "jaxpr", colors, emphasis=emphasis, height=360)


def _jit_section(result: InspectionResult) -> None:
    """Fusions, folded constants, equations with no HLO left."""
    smap = smap_of(result)
    jit = _memo("jit", result, lambda: jit_provenance(result, smap))
    st.markdown("#### :material/merge: jit: what lowering and XLA changed")
    a, b, c, d = st.columns(4)
    a.metric("StableHLO ops", jit.stablehlo_ops)
    b.metric("HLO instructions", jit.hlo_instructions)
    c.metric("Fusions", len(jit.fusions))
    d.metric("Equations with no HLO", len(jit.eqns_without_hlo))
    fusion_table(jit)
    left, right = st.columns(2, gap="medium")
    left.markdown("**Constants folded away** (in StableHLO, in no HLO constant)")
    left.dataframe(
        pd.DataFrame(
            [
                {"value": k.value[:60], "type": k.type, "StableHLO line": k.text_line, "source line": k.line}
                for k in jit.folded_constants
            ]
        ),  # fmt: skip
        hide_index=True,
        width="stretch",
    )
    eqns = _eqn_index(result.model_after)
    right.markdown("**Equations with no HLO left** (folded, fused into nothing, or forwarded)")
    right.dataframe(
        pd.DataFrame(
            [
                {
                    "equation": e,
                    "text": eqns[e].text.splitlines()[0].strip()[:60],  # type: ignore[attr-defined]
                    "line": eqns[e].source.line if eqns[e].source else None,
                }  # type: ignore[attr-defined]
                for e in jit.eqns_without_hlo
                if e in eqns
            ]
        ),  # fmt: skip
        hide_index=True,
        width="stretch",
    )


def fusion_table(jit) -> None:  # noqa: ANN001
    """XLA's fusions: kind, fused instructions, source lines (each in its colour)."""
    st.markdown("**Fusions** (XLA merged these instructions into one kernel)")
    if not jit.fusions:
        st.caption("No fusions in the compiled HLO.")
        return
    rows = []
    for f in jit.fusions:
        swatches = " ".join(
            f'<span style="background:{line_color(n, scheme())};padding:0 0.35rem;border-radius:3px">{n}</span>'
            for n in f.lines
        )
        rows.append(
            f"<tr><td><code>{html.escape(f.name)}</code></td><td>{html.escape(f.kind)}</td>"
            f"<td>{len(f.instructions)}</td><td style='font-size:0.85em'>{html.escape(', '.join(f.opcodes[:12]))}"
            f"{' …' if len(f.opcodes) > 12 else ''}</td><td>{swatches}</td></tr>"
        )
    st.html(
        '<table class="fusions" style="border-collapse:collapse;width:100%;font-size:13px">'
        "<tr><th>fusion</th><th>kind</th><th>#</th><th>instructions</th><th>source lines</th></tr>"
        + "".join(rows)
        + "</table>"
    )


# --- Walkthrough mode -------------------------------------------------------------------------------


@st.cache_data(max_entries=32, show_spinner=False)
def _walkthrough(request_json: str) -> Walkthrough:
    """Return the worker's walkthrough for a request given as JSON (the cache key)."""
    walk = backend.run_walkthrough(request_from_dict(json.loads(request_json)))
    return inspection.unless_transient(walk, walk.trace_error)


def walkthrough_of(request: Request) -> Walkthrough:
    """Return the (cached) walkthrough of a request."""
    return inspection.call_cached(_walkthrough, request)


def vmap_chosen(w: Walkthrough) -> bool:
    """True when step 4 shows the vmap interpreter (the pipeline has a vmap, and it is picked)."""
    return w.vmap is not None and st.session_state.get("wt_interp", "vmap") == "vmap"


def _jvp_total(w: Walkthrough) -> int:
    """Equations step 4 walks through, for the interpreter shown."""
    return len(w.vmap.steps) if vmap_chosen(w) else len(w.steps)


def _next() -> None:
    """Forward: the next equation inside step 4, else the next step."""
    s = st.session_state
    if s["step"] == 4 and s.get("jvp_step", 0) < s.get("_jvp_total", 0):
        s["jvp_step"] = s.get("jvp_step", 0) + 1
    else:
        s["step"] = min(s["step"] + 1, state.WALKTHROUGH_STEPS)


def _prev() -> None:
    """Back: the previous equation inside step 4, else the previous step."""
    s = st.session_state
    if s["step"] == 4 and s.get("jvp_step", 0) > 0:
        s["jvp_step"] -= 1
    else:
        s["step"] = max(s["step"] - 1, 1)


def _jump() -> None:
    """Go to the step picked in the step strip."""
    pick = st.session_state.get("wt_pick")
    if pick:
        st.session_state["step"] = int(pick)


def _jvp_jump(to: int) -> None:
    st.session_state["jvp_step"] = to


def walkthrough_page(expression_slot) -> None:  # noqa: ANN001 - a sidebar slot
    """The seven steps of "how JAX works" for the current function, one at a time."""
    request = state.request()
    with st.spinner("Tracing, interpreting, lowering, compiling and timing…", show_time=True):
        w = walkthrough_of(request)
    from app import sidebar  # the sidebar's expression slot shows the pipeline here too

    sidebar.show_expression(expression_slot, w.entry)
    views.header()
    mode_bar()
    st.session_state["_jvp_total"] = _jvp_total(w)
    st.session_state["jvp_step"] = min(st.session_state.get("jvp_step", 0), _jvp_total(w))
    step = st.session_state["step"]
    stepper(step, w)
    _embed(KEYS_JS, 0)
    state.sync_url()
    body = [step_source, step_tracing, step_jaxpr, step_jvp, step_lowering, step_compile, step_run][step - 1]
    views.guarded(lambda _r: body(w), w.inspection or InspectionResult(request=request))  # type: ignore[arg-type]


def stepper(step: int, w: Walkthrough) -> None:
    """Prev · the seven steps · Next."""
    st.session_state["wt_pick"] = str(step)
    back_inner = step == 4 and st.session_state["jvp_step"] > 0
    prev, strip, nxt = st.columns([1, 6, 1], vertical_alignment="center")
    prev.button("Prev", icon=":material/arrow_back:", key="wt_prev", on_click=_prev, disabled=step == 1 and not back_inner,
                width="stretch", help="Back (← or PageUp)")  # fmt: skip
    strip.segmented_control(
        "Step", [str(i) for i in range(1, state.WALKTHROUGH_STEPS + 1)], key="wt_pick", on_change=_jump,
        format_func=lambda i: f"{i} · {STEP_SHORT[int(i) - 1]}", required=True, label_visibility="collapsed",
    )  # fmt: skip
    nxt.button("Next", icon=":material/arrow_forward:", key="wt_next", on_click=_next,
               disabled=step == state.WALKTHROUGH_STEPS, type="primary", width="stretch",
               help="Forward (→ or PageDown); in step 4, one equation at a time")  # fmt: skip
    title = "vmap as a jaxpr interpreter" if step == 4 and vmap_chosen(w) else STEP_TITLES[step - 1]
    st.markdown(f"### Step {step} of {state.WALKTHROUGH_STEPS}: {title}")


def _no_stage(w: Walkthrough, what: str) -> None:
    """Say why a later step has nothing to show."""
    err = w.trace_error or w.error or (w.inspection.error if w.inspection else None)
    if err is not None:
        st.info(f"No {what}: **{safe.md(err.kind)}** during *{safe.md(err.stage)}* (see step 2).", icon=":material/block:")
    else:
        st.info(f"No {what}.")


def _source_colors(w: Walkthrough) -> tuple[dict[int, str], SourceMap | None]:
    """Colours of the source lines (from the inspection's source map, when it traced)."""
    if w.inspection is None or (w.inspection.model_after is None and w.inspection.model_before is None):
        return {}, None
    smap = smap_of(w.inspection)
    return {i.line: line_color(i.line, scheme()) for i in smap.lines if i.status != "nothing"}, smap


def step_source(w: Walkthrough) -> None:
    """1. The function as written."""
    st.markdown(
        f"This is plain Python. We will look at {safe.code_span(w.entry or '?')} and then {safe.code_span(w.expression or w.entry)}: "
        "JAX never reads this text; it *runs* the function once with stand-ins for the inputs."
    )
    colors, smap = _source_colors(w)
    span = _entry_span(w, smap)
    show_painted(w.source, "python", colors, linenos=True, only=span, height=620 if state.lecture() else 520)
    if span:
        with st.expander("The whole module"):
            show_painted(w.source, "python", colors, linenos=True, height=480)
    if smap is not None:
        nothing = [i.line for i in smap.lines if i.status == "nothing"]
        st.caption("Each line's colour follows it through the jaxpr, StableHLO and HLO."
                   + (f" Lines {', '.join(map(str, nothing))} produce nothing (Python-only)." if nothing else ""))  # fmt: skip


def _entry_span(w: Walkthrough, smap: SourceMap | None) -> tuple[int, int] | None:
    """The entry function's lines (from the source map, else by its `def`)."""
    if smap is not None and smap.entry_span:
        return smap.entry_span[0], smap.entry_span[1]
    from inspectors.mapping import entry_statements

    span, _ = entry_statements(w.source, w.entry)
    return (span[0], span[1]) if span else None


def step_tracing(w: Walkthrough) -> None:
    """2. Tracing: the inputs' abstract values, or the concretization error and its fix."""
    st.markdown(
        "JAX calls the function with **tracers**: abstract values that know a shape and a dtype "
        "(`ShapedArray`), not the numbers. Every `jnp` operation on a tracer is recorded as an equation."
    )
    if w.avals:
        st.dataframe(
            pd.DataFrame([{"input": a.path, "abstract value": a.aval, "short": a.short} for a in w.avals]),
            hide_index=True, width="stretch",
        )  # fmt: skip
    if w.static_args:
        st.caption(
            "Static (plain Python) arguments, not traced: " + ", ".join(f"`{s}`" for s in w.static_args)
        )
    err = w.trace_error
    if err is None:
        if w.error is not None and w.jaxpr is None:
            st.error(f"**{safe.md(w.error.kind)}** during *{safe.md(w.error.stage)}*", icon=":material/error:")
            st.code(w.error.message, language="text", wrap_lines=True)
        else:
            st.success(
                "Tracing succeeded: every operation worked on abstract values.", icon=":material/check:"
            )
        return
    st.error(
        f"**{safe.md(err.kind)}** while tracing" + (f" at line {err.line}" if err.line else ""),
        icon=":material/error:",
    )
    st.code(err.message, language="text", wrap_lines=True)
    if err.line:
        st.html(views.CODE_BOX.format(height=260, body=views.excerpt_html(w.source, err.line)))
        st.markdown(
            f"Line {err.line} asks Python for a concrete `True`/`False`, but the value is a tracer: "
            "it has a shape and a dtype and no value yet."
        )
    if w.fix:
        st.markdown("**The fix**")
        first, _, rest = w.fix.partition("\n")
        st.markdown(first)
        st.code(rest or first, language="python")


def step_jaxpr(w: Walkthrough) -> None:
    """3. The jaxpr: what tracing recorded."""
    if w.jaxpr is None:
        _no_stage(w, "jaxpr")
        return
    st.markdown("What tracing recorded: inputs with types, one equation per primitive operation, outputs.")
    text_col, graph_col = st.columns([2, 3], gap="medium")
    model = w.model
    colors, sources = jaxpr_colors(w.jaxpr, model, w.filename)
    with text_col:
        show_painted(w.jaxpr, "jaxpr", colors, sources=sources, height=600)
    with graph_col:
        line_graph(model, f"{w.entry}", None, key="wt_graph", height=600 if state.lecture() else 540)


def step_jvp(w: Walkthrough) -> None:
    """4. A transformation as an interpreter: jvp, or vmap when the pipeline has one."""
    if w.jaxpr is None:
        _no_stage(w, "interpreter run")
        return
    if w.vmap is not None:
        st.segmented_control(
            "Interpreter", ["vmap", "jvp"], key="wt_interp", default="vmap", required=True,
            on_change=_jvp_jump, args=(0,), help="Your pipeline has a vmap: step through it, or through jvp.",
        )  # fmt: skip
    if vmap_chosen(w):
        step_vmap(w)
        return
    st.markdown(
        f"`jax.jvp` is an interpreter over the jaxpr: it walks the equations of {safe.code_span(w.entry)} in order, "
        "carrying a **(primal, tangent)** pair for every variable. Inputs get tangent 1 (seeded random inputs)."
    )

    def start() -> None:
        st.markdown("**Start:** every input carries its value and a tangent of ones.")
        _values_table([a.path for a in w.avals], [], [], ["(seeded random)"] * len(w.avals), ["1"] * len(w.avals))

    _interpreter(w, w.steps, w.steps_truncated, start, _jvp_step_view, lambda: _jvp_result(w))


def step_vmap(w: Walkthrough) -> None:
    """4, under vmap: the batching interpreter, one equation at a time, with each value's batch axis."""
    run = w.vmap
    axes = ", ".join(f"`{a.path}`: {ax}" for a, ax in zip(w.avals, run.input_axes, strict=False))
    st.markdown(
        f"`jax.vmap` is an interpreter too: it walks the **per-example** jaxpr of {safe.code_span(w.entry)}, carrying each "
        f"value with its **batch axis** (or *not batched*), and applies each primitive's batching rule. "
        f"A batch of {run.batch_size} seeded random examples; in_axes = ({', '.join(run.in_axes)})."
    )
    if axes:
        st.caption(f"Batch axis of each input: {axes}")
    _interpreter(
        w,
        run.steps,
        run.steps_truncated,
        lambda: st.markdown("**Start:** every input carries the whole batch and its batch axis."),
        _vmap_step_view,
        lambda: _vmap_result(run),
    )


def _interpreter(w: Walkthrough, steps: list, truncated: bool, start, view, result) -> None:  # noqa: ANN001
    """The stepper both interpreters share: navigation, the jaxpr so far, the current step, the result."""
    k = _equation_nav(len(steps), truncated)
    left, right = st.columns([1, 1], gap="medium")
    with left:
        _interpreted_so_far(w, [s.eqn_id for s in steps], k)
    with right:
        if k == 0:
            start()
        else:
            view(steps[k - 1])
    if k == len(steps):
        result()


def _equation_nav(total: int, truncated: bool) -> int:
    """Start · previous equation · End, and a progress bar; return the equations done."""
    k = st.session_state["jvp_step"]
    nav, progress = st.columns([2, 3], vertical_alignment="center")
    with nav:
        a, b, c = st.columns(3)
        a.button("Start", key="jvp_first", on_click=_jvp_jump, args=(0,), disabled=k == 0, width="stretch")
        b.button("Equation", key="jvp_prev", icon=":material/chevron_left:", on_click=_jvp_jump, args=(max(k - 1, 0),),
                 disabled=k == 0, width="stretch")  # fmt: skip
        c.button("End", key="jvp_last", on_click=_jvp_jump, args=(total,), disabled=k == total, width="stretch")
    progress.progress(k / max(total, 1), text=f"{k} of {total} equations interpreted"
                      + (" (recording stopped early)" if truncated else ""))  # fmt: skip
    return k


def _interpreted_so_far(w: Walkthrough, eqn_ids: list[str], k: int) -> None:
    """The jaxpr with the equations done so far shaded and the current one outlined."""
    st.markdown("**The jaxpr, interpreted so far**")
    lines = equation_lines(w.jaxpr, w.model)
    colors = {n: "#dcfce7" for e in eqn_ids[:k] for n in lines.get(e, [])}
    current = eqn_ids[k - 1] if k else None
    show_painted(w.jaxpr, "jaxpr", colors, selected=set(lines.get(current, [])) if current else set(), height=520)


def _vmap_step_view(s) -> None:  # noqa: ANN001 - a VmapStep
    """One vmap step: the equation, batched values with their axes, the batching rule's jaxpr."""
    st.markdown(f"**Equation {s.index + 1}** · `{s.primitive}`")
    st.code(s.text, language="text")
    st.markdown("**In** (value · batch axis)")
    _values_table([f"in {i}" for i in range(len(s.in_values))], [], [], s.in_values, s.in_axes, ("value", "batch axis"))
    st.markdown("**Out** (value · batch axis)")
    _values_table([f"out {i}" for i in range(len(s.out_values))], [], [], s.out_values, s.out_axes, ("value", "batch axis"))
    if s.batched_text:
        st.markdown("**What the batching rule makes of it** "
                    + (f"({', '.join(f'`{p}`' for p in s.added_primitives)})" if s.added_primitives else ""))  # fmt: skip
        st.code(s.batched_text, language="text")
    else:
        st.caption("Nothing batched flows in: the equation runs once, as it is.")


def _checked_against(error, diff: float | None, what: str, What: str, reference: str) -> None:  # noqa: ANN001, N803
    """Say whether the interpreter stopped, or how close it came to JAX's own transform."""
    if error is not None:
        st.error(f"The interpreter stopped: **{safe.md(error.kind)}**: {safe.md(error.message)}", icon=":material/error:")
    elif diff is not None:
        ok = diff <= 1e-4
        (st.success if ok else st.warning)(
            f"Same {what} as `{reference}`: largest difference {diff:.3g}."
            if ok else f"{What} differ from `{reference}` by up to {diff:.3g}.",
            icon=":material/check:" if ok else ":material/warning:",
        )  # fmt: skip


def _vmap_result(run) -> None:  # noqa: ANN001 - a VmapRun
    """The interpreter's batched outputs, checked against `jax.vmap`."""
    st.markdown("#### The vectorized function")
    st.code("\n".join(run.outputs) or "—", language="text")
    _checked_against(run.error, run.max_abs_diff_vs_jax, "outputs", "Outputs", "jax.vmap")
    if run.batched_jaxpr:
        with st.expander("The complete batched jaxpr, as `jax.make_jaxpr(jax.vmap(...))` prints it",
                         expanded=not state.lecture()):  # fmt: skip
            st.code(run.batched_jaxpr, language="text")


def _values_table(
    names: list[str],
    in_p: list[str],
    in_t: list[str],
    p: list[str],
    t: list[str],
    headers: tuple[str, str] = ("primal", "tangent"),
) -> None:
    """Two previews per value (primal · tangent, or value · batch axis), one row each, never cut off."""
    cell = "padding:0.2rem 0.5rem;border-top:1px solid #e5e7eb;font-family:monospace;white-space:normal;word-break:break-word"
    rows = "".join(
        f'<tr><td style="{cell};color:#6b7280;white-space:nowrap">{html.escape(n)}</td>'
        f'<td style="{cell}">{html.escape(a)}</td><td style="{cell};background:#f0fdf4">{html.escape(b)}</td></tr>'
        for n, a, b in zip(names, p, t, strict=False)
    )
    st.html(
        '<table class="jvp-values" style="border-collapse:collapse;width:100%;font-size:0.85em;table-layout:fixed">'
        '<colgroup><col style="width:4.5em"><col><col></colgroup>'
        f"<tr><th></th><th style='text-align:left'>{headers[0]}</th><th style='text-align:left'>{headers[1]}</th></tr>"
        + rows
        + "</table>"
    )


def _jvp_step_view(s) -> None:  # noqa: ANN001 - a JvpStep
    """One interpreter step: the equation, values in and out, the tangent equations it adds."""
    st.markdown(
        f"**Equation {s.index + 1}** · `{s.primitive}`"
        + (" (evaluated whole by `jax.jvp`)" if s.opaque else "")
    )
    st.code(s.text, language="text")
    st.markdown("**In** (primal · tangent)")
    _values_table([f"in {i}" for i in range(len(s.in_primals))], [], [], s.in_primals, s.in_tangents)
    st.markdown("**Out** (primal · tangent)")
    _values_table([f"out {i}" for i in range(len(s.out_primals))], [], [], s.out_primals, s.out_tangents)
    if s.jvp_text:
        st.markdown("**What this equation adds to the transformed jaxpr** "
                    + (f"({', '.join(f'`{p}`' for p in s.added_primitives)})" if s.added_primitives else ""))  # fmt: skip
        st.code(s.jvp_text, language="text")


def _jvp_result(w: Walkthrough) -> None:
    """The interpreter's outputs, checked against `jax.jvp`."""
    st.markdown("#### The transformed function")
    a, b = st.columns(2)
    a.markdown("**Primal outputs**")
    a.code("\n".join(w.primals_out) or "—", language="text")
    b.markdown("**Tangent outputs** (the directional derivative along ones)")
    b.code("\n".join(w.tangents_out) or "—", language="text")
    _checked_against(w.error, w.max_abs_diff_vs_jax, "tangents", "Tangents", "jax.jvp")
    if w.jvp_jaxpr:
        with st.expander(
            "The complete jvp jaxpr, as `jax.make_jaxpr(jax.jvp(...))` prints it",
            expanded=not state.lecture(),
        ):
            st.code(w.jvp_jaxpr, language="text")


def step_lowering(w: Walkthrough) -> None:
    """5. Lowering: the jaxpr becomes a StableHLO module (MLIR); each op keeps its source line."""
    r = w.inspection
    if r is None or not r.stablehlo_debug:
        _no_stage(w, "StableHLO")
        return
    st.markdown(f"{safe.code_span(r.expression)} lowered to **StableHLO**, the input language of XLA. "
                "Each op's `loc(...)` records the line it came from: the colours match steps 1 and 3.")  # fmt: skip
    smap = smap_of(r)
    colors, sources = op_colors(smap, "stablehlo", plain=True)
    show_painted(r.stablehlo or r.stablehlo_debug, "stablehlo", colors, sources=sources, height=620)
    st.caption(
        f"{len(smap.stablehlo_ops)} ops · lowering took {views.fmt_seconds(r.stage_times.get('lower'))}"
    )


def step_compile(w: Walkthrough) -> None:
    """6. XLA compiles: optimises, fuses, folds constants."""
    r = w.inspection
    if r is None or not r.hlo:
        _no_stage(w, "compiled HLO")
        return
    smap = smap_of(r)
    jit = _memo("jit", r, lambda: jit_provenance(r, smap))
    st.markdown("XLA optimises the module for the device: it **fuses** elementwise work into single kernels, "
                "folds constants and drops what is not needed.")  # fmt: skip
    a, b, c, d = st.columns(4)
    a.metric("StableHLO ops", jit.stablehlo_ops)
    b.metric("HLO instructions", jit.hlo_instructions)
    c.metric("Fusions", len(jit.fusions))
    d.metric("Compile time", views.fmt_seconds(r.stage_times.get("compile")))
    text_col, fusion_col = st.columns([3, 2], gap="medium")
    with text_col:
        colors, sources = op_colors(smap, "hlo")
        fused = {f.text_line for f in jit.fusions}
        show_painted(r.hlo, "hlo", colors, selected=fused, sources=sources, height=560)
    with fusion_col:
        fusion_table(jit)
        if jit.folded_constants:
            st.caption(f"{len(jit.folded_constants)} constant(s) folded away.")
        if jit.eqns_without_hlo:
            st.caption(f"{len(jit.eqns_without_hlo)} equation(s) left no HLO instruction.")


def step_run(w: Walkthrough) -> None:
    """7. Run the compiled executable and time it."""
    r = w.inspection
    if r is None or r.timing is None:
        _no_stage(w, "timing")
        return
    st.markdown("The compiled executable runs on the device; the first call includes dispatch set-up, "
                "then repeated calls are timed.")  # fmt: skip
    times = " → ".join(f"{k} {views.fmt_seconds(v)}" for k, v in r.stage_times.items() if k in views.STAGES)
    st.caption(times)
    views.timing_figures(r)


# The Explore-mode tabs this module adds (after the stage tabs).
TABS: list[tuple[str, Callable[[InspectionResult], None]]] = [
    ("Source map", source_map_tab),
    ("Provenance", provenance_tab),
]
