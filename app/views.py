"""View helpers: the header, the error box, one renderer per tab, the run & time panel.

Each takes an `InspectionResult` (or reads the session state) and draws; none
of them computes anything that needs JAX.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter

from app import graph_view, inspection, safe, state
from inspectors.lexers import get_lexer, highlight_html
from inspectors.results import InspectError, InspectionResult

SIDE_PANEL_HEIGHT = 470  # about the editor's height: a long timing report scrolls, the tabs stay put
TABS = ["Jaxpr", "Graph", "StableHLO", "Compiled HLO", "Stats"]
CODE_BOX = (
    '<div class="explorer-code" style="max-height:{height}px; overflow:auto; border:1px solid #e5e7eb; '
    'border-radius:0.5rem; font-size:12.5px; background:#f8f8f8">{body}</div>'
)
STAGES = ["load", "transform", "inputs", "trace", "trace_transformed", "lower", "compile", "run"]
STAGE_LABELS = {"trace_transformed": "trace (transformed)"}


# --- formatting ---------------------------------------------------------------------------------------


def fmt_seconds(s: float | None) -> str:
    """`1.23 ms`, `45.6 µs`."""
    if s is None:
        return "not available"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_si(x: float | None, unit: str) -> str:
    """`3.2 GFLOP/s`, `1.5 kB`: SI prefixes, or "not available"."""
    if x is None:
        return "not available"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}".rstrip()
    return f"{x:.3g} {unit}".rstrip()


@st.cache_data(max_entries=256, show_spinner=False)
def highlighted(text: str, language: str, linenos: bool = False) -> str:
    """Return `text` as highlighted HTML (cached: big HLO takes a while to lex)."""
    return highlight_html(text, language, linenos=linenos)


def code_box(text: str, language: str, height: int = 560, linenos: bool = False) -> None:
    """Draw highlighted text in a scrolling box."""
    st.html(CODE_BOX.format(height=height, body=highlighted(text, language, linenos)))


def excerpt_html(code: str, line: int, context: int = 3) -> str:
    """Return the lines around `line` of the user's code, that line highlighted."""
    lines = code.splitlines()
    start = max(1, line - context)
    stop = min(len(lines), line + context)
    formatter = HtmlFormatter(
        noclasses=True, linenos="inline", linenostart=start, hl_lines=[line - start + 1]
    )
    return pygments_highlight("\n".join(lines[start - 1 : stop]) + "\n", get_lexer("python"), formatter)


# --- header, errors, staleness ------------------------------------------------------------------------


PAGE_CSS = """
<style>
.block-container { padding-top: 1.6rem; padding-bottom: 2rem; }
.explorer-code pre { margin: 0; padding: 0.6rem 0.8rem; white-space: pre; font-size: 12.5px; }
</style>
"""


def header() -> None:
    """The title line (and the page's few style tweaks)."""
    st.html(PAGE_CSS)
    st.markdown(
        "### :material/biotech: Jaxpr Explorer\n"
        "<span style='color:#6b7280'>Write a JAX function, pick transformations, and see every stage: "
        "jaxpr → StableHLO → compiled HLO → timing.</span>",
        unsafe_allow_html=True,
    )


def url_notice() -> None:
    """Say so when a shared link could not be restored."""
    problem = state.url_problem()
    if problem:
        st.warning(
            f"The shared link could not be restored ({safe.md(problem)}); showing the default sample.",
            icon=":material/link_off:",
        )


def stage_strip(result: InspectionResult) -> None:
    """One caption line: how long each stage took, and where it stopped."""
    parts = []
    for stage in STAGES:
        if stage in result.stage_times and stage not in ("load", "transform", "inputs"):
            label = STAGE_LABELS.get(stage, stage)
            failed = result.error is not None and result.error.stage == stage
            took = fmt_seconds(result.stage_times[stage])
            parts.append(f":red[{label} failed after {took}]" if failed else f"{label} {took}")
    if result.jax_version:
        parts.append(f"JAX {result.jax_version}")
    st.caption(" · ".join(parts))


