"""Issue 19, item 2: markup from an ordinary program or a forged result makes no element in the page.

Each test opens the real app (AppTest, its sandboxed backend) on a link whose
program either carries markup in ordinary places (a comment on a line shown in
"Your frames in the traceback", a pytree key shown after Run & time) or writes a
forged result to the worker's channel (an error's hint and frames, the timing
device, an output's path). Every markdown body the page sends is then rendered
with a CommonMark parser (HTML and links allowed, as the browser's renderer
does), and every HTML body parsed as is: no link, image or style the markup
asked for may appear. One browser check looks at the real page.
"""

from __future__ import annotations

import contextlib
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from app import safe
from tests.browser_util import CHROMIUM, ROOT, launch_chromium, open_app, streamlit_server
from tests.test_hardening_app import app_with, link

EVIL = "` [l](http://attacker.invalid/l) ![i](http://attacker.invalid/i.png) <style>*{}</style> <b>x</b>"
MADE = ("a", "img", "style", "b")  # elements the markup above would make
SEND = "import os, struct, json\ndef send(blob):\n    os.write(3, struct.pack('>I', len(blob)) + blob)\n"


class _Elements(HTMLParser):
    """Collect the tags of an HTML document with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, " ".join(f"{k}={v}" for k, v in attrs)))


def made_by_markup(at) -> list[str]:  # noqa: ANN001 - an AppTest
    """The elements the attacker's markup made anywhere in the page's markdown and HTML."""
    md = MarkdownIt("commonmark", {"html": True})
    kinds = ("markdown", "error", "warning", "info", "caption")
    bodies = [md.render(str(e.value)) for kind in kinds for e in at.get(kind)]
    bodies += [h.proto.body for h in at.get("html")]
    found = []
    for body in bodies:
        parser = _Elements()
        parser.feed(body)
        found += [f"<{tag} {attrs}>" for tag, attrs in parser.found if "attacker" in attrs]
        found += [made for made in ("<style>*{}</style>", "<b>x</b>") if made in body]
    return found


def shows(at, text: str) -> bool:  # noqa: ANN001
    """True when some markdown body of the page holds `text` (escaped as the page escapes it)."""
    return any(
        text in str(e.value) for kind in ("markdown", "error", "info", "caption") for e in at.get(kind)
    )


def test_the_escaping_helpers_make_no_element_of_markup() -> None:
    md = MarkdownIt("commonmark", {"html": True})
    for helper in (safe.md, safe.code_span, safe.prose):
        parser = _Elements()
        parser.feed(md.render(f"say {helper(EVIL)}"))
        assert [t for t, _ in parser.found if t in MADE] == [], (helper.__name__, md.render(helper(EVIL)))
    assert safe.prose("use `jnp.where(x > 0, x, 0)` instead") == r"use `jnp.where(x > 0, x, 0)` instead"


def test_a_source_line_in_the_traceback_frames_makes_no_element() -> None:
    code = (
        "def helper(x):\n    raise ValueError('no')  # " + EVIL + "\n\n"
        "def f(x):\n    return helper(x)  # " + EVIL + "\n"
    )
    at = app_with({"s": link(code=code)})
    assert at.error, "the program's error is shown"
    assert shows(at, "in `helper`"), "the frames are listed"
    assert made_by_markup(at) == []


def test_a_pytree_key_after_run_and_time_makes_no_element() -> None:
    code = "def f(x):\n    return {" + repr(EVIL) + ": x * 2.0}\n"
    at = app_with({"s": link(code=code)})
    at.button(key="run_time").click().run()
    assert not at.exception, at.exception
    assert shows(at, "attacker"), "the output's path is shown"
    assert made_by_markup(at) == []


FORGED_ERROR = {
    "error": {
        "stage": "trace",
        "kind": "ValueError",
        "message": EVIL,
        "location": {"file": "main.py", "line": 4, "function": EVIL, "code": EVIL},
        "user_frames": [
            {"file": "main.py", "line": 2, "function": EVIL, "code": EVIL},
            {"file": "main.py", "line": 4, "function": "f", "code": EVIL},
        ],
        "hint": EVIL,
    }
}


def forged_program(body: dict) -> str:
    """A program that sends `body` as its final result, over the real one."""
    return (
        SEND
        + f"send(json.dumps({{'ok': {json.dumps(body)!s}}}).encode())\nos._exit(0)\n"
        + "def f(x):\n    return x\n"
    )


def test_a_forged_errors_hint_and_frames_make_no_element() -> None:
    at = app_with({"s": link(code=forged_program(FORGED_ERROR))})
    assert at.error and shows(at, "attacker"), "the forged error is shown, as text"
    assert made_by_markup(at) == []


def test_a_forged_timing_device_and_output_path_make_no_element() -> None:
    timing = {"device": EVIL, "number": 1, "repeat": 1, "first_call_s": 0.1, "min_s": 0.1, "median_s": 0.1}
    timing |= {"p90_s": 0.1, "mean_s": 0.1, "stdev_s": 0.0, "spread": 0.0}
    body = {"timing": timing, "outputs": [{"path": EVIL, "shape": [3], "dtype": EVIL, "preview": EVIL}]}
    at = app_with({"s": link(code=forged_program(body))})
    at.button(key="run_time").click().run()
    assert not at.exception, at.exception
    assert shows(at, "attacker"), "the forged timing is shown, as text"
    assert made_by_markup(at) == []


# --- the real page, in Chromium ------------------------------------------------------------------

FIND_MADE = """() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('a[href*="attacker"], img[src*="attacker"], style, b')) {
      if (el.tagName !== 'STYLE' || el.textContent.includes('*{}')) {
        if (el.tagName !== 'B' || el.textContent === 'x') found.push(el.outerHTML.slice(0, 120));
      }
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  for (const frame of document.querySelectorAll('iframe')) {
    try { walk(frame.contentDocument); } catch (e) {}
  }
  return found;
}"""


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing")
def test_the_traceback_frames_make_no_element_in_the_browser(tmp_path) -> None:  # noqa: ANN001
    code = (
        "def helper(x):\n    raise ValueError('no')  # "
        + EVIL
        + "\n\ndef f(x):\n    return helper(x)  # "
        + EVIL
        + "\n"
    )
    with streamlit_server() as url, contextlib.contextmanager(launch_chromium)() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        open_app(page, f"{url}/?s={link(code=code)}")
        page.get_by_text("Your frames in the traceback").first.click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ROOT / "artifacts" / "hardening-frames.png"), full_page=False)
        assert page.get_by_text("attacker.invalid/l", exact=False).count() > 0, "the markup shows as text"
        assert page.evaluate(FIND_MADE) == []


def _failing_view_page() -> None:
    """A page whose one view raises, drawn through the app's guard."""
    from app.views import common

    def broken(result) -> None:  # noqa: ANN001
        raise KeyError("/srv/secret/path.py")

    common.guarded(broken, None)


