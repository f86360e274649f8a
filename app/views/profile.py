"""The Profile view: where the time goes, per compiled op, source line and equation.

Profiling runs the compiled function in the sandboxed worker (a timed request with
`profile=True`); the result's `Profile` is plain data, read here with the pure helpers
of `inspectors.profile` (no JAX in this process). The view: how it was measured, one
sentence per source line, the table of ops hottest first (pick a row to jump to it),
then the source, jaxpr and compiled HLO painted by measured time, and both graphs
coloured by it.
"""

from __future__ import annotations

import dataclasses
import html
from collections import OrderedDict

import pandas as pd
import streamlit as st

from app import inspection, state
from app.components.painted import equation_lines, show_painted
from app.safe import code_span, md
from app.views import graph as graph_view
from inspectors import profile as prof
from inspectors.graph import GraphOptions
from inspectors.graph.bounded import BuildRequest
from inspectors.mapping import entry_statements
from inspectors.results import InspectionResult, Profile, ProfileOp, walk
from inspectors.styles import heat_color

MAX_PROFILES = 8  # profiled results this session keeps
WINDOW = 18  # lines of jaxpr or HLO text shown around the picked op (the whole text on request)
TEXT_TINT = 0.55  # text backgrounds mix the heat colour with this much white: syntax colours stay legible
TABLE_HEIGHT = 320


# --- running it ---------------------------------------------------------------------------------


def profiled(key: str) -> InspectionResult | None:
    """Return the profiled result of the view `key`, if the user profiled it."""
    return st.session_state.setdefault("profiles", OrderedDict()).get(key)


def _keep(key: str, result: InspectionResult) -> None:
    """Remember a profiled result for the view `key` (the most recent few only)."""
    kept = st.session_state.setdefault("profiles", OrderedDict())
    kept.pop(key, None)
    kept[key] = result
    while len(kept) > MAX_PROFILES:
        kept.popitem(last=False)


def controls(view: InspectionResult) -> InspectionResult | None:
    """The Profile button; return this view's profiled result (None until asked)."""
    key = state.request_key(state.request())
    left, right = st.columns([1, 3], vertical_alignment="center")
    clicked = left.button(
        "Profile",
        icon=":material/local_fire_department:",
        key="profile_run",
        type="primary",
        disabled=not view.ok,
        help="Compile, run on seeded random inputs and record each compiled op under JAX's profiler.",
    )
    if clicked:
        request = dataclasses.replace(state.request(timed=True), profile=True)
        with st.spinner("Profiling: timing, then recording each op under JAX's profiler…", show_time=True):
            _keep(key, inspection.run_and_time(request))
    result = profiled(key)
    right.caption(
        "Runs the compiled function under `jax.profiler` (warm-up discarded), reads one event per executed "
        "HLO op or fusion, and joins it to the jaxpr equations and your source lines."
    )
    return result


def profile_tab(view: InspectionResult) -> None:
    """Where the time goes: measured time per compiled op, rolled up to lines and equations."""
    result = controls(view)
    if result is None:
        return
    if result.error is not None:
        st.error(f"**{md(result.error.kind)}** during *{md(result.error.stage)}*", icon=":material/error:")
        st.code(result.error.message, language="text", wrap_lines=True)
        return
    p = result.profile
    if p is None or not p.ops:
        st.info("The profiler recorded no op events for this program.")
        return
    header(p, result.timing.median_s if result.timing else None)
    line_summaries(p)
    op = ops_table(result, p)
    selected_op(result, op)
    heat_views(result, p, op)


# --- the figures --------------------------------------------------------------------------------


