"""The Streamlit app, driven headlessly with `streamlit.testing.v1.AppTest`.

Jaxprs on the page are compared with JAX's own output produced in this process.
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import json
import re
from collections import Counter
from pathlib import Path

import jax
import jax.extend.core as jex
import pytest
from streamlit.testing.v1 import AppTest

from app import backend, safe, state
from app.components.explorer import pane_texts
from app.components.painted import code_block_html
from inspectors import catalog, source
from inspectors.results import walk

APP = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
BROKEN_IF = """import jax.numpy as jnp


def relu(x):
    y = x * 2
    if y > 0:
        return y
    return jnp.zeros_like(y)
"""


def new_app(query: dict[str, str | list[str]] | None = None, plain: bool = True) -> AppTest:
    """Return a fresh app, run once (with the plain text editor, which AppTest can drive)."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["plain_editor"] = plain
    at.session_state["all_views_at_once"] = True  # AppTest runs no browser code to ask for the rest
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def component(at: AppTest, key: str):  # noqa: ANN201
    """Return the explorer component drawn under `key` (None if there is none)."""
    return next((e for e in at.get("bidi_component") if e.proto.id.endswith(f"-{key}")), None)


def code_boxes(at: AppTest, key: str = "jaxpr_text") -> list[str]:
    """Return the texts of the panes of one explorer component (by default the Jaxpr tab's), in order."""
    element = component(at, key)
    return pane_texts(element) if element is not None else []


def jax_jaxpr(sample_name: str, wrap=lambda f: f) -> str:  # noqa: ANN001
    """Return `make_jaxpr(wrap(entry))` of a sample, printed by JAX itself."""
    sample = catalog.get_sample(sample_name)
    module = source.load_module(sample.source(), state.FILENAME)
    args = source.eval_args(sample.args, module)
    return str(jax.make_jaxpr(wrap(getattr(module, sample.entry)))(*args))


def pane_titles(at: AppTest) -> str:
    """Return the titles of the explorer component's panes, joined."""
    return "\n".join(v["title"] for v in json.loads(component(at, "jaxpr_text").proto.json)["views"])


def shared_link(at: AppTest) -> str:
    """Return the `?s=` state the app wrote into the URL."""
    value = at.query_params["s"]
    return value[0] if isinstance(value, list) else value


def markdown(at: AppTest) -> str:
    """Return all markdown on the page, joined."""
    return "\n".join(m.value for m in at.markdown)


def test_default_load_shows_the_default_samples_jaxpr_before_and_after():
    at = new_app()
    assert at.session_state["sample"] == state.DEFAULT_SAMPLE
    before, after = code_boxes(at)
    assert before == jax_jaxpr(state.DEFAULT_SAMPLE)
    assert after == jax_jaxpr(state.DEFAULT_SAMPLE, jax.grad)
    assert "After · grad(loss)" in pane_titles(at)
    assert at.text_area[0].value == catalog.get_sample(state.DEFAULT_SAMPLE).source()


def test_choosing_a_sample_and_adding_jit_updates_the_views():
    at = new_app()
    at.selectbox(key="sample_pick").set_value("vectorization_dot").run()
    assert at.session_state["pipeline"][0]["spec"] == "vmap(in_axes=(0, None))"
    assert code_boxes(at)[1] == jax_jaxpr("vectorization_dot", lambda f: jax.vmap(f, in_axes=(0, None)))

    at.selectbox(key="add_name").set_value("jit")
    at.button(key="add_transform").click().run()
    assert not at.exception
    assert [s["spec"] for s in at.session_state["pipeline"]] == ["vmap(in_axes=(0, None))", "jit"]
    assert "After · jit(vmap(dot, in_axes=(0, None)))" in pane_titles(at)
    expected = jax_jaxpr("vectorization_dot", lambda f: jax.jit(jax.vmap(f, in_axes=(0, None))))
    assert code_boxes(at)[1] == expected


def test_a_step_edit_arriving_with_a_new_sample_is_dropped_not_a_crash():
    at = new_app()
    old = at.session_state["pipeline"][0]["id"]
    # The browser can report the old step's field in the same run that the sample replaces the pipeline.
    at.text_input(key=f"step_{old}").input("jit")
    at.selectbox(key="sample_pick").set_value("vectorization_dot").run()
    assert not at.exception, at.exception
    assert [s["spec"] for s in at.session_state["pipeline"]] == ["vmap(in_axes=(0, None))"]


