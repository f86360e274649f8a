"""The explorer component: text panes drawn in the browser (virtualised, searchable, wrap, line numbers).

One bidirectional `st.components.v2` component, inline HTML/CSS/JS (no build step).
Each pane receives its text once, tokenised by Pygments on the server (cached per
text) into compact runs of CSS classes per line; the browser renders only the lines near the
viewport and does search, wrapping and line numbers itself, so none of them reruns
the script. Clicking a line that came from a source line sends it back (`pick`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st
from pygments.formatters import HtmlFormatter
from pygments.lexers.special import TextLexer
from pygments.token import STANDARD_TYPES

from inspectors.lexers import get_lexer

HERE = Path(__file__).resolve().parent
CSS = (HERE / "explorer.css").read_text() + HtmlFormatter(style="default").get_style_defs(".tx")
JS = (HERE / "explorer.js").read_text()
HTML = '<div class="explorer"></div>'
_component = st.components.v2.component("jaxpr_explorer.text", html=HTML, css=CSS, js=JS)


def css_classes(ttype: Any) -> str:
    """Return the CSS classes Pygments' HtmlFormatter gives a token type (`nf`; `n n-Primitive` for a subtype)."""

    def one(t: Any) -> str:
        name, suffix = STANDARD_TYPES.get(t), ""
        while name is None:
            suffix, t = f"-{t[-1]}{suffix}", t.parent
            name = STANDARD_TYPES.get(t)
        return name + suffix

    classes = one(ttype)
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
        classes = f"{one(ttype)} {classes}"
    return classes


@st.cache_data(max_entries=128, show_spinner=False)
def token_runs(text: str, language: str) -> tuple[list[str], list[list[int]]]:
    """Return `text` tokenised by Pygments, compactly: the CSS classes used, and per line its runs
    `[length, class index, length, class index, ...]` (class 0: none).

    The browser rebuilds the highlighted HTML of the lines it shows from these, which is
    a fifth of the size of Pygments' HTML for a jaxpr (a 12,000-equation one: 1 MB, not 5).
    """
    lexer = TextLexer() if language == "text" else get_lexer(language)  # LLVM IR, assembly
    lexer.stripnl = False  # keep leading blank lines: line numbers must match the text
    classes, index = [""], {"": 0}
    of_type: dict[Any, int] = {}
    lines: list[list[int]] = [[]]
    runs = lines[0]
    for ttype, value in lexer.get_tokens(text):
        k = of_type.get(ttype)
        if k is None:
            name = css_classes(ttype)
            k = of_type[ttype] = index.setdefault(name, len(classes))
            if k == len(classes):
                classes.append(name)
        if "\n" not in value:
            if runs and runs[-1] == k:
                runs[-2] += len(value)
            else:
                runs += (len(value), k)
            continue
        for j, part in enumerate(value.split("\n")):
            if j:
                runs = []
                lines.append(runs)
            if part:
                if runs and runs[-1] == k:
                    runs[-2] += len(part)
                else:
                    runs += (len(part), k)
    count = text.count("\n") + 1
    return classes, (lines + [[] for _ in range(count)])[:count]


@dataclass
class Pane:
    """One text in the component: its title, the text and how to paint its lines."""

    id: str
    title: str
    text: str
    language: str
    meta: str = ""
    colors: dict[int, str] = field(default_factory=dict)  # line → background (its source line's colour)
    selected: set[int] = field(default_factory=set)  # lines outlined
    sources: dict[int, int] = field(default_factory=dict)  # line → the source line it came from
    scroll_to: int = 0  # a line to open at (samples open at their function, not the docstring)
    emphasis: dict[int, set[str]] = field(default_factory=dict)  # line → variable names to underline there
    emphasis_everywhere: set[str] = field(default_factory=set)  # names underlined on every line
    primitives: set[str] = field(default_factory=set)  # primitive names that open their card when clicked

    def data(self) -> dict[str, Any]:
        """Return the pane as the component's JSON."""
        classes, runs = token_runs(self.text, self.language)
        return {
            "id": self.id,
            "title": self.title,
            "meta": self.meta,
            "text": self.text,
            "classes": classes,
            "runs": runs,
            "colors": {str(k): v for k, v in self.colors.items()},
            "selected": sorted(self.selected),
            "src": {str(k): v for k, v in self.sources.items()},
            "scrollTo": self.scroll_to,
            "em": {str(k): sorted(v) for k, v in self.emphasis.items()},
            "emAll": sorted(self.emphasis_everywhere),
            "prims": sorted(self.primitives),
        }


