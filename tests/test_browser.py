"""End to end in a real browser: the app served by Streamlit, driven by Playwright over Debian's Chromium."""

from __future__ import annotations

import os
import re

import pytest

from tests.browser_util import (
    ROOT,
    add_transform,
    browser_marks,
    editor_frame,
    open_app,
    open_tab,
    pick_sample,
    wait_idle,
)

pytestmark = browser_marks()
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture
def page(browser, server):
    """A fresh page with the app loaded."""
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    open_app(page, server)
    yield page
    page.close()


def test_pick_a_sample_apply_grad_and_see_the_graph(page):
    pick_sample(page, "log2")
    after = page.locator(".pane >> visible=true").filter(has_text="After · log2").first
    after.wait_for(timeout=60_000)
    assert "log" in after.inner_text() and "div" in after.inner_text()
    add_transform(page, "grad")
    page.locator(".pane >> visible=true").filter(has_text="div 1.0").first.wait_for(timeout=60_000)
    assert "grad(log2)" in page.locator("[data-testid='stSidebar'] code").first.inner_text()
    open_tab(page, "Graph")
    nodes = page.locator(".graph svg g.node >> visible=true")
    nodes.first.wait_for(timeout=60_000)
    assert nodes.filter(has_text="div").count() > 0  # log2's division, in the graph
    page.screenshot(path=str(ARTIFACTS / "browser-grad-graph.png"))


def test_editing_in_the_code_editor_and_pressing_ctrl_enter_updates_the_jaxpr(page):
    pick_sample(page, "log2")
    editor = page.frame_locator("iframe[title*='code_editor']").locator(".ace_text-input")
    editor.focus()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.insert_text("def cube(x):\n    return x * x * x\n")
    page.keyboard.press("Control+Enter")
    wait_idle(page)
    page.locator("[data-testid='stSelectbox']").filter(has_text="Function").locator("input").first.click()
    page.get_by_role("option", name="cube", exact=True).click()
    wait_idle(page)
    page.locator(".pane >> visible=true").filter(has_text="mul").first.wait_for(timeout=60_000)
    assert "cube" in page.locator("[data-testid='stSidebar'] code").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser-editor.png"))
    assert os.path.exists(ARTIFACTS / "browser-editor.png")


def test_the_run_button_sits_under_the_editor_and_applies_an_edit(page):
    pick_sample(page, "log2")
    frame = page.locator("iframe[title*='code_editor']")
    run = page.locator(".st-key-editor_run button")
    assert run.bounding_box()["y"] >= frame.bounding_box()["y"] + frame.bounding_box()["height"]  # never over code
    editor = page.frame_locator("iframe[title*='code_editor']").locator(".ace_text-input")
    editor.focus()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.insert_text("def halve(x):\n    return x / 2.0\n")
    run.click()
    wait_idle(page)
    page.locator("[data-testid='stSelectbox']").filter(has_text="Function").locator("input").first.click()
    page.get_by_role("option", name="halve", exact=True).click()  # the edit arrived: its function is listed
    wait_idle(page)
    page.locator(".pane >> visible=true").filter(has_text="div").first.wait_for(timeout=60_000)


def test_a_sample_opens_scrolled_to_its_function_and_the_editor_keeps_its_place(page):
    pick_sample(page, "Flax NNX")  # a long docstring above `def train_step`
    value = "() => document.querySelector('.ace_editor').env.editor.getValue()"
    for _ in range(450):  # the editor is drawn after the inspection, then holds the sample's code
        try:
            frame = editor_frame(page)
            code = frame.evaluate(value).split("\n")
        except Exception:  # noqa: BLE001 - no frame yet, or the old one went away under us
            code = []
        if any(line.startswith("def train_step(") for line in code):
            break
        page.wait_for_timeout(200)
    entry = next(i for i, line in enumerate(code, start=1) if line.startswith("def train_step("))
    page.wait_for_timeout(800)  # then Ace scrolls
    rows = frame.evaluate(GUTTER)
    first = int(rows[0][0])
    assert first > 1 and any(int(n) == entry for n, _, _ in rows)  # the function is on screen
    # The editor's height was kept before Ace loaded: the views below did not move when it came.
    box = page.locator(".st-key-editor_box")
    assert abs(box.bounding_box()["height"] - page.locator("iframe[title*='code_editor']").bounding_box()["height"]) < 2