def test_pipeline_rows_reorder_and_remove():
    at = new_app()
    at.selectbox(key="add_name").set_value("vmap")
    at.text_input(key="add_options").input("in_axes=(None, 0, 0)")
    at.button(key="add_transform").click().run()
    first, _ = (s["id"] for s in at.session_state["pipeline"])
    at.button(key=f"down_{first}").click().run()
    assert [s["spec"] for s in at.session_state["pipeline"]] == ["vmap(in_axes=(None, 0, 0))", "grad"]
    at.button(key=f"rm_{first}").click().run()
    assert [s["spec"] for s in at.session_state["pipeline"]] == ["vmap(in_axes=(None, 0, 0))"]
    assert not at.exception


def test_a_bad_transform_spec_is_refused_with_a_message():
    at = new_app()
    at.text_input(key="add_options").input("argnums=x")
    at.button(key="add_transform").click().run()
    assert [s["spec"] for s in at.session_state["pipeline"]] == ["grad"]
    assert any("must be a literal" in e.value for e in at.error)


def test_a_syntax_error_shows_its_line_and_keeps_the_code_and_the_last_good_views():
    at = new_app()
    good = code_boxes(at)
    broken = at.session_state["code"].replace("residual = x @ w - y", "residual = x @ w - y)")
    at.session_state["code"] = broken
    at.run()
    assert not at.exception
    line = broken.splitlines().index("    residual = x @ w - y)") + 1
    assert any("SyntaxError" in e.value and f"line {line}" in e.value for e in at.error)
    assert at.session_state["code"] == broken
    assert at.text_area[0].value == broken
    assert any("stale" in w.value for w in at.warning)
    assert code_boxes(at)[-2:] == good  # the last good jaxprs, still shown


def test_a_concretization_error_names_the_if_line_and_keeps_the_code():
    at = new_app()
    at.session_state["code"] = BROKEN_IF
    at.session_state["args"] = "f32[]"
    at.session_state["pipeline"] = [state.new_step("jit")]
    at.run()
    assert not at.exception
    line = BROKEN_IF.splitlines().index("    if y > 0:") + 1
    errors = [e.value for e in at.error]
    assert any("TracerBoolConversionError" in e and f"line {line}" in e for e in errors), errors
    assert any("Attempted boolean conversion" in c.value for c in at.code)  # JAX's message, verbatim
    assert at.session_state["code"] == BROKEN_IF
    assert at.text_area[0].value == BROKEN_IF
    assert highlighted_lines(at) == [f"{line}    if y > 0:"]


def highlighted_lines(at: AppTest) -> list[str]:
    """Return the source lines highlighted in the error box (with their line numbers)."""
    bodies = [h.proto.body for h in at.get("html")]
    found = [m for body in bodies for m in re.findall(r'background-color: #ffffcc">(.*?)\n', body)]
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in found]


def test_editing_in_the_text_area_updates_the_code():
    at = new_app()
    new_code = at.session_state["code"].replace("jnp.mean(residual**2)", "jnp.sum(residual**2)")
    at.text_area[0].input(new_code).run()
    assert at.session_state["code"] == new_code
    assert "reduce_sum" in code_boxes(at)[0] and "div" not in code_boxes(at)[0]


def test_the_whole_state_round_trips_through_the_url():
    at = new_app()
    at.selectbox(key="sample_pick").set_value("control_flow_fori_loop").run()
    at.text_input(key="args").input("f32[7], f32[]").run()
    shared = shared_link(at)
    data = state.decode(shared)
    assert data["sample"] == "control_flow_fori_loop"
    assert data["args"] == "f32[7], f32[]"
    assert data["transforms"] == ["grad(argnums=1)", "jit"]

    again = new_app({"s": shared})
    for key in ("code", "sample", "entry", "args", "device"):
        assert again.session_state[key] == at.session_state[key]
    assert [s["spec"] for s in again.session_state["pipeline"]] == data["transforms"]
    assert code_boxes(again) == code_boxes(at)


