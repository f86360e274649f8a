"""The code editor: streamlit-code-editor (Ace, bundled, works offline), `st.text_area` as fallback.

The code lives in `st.session_state["code"]`. Whenever it changes from
outside the editor (a sample, the URL, a test) the mounted editor's text is
replaced by it (`allow_reset`); edits flow back on Ctrl+Enter, the Run
button or when the editor loses focus.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit
import streamlit as st

from app.components.painted import code_block_html
from app.state import declared_entry, edit_code, lecture
from inspectors.results import InspectError

try:
    from code_editor import code_editor
except ImportError:  # the fallback below keeps the app usable
    code_editor = None

# Ace's "textmate" theme, not the component's "streamlit_light": that one @imports a web font from a CDN
# (a failed request on every mount offline). The font is the one Streamlit itself ships, when it is found.
ACE_THEME = "textmate"
EDITOR_CSS = """
{font_face}
.ace_editor, .ace_editor * {{ font-family: {font} !important; }}
.ace_editor {{ line-height: {line}px !important; }}
.ace_gutter {{ background: #f7f7f8; color: #9ca3af; }}
.ace_gutter-cell.ace_error {{ background-color: rgba(220, 38, 38, 0.18); }}
.explorer-error-line {{ position: absolute; background: rgba(220, 38, 38, 0.12); }}
"""
ROWS = (8, 20)  # the editor's height in lines: at least, at most (then it scrolls)
LINE_PX = 20  # the line height set above, at 14 px type
# The window height left for what is not the editor: the title row, Run, the view tabs and the first eight
# lines of the jaxpr (measured by tests/test_browser_first_screen.py at 1366×768, 1600×1000, 1920×1080).
BELOW_PX = 560
# Runs in the page, reaching into Ace's frame. (1) The editor takes the height kept for it, which depends on
# the window (see `reserve_css`): Ace then shows exactly that many lines, so the jaxpr below stays on the
# first screen. (2) After a sample or a link replaced the code, Ace scrolls to the entry function, so a
# sample opens at its code, not its docstring (once per replacement of the code).
EDITOR_JS = """
export default function ({ data }) {
  const seen = (window.__explorerEditorScrolled ||= new Set());
  const find = () => {
    const frame = [...document.querySelectorAll('iframe')].find((f) => (f.title || '').includes('code_editor'));
    const el = frame && frame.contentWindow && frame.contentWindow.document.querySelector('.ace_editor');
    return el && el.env && el.env.editor;
  };
  const fit = (editor) => {
    const box = document.querySelector('.st-key-editor_box');
    const kept = box ? parseFloat(getComputedStyle(box).minHeight) : 0;
    if (!kept) return;  // lecture mode: Ace sizes itself
    const px = `${Math.round(kept)}px`;
    if (editor.container.style.height !== px) { editor.container.style.height = px; editor.resize(); }
  };
  let tries = 0;
  const go = () => {
    const editor = find();
    // The editor stays mounted when the code is replaced (`allow_reset`): scroll once it holds the new
    // document (its lines and length), not the one it is about to replace.
    const fresh = editor && editor.session.getLength() === data.rows && editor.getValue().length === data.chars;
    const scroll = data.line && !seen.has(data.version);
    if (editor) fit(editor);
    if (!editor || (scroll && !fresh)) {
      if (tries++ < 100) setTimeout(go, 50);
      return;
    }
    if (scroll) {
      seen.add(data.version);
      editor.scrollToLine(data.line - 1, false, false, () => {});
    }
  };
  go();
  if (!window.__explorerEditorFit) {
    window.__explorerEditorFit = true;
    window.addEventListener('resize', () => { const e = find(); if (e) fit(e); });
  }
}
"""
_editor_js = st.components.v2.component("jaxpr_explorer.editor_scroll", html="<span></span>", js=EDITOR_JS)


def _version() -> int:
    """Return the code's version, bumped when the code changed from outside the editor."""
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


def slot() -> st.delta_generator.DeltaGenerator:
    """The editor's place on the page, kept at its height, to `fill` later in the run."""
    if st.session_state["plain_editor"] or code_editor is None or lecture():
        return st.container(border=False)  # lecture mode: Ace sizes itself
    # The height is kept for Ace before it loads (no layout jump) as a minimum, not a fixed-height
    # scrolling box: a box of its own would catch the wheel and trap the page's scrolling.
    st.html(reserve_css(st.session_state["code"]))
    return st.container(border=False, key="editor_box")


LIVE_KEY = "_editor_live"  # True once the session's page has drawn its first jaxpr: Ace is mounted from then on
# Runs once the page has drawn the open view: an explorer component's rows or a graph's SVG (in their shadow
# roots), or, for a view of Streamlit's own elements (`rows` false), any of its elements; or after MOUNT_WAIT_MS
# whatever happened: then asks for Ace. A state, not a trigger (a trigger sent while a run goes on can be folded
# away).
MOUNT_WAIT_MS = 2500
MOUNT_JS = """
export default function ({ data, parentElement, setStateValue }) {
  if (parentElement.__asked) return;
  parentElement.__asked = true;
  const start = performance.now();
  const drawn = () => {
    if (!data.rows)  // a view of Streamlit's own elements (Memory, Stats, ...): any of them on screen
      return [...document.querySelectorAll('.st-key-views [role=tabpanel] [data-testid=stElementContainer]')]
        .some((e) => e.checkVisibility());
    const roots = [document];
    for (let i = 0; i < roots.length; i++)
      for (const e of roots[i].querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
    return roots.slice(1).some((r) => r.querySelector('.ln-row, svg'));
  };
  const go = () => {
    if (drawn() || performance.now() - start > data.wait_ms) setStateValue("mount", "editor");
    else setTimeout(go, 50);
  };
  requestAnimationFrame(() => setTimeout(go, 0));
}
"""
_mount = st.components.v2.component("jaxpr_explorer.editor_mount", html="<span></span>", js=MOUNT_JS)


def _go_live() -> None:
    st.session_state[LIVE_KEY] = True


def ask_to_mount(rows: bool) -> None:
    """While `deferred()`: the marker that, once the page has drawn its open view (`rows`: its explorer rows or
    graph), asks for a run of the whole app (it is drawn outside every fragment) that mounts Ace and draws the
    sidebar (`sidebar.Later`)."""
    if deferred():
        data = {"wait_ms": MOUNT_WAIT_MS, "rows": rows}
        _mount(key="editor_mount", data=data, default={"mount": ""}, on_mount_change=_go_live)


def deferred() -> bool:
    """True while this session's page shows the code as static text (Ace not mounted yet)."""
    return not st.session_state.get(LIVE_KEY) and not st.session_state["plain_editor"] and code_editor is not None


@st.fragment
def place(error: InspectError | None = None) -> None:
    """The editor, in its `slot` (call it inside), drawn last in the run.

    A session's first page shows the code as static text and mounts Ace once the browser has drawn the first
    jaxpr: Ace is a 1.5 MB bundle in a same-origin frame, fetched and parsed beside the page's own bundles
    and on its one main thread (`ask_to_mount`). A fragment: its own events rerun the editor alone; new code
    reruns the app.
    """
    if deferred():
        code = st.session_state["code"]
        st.html(STATIC_CSS.format(height=kept_height(code)) + static_code_html(code))
        return
    if fill(st.container(border=False), error):
        st.rerun()  # new code from the editor (take_edit takes it first in the app's run): inspect it


CODE_FONTS = '"DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace'  # after Streamlit's code font
STATIC_FONT = f"'Source Code Pro', {CODE_FONTS}"  # Streamlit's code font, as the page names it (Ace: FONT)
# The static code until Ace mounts: Ace's type, line height and gutter, clipped to the height kept for the editor.
STATIC_CSS = (
    "<style>.st-key-editor_mount {{ display: none; }} "  # the mount's script: no gap for an empty element
    ".st-key-editor_box .explorer-code {{ height: {height}; box-sizing: border-box; overflow: hidden !important; "
    "display: flex; background: #fff !important; border: 1px solid #f0f0f0; border-radius: 0 !important; }} "
    f".st-key-editor_box .explorer-code pre {{{{ font: 14px/{LINE_PX}px {STATIC_FONT}; padding: 0 4px !important; }}}} "
    ".st-key-editor_box .explorer-code pre.gutter {{ flex: none; min-width: 42px; box-sizing: border-box; "
    "margin: 0; padding: 0 8px 0 4px !important; text-align: right; background: #f7f7f8; color: #9ca3af; }}</style>"
)
STATIC_STYLE = "vs"  # Pygments' colours nearest Ace's textmate theme (plain, not italic, docstrings)


def static_code_html(code: str) -> str:
    """The code as Ace will first show it: from the line it scrolls to (`entry_line`), numbered in a gutter."""
    first = max(entry_line(code, st.session_state["entry"] or declared_entry() or ""), 1)
    shown = "\n".join(code.split("\n")[first - 1 : first - 1 + ROWS[1]])
    numbers = "\n".join(str(n) for n in range(first, first + shown.count("\n") + 1))
    block = code_block_html(shown, "python", style=STATIC_STYLE)
    return block.replace("<pre", f'<pre class="gutter">{numbers}</pre><pre', 1)


def fill(where: st.delta_generator.DeltaGenerator, error: InspectError | None = None) -> bool:
    """Draw the editor into `where` now; return True if it just delivered new code (the caller reruns)."""
    version = _version()
    with where:
        if st.session_state["plain_editor"] or code_editor is None:
            _text_area(version)
            return False
        return _ace(version, error)


def take_edit() -> bool:
    """Take the code the editor delivered for this run (Ctrl+Enter, Run, a blur) before anything is drawn, so
    the run inspects the new code at once; return True if it changed."""
    key = "code_editor_lecture" if lecture() else "code_editor"
    return _take(st.session_state.get(key))


def _take(response: object) -> bool:
    """Accept an editor response's text once per event (`take_edit` and `_ace` both hear it)."""
    event = response.get("id") if isinstance(response, dict) else ""
    if not event or event == st.session_state.get("_editor_event"):
        return False
    st.session_state["_editor_event"] = event
    text = response.get("text", "")
    return response.get("type") in ("submit", "blur") and isinstance(text, str) and _accept(text)


RUN_KEY = "editor_run"  # True in the run a Run click starts


def run_bar() -> st.delta_generator.DeltaGenerator:
    """Run, under the editor (never over its text); return the slot beside it, for the stage times."""
    # Pressing Run moves the focus out of the editor, which hands the code over (as Ctrl+Enter does);
    # the rerun it asks for then inspects it.
    run, beside = st.columns([2, 5], vertical_alignment="center", gap="small")
    # The shortcut is in the label: a help tooltip would cost a second (hidden) button, a hint a second line.
    run.button("Run · Ctrl+Enter", key=RUN_KEY, icon=":material/play_arrow:", width="stretch")
    return beside


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
    """The line of `def <entry>` (its decorators and comments first), or 0 when its start is on the first
    half-screen anyway."""
    lines = code.split("\n")
    # The entry may be an expression (`partial(loss, model)`): its first name that is a top-level def.
    defs = {t[4:].split("(")[0]: i for i, t in enumerate(lines) if t.startswith("def ")}
    found = next((defs[n] for n in re.findall(r"[A-Za-z_]\w*", entry) if n in defs), None)
    if found is None:
        return 0
    while found > 0 and lines[found - 1].startswith(("@", "#")):
        found -= 1
    return found + 1 if found + 1 > ROWS[1] // 2 else 0


def editor_height(code: str) -> int:
    """The editor's tallest height in pixels for this code (on a tall window)."""
    rows = min(max(code.count("\n") + 1, ROWS[0]), ROWS[1])
    return rows * LINE_PX


def reserve_css(code: str) -> str:
    """The height kept for the editor before Ace loads (no layout jump): as tall as the code needs, up to
    `ROWS[1]` lines, but leaving `BELOW_PX` of the window for the views, down to `ROWS[0]` lines."""
    box = f".st-key-editor_box {{ min-height: {kept_height(code)}; }}"
    return f"<style>{box} .st-key-editor_box iframe {{ display: block; }}</style>"  # block: no baseline gap


def kept_height(code: str) -> str:
    """The CSS height kept for the editor (`reserve_css`)."""
    return f"clamp({ROWS[0] * LINE_PX}px, calc(100vh - {BELOW_PX}px), {editor_height(code)}px)"


def _streamlit_font() -> tuple[str, str]:
    """An @font-face for the code font Streamlit ships (found in its package), and the font stack."""
    stack = CODE_FONTS
    media = Path(streamlit.__file__).parent / "static" / "static" / "media"
    found = sorted(media.glob("SourceCodeVF-Upright*.woff2"))
    if not found:
        return "", stack
    # The editor's frame is /component/<name>/index.html: two levels under the app's root.
    face = f"@font-face {{ font-family: 'Explorer Code'; src: url('../../static/media/{found[0].name}'); }}"
    return face, f"'Explorer Code', {stack}"


FONT_FACE, FONT = _streamlit_font()


def editor_css() -> str:
    """The stylesheet injected into the editor's frame."""
    css = EDITOR_CSS.format(font_face=FONT_FACE, font=FONT, line=LINE_PX)
    # Lecture mode: Ace's own line height for its larger type (a forced one there put the gutter a row off).
    return css.replace(f".ace_editor {{ line-height: {LINE_PX}px !important; }}", "") if lecture() else css


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
        theme="light",
        # A fixed height (not Ace's auto-height by lines, which ignores scrollPastEnd); the page's script
        # then fits it to the height kept for it.
        height=list(ROWS) if lecture() else f"{editor_height(code)}px",  # lecture: Ace sizes itself by lines
        # One editor for the session, its text replaced in place when the code changes from outside
        # (`allow_reset`: only when it differs from what the editor holds). A key per version remounted
        # the frame on every sample pick, and the old frame's last message, a height of 0 after Streamlit
        # had forgotten it, logged an "unregistered ComponentInstance" warning.
        key="code_editor_lecture" if lecture() else "code_editor",
        allow_reset=True,
        response_mode=["blur"],
        options={
            "showLineNumbers": True,
            "showPrintMargin": False,
            "tabSize": 4,
            "useSoftTabs": True,
            "fontSize": 20 if lecture() else 14,  # lecture mode: readable from the back row
            "wrap": True,  # a long line wraps (indented) instead of running out of sight
            "indentedSoftWrap": True,
            "scrollPastEnd": 1,  # so the entry function can sit at the top even near the file's end
        },
        # Ace's default 15 px scroll margin shifted the text, not the gutter, after a scroll or a
        # replaced document: line numbers and the error marker sat one row off (issue 12, bug 1).
        props={
            "annotations": annotations,
            "markers": markers,
            "scrollMargin": [0, 0, 0, 0],
            "theme": ACE_THEME,
        },
        component_props={"css": editor_css()},
    )
    line = entry_line(code, st.session_state["entry"] or declared_entry() or "")
    rows, chars = code.count("\n") + 1, len(code.replace("\r\n", "\n"))  # Ace's document, once it holds `code`
    data = {"version": version, "line": line, "line_px": LINE_PX, "rows": rows, "chars": chars}
    _editor_js(key="editor_scroll", data=data)
    return _take(response)
