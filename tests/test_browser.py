"""End to end in a real browser: the app served by Streamlit, driven by Playwright over Debian's Chromium."""

from __future__ import annotations

import os

import pytest

from tests.browser_util import (
    ROOT,
    add_transform,
    browser_marks,
    launch_chromium,
    open_app,
    open_tab,
    pick_sample,
    streamlit_server,
    wait_for_svg_graph,
    wait_idle,
)

pytestmark = browser_marks()
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, shared by the tests of this module."""
    yield from launch_chromium()


@pytest.fixture(scope="module")
def server():
    """The app on a free 127.0.0.1 port."""
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url:
        yield url


@pytest.fixture
def page(browser, server):
    """A fresh page with the app loaded."""
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    open_app(page, server)
    yield page
    page.close()


def test_pick_a_sample_apply_grad_and_see_the_graph(page):
    pick_sample(page, "log2")
    after = page.locator(".explorer-code").nth(1)
    assert "log" in after.inner_text() and "div" in after.inner_text()
    add_transform(page, "grad")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.explorer-code')].some(e => e.innerText.includes('div 1.0'))",
        timeout=60_000,
    )
    assert "grad(log2)" in page.locator("[data-testid='stSidebar'] code").first.inner_text()
    open_tab(page, "Graph")
    frame = wait_for_svg_graph(page)
    assert frame.locator("svg g.node").filter(has_text="div").count() > 0  # log2's division, in the graph
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
    page.wait_for_function(
        "() => [...document.querySelectorAll('.explorer-code')].some(e => e.innerText.includes('mul'))",
        timeout=60_000,
    )
    assert "cube" in page.locator("[data-testid='stSidebar'] code").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser-editor.png"))
    assert os.path.exists(ARTIFACTS / "browser-editor.png")