def test_readable_query_parameters_choose_a_sample_and_a_pipeline():
    at = new_app({"sample": "differentiability_hessian", "t": ["grad", "jit"]})
    assert at.session_state["sample"] == "differentiability_hessian"
    assert [s["spec"] for s in at.session_state["pipeline"]] == ["grad", "jit"]
    assert "After · jit(grad(rosenbrock))" in pane_titles(at)


def test_the_sidebar_shows_the_pipelines_expression_as_escaped_highlighted_code():
    at = new_app({"sample": "slides_log2", "t": ["grad", "jit"]})
    (block,) = at.sidebar.get("html")  # HTML, not st.code: no syntax-highlighter bundle before the jaxpr
    body = block.proto.body
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == "jit(grad(log2))"
    assert body.count("<pre") == 1
    hostile = code_block_html("f(x='</pre><script>alert(1)</script>')")
    assert "<script" not in hostile and hostile.count("</pre>") == 1


def test_a_fresh_page_draws_the_sidebar_in_the_run_its_jaxpr_asks_for_with_what_the_request_read():
    # A link whose entry the code does not define and whose device the split lacks: corrected before the
    # request is made, though the sidebar (whose widgets used to correct them) is not drawn in that run.
    new_app()  # the same program's result, stored: answered at once (a request that waits draws the sidebar)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["plain_editor"] = False  # Ace, as a browser gets it: the first run shows static code
    at.run()
    assert not at.exception, at.exception
    assert "_editor_live" not in at.session_state and len(at.sidebar.selectbox) == 0  # no sidebar widget yet
    assert "After · grad(loss)" in pane_titles(at)  # the views are there
    # In the sidebar: asks for the next run (the whole app) once the Jaxpr view's rows are drawn.
    assert json.loads(component(at, "editor_mount").proto.json) == {"wait_ms": 2500, "rows": True}
    # Meanwhile the code is static, as Ace will first show it: from `def loss` (Ace scrolls there), numbered.
    (static,) = [h.proto.body for h in at.get("html") if 'class="gutter"' in h.proto.body]
    gutter, code = re.search(r'<pre class="gutter">(.*?)</pre>.*?<code>(.*?)</code>', static, re.S).groups()
    sample = (Path(APP).parent.parent / "samples" / "differentiability_grad.py").read_text().split("\n")
    first = sample.index("def loss(w, x, y):") + 1
    assert gutter.split("\n")[:3] == [str(first), str(first + 1), str(first + 2)]
    assert html.unescape(re.sub(r"<[^>]+>", "", code)).split("\n")[:2] == sample[first - 1 : first + 1]
    at.session_state["entry"], at.session_state["device"] = "gone", "tpu:7"
    at.session_state["_editor_live"] = True  # what the marker's state change sets, once the jaxpr is drawn
    at.run()
    assert not at.exception, at.exception
    assert (at.session_state["entry"], at.session_state["device"]) == ("", "")  # settled before the request
    assert {s.key for s in at.sidebar.selectbox} >= {"sample_pick", "entry", "device", "devices", "add_name"}
    assert "After · grad(loss)" in pane_titles(at) and at.sidebar.selectbox(key="entry").value == ""
    at.sidebar.selectbox(key="sample_pick").set_value("slides_log2").run()  # and it drives the page
    assert not at.exception, at.exception
    assert at.session_state["sample"] == "slides_log2" and "After · log2" in pane_titles(at)


def test_a_fresh_page_on_a_view_of_streamlits_own_elements_asks_for_the_sidebar_once_any_is_drawn():
    from app.views.tabs import PANE_VIEWS, TABS

    new_app()  # the result stored: answered at once
    for view, rows in (("Stats", False), ("Memory", False), ("Graph", True)):  # a graph's SVG is its first paint
        at = AppTest.from_file(APP, default_timeout=90)
        at.session_state["plain_editor"] = False
        at.query_params["view"] = view
        at.run()
        assert not at.exception, at.exception
        assert json.loads(component(at, "editor_mount").proto.json)["rows"] is rows
    assert PANE_VIEWS < {name for name, _ in TABS}  # every name is a tab's


