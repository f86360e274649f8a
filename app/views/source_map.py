"""The Source map view: each line of the user's code, what it produced, and where that is in every text.

Picking a source line (in the list, or by clicking a painted line in any text)
outlines its equations, StableHLO ops and HLO instructions; picking one
equation outlines that equation alone (cond branches included).
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass

import streamlit as st

from app import safe, state
from app.components.explorer import Pane, text_panes
from app.components.painted import equation_lines, jaxpr_colors, op_colors, scheme
from app.views.common import on_demand, smap_of
from app.views.graph import line_graph
from inspectors.mapping import (
    line_color,
    line_info,
    line_of_equation,
    line_of_hlo_instruction,
    line_of_stablehlo_line,
    ops_of_equation,
    walk,
)
from inspectors.results import InspectionResult, SourceMap

STATUS_LABELS = {
    "traced": "traced",
    "lowered": "lowered (ops only)",
    "called": "called (via a local def)",
    "nothing": "produced nothing",
}


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
        status = html.escape(r.status)  # a label of ours, or a forged status: text either way
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
            f'<td style="font-family:monospace;white-space:pre;padding:0 0.6rem">{html.escape(r.code)}</td>'
            f'<td style="white-space:nowrap;padding:0 0.4rem" class="status">{status}</td>'
            f'<td style="white-space:nowrap;color:#6b7280;font-size:0.85em;padding:0 0.4rem">{counts}</td></tr>'
        )
    return (
        '<div class="explorer-code source-table" style="overflow:auto;border:1px solid #e5e7eb;border-radius:0.5rem">'
        '<table style="border-collapse:collapse;width:100%;font-size:13px">' + "".join(out) + "</table></div>"
    )


# --- the Source map tab --------------------------------------------------------------------------------


PICK_KEY = "sm_pick"  # (line, equation or None) another view picked here (the Sharding view's collectives)


def _pick_line(line: int | None, eqn: str | None = None) -> None:
    """Select a source line (and, optionally, one equation of it)."""
    st.session_state["sm_line"] = line
    st.session_state["sm_eqn"] = eqn


def _from_line() -> None:
    """A source line picked in the list: the whole line is selected."""
    st.session_state["sm_eqn"] = None


def _from_equation(smap: SourceMap) -> None:
    """Select the picked equation alone, and its source line."""
    eqn = st.session_state.get("sm_eqn_pick")
    if eqn:
        _pick_line(line_of_equation(smap, eqn), eqn)


def _from_op() -> None:
    """Select the source line of the picked StableHLO op or HLO instruction."""
    pick = st.session_state.get("sm_op")
    if pick:
        _pick_line(int(pick.split("@")[1]) if "@" in pick else None)


def source_map_tab(result: InspectionResult) -> None:
    """Source lines with colours and statuses; pick a line (or an equation, an op) to highlight."""
    if result.jaxpr().model is None and result.jaxpr(0).model is None:
        st.info("No source map: the inspection stopped before tracing.")
        return
    if not on_demand("smap", result, "the source map", "build_smap"):
        return
    smap = smap_of(result)
    if smap is None:
        st.info("Source map not available: this result was saved without one.")
        return
    rows = source_rows(smap, result.request.source)
    mapped = [r.line for r in rows if r.status]
    if st.session_state.get(PICK_KEY):  # before the pickers are drawn: their state may still be set
        _pick_line(*st.session_state.pop(PICK_KEY))
    if st.session_state.get("sm_line") not in mapped:
        st.session_state["sm_line"] = next(
            (i.line for i in smap.lines if i.eqns_after), mapped[0] if mapped else None
        )
        st.session_state["sm_eqn"] = None
    selected = st.session_state["sm_line"]
    left, right = st.columns([2, 3], gap="medium")
    with right:
        _mapped_views(result, smap, selected, st.session_state.get("sm_eqn"))
    with left:
        st.markdown("**Source lines** · colour, code, and what each produced")
        st.selectbox(
            "Source line", mapped, key="sm_line", on_change=_from_line,
            format_func=lambda n: f"line {n}: {result.request.source.split(chr(10))[n - 1].strip()[:60]}",
            help="Highlights the equations, StableHLO ops and HLO instructions traced or lowered from this line.",
        )  # fmt: skip
        st.html(source_table_html(rows, selected))
        _reverse_pickers(result, smap)


PICKER_LIMIT = 2000  # options per picker: more is slow to send and useless to scroll (click a line instead)


def _reverse_pickers(result: InspectionResult, smap: SourceMap) -> None:
    """Pick an equation or an op: the equation alone (or the op's source line) becomes the selection."""
    texts = {e.id: e.text.splitlines()[0].strip()[:70] for e in walk(result.jaxpr().model) if not e.subjaxprs}
    total_eqns = len(texts)
    if total_eqns > PICKER_LIMIT:  # the first ones, and the picked one
        keep = [*list(texts)[:PICKER_LIMIT], st.session_state.get("sm_eqn") or ""]
        texts = {k: texts[k] for k in keep if k in texts}

    def label(eqn: str) -> str:
        line = line_of_equation(smap, eqn)
        return f"{eqn} · {texts[eqn]}" + (f" @{line}" if line else "") if eqn else ""

    st.session_state["sm_eqn_pick"] = st.session_state.get("sm_eqn") or ""
    more = f" (the first {PICKER_LIMIT:,} of {total_eqns:,}: click a line in a text for any other)"
    st.selectbox("…or pick an equation (after)" + (more if total_eqns > PICKER_LIMIT else ""), ["", *texts],
                 key="sm_eqn_pick", format_func=label, on_change=_from_equation, args=(smap,),
                 help="Outlines this equation alone, and selects the source line it was traced from.")  # fmt: skip
    ops = []
    for op in smap.stablehlo_ops:
        line = line_of_stablehlo_line(smap, op.text_line)
        ops.append(f"StableHLO {op.name or ''} {op.opcode}".strip() + (f" @{line}" if line else ""))
    for op in smap.hlo_ops:
        line = line_of_hlo_instruction(smap, op.name)
        ops.append(f"HLO {op.name} ({op.opcode})" + (f" @{line}" if line else ""))
    total_ops = len(ops)
    if total_ops > PICKER_LIMIT:
        ops = [*ops[:PICKER_LIMIT], *([st.session_state["sm_op"]] if st.session_state.get("sm_op") in ops else [])]
    more = f" (the first {PICKER_LIMIT:,} of {total_ops:,})" if total_ops > PICKER_LIMIT else ""
    st.selectbox("…or pick a StableHLO op / HLO instruction" + more, [""] + ops, key="sm_op", on_change=_from_op,
                 help="Selects the source line this op was lowered or compiled from.")  # fmt: skip


def highlighted_lines(
    result: InspectionResult, smap: SourceMap, line: int | None, eqn: str | None = None
) -> dict[str, set[int]]:
    """Return the text lines to outline: a source line's parts, or one equation's (jaxpr before/after, StableHLO, HLO)."""
    info = line_info(smap, line) if line else None
    if info is None:
        return {"before": set(), "after": set(), "stablehlo": set(), "hlo": set()}
    before = equation_lines(result.jaxpr(0).model)
    after = equation_lines(result.jaxpr().model)
    hlo_lines = {op.name: op.text_line for op in smap.hlo_ops}
    if eqn is not None:
        picked = next((e for e in walk(result.jaxpr().model) if e.id == eqn), None)
        ops = ops_of_equation(smap, picked) if picked else []
        shlo = {op.text_line for op in ops if op in smap.stablehlo_ops and op.text_line}
        return {
            "before": set(),
            "after": set(after.get(eqn, [])),
            "stablehlo": shlo,
            "hlo": {hlo_lines[op.name] for op in ops if op in smap.hlo_ops and op.name in hlo_lines},
        }
    return {
        "before": {n for e in info.eqns_before for n in before.get(e, [])},
        "after": {n for e in info.eqns_after for n in after.get(e, [])},
        "stablehlo": set(info.stablehlo),
        "hlo": {hlo_lines[name] for name in info.hlo if name in hlo_lines},
    }


def _equation_at(result: InspectionResult, which: str, text_line: int) -> str | None:
    """Return the id of the (innermost) equation printed on a line of the jaxpr before/after."""
    stage = result.jaxpr(0) if which == "before" else result.jaxpr()
    hits = [e for e, lines in equation_lines(stage.model).items() if text_line in lines]
    return hits[-1] if hits and which == "after" else None


def _mapped_views(result: InspectionResult, smap: SourceMap, line: int | None, eqn: str | None) -> None:
    """The jaxprs, StableHLO and HLO, painted by source line, the selection outlined; a click selects."""
    hl = highlighted_lines(result, smap, line, eqn)
    info = line_info(smap, line) if line else None
    if info is not None:
        what = (
            f"equation {safe.code_span(eqn)} of " if eqn else ""
        ) + f"**line {line}** {safe.code_span(info.code.strip())} → {len(info.eqns_before)} equation(s) before, "
        st.markdown(
            what + f"{len(info.eqns_after)} after · {len(info.stablehlo)} StableHLO op(s) · "
            f"{len(info.hlo)} HLO instruction(s)"
        )
        if info.scopes:  # one line, several model scopes (a loop over layers): layer by layer
            st.caption(
                "By model scope: "
                + " · ".join(f"{safe.code_span(k or '(no scope)')} {len(v)}" for k, v in info.scopes.items())
            )
    # Only the open tab is drawn (opening another reruns this view alone): a pick on a 12,000-equation
    # program then draws one text, not three texts and a graph.
    jaxpr_t, shlo_t, hlo_t, graph_t = st.tabs(
        ["Jaxpr", "StableHLO", "Compiled HLO", "Graph"], key="sm_view", on_change="rerun"
    )
    fname = result.request.filename
    lecture = state.lecture()
    pick = functools.partial(_clicked, result)
    if jaxpr_t.open is not False:
        with jaxpr_t:
            panes = []
            for title, text, model, which in (
                ("Before", result.jaxpr(0).text, result.jaxpr(0).model, "before"),
                ("After", result.jaxpr().text, result.jaxpr().model, "after"),
            ):
                if text is None or (which == "before" and text == result.jaxpr().text):
                    continue
                colors, sources = jaxpr_colors(model, fname)
                name = result.entry if which == "before" else result.expression
                panes.append(Pane(which, f"{title} · {name}", text, "jaxpr", colors=colors, sources=sources))
            # The outlines travel apart from the texts: a pick sends a few line numbers, not the texts again.
            chosen = {"before": hl["before"], "after": hl["after"]}
            text_panes(panes, key="sm_jaxpr", height=380, lecture=lecture, selection=chosen, on_pick=pick)
    for tab, which, text, label, note in (
        (shlo_t, "stablehlo", result.text_of("stablehlo-debug"), "StableHLO",
         "StableHLO with source locations: each op's `loc(...)` names the line it was lowered from."),
        (hlo_t, "hlo", result.text_of("hlo"), "Compiled HLO",
         "Compiled HLO: each instruction's metadata names its source line (fusions keep the lines of what they fused)."),
    ):  # fmt: skip
        if tab.open:
            with tab:
                _op_text(smap, which, text, label, note, hl[which], pick, lecture)
    if graph_t.open:
        with graph_t:
            model = result.jaxpr().model or result.jaxpr(0).model
            text = result.jaxpr().text or result.jaxpr(0).text
            st.caption("Coloured by source line; the selected line's equations are marked as search matches.")
            line_graph(model, text, f"{result.entry} — {result.expression}", line, key="sm_graph")


def _op_text(
    smap: SourceMap, which: str, text: str | None, label: str, note: str, selected: set[int], pick, lecture: bool  # noqa: ANN001
) -> None:
    """StableHLO (with locations) or compiled HLO, painted by source line, `selected` outlined."""
    if not text:
        stage = "lowering" if which == "stablehlo" else "compiling"
        st.info(f"No {label if which == 'stablehlo' else 'compiled HLO'}: the inspection stopped before {stage}.")
        return
    colors, sources = op_colors(smap, which)
    st.caption(note)
    pane = Pane(which, label, text, which, colors=colors, sources=sources)
    text_panes([pane], key=f"sm_{which}", height=480, lecture=lecture, selection={which: selected}, on_pick=pick)


def _clicked(result: InspectionResult, pick: dict | None) -> None:
    """A line clicked in a text (a callback, before the view's run): select its source line, and its
    equation in the jaxpr after."""
    if not pick or not pick.get("src"):
        return
    _pick_line(int(pick["src"]), _equation_at(result, pick.get("view", ""), int(pick.get("line", 0))))
