"""The Explore page's views as tabs: one table of (name, view), each view a fragment of its own.

Switching tabs happens in the browser, with no rerun: every view is drawn. For
a new result only the open view (a link's `?view=` picks it) is drawn in the
page's run, above a tiny marker that, once the browser has drawn the page, asks
for the others (a rerun of the tabs' fragment alone). So the first view is on
screen as soon as it can be, and later runs for the same result draw every view
at once. A view's own widgets rerun that view alone. A small script keeps
`?view=` in the address bar in step with the open tab, so a copied link reopens it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import editor, state
from app.views import chain, memory, primitives, profile, provenance, sharding, source_map, stages
from app.views.common import guarded
from inspectors.results import InspectionResult

View = Callable[[InspectionResult], None]


WAKE_JS = """
export default function ({ data, parentElement, setStateValue }) {
  // Runs once the page has drawn what came before this marker (the open view): ask for the others.
  // A state, not a trigger: a trigger sent while the page's run is still going can be folded away.
  if (data.drawn || parentElement.__asked === data.id) return;
  parentElement.__asked = data.id;
  // On a session's first page the editor mounts first (app/editor.py), once the open view is drawn.
  const start = performance.now();
  const ready = () => !data.after_editor || document.querySelector('iframe[title*=code_editor]')
    || performance.now() - start > data.wait_ms;
  const go = () => (ready() ? setStateValue("wake", data.id) : setTimeout(go, 50));
  requestAnimationFrame(() => setTimeout(go, 0));
}
"""
_wake = st.components.v2.component("jaxpr_explorer.wake", html="<span></span>", js=WAKE_JS)


def own_fragment(view: View) -> View:
    """Make a view a fragment of its own: its widgets (graph options, a clicked line, the stage strip)
    rerun that view alone, a failure shows in it alone, and the link follows what it changed."""

    def run(result: InspectionResult) -> None:
        guarded(view, result)
        state.sync_url()

    run.__qualname__ = run.__name__ = f"view_{view.__name__}"
    return st.fragment(run)


TABS: list[tuple[str, View]] = [
    ("Jaxpr", own_fragment(stages.jaxpr_tab)),
    ("Stages", own_fragment(chain.stages_tab)),
    ("Graph", own_fragment(stages.graph_tab)),
    ("StableHLO", own_fragment(stages.stablehlo_tab)),
    ("Compiled HLO", own_fragment(stages.hlo_tab)),
    ("Source map", own_fragment(source_map.source_map_tab)),
    ("Provenance", own_fragment(provenance.provenance_tab)),
    ("Primitives", own_fragment(primitives.primitives_tab)),
    ("Memory", own_fragment(memory.memory_tab)),
    ("Sharding", own_fragment(sharding.sharding_tab)),
    ("Profile", own_fragment(profile.profile_tab)),
    ("Stats", own_fragment(stages.stats_tab)),
]
LECTURE_HIDDEN = {"Stats"}  # lecture mode: fewer panels
# The views whose first paint is an explorer pane's rows or a graph's SVG (the others: Streamlit's own elements).
PANE_VIEWS = {"Jaxpr", "Stages", "Graph", "StableHLO", "Compiled HLO", "Source map", "Provenance"}
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
    const tab = e.target.closest && e.target.closest('[role="tab"]');
    const list = document.querySelector('.st-key-views [role="tablist"]');
    if (tab && list && list.contains(tab)) { open = tab.innerText.trim(); write(); }
  }, true);
}
"""
_url_sync = st.components.v2.component("jaxpr_explorer.tab_url", html="<span></span>", js=URL_JS)


def opened(names: list[str]) -> str:
    """The tab the page opens on: the link's `?view=`, else the first."""
    wanted = st.query_params.get("view", "")
    return wanted if wanted in names else names[0]


def shown_tabs() -> list[tuple[str, View]]:
    """The tabs this page shows (lecture mode: fewer)."""
    return [(name, view) for name, view in TABS if not (state.lecture() and name in LECTURE_HIDDEN)]


def opens_on_pane() -> bool:
    """True if the view the page opens on draws an explorer pane or a graph first (`PANE_VIEWS`)."""
    return opened([name for name, _ in shown_tabs()]) in PANE_VIEWS


def views(result: InspectionResult) -> None:
    """The tabs, every one drawn: for a new result the open one at once, the others once the browser asks."""
    pairs = shown_tabs()
    names = [name for name, _ in pairs]
    _tabs(result, pairs, opened(names))
    _url_sync(key="tab_url", data={"tabs": names})


@st.fragment
def _tabs(result: InspectionResult, pairs: list[tuple[str, View]], first: str) -> None:
    """The tab bar and the views (a fragment: the marker's request reruns it alone)."""
    key = state.request_key(result.request)
    drawn = st.session_state.get("_views_drawn") == key or bool(st.session_state.get("all_views_at_once"))
    data = {"id": key, "drawn": drawn, "after_editor": editor.deferred(), "wait_ms": 2 * editor.MOUNT_WAIT_MS}
    asked = _wake(key="wake_views", data=data, default={"wake": ""}, on_wake_change=lambda: None)
    everything = drawn or getattr(asked, "wake", None) == key
    if everything:
        st.session_state["_views_drawn"] = key
    with st.container(key="views"):
        containers = dict(zip([n for n, _ in pairs], st.tabs([n for n, _ in pairs], default=first), strict=True))
    for name, view in sorted(pairs, key=lambda p: p[0] != first):
        if everything or name == first:
            with containers[name]:
                view(result)
