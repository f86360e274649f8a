"""The teaching views in the app: walkthrough, lecture mode, source map, provenance (AppTest).

Expected values come from `inspectors.mapping` and from `jax.jvp` run in this process.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import jax
import pytest
from streamlit.testing.v1 import AppTest

from app import state
from app.components.painted import BACKWARD_FILL, FORWARD_FILL, equation_lines
from inspectors import catalog, source
from inspectors.mapping import line_info, source_map, walk
from inspectors.provenance import grad_provenance
from inspectors.walkthrough import preview, tangents_like

APP = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
NOTHING_PROGRAM = """import jax.numpy as jnp


def f(x):
    n = 3
    y = jnp.sin(x) * n
    return y + 1.0
"""


def new_app(query: dict[str, str | list[str]] | None = None) -> AppTest:
    """Return a fresh app run once (plain text editor), with these query parameters."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True  # AppTest runs no browser code to ask for the rest
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def param(at: AppTest, name: str) -> str:
    """One query parameter the app wrote into the URL."""
    value = at.query_params[name]
    return value[-1] if isinstance(value, list) else value


def markdown(at: AppTest) -> str:
    """All markdown on the page, joined."""
    return "\n".join(m.value for m in at.markdown)


def step_heading(at: AppTest) -> str:
    """The walkthrough's `### Step k of 7: ...` heading."""
    return next(m.value for m in at.markdown if m.value.startswith("### Step"))


def html_bodies(at: AppTest) -> list[str]:
    """The bodies of every `st.html` element."""
    return [h.proto.body for h in at.get("html")]


def click(at: AppTest, key: str) -> AppTest:
    """Click a button by key, rerun, and check nothing failed."""
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def plain_text(body: str) -> str:
    """The text of an HTML fragment."""
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def panes(at: AppTest) -> dict[str, dict]:
    """The source map's panes, by id (`before`, `after`, `stablehlo`, `hlo`), with the lines each outlines
    (sent in each component's selection element, apart from the texts)."""
    keys = ("-sm_jaxpr", "-sm_stablehlo", "-sm_hlo")
    elements = {e.proto.id.rsplit("-", 1)[-1]: json.loads(e.proto.json) for e in at.get("bidi_component")}
    out = {}
    for key in (k.lstrip("-") for k in keys):
        if key in elements:
            chosen = elements[f"{key}_selection"]["selected"]
            out.update({v["id"]: {**v, "selected": chosen.get(v["id"], [])} for v in elements[key]["views"]})
    return out


def selected_lines(pane: dict) -> set[int]:
    """The line numbers a pane outlines."""
    return set(pane["selected"])


def test_a_walkthrough_link_opens_the_walkthrough_and_next_and_prev_move_steps():
    at = new_app({"mode": "walkthrough"})
    assert at.session_state["mode"] == "walkthrough"
    assert step_heading(at).startswith("### Step 1 of 7")
    click(at, "wt_next")
    assert step_heading(at).startswith("### Step 2 of 7: Tracing")
    assert "ShapedArray(float32[3])" in at.dataframe[0].value.to_string()
    click(at, "wt_prev")
    assert step_heading(at).startswith("### Step 1 of 7")
    assert param(at, "mode") == "walkthrough" and param(at, "step") == "1"


def test_step_four_steps_through_equations_and_its_tangents_equal_jax_jvp():
    at = new_app({"mode": "walkthrough", "step": "4", "sample": "differentiability_grad"})
    assert step_heading(at).startswith("### Step 4 of 7")
    sample = catalog.get_sample("differentiability_grad")
    module = source.load_module(sample.source(), state.FILENAME)
    f = getattr(module, sample.entry)
    eqns = len(jax.make_jaxpr(f)(*source.eval_args(sample.args, module)).jaxpr.eqns)
    for k in range(1, eqns + 1):
        click(at, "wt_next")
        assert at.session_state["step"] == 4 and at.session_state["jvp_step"] == k
        assert f"Equation {k}" in markdown(at)
    assert "Same tangents as `jax.jvp`" in "\n".join(s.value for s in at.success)
    args = source.materialize(source.eval_args(sample.args, module))  # the walkthrough's seeded inputs
    _, tangent = jax.jvp(f, tuple(args), tuple(tangents_like(list(args))))
    shown = [c.value for c in at.code]
    assert preview(tangent) in shown
    click(at, "wt_next")
    assert at.session_state["step"] == 5