def error_box(error: InspectError, code: str) -> None:
    """The error: kind and stage, JAX's message verbatim, the user's line, the hint."""
    with st.container(border=True):
        where = f" at line {error.line}" if error.line else ""
        st.error(f"**{safe.md(error.kind)}** during *{safe.md(error.stage)}*{where}", icon=":material/error:")
        st.code(error.message, language="text", wrap_lines=True)
        if error.line and error.location and error.location.file == state.FILENAME:
            st.html(CODE_BOX.format(height=260, body=excerpt_html(code, error.line)))
        if error.hint:
            st.info(error.hint, icon=":material/lightbulb:")
        frames = [f for f in error.user_frames if f.line != error.line]
        if frames:
            with st.expander("Your frames in the traceback"):
                for f in error.user_frames:
                    st.markdown(f"- line {f.line}, in `{f.function}`: `{f.code.strip()}`")


def stale_banner(result: InspectionResult) -> None:
    """Say that the views show an older result."""
    st.warning(
        f"Showing the last good result (stale), for {safe.code_span(result.expression or result.entry)}. "
        "Fix the error above to update the views.",
        icon=":material/history:",
    )


# --- tabs ---------------------------------------------------------------------------------------------


def tabs(
    result: InspectionResult,
    extra: list[tuple[str, Callable[[InspectionResult], None]]] = (),  # type: ignore[assignment]
    lecture: bool = False,
) -> None:
    """The stage tabs, then `extra` ones, Stats last (not in lecture mode); only the open one is drawn."""
    renderers: list[Callable[[InspectionResult], None]] = [
        jaxpr_tab,
        graph_tab,
        stablehlo_tab,
        hlo_tab,
        stats_tab,
    ]
    pairs = list(zip(TABS, renderers, strict=True))
    pairs[-1:-1] = list(extra)
    if lecture:
        pairs = [(name, render) for name, render in pairs if render is not stats_tab]
    containers = st.tabs([name for name, _ in pairs], key="view", bind="query-params")
    for container, (_, render) in zip(containers, pairs, strict=True):
        if container.open is False:
            continue
        with container:
            guarded(render, result)


def guarded(render: Callable[[InspectionResult], None], result: InspectionResult) -> None:
    """Draw one view; a failing view shows its exception instead of taking the page down."""
    try:
        render(result)
    except Exception as exc:  # noqa: BLE001 - a view bug must not lose the editor or the other views
        st.error(f"This view failed to draw: {type(exc).__name__}", icon=":material/bug_report:")
        st.exception(exc)


def _missing(what: str, result: InspectionResult) -> None:
    """Say why a stage has nothing to show."""
    stage = result.error.stage if result.error else "an earlier stage"
    st.info(f"No {what}: the inspection stopped at {stage}.")


def _download(label: str, text: str, filename: str, key: str) -> None:
    """A small download button for a text artefact."""
    st.download_button(
        label,
        text,
        file_name=filename,
        mime="text/plain",
        key=key,
        type="tertiary",
        icon=":material/download:",
    )


def jaxpr_tab(result: InspectionResult) -> None:
    """Jaxpr before and after the transformations, side by side."""
    stats = result.stats
    columns = st.columns(2, gap="medium")
    sides = [
        ("Before", result.entry, result.jaxpr_before, stats.total_before if stats else None, "before"),
        ("After", result.expression, result.jaxpr_after, stats.total_after if stats else None, "after"),
    ]
    for column, (title, expr, text, total, tag) in zip(columns, sides, strict=True):
        with column:
            head, button = st.columns([3, 1], vertical_alignment="bottom")
            count = f" · {total} equations" if total is not None else ""
            head.markdown(
                f"**{title}** {safe.code_span(expr or '?')}<small style='color:#6b7280'>{count}</small>",
                unsafe_allow_html=True,
            )
            if text is None:
                _missing("jaxpr", result)
                continue
            with button:
                _download("jaxpr", text, f"{result.entry or 'jaxpr'}_{tag}.jaxpr.txt", f"dl_jaxpr_{tag}")
            code_box(text, "jaxpr")


def graph_tab(result: InspectionResult) -> None:
    """The jaxpr graphs (drawn by `app.graph_view`)."""
    if result.model_before is None and result.model_after is None:
        _missing("graph", result)
        return
    graph_view.jaxpr_graphs(result, key="jaxpr_graph", height=graph_height())


