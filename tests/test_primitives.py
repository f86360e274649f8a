"""Primitive cards: descriptions for every sample's primitives, parameters explained against the equation's
real shapes, registered rules read from JAX, live examples equal to the same `jax.lax` call run directly."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import pytest
from jax import lax
from jax.interpreters import ad

from inspectors import Request, inspect, primitives
from inspectors.catalog import list_samples
from inspectors.cli import main
from inspectors.jaxpr_model import build_model
from inspectors.live import inspect_fn
from inspectors.primitives.docs import DOCS, INPUTS
from inspectors.results import InspectionResult, Stage, walk
from inspectors.source import eval_args, read_defaults
from inspectors.transforms import apply_pipeline, parse_pipeline, static_argnums
from tests.browser_util import CHROMIUM, ROOT, wait_idle
from tests.jax_reference import exec_source

PROGRAM = """
import jax
import jax.numpy as jnp
from jax import lax

def f(a, c, img, ker, idx, xs):
    d = lax.dot_general(a, c, (((1,), (0,)), ((), ())))
    e = lax.broadcast_in_dim(d, (4, 2, 5), (1, 2))
    r = jnp.sum(e, axis=(0, 2)) + jnp.max(e, axis=1).sum()
    conv = lax.conv_general_dilated(img, ker, (1, 1), "VALID")
    g = a[idx]
    s = jnp.zeros((6, 3)).at[idx].add(g)
    carry, ys = lax.scan(lambda h, x: (h + x, h * x), 0.0, xs)
    z = lax.cond(r[0] > 0, jnp.sin, jnp.cos, xs)
    return r.sum() + conv.sum() + s.sum() + carry + ys.sum() + z.sum() + jnp.cumsum(xs).sum()
"""
ARGS = "f32[2,3], f32[3,5], f32[1,2,6,7], f32[3,2,2,2], jnp.array([1, 0, 1, 1]), f32[8]"
# `dimension 1 of `a` (size 3)`, `dimensions 0, 2 of `e` (sizes 4, 5)`: every claim an explanation makes.
CLAIM = re.compile(r"dimensions? ([\d, ]+) of `([^`]+)` \(sizes? ([\d, ?]+)\)")


@pytest.fixture(scope="module")
def result() -> InspectionResult:
    return inspect(
        Request(source=PROGRAM, filename="prog.py", fn="f", args=ARGS, transforms=[]), use_cache=False
    )


@pytest.fixture(scope="module")
def grad_result() -> InspectionResult:
    source = "import jax.numpy as jnp\ndef loss(w, x):\n    return jnp.sum(jnp.tanh(x @ w) ** 2)\n"
    req = Request(
        source=source, filename="loss.py", fn="loss", args="f32[3,4], f32[2,3]", transforms=["grad"]
    )
    return inspect(req, use_cache=False)


def card(res: InspectionResult, name: str):
    found = res.primitives.card(name)
    assert found is not None, [c.name for c in res.primitives.cards]
    return found


def eqn_of(res: InspectionResult, use):
    """The model equation a card's use explains."""
    return next(e for e in walk(res.stage(use.stage).model) if e.id == use.eqn)


def meaning(use, param: str) -> str:
    return next(p.meaning for p in use.params if p.name == param)


def types_of(eqn) -> dict[str, tuple[int, ...]]:
    """Each operand's name and shape, read back from the model's type strings."""
    out = {}
    for v in eqn.invars + eqn.outvars:
        dims = re.search(r"\[([\d,]*)\]", v.type)
        out[v.name] = tuple(int(d) for d in dims.group(1).split(",") if d) if dims else ()
    return out


def test_every_dimension_an_explanation_names_has_the_size_the_equation_has(result, grad_result):
    checked = 0
    for res in (result, grad_result):
        for c in res.primitives.cards:
            for use in c.uses:
                shapes = types_of(eqn_of(res, use))
                for note in use.params:
                    for dims, name, sizes in CLAIM.findall(note.meaning):
                        dims = [int(d) for d in dims.split(",")]
                        want = [str(shapes[name][d]) for d in dims]
                        assert [s.strip() for s in sizes.split(",")] == want, (c.name, note)
                        checked += 1
    assert checked > 20


