"""The Memory view: residuals saved for the backward pass, the compiled peak and who holds it, remat.

Everything shown was computed in the worker (`inspectors.memory`, into `result.memory_report`):
this view only draws it. A remat comparison is the worker's `remat` job, run on demand (the variant
alone is compiled, not the inspection again) and kept for this session by request and policy.
"""

from __future__ import annotations

from collections import OrderedDict

import pandas as pd
import streamlit as st

from app import inspection, state
from app.components.painted import equation_lines, show_painted
from app.safe import md
from app.views.profile import text_heat
from inspectors import memory as mem
from inspectors.results import InspectionResult, MemoryReport, PeakReport, ResidualReport, walk

MAX_VARIANTS = 8  # remat comparisons this session keeps
TABLE_HEIGHT = 320
POLICY_CHOICES = (
    "nothing_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable", "everything_saveable",
    "save_only_these_names",
)  # fmt: skip


def memory_tab(result: InspectionResult) -> None:
    """Where the memory goes: the peak over the schedule, its buffers, the residuals, remat."""
    report = result.memory_report
    if report is None:
        st.info(
            "No memory report: the program did not compile (see the error above), or this result predates it."
        )
        return
    for note in report.notes:
        st.caption(md(note))
    if report.peak is not None:
        peak_section(result, report.peak)
    if report.residuals is not None:
        residual_section(result, report.residuals)
    heat_section(result, report)
    if report.residuals is not None:
        remat_section(result, report)


# --- the compiled peak ----------------------------------------------------------------------------


def peak_section(result: InspectionResult, peak: PeakReport) -> None:
    """The plot of bytes live over the schedule, the totals beside memory_analysis(), the peak's buffers."""
    st.markdown("#### The compiled peak")
    if not peak.available:
        st.info(md(peak.note))
        totals_table(peak)
        return
    a, b, c = st.columns(3)
    a.metric(
        "Peak live", mem.fmt_bytes(peak.peak_bytes), help="bytes live at once, from XLA's buffer assignment"
    )
    step = peak.schedule[peak.peak_step] if peak.peak_step < len(peak.schedule) else ""
    b.metric(
        "At step", f"{peak.peak_step} of {len(peak.schedule)}", help=f"the schedule's instruction {step}"
    )
    c.metric("Buffers live there", f"{len(peak.at_peak)}")
    st.vega_lite_chart(curve_frame(peak), curve_spec(peak), width="stretch", key="memory_curve")
    if peak.note:
        st.caption(md(peak.note))
    totals_table(peak)
    if peak.aliases:
        st.markdown("**Donated / aliased inputs:** " + ", ".join(f"`{md(a)}`" for a in peak.aliases))
    st.markdown("**Buffers live at the peak, largest first**")
    event = st.dataframe(buffers_frame(peak), key="memory_buffers", hide_index=True, width="stretch",
                         height=min(TABLE_HEIGHT, 38 + 35 * len(peak.at_peak)),
                         on_select="rerun", selection_mode="single-row")  # fmt: skip
    if peak.at_peak:
        b = peak.at_peak[picked_row(event, len(peak.at_peak))]
        what = f"{b.type} {b.instruction} ({b.kind})"
        show_pick(what, pick_lines(result, b.line, b.equations, b.instruction, b.argument))


def unit_of(peak: PeakReport) -> tuple[str, int]:
    """The unit the plot's axis reads in: the largest that keeps the peak at 1 or more."""
    return next(
        ((u, s) for u, s in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if peak.peak_bytes >= s),
        ("B", 1),
    )


def curve_frame(peak: PeakReport) -> pd.DataFrame:
    """Bytes live per step of the schedule, with the instruction run there."""
    unit, size = unit_of(peak)
    return pd.DataFrame(
        {
            "step": range(len(peak.live_bytes)),
            unit: [b / size for b in peak.live_bytes],
            "instruction": peak.schedule,
        }
    )


def curve_spec(peak: PeakReport) -> dict:
    """A Vega-Lite area of bytes against program order, the peak marked with a rule and a label."""
    x = {"field": "step", "type": "quantitative", "title": "program order (step of XLA's schedule)",
         "axis": {"tickMinStep": 1}}  # fmt: skip
    unit, _ = unit_of(peak)
    label = f"peak {mem.fmt_bytes(peak.peak_bytes)} at step {peak.peak_step}"
    return {
        "height": 260,
        "layer": [
            {
                "mark": {"type": "area", "line": True, "opacity": 0.35, "interpolate": "step-after"},
                "encoding": {
                    "x": x,
                    "y": {"field": unit, "type": "quantitative", "title": f"{unit} live"},
                    "tooltip": [
                        {"field": "step"},
                        {"field": "instruction"},
                        {"field": unit, "format": ".3f"},
                    ],
                },
            },
            {
                "transform": [{"filter": f"datum.step == {peak.peak_step}"}],
                "mark": {"type": "rule", "color": "#dc2626", "strokeWidth": 2},
                "encoding": {"x": x},
            },
            {
                "transform": [{"filter": f"datum.step == {peak.peak_step}"}],
                "mark": {
                    "type": "text",
                    "color": "#dc2626",
                    "align": "left",
                    "dx": 6,
                    "dy": -6,
                    "text": label,
                },
                "encoding": {"x": x, "y": {"field": unit, "type": "quantitative"}},
            },
        ],
    }


