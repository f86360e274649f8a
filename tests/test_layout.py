"""The first screen's pure helpers: the pipeline expression's line breaks, where the editor opens, and the
height kept for it (the browser side is in tests/test_browser_first_screen.py)."""

from __future__ import annotations

import ast

import pytest

from app.editor import BELOW_PX, LINE_PX, ROWS, entry_line, reserve_css
from app.sidebar import break_expression

EXPRESSIONS = [
    ("grad(loss)", "grad(loss)"),
    (
        "jit(vmap(grad(loss), in_axes=(None, 0)))",
        "jit(\n    vmap(\n        grad(loss),\n        in_axes=(None, 0)\n    )\n)",
    ),
    ("jit(grad(partial(loss, model)))", "jit(grad(partial(loss, model)))"),
    ("f ∘ g", "f ∘ g"),  # not Python: left as it is
]


@pytest.mark.parametrize(("text", "expected"), EXPRESSIONS)
def test_a_long_pipeline_expression_breaks_between_arguments_never_inside_one(text, expected):
    broken = break_expression(text)
    assert broken == expected
    if broken != text:  # the same expression, and no argument split across lines
        assert ast.unparse(ast.parse(broken, mode="eval")) == text
        assert all(line.strip() in text for line in broken.split("\n"))


def test_the_editor_opens_at_the_entry_function_with_its_decorators_and_comments():
    code = "\n".join(['"""doc"""', *[""] * 20, "# the loss", "@jax.jit", "def loss(x):", "    return x", ""])
    assert entry_line(code, "loss") == 22  # the comment above the decorator
    assert entry_line(code, "partial(loss, 3)") == 22  # an expression names its function first
    assert entry_line("def loss(x):\n    return x\n", "loss") == 0  # on the first screen anyway
    assert entry_line(code, "nowhere") == 0


def test_the_height_kept_for_the_editor_follows_the_window_between_its_bounds():
    css = reserve_css("x = 1\n" * 100)
    assert f"clamp({ROWS[0] * LINE_PX}px, calc(100vh - {BELOW_PX}px), {ROWS[1] * LINE_PX}px)" in css
    short = reserve_css("x = 1\n" * 3)  # short code: no taller than its least number of rows
    assert f"{ROWS[0] * LINE_PX}px)" in short
