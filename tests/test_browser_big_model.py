"""A researcher's model in the real app, loaded as a user would: pasted into the editor, then Run.

A GPT-2-shaped Flax linen decoder (the benchmark's `benchmarks/models/gpt2_linen.py`, its config line made
small) under `value_and_grad` then `jit`: the first screen shows its jaxpr (the first line is JAX's own) and
the Compiled HLO tab its optimized HLO, with no exception box. Then a program that takes a while: Stop ends
it and keeps the jaxpr that had arrived; Run on the unchanged code starts it again and it finishes.
Marked `browser` and `slow`; the first screen is saved under screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
import time

import jax
import jax.numpy as jnp

from tests.browser_util import (
    IDLE,
    ROOT,
    add_transform,
    browser_marks,
    editor_frame,
    open_app,
    open_tab,
    wait_idle,
)
from tests.jax_reference import exec_source

pytestmark = browser_marks()
SHOTS = ROOT / "screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)
MODEL = ROOT / "benchmarks" / "models" / "gpt2_linen.py"
SMALL = "VOCAB, D, HEADS, LAYERS, SEQ = 1000, 64, 4, 2, 32"
# The first visible numbered line of any explorer pane, shadow roots included (as the first-screen test).
FIRST_LINE = """() => {
  const roots = [document];
  for (let i = 0; i < roots.length; i++)
    for (const e of roots[i].querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
  const rows = roots.flatMap(r => [...r.querySelectorAll('.ln-row')]).filter(e => e.checkVisibility());
  return rows.length ? rows[0].querySelector('.tx').textContent : null;
}"""
# A paste into Ace's text input, as the browser sends one (Ace takes it whole: no auto-indent per line).
PASTE = """(text) => {
  const input = document.querySelector('.ace_text-input');
  const data = new DataTransfer();
  data.setData('text/plain', text);
  input.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
}"""
EDITOR_TEXT = "() => document.querySelector('.ace_editor').env.editor.getValue()"
STOP = ".st-key-stop_inspection button >> visible=true"  # a superseded run may leave a hidden one
RUN = ".st-key-editor_run button"
SPINNER = "[data-testid='stSpinner']"


def small_model() -> str:
    """The benchmark's GPT-2 linen model with its config line made small (2 layers, d=64, vocab 1000)."""
    source, count = re.subn(r"^VOCAB, D, HEADS, LAYERS, SEQ = .*$", SMALL, MODEL.read_text(), flags=re.M)
    assert count == 1, "gpt2_linen.py no longer names its config on one line"
    return source


def paste_code(page, code: str) -> None:  # noqa: ANN001
    """Select everything in the editor and paste `code` over it; check the editor holds exactly that."""
    frame = editor_frame(page)
    frame.locator(".ace_text-input").focus()
    page.keyboard.press("Control+A")
    frame.evaluate(PASTE, code)
    assert frame.evaluate(EDITOR_TEXT) == code


def run(page, timeout_s: float = 180.0) -> None:  # noqa: ANN001
    """Press Run; wait until the inspection it starts has ended (its spinner came and went)."""
    page.locator(RUN).click()
    page.locator(SPINNER).first.wait_for(timeout=30_000)
    done = "([spinner, idle]) => !document.querySelector(spinner) && document.querySelector(idle)"
    page.wait_for_function(done, arg=[SPINNER, IDLE], timeout=timeout_s * 1000)
    wait_idle(page)


def use_declared_inputs(page) -> None:  # noqa: ANN001
    """Empty the sidebar's Inputs box: the code's own `__explorer__` args are used."""
    box = page.get_by_label("Inputs", exact=True)
    box.fill("")
    box.press("Enter")
    wait_idle(page)


def remove_transforms(page) -> None:  # noqa: ANN001
    """Remove every step of the sidebar's pipeline (the default sample's `grad`)."""
    remove = page.locator("[data-testid='stSidebar'] [class*='st-key-rm_'] button")
    while remove.count():
        remove.first.click()
        wait_idle(page)


def visible_rows(page, text: str):  # noqa: ANN001, ANN201
    """The explorer's visible numbered lines containing `text` (Playwright's CSS pierces shadow roots)."""
    return page.locator(".ln-row >> visible=true").filter(has_text=text)


def no_exception(page) -> None:  # noqa: ANN001
    """Fail if the page shows a Python exception box or an error box."""
    assert page.locator("[data-testid='stException']").count() == 0
    errors = page.locator("[data-testid='stAlertContentError']")
    assert errors.count() == 0, errors.first.inner_text()


def test_a_gpt2_sized_model_pasted_in_shows_its_jaxpr_first_and_its_compiled_hlo(browser, server):
    source = small_model()
    module = exec_source(source, "gpt2_linen.py")
    args = module.params, module.tokens
    expected = str(jax.make_jaxpr(module.loss)(*args)).split("\n")[0]
    after = str(jax.make_jaxpr(jax.jit(jax.value_and_grad(module.loss)))(*args)).split("\n")[0]
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    open_app(page, server)
    use_declared_inputs(page)  # `params, tokens`, from the model file's `__explorer__`
    remove_transforms(page)
    add_transform(page, "value_and_grad")
    add_transform(page, "jit")
    paste_code(page, source)
    run(page)
    page.wait_for_function(f"() => ({FIRST_LINE})() !== null", timeout=120_000)
    page.wait_for_timeout(800)  # the editor fits itself to the window after it loads
    page.screenshot(path=str(SHOTS / "big_model_first_screen.png"))
    assert page.evaluate(FIRST_LINE) == expected  # the Before pane: `loss` as written
    after_pane = page.locator(".pane >> visible=true").filter(has_text="After · jit(value_and_grad(loss))")
    assert after_pane.locator(".ln-row .tx").first.text_content() == after
    assert page.locator(STOP).count() == 0  # a finished inspection offers no Stop
    sidebar = page.locator("[data-testid='stSidebar'] code").first.inner_text()
    assert re.sub(r"\s", "", sidebar) == "jit(value_and_grad(loss))"
    no_exception(page)
    open_tab(page, "Compiled HLO")
    visible_rows(page, "HloModule").first.wait_for(timeout=120_000)
    assert visible_rows(page, "ENTRY").count() >= 1
    no_exception(page)
    page.close()


SLOW = '''import time

import jax.numpy as jnp

UNTIL = {until}  # a wall-clock time: the first run is stopped before it, the second waits it out
traces = []


def loss(x):
    """Quick the first time JAX traces it (inside grad), busy until UNTIL the second (on its own)."""
    traces.append(len(traces))
    while len(traces) > 1 and time.time() < UNTIL:  # plain Python, run while JAX traces
        time.sleep(0.05)
    return jnp.sum(jnp.sin(x) ** 2)


__explorer__ = {{"entry": "loss", "args": "f32[4]", "transforms": ["grad"]}}
'''
BUSY_S = 25.0  # how long from pasting the code the second trace stays busy


def test_stop_keeps_the_jaxpr_that_arrived_and_run_starts_the_unchanged_code_again(browser, server):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    open_app(page, server)  # the default sample: `grad` in the pipeline, as this program wants
    use_declared_inputs(page)
    until = round(time.time() + BUSY_S, 1)
    code = SLOW.format(until=until)
    module = exec_source(code, "slow.py")  # its first trace: quick
    expected = str(jax.make_jaxpr(module.loss)(jax.ShapeDtypeStruct((4,), jnp.float32))).split("\n")[0]
    paste_code(page, code)
    page.locator(RUN).click()
    # grad(loss)'s jaxpr arrives while `loss` alone is still being traced: Stop is offered beside it.
    page.locator(STOP).wait_for(timeout=60_000)
    visible_rows(page, "cos").first.wait_for(timeout=60_000)  # grad's jaxpr (the derivative of sin)
    page.screenshot(path=str(SHOTS / "stop_while_running.png"))
    page.locator(STOP).click()
    wait_idle(page, timeout_ms=60_000)
    assert time.time() < until, "the run could have ended on its own before Stop: raise BUSY_S"
    stopped = page.locator("[data-testid='stAlertContentError']").filter(has_text="Stopped")
    assert stopped.count() == 1
    assert page.get_by_text("You stopped the inspection.").count() >= 1
    assert visible_rows(page, "cos").count() >= 1  # what arrived is kept on screen
    assert page.locator(STOP).count() == 0
    page.wait_for_timeout(1500)  # a rerun (a tab, an option) would not restart it: still stopped
    assert page.locator("[data-testid='stAlertContentError']").filter(has_text="Stopped").count() == 1
    assert editor_frame(page).evaluate(EDITOR_TEXT) == code  # unchanged code
    page.locator(RUN).click()
    page.locator(STOP).wait_for(timeout=60_000)  # it runs again
    wait_idle(page, timeout_ms=120_000)  # and finishes once UNTIL has passed
    page.wait_for_function(f"() => ({FIRST_LINE})() !== null", timeout=60_000)
    assert page.evaluate(FIRST_LINE) == expected  # `loss` itself: its trace came through this time
    assert page.locator("[data-testid='stAlertContentError']").count() == 0  # no longer stopped
    no_exception(page)
    open_tab(page, "Compiled HLO")
    visible_rows(page, "HloModule").first.wait_for(timeout=60_000)  # the whole inspection this time
    page.close()