def totals_table(peak: PeakReport) -> None:
    """The buffer assignment's totals beside `Compiled.memory_analysis()`."""
    rows = []
    for what, ours, theirs in mem.reconcile(peak):
        agree = "" if ours is None or theirs is None else ("✓ equal" if ours == theirs else "differs")
        rows.append({"total": what, "buffer assignment": mem.fmt_bytes(ours),
                     "memory_analysis()": mem.fmt_bytes(theirs),
                     "agree": agree})  # fmt: skip
    st.dataframe(pd.DataFrame(rows), key="memory_totals", hide_index=True)
    xla_peak = peak.analysis.get("peak_memory_in_bytes")
    if xla_peak is not None:
        st.caption(
            f"`memory_analysis().peak_memory_in_bytes` as this backend reports it: {mem.fmt_bytes(xla_peak)} "
            "(on CPU it leaves temporaries out; the plot's peak counts every live buffer)."
        )


def buffers_frame(peak: PeakReport) -> pd.DataFrame:
    """One row per buffer live at the peak."""
    return pd.DataFrame(
        [
            {
                "type": b.type, "bytes": mem.fmt_bytes(b.bytes), "HLO": b.instruction, "kind": b.kind,
                "line": f"line {b.line}" if b.line is not None else (b.argument and f"argument {b.argument}"),
                "phase": b.phase, "primitive": b.primitive, "equations": ", ".join(b.equations),
                "live": f"{b.start}–{b.end}",
            }
            for b in peak.at_peak
        ]
    )  # fmt: skip


# --- residuals --------------------------------------------------------------------------------------


def residual_section(result: InspectionResult, res: ResidualReport) -> None:
    """Every residual, then grouped by line and by model scope."""
    st.markdown(
        f"#### Saved for the backward pass: {len(res.residuals)} residuals, {mem.fmt_bytes(res.total_bytes)}"
    )
    st.caption(
        f"`{md(res.transform)}` of `{md(res.function)}` ({md(res.wrt)}), as "
        "`jax.ad_checkpoint.print_saved_residuals` lists them." + (f" {md(res.note)}." if res.note else "")
    )
    left, right = st.columns(2)
    left.markdown("**By line**")
    left.dataframe(groups_frame(res.by_line), key="memory_by_line", hide_index=True, width="stretch")
    right.markdown("**By model scope**")
    right.dataframe(groups_frame(res.by_scope), key="memory_by_scope", hide_index=True, width="stretch")
    event = st.dataframe(residuals_frame(res), key="memory_residuals", hide_index=True, width="stretch",
                         height=min(TABLE_HEIGHT, 38 + 35 * len(res.residuals)),
                         on_select="rerun", selection_mode="single-row")  # fmt: skip
    if res.residuals:
        r = res.residuals[picked_row(event, len(res.residuals))]
        argument = r.made_by.removeprefix("argument ") if r.made_by.startswith("argument ") else ""
        lines = pick_lines(result, r.line, [r.equation] if r.equation else [], "", argument)
        show_pick(f"{r.type} {r.made_by}", lines)


# --- a picked row: its source line, its equations, its HLO instruction --------------------------------


def picked_row(event: object, n: int) -> int:
    """The row picked in a table's selection event (the first until one is picked)."""
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    return rows[0] if rows and 0 <= rows[0] < n else 0


def pick_lines(
    result: InspectionResult, line: int | None, equations: list[str], instruction: str, argument: str = ""
) -> list[str]:
    """What a picked buffer or residual names: its source line's code, each equation's text, its HLO line."""
    source = result.request.source.splitlines()
    texts = [f"line {line}: {source[line - 1].strip()}"] if line and 0 < line <= len(source) else []
    if argument:
        texts.append(f"the input {argument}")
    eqns = {e.id: e for e in walk(mem.final_model(result))} if equations else {}
    texts += [f"equation {e}: {eqns[e].text}" for e in equations if e in eqns]
    hlo = (result.text_of("hlo") or "").splitlines() if instruction else []
    texts += [
        f"HLO: {h.strip()}"
        for h in hlo
        if h.lstrip().removeprefix("ROOT ").lstrip("%").startswith(f"{instruction} = ")
    ][:1]
    return texts


