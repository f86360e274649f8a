"""Walkthrough mode: avals, the concretization error and its fix, the jvp interpreter."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from inspectors import Request
from inspectors.teaching_results import Walkthrough
from inspectors.walkthrough import jvp_by_interpreter, walkthrough, walkthrough_job


@jax.jit
def _inner(x):
    return jnp.sin(x) * x


@jax.custom_jvp
def _softclip(x):
    return jnp.tanh(x)


_softclip.defjvp(lambda primals, tangents: (_softclip(primals[0]), 0.5 * tangents[0]))

X = np.linspace(-1.0, 1.5, 6, dtype=np.float32)
W = np.arange(12, dtype=np.float32).reshape(6, 2) / 10

# (name, function, concrete args)
CASES = [
    ("elementwise", lambda x: jnp.exp(x) * jnp.sin(x) + x**2, (X,)),
    ("dot", lambda x, w: jnp.tanh(x @ w).sum(), (X, W)),
    ("jit_inside", lambda x: _inner(x) + 1.0, (X,)),
    ("relu_via_jax_nn", lambda x: jax.nn.relu(x - 0.2), (X,)),
    ("cond", lambda x: lax.cond(x.sum() > 0, lambda v: v * 3.0, jnp.cos, x), (X,)),
    ("fori_loop", lambda x: lax.fori_loop(0, 3, lambda i, v: v * jnp.sin(v) + i, x), (X,)),
    (
        "while_loop",
        lambda x: lax.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, c[1] * 1.1), (0, x))[1],
        (X,),
    ),
    ("custom_jvp", lambda x: _softclip(x) * 2.0, (X,)),
    ("integer_input", lambda x, n: x * n + jnp.float32(n), (X, np.int32(3))),
]


@pytest.mark.parametrize(("name", "fun", "args"), CASES, ids=[c[0] for c in CASES])
def test_interpreter_tangents_equal_jax_jvp(name, fun, args):
    primals_out, tangents_out, steps = jvp_by_interpreter(fun, *args)
    tangents = jax.tree_util.tree_map(
        lambda a: (
            np.ones_like(a) if np.issubdtype(a.dtype, np.inexact) else np.zeros(a.shape, jax.dtypes.float0)
        ),
        args,
    )
    ref_primals, ref_tangents = jax.jvp(fun, args, tangents)
    np.testing.assert_allclose(primals_out[-1], jax.tree_util.tree_leaves(ref_primals)[-1], rtol=1e-6)
    for got, want in zip(tangents_out, jax.tree_util.tree_leaves(ref_tangents), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert steps, "every function takes at least one step"


def test_interpreter_steps_into_jit_and_treats_cond_as_one_step():
    _, _, steps = jvp_by_interpreter(CASES[2][1], X)
    assert [s.eqn_id for s in steps][:3] == ["0", "0/jaxpr/0", "0/jaxpr/1"]
    _, _, steps = jvp_by_interpreter(CASES[4][1], X)
    cond = next(s for s in steps if s.primitive == "cond")
    assert cond.opaque and cond.out_tangents


SOURCE = """\
import jax.numpy as jnp


def f(x, w):
    n = 3
    y = jnp.tanh(x @ w)
    return (y * n).sum()
