"""Issue 9, items 6 and 7: what a link, a program or a name can do to the page, performed and shown to fail.

Each attack goes through the real app (AppTest) and its sandboxed backend: the
injected markup must arrive as escaped text, a decompression bomb or a
pathological line must get a clear message, and the page must not crash or
show server paths. Code size is capped at every door: link, editor (the
sandbox), CLI and the library's Request.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app import safe, state
from inspectors import inspect
from inspectors.results import Request

APP = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
GOOD = "def f(x):\n    return x * 2.0\n"
BEACON = "![p](http://attacker.invalid/p.png)"


def app_with(query: dict[str, str]) -> AppTest:
    """A fresh app opened on `query`, run once; it must not crash."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True  # AppTest runs no browser code to ask for the rest
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def link(**fields) -> str:
    """A `?s=` state with `fields` over the default state."""
    return state.encode({"v": state.URL_VERSION, "sample": None, "args": "f32[3]", "transforms": [], **fields})


def rendered(at: AppTest) -> str:
    """Every string the page sends to the browser as markdown or text (errors, warnings, captions, html)."""
    parts = [e.value for kind in ("markdown", "error", "warning", "info", "caption", "code") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts) + "\n".join(h.proto.body for h in at.get("html"))


def interpreted(at: AppTest) -> str:
    """What the browser interprets as markdown (code blocks are shown verbatim), plus raw HTML elements."""
    parts = [e.value for kind in ("markdown", "error", "warning", "info", "caption") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts) + "\n".join(h.proto.body for h in at.get("html"))


def test_markdown_escaping_leaves_no_markup() -> None:
    text = f"E {BEACON} <iframe src=x> :material/home: `x`"
    assert safe.md(text) == (
        r"E \!\[p\]\(http\:\/\/attacker\.invalid\/p\.png\) &lt;iframe src\=x&gt; \:material\/home\: \`x\`"
    )
    assert safe.code_span("a``b") == "```a``b```" and safe.code_span("`x`") == "`` `x` ``"


def test_an_entry_from_a_link_must_be_a_python_expression() -> None:
    hostile = "<img src=x onerror=alert(1)><form><input type=password></form>"
    at = app_with({"s": link(code=GOOD, entry=hostile)})
    assert at.session_state["entry"] != hostile
    assert any("not a Python expression" in w.value for w in at.warning)
    # the link's own markup (the Sharding view draws tilings as <img> of its own: not these)
    assert "<img src=x" not in rendered(at) and "onerror" not in rendered(at) and "<form" not in rendered(at)
    assert safe.expression_problem("partial(loss, model)") is None  # an expression, not only a name


def test_an_exception_named_like_markdown_renders_as_text() -> None:
    code = f"E = type({'E ' + BEACON!r}, (Exception,), {{}})\nraise E('<b>bold</b> ' + {BEACON!r})\n" + GOOD
    at = app_with({"s": link(code=code)})
    errors = [e.value for e in at.error]
    assert errors and all("![p](" not in e and "<b>" not in e for e in errors), errors
    assert any("E \\!\\[p\\]" in e for e in errors), errors
    page = interpreted(at)
    assert "![p](" not in page.replace("&#x27;", "'").split("explorer-code")[0] and "<b>bold" not in page


def test_a_sample_name_in_the_url_renders_as_text() -> None:
    at = app_with({"sample": BEACON})
    warnings = [w.value for w in at.warning]
    assert warnings and all("![p](" not in w for w in warnings), warnings
    assert at.session_state["sample"] == state.DEFAULT_SAMPLE


def test_a_decompression_bomb_link_is_refused_with_a_message() -> None:
    bomb = state.encode({"v": state.URL_VERSION, "code": "#" * (64 << 20)})
    assert len(bomb) < 200_000  # 64 MB of code in a link a browser accepts
    at = app_with({"s": bomb})
    assert any("expands to more than 512 KB" in w.value for w in at.warning)
    assert at.session_state["sample"] == state.DEFAULT_SAMPLE


def test_a_long_single_line_does_not_crash_the_page_or_show_server_paths() -> None:
    code = "x = " + "1+" * 100_000 + "1\n" + GOOD
    at = app_with({"s": link(code=code)})
    page = rendered(at)
    assert str(Path(APP).parent.parent) not in page and "site-packages" not in page
    assert at.error, "a program the compiler refuses gets an error, not a crash"


def test_code_size_is_capped_at_every_door(root, tmp_path) -> None:
    from inspectors.sandbox import Limits, Pool, inspect_in

    big = "# padding\n" * 30_000 + GOOD  # 300 KB
    result = inspect(Request(source=big, args="f32[3]"), use_cache=False)
    assert result.error.kind == "SourceTooLarge" and "limit is 256 KB" in result.error.message
    with Pool(Limits(isolation="subprocess", workers=1)) as pool:  # refused before any worker starts
        sandboxed = inspect_in(pool, Request(source=big, args="f32[3]"))
        assert pool.workers() == []
    assert sandboxed.error.kind == "SourceTooLarge" and "JAXPR_EXPLORER_SOURCE_KB" in sandboxed.error.message
    program = tmp_path / "big.py"
    program.write_text(big)
    done = subprocess.run(
        [sys.executable, "-m", "inspectors", str(program), "--args", "f32[3]"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "limit is 256 KB" in done.stderr
