"""Provenance of grad, vmap and jit, from real inspection results."""

from __future__ import annotations

import jax
import jax.extend.core as jex
import pytest

from inspectors import Request, inspect, transforms
from inspectors.catalog import get_sample
from inspectors.mapping import source_map, walk
from inspectors.provenance import batch_axis, grad_provenance, jit_provenance, strip_vmap, vmap_provenance
from inspectors.source import eval_args
from tests.jax_reference import exec_source

GRAD_SAMPLES = ["differentiability_grad", "slides_mlp", "vectorization_per_example_grads"]


def sample_result(name: str):
    """Inspect a sample with its declared defaults (cached by `inspect`)."""
    return inspect(Request(source=get_sample(name).source(), filename=f"samples/{name}.py"))


def jax_name_stacks(name: str) -> list[str]:
    """Every equation's name stack in JAX's own jaxpr of the sample's pipeline, sub-jaxprs included."""
    sample = get_sample(name)
    module = exec_source(sample.source(), f"samples/{name}.py")
    pipeline = transforms.parse_pipeline(sample.transforms)
    g = transforms.apply_pipeline(getattr(module, sample.entry), pipeline)
    closed = jax.make_jaxpr(g)(*eval_args(sample.args, module))
    stacks: list[str] = []

    def visit(jaxpr) -> None:
        for eqn in jaxpr.eqns:
            stacks.append(str(eqn.source_info.name_stack))
            for sub in jex.jaxprs_in_params(eqn.params):
                visit(sub)

    visit(closed.jaxpr)
    return stacks


@pytest.mark.parametrize("name", GRAD_SAMPLES)
def test_grad_forward_and_backward_counts_match_jax_name_stacks(name):
    stacks = jax_name_stacks(name)
    backward = sum("transpose(" in s for s in stacks)
    forward = sum("jvp(" in s and "transpose(" not in s for s in stacks)
    prov = grad_provenance(sample_result(name).jaxpr().model)
    assert (prov.counts["forward"], prov.counts["backward"]) == (forward, backward)
    assert forward and backward


def test_mlp_residuals_are_produced_forward_and_consumed_backward():
    model = sample_result("slides_mlp").jaxpr().model
    prov = grad_provenance(model)
    eqns = {e.id: e for e in walk(model)}
    assert prov.residuals
    for res in prov.residuals:
        producer = eqns[res.produced_by]
        assert res.produced_by in prov.forward and res.name in [v.name for v in producer.outvars]
        assert res.type == next(v.type for v in producer.outvars if v.name == res.name)
        for consumer in res.consumed_by:
            assert consumer in prov.backward and res.name in [v.name for v in eqns[consumer].invars]
    # `tanh`'s output is saved: its derivative 1 - y**2 is built from it
    tanh = next(e for e in walk(model) if e.primitive == "tanh")
    assert tanh.outvars[0].name in {r.name for r in prov.residuals}


def test_a_program_without_grad_has_no_backward_pass():
    prov = grad_provenance(sample_result("control_flow_static_if").jaxpr().model)
    assert prov.counts["backward"] == 0 and not prov.residuals


VMAP_SOURCE = """\
import jax.numpy as jnp


def f(w, x):
    y = jnp.sin(x)
    return jnp.dot(y, w) + 1.0
"""


