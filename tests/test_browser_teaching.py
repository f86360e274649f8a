"""The walkthrough in a real browser: ArrowRight presses Next, a lecture link opens large; screenshots of each step."""

from __future__ import annotations

from tests.browser_util import ROOT, browser_marks, wait_idle

pytestmark = browser_marks()
SHOTS = ROOT / "screenshots" / "teaching"
SHOTS.mkdir(parents=True, exist_ok=True)


def heading(page) -> str:  # noqa: ANN001 - playwright Page
    """The walkthrough's `Step k of 7: ...` heading."""
    return page.locator("h3").filter(has_text="Step").first.inner_text()


def test_arrow_right_walks_through_every_step_in_lecture_mode(browser, server):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{server}/?mode=walkthrough&lecture=1&sample=differentiability_grad")
    page.wait_for_selector("text=Step 1 of 7", timeout=120_000)
    wait_idle(page)
    assert (
        page.locator("h3").filter(has_text="Step").first.bounding_box()["x"] < 200
    )  # the sidebar is collapsed
    font = page.locator(".explorer-code pre").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 20
    page.locator("h3").first.click()  # focus the page, as a presenter would
    seen, equations = [1], 0
    page.screenshot(path=str(SHOTS / "browser_step1.png"))
    for _ in range(40):
        page.keyboard.press("ArrowRight")
        wait_idle(page)
        step = int(heading(page).split()[1])
        if step == 4 and seen[-1] == 4:
            equations += 1
        if step != seen[-1] or step == 4:
            page.screenshot(
                path=str(SHOTS / f"browser_step{step}{f'_eq{equations}' if step == 4 else ''}.png")
            )
        seen.append(step)
        if step == 7:
            break
    assert sorted(set(seen)) == list(range(1, 8))
    assert equations == 5  # the jvp interpreter went through loss's five equations one key press at a time
    assert "Same tangents as" in page.locator("body").inner_text() or seen[-1] == 7
    page.keyboard.press("ArrowLeft")
    wait_idle(page)
    assert heading(page).startswith("Step 6 of 7")
    assert "step=6" in page.url and "lecture=1" in page.url
    page.close()