"""


def test_walkthrough_records_avals_steps_and_matches_jax():
    w = walkthrough(Request(source=SOURCE, filename="f.py", args="f32[4], f32[4,2]"), inspect_stages=False)
    assert w.error is None and w.trace_error is None
    assert [(a.path, a.aval, a.short) for a in w.avals] == [
        ("x", "ShapedArray(float32[4])", "f32[4]"),
        ("w", "ShapedArray(float32[4,2])", "f32[4,2]"),
    ]
    assert [s.text for s in w.steps] == [e.text for e in w.model.eqns]
    assert w.steps[0].jvp_text.startswith("{ lambda") and "dot_general" in w.steps[0].added_primitives
    assert w.max_abs_diff_vs_jax is not None and w.max_abs_diff_vs_jax < 1e-5
    assert w.jvp_jaxpr.count("dot_general") == 3  # the primal, then dx @ w and x @ dw


def test_concretization_error_is_reported_with_a_lax_cond_fix():
    source = "import jax.numpy as jnp\n\n\ndef relu_if(x):\n    if x > 0:\n        return x\n    return jnp.zeros_like(x)\n"
    w = walkthrough(Request(source=source, filename="r.py", args="f32[]"), inspect_stages=False)
    assert w.trace_error is not None and w.trace_error.kind == "TracerBoolConversionError"
    assert w.trace_error.line == 5
    assert "lax.cond(x > 0, true_fn, false_fn, operands)" in w.fix and "jnp.where(x > 0" in w.fix
    assert w.avals[0].aval == "ShapedArray(float32[])" and not w.steps


def test_walkthrough_job_round_trips_through_json_with_lowering_and_timing():
    payload = {"source": SOURCE, "filename": "f.py", "args": "f32[4], f32[4,2]", "transforms": ["jit"]}
    data = walkthrough_job({**payload, "time_budget_s": 0.05})
    w = Walkthrough.from_json(json.dumps(data))
    assert w.to_dict() == data
    assert w.expression == "jit(f)" and w.steps[0].eqn_id == "0"
    assert w.inspection is not None and w.inspection.ok and w.inspection.timing is not None
    assert "stablehlo.dot_general" in w.inspection.text_of("stablehlo")


def test_prng_keys_and_custom_vjp_are_reported_not_raised():
    source = (
        "import jax\n\n\ndef f(key):\n    return jax.random.normal(jax.random.wrap_key_data(key), (3,))\n"
    )
    w = walkthrough(Request(source=source, filename="k.py", args="key"), inspect_stages=False)
    assert w.error is None and any(s.out_primals[0].startswith("key<") for s in w.steps)
    source = (
        "import jax\n\n\n@jax.custom_vjp\ndef f(x):\n    return x\n\n\n"
        "f.defvjp(lambda x: (x, None), lambda _, g: (g,))\n"
    )
    w = walkthrough(Request(source=source, filename="v.py", fn="f", args="f32[2]"), inspect_stages=False)
    assert w.error is not None and "custom_vjp" in w.error.message


VMAPPED = """\
import jax.numpy as jnp


def score(w, x):
    h = jnp.tanh(x @ w)
    return jnp.where(h > 0, h, 0.1 * h).sum()
"""


@pytest.mark.parametrize(
    "args,pipeline,axes",
    [
        ("f32[3,2], f32[5,3]", ["vmap(in_axes=(None, 0))"], (None, 0)),
        ("f32[3,2], f32[3,5]", ["vmap(in_axes=(None, 1))"], (None, 1)),
        ("f32[3,2], f32[5,3]", ["grad", "vmap(in_axes=(None, 0))", "jit"], (None, 0)),
    ],
)
def test_vmap_interpreter_gives_what_jax_vmap_gives(args, pipeline, axes):
    w = walkthrough(
        Request(source=VMAPPED, filename="v.py", args=args, transforms=pipeline), inspect_stages=False
    )
    run = w.vmap
    assert run is not None and run.error is None, run and run.error
    assert run.batch_size == 5 and run.input_axes == ["not batched", str(axes[1])]
    assert [a.short for a in w.avals] == ["f32[3,2]", "f32[3]"]  # one example, as vmap's f sees it
    assert run.max_abs_diff_vs_jax is not None and run.max_abs_diff_vs_jax <= 1e-5
    dot = next(s for s in run.steps if s.primitive == "dot_general")
    assert dot.in_axes == [str(axes[1]), "not batched"] and dot.out_axes == ["0"]  # x's batch axis
    assert "dot_general" in dot.added_primitives
    # the same check by hand: the interpreter's outputs are jax.vmap's on the same seeded batch
    from inspectors.source import eval_args, materialize
    from tests.jax_reference import exec_source

    module = exec_source(VMAPPED, "v.py")
    batch = materialize(eval_args(args, module))
    expected = np.asarray(jax.vmap(module.score, in_axes=axes)(*batch))
    got = np.array([float(v) for v in run.outputs[0].strip("[]").split()])
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)


def test_no_vmap_in_the_pipeline_means_no_vmap_run():
    w = walkthrough(
        Request(source=VMAPPED, filename="v.py", args="f32[3,2], f32[5,3]", transforms=["grad"]),
        inspect_stages=False,
    )
    assert w.vmap is None and w.steps
