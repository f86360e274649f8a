"""The Explore page's views as tabs: one table of (name, view), drawn in a fragment.

Only the open tab is drawn, and a tab switch or a view's own widget reruns this
fragment alone: the editor, the sidebar and the inspection are not touched.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import state
from app.views import chain, provenance, source_map, stages
from app.views.common import guarded
from inspectors.results import InspectionResult

View = Callable[[InspectionResult], None]
TABS: list[tuple[str, View]] = [
    ("Jaxpr", stages.jaxpr_tab),
    ("Stages", chain.stages_tab),
    ("Graph", stages.graph_tab),
    ("StableHLO", stages.stablehlo_tab),
    ("Compiled HLO", stages.hlo_tab),
    ("Source map", source_map.source_map_tab),
    ("Provenance", provenance.provenance_tab),
    ("Stats", stages.stats_tab),
]
LECTURE_HIDDEN = {"Stats"}  # lecture mode: fewer panels


@st.fragment
def views(result: InspectionResult) -> None:
    """The tabs; only the open one is drawn."""
    pairs = [(name, view) for name, view in TABS if not (state.lecture() and name in LECTURE_HIDDEN)]
    containers = st.tabs([name for name, _ in pairs], key="view", bind="query-params")
    for container, (_, view) in zip(containers, pairs, strict=True):
        if container.open is False:
            continue
        with container:
            guarded(view, result)
    state.sync_url()  # graph options and the open tab belong in the link too
