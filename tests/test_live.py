"""Live functions: `inspect_fn` on function objects, the Jupyter view, and saved results reopened."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from inspectors import inspect_fn
from inspectors.cli import main
from inspectors.live import LiveResult, open_result

MODELS = Path(__file__).parent / "models"


@pytest.fixture(scope="module")
def linen():
    """The Flax linen model file, imported as a project module would be."""
    sys.path.insert(0, str(MODELS))
    try:
        return importlib.import_module("linen_mlp")
    finally:
        sys.path.remove(str(MODELS))


@pytest.fixture(scope="module")
def result(linen):
    return inspect_fn(linen.loss, linen.params, jnp.ones((4, 8)), transforms=["grad", "jit"])


def test_a_live_function_gives_jaxs_own_jaxpr(linen, result):
    assert result.ok, result.error.format()
    expected = jax.make_jaxpr(jax.jit(jax.grad(linen.loss)))(linen.params, jnp.ones((4, 8)))
    assert result.jaxpr().text == str(expected)
    assert result.expression == "jit(grad(loss))"
    assert result.request.args.endswith("f32[4,8]") and "'kernel': f32[8,16]" in result.request.args
    assert "ENTRY" in result.text_of("hlo")


def test_live_equations_map_to_lines_of_the_functions_own_file(result):
    lines = {e.source.code.strip() for e in _walk(result) if e.source}
    assert result.request.filename == str(MODELS / "linen_mlp.py")
    assert "return jnp.mean(model.apply(params, x) ** 2)" in lines
    assert "x = nn.relu(nn.Dense(self.hidden)(x))" in lines  # inside the linen module's __call__


def _walk(result):
    from inspectors.results import walk

    return walk(result.jaxpr().model)


def test_keyword_inputs_specs_and_timing():
    def scaled(x, *, w):
        return jnp.sum(jnp.tanh(x * w))

    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    r = inspect_fn(scaled, spec, w=jnp.ones(3), transforms="grad, jit", time=True, time_budget_s=0.05)
    assert r.ok, r.error.format()
    assert r.jaxpr().text == str(jax.make_jaxpr(jax.jit(jax.grad(scaled)))(spec, w=jnp.ones(3)))
    assert r.request.args == "f32[3], w=f32[3]" and r.timing and r.timing.median_s > 0


def test_errors_name_the_stage_and_the_line_in_the_users_file():
    def bad(x):
        if x > 0:  # a Python `if` on a tracer
            return x
        return -x

    r = inspect_fn(bad, jnp.ones(()), transforms=["jit"])
    assert r.error.kind == "TracerBoolConversionError"
    assert r.error.location.code.strip() == "if x > 0:  # a Python `if` on a tracer"
    assert r.error.location.file == __file__


def test_saved_results_reopen_identically_and_from_the_command_line(result, tmp_path, capsys):
    path = tmp_path / "loss.json"
    path.write_text(result.to_json())
    again = open_result(path)
    assert isinstance(again, LiveResult) and again.to_dict() == result.to_dict()
    assert main(["open", str(path), "--emit", "jaxpr"]) == 0
    assert capsys.readouterr().out == result.jaxpr().text + "\n"
    assert main(["open", str(path)]) == 0
    summary = capsys.readouterr().out
    listed = [line.split()[0] for line in summary.splitlines()[-len(result.stages) :]]
    assert summary.startswith("jit(grad(loss))") and listed == [s.id for s in result.stages]  # every stage
    assert main(["open", str(path), "--emit", "dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph jaxpr {")


def test_jupyter_html_shows_stages_graph_and_escapes_inputs():
    def f(x, tag):
        return jnp.sin(x) * 2.0

    r = inspect_fn(f, jnp.ones(3), "<script>alert(1)</script>", transforms=["jit"], time=True, time_budget_s=0.05)
    assert r.ok, r.error.format()
    page = r._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page  # a static string leaf, shown escaped
    assert "<svg" in page and "median" in page
    assert "sin" in page and "StableHLO" in page and "compiled HLO" in page


def test_jupyter_html_builds_its_graph_under_the_bounds_and_says_when_it_cannot(monkeypatch):
    from inspectors.graph import bounded
    from inspectors.live import result_html

    def f(x):
        return jax.lax.fori_loop(0, 3, lambda i, c: jnp.sin(c) * 2.0, x)

    r = inspect_fn(f, jnp.ones(3), transforms=["jit"])
    monkeypatch.setattr(bounded, "BUILD_TIMEOUT_S", 0.001)  # no build can finish: the same message as the app's
    page = result_html(r)
    assert "<svg" not in page and "could not be drawn: building it took longer than 0.001 s" in page
    assert "Its largest parts: call 0" in page  # what to collapse, from the model
    assert "compiled HLO" in page and "jaxpr (after the pipeline)" in page  # the texts are still shown
