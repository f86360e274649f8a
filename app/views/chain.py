"""The Stages view: the chain from source to machine code as a strip; one stage, or two side by side as a diff.

Pick one stage to read it; pick two to see what changed between them: the lines
each side lost or gained (painted red and green in the explorer component) and,
for jaxprs, the equation counts by primitive. The pair travels in the shared
link (`stages` in `?s=`), so a link reopens the same comparison.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import safe, state
from app.components.explorer import Pane, text_panes
from app.views.common import missing
from inspectors.diff import HLO_KINDS, hlo_diff, jaxpr_diff, text_diff
from inspectors.results import InspectionResult, JaxprDiff, Stage, TextDiff

REMOVED, ADDED = "#fde2e4", "#dcfce7"
LANGUAGES = {"jaxpr": "jaxpr", "stablehlo": "stablehlo", "hlo": "hlo", "hlo-pass": "hlo", "source": "python"}
KIND_LABELS = {"source": "source", "jaxpr": "jaxpr", "stablehlo": "StableHLO", "hlo": "HLO", "hlo-pass": "XLA pass"}


def label(stage: Stage) -> str:
    """`jaxpr:1 · grad(loss)`, `hlo-pass:3 · fusion`: what the strip shows for a stage."""
    name = stage.pass_name or stage.name or stage.id
    return f"{stage.id} · {name}"


def viewable(result: InspectionResult) -> list[Stage]:
    """The stages with a text to show, in chain order."""
    return [s for s in result.stages if s.has_text]


def counts_frame(structural: JaxprDiff | TextDiff) -> pd.DataFrame:
    """The diff's counts that changed, by primitive (jaxprs) or opcode (HLO), as a table: largest change first."""
    jaxprs = isinstance(structural, JaxprDiff)
    counts = structural.primitives if jaxprs else structural.opcodes
    frame = pd.DataFrame(
        {structural.a: [x for x, _ in counts.values()], structural.b: [y for _, y in counts.values()]},
        index=pd.Index(list(counts), name="primitive" if jaxprs else "opcode"),
    )
    frame["change"] = frame[structural.b] - frame[structural.a]
    return frame


def _keep_pick() -> None:
    """Copy the strip's selection into the shareable state (at most two: the last two picked)."""
    st.session_state["stages"] = list(st.session_state["stage_pick"])[-2:]


def strip(stages: list[Stage]) -> list[str]:
    """The chain as pills; return the picked stage ids (one to read, two to diff)."""
    ids = [s.id for s in stages]
    picked = [i for i in st.session_state["stages"] if i in ids]
    if not picked:  # by default: what the last transform did
        jaxprs = [s.id for s in stages if s.kind == "jaxpr"]
        picked = jaxprs[-2:] if len(jaxprs) > 1 else ids[-1:]
    st.session_state["stage_pick"] = picked
    names = {s.id: label(s) for s in stages}
    st.pills(
        "Stages, source to machine code: pick one to read it, two to compare them",
        ids,
        selection_mode="multi",
        key="stage_pick",
        format_func=names.get,
        on_change=_keep_pick,
    )
    return [i for i in ids if i in picked][:2] if len(picked) > 1 else picked


def stages_tab(result: InspectionResult) -> None:
    """The stage strip, then the picked stage or the diff of the picked pair."""
    stages = viewable(result)
    if not stages:
        missing("stage", result)
        return
    picked = [result.stage(i) for i in strip(stages)]
    picked = [s for s in picked if s is not None]
    if len(picked) == 1:
        one(picked[0])
    elif len(picked) == 2:
        diff(*picked)
    else:
        st.caption("Pick a stage above.")


def one(stage: Stage) -> None:
    """One stage's text, with what produced it."""
    meta = f"{stage.expression}" if stage.expression and stage.expression != stage.name else ""
    if stage.time_s is not None:
        meta += f" · {stage.time_s * 1000:.0f} ms"
    pane = Pane(stage.id, label(stage), stage.text or "", LANGUAGES.get(stage.kind, "text"), meta=meta.strip(" ·"))
    text_panes([pane], key="stage_one", height=600, lecture=state.lecture())


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs={Stage: lambda s: (s.id, s.text, s.transform)})
def summary_of(a: Stage, b: Stage) -> JaxprDiff | TextDiff:
    """The diff of two stages (`inspectors.diff`: plain text work, no JAX), computed once per pair and cached."""
    if a.kind == b.kind == "jaxpr" and a.model and b.model:
        return jaxpr_diff(a, b, b.transform)
    return hlo_diff(a, b) if a.kind in HLO_KINDS and b.kind in HLO_KINDS else text_diff(a, b)


def diff(a: Stage, b: Stage) -> None:
    """Two stages side by side, the lines that differ painted; the counts that changed."""
    structural = summary_of(a, b)
    left, right = structural.removed, structural.added
    what = f"**{safe.md(b.transform)}**: " if b.transform else ""
    st.markdown(
        f"{what}{len(left)} line(s) of {safe.code_span(a.id)} removed or changed, "
        f"{len(right)} line(s) of {safe.code_span(b.id)} added or changed."
    )
    for line in structural.summary:  # "fusion: 28 instructions → 6 fusions", "+12 equations: backward 10, ..."
        st.caption(safe.md(line))
    panes = [
        Pane(s.id, label(s), s.text or "", LANGUAGES.get(s.kind, "text"), colors=dict.fromkeys(lines, fill),
             scroll_to=lines[0] if lines else 0)  # fmt: skip
        for s, lines, fill in ((a, left, REMOVED), (b, right, ADDED))
    ]
    text_panes(panes, key="stage_diff", height=560, lecture=state.lecture())
    rows = [r for r in getattr(structural, "rows", []) if r.status != "same"]
    if rows:
        with st.expander(f"Equations added, removed or changed ({len(rows)}), with where they came from"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {"change": r.status, "origin": r.origin, "primitive": r.primitive, "line": r.line,
                         "equation": r.text_after or r.text_before, "what changed": "; ".join(r.changes)}
                        for r in rows
                    ]
                ),
                width="stretch",
                hide_index=True,
            )  # fmt: skip
    frame = counts_frame(structural)
    if len(frame):
        st.markdown(f"**What changed**, by {frame.index.name}")
        st.dataframe(frame, width="stretch", height=min(38 + 35 * len(frame), 320))