def test_a_fresh_page_whose_request_waits_draws_the_sidebar_while_it_waits():
    import uuid

    code = f"import time\n\n\ndef f(x):  # {uuid.uuid4()}\n    time.sleep(1.5)\n    return x * 2\n"
    link = {"v": state.URL_VERSION, "code": code, "sample": None, "entry": "f", "args": "f32[3]", "device": "",
            "debug_locations": False, "time_budget_s": 1.0, "transforms": [], "graph": {}, "stages": []}  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["plain_editor"] = False  # a browser's first page: Ace (and the sidebar) wait for the jaxpr
    at.query_params["s"] = state.encode(link)
    at.run()
    assert not at.exception, at.exception
    assert "After · f" in pane_titles(at)
    # The trace sleeps 1.5 s: the sidebar is drawn during the wait, in this first run, once.
    assert [s.key for s in at.sidebar.selectbox].count("entry") == 1 and at.sidebar.text_input(key="args").value == "f32[3]"


def test_a_corrupt_shared_link_falls_back_to_the_default_sample():
    at = new_app({"s": "not-a-valid-state"})
    assert at.session_state["sample"] == state.DEFAULT_SAMPLE
    assert any("could not be restored" in w.value for w in at.warning)


def test_switching_tabs_reuses_the_cached_result(monkeypatch):
    calls = []
    real = backend.run_inspection
    monkeypatch.setattr(backend, "run_inspection", lambda req, **kw: calls.append(req) or real(req, **kw))
    at = new_app()
    calls.clear()
    for tab in ["Graph", "StableHLO", "Compiled HLO", "Stats", "Jaxpr", "Stats"]:
        at.session_state["view"] = tab
        at.run()
        assert not at.exception, (tab, at.exception)
    assert calls == []
    assert any(d.value is not None for d in at.dataframe)


def test_the_stats_tab_counts_the_equations_of_jax_own_jaxprs_before_and_after():
    code = "import jax.numpy as jnp\n\n\ndef f(x):\n    return jnp.sum(jnp.sin(x) * x)\n"
    at = new_app({"view": "Stats"})
    at.session_state["pipeline"] = [state.new_step("grad")]
    at.text_area[0].input(code).run()
    at.text_input(key="args").input("f32[3]").run()
    assert not at.exception, at.exception
    f = source.load_module(code, state.FILENAME).f
    x = jax.ShapeDtypeStruct((3,), jax.numpy.float32)
    before, after = jax.make_jaxpr(f)(x).jaxpr.eqns, jax.make_jaxpr(jax.grad(f))(x).jaxpr.eqns
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Equations before"], metrics["Equations after"]) == (str(len(before)), str(len(after)))
    names = {e.primitive.name for e in before + after}
    assert metrics["Primitives used"] == str(len(names))
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["before", "after", "change"])
    assert len(table) == len(names) and (table["before"].sum(), table["after"].sum()) == (len(before), len(after))


def test_a_new_result_draws_the_open_view_first_and_each_other_view_when_the_browser_asks():
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["plain_editor"] = True
    at.query_params["view"] = "Graph"
    at.run()
    assert not at.exception, at.exception
    assert component(at, "jaxpr_graph_after_view") is not None  # the open view, drawn in the page's run
    assert component(at, "jaxpr_text") is None and not at.dataframe  # the others wait for the browser...
    marker = json.loads(component(at, "wake_views").proto.json)
    assert marker["drawn"] is False and marker["id"] == state.request_key(at.session_state["last_good"][1].request)
    # What the marker's answer records (AppTest runs no browser code to send it): every view is drawn.
    at.session_state["_views_drawn"] = marker["id"]
    at.run()
    assert code_boxes(at) and component(at, "jaxpr_graph_after_view") is not None and at.dataframe


def test_stablehlo_and_hlo_tabs_show_the_lowered_and_compiled_text():
    at = new_app()
    at.session_state["view"] = "StableHLO"
    at.run()
    assert code_boxes(at, "stablehlo_text")[0].startswith("module @jit_loss")
    assert code_boxes(at, "hlo_text")[0].startswith("HloModule")


@pytest.mark.slow
def test_run_and_time_shows_timing_and_outputs():
    at = new_app()
    at.select_slider(key="time_budget_s").set_value(0.25)
    at.button(key="run_time").click().run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert {"Min call", "Median call", "p90 call", "Achieved FLOP/s"} <= set(labels)
    assert any(re.search(r"\d+ repeats × \d+ calls", c.value) for c in at.caption)
    assert any(c.value.startswith("[") for c in at.code)  # the output preview