def test_under_vmap_step_four_steps_through_the_batching_interpreter_and_matches_jax_vmap():
    name = "vectorization_per_example_grads"
    at = new_app({"mode": "walkthrough", "step": "4", "sample": name})
    assert step_heading(at).startswith("### Step 4 of 7: vmap as a jaxpr interpreter")
    sample = catalog.get_sample(name)
    module = source.load_module(sample.source(), state.FILENAME)
    f = getattr(module, sample.entry)
    batch = source.materialize(source.eval_args(sample.args, module))  # the walkthrough's seeded batch
    params, (x, y) = batch
    per_example = (params, (x[0], y[0]))
    eqns = len(jax.make_jaxpr(f)(*per_example).jaxpr.eqns)
    for k in range(1, eqns + 1):
        click(at, "wt_next")
        assert at.session_state["jvp_step"] == k and f"Equation {k}" in markdown(at)
    assert "Same outputs as `jax.vmap`" in "\n".join(s.value for s in at.success)
    assert preview(jax.vmap(f, in_axes=(None, 0))(*batch)) in [c.value for c in at.code]
    at.segmented_control(key="wt_interp").set_value("jvp").run()  # the same step, through jvp
    assert step_heading(at).startswith("### Step 4 of 7: jvp as a jaxpr interpreter")
    assert at.session_state["jvp_step"] == 0


def test_the_concretization_sample_shows_the_error_and_the_lax_cond_fix_in_step_two():
    at = new_app({"mode": "walkthrough", "step": "2", "sample": "control_flow_concretization_error"})
    assert "TracerBoolConversionError" in "\n".join(e.value for e in at.error)
    code = "\n".join(c.value for c in at.code)
    assert "lax.cond(x > 0" in code
    assert "Attempted boolean conversion" in code or "boolean" in code.lower()


def test_a_lecture_link_applies_the_stylesheet_and_hides_panels():
    at = new_app({"mode": "walkthrough", "lecture": "1"})
    assert any("lecture mode" in m.value and "<style>" in m.value for m in at.markdown)
    assert at.session_state["lecture"] is True
    at = new_app({"lecture": "1"})
    assert any("font-size: 22px" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.key == "run_time"]
    assert "Stats" not in [t.label for t in at.tabs]
    plain = new_app()
    assert not any("lecture mode" in m.value for m in plain.markdown)
    assert [b for b in plain.button if b.key == "run_time"] and "Stats" in [t.label for t in plain.tabs]


def test_old_links_open_in_explore_mode():
    at = new_app({"sample": "differentiability_grad"})
    assert at.session_state["mode"] == "explore" and not at.session_state["lecture"]
    assert "mode" not in at.query_params


def test_the_source_map_lists_statuses_and_highlights_the_selected_lines_equations():
    shared = {
        "v": state.URL_VERSION,
        "code": NOTHING_PROGRAM,
        "entry": "f",
        "args": "f32[3]",
        "transforms": ["jit"],
    }
    at = new_app({"s": state.encode(shared), "view": "Source map"})
    table = next(b for b in html_bodies(at) if "source-table" in b)
    rows = dict(re.findall(r'data-src="(\d+)".*?class="status">(.*?)</td>', table))
    assert "produced nothing" in rows["5"]  # `n = 3`
    assert rows["6"] == "traced" and rows["7"] == "traced"
    result = at.session_state["last_good"][1]
    smap = source_map(result)
    assert line_info(smap, 5).status == "nothing"
    at.session_state["sm_line"] = 6
    at.run()
    assert not at.exception, at.exception
    shown = panes(at)
    info = line_info(smap, 6)
    for which, printed, model, eqns in (
        ("before", result.jaxpr(0).text, result.jaxpr(0).model, info.eqns_before),
        ("after", result.jaxpr().text, result.jaxpr().model, info.eqns_after),
    ):
        lines = equation_lines(model)
        expected = {n for e in eqns for n in lines[e]}
        assert expected and selected_lines(shown[which]) == expected
        rows = printed.split("\n")
        assert sorted(rows[n - 1].split("=")[1].split()[0] for n in expected) == ["mul", "sin"]
    assert "stablehlo" not in shown  # only the open tab is drawn: a pick re-sends one text
    at.session_state["sm_view"] = "StableHLO"
    at.run()
    assert selected_lines(panes(at)["stablehlo"]) == set(info.stablehlo)