def _signature(panes: list[dict[str, Any]], height: int, lecture: bool) -> str:
    """A digest of everything drawn: the browser rebuilds its panes only when it changes."""
    blob = json.dumps([panes, height, lecture], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def text_panes(
    panes: list[Pane],
    key: str,
    height: int = 560,
    lecture: bool = False,
    wrap: bool | None = None,
    selection: dict[str, set[int]] | None = None,
    on_pick: Any = None,
    on_primitive: Any = None,
) -> dict[str, Any] | None:
    """Draw the panes side by side; return the line last clicked (`{view, line, src}`) or None.

    `on_primitive(name)` hears a click on a primitive's name in a pane that lists it in `primitives`.
    Long lines wrap from the start in lecture mode (large type in narrow panes), else they scroll.
    With `selection` (pane id → lines to outline), the outlines go in a small element of their own
    after the panes: when only they change (a pick in the source map), the panes' element is the same
    as before, so Streamlit does not send its texts again and the browser keeps its panes.
    """
    views = [p.data() for p in panes]
    data = {"views": views, "height": height, "lecture": lecture, "wrap": lecture if wrap is None else wrap}
    if selection is not None:
        data["target"] = key
    data["sig"] = _signature(views, height, lecture)
    def picked() -> None:  # before the run it starts: the caller's state is right when the view draws
        value = st.session_state.get(key)
        pick = value.get("pick") if isinstance(value, dict) else getattr(value, "pick", None)
        if on_pick is not None and pick:
            on_pick(pick)

    def primitive() -> None:  # a clicked primitive name (panes with `primitives`): its own event
        value = st.session_state.get(key)
        name = value.get("primitive") if isinstance(value, dict) else getattr(value, "primitive", None)
        if on_primitive is not None and name:
            on_primitive(name)

    result = _component(  # `pick` and `primitive` are triggers: no defaults
        data=data, key=key, on_pick_change=picked, on_primitive_change=primitive
    )
    if selection is not None:
        chosen = {pane: sorted(lines) for pane, lines in selection.items()}
        _component(data={"selectionOf": key, "selected": chosen}, key=f"{key}_selection")
    return getattr(result, "pick", None)


def graph_view(
    svg: str,
    details: dict[str, dict[str, str]],
    matches: list[str],
    expandable: list[str],
    key: str,
    height: int,
    primitives: dict[str, str] | None = None,
    on_primitive: Any = None,
) -> dict[str, Any] | None:
    """Draw a laid-out graph (pan, zoom, details on click); return `{node}` when a closed node was clicked.

    With `primitives` (node id → primitive name), clicking such a node also calls `on_primitive(name)`
    (the primitive's card: `app.views.primitives.open_card`)."""
    svg = svg[svg.find("<svg") :] if "<svg" in svg else svg
    data = {"svg": svg, "details": details, "matches": matches, "expandable": expandable, "height": height}
    if primitives:
        data["prims"] = primitives
    data["sig"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def primitive() -> None:
        value = st.session_state.get(key)
        name = value.get("primitive") if isinstance(value, dict) else getattr(value, "primitive", None)
        if on_primitive is not None and name:
            on_primitive(name)

    result = _component(  # `pick` and `primitive` are triggers: no state defaults
        data=data, key=key, on_pick_change=lambda: None, on_primitive_change=primitive
    )
    return getattr(result, "pick", None)


def pane_texts(element: Any) -> list[str]:
    """Return the plain texts of a component element's panes (for tests: AppTest's unknown element)."""
    data = json.loads(element.proto.json)
    return [v["text"] for v in data["views"]]
