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
ROWS = (12, 20)  # the editor's height in lines: at least, at most (then it scrolls)
LINE_PX = 24  # Ace's line height at 14 px type
# After a sample or a link replaced the code: scroll Ace (in its own frame) to the entry function, so a
# sample opens at its code, not its docstring. Runs once per mounted editor.
SCROLL_JS = """
export default function ({ data }) {
  const seen = (window.__explorerEditorScrolled ||= new Set());
  if (!data.line || seen.has(data.version)) return;
  seen.add(data.version);
  let tries = 0;
  const go = () => {
    const frame = [...document.querySelectorAll('iframe')].find((f) => (f.title || '').includes('code_editor'));
    const el = frame && frame.contentWindow && frame.contentWindow.document.querySelector('.ace_editor');
    const editor = el && el.env && el.env.editor;
    if (editor && editor.session.getLength() >= data.line) editor.scrollToLine(data.line - 1, false, false, () => {});
    else if (tries++ < 100) setTimeout(go, 50);
  };
  go();
}
"""
_scroll = st.components.v2.component("jaxpr_explorer.editor_scroll", html="<span></span>", js=SCROLL_JS)


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
    if lecture():  # larger type: Ace sizes itself
        changed = _ace(version, error)
    else:
        with st.container(height=editor_height(st.session_state["code"]), border=False, key="editor_box"):
            changed = _ace(version, error)  # the height is kept for it before Ace loads: no layout jump
    # Run sits under the editor, never over its text. Pressing it moves the focus out of the editor,
    # which hands the code over (as Ctrl+Enter does); the rerun it asks for then inspects it.
    run, hint = st.columns([1, 5], vertical_alignment="center")
    run.button("Run", key="editor_run", icon=":material/play_arrow:", type="secondary", width="stretch")
    hint.caption("or Ctrl+Enter in the editor")
    return changed


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


def entry_line(code: str, entry: str) -> int:
    """The line of `def <entry>` (its decorators first), or 0 when it is in the first screenful anyway."""
    lines = code.split("\n")
    name = entry.split("(")[0].split(".")[0].strip()
    found = next((i for i, t in enumerate(lines) if name and t.startswith(f"def {name}(")), None)
    if found is None:
        return 0
    while found > 0 and lines[found - 1].startswith("@"):
        found -= 1
    return found + 1 if found + 1 > ROWS[1] - 4 else 0


def editor_height(code: str) -> int:
    """The editor's height in pixels for this code (reserved before Ace loads: no layout jump)."""
    rows = min(max(code.count("\n") + 1, ROWS[0]), ROWS[1])
    return rows * LINE_PX


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
    code = st.session_state["code"]
    response = code_editor(
        code,
        lang="python",
        theme="default",
        height=list(ROWS),
        key=f"code_editor_{version}",
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
    _scroll(key="editor_scroll", data={"version": version, "line": entry_line(code, st.session_state["entry"])})
    event = response.get("id") if response else ""
    if not event or event == st.session_state.get("_editor_event"):
        return False
    st.session_state["_editor_event"] = event
    return response.get("type") in ("submit", "blur") and _accept(response.get("text", ""))
