"""The mode bar (Explore | Walkthrough), lecture mode's stylesheet, and the presenter's keys."""

from __future__ import annotations

import streamlit as st

from app import state
from app.views import common

MODE_LABELS = {"explore": "Explore", "walkthrough": "Walkthrough"}
LECTURE_CSS = """
<style>
/* lecture mode: large type, high contrast, fewer panels */
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stAppViewContainer"] { background: #ffffff; color: #000000; }
.block-container { max-width: 100% !important; padding: 3rem 2rem 1rem !important; }
.explorer-code, .explorer-code pre, .explorer-code code { font-size: 22px !important; line-height: 1.45 !important; }
[data-testid="stCode"] code, [data-testid="stCode"] pre { font-size: 21px !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 22px; }
[data-testid="stCaptionContainer"] { font-size: 18px !important; color: #111 !important; }
[data-testid="stDownloadButton"], [data-testid="stSidebarCollapsedControl"] + div .explorer-hide { display: none !important; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * { font-size: 2.2rem !important; }
.st-key-wt_prev button, .st-key-wt_next button { font-size: 26px !important; min-height: 3.4rem; padding: 0 2rem; }
.st-key-wt_prev button p, .st-key-wt_next button p { font-size: 26px !important; }
button[role="tab"] p { font-size: 22px !important; }
.painted-line.sel { outline: 3px solid #000 !important; }
</style>
"""
KEYS_JS = """
<script>
// Arrow keys and a presenter's clicker (PageUp/PageDown) press Prev/Next in the app's page.
const doc = window.parent.document;
if (window.parent.__explorerKeys) doc.removeEventListener("keydown", window.parent.__explorerKeys, true);
window.parent.__explorerKeys = (e) => {
  const t = e.target, tag = (t && t.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || (t && t.isContentEditable)) return;
  if (t && t.closest && t.closest(".ace_editor")) return;
  const next = e.key === "ArrowRight" || e.key === "PageDown";
  const prev = e.key === "ArrowLeft" || e.key === "PageUp";
  if (!next && !prev) return;
  const button = doc.querySelector(next ? ".st-key-wt_next button" : ".st-key-wt_prev button");
  if (button && !button.disabled) { e.preventDefault(); button.click(); }
};
doc.addEventListener("keydown", window.parent.__explorerKeys, true);
</script>
"""


# --- mode bar and lecture mode ------------------------------------------------------------------


def _set_mode() -> None:
    """Copy the mode picker into the state."""
    state_ = st.session_state
    state_["mode"] = state_.get("mode_pick") or state_["mode"]


def _set_lecture() -> None:
    """Copy the lecture toggle into the state."""
    st.session_state["lecture"] = st.session_state["lecture_pick"]


def mode_bar() -> None:
    """Explore | Walkthrough, and the lecture-mode switch (both also in the URL)."""
    st.session_state["mode_pick"] = st.session_state["mode"]
    st.session_state["lecture_pick"] = st.session_state["lecture"]
    left, right = st.columns([3, 2], vertical_alignment="center", gap="small")
    left.segmented_control(
        "Mode", list(MODE_LABELS), format_func=MODE_LABELS.get, key="mode_pick", on_change=_set_mode,
        required=True, label_visibility="collapsed",
        help="Explore every stage at once, or walk through how JAX works step by step.",
    )  # fmt: skip
    right.toggle(
        "Lecture mode", key="lecture_pick", on_change=_set_lecture,
        help="Large type, high contrast, fewer panels: for a projector. Links keep it (`lecture=1`).",
    )  # fmt: skip


def title_bar() -> None:
    """The title and, on its right, the mode bar: one row, so the first screen keeps its height for the
    code and the jaxpr."""
    title, modes = st.columns([5, 4], vertical_alignment="center")
    with title:
        common.header()
    with modes:
        mode_bar()


def lecture_theme() -> None:
    """Inject the lecture stylesheet when lecture mode is on."""
    if state.lecture():
        st.markdown(LECTURE_CSS, unsafe_allow_html=True)