def test_dot_general_names_the_contracted_dimensions_of_its_own_operands(result):
    use = card(result, "dot_general").uses[0]
    value = next(p.value for p in use.params if p.name == "dimension_numbers")
    assert (
        value == "(([1], [0]), ([], []))" and f"dimension_numbers={value}" in eqn_of(result, use).text
    )  # as JAX prints
    a, c = (v.name for v in eqn_of(result, use).invars)
    out = eqn_of(result, use).outvars[0]
    assert meaning(use, "dimension_numbers") == (
        f"contracts dimension 1 of `{a}` (size 3) with dimension 0 of `{c}` (size 3); no batch dimensions; "
        f"`{out.name}` (f32[2,5]) holds the free dimensions of `{a}` (0), then of `{c}` (1)"
    )


def test_conv_names_batch_feature_and_spatial_dimensions(result):
    use = card(result, "conv_general_dilated").uses[0]
    img, ker = (v.name for v in eqn_of(result, use).invars)
    text = meaning(use, "dimension_numbers")
    assert f"batch is dimension 0 of `{img}` (size 1), features dimension 1 of `{img}` (size 2)" in text
    assert (
        f"output features dimension 0 of `{ker}` (size 3), input features dimension 1 of `{ker}` (size 2)"
        in text
    )
    assert "spatial dimensions 2, 3 of" in text and "(sizes 5, 6)" in text  # the result's spatial sizes
    assert meaning(use, "padding") == "no padding ('VALID'): the kernel stays inside the input"
    assert meaning(use, "feature_group_count").startswith("one group")


def test_gather_and_scatter_add_name_the_indexed_dimension(result):
    gather = card(result, "gather").uses[0]
    operand, idx = (v.name for v in eqn_of(result, gather).invars)
    text = meaning(gather, "dimension_numbers")
    assert f"the last dimension of `{idx}`, size 1" in text
    assert f"start positions along dimension 0 of `{operand}` (size 2)" in text
    assert f"the slice's dimension 0 of `{operand}` (size 2) has size 1 and is dropped" in text
    assert "window taken from" in meaning(gather, "slice_sizes") and "1 of 2, 3 of 3" in meaning(
        gather, "slice_sizes"
    )
    scatter = card(result, "scatter-add").uses[0]
    operand, idx, upd = (v.name for v in eqn_of(result, scatter).invars)
    text = meaning(scatter, "dimension_numbers")
    assert f"names a position along dimension 0 of `{operand}` (size 6)" in text
    assert f"dimension 1 of `{upd}` (size 3) of the updates is the window" in text
    assert "adds" in meaning(scatter, "update_jaxpr")


def test_broadcast_and_reductions_name_the_dimensions_they_map_or_remove(result):
    use = card(result, "broadcast_in_dim").uses
    use = next(
        u for u in use if "(1, 2)" in next(p.value for p in u.params if p.name == "broadcast_dimensions")
    )
    d, e = eqn_of(result, use).invars[0].name, eqn_of(result, use).outvars[0].name
    assert meaning(use, "broadcast_dimensions") == (
        f"dimension 0 of `{d}` (size 2) becomes dimension 1 of `{e}` (size 2); dimension 1 of `{d}` (size 5) "
        f"becomes dimension 2 of `{e}` (size 5); the values repeat along the new dimension 0 of `{e}` (size 4)"
    )
    total = next(u for u in card(result, "reduce_sum").uses if "(0, 2)" in u.text)
    assert meaning(total, "axes") == f"adds up dimensions 0, 2 of `{e}` (sizes 4, 5), leaving " + (
        f"`{eqn_of(result, total).outvars[0].name}` (f32[2])"
    )
    top = card(result, "reduce_max").uses[0]
    assert meaning(top, "axes").startswith(f"takes the max over dimension 1 of `{e}` (size 2)")