def test_a_view_that_fails_shows_no_server_traceback_when_hosted(monkeypatch) -> None:
    import dataclasses

    from streamlit.testing.v1 import AppTest

    from app import backend

    monkeypatch.setattr(backend, "LIMITS", dataclasses.replace(backend.LIMITS, hosted=True))
    at = AppTest.from_function(_failing_view_page)
    at.run()
    assert [e.value for e in at.error] == ["This view failed to draw: KeyError"]
    assert not at.exception and "/srv/secret" not in str([e.proto for e in at.get("exception")])
    monkeypatch.setattr(backend, "LIMITS", dataclasses.replace(backend.LIMITS, hosted=False))
    at = AppTest.from_function(_failing_view_page)
    at.run()
    assert "/srv/secret" in str([e.proto for e in at.get("exception")])  # locally, the traceback helps


def test_a_scope_name_in_a_graph_label_makes_no_element_in_the_svg() -> None:
    import jax
    import jax.numpy as jnp

    from inspectors import render
    from inspectors.graph import jaxpr_graph
    from inspectors.live import inspect_fn

    def f(x):
        with jax.named_scope(EVIL):  # a model scope is any string: it becomes a cluster's label
            return jnp.sin(x) * 2

    graph = jaxpr_graph(inspect_fn(f, jnp.ones(3)).jaxpr().model, title=EVIL)
    svg = render.to_svg(graph, timeout=60)
    parser = _Elements()
    parser.feed(svg)
    made = [(tag, attrs) for tag, attrs in parser.found if tag in ("img", "style", "b", "script", "foreignobject")]
    links = [attrs for tag, attrs in parser.found if tag == "a" and "href" in attrs]  # Graphviz's tooltips have none
    assert not made and not links, (made, links)
    assert "attacker.invalid" in svg  # the label is there, as text