def _hlo_view(
    result: InspectionResult,
    which: str,
    text: str | None,
    language: str,
    filename: str,
    controls: Callable[[], None] | None = None,
) -> None:
    """Highlighted HLO text (with its own controls and a download), and its graph in a sub-tab."""
    if text is None:
        _missing("StableHLO" if which == "stablehlo" else "compiled HLO", result)
        return
    text_tab, graph_tab_ = st.tabs(["Text", "Graph"], key=f"{which}_view", on_change="rerun")
    if text_tab.open is not False:
        with text_tab:
            size, control, download = st.columns([2, 2, 1], vertical_alignment="center")
            size.caption(f"{text.count(chr(10)) + 1} lines · {len(text) / 1024:.1f} KiB")
            if controls:
                with control:
                    controls()
            with download:
                _download(filename, text, filename, f"dl_{which}")
            code_box(text, language, height=620)
    if graph_tab_.open:
        with graph_tab_:
            graph_view.hlo_graph(result, which, key=f"{which}_graph", height=graph_height())


def _set_debug_locations() -> None:
    """Copy the toggle into the state (the toggle itself lives only while its tab is open)."""
    st.session_state["debug_locations"] = st.session_state["debug_locations_toggle"]


def _debug_locations_toggle() -> None:
    """The switch between plain StableHLO and StableHLO with `loc(...)` source locations."""
    st.toggle(
        "Source locations",
        value=st.session_state["debug_locations"],
        key="debug_locations_toggle",
        on_change=_set_debug_locations,
        help="The same module printed with debug info: each op carries `loc(...)`, the file:line it came from.",
    )


def stablehlo_tab(result: InspectionResult) -> None:
    """The lowered module (StableHLO), optionally with source locations."""
    debug = st.session_state["debug_locations"] and result.stablehlo_debug
    text = result.stablehlo_debug if debug else result.stablehlo
    filename = f"{result.entry or 'module'}{'.debug' if debug else ''}.stablehlo.mlir"
    _hlo_view(result, "stablehlo", text, "stablehlo", filename, controls=_debug_locations_toggle)


def hlo_tab(result: InspectionResult) -> None:
    """The compiled, optimised HLO."""
    _hlo_view(result, "hlo", result.hlo, "hlo", f"{result.entry or 'module'}.hlo.txt")


def stats_frame(result: InspectionResult) -> pd.DataFrame:
    """Equation counts by primitive, before and after, largest first."""
    before, after = result.stats.before, result.stats.after
    names = sorted(set(before) | set(after), key=lambda p: (-max(before.get(p, 0), after.get(p, 0)), p))
    frame = pd.DataFrame(
        {"before": [before.get(p, 0) for p in names], "after": [after.get(p, 0) for p in names]},
        index=pd.Index(names, name="primitive"),
    )
    frame["change"] = frame["after"] - frame["before"]
    return frame


def stats_tab(result: InspectionResult) -> None:
    """Counts by primitive before/after: a table and a chart."""
    if result.stats is None:
        _missing("statistics", result)
        return
    s = result.stats
    a, b, c = st.columns(3)
    a.metric("Equations before", s.total_before)
    b.metric("Equations after", s.total_after, delta=s.total_after - s.total_before, delta_color="off")
    c.metric("Primitives used", len(set(s.before) | set(s.after)))
    frame = stats_frame(result)
    table, chart = st.columns([2, 3], gap="medium")
    table.dataframe(frame, height=min(38 + 35 * len(frame), 520), width="stretch")
    with chart:
        st.bar_chart(
            frame[["before", "after"]],
            horizontal=True,
            stack=False,
            sort=False,  # the table's order: largest counts first
            color=["#94a3b8", "#2563eb"],
            height=max(240, 22 * len(frame) + 80),
        )
    st.caption("Counts include equations inside sub-jaxprs (jit, cond branches, loop bodies).")


# --- run & time ---------------------------------------------------------------------------------------


def lesson(result: InspectionResult) -> None:
    """The sample's docstring (the lesson), folded."""
    sample = state.sample_named(st.session_state["sample"])
    if sample and sample.doc:
        with st.expander(f"About this sample: {safe.md(sample.title)}", icon=":material/school:"):
            st.markdown(sample.doc)


def graph_height() -> int:
    """Return the graph viewer's height: taller in lecture mode, to fill a 16:9 projector."""
    return graph_view.PROJECTOR_HEIGHT if state.lecture() else graph_view.VIEWER_HEIGHT


def queue_position(slot: Any) -> Callable[[int], None]:
    """Return an `on_wait` callback that shows the user their place in the shared queue."""

    def show(ahead: int) -> None:
        slot.info(
            f"Waiting for a worker: {ahead} request{'s' if ahead != 1 else ''} ahead of yours.",
            icon=":material/hourglass_top:",
        )

    return show