def header(p: Profile, median_s: float | None) -> None:
    """How it was measured: time per call, coverage, overhead, runs, peaks."""
    a, b, c, d = st.columns(4)
    a.metric("Per call (profiled)", prof.fmt_time(p.wall_s), help="Mean wall time of the profiled calls.")
    b.metric(
        "Covered by op events",
        f"{100 * p.coverage:.1f} %",
        help="Time inside XLA's ops ÷ wall time per call; the rest is dispatch and waiting.",
    )
    c.metric(
        "Profiler overhead",
        f"{100 * p.overhead:+.1f} %",
        help="Fastest profiled call ÷ fastest call without the profiler, same loop, same inputs.",
    )
    d.metric("Profiled calls", f"{p.runs}", help=f"after {p.warmup} warm-up call(s), which are discarded")
    peaks = (
        f"Measured peak on {p.device}: {prof.fmt_rate(p.peak_flops_per_s, 'FLOP/s')} (f32 matmul), "
        f"{prof.fmt_rate(p.peak_bytes_per_s, 'B/s')} (copy). FLOPs and bytes per op are {p.cost_source}; "
        f"rates are over each op's own event time."
    )
    timing = (
        f"Op time {prof.fmt_time(p.covered_s)} per call; the timing run without the profiler: median "
        f"{prof.fmt_time(median_s)}."
        if median_s
        else ""
    )
    st.caption(" · ".join(filter(None, [timing, peaks, *map(md, p.notes)])))


def line_summaries(p: Profile) -> None:
    """One sentence per source line, hottest first, with a bar of its share."""
    rows = []
    for row in p.lines[:12]:
        width = max(1.0, 100 * row.share)
        rows.append(
            f'<div class="profile-line" data-line="{row.line or ""}" style="display:flex;gap:0.6rem;'
            f'align-items:center;margin:2px 0"><span style="flex:0 0 9rem;height:0.8rem;background:#f3f4f6;'
            f'border-radius:3px"><span style="display:block;width:{width:.1f}%;height:100%;border-radius:3px;'
            f'background:{heat_color(row.share)};border:1px solid #d1d5db"></span></span>'
            f"<span>{html.escape(row.summary)}"
            + (
                f' · <code style="font-size:0.85em">{html.escape(row.code.strip()[:70])}</code>'
                if row.code
                else ""
            )
            + "</span></div>"
        )
    st.html('<div style="font-size:0.92rem">' + "".join(rows) + "</div>")


def _equation_texts(result: InspectionResult) -> dict[str, str]:
    """Equation id → its first printed line (`d:f32[512,256] = dot_general[`)."""
    return {e.id: e.text.splitlines()[0].strip() for e in walk(result.jaxpr().model)}


def ops_frame(result: InspectionResult, p: Profile) -> pd.DataFrame:
    """The table of ops, hottest first, as the view shows it."""
    texts = _equation_texts(result)
    rows = []
    for op in p.ops:
        eqns = op.equations
        rows.append(
            {
                "share": 100 * op.share,
                "time": prof.fmt_time(op.time_s),
                "calls": op.calls,
                "op": op.name,
                "line": f"line {op.line}" if op.line is not None else "no line",
                "kind": op.kind,
                "phase": prof.phase_text(op),
                "FLOP/s": prof.fmt_rate(op.flops_per_s, "FLOP/s"),
                "bytes/s": prof.fmt_rate(op.bytes_per_s, "B/s"),
                "bound": op.bound,
                "of roofline": f"{100 * op.roofline:.0f} %" if op.roofline is not None else "",
                "equations": "; ".join(texts.get(i, i) for i in eqns[:3])
                + (f" (+{len(eqns) - 3})" if len(eqns) > 3 else ""),
            }
        )
    return pd.DataFrame(rows)


def ops_table(result: InspectionResult, p: Profile) -> ProfileOp:
    """The ops hottest first; return the picked one (the hottest until a row is picked)."""
    st.markdown("**Compiled ops, hottest first** · pick a row to see it in the source, jaxpr and HLO")
    event = st.dataframe(
        ops_frame(result, p),
        key="profile_ops",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        height=min(TABLE_HEIGHT, 38 + 35 * len(p.ops)),
        width="stretch",
        column_config={
            "share": st.column_config.ProgressColumn(
                "share", format="%.1f %%", min_value=0, max_value=100, help="of the measured time per call"
            ),
            "calls": st.column_config.NumberColumn("calls", format="%g", help="executions per call"),
            "of roofline": st.column_config.TextColumn(
                "of roofline",
                help="Achieved ÷ attainable at its FLOPs per byte, against the measured peaks. Above 100 %: "
                "faster than the measured copy from memory, so its data sat in cache.",
            ),
        },
    )
    picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    return p.ops[picked[0]] if picked and picked[0] < len(p.ops) else p.ops[0]


