"""The stage views: jaxpr before/after, StableHLO, compiled HLO (text and graph), and the counts.

Texts go to the explorer component (`app.components.explorer`): drawn in the
browser, searched and wrapped there. Each view reads a result and draws; none
computes anything that needs JAX.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import pandas as pd
import streamlit as st

from app import safe, state
from app.components.explorer import Pane, text_panes
from app.views import graph, primitives
from app.views.common import download, missing
from inspectors.results import InspectionResult

TEXT_HEIGHT = 600


def jaxpr_tab(result: InspectionResult) -> None:
    """Jaxpr before and after the transformations, side by side (one pane when they are the same)."""
    sides = [
        ("before", result.entry, result.jaxpr(0).text, result.equations(0)),
        ("after", result.expression, result.jaxpr().text, result.equations()),
    ]
    if result.jaxpr(0).text is not None and result.jaxpr(0).text == result.jaxpr().text:
        sides = sides[1:]
    panes = []
    prims = {c.name for c in result.primitives.cards} if result.primitives else set()  # names that open a card
    buttons = st.columns(4, vertical_alignment="center")
    for i, (tag, expr, text, total) in enumerate(sides):
        if text is None:
            continue
        meta = f"{total} equations" if total is not None else ""
        title = f"{'Before' if tag == 'before' else 'After'} · {expr or '?'}"
        panes.append(Pane(id=tag, title=title, text=text, language="jaxpr", meta=meta, primitives=prims))
        with buttons[i]:
            download(f"jaxpr {tag}", text, f"{result.entry or 'jaxpr'}_{tag}.jaxpr.txt", f"dl_jaxpr_{tag}")
    if not panes:
        missing("jaxpr", result)
        return
    if len(sides) == 2 and sides[1][2] is None:
        st.info(f"No jaxpr after the transforms: the inspection stopped at {safe.md(result.error.stage)}.")
    text_panes(panes, key="jaxpr_text", height=TEXT_HEIGHT, lecture=state.lecture(), on_primitive=primitives.open_card)
    primitives.pending_dialog(result)  # a clicked primitive name: its card, in a dialog over this view


def graph_tab(result: InspectionResult) -> None:
    """The jaxpr graphs (drawn by `app.views.graph`)."""
    if result.jaxpr(0).model is None and result.jaxpr().model is None:
        missing("graph", result)
        return
    graph.jaxpr_graphs(result, key="jaxpr_graph", height=graph.height())


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
        missing("StableHLO" if which == "stablehlo" else "compiled HLO", result)
        return
    text_tab, graph_tab_ = st.tabs(["Text", "Graph"], key=f"{which}_view", on_change="rerun")
    if text_tab.open is not False:
        with text_tab:
            control, button = st.columns([3, 1], vertical_alignment="center")
            if controls:
                with control:
                    controls()
            with button:
                download(filename, text, filename, f"dl_{which}")
            meta = f"{text.count(chr(10)) + 1} lines · {len(text) / 1024:.1f} KiB"
            label = "StableHLO" if which == "stablehlo" else "Compiled HLO"
            pane = Pane(id=which, title=f"{label} · {result.entry or 'module'}", text=text, language=language, meta=meta)
            text_panes([pane], key=f"{which}_text", height=TEXT_HEIGHT, lecture=state.lecture())
    if graph_tab_.open:
        with graph_tab_:
            graph.hlo_graph(result, which, key=f"{which}_graph", height=graph.height())


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
    debug = st.session_state["debug_locations"] and result.text_of("stablehlo-debug")
    text = result.text_of("stablehlo-debug") if debug else result.text_of("stablehlo")
    filename = f"{result.entry or 'module'}{'.debug' if debug else ''}.stablehlo.mlir"
    _hlo_view(result, "stablehlo", text, "stablehlo", filename, controls=_debug_locations_toggle)


def hlo_tab(result: InspectionResult) -> None:
    """The compiled, optimised HLO."""
    _hlo_view(result, "hlo", result.text_of("hlo"), "hlo", f"{result.entry or 'module'}.hlo.txt")


def stats_frame(result: InspectionResult) -> pd.DataFrame:
    """Equation counts by primitive of the first and last jaxpr stages, largest first."""
    before, after = result.equation_counts(0) or {}, result.equation_counts() or {}
    names = sorted(set(before) | set(after), key=lambda p: (-max(before.get(p, 0), after.get(p, 0)), p))
    frame = pd.DataFrame(
        {"before": [before.get(p, 0) for p in names], "after": [after.get(p, 0) for p in names]},
        index=pd.Index(names, name="primitive"),
    )
    frame["change"] = frame["after"] - frame["before"]
    return frame


BAR_COLOURS = ("#94a3b8", "#2563eb")  # before, after


def counts_chart(frame: pd.DataFrame) -> alt.Chart:
    """Horizontal bars, before and after side by side per primitive, in the table's order.

    Drawn with Altair rather than `st.bar_chart(horizontal=True, stack=False)`, whose spec makes Vega-Lite
    warn in the browser (an empty `xOffset` channel, zoom bound to a band scale)."""
    counts = frame[["before", "after"]].reset_index()
    long = counts.melt("primitive", var_name="jaxpr", value_name="equations")
    return (
        alt.Chart(long, height=max(240, 22 * len(frame) + 80))
        .mark_bar()
        .encode(
            y=alt.Y("primitive:N", sort=list(frame.index), title=None),
            yOffset=alt.YOffset("jaxpr:N", sort=["before", "after"]),
            x=alt.X("equations:Q", title="equations"),
            color=alt.Color("jaxpr:N", sort=["before", "after"], scale=alt.Scale(range=list(BAR_COLOURS))),
            tooltip=["primitive", "jaxpr", "equations"],
        )
    )


def stats_tab(result: InspectionResult) -> None:
    """Counts by primitive before/after: a table and a chart."""
    if result.equation_counts(0) is None and result.equation_counts() is None:
        missing("statistics", result)
        return
    frame = stats_frame(result)
    before, after = int(frame["before"].sum()), int(frame["after"].sum())
    a, b, c = st.columns(3)
    a.metric("Equations before", before)
    b.metric("Equations after", after, delta=after - before, delta_color="off")
    c.metric("Primitives used", len(frame))
    table, chart = st.columns([2, 3], gap="medium")
    table.dataframe(frame, height=min(38 + 35 * len(frame), 520), width="stretch")
    if frame.empty:  # no equations: a chart of nothing only makes the browser warn
        chart.caption("No equations: nothing to chart.")
        return
    with chart:
        st.altair_chart(counts_chart(frame), width="stretch")
    st.caption("Counts include equations inside sub-jaxprs (jit, cond branches, loop bodies).")
