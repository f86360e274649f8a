"""Jaxpr Explorer: `streamlit run app/main.py`.

This file is the table of contents: state, sidebar, editor, the inspection,
then the views. Each part lives in its own module under `app/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

from app import editor, inspection, profile_view, sidebar, state, teaching, views  # noqa: E402

st.set_page_config(
    page_title="Jaxpr Explorer",
    page_icon=":material/biotech:",
    layout="wide",
    initial_sidebar_state=state.sidebar_state(),  # collapsed for a lecture link
)
state.init()
teaching.lecture_theme()

expression_slot = sidebar.sidebar()
if state.walkthrough_mode():  # "how JAX works", step by step: its own page
    teaching.walkthrough_page(expression_slot)
    st.stop()

with st.spinner("Tracing, transforming, lowering and compiling…", show_time=True):
    queue_note = st.empty()
    result = inspection.inspect(state.request(), on_wait=views.queue_position(queue_note))
    queue_note.empty()
state.remember(result)
sidebar.show_expression(expression_slot, result.entry)

views.header()
teaching.mode_bar()
views.url_notice()
code_col, side_col = st.columns([3, 2], gap="medium")
with code_col:
    if editor.editor(result.error):
        st.rerun()  # new code from the editor: inspect it before drawing anything else
    views.stage_strip(result)
with side_col, st.container(height=views.SIDE_PANEL_HEIGHT, border=False):
    views.lesson(result)
    if not state.lecture():  # lecture mode: fewer panels
        views.run_panel(result)

if result.error is not None:
    views.error_box(result.error, st.session_state["code"])
state.sync_url()  # before the views: the link is right even if a view fails

shown, stale = views.pick_view(result)
if stale:
    views.stale_banner(shown)
views.tabs(shown, extra=[*teaching.TABS, ("Profile", profile_view.profile_tab)], lecture=state.lecture())