def show_pick(what: str, texts: list[str]) -> None:
    """Draw a picked row: what it is, then the lines it names (its code, equations, HLO)."""
    st.caption(f"Picked (pick a row for another): {md(what)}")
    st.code("\n".join(texts) or "no line, equation or instruction of yours", language=None, wrap_lines=True)


def groups_frame(groups: list) -> pd.DataFrame:
    """Groups as rows: key, count, bytes."""
    return pd.DataFrame(
        [{"where": g.key, "residuals": g.count, "bytes": mem.fmt_bytes(g.bytes)} for g in groups]
    )


def residuals_frame(res: ResidualReport) -> pd.DataFrame:
    """One row per residual, in JAX's order."""
    return pd.DataFrame(
        [
            {
                "type": r.type, "bytes": mem.fmt_bytes(r.bytes), "made by": r.made_by,
                "line": f"line {r.line}" if r.line is not None else "", "scope": r.scope,
                "equation": r.equation, "JAX prints": r.jax_text,
            }
            for r in res.residuals
        ]
    )  # fmt: skip


# --- heat on the source and the jaxpr ----------------------------------------------------------------


def heat_section(result: InspectionResult, report: MemoryReport) -> None:
    """The source painted by bytes (residuals and buffers at the peak), the jaxpr by residual bytes."""
    lines = mem.source_heat(report)
    eqns = mem.equation_heat(report)
    if not lines and not eqns:
        return
    st.markdown("#### Memory heat · white: no bytes · red: half the bytes or more")
    src_t, jaxpr_t = st.tabs(["Source", "Jaxpr"], key="memory_heat")
    with src_t:
        st.caption("Each line on its share of the residual bytes and of the buffers live at the peak.")
        colors = {n: text_heat(share) for n, share in lines.items()}
        around = (max(1, min(lines) - 4), max(lines) + 4) if lines else None  # the lines that hold bytes
        show_painted(result.request.source, "python", colors, height=420, linenos=True, only=around)
    with jaxpr_t:
        st.caption("Each equation on its share of the residual bytes it produces for the backward pass.")
        stages = result.jaxpr_stages()
        last = stages[-1] if stages else None
        text = (result.text_of(last.id) or "") if last else ""
        spans = equation_lines(last.model if last else None)
        colors = {n: text_heat(share) for e, share in eqns.items() for n in spans.get(e, [])[:1]}
        show_painted(text, "jaxpr", colors, height=420, linenos=True)


# --- remat side by side ------------------------------------------------------------------------------


def remat_section(result: InspectionResult, report: MemoryReport) -> None:
    """Pick a checkpoint policy; see the variant beside the program as written."""
    st.markdown("#### Remat side by side")
    left, mid, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    policy = left.selectbox("Checkpoint policy", POLICY_CHOICES, key="memory_policy")
    names = mid.text_input("Names (save_only_these_names)", key="memory_names", placeholder="h, k")
    spec = f"{policy}:{names}" if policy == "save_only_these_names" else policy
    key = (state.request_key(result.request), spec)
    kept = st.session_state.setdefault("memory_variants", OrderedDict())
    if right.button("Compare", key="memory_compare", type="primary", disabled=not result.ok):
        with st.spinner("Compiling the checkpointed variant…", show_time=True):
            kept[key] = inspection.remat(
                result.request, spec, report.residuals.residuals if report.residuals else []
            )
        while len(kept) > MAX_VARIANTS:
            kept.popitem(last=False)
    remat = kept.get(key)
    if remat is None:
        st.caption("One extra compile in the worker: the grad's function under `jax.checkpoint(policy=...)`.")
        return
    if remat.error:
        st.error(md(remat.error))
        return
    comparison_table(report, remat)


def comparison_table(report: MemoryReport, remat) -> None:  # noqa: ANN001 - RematComparison
    """As written vs the policy: residual bytes, peak, FLOPs; then the residual lists diffed."""
    res, peak = report.residuals, report.peak
    written_peak = peak.peak_bytes if peak and peak.available else None
    flops = lambda x: f"{x:,.0f}" if x is not None else "not available"  # noqa: E731
    frame = pd.DataFrame(
        [
            {"": "residuals", "as written": f"{len(res.residuals)} · {mem.fmt_bytes(res.total_bytes)}",
             remat.policy: f"{remat.residual_count} · {mem.fmt_bytes(remat.residual_bytes)}"},
            {"": "peak live", "as written": mem.fmt_bytes(written_peak),
             remat.policy: mem.fmt_bytes(remat.peak_bytes)},
            {"": "FLOPs", "as written": flops(report.flops), remat.policy: flops(remat.flops)},
        ]
    )  # fmt: skip
    st.dataframe(frame, key="memory_remat", hide_index=True)
    st.caption(f"The variant's compile took {remat.compile_s:.2f} s.")
    diff = [f"+ {a}" for a in remat.added] + [f"- {r}" for r in remat.removed]
    st.code("\n".join(diff) or "the same residuals", language="diff")