def test_a_failing_transform_keeps_the_views_that_did_succeed():
    at = new_app()
    at.selectbox(key="sample_pick").set_value("vectorization_dot").run()
    at.selectbox(key="add_name").set_value("grad")
    at.button(key="add_transform").click().run()  # grad of a vector-valued function
    assert not at.exception
    assert any("TypeError" in e.value for e in at.error)
    assert not any("stale" in w.value for w in at.warning)
    assert len(code_boxes(at)) == 1  # the jaxpr before the transforms, still current


def test_the_stablehlo_tab_toggles_source_locations_without_re_tracing():
    at = new_app()
    at.session_state["view"] = "StableHLO"
    at.run()
    assert "loc(" not in code_boxes(at, "stablehlo_text")[0]
    at.toggle(key="debug_locations_toggle").set_value(True).run()
    assert "loc(" in code_boxes(at, "stablehlo_text")[0]
    assert state.decode(shared_link(at))["debug_locations"] is True


def test_a_shared_link_keeps_the_graph_options_and_the_open_view():
    at = new_app()
    at.session_state["view"] = "Graph"
    at.run()
    at.number_input(key="jaxpr_graph_depth").set_value(5).run()
    at.selectbox(key="jaxpr_graph_colour").set_value("provenance").run()
    at.text_input(key="jaxpr_graph_search").input("dot_general").run()
    at.selectbox(key="jaxpr_graph_dir").set_value("LR").run()
    assert not at.exception, at.exception
    shared = shared_link(at)
    assert state.decode(shared)["graph"] == {
        "jaxpr_graph_depth": 5,
        "jaxpr_graph_colour": "provenance",
        "jaxpr_graph_search": "dot_general",
        "jaxpr_graph_dir": "LR",
    }
    at.session_state["view"] = "Stats"  # the options outlive the tab that draws them
    at.run()
    assert state.decode(shared_link(at))["graph"]["jaxpr_graph_depth"] == 5

    again = new_app({"s": shared, "view": "Graph"})
    assert again.number_input(key="jaxpr_graph_depth").value == 5
    assert again.selectbox(key="jaxpr_graph_colour").value == "provenance"
    assert again.text_input(key="jaxpr_graph_search").value == "dot_general"
    assert again.selectbox(key="jaxpr_graph_dir").value == "LR"


@pytest.mark.slow
def test_a_link_reopens_the_device_count_and_a_short_link_can_name_it():
    at = new_app({"sample": "parallelization_reshard", "view": "Sharding"})
    at.selectbox(key="devices").set_value(4).run()
    assert not at.exception, at.exception
    shared = shared_link(at)
    assert state.decode(shared)["devices"] == 4 and "devices" not in at.query_params

    again = new_app({"s": shared, "view": "Sharding"})
    assert not [w.value for w in again.warning if "could not be restored" in w.value]
    assert again.session_state["devices"] == 4 and again.selectbox(key="devices").value == 4
    sharding = again.session_state["last_good"][1].sharding
    assert (sharding.available, sharding.devices) == (4, 4)  # the worker split the CPU into 4
    assert {m.label: m.value for m in again.metric}["Devices"] == "4"

    short = new_app({"sample": "parallelization_reshard", "devices": "4", "view": "Sharding"})
    assert short.session_state["devices"] == 4
    assert short.session_state["last_good"][1].sharding.available == 4
    assert state.decode(shared_link(short))["devices"] == 4  # the short form becomes the full link
    plain = new_app({"sample": "parallelization_reshard"})
    assert plain.session_state["devices"] == "" and state.decode(shared_link(plain))["devices"] == ""