def selected_op(result: InspectionResult, op: ProfileOp) -> None:
    """The picked op: its line, its equations as JAX prints them, its fused instructions."""
    code = result.request.source.split("\n")
    where = f"line {op.line}" if op.line is not None else "no user line (added by XLA)"
    text = f" {code_span(code[op.line - 1].strip())}" if op.line and 0 < op.line <= len(code) else ""
    phase = f", {op.phase}" if op.phase else ""
    st.markdown(
        f"**{md(op.name)}** ({md(op.opcode)}, {md(op.kind)}{md(phase)}) · {100 * op.share:.1f} % · "
        f"{prof.fmt_time(op.time_s)} per call, {op.calls:g} execution(s) · {where}{text}"
    )
    eqns = {e.id: e for e in walk(result.jaxpr().model)}
    left, right = st.columns(2)
    with left:
        texts = [eqns[i].text for i in op.equations if i in eqns]
        st.caption(f"{len(texts)} equation(s) it came from (provenance: {md(op.provenance or 'primal')})")
        if texts:
            st.code("\n".join(texts), language="text")
    with right:
        parts = pd.DataFrame(
            [
                {
                    "instructions": part.instructions[0]
                    + (f" (+{len(part.instructions) - 1})" if len(part.instructions) > 1 else ""),
                    "opcode": part.opcode,
                    "primitive": part.primitive,
                    "line": part.line,
                    "phase": part.phase,
                    "weight": f"{100 * part.weight:.1f} %",
                    "line from": "nearest op" if part.inferred else ("metadata" if part.line else ""),
                }
                for part in sorted(op.parts, key=lambda part: -part.weight)
            ]
        )
        st.caption("What it runs (a fusion's instructions), heaviest first, weighted by estimated FLOPs")
        st.dataframe(parts, hide_index=True, height=min(240, 38 + 35 * len(parts)), width="stretch")


# --- heat: source, jaxpr, HLO, graphs -----------------------------------------------------------


def source_heat_html(result: InspectionResult, p: Profile, selected: int | None) -> str:
    """The entry function's lines (and every line with time) on their heat colour, share in the gutter."""
    code = result.request.source.split("\n")
    heat = prof.source_heat(p)
    span, _ = entry_statements(result.request.source, result.entry)
    numbers = set(range(span[0], span[1] + 1)) if span else set()
    numbers |= set(heat)
    rows, last = [], None
    for n in sorted(x for x in numbers if 0 < x <= len(code)):
        if last is not None and n > last + 1:
            rows.append('<tr><td></td><td></td><td style="color:#9ca3af;padding:0 0.6rem">⋯</td></tr>')
        last = n
        share = heat.get(n)
        label = f"{100 * share:.1f} %" if share is not None else ""
        sel = "outline:2px solid #111;font-weight:600;" if n == selected else ""
        rows.append(
            f'<tr class="heat-row" data-line="{n}" style="{sel}background:{heat_color(share) if share else "#fff"}">'
            f'<td style="color:#6b7280;text-align:right;padding:0 0.4rem">{n}</td>'
            f'<td style="text-align:right;padding:0 0.5rem;white-space:nowrap">{label}</td>'
            f'<td style="font-family:monospace;white-space:pre;padding:0 0.6rem;width:100%">{html.escape(code[n - 1])}</td></tr>'
        )
    return (
        '<div class="explorer-code heat-source" style="overflow:auto;border:1px solid #e5e7eb;border-radius:0.5rem;'
        'max-height:460px"><table style="border-collapse:collapse;width:100%;font-size:13px">'
        + "".join(rows)
        + "</table></div>"
    )


