"""The one way the app shows a self-contained HTML page (the graph viewer, the presenter's keys)."""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components


def embed(page: str, height: int) -> None:
    """Show `page` in an iframe that may reach the app's page (st.iframe where this Streamlit has it)."""
    if hasattr(st, "iframe"):
        st.iframe(page, height=max(height, 1))
    else:
        components.html(page, height=height)