def test_links_in_every_older_format_keep_opening():
    version_1 = {  # what the explorer wrote before graph options joined the link
        "v": 1,
        "code": catalog.get_sample("vectorization_dot").source(),
        "sample": "vectorization_dot",
        "entry": "",
        "args": "",
        "device": "",
        "debug_locations": False,
        "time_budget_s": 1.0,
        "transforms": ["vmap(in_axes=(0, None))", "jit"],
    }
    at = new_app({"s": state.encode(version_1)})
    assert not at.warning, [w.value for w in at.warning]
    assert at.session_state["sample"] == "vectorization_dot" and at.session_state["devices"] == ""
    assert [s["spec"] for s in at.session_state["pipeline"]] == version_1["transforms"]
    assert code_boxes(at)[1] == jax_jaxpr("vectorization_dot", lambda f: jax.jit(jax.vmap(f, in_axes=(0, None))))
    readable = new_app({"sample": "vectorization_dot", "t": ["vmap(in_axes=(0, None))", "jit"]})
    assert code_boxes(readable) == code_boxes(at)
    future = new_app({"s": state.encode({**version_1, "v": 99})})
    assert any("newer version" in w.value for w in future.warning)


def test_stale_views_only_ever_come_from_the_same_program():
    at = new_app()
    at.selectbox(key="sample_pick").set_value("control_flow_concretization_error").run()
    assert any("TracerBoolConversionError" in e.value for e in at.error)
    assert not any("stale" in w.value for w in at.warning)  # not the previous sample's jaxprs
    assert code_boxes(at) == []

    own = new_app()
    own.text_area[0].input("import jax.numpy as jnp\n\n\ndef mine(x):\n    return jnp.sin(x) +\n").run()
    assert any("SyntaxError" in e.value for e in own.error)
    assert not any("stale" in w.value for w in own.warning)  # not the default sample under the user's code
    assert code_boxes(own) == []


def test_replacing_the_code_entirely_makes_it_your_own_code():
    at = new_app()
    assert any(e.label.startswith("About this sample") for e in at.expander)
    at.text_area[0].input("import jax.numpy as jnp\n\n\ndef mine(x):\n    return jnp.sin(x) * 2.0\n").run()
    at.text_input(key="args").input("f32[3]").run()
    assert at.session_state["sample"] is None
    assert at.selectbox(key="sample_pick").value == ""  # shown as "Your own code"
    assert not any(e.label.startswith("About this sample") for e in at.expander)
    edited = new_app()
    edited.text_area[0].input(edited.session_state["code"].replace("jnp.mean", "jnp.sum")).run()
    assert edited.session_state["sample"] == state.DEFAULT_SAMPLE  # an edit keeps its sample


def test_inputs_can_use_jnp_np_and_jax_without_importing_them():
    code = "def scale(a, x):\n    return a * x\n"
    at = new_app()
    at.session_state["pipeline"] = []
    at.text_area[0].input(code).run()
    at.text_input(key="args").input("2.0, jnp.arange(3.0) + np.float32(1) + jax.numpy.zeros(3)").run()
    assert not at.error, [e.value for e in at.error]

    def scale(a, x):
        return a * x

    assert code_boxes(at)[0] == str(jax.make_jaxpr(scale)(2.0, jax.numpy.arange(3.0)))
    module = source.load_module(code, state.FILENAME)  # the same evaluation serves the CLI's --args
    (a, x) = source.eval_args("2.0, jnp.arange(3.0)", module)
    assert a == 2.0 and x.tolist() == [0.0, 1.0, 2.0]