@pytest.mark.parametrize(
    ("in_axes", "x_spec", "axis"), [("(None, 0)", "f32[5,3]", 0), ("(None, 1)", "f32[3,5]", 1)]
)
def test_vmap_detects_batched_inputs_and_where_the_batch_dimension_goes(in_axes, x_spec, axis):
    request = Request(
        source=VMAP_SOURCE, filename="v.py", args=f"f32[3], {x_spec}", transforms=[f"vmap(in_axes={in_axes})"]
    )
    result = inspect(request)
    assert result.ok, result.error
    prov = vmap_provenance(result.jaxpr(0).model, result.jaxpr().model)
    inputs = [(b.name, b.before_type, b.after_type, b.axis) for b in prov.batched if b.where == "input"]
    assert inputs == [("b", "f32[3]", x_spec, axis)]  # w (`a`) is not batched
    sin = next(e for e in result.jaxpr().model.eqns if e.primitive == "sin")
    assert any(b.where == sin.id and b.axis == axis for b in prov.batched)
    dot = next(m for m in prov.matched if m.primitive == "dot_general")
    # per example `y · w` contracts axis 0; batched on axis 0, y's contracting axis becomes 1
    assert ("dimension_numbers" in dot.changed_params) == (axis == 0)
    outputs = [b for b in prov.batched if b.where == "output"]
    assert [(b.before_type, b.after_type, b.axis) for b in outputs] == [("f32[]", "f32[5]", 0)]


def test_per_example_grads_vmap_provenance():
    result = sample_result("vectorization_per_example_grads")
    prov = vmap_provenance(result.jaxpr(0).model, result.jaxpr().model)
    assert [(b.before_type, b.after_type, b.axis) for b in prov.batched if b.where == "input"] == [
        ("f32[4]", "f32[8,4]", 0),
        ("f32[]", "f32[8]", 0),
    ]
    assert {i.origin for i in prov.introduced} <= {"vmap", "jvp", "transpose(jvp)"}
    assert any(i.origin == "transpose(jvp)" for i in prov.introduced)


def test_vmap_introduced_equations_have_no_per_example_counterpart():
    source = "import jax.numpy as jnp\n\n\ndef f(x, y):\n    return jnp.outer(x, y).sum()\n"
    request = Request(
        source=source, filename="o.py", args="f32[2,3], f32[4]", transforms=["vmap(in_axes=(0, None))"]
    )
    result = inspect(request)
    prov = vmap_provenance(result.jaxpr(0).model, result.jaxpr().model)
    matched = {m.after for m in prov.matched}
    introduced = {i.id for i in prov.introduced}
    assert matched.isdisjoint(introduced)
    assert matched | introduced == {e.id for e in walk(result.jaxpr().model) if not e.subjaxprs}
    assert all(i.origin == "vmap" for i in prov.introduced)


def test_no_vmap_no_vmap_provenance():
    result = sample_result("slides_mlp")
    assert vmap_provenance(result.jaxpr(0).model, result.jaxpr().model) == type(vmap_provenance(None, None))()


def test_jit_provenance_lists_fusions_folded_constants_and_dead_equations():
    result = sample_result("vectorization_per_example_grads")
    smap = source_map(result)
    prov = jit_provenance(result, smap)
    lines = result.request.source.splitlines()
    assert prov.fusions and all(f.kind and f.instructions for f in prov.fusions)
    assert all(1 <= n <= len(lines) for f in prov.fusions for n in f.lines)
    # grad drops the loss value: its forward `integer_pow` is computed in the jaxpr, not in HLO
    dead = next(e for e in walk(result.jaxpr().model) if e.primitive == "integer_pow")
    assert dead.id in prov.eqns_without_hlo
    debug = result.text_of("stablehlo-debug").splitlines()
    assert all("stablehlo.constant" in debug[c.text_line - 1] for c in prov.folded_constants)
    assert prov.hlo_instructions == len(smap.hlo_ops) and prov.stablehlo_ops == len(smap.stablehlo_ops)


def test_shape_helpers():
    assert batch_axis("f32[3]", "f32[3,5]") == 1
    assert batch_axis("f32[3]", "f32[3]") is None
    assert batch_axis("f32[3]", "i32[3,5]") is None
    assert strip_vmap("vmap(transpose(jvp))") == "transpose(jvp)"
    assert strip_vmap("vmap") == ""


def test_provenance_round_trips_through_json():
    result = sample_result("slides_mlp")
    prov = grad_provenance(result.jaxpr().model)
    assert type(prov).from_json(prov.to_json()) == prov
    jit = jit_provenance(result, source_map(result))
    assert type(jit).from_json(jit.to_json()) == jit
