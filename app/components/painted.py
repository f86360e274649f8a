"""Painted text: every line on the colour of the source line it came from (as Compiler Explorer does).

Also where equations and ops sit in the printed texts, and the small highlighted
boxes (an error's excerpt). Lines are `<span class="painted-line" data-line="N"
data-src="L">`; the selected ones also carry `sel` (the tests read them back).
"""

from __future__ import annotations

import re

import streamlit as st
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter

from app import state
from inspectors.lexers import get_lexer
from inspectors.mapping import line_color, walk
from inspectors.results import JaxprModel, SourceMap

CODE_BOX = (
    '<div class="explorer-code" style="max-height:{height}px; overflow:auto; border:1px solid #e5e7eb; '
    'border-radius:0.5rem; font-size:12.5px; background:#f8f8f8">{body}</div>'
)
FORWARD_FILL, BACKWARD_FILL, INTRODUCED_FILL = "#dbeafe", "#fde2e4", "#fef3c7"
PAINTED = (
    '<div class="explorer-code painted" style="max-height:{height}px; overflow:auto; border:1px solid #e5e7eb; '
    'border-radius:0.5rem; background:#fff"><pre style="margin:0; padding:0.4rem 0; white-space:pre">'
    "{body}</pre></div>"
)


# A small code block drawn as HTML, looking like `st.code`'s: `st.code` makes the browser load Streamlit's
# syntax highlighter (1.6 MB of JavaScript, all of Prism's languages), which on a fresh page was evaluated
# on the main thread right before the first jaxpr could be drawn (docs/benchmarks.md).
CODE_BLOCK = (
    '<div class="explorer-code" style="border-radius:0.5rem; background:#f8f8f8; font-size:13px; '
    'overflow-x:auto"><pre style="margin:0; padding:0.6rem 0.8rem; white-space:pre"><code>{body}</code></pre></div>'
)


def code_block_html(text: str, language: str = "python", style: str = "default") -> str:
    """Return `text` as a highlighted code block (Pygments' HTML, in one of its styles: the text is escaped)."""
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=style)
    return CODE_BLOCK.format(body=pygments_highlight(text, get_lexer(language), formatter).rstrip("\n"))


def scheme() -> str:
    """The line palette: "contrast" in lecture mode."""
    return "contrast" if state.lecture() else "light"


def excerpt_html(code: str, line: int, context: int = 3) -> str:
    """Return the lines around `line` of the user's code, that line highlighted."""
    lines = code.splitlines()
    start = max(1, line - context)
    stop = min(len(lines), line + context)
    formatter = HtmlFormatter(
        noclasses=True, linenos="inline", linenostart=start, hl_lines=[line - start + 1]
    )
    return pygments_highlight("\n".join(lines[start - 1 : stop]) + "\n", get_lexer("python"), formatter)


# --- painted text: every line in its source line's colour ---------------------------------------


@st.cache_data(max_entries=128, show_spinner=False)
def lexed_lines(text: str, language: str) -> list[str]:
    """Return `text` highlighted by Pygments, one HTML fragment per line."""
    formatter = HtmlFormatter(noclasses=True, nowrap=True)
    body = pygments_highlight(text, get_lexer(language), formatter)
    lines = body.split("\n")
    count = len(text.split("\n"))
    return (lines + [""] * count)[:count]


def painted_html(
    text: str,
    language: str,
    colors: dict[int, str],
    selected: set[int] = frozenset(),  # type: ignore[assignment]
    sources: dict[int, int] | None = None,
    height: int = 560,
    emphasis: dict[int, set[str]] | None = None,
    linenos: bool = False,
    only: tuple[int, int] | None = None,
) -> str:
    """Return `text` as HTML, each line on the background `colors[line]`, `selected` lines outlined.

    Every line is `<span class="painted-line" data-line="N" data-src="L">`: N its 1-based
    number, L the source line it came from (when known).
    """
    out = []
    lecture = state.lecture()
    for number, fragment in enumerate(lexed_lines(text, language), start=1):
        if only and not only[0] <= number <= only[1]:
            continue
        color = colors.get(number)
        sel = number in selected
        style = ["display:block", "padding:0 0.8rem"]
        if color:
            style.append(f"background:{color}" if not lecture else f"border-left:8px solid {color}")
        if sel:
            style.append("outline:2px solid #111;outline-offset:-2px;font-weight:600")
        if emphasis and number in emphasis:
            fragment = _emphasise(fragment, emphasis[number])
        src = f' data-src="{sources[number]}"' if sources and number in sources else ""
        cls = "painted-line sel" if sel else "painted-line"
        if linenos:
            fragment = f'<span style="color:#9ca3af;user-select:none">{number:>3} </span>' + fragment
        out.append(
            f'<span class="{cls}" data-line="{number}"{src} style="{";".join(style)}">{fragment or " "}</span>'
        )
    return PAINTED.format(height=height, body="".join(out))


def _emphasise(fragment: str, names: set[str]) -> str:
    """Underline and embolden whole-word variable names in one highlighted line (outside tags)."""
    pattern = re.compile(r"(?<![\w:.])(" + "|".join(map(re.escape, sorted(names))) + r")(?![\w\[])")
    parts = re.split(r"(<[^>]+>)", fragment)
    mark = r'<b style="text-decoration:underline;text-decoration-thickness:2px;color:#b91c1c">\1</b>'
    return "".join(p if p.startswith("<") else pattern.sub(mark, p) for p in parts)


def show_painted(text: str, language: str, colors: dict[int, str], **kwargs) -> None:  # noqa: ANN003
    """Draw painted text."""
    st.html(painted_html(text, language, colors, **kwargs))


# --- where equations and ops are in the texts ----------------------------------------------------


def equation_lines(model: JaxprModel | None) -> dict[str, list[int]]:
    """Map equation ids to the 1-based lines of their stage's printed jaxpr (`Equation.lines`, from the worker)."""
    return {e.id: e.lines for e in walk(model) if e.lines}


def eqn_index(model: JaxprModel | None) -> dict[str, object]:
    """Equation id → equation."""
    return {e.id: e for e in walk(model)}


def jaxpr_colors(model: JaxprModel | None, filename: str) -> tuple[dict[int, str], dict[int, int]]:
    """Return (text line → colour, text line → source line) for a printed jaxpr."""
    colors, sources, palette = {}, {}, scheme()
    for eqn in walk(model):
        if eqn.source is None or not eqn.source.file.endswith(filename):
            continue
        for n in eqn.lines:
            colors[n], sources[n] = line_color(eqn.source.line, palette), eqn.source.line
    return colors, sources


def op_colors(smap: SourceMap, which: str, plain: bool = False) -> tuple[dict[int, str], dict[int, int]]:
    """Return (text line → colour, text line → source line) for StableHLO or compiled HLO text."""
    ops = smap.stablehlo_ops if which == "stablehlo" else smap.hlo_ops
    colors, sources, palette = {}, {}, scheme()
    for op in ops:
        n = op.plain_line if plain else op.text_line
        if op.line is not None and n is not None:
            colors[n], sources[n] = line_color(op.line, palette), op.line
    return colors, sources