def test_the_stage_strip_compares_two_stages_and_a_link_reopens_the_pair():
    name = "vectorization_per_example_grads"
    at = new_app({"sample": name, "view": "Stages"})
    at.session_state["stages"] = ["jaxpr:1", "jaxpr:2"]
    at.run()
    assert not at.exception, at.exception
    sample = catalog.get_sample(name)
    module = source.load_module(sample.source(), state.FILENAME)
    f = getattr(module, sample.entry)
    params, (x, y) = source.eval_args(sample.args, module)
    per_example = (params, (jax.ShapeDtypeStruct(x.shape[1:], x.dtype), jax.ShapeDtypeStruct(y.shape[1:], y.dtype)))
    grad_text = str(jax.make_jaxpr(jax.grad(f))(*per_example))
    vmap_text = str(jax.make_jaxpr(jax.vmap(jax.grad(f), in_axes=(None, 0)))(params, (x, y)))
    assert code_boxes(at, "stage_diff") == [grad_text, vmap_text]
    diff = json.loads(component(at, "stage_diff").proto.json)["views"]
    gained = sorted(int(n) for n in diff[1]["colors"])
    expected = [j + 1 for tag, _, _, j1, j2 in difflib.SequenceMatcher(
        None, grad_text.split("\n"), vmap_text.split("\n")).get_opcodes() if tag != "equal" for j in range(j1, j2)]  # fmt: skip
    assert gained == expected and gained  # vmap changed these lines of grad's jaxpr

    def counts(closed) -> Counter:  # primitives of a jaxpr and its sub-jaxprs, read from JAX's own objects
        found = Counter()
        for eqn in closed.jaxpr.eqns if hasattr(closed, "jaxpr") else closed.eqns:
            found[eqn.primitive.name] += 1
            for sub in jex.jaxprs_in_params(eqn.params):
                found += counts(sub)
        return found

    def changed_counts(app: AppTest, a: str, b: str) -> dict:  # the "What changed" table: primitive → (a, b)
        tables = [d.value for d in app.dataframe if list(d.value.columns) == [a, b, "change"]]
        return {p: (a, b) for p, (a, b, _) in tables[0].iterrows()} if tables else {}

    # vmap batched every equation but added or removed none: JAX's counts agree, and no table is shown
    assert counts(jax.make_jaxpr(jax.grad(f))(*per_example)) == counts(
        jax.make_jaxpr(jax.vmap(jax.grad(f), in_axes=(None, 0)))(params, (x, y))
    )
    assert changed_counts(at, "jaxpr:1", "jaxpr:2") == {}
    link = shared_link(at)
    assert state.decode(link)["stages"] == ["jaxpr:1", "jaxpr:2"]
    again = new_app({"s": link, "view": "Stages"})
    assert code_boxes(again, "stage_diff") == [grad_text, vmap_text]
    at.session_state["stages"] = ["jaxpr:0", "jaxpr:1"]  # grad's own step: the backward pass's equations
    at.run()
    before, after = counts(jax.make_jaxpr(f)(*per_example)), counts(jax.make_jaxpr(jax.grad(f))(*per_example))
    table = changed_counts(at, "jaxpr:0", "jaxpr:1")
    assert table and table == {p: (before[p], after[p]) for p in before | after if before[p] != after[p]}
    assert [abs(b - a) for a, b in table.values()] == sorted((abs(b - a) for a, b in table.values()), reverse=True)


def test_graph_search_finds_a_function_by_name():
    code = (
        "import jax.numpy as jnp\n\n\ndef softmax(x):\n    e = jnp.exp(x)\n    return e / jnp.sum(e)\n\n\n"
        "def f(x):\n    return jnp.sum(softmax(x) * 2.0)\n"
    )
    at = new_app({"view": "Graph"})
    at.session_state["pipeline"] = []
    at.text_area[0].input(code).run()
    at.text_input(key="args").input("f32[4]").run()
    at.text_input(key="jaxpr_graph_search").input("softmax").run()
    assert not at.exception, at.exception
    graph = json.loads(component(at, "jaxpr_graph_after_view").proto.json)
    model = at.session_state["last_good"][1].jaxpr().model
    inside = {f"eqn_{e.id}" for e in walk(model) if e.source and e.source.function == "softmax"}
    assert inside and set(graph["matches"]) == inside  # exp, reduce_sum, div: the lines of `softmax`


NEVER_ENDING = """import jax.numpy as jnp
from jax import lax


def spin(x):
    return lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] * 1, c[1] + 1.0), (0, x))[1]
"""


@pytest.mark.slow
def test_a_run_that_never_ends_names_the_run_stage_and_the_loop_line(monkeypatch):
    pool = backend.pool()  # locally a run may take 30 minutes: this one gets 10 s (tracing and compiling
    # it take about 1 s)
    monkeypatch.setattr(pool, "limits", dataclasses.replace(pool.limits, timeout_s=10.0))
    at = new_app()
    at.session_state["pipeline"] = [state.new_step("jit")]
    at.text_area[0].input(NEVER_ENDING).run()
    at.text_input(key="args").input("f32[]").run()
    assert not at.error, [e.value for e in at.error]  # tracing, lowering and compiling end
    at.select_slider(key="time_budget_s").set_value(0.25)
    at.button(key="run_time").click().run(timeout=180)
    errors = [e.value for e in at.error]
    assert any("Timeout" in e and "during *run*" in e for e in errors), errors
    line = NEVER_ENDING.splitlines().index("    return lax.while_loop(lambda c: c[0] < 10, "
                                           "lambda c: (c[0] * 1, c[1] + 1.0), (0, x))[1]") + 1  # fmt: skip
    assert any(f"line {line}" in i.value for i in at.info), ([i.value for i in at.info], errors)


