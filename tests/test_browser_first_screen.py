"""The first screen in a real browser: the jaxpr is on it at every common window size, nothing is fetched
from the internet (fonts, icons) — the app works offline — and a session logs no component or chart warnings.

Each size loads the default sample and measures where the jaxpr's first line is drawn (inside the explorer
component's shadow root), saving a screenshot under screenshots/ for a person to look at.
"""

from __future__ import annotations

from urllib.parse import urlparse

import jax
import jax.numpy as jnp
import pytest

from tests.browser_util import (
    ROOT,
    browser_marks,
    editor_frame,
    open_app,
    open_tab,
    pick_sample,
    wait_idle,
)
from tests.jax_reference import exec_source

pytestmark = browser_marks()
SHOTS = ROOT / "screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)
SIZES = [(1366, 768), (1600, 1000), (1920, 1080)]
LINES_ON_SCREEN = 3  # at least this many jaxpr lines must be visible without scrolling
LINE_PX = 19  # the explorer's line height (app/components/explorer.css)
# The first visible numbered line of any explorer pane, shadow roots included: its text and where it is drawn.
FIRST_LINE = """() => {
  const roots = [document];
  for (let i = 0; i < roots.length; i++)
    for (const e of roots[i].querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
  const rows = roots.flatMap(r => [...r.querySelectorAll('.ln-row')]).filter(e => e.checkVisibility());
  if (!rows.length) return null;
  const box = rows[0].getBoundingClientRect();
  return {top: box.top, text: rows[0].querySelector('.tx').textContent, scrollY: window.scrollY};
}"""
LOCAL_SCHEMES = ("blob", "data", "about")


@pytest.fixture(scope="module")
def default_jaxpr_first_line() -> str:
    """The first line of JAX's own jaxpr of the default sample (`loss` of differentiability_grad)."""
    module = exec_source(
        (ROOT / "samples" / "differentiability_grad.py").read_text(), "differentiability_grad.py"
    )
    specs = [jax.ShapeDtypeStruct(s, jnp.float32) for s in ((3,), (8, 3), (8,))]
    return str(jax.make_jaxpr(module.loss)(*specs)).split("\n")[0]


def first_line(page) -> dict:  # noqa: ANN001 - a Playwright page
    """Wait for the jaxpr to be drawn; return its first line's text and position."""
    page.wait_for_function(f"() => ({FIRST_LINE})() !== null", timeout=90_000)
    wait_idle(page)
    page.wait_for_timeout(800)  # the editor fits itself to the window after it loads
    return page.evaluate(FIRST_LINE)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_jaxpr_is_on_the_first_screen_and_nothing_is_fetched_from_the_internet(
    browser, server, default_jaxpr_first_line, size
):
    width, height = size
    page = browser.new_page(viewport={"width": width, "height": height})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_app(page, server)
    line = first_line(page)
    page.screenshot(path=str(SHOTS / f"first_screen_{width}x{height}.png"))
    print(f"{width}x{height}: the jaxpr's first line is drawn at {line['top']:.0f} px")  # pytest -s shows it
    assert line["text"] == default_jaxpr_first_line
    assert line["scrollY"] == 0 and line["top"] + LINES_ON_SCREEN * LINE_PX <= height, line
    here = urlparse(server).netloc
    remote = [u for u in requests if urlparse(u).scheme not in LOCAL_SCHEMES and urlparse(u).netloc != here]
    assert remote == []  # no web font, no icon font, no favicon from a CDN
    page.close()


# When the page first has the jaxpr's rows, Ace's frame, Ace itself, the sidebar's widgets (the page's clock, ms).
ORDER = """
window.__seen = {};
const tick = () => {
  const t = performance.now(), seen = window.__seen;
  const roots = [document];
  for (let i = 0; i < roots.length; i++)
    for (const e of roots[i].querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
  if (!seen.rows && roots.some((r) => r.querySelector('.ln-row'))) seen.rows = t;
  const frame = document.querySelector('iframe[title*=code_editor]');
  if (!seen.frame && frame) seen.frame = t;
  try { if (!seen.ace && frame.contentWindow.document.querySelector('.ace_editor')) seen.ace = t; } catch (e) {}
  if (!seen.sidebar && document.querySelector('[data-testid=stSidebar] [data-testid=stSelectbox]')) seen.sidebar = t;
  if (!(seen.rows && seen.ace && seen.sidebar)) requestAnimationFrame(tick);
};
document.addEventListener('DOMContentLoaded', () => requestAnimationFrame(tick));
"""


