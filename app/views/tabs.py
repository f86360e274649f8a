"""The Explore page's views as tabs: one table of (name, view), drawn in a fragment.

Switching tabs happens in the browser, with no rerun: every view is drawn, the
open one first (a link's `?view=` picks it), so it is on screen while the others
are still being drawn; a view's own widgets rerun this fragment alone. A small
script keeps `?view=` in the address bar in step with the open tab, so a copied
link reopens it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import state
from app.views import chain, profile, provenance, source_map, stages
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
    ("Profile", profile.profile_tab),
    ("Stats", stages.stats_tab),
]
LECTURE_HIDDEN = {"Stats"}  # lecture mode: fewer panels
URL_JS = """
export default function () {
  if (window.__explorerTabs) return;  // once per page: it watches every later run
  window.__explorerTabs = true;
  const replace = history.replaceState, push = history.pushState;
  let open = new URL(location.href).searchParams.get("view");
  const write = () => {
    const url = new URL(location.href);
    if (open && url.searchParams.get("view") !== open) { url.searchParams.set("view", open); replace.call(history, history.state, "", url); }
  };
  // Streamlit rewrites the query string when `?s=` changes: put the open tab back each time.
  history.replaceState = function (...a) { const r = replace.apply(this, a); write(); return r; };
  history.pushState = function (...a) { const r = push.apply(this, a); write(); return r; };
  document.addEventListener("click", (e) => {
    const tab = e.target.closest && e.target.closest('button[role="tab"]');
    const list = document.querySelector('.st-key-views [role="tablist"]');
    if (tab && list && list.contains(tab)) { open = tab.innerText.trim(); write(); }
  }, true);
}
"""
_url_sync = st.components.v2.component("jaxpr_explorer.tab_url", js=URL_JS)


def opened(names: list[str]) -> str:
    """The tab the page opens on: the link's `?view=`, else the first."""
    wanted = st.query_params.get("view", "")
    return wanted if wanted in names else names[0]


@st.fragment
def views(result: InspectionResult) -> None:
    """The tabs, every one drawn, the open one first."""
    pairs = [(name, view) for name, view in TABS if not (state.lecture() and name in LECTURE_HIDDEN)]
    names = [name for name, _ in pairs]
    first = opened(names)
    with st.container(key="views"):
        containers = dict(zip(names, st.tabs(names, default=first), strict=True))
    for name, view in sorted(pairs, key=lambda p: p[0] != first):
        with containers[name]:
            guarded(view, result)
    _url_sync(key="tab_url")
    state.sync_url()  # graph options and the stage pair belong in the link too