def test_scan_and_cond_explain_their_operands_by_role(result):
    scan = card(result, "scan").uses[0]
    eqn = eqn_of(result, scan)
    carry, xs = eqn.invars
    assert meaning(scan, "length") == "8 iterations: the scanned inputs' leading dimension"
    assert meaning(scan, "num_carry").startswith(f"1 carry value(s) (`{carry.name}`, returned as `")
    assert f"leading dimension: `{xs.name}` (f32[8])" in meaning(scan, "num_carry")
    cond = card(result, "cond").uses[0]
    index = eqn_of(result, cond).invars[0]
    assert meaning(cond, "branches").startswith(
        f"2 branches; `{index.name}` (i32[]) picks one (clamped to 0…1)"
    )


def test_rules_are_read_from_jaxs_registries():
    prims = {
        e.primitive.name: e.primitive
        for e in jax.make_jaxpr(lambda x: jnp.sin(x) @ x.T)(jnp.ones((2, 2))).eqns
    }
    for prim in prims.values():
        rules = primitives.registered_rules(prim)
        assert rules["jvp"] == (prim in ad.primitive_jvps)
        assert rules["transpose"] == (prim in ad.primitive_transposes)
    assert primitives.registered_rules(prims["sin"])["transpose"] is False  # sin is not linear
    assert primitives.registered_rules(prims["dot_general"])["transpose"] is True


def test_grad_card_counts_forward_and_backward_equations_from_provenance(grad_result):
    dot = card(grad_result, "dot_general")
    prov = grad_result.provenance.grad
    ids = {e.id for e in walk(grad_result.stage("jaxpr:1").model) if e.primitive == "dot_general"}
    fwd, bwd = len(ids & set(prov.forward)), len(ids & set(prov.backward))
    assert (fwd, bwd) == (1, 1)  # one matmul forward; grad is taken for `w` alone: one transposed matmul
    assert (
        f"grad: {fwd} in the forward pass (jvp rules), {bwd} in the backward pass (transposes)"
        in dot.transforms
    )
    assert dot.counts == {"jaxpr:0": 1, "jaxpr:1": 2}


def test_lowering_comes_from_this_programs_stablehlo(result):
    assert card(result, "dot_general").lowers_to == {"stablehlo.dot_general": 1}
    assert "stablehlo.convolution" in card(result, "conv_general_dilated").lowers_to
    assert "stablehlo.while" in card(result, "scan").lowers_to or card(result, "scan").lowering_note
    jit = card(result, "jit")
    assert jit.lowers_to.get("func.call", 0) >= 1


def test_live_example_equals_the_same_lax_call_run_directly(result):
    m, n = jnp.arange(6.0).reshape(2, 3), jnp.arange(6.0).reshape(3, 2)
    direct = {
        "dot_general": lax.dot_general(m, n, (([1], [0]), ([], []))),
        "cumsum": lax.cumsum(jnp.array([0.5, 1.0, 2.0])),
        "broadcast_in_dim": lax.broadcast_in_dim(jnp.array([0.5, 1.0, 2.0]), (2, 3), (1,)),
        "scatter-add": m.T.at[jnp.array([2, 0])].add(10.0),
        "conv_general_dilated": lax.conv_general_dilated(
            jnp.arange(32.0).reshape(1, 2, 4, 4), jnp.ones((1, 2, 2, 2)), (1, 1), "VALID"
        ),
        "scan": lax.scan(lambda c, a: (c + a, c * a), 0.0, jnp.array([0.5, 1.0, 2.0])),
    }
    for name, value in direct.items():
        example = card(result, name).example  # run in the worker, with the program's other examples
        assert example.error == "" and example.output == primitives.show(value), name
        assert primitives.live_example(name).output == example.output  # and on its own, eagerly
    dot = card(result, "dot_general").example
    assert (dot.output, dot.output_type) == ("[[10. 13.] [28. 40.]]", "f32[2,2]")
    assert [name for name, _, _ in dot.inputs] == ["m", "n"]