def test_the_jaxpr_is_drawn_before_the_editor_and_the_sidebar_and_then_both_work(browser, server):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.add_init_script(ORDER)
    open_app(page, server)
    page.wait_for_function("() => window.__seen.rows && window.__seen.ace && window.__seen.sidebar", timeout=60_000)
    seen = page.evaluate("() => window.__seen")
    # Ace (a 1.5 MB bundle in a same-origin frame) is not even asked for until the first jaxpr is on screen,
    # and the sidebar's widgets (half a second of the browser's rendering) come in the run that mounts it.
    assert seen["rows"] < seen["frame"] < seen["ace"], seen
    assert seen["rows"] < seen["sidebar"], seen
    code = (ROOT / "samples" / "differentiability_grad.py").read_text()
    value = "() => document.querySelector('.ace_editor').env.editor.getValue()"
    frame = editor_frame(page)
    for _ in range(50):  # then it holds the sample's code
        if frame.evaluate(value) == code:
            break
        page.wait_for_timeout(200)
    assert frame.evaluate(value) == code
    # The sidebar drawn a run later still drives the page: a sample it picks replaces the code and the jaxpr.
    before = page.evaluate(FIRST_LINE)["text"]
    pick_sample(page, "log2")
    picked = (ROOT / "samples" / "slides_log2.py").read_text()
    for _ in range(100):
        if frame.evaluate(value) == picked and page.evaluate(FIRST_LINE)["text"] != before:
            break
        page.wait_for_timeout(200)
    assert frame.evaluate(value) == picked and page.evaluate(FIRST_LINE)["text"] != before
    page.close()


def test_the_editor_never_traps_the_page_scroll(browser, server):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    open_app(page, server)
    first_line(page)
    editor = page.locator("iframe[title*='code_editor']").first.bounding_box()
    scrolled = "window.scrollY > 0 || document.querySelector('[data-testid=stMain]').scrollTop > 0"
    for _ in range(3):  # a gesture of wheels over the editor: past the end of its own text the page scrolls
        page.mouse.move(editor["x"] + editor["width"] / 2, editor["y"] + editor["height"] / 2)
        for _ in range(12):
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(150)
        if page.evaluate(f"() => {scrolled}"):
            break
        page.mouse.move(0, 0)  # under load Chromium can latch a gesture to the editor: a new one
        page.wait_for_timeout(1000)
    assert page.evaluate(f"() => {scrolled}")
    page.close()


def test_a_session_logs_no_component_or_chart_warnings(browser, server):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type in ("warning", "error") else None)
    open_app(page, server)
    first_line(page)
    tag = "() => { const f = document.querySelector('iframe[title*=code_editor]'); f.__tagged = true; }"
    page.evaluate(tag)
    for sample in ("log2", "Keys and split", "log2"):  # each pick replaces the editor's code
        pick_sample(page, sample)
        open_tab(page, "Stats")  # the counts chart (Vega-Lite)
        page.wait_for_timeout(1500)
    # The same editor frame throughout: a remounted one leaves the old frame's last message unheard.
    assert page.evaluate("() => document.querySelector('iframe[title*=code_editor]').__tagged === true")
    # Vega-Lite's warnings (an empty or badly grouped chart), and Streamlit's "unregistered ComponentInstance"
    # (a frame's message after Streamlit forgot it: the editor stays mounted as each pick replaces its code).
    noisy = [w for w in warnings if w.startswith("WARN") or "ComponentInstance" in w]
    assert noisy == []
    page.close()