def run_panel(view: InspectionResult) -> None:
    """Compile, run on random inputs of the given shapes, and time: only when asked."""
    with st.container(border=True):
        st.markdown("**:material/timer: Run & time**")
        budget_col, button_col = st.columns(2, vertical_alignment="bottom")
        budget_col.select_slider(
            "Time budget",
            options=state.TIME_BUDGETS,
            key="time_budget_s",
            format_func=lambda s: f"{s:g} s",
        )
        clicked = button_col.button(
            "Run & time",
            icon=":material/play_arrow:",
            key="run_time",
            type="primary",
            width="stretch",
            disabled=not view.ok,
        )
        key = state.request_key(state.request())
        if clicked:
            device = st.session_state["device"] or "the default device"
            with st.spinner(f"Compiling and timing on {device}…", show_time=True):
                state.keep_timing(key, inspection.run_and_time(state.request(timed=True)))
        timed = st.session_state["timings"].get(key)
        if timed is None:
            st.caption(
                "Compiles the transformed function, runs it on seeded random inputs of the given shapes, "
                "then times repeated calls."
            )
            return
        timing_figures(timed)


def timing_figures(timed: InspectionResult) -> None:
    """Compile time, execution statistics, FLOP/s, memory, outputs."""
    if timed.error is not None:
        st.error(f"**{safe.md(timed.error.kind)}** during *{safe.md(timed.error.stage)}*", icon=":material/error:")
        st.code(timed.error.message, language="text", wrap_lines=True)
        return
    t = timed.timing
    if t is None:
        st.info("No timing came back.")
        return
    a, b = st.columns(2)
    a.metric("Compile", fmt_seconds(timed.stage_times.get("compile")))
    b.metric(
        "Median call", fmt_seconds(t.median_s), help=f"{t.repeat} repeats × {t.number} calls on {t.device}"
    )
    c, d = st.columns(2)
    c.metric("p90 call", fmt_seconds(t.p90_s), help="90th percentile of the per-call times of the repeats")
    d.metric(
        "Achieved FLOP/s",
        fmt_si(t.flops_per_s, "") if t.flops_per_s is not None else "n/a",
        help="XLA's FLOP estimate ÷ median call time ('n/a' where the backend gives no estimate)",
    )
    st.caption(
        f"min {fmt_seconds(t.min_s)} · median {fmt_seconds(t.median_s)} · p90 {fmt_seconds(t.p90_s)} · "
        f"first call {fmt_seconds(t.first_call_s)} — {t.repeat} repeats × {t.number} calls on `{t.device}`"
    )
    cost = timed.cost
    memory = timed.memory or {}
    rows = {
        "FLOPs (XLA estimate)": fmt_si(cost.flops if cost else None, "FLOP"),
        "Transcendentals": fmt_si(cost.transcendentals if cost else None, ""),
        "Bytes accessed": fmt_si(cost.bytes_accessed if cost else None, "B"),
    }
    for name in (
        "argument_size_in_bytes",
        "output_size_in_bytes",
        "temp_size_in_bytes",
        "generated_code_size_in_bytes",
    ):
        label = name.removesuffix("_size_in_bytes").replace("_", " ").capitalize() + " memory"
        rows[label] = fmt_si(float(memory[name]), "B") if name in memory else "not available"
    with st.expander("Cost and memory", expanded=False):
        st.table(pd.DataFrame({"value": list(rows.values())}, index=list(rows)))
    with st.expander(f"Outputs ({len(timed.outputs)})", expanded=True):
        for out in timed.outputs:
            shape = "×".join(map(str, out.shape)) or "scalar"
            st.markdown(f"`{html.escape(out.path)}` {out.dtype}[{shape}]")
            st.code(out.preview, language="text", wrap_lines=True)
    if timed.output:
        with st.expander("Printed output", expanded=False):
            st.code(timed.output, language="text", wrap_lines=True)


def pick_view(result: InspectionResult) -> tuple[InspectionResult, bool]:
    """Return the result to draw and whether it is stale.

    A result that failed after tracing still has views of its own (the jaxprs, say, when
    lowering failed); one that failed before is replaced by the last good result, marked stale.
    """
    last = st.session_state.get("last_good")
    has_views = result.jaxpr_before is not None or result.jaxpr_after is not None
    if result.ok or has_views or last is None:
        return result, False
    return last, True
