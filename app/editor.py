"""The code editor: streamlit-code-editor (Ace, bundled, works offline), `st.text_area` as fallback.

The code lives in `st.session_state["code"]`. Whenever it changes from
outside the editor (a sample, the URL, a test) the editor is remounted under
a new key so it shows the new code; edits flow back on Ctrl+Enter, the Run
button or when the editor loses focus.
"""

from __future__ import annotations

import streamlit as st

from app.state import edit_code, lecture
from inspectors.results import InspectError

try:
    from code_editor import code_editor
except ImportError:  # the fallback below keeps the app usable
    code_editor = None

EDITOR_CSS = """
.ace_gutter-cell.ace_error { background-color: rgba(220, 38, 38, 0.18); }
.explorer-error-line { position: absolute; background: rgba(220, 38, 38, 0.12); }
"""
RUN_BUTTON = {
    "name": "Run",
    "feather": "Play",
    "primary": True,
    "hasText": True,
    "showWithIcon": True,
    "alwaysOn": True,
    "commands": ["submit"],
    "style": {"bottom": "0.46rem", "right": "0.4rem"},
}


def _version() -> int:
    """Return the editor's mount version, bumped when the code changed from outside."""
    state = st.session_state
    if state.get("_editor_code") != state["code"]:
        state["_editor_version"] = state.get("_editor_version", 0) + 1
        state["_editor_code"] = state["code"]
    return state["_editor_version"]


def _accept(text: str) -> bool:
    """Take edited code from the editor; return True if it changed."""
    state = st.session_state
    if text == state["code"]:
        return False
    edit_code(text)
    state["_editor_code"] = text
    return True


def editor(error: InspectError | None = None) -> bool:
    """Draw the editor; return True if it just delivered new code (the caller reruns)."""
    version = _version()
    if st.session_state["plain_editor"] or code_editor is None:
        _text_area(version)
        return False
    return _ace(version, error)


def _text_area(version: int) -> None:
    """The fallback: a plain text area (edits apply when it loses focus)."""
    key = f"code_area_{version}"
    st.text_area(
        "Code",
        value=st.session_state["code"],
        key=key,
        height=400,
        on_change=lambda: _accept(st.session_state[key]),
        label_visibility="collapsed",
    )


def _ace(version: int, error: InspectError | None) -> bool:
    """The Ace editor component, with the failing line marked in the gutter."""
    annotations, markers = [], []
    if error is not None and error.line:
        row = error.line - 1
        annotations.append(
            {"row": row, "column": 0, "type": "error", "text": f"{error.kind}: {error.message[:300]}"}
        )
        markers.append(
            {
                "startRow": row,
                "startCol": 0,
                "endRow": row,
                "endCol": 1,
                "className": "explorer-error-line",
                "type": "fullLine",
            }
        )
    response = code_editor(
        st.session_state["code"],
        lang="python",
        theme="default",
        height=[12, 20],
        key=f"code_editor_{version}",
        buttons=[RUN_BUTTON],
        response_mode=["blur"],
        options={
            "showLineNumbers": True,
            "showPrintMargin": False,
            "tabSize": 4,
            "useSoftTabs": True,
            "fontSize": 20 if lecture() else 14,  # lecture mode: readable from the back row
        },
        # Ace's default 15 px scroll margin shifted the text, not the gutter, after a scroll or a
        # replaced document: line numbers and the error marker sat one row off (issue 12, bug 1).
        props={"annotations": annotations, "markers": markers, "scrollMargin": [0, 0, 0, 0]},
        component_props={"css": EDITOR_CSS},
    )
    event = response.get("id") if response else ""
    if not event or event == st.session_state.get("_editor_event"):
        return False
    st.session_state["_editor_event"] = event
    return response.get("type") in ("submit", "blur") and _accept(response.get("text", ""))
