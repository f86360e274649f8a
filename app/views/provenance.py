"""The Provenance view: what each transformation did (grad's two passes, vmap's batch axes, jit's fusions)."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from app import safe, state
from app.components.explorer import Pane, text_panes
from app.components.painted import (
    BACKWARD_FILL,
    FORWARD_FILL,
    INTRODUCED_FILL,
    eqn_index,
    equation_lines,
    scheme,
)
from inspectors.mapping import line_color
from inspectors.results import InspectionResult, JitProvenance


def provenance_tab(result: InspectionResult) -> None:
    """What each transformation did: grad's two passes, vmap's batch dimensions, jit's fusions."""
    if result.jaxpr().model is None:
        st.info("No provenance: the inspection stopped before tracing.")
        return
    shown = False
    known = result.provenance  # computed with the result in the worker; the view only reads it
    if known is None:
        st.info("Provenance not available: this result was saved without it.")
        return
    grad = known.grad
    if grad and (grad.forward or grad.backward):
        _grad_section(result, grad)
        shown = True
    vmap = known.vmap
    if vmap and (vmap.batched or vmap.introduced):
        _vmap_section(result, vmap)
        shown = True
    if known.jit is not None:
        _jit_section(result, known.jit)
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
    text = result.jaxpr().text or ""
    where = equation_lines(result.jaxpr().model)
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
        pane = Pane(
            "grad", f"{result.expression or result.entry}", text, "jaxpr", colors=colors, emphasis=emphasis
        )
        text_panes([pane], key="prov_grad_text", height=420, lecture=state.lecture())
    with res_col:
        st.markdown("**Residuals** (saved by the forward pass, read by the backward pass)")
        st.dataframe(residuals_frame(result, grad.residuals), hide_index=True, width="stretch")


def equation_text(eqns: dict, eqn_id: str) -> str:
    """An equation as the jaxpr prints it (its first line), or its id where the model lacks it."""
    eqn = eqns.get(eqn_id)
    return eqn.text.splitlines()[0].strip() if eqn is not None else eqn_id


def residuals_frame(result: InspectionResult, residuals: list) -> pd.DataFrame:
    """One row per residual: its name and type, the equation that saves it and those that read it."""
    eqns = eqn_index(result.jaxpr().model)
    return pd.DataFrame(
        [
            {
                "name": r.name,
                "type": r.type,
                "saved by": equation_text(eqns, r.produced_by),
                "read by": "\n".join(equation_text(eqns, e) for e in r.consumed_by),
            }
            for r in residuals
        ],
        columns=["name", "type", "saved by", "read by"],
    )


def _vmap_section(result: InspectionResult, vmap) -> None:  # noqa: ANN001
    """Variables that gained a batch dimension, and equations vmap introduced."""
    eqns = eqn_index(result.jaxpr().model)
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
        pd.DataFrame([{"equation": equation_text(eqns, i.id), "origin": i.origin} for i in vmap.introduced]),
        hide_index=True,
        width="stretch",
    )
    changed = [m for m in vmap.matched if m.changed_params]
    if changed:
        with st.expander(f"Params vmap changed ({len(changed)} equations)"):
            for m in changed:
                st.markdown(
                    f"- {safe.code_span(m.after)} {safe.md(m.primitive)}: "
                    + "; ".join(f"{safe.code_span(k)}: {safe.md(v)}" for k, v in m.changed_params.items())
                )
    where = equation_lines(result.jaxpr().model)
    colors = {n: INTRODUCED_FILL for i in vmap.introduced for n in where.get(i.id, [])}
    names = {v.name for v in vmap.batched}
    st.caption("The vmapped jaxpr: introduced equations in yellow, batched variables underlined.")
    text = result.jaxpr().text or ""
    pane = Pane(
        "vmap",
        f"{result.expression or result.entry}",
        text,
        "jaxpr",
        colors=colors,
        emphasis_everywhere=names,
    )
    text_panes([pane], key="prov_vmap_text", height=360, lecture=state.lecture())


def _jit_section(result: InspectionResult, jit: JitProvenance) -> None:
    """Fusions, folded constants, equations with no HLO left (as the worker computed them)."""
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
    eqns = eqn_index(result.jaxpr().model)
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