PREFETCH = """
import json, time
from inspectors.sandbox import jobs, zygote
from inspectors import primitives
from jax._src import xla_bridge
jobs.preload()
examples = zygote._Examples()
examples.start()
deadline = time.monotonic() + 120
while examples.pid is not None and time.monotonic() < deadline:
    taken = examples.collect()
    time.sleep(0.05)
print(json.dumps({"taken": taken, "backends": len(xla_bridge._backends),
                  "ran": {n: [e.code, e.output, e.output_type] for n, e in primitives._RAN.items()}}))
"""


def test_the_zygote_runs_every_example_once_in_a_child_without_starting_a_backend() -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PREFETCH], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["backends"] == 0  # the zygote itself never started JAX's backend: a request still picks devices
    here = primitives.every_example()  # the same table, run in this process
    assert got["taken"] == len(here) == len([d for d in DOCS.values() if d.example]) > 100
    assert got["ran"] == {n: [e["code"], e["output"], e["output_type"]] for n, e in here.items()}


def test_examples_from_elsewhere_are_taken_only_when_they_are_this_tables(monkeypatch) -> None:
    monkeypatch.setattr(primitives, "_RAN", {})
    good = {"code": DOCS["sin"].example, "inputs": [], "output": "[0.1]", "output_type": "f32[1]"}
    offered = {
        "sin": good,
        "cos": {**good, "code": "__import__('os').system('x')"},  # not the table's code for cos
        "tan": {**good, "code": DOCS["tan"].example, "error": "RuntimeError: no"},  # failed there: run here
        "exp": {"code": DOCS["exp"].example, "output": 3},  # not a LiveExample
        "not_a_primitive": good,
    }
    assert primitives.adopt_examples(offered) == 1 and set(primitives._RAN) == {"sin"}
    assert primitives.adopt_examples(["sin"]) == 0


def _binds(code: str, name: str) -> bool:
    namespace = primitives.example_namespace()
    for var in primitives.example_inputs(code):
        namespace[var] = eval(INPUTS[var], namespace)
    closed = jax.make_jaxpr(lambda: eval(code, namespace))()
    found = set()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            found.add(eqn.primitive.name)
            for sub in jex.jaxprs_in_params(eqn.params):
                visit(sub)

    visit(closed.jaxpr)
    return name in found


EXAMPLES = sorted(n for n, d in DOCS.items() if d.example)


def test_every_example_binds_the_primitive_its_card_describes():
    wrong = [n for n in EXAMPLES if not _binds(DOCS[n].example, n)]
    assert not wrong


def test_an_unknown_primitive_still_gets_a_card_from_what_jax_knows():
    source = """
import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import mlir

triple_p = Primitive("my_triple")
triple_p.def_impl(lambda x, *, factor: x * factor)
triple_p.def_abstract_eval(lambda x, *, factor: x)
mlir.register_lowering(triple_p, mlir.lower_fun(lambda x, *, factor: x * factor, multiple_results=False))

def f(x):
    return triple_p.bind(x, factor=3) + 1.0
"""
    res = inspect(
        Request(source=source, filename="custom.py", fn="f", args="f32[4]", transforms=[]), use_cache=False
    )
    assert res.ok, res.error.format()
    custom = card(res, "my_triple")
    assert not custom.described and custom.summary == primitives.NO_DESCRIPTION == "no description yet"
    assert custom.rules == {"jvp": False, "transpose": False, "batching": False, "lowering": True}
    assert [(p.name, p.value, p.meaning) for p in custom.uses[0].params] == [("factor", "3", "")]
    assert "stablehlo.multiply" in custom.lowers_to
    assert custom.example is None and "jvp: none registered" in " ".join(custom.rule_notes)


def test_cards_survive_json_and_come_with_inspect_fn():
    live = inspect_fn(lambda x: jnp.sum(jnp.cumsum(x) * 2.0), jnp.ones(3), transforms=["grad"])
    names = [c.name for c in live.primitives.cards]
    assert {"cumsum", "mul", "reduce_sum"} <= set(names)
    again = InspectionResult.from_json(live.to_json())
    assert again.primitives == live.primitives