def test_picking_one_equation_outlines_that_equation_alone_and_selects_its_source_line():
    at = new_app({"view": "Source map"})
    result = at.session_state["last_good"][1]
    smap = source_map(result)
    line = 33
    eqns = line_info(smap, line).eqns_after
    assert len(eqns) > 1  # the line made several equations: picking one must not outline them all
    picked = eqns[-1]
    at.selectbox(key="sm_eqn_pick").set_value(picked).run()
    assert not at.exception, at.exception
    assert at.session_state["sm_line"] == line and at.session_state["sm_eqn"] == picked
    lines = equation_lines(result.jaxpr().model)
    assert selected_lines(panes(at)["after"]) == set(lines[picked])
    assert selected_lines(panes(at)["before"]) == set()


def test_a_source_line_outlines_its_equations_inside_cond_branches_too():
    at = new_app({"view": "Source map", "sample": "control_flow_cond"})
    result = at.session_state["last_good"][1]
    smap = source_map(result)
    line = at.session_state["sm_line"]
    eqns = line_info(smap, line).eqns_after
    inline = [e for e in eqns if e.startswith("3/branches")]  # the transposed cond: one-line branches
    assert inline, eqns
    lines = equation_lines(result.jaxpr().model)
    printed = result.jaxpr().text.split("\n")
    for e in inline:
        (n,) = lines[e]
        assert next(x for x in walk(result.jaxpr().model) if x.id == e).text.strip() in printed[n - 1]
    assert selected_lines(panes(at)["after"]) == {n for e in eqns for n in lines[e]}


def test_the_provenance_tab_counts_grad_passes_and_lists_residuals_as_equations():
    at = new_app({"view": "Provenance"})
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Forward (jvp)"]) > 0 and int(metrics["Backward (transpose)"]) > 0
    frame = next(d.value for d in at.dataframe if "saved by" in d.value.columns)
    assert int(metrics["Residuals"]) == len(frame)
    result = at.session_state["last_good"][1]
    texts = {e.id: e.text.splitlines()[0].strip() for e in walk(result.jaxpr().model)}
    grad = grad_provenance(result.jaxpr().model)
    for row, residual in zip(frame.to_dict("records"), grad.residuals, strict=True):
        assert row["saved by"] == texts[residual.produced_by]  # the equation, not `0/jaxpr/12`
        assert row["read by"].split("\n") == [texts[e] for e in residual.consumed_by]
        assert f"{residual.name}:" in row["saved by"] or f" {residual.name}" in row["saved by"]
    # The painted jaxpr is the explorer pane (virtualised: a 12,000-equation grad stays responsive),
    # forward and backward equations filled, each residual underlined where it is saved and read.
    element = next(e for e in at.get("bidi_component") if e.proto.id.endswith("-prov_grad_text"))
    (pane,) = json.loads(element.proto.json)["views"]
    assert pane["text"] == result.jaxpr().text
    where = equation_lines(result.jaxpr().model)
    fills = {int(n): c for n, c in pane["colors"].items()}
    assert {fills[n] for e in grad.forward for n in where[e]} == {FORWARD_FILL}
    assert {fills[n] for e in grad.backward for n in where[e]} == {BACKWARD_FILL}
    for residual in grad.residuals:
        for e in [residual.produced_by, *residual.consumed_by]:
            assert all(residual.name in pane["em"][str(n)] for n in where[e])


@pytest.mark.parametrize("side", ["before", "after"])
def test_equation_lines_find_every_equation_of_a_printed_jaxpr(side):
    at = new_app({"t": ["grad", "jit"], "sample": "differentiability_grad"})
    result = at.session_state["last_good"][1]
    stage = result.jaxpr(0) if side == "before" else result.jaxpr()
    model, printed = stage.model, stage.text
    lines = equation_lines(model)
    rows = printed.split("\n")
    for eqn in walk(model):
        assert rows[lines[eqn.id][0] - 1].strip() == eqn.text.split("\n")[0].strip()


def test_a_big_programs_source_map_waits_for_a_click_and_stays_built_for_later_picks(monkeypatch):
    from app.views import common

    monkeypatch.setattr(common, "ON_DEMAND_EQUATIONS", 3)  # the default sample counts as big
    at = new_app({"view": "Source map"})
    assert not any("source-table" in b for b in html_bodies(at))  # not built: a button asks first
    click(at, "build_smap")
    assert any("source-table" in b for b in html_bodies(at))
    before, picker = at.session_state["sm_line"], at.selectbox(key="sm_line")
    picker.select_index(1 if picker.index == 0 else 0).run()  # a pick reruns the view: it must stay built
    assert not at.exception, at.exception
    assert any("source-table" in b for b in html_bodies(at)) and at.session_state["sm_line"] != before
    assert not [b for b in at.button if b.key == "build_smap"]
