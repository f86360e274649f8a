"""Screenshots of every view at 1600×1000, and at 1920×1080 with `SCREENS=all` (saved under screenshots/, looked
at by a person; the first screen at three sizes is checked in test_browser_first_screen.py).

Each view is opened as a user would (clicking its tab); the test checks that it drew
without an exception box, then saves the picture. Marked `browser` and `slow`.
"""

from __future__ import annotations

import os

import pytest

from tests.browser_util import (
    ROOT,
    browser_marks,
    open_app,
    open_tab,
    wait_idle,
)

pytestmark = [*browser_marks(), pytest.mark.slow]
SHOTS = ROOT / "screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)
SIZES = [(1600, 1000), (1920, 1080)] if os.environ.get("SCREENS") == "all" else [(1600, 1000)]
VIEWS = ["Jaxpr", "Stages", "Graph", "StableHLO", "Compiled HLO", "Source map", "Provenance", "Stats"]


def no_exception(page) -> None:  # noqa: ANN001
    """Fail if the page shows a Python exception box."""
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_explore_view_draws_and_is_saved(browser, server, size):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    open_app(page, f"{server}/?sample=vectorization_per_example_grads")
    page.screenshot(path=str(SHOTS / f"explore_top_{size[0]}x{size[1]}.png"))  # editor, lesson, run panel
    for view in VIEWS:
        open_tab(page, view)
        page.wait_for_timeout(1500)  # graphs and component panes draw after the script run
        no_exception(page)
        tab = page.get_by_role("tab", name=view, exact=True).first
        tab.evaluate("e => e.scrollIntoView({block: 'start'})")  # the view fills the screen
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{view.lower().replace(' ', '_')}_{size[0]}x{size[1]}.png"))
    page.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lecture_mode_and_the_walkthrough_are_saved(browser, server, size):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    open_app(page, f"{server}/?sample=differentiability_grad&lecture=1")
    page.wait_for_timeout(1500)
    no_exception(page)
    page.screenshot(path=str(SHOTS / f"lecture_{size[0]}x{size[1]}.png"))
    for step in (1, 2, 3, 4, 5, 6, 7):
        page.goto(f"{server}/?sample=differentiability_grad&mode=walkthrough&step={step}")
        page.wait_for_selector(f"text=Step {step} of 7", timeout=120_000)
        wait_idle(page)
        page.wait_for_timeout(800)
        no_exception(page)
        page.screenshot(path=str(SHOTS / f"walkthrough_step{step}_{size[0]}x{size[1]}.png"))
    page.close()
