"""Graph views for the app: jaxpr before/after and StableHLO/HLO graphs.

Minimal first version; the zoomable viewer follows.
"""

from __future__ import annotations

import streamlit as st

from inspectors.results import InspectionResult, JaxprModel


def _simple_dot(model: JaxprModel) -> str:
    """Return a plain DOT graph of a jaxpr's top-level equations."""
    lines = ["digraph jaxpr {", "rankdir=TB; node [shape=box fontsize=10];"]
    producers = {v.name: "in" for v in model.invars}
    for eqn in model.eqns:
        lines.append(f'"e{eqn.id}" [label="{eqn.primitive}"];')
        for v in eqn.invars:
            if not v.literal and v.name in producers and producers[v.name] != "in":
                lines.append(f'"{producers[v.name]}" -> "e{eqn.id}" [label="{v.type}"];')
        for v in eqn.outvars:
            producers[v.name] = f"e{eqn.id}"
    lines.append("}")
    return "\n".join(lines)


def jaxpr_graphs(result: InspectionResult, key: str) -> None:
    """Render the before/after jaxpr graphs side by side."""
    models = [("before", result.model_before), ("after", result.model_after)]
    cols = st.columns(2)
    for col, (label, model) in zip(cols, models, strict=True):
        with col:
            st.caption(f"jaxpr {label}")
            if model is None:
                st.info("No jaxpr to draw.")
                continue
            st.graphviz_chart(_simple_dot(model), key=f"{key}_{label}")


def hlo_graph(result: InspectionResult, which: str, key: str) -> None:
    """Render the StableHLO (`which="stablehlo"`) or compiled HLO (`"hlo"`) graph."""
    text = result.stablehlo if which == "stablehlo" else result.hlo
    if not text:
        st.info("No HLO to draw.")
        return
    st.code(text[:2000], language="text")
