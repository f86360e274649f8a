"""Run & time: compile, run on seeded inputs, time; then cost, memory and outputs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import inspection, safe, state
from app.views.common import fmt_seconds, fmt_si
from inspectors.results import InspectionResult, walk


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
            with st.spinner(f"Compiling and timing on {safe.md(device)}…", show_time=True):
                state.keep_timing(key, inspection.run_and_time(state.request(timed=True)))
        timed = st.session_state["timings"].get(key)
        if timed is None:
            st.caption(
                "Compiles the transformed function, runs it on seeded random inputs of the given shapes, "
                "then times repeated calls."
            )
            return
        timing_figures(timed, view)


def where_it_stopped(timed: InspectionResult, untimed: InspectionResult | None) -> tuple[str, list[int]]:
    """Return the stage a timed run stopped in, and the loop lines that may not end.

    A worker stopped at its time limit cannot say which stage it was in. When the same
    request without timing traced, lowered and compiled within the limit, what the timed
    run added is running the function: the stage is `run`, and its loops are the suspects.
    """
    error = timed.error
    if error is None or error.kind != "Timeout" or error.stage not in ("worker", "", "run") or untimed is None:
        return (error.stage if error else ""), []
    if not untimed.ok:
        return error.stage, []
    loops = {e.source.line for e in walk(untimed.jaxpr().model) if e.primitive == "while" and e.source}
    return "run", sorted(loops)


def timing_figures(timed: InspectionResult, untimed: InspectionResult | None = None) -> None:
    """Compile time, execution statistics, FLOP/s, memory, outputs."""
    if timed.error is not None:
        stage, loops = where_it_stopped(timed, untimed)
        where = f" at line {timed.error.line}" if timed.error.line else ""
        st.error(f"**{safe.md(timed.error.kind)}** during *{safe.md(stage)}*{where}", icon=":material/error:")
        st.code(timed.error.message, language="text", wrap_lines=True)
        if loops:
            lines = ", ".join(f"line {n}" for n in loops)
            st.info(
                f"Tracing, lowering and compiling finished within the limit, so the time went into running "
                f"the compiled function: check the loop condition at {lines} (a `lax.while_loop` or `fori_loop`).",
                icon=":material/lightbulb:",
            )
        return
    t = timed.timing
    if t is None:
        st.info("No timing came back.")
        return
    a, b = st.columns(2)
    a.metric("Min call", fmt_seconds(t.min_s), help="The fastest call (compile time is in the line above the views)")
    b.metric(
        "Median call",
        fmt_seconds(t.median_s),
        help=f"{t.repeat} repeats × {t.number} calls on {safe.md(t.device)}",
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
        f"first call {fmt_seconds(t.first_call_s)} — {t.repeat} repeats × {t.number} calls on "
        f"{safe.code_span(t.device)}"
    )
    if t.note:  # a big model: fewer calls than the budget would need for robust statistics
        st.warning(safe.md(t.note), icon=":material/timer:")
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
    st.markdown("**Cost and memory**")
    st.table(pd.DataFrame({"value": list(rows.values())}, index=list(rows)))
    st.markdown(f"**Outputs ({len(timed.outputs)})**")
    for out in timed.outputs:  # one block per output, never in an inner scroll box
        shape = "×".join(map(str, out.shape)) or "scalar"
        st.markdown(f"{safe.code_span(out.path)} {safe.md(out.dtype)}{safe.md(f'[{shape}]')}")
        st.code(out.preview, language="text", wrap_lines=True)
    if timed.output:
        with st.expander("Printed output", expanded=False):
            st.code(timed.output, language="text", wrap_lines=True)