GUTTER = """() => {
  const cells = [...document.querySelectorAll('.ace_gutter-cell')].filter(c => c.offsetParent);
  // one child of the text layer per document line (a wrapped line is one group of screen rows)
  const rows = [...document.querySelectorAll('.ace_text-layer > *')].filter(r => r.offsetParent);
  return cells.map((c, i) => [c.textContent.trim(), c.getBoundingClientRect().top,
                              rows[i] ? rows[i].getBoundingClientRect().top : null]);
}"""


@pytest.mark.parametrize("query", ["", "?lecture=1"], ids=["explore", "lecture"])
def test_editor_line_numbers_stay_on_their_lines_after_the_code_is_replaced_and_scrolled(browser, server, query):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    open_app(page, server + "/" + query)
    if query:  # lecture mode starts with the sidebar collapsed
        page.locator("[data-testid='stExpandSidebarButton'], [data-testid='stSidebarCollapsedControl'] button").first.click()
        page.wait_for_timeout(500)
    pick_sample(page, "log2")  # the code is replaced in the editor
    frame = editor_frame(page)
    frame.locator(".ace_scroller").hover()
    page.mouse.wheel(0, 400)
    page.wait_for_timeout(600)
    rows = frame.evaluate(GUTTER)
    assert rows and rows[0][0] != "1"  # it did scroll
    for number, gutter_top, text_top in rows:
        assert text_top is not None and abs(gutter_top - text_top) < 2, (number, gutter_top, text_top)
    page.close()


def test_text_views_search_wrap_and_number_lines_in_the_browser(page):
    pane = page.locator(".pane >> visible=true").nth(1)  # the jaxpr after grad
    assert pane.locator(".ln-row .no").first.inner_text() == "1"
    pane.locator("input.search").fill("dot_general")
    page.wait_for_timeout(300)
    hits = pane.locator(".ln-row.hit")
    assert hits.count() >= 2 and "dot_general" in hits.first.inner_text()
    assert pane.locator(".count").inner_text().startswith("1/")
    pane.locator("input.search").press("Enter")
    assert pane.locator(".count").inner_text().startswith("2/")
    pane.locator("input.nums").uncheck()
    assert not pane.locator(".ln-row .no").first.is_visible()
    pane.locator("input.wrap").check()
    assert pane.locator(".ln-row").first.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"


def test_clicking_a_jaxpr_line_in_the_source_map_selects_that_equation_and_its_line(page):
    open_tab(page, "Source map")
    current = page.locator(".src-row.sel").first.get_attribute("data-src")
    after = page.locator(".pane >> visible=true").filter(has_text="After")
    rows = after.locator(".ln-row[data-src]")
    rows.first.wait_for(timeout=60_000)  # the component draws its panes after the script run ends
    row = next(rows.nth(i) for i in range(rows.count()) if rows.nth(i).get_attribute("data-src") != current)
    src, line = row.get_attribute("data-src"), row.get_attribute("data-line")
    row.click()
    page.locator(f".src-row.sel[data-src='{src}']").wait_for(timeout=60_000)  # the clicked line's source line
    wait_idle(page)
    summary = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=re.compile(rf"^equation .* of line {src} "))
    summary.first.wait_for(timeout=30_000)  # that one equation, not every equation of the line
    selected = after.locator(".ln-row.sel")
    assert line in [selected.nth(i).get_attribute("data-line") for i in range(selected.count())]