def _preview_script() -> None:
    """A page that gets the jaxpr stage of a streamed result while the rest is still coming."""
    import streamlit as st

    from app.views.common import Progress
    from inspectors.results import InspectionResult, Request, Stage

    request = Request(source="def f(x):\n    return x\n", transforms=["grad"])
    partial = InspectionResult(request=request, running="compile")
    partial.put(Stage(id="jaxpr:1", kind="jaxpr", name="grad(f)", expression="grad(f)",
                      text="{ lambda ; a:f32[]. let  in (1.0:f32[],) }"))  # fmt: skip
    Progress(st.empty())(partial)


def test_the_first_jaxpr_shows_while_later_stages_are_still_coming():
    at = AppTest.from_function(_preview_script).run()
    assert not at.exception
    # The whole jaxpr, in the explorer pane the Jaxpr view uses (searchable), titled as that view titles it.
    assert code_boxes(at, "jaxpr_preview") == ["{ lambda ; a:f32[]. let  in (1.0:f32[],) }"]
    assert json.loads(component(at, "jaxpr_preview").proto.json)["views"][0]["title"] == "After · grad(f)"
    assert "grad\\(f\\)" in at.caption[0].value and "now: **compile**" in at.caption[0].value  # escaped markdown


def test_a_rerun_asked_for_while_the_preview_draws_waits_until_the_request_is_done():
    from app.views.common import Progress
    from inspectors.results import InspectionResult, Request, Stage

    class Slot:
        def container(self, **kwargs):
            raise KeyboardInterrupt  # stands in for Streamlit's rerun, a BaseException
        def empty(self):
            pass

    preview = Progress(Slot())
    partial = InspectionResult(request=Request(source=""))
    partial.put(Stage(id="jaxpr:0", kind="jaxpr", name="f", text="{ lambda ; . let  in () }"))
    preview(partial)  # the worker's stream is never interrupted
    preview(partial)
    with pytest.raises(KeyboardInterrupt):
        preview.finish()


def _ticking_script(finished: bool) -> None:
    """A page whose request ran a while with no stage arriving (Stop offered), finished or not."""
    import streamlit as st

    from app.views.common import Progress

    preview = Progress(st.empty())
    preview.tick()
    if finished:
        preview.finish()
    st.write("after")


def test_stop_is_offered_while_a_request_runs_and_gone_once_it_finished():
    running = AppTest.from_function(_ticking_script, kwargs={"finished": False}).run()
    assert not running.exception and [b.label for b in running.button] == ["Stop"]
    done = AppTest.from_function(_ticking_script, kwargs={"finished": True}).run()
    assert not done.exception and [b.label for b in done.button] == []


def test_a_pass_diff_says_what_the_pass_did_and_a_transform_diff_lists_equations_by_origin():
    from inspectors import diff as structural
    from inspectors import pipeline
    from inspectors.results import Request

    sample = catalog.get_sample("slides_mlp")
    mine = pipeline.inspect(Request(source=sample.source(), filename=state.FILENAME))
    fusion = next(s for s in mine.stages if s.kind == "hlo-pass" and s.pass_name == "fusion")
    before = f"hlo-pass:{fusion.index - 1}"
    headline = structural.diff(mine, before, fusion.id).summary[0]
    assert headline.startswith("fusion: ") and "fusions" in headline
    at = new_app({"sample": "slides_mlp", "view": "Stages"})
    at.session_state["stages"] = [before, fusion.id]
    at.run()
    assert not at.exception, at.exception
    assert safe.md(headline) in [c.value for c in at.caption]  # escaped: code names may hold markdown signs
    at.session_state["stages"] = ["jaxpr:0", "jaxpr:1"]  # loss → grad(loss)
    at.run()
    rows = structural.diff(mine, "jaxpr:0", "jaxpr:1").rows
    shown = at.dataframe[0].value
    assert len(shown) == len([r for r in rows if r.status != "same"])
    assert "backward" in set(shown["origin"])
