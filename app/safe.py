"""User-controlled text, shown safely: in markdown, in HTML, in code spans; and checked as an expression.

Everything a user (or a shared link, or their program) controls — the entry,
the expression, error kinds and messages, sample names, printed output, graph
titles — goes through one of these before Streamlit renders it, so it shows as
the text it is: no HTML, no images, no links, no `:material/...:` icons.
"""

from __future__ import annotations

import ast
import html
import re
import string

MAX_EXPRESSION_CHARS = 300  # the Function field: `loss`, `partial(loss, model)`, ...
_MARKDOWN_PUNCTUATION = set(string.punctuation) - set("<>&")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md(text: object) -> str:
    """Return `text` for markdown (with or without HTML allowed): every sign that could format is escaped."""
    out = []
    for ch in str(text):
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _MARKDOWN_PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def code_span(text: object) -> str:
    """Return `text` as a markdown code span (shown verbatim, whatever backticks it holds)."""
    text = " ".join(str(text).splitlines())
    run, longest = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def prose(text: object) -> str:
    """Return `text` for markdown with its `code spans` kept as code, and nothing else formatting."""
    out, pos, text = [], 0, str(text)
    for match in CODE_SPAN.finditer(text):
        out += [md(text[pos : match.start()]), code_span(match.group(2).strip())]
        pos = match.end()
    return "".join(out) + md(text[pos:])


def html_text(text: object) -> str:
    """Return `text` escaped for HTML (quotes included, for attributes and tooltips)."""
    return html.escape(str(text), quote=True)


def expression_problem(text: str) -> str | None:
    """Return why `text` is not an acceptable Function expression (from a link or the sidebar), or None."""
    if len(text) > MAX_EXPRESSION_CHARS:
        return f"the function expression is longer than {MAX_EXPRESSION_CHARS} characters"
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "the function is not a Python expression (a name such as `loss`, or `partial(loss, model)`)"
    return None
