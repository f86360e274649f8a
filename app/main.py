"""Jaxpr Explorer: `streamlit run app/main.py`.

This file is the table of contents: state, sidebar, then one of two pages,
Explore (editor, inspection, the views as tabs) or Walkthrough (seven steps).
Each part lives in its own module: `app/views/` one per view, `app/components/`
the browser-side pieces.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

from app import editor, inspection, sidebar, state  # noqa: E402
from app.views import common, lecture, run, tabs, walkthrough  # noqa: E402


def explore(draw_sidebar: Callable[[], object]) -> str:
    """Editor and lesson, the inspection, then every view of it as a tab; return the function inspected.

    `draw_sidebar()` is called while the request waits (a queue place, a long trace or compile)."""
    # What comes before the code (the spinner, progress, a queue place, the title, a notice) varies in number
    # from run to run: in one container of its own, so the columns after it keep their place in the page and
    # the editor is never remounted (a remounted editor frame loses its last message to Streamlit).
    with st.container():
        with st.spinner("Tracing, transforming, lowering and compiling…", show_time=True):
            queue_note, preview = st.empty(), common.Progress(st.empty(), on_idle=draw_sidebar)
            result = inspection.inspect(
                state.request(),
                on_wait=common.queue_position(queue_note, on_idle=draw_sidebar),
                on_partial=preview,
                restart=bool(st.session_state.get(editor.RUN_KEY)),  # Run on a stopped inspection starts it again
            )
            queue_note.empty()
            preview.finish()
        state.remember(result)

        lecture.title_bar()
        common.url_notice()

    # Lecture mode puts the code beside the views, so a projector's first screen shows code and jaxpr.
    code_col, side_col = st.columns([2, 3] if state.lecture() else [3, 2], gap="medium")
    with code_col:
        code_slot = editor.slot()  # Ace is drawn into it last (below)
        with editor.run_bar():
            common.stage_strip(result)
    with side_col:
        common.lesson(result)
        if not state.lecture():  # lecture mode: fewer panels
            run.run_panel(result)
    views = side_col if state.lecture() else st.container()

    if result.error is not None:
        with views:
            common.error_box(result.error, st.session_state["code"])
    state.sync_url()  # before the views: the link is right even if a view fails

    try:
        shown, stale = common.pick_view(result)
        with views:
            if stale:
                common.stale_banner(shown)
            tabs.views(shown)
    finally:
        with code_slot:  # the editor last, in its place above: the jaxpr is drawn before Ace loads
            editor.place(result.error)
    return result.entry


# The first screen is for the code and its jaxpr: Streamlit's default paddings and gaps are tightened.
LAYOUT_CSS = """
<style>
.block-container { padding-top: 1.2rem !important; padding-left: 2.5rem; padding-right: 2.5rem; }
.st-key-editor_scroll { display: none; }  /* the editor's script: no gap for an empty element */
</style>
"""

st.set_page_config(
    page_title="Jaxpr Explorer",
    page_icon=str(ROOT / "app" / "icon.png"),  # served by the app; a `:material/` icon comes from a CDN
    layout="wide",
    initial_sidebar_state=state.sidebar_state(),  # collapsed for a lecture link
)
state.init()
if not state.walkthrough_mode():
    editor.take_edit()  # code the editor delivered for this run, before the sidebar lists its functions
st.html(LAYOUT_CSS)
lecture.lecture_theme()
sidebar.settle()  # what the request reads from the sidebar, corrected before it is made
if state.walkthrough_mode():  # "how JAX works", step by step: its own page
    walkthrough.walkthrough_page(sidebar.sidebar())
else:
    later, entry = sidebar.Later(), ""
    try:
        entry = explore(later.draw)
    finally:
        later.finish(entry, tabs.opens_on_pane())