def test_emit_primitives_prints_one_line_per_primitive(capsys, tmp_path, result):
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    assert main([str(path), "--fn", "f", "--args", ARGS, "--no-transforms", "--emit", "primitives"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines}
    assert set(rows) == {c.name for c in result.primitives.cards}
    assert re.match(
        r"dot_general\s+1\s+Multiplies and sums over the contracting dimensions.*stablehlo\.dot_general$",
        rows["dot_general"],
    )
    assert rows["jit"].endswith("func.call")


# --- every sample: traced only (fast), every primitive described, every parameter explained -----------


def _sample_results():
    """Yield (sample, result) holding the jaxpr stage of each sample's whole pipeline, and of `f` where it can."""
    for sample in list_samples():
        source = sample.source()
        defaults = read_defaults(source)
        module = exec_source(source, sample.path)
        f = getattr(module, defaults.entry)
        pipeline = parse_pipeline(defaults.transforms)
        args = eval_args(defaults.args, module)
        try:
            closed = jax.make_jaxpr(apply_pipeline(f, pipeline), static_argnums=static_argnums(pipeline))(
                *args
            )
        except Exception:  # noqa: BLE001 - the concretization-error sample fails by design
            continue
        res = InspectionResult(request=Request(source=source, filename=sample.path))
        _, model = build_model(closed, sample.path, source)
        res.put(Stage(id="jaxpr:0", kind="jaxpr", model=model))
        yield sample, res, {0: closed}


@pytest.fixture(scope="module")
def sample_cards():
    return [
        (s, primitives.cards_of(r, closed, with_examples=False, lower=False))
        for s, r, closed in _sample_results()
    ]


def test_every_primitive_of_every_sample_has_a_description(sample_cards):
    missing = {c.name: s.name for s, cards in sample_cards for c in cards.cards if not c.described}
    assert not missing
    assert len({c.name for _, cards in sample_cards for c in cards.cards}) >= 50


def test_every_parameter_of_every_sample_is_explained(sample_cards):
    bare = {
        (c.name, p.name)
        for _, cards in sample_cards
        for c in cards.cards
        for u in c.uses
        for p in u.params
        if not p.meaning
    }
    assert not bare


def test_the_issues_coverage_list_is_described():
    wanted = """add sub mul div neg exp log sin cos tanh max min eq ne lt le gt ge and or not select_n dot_general
        conv_general_dilated reduce_sum reduce_max reduce_min reduce_prod argmax argmin broadcast_in_dim reshape
        transpose squeeze concatenate pad slice dynamic_slice dynamic_update_slice gather scatter scatter-add iota
        sort cumsum cumprod cummax cummin cumlogsumexp convert_element_type random_bits random_seed random_split
        random_fold_in random_wrap random_unwrap threefry2x32 jit cond while scan custom_jvp_call custom_vjp_call
        checkpoint remat2 shard_map psum pmax pmin ppermute all_gather all_to_all axis_index psum_scatter"""
    assert [n for n in wanted.split() if n not in DOCS] == []


# --- the panel ---------------------------------------------------------------------------------------


def test_the_panel_lists_the_programs_primitives_with_jaxs_counts_and_opens_a_card():
    from collections import Counter

    from app import state
    from tests.test_app import new_app

    at = new_app()
    closed = jax.make_jaxpr(jax.grad(_default_entry()))(*_default_args())
    counts: Counter[str] = Counter()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for sub in jex.jaxprs_in_params(eqn.params):
                visit(sub)

    visit(closed.jaxpr)
    labels = {b.key: b.label for b in at.button if (b.key or "").startswith("prim_")}
    assert labels == {f"prim_{n}": f"{n} ×{c}".replace("_", "\\_") for n, c in counts.items()}
    top = max(counts.values())
    assert (
        counts[card_heads(at)[0]] == top and len(card_heads(at)) == 1
    )  # a busiest primitive's card by default
    at.button(key="prim_dot_general").click().run()
    assert not at.exception
    assert card_heads(at) == ["dot_general"]
    body = "\n".join(m.value for m in at.markdown)
    assert "contracts dimension" in body and "`stablehlo.dot_general` ×" in body
    assert state.DEFAULT_SAMPLE == "differentiability_grad"


def card_heads(at) -> list[str]:  # noqa: ANN001 - an AppTest
    """Return the names in the cards' headings on the page (`### dot\\_general`)."""
    heads = [m.value for m in at.markdown if m.value.startswith("### ") and "Explorer" not in m.value]
    return [h[4:].split("  ")[0].replace("\\", "") for h in heads]


def _default_entry():
    from app import state
    from inspectors import catalog, source

    sample = catalog.get_sample(state.DEFAULT_SAMPLE)
    module = source.load_module(sample.source(), state.FILENAME)
    return getattr(module, sample.entry)


def _default_args():
    from app import state
    from inspectors import catalog, source

    sample = catalog.get_sample(state.DEFAULT_SAMPLE)
    module = source.load_module(sample.source(), state.FILENAME)
    return source.eval_args(sample.args, module)


# --- in a real browser: a card opened from the Jaxpr view; lecture mode's large type ------------------

SHOTS = ROOT / "screenshots" / "primitives"
SHOTS.mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize("lecture", [False, True], ids=["explore", "lecture"])
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing")
def test_clicking_a_primitive_in_the_jaxpr_view_opens_its_card(browser, server, lecture):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(f"{server}/?lecture=1" if lecture else server)
    page.wait_for_selector(".pane.prims .nf", timeout=120_000)
    wait_idle(page)
    page.locator(".pane.prims .nf", has_text="dot_general").first.click()
    dialog = page.locator("[role='dialog']")
    dialog.wait_for(timeout=60_000)
    wait_idle(page)
    text = dialog.inner_text()
    assert "dot_general" in text and "contracts dimension" in text and "stablehlo.dot_general" in text
    size = (
        dialog.locator(".st-key-primitive_card_box [data-testid='stMarkdownContainer'] p")
        .nth(1)
        .evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    )
    assert (size >= 24) if lecture else (size < 20), size
    page.screenshot(path=str(SHOTS / f"card_from_jaxpr_{'lecture' if lecture else 'explore'}.png"))
    page.close()


def test_each_equation_the_walkthrough_interprets_links_to_its_card():
    from tests.test_teaching_app import click
    from tests.test_teaching_app import new_app as teaching_app

    at = teaching_app({"mode": "walkthrough", "step": "4", "sample": "differentiability_grad"})
    f, args = _default_entry(), _default_args()
    names = [e.primitive.name for e in jax.make_jaxpr(f)(*args).jaxpr.eqns]
    for k, name in enumerate(names, start=1):
        click(at, "wt_next")
        assert at.session_state["jvp_step"] == k
        popover = next(p for p in at.get("popover") if p.proto.id.endswith("-wt_card"))
        assert popover.proto.popover.label == f"What {name} does".replace("_", "\\_")
        assert card_heads(at)[-1] == name  # the card inside it


def test_a_card_that_fails_to_build_costs_no_other_card(monkeypatch, result):
    real = primitives.lowering_of

    def failing(name, seen, res):  # noqa: ANN001, ANN202
        if name == "gather":
            raise KeyError("a param shaped unlike any rule expects")
        return real(name, seen, res)

    monkeypatch.setattr(primitives, "lowering_of", failing)
    src = Request(source=PROGRAM, filename="prog2.py", fn="f", args=ARGS, transforms=[])
    again = inspect(src, use_cache=False)
    assert {c.name for c in again.primitives.cards} == {c.name for c in result.primitives.cards}
    broken = card(again, "gather")
    assert broken.rule_notes == ["this card could not be completed: KeyError"] and broken.described
    assert card(again, "scatter-add").lowers_to == card(result, "scatter-add").lowers_to