def text_heat(share: float) -> str:
    """Return the heat colour of a share, lightened for a text background."""
    rgb = [int(heat_color(share)[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(v + (255 - v) * TEXT_TINT):02x}" for v in rgb)


def window(picked: set[int], key: str, what: str) -> tuple[int, int] | None:
    """A toggle for the whole text; return the line range around the picked op unless it is on."""
    whole = st.toggle(f"Whole {what}", False, key=key, help="Else the lines around the picked op.")
    return None if whole or not picked else (max(1, min(picked) - WINDOW), max(picked) + WINDOW)


def jaxpr_heat(result: InspectionResult, p: Profile, op: ProfileOp) -> tuple[dict[int, str], set[int]]:
    """Return (text line → heat colour, the picked op's lines) for the transformed jaxpr."""
    spans = equation_lines(result.jaxpr().model)
    colors = {}
    for eqn_id, share in prof.equation_heat(p).items():
        for n in spans.get(eqn_id, [])[:1] if _has_body(result, eqn_id) else spans.get(eqn_id, []):
            colors[n] = text_heat(share)
    picked = {n for i in op.equations for n in spans.get(i, [])}
    return colors, picked


def _has_body(result: InspectionResult, eqn_id: str) -> bool:
    """True for an equation holding sub-jaxprs (only its first line is painted: the body paints itself)."""
    return any(e.id == eqn_id and e.subjaxprs for e in walk(result.jaxpr().model))


def hlo_heat(p: Profile, op: ProfileOp) -> tuple[dict[int, str], set[int]]:
    """Return (text line → heat colour, the picked op's lines) for the compiled HLO."""
    colors = {n: text_heat(share) for n, share in prof.hlo_text_heat(p).items()}
    picked = {op.text_line, *(n for part in op.parts for n in part.text_lines)} - {0}
    return colors, picked


def heat_views(result: InspectionResult, p: Profile, op: ProfileOp) -> None:
    """Source, jaxpr, compiled HLO and graphs, painted by measured time; the picked op outlined."""
    st.markdown("**Heat** · white: no time · red: half the time or more · outlined: the picked op")
    src_t, jaxpr_t, hlo_t, graph_t, hlo_graph_t = st.tabs(
        ["Source", "Jaxpr", "Compiled HLO", "Graph", "HLO graph"], key="profile_heat", on_change="rerun"
    )
    with src_t:
        st.html(source_heat_html(result, p, op.line))
    if jaxpr_t.open is not False:
        with jaxpr_t:
            colors, picked = jaxpr_heat(result, p, op)
            st.caption(
                f"{code_span(result.expression or result.entry)}: each equation on the share of the ops it became"
            )
            around = window(picked, "profile_jaxpr_whole", "jaxpr")
            show_painted(
                result.jaxpr().text or "",
                "jaxpr",
                colors,
                selected=picked,
                height=460,
                only=around,
                linenos=True,
            )
    if hlo_t.open is not False:
        with hlo_t:
            colors, picked = hlo_heat(p, op)
            around = window(picked, "profile_hlo_whole", "module")
            show_painted(
                result.text_of("hlo") or "",
                "hlo",
                colors,
                selected=picked,
                height=460,
                only=around,
                linenos=True,
            )
    if graph_t.open is not False:
        with graph_t:
            heat = tuple(sorted(prof.equation_heat(p).items()))
            opts = GraphOptions(colour_by="time", heat=heat, depth=2)
            source = (result.jaxpr().text, result.request.source, result.request.filename)
            req = BuildRequest("jaxpr", result.jaxpr().model, opts, "jaxpr by time")
            _graph("profile-jaxpr", source, req, "profile_graph", "jaxpr_by_time")
    if hlo_graph_t.open is not False:
        with hlo_graph_t:
            heat = tuple(sorted(prof.instruction_heat(p).items()))
            opts = GraphOptions(colour_by="time", heat=heat, depth=0)
            text = result.text_of("hlo") or ""
            req = BuildRequest("hlo", text, opts, "compiled HLO by time")
            _graph("profile-hlo", (text,), req, "profile_hlo_graph", "hlo_by_time")


def _graph(cache_key: str, source: tuple, req: BuildRequest, key: str, filename: str) -> None:
    """Build one graph under the graph view's bounds and show it in its viewer, with its downloads."""
    graph, dot = graph_view.cached_graph(cache_key, source, req)
    if graph is None:  # past the build's time or memory limit: say what to collapse
        graph_view.too_large(dot)
        return
    graph_view.show_graph(graph, dot, key, filename, graph_view.VIEWER_HEIGHT)
