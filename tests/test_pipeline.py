"""The inspection core: exact JAX text, structured models, errors as data, timing."""

from __future__ import annotations

import json
import re
from collections import Counter

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np
import pytest

from inspectors import Request, inspect
from inspectors.jaxpr_model import count_primitives, walk
from inspectors.results import InspectionResult
from tests.jax_reference import exec_source, reference_texts

MLP = """\
import jax
import jax.numpy as jnp


def predict(params, x):
    for w, b in params:
        x = jnp.tanh(x @ w + b)
    return x


def loss(params, x):
    return jax.nn.relu(predict(params, x)).sum()


def two(x, y):
    return jnp.sum(jnp.sin(x) * y)


def unrolled(x, n):
    for _ in range(n):
        x = jnp.cos(x)
    return x.sum()
"""
MLP_ARGS = "[(f32[8,16], f32[16]), (f32[16,1], f32[1])], f32[4,8]"
MLP_SPECS = (
    [
        (jax.ShapeDtypeStruct((8, 16), jnp.float32), jax.ShapeDtypeStruct((16,), jnp.float32)),
        (jax.ShapeDtypeStruct((16, 1), jnp.float32), jax.ShapeDtypeStruct((1,), jnp.float32)),
    ],
    jax.ShapeDtypeStruct((4, 8), jnp.float32),
)
S3 = jax.ShapeDtypeStruct((3,), jnp.float32)
S2x3 = jax.ShapeDtypeStruct((2, 3), jnp.float32)


def named(fun, name):
    """Give a lambda the name JAX will print for it."""
    fun.__name__ = name
    return fun


# (fn, args expr, pipeline, the same thing written with JAX directly, arg specs, static_argnums)
TRANSFORM_CASES = [
    ("loss", MLP_ARGS, [], lambda f: f, MLP_SPECS, ()),
    ("loss", MLP_ARGS, ["grad"], lambda f: jax.grad(f), MLP_SPECS, ()),
    ("two", "f32[3], f32[3]", ["grad(argnums=1)"], lambda f: jax.grad(f, argnums=1), (S3, S3), ()),
    ("two", "f32[3], f32[3]", ["value_and_grad"], jax.value_and_grad, (S3, S3), ()),
    (
        "two",
        "f32[3], f32[2,3]",
        ["vmap(in_axes=(None, 0))"],
        lambda f: jax.vmap(f, in_axes=(None, 0)),
        (S3, S2x3),
        (),
    ),
    ("loss", MLP_ARGS, ["jit"], jax.jit, MLP_SPECS, ()),
    (
        "unrolled",
        "f32[3], 3",
        ["jit(static_argnums=1)"],
        lambda f: jax.jit(f, static_argnums=1),
        (S3, 3),
        (1,),
    ),
    (
        "two",
        "f32[3], f32[3]",
        ["jvp"],
        lambda f: named(lambda *args: jax.jvp(f, args, tuple(jnp.ones_like(x) for x in args)), "jvp_two"),
        (S3, S3),
        (),
    ),
    (
        "two",
        "f32[3], f32[3]",
        ["vjp"],
        lambda f: named(
            lambda *args: (lambda o, pb: (o, pb(jnp.ones_like(o))))(*jax.vjp(f, *args)), "vjp_two"
        ),
        (S3, S3),
        (),
    ),
    ("two", "f32[3], f32[3]", ["jacfwd"], jax.jacfwd, (S3, S3), ()),
    ("two", "f32[3], f32[3]", ["jacrev"], jax.jacrev, (S3, S3), ()),
    ("two", "f32[3], f32[3]", ["hessian"], jax.hessian, (S3, S3), ()),
    ("loss", MLP_ARGS, ["checkpoint", "grad"], lambda f: jax.grad(jax.checkpoint(f)), MLP_SPECS, ()),
    (
        "two",
        "f32[3], f32[2,3]",
        ["grad", "vmap(in_axes=(None, 0))", "jit"],
        lambda f: jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0))),
        (S3, S2x3),
        (),
    ),
]


def strip_locations(text: str) -> str:
    """Drop MLIR location attributes (`loc(#loc3)`, `loc("f.py":3:4)`) and alias lines."""
    lines = [ln for ln in text.splitlines() if not ln.startswith("#loc")]
    return re.sub(r' loc\((#loc\d*|"[^"]*":\d+:\d+)\)', "", "\n".join(lines))


def strip_stack_frames(text: str) -> str:
    """Drop HLO's source tables (they name every caller's file) and the ids into them."""
    text = re.sub(r"\n(FileNames|FunctionNames|FileLocations|StackFrames)\n(.+\n)*", "\n", text)
    return re.sub(r"stack_frame_id=\d+", "stack_frame_id=N", text)


def _inspect(**kwargs) -> InspectionResult:
    return inspect(Request(**kwargs), use_cache=False)


@pytest.mark.parametrize(
    "fn,args,pipeline,by_hand,specs,static",
    TRANSFORM_CASES,
    ids=[f"{c[0]}:{'+'.join(c[2]) or 'none'}" for c in TRANSFORM_CASES],
)
def test_every_stage_matches_jax_own_output(fn, args, pipeline, by_hand, specs, static):
    result = _inspect(source=MLP, filename="mlp.py", fn=fn, args=args, transforms=pipeline)
    assert result.ok, result.error and result.error.format()
    f = getattr(exec_source(MLP, "mlp.py"), fn)
    per_example = (S3, S3) if any(t.startswith("vmap") for t in pipeline) else None
    expected = reference_texts(by_hand(f), f, specs, static, per_example)
    assert result.jaxpr(0).text == expected["before"]
    assert result.jaxpr().text == expected["after"]
    assert result.text_of("stablehlo") == expected["stablehlo"]
    # Debug locations hold the whole call stack, which differs between call sites:
    # stripped of them, the debug variant is the plain text, and it names the user's file.
    assert strip_locations(result.text_of("stablehlo-debug")) == strip_locations(expected["stablehlo_debug"])
    assert '"mlp.py":' in result.text_of("stablehlo-debug")
    assert strip_stack_frames(result.text_of("hlo")) == strip_stack_frames(expected["hlo"])
    assert '"mlp.py"' in result.text_of("hlo")


def test_expression_reads_like_the_jax_code():
    result = _inspect(
        source=MLP, fn="two", args="f32[3], f32[2,3]", transforms=["grad", "vmap(in_axes=(None, 0))", "jit"]
    )
    assert result.expression == "jit(vmap(grad(two), in_axes=(None, 0)))"


def _count_jaxpr_eqns(jaxpr) -> Counter:
    counts = Counter()
    for eqn in jaxpr.eqns:
        counts[eqn.primitive.name] += 1
        for sub in jex.jaxprs_in_params(eqn.params):
            counts += _count_jaxpr_eqns(sub)
    return counts


CONTROL_FLOW = """\
import jax
import jax.numpy as jnp
from jax import lax


@jax.custom_jvp
def softplus(x):
    return jnp.log1p(jnp.exp(x))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * jax.nn.sigmoid(x)


@jax.custom_vjp
def clip_grad(x):
    return x


clip_grad.defvjp(lambda x: (x, None), lambda _, g: (jnp.clip(g, -1.0, 1.0),))


def f(x, n):
    y = lax.cond(n > 0, jnp.sin, jnp.cos, x)
    y = lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0), (0, y))[1]
    y = lax.scan(lambda c, v: (c + v, c * v), 0.0, y)[1]
    y = jax.checkpoint(lambda v: jnp.sin(v) * 2.0)(y)
    return jnp.sum(softplus(clip_grad(y)))
"""


def test_model_holds_every_equation_of_every_sub_jaxpr():
    result = _inspect(
        source=CONTROL_FLOW, filename="cf.py", args="f32[2,5], i32[]", transforms=["vmap(in_axes=(0, None))"]
    )
    assert result.ok, result.error and result.error.format()
    module = exec_source(CONTROL_FLOW, "cf.py")
    args = (jax.ShapeDtypeStruct((2, 5), jnp.float32), jax.ShapeDtypeStruct((), jnp.int32))
    vmapped = jax.vmap(module.f, in_axes=(0, None))
    per_example = (jax.ShapeDtypeStruct((5,), jnp.float32), args[1])
    for model, fun, fun_args in (
        (result.jaxpr(0).model, module.f, per_example),
        (result.jaxpr().model, vmapped, args),
    ):
        expected = _count_jaxpr_eqns(jax.make_jaxpr(fun)(*fun_args).jaxpr)
        assert Counter(count_primitives(model)) == expected
    roles = {sub.role for eqn in walk(result.jaxpr(0).model) for sub in eqn.subjaxprs}
    assert {"branches[0]", "branches[1]", "cond_jaxpr", "body_jaxpr", "jaxpr", "call_jaxpr"} <= roles
    assert result.equation_counts(0) == count_primitives(result.jaxpr(0).model)
    assert result.equations() == sum(count_primitives(result.jaxpr().model).values())


def assert_every_equation_placed(text: str, model) -> None:
    """Every equation of `model` has its lines in `text`, and they print that equation as JAX prints it.

    Against names from JAX's naming context (the model's binders), not the placement itself: the
    equation's text starts with its outputs and primitive (`b:f32[3] = sin`), and its lines print
    exactly that text. A leaf spans its lines; an equation holding a sub-jaxpr's equations, its
    first; one inside a one-line sub-jaxpr, that line. No line holds two different equations of
    their own (copies of a sub-jaxpr JAX printed once share their lines).
    """
    printed = text.split("\n")
    owner: dict[int, str] = {}
    for eqn in walk(model):
        assert eqn.lines, f"{eqn.id} ({eqn.primitive}) has no line"
        binders = [f"{v.name}:{v.type}" for v in eqn.outvars]
        head = " ".join([*binders, "=", eqn.primitive] if binders else [eqn.primitive])
        flat = " ".join(eqn.text.split())
        assert flat == head or flat.startswith((head + " ", head + "[")), (eqn.id, head, eqn.text)
        own = eqn.text.split("\n")
        first = printed[eqn.lines[0] - 1]
        if first.strip() == own[0].strip():  # on its own line(s)
            shown = [printed[n - 1].strip() for n in eqn.lines]
            assert shown == [ln.strip() for ln in (own[:1] if len(shown) < len(own) else own)], eqn.id
            assert len(shown) == len(own) or any(s.jaxpr.eqns for s in eqn.subjaxprs), eqn.id
            for n in eqn.lines:
                assert owner.setdefault(n, eqn.text) == eqn.text, f"line {n} claimed twice"
        else:  # inside a one-line sub-jaxpr (`{ lambda ; a:f32[]. let b:f32[] = sin a in (b,) }`)
            assert " let " in first and f" {flat} " in f" {' '.join(first.split())} " and len(eqn.lines) == 1


def test_every_equation_knows_its_lines_in_jax_own_printed_jaxpr():
    result = _inspect(
        source=CONTROL_FLOW, filename="cf.py", args="f32[2,5], i32[]", transforms=["vmap(in_axes=(0, None))"]
    )
    module = exec_source(CONTROL_FLOW, "cf.py")
    per_example = (jax.ShapeDtypeStruct((5,), jnp.float32), jax.ShapeDtypeStruct((), jnp.int32))
    printed = str(jax.make_jaxpr(module.f)(*per_example)).split("\n")
    stage = InspectionResult.from_json(result.to_json()).jaxpr(0)  # the lines travel with the stage
    assert stage.text.split("\n") == printed
    assert_every_equation_placed(stage.text, stage.model)
    leaves = {eqn.lines[0] for eqn in walk(stage.model) if not eqn.subjaxprs}
    assert len(leaves) > 10  # the while's body included


SHARED = """\
import jax
import jax.numpy as jnp


def step_named_to_fill_line(x, y):
    return jnp.sin(x) * y


step = jax.jit(step_named_to_fill_line)


def f(x):
    return step(x, x).sum() + step(x * 2.0, x).sum()
"""


def test_a_sub_jaxpr_printed_once_gives_every_call_its_one_printed_definition():
    result = _inspect(source=SHARED, filename="shared.py", args="f32[3]")
    module = exec_source(SHARED, "shared.py")
    stage = result.jaxpr(0)
    assert stage.text == str(jax.make_jaxpr(module.f)(S3))
    printed = stage.text.split("\n")
    assert printed[0] == "let step_named_to_fill_line = { lambda ; a:f32[3] b:f32[3]. let"  # JAX hoists it
    main = printed.index("{ lambda ; e:f32[3]. let") + 1
    assert_every_equation_placed(stage.text, stage.model)
    calls = [e for e in stage.model.eqns if e.primitive == "jit"]
    assert len(calls) == 2
    bodies = [[(e.primitive, e.lines) for e in call.subjaxprs[0].jaxpr.eqns] for call in calls]
    assert bodies[0] == bodies[1] == [("sin", [2]), ("mul", [3])]  # both calls: the one definition
    # Indented in the jaxpr, the call breaks where printed alone (80 columns) it would not.
    assert calls[0].lines == [main + 1, main + 2]
    assert [printed[n - 1] for n in calls[0].lines] == [
        "    f:f32[3] = jit[name=step_named_to_fill_line jaxpr=step_named_to_fill_line] e",
        "      e",
    ]


def test_model_names_match_the_printed_jaxpr():
    result = _inspect(source=MLP, fn="loss", args=MLP_ARGS, transforms=["grad"])
    model = result.jaxpr().model
    assert model.arg_paths == ["params[0][0]", "params[0][1]", "params[1][0]", "params[1][1]", "x"]
    header = result.jaxpr().text.splitlines()[0]
    for var in model.invars:
        assert f"{var.name}:{var.type}" in header
    for eqn in walk(model):
        binders = " ".join(f"{v.name}:{v.type}" for v in eqn.outvars)
        assert eqn.text.startswith(binders + " = " + eqn.primitive)
        assert " ".join(eqn.text.split()) in " ".join(result.jaxpr().text.split())


def test_outputs_nothing_reads_are_marked_dropped():
    result = _inspect(source=MLP, fn="loss", args=MLP_ARGS, transforms=["grad"])
    outs = [v for e in walk(result.jaxpr().model) for v in e.outvars]
    assert any(v.dropped for v in outs)
    assert all(v.dropped == (v.name == "_") for v in outs)


def test_grad_equations_carry_forward_and_backward_provenance():
    result = _inspect(source=MLP, fn="loss", args=MLP_ARGS, transforms=["grad"])
    provenances = Counter(e.provenance for e in result.jaxpr().model.eqns)
    assert provenances["jvp"] > 0 and provenances["transpose(jvp)"] > 0
    vmapped = _inspect(
        source=MLP, fn="two", args="f32[3], f32[2,3]", transforms=["grad", "vmap(in_axes=(None, 0))"]
    )
    assert {e.provenance for e in vmapped.jaxpr().model.eqns} >= {"vmap(jvp)", "vmap(transpose(jvp))"}


def test_equations_map_to_user_lines_even_inside_library_functions():
    result = _inspect(source=MLP, filename="mlp.py", fn="loss", args=MLP_ARGS)
    lines = MLP.splitlines()
    relu_line = next(i for i, t in enumerate(lines, 1) if "jax.nn.relu" in t)
    tanh_line = next(i for i, t in enumerate(lines, 1) if "jnp.tanh" in t)
    by_prim = {}
    for eqn in walk(result.jaxpr(0).model):
        assert eqn.source is not None, eqn.text
        assert eqn.source.file == "mlp.py"
        assert eqn.source.code == lines[eqn.source.line - 1]
        by_prim.setdefault(eqn.primitive, set()).add(eqn.source.line)
    assert by_prim["tanh"] == {tanh_line}
    assert by_prim["max"] == {relu_line}  # traced inside jax.nn.relu's own jit
    assert by_prim["custom_jvp_call"] == {relu_line}


def test_edited_source_never_shows_stale_lines():
    first = inspect(Request(source=MLP, filename="mlp.py", fn="loss", args=MLP_ARGS))
    edited_source = "# a new first line\n\n" + MLP.replace("jnp.tanh", "jnp.sin")
    edited = inspect(Request(source=edited_source, filename="mlp.py", fn="loss", args=MLP_ARGS))
    sin_line = next(i for i, t in enumerate(edited_source.splitlines(), 1) if "jnp.sin" in t)
    assert "tanh" in first.equation_counts(0) and "tanh" not in edited.equation_counts(0)
    sin_lines = {e.source.line for e in walk(edited.jaxpr(0).model) if e.primitive == "sin"}
    assert sin_lines == {sin_line}


RANDOM = "import jax\n\n\ndef f(key):\n    return jax.random.normal(key, (3,))\n"


def test_cached_library_traces_never_show_lines_of_an_earlier_version():
    # jax.random's inner jits are traced once and cached with their first caller's
    # traceback (jax#15663): the edited file must still map them to its own line.
    first = inspect(Request(source=RANDOM, filename="rng.py", args="key"))
    edited = inspect(Request(source="# moved\n\n" + RANDOM, filename="rng.py", args="key"))
    assert {e.source.line for e in walk(first.jaxpr(0).model)} == {5}
    assert {e.source.line for e in walk(edited.jaxpr(0).model)} == {7}
    assert {e.source.column for e in walk(edited.jaxpr(0).model)} == {12}


def _error(source: str, **kwargs):
    result = _inspect(source=source, filename="user.py", **kwargs)
    assert result.error is not None
    return result, result.error


def test_syntax_error_names_its_line():
    _, err = _error("import jax\n\ndef f(x):\n    return x +\n", args="f32[3]")
    assert (err.stage, err.kind, err.line) == ("load", "SyntaxError", 4)
    assert err.message == "invalid syntax"


def test_exception_at_import_names_its_line():
    _, err = _error("import jax\nx = undefined_name\n\ndef f(x):\n    return x\n", args="f32[3]")
    assert (err.stage, err.kind, err.line) == ("load", "NameError", 2)
    assert "undefined_name" in err.message


def test_name_error_in_inputs_is_an_inputs_error():
    _, err = _error("def f(x):\n    return x\n", args="f32[3], nope")
    assert (err.stage, err.kind) == ("inputs", "NameError")
    assert "nope" in err.message


def test_exception_in_user_code_names_the_raising_line():
    src = "import jax.numpy as jnp\n\ndef f(x):\n    y = x * 2\n    raise ValueError('bad value')\n"
    result, err = _error(src, args="f32[3]")
    assert (err.stage, err.kind, err.line, err.message) == ("trace", "ValueError", 5, "bad value")
    assert err.location.code.strip() == "raise ValueError('bad value')"


def test_concretization_error_points_at_the_if_not_the_def():
    src = "import jax.numpy as jnp\n\ndef f(x):\n    if x > 0:\n        return x\n    return -x\n"
    result, err = _error(src, args="f32[]", transforms=["jit"])
    assert err.kind == "TracerBoolConversionError"
    assert err.line == 4 and err.location.code.strip() == "if x > 0:"
    assert "user.py:3" in err.message  # JAX's own message names the def line
    assert "lax.cond" in err.hint


def test_shape_error_names_the_user_line():
    src = "import jax.numpy as jnp\n\ndef f(a, b):\n    c = a + 1\n    return jnp.dot(a, b)\n"
    _, err = _error(src, args="f32[3,4], f32[5,2]")
    assert (err.kind, err.line) == ("TypeError", 5)
    assert "dot_general requires contracting dimensions to have the same shape" in err.message


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("gradd", "unknown transform 'gradd'"),
        ("vmap(in_axes=foo)", "must be a literal"),
        ("grad(", "cannot parse"),
    ],
)
def test_bad_transform_spec_is_a_transform_error(spec, fragment):
    _, err = _error("def f(x):\n    return x.sum()\n", args="f32[3]", transforms=[spec])
    assert (err.stage, err.kind) == ("transform", "TransformSpecError")
    assert fragment in err.message


def test_unknown_entry_function_lists_the_known_ones():
    _, err = _error("def f(x):\n    return x\n\ndef g(x):\n    return x\n", fn="h", args="f32[3]")
    assert err.stage == "load" and "no function named 'h'" in err.message and "f, g" in err.message


def test_a_function_that_traces_but_fails_to_compile_keeps_its_earlier_stages():
    src = (
        "import jax\nimport jax.numpy as jnp\n\n"
        "def f(x):\n"
        "    call = jax.ffi.ffi_call('no_such_target', jax.ShapeDtypeStruct(x.shape, x.dtype))\n"
        "    return call(x)\n"
    )
    result, err = _error(src, args="f32[3]")
    assert err.stage == "compile"
    assert "no_such_target" in err.message
    assert result.jaxpr().text and "ffi_call" in result.jaxpr().text
    assert result.text_of("stablehlo") and "no_such_target" in result.text_of("stablehlo")
    assert result.text_of("hlo") is None


def test_result_survives_json_round_trip():
    result = _inspect(
        source=MLP, fn="loss", args=MLP_ARGS, transforms=["grad", "jit"], time=True, time_budget_s=0.2
    )
    text = json.dumps(json.loads(result.to_json()))
    assert InspectionResult.from_json(text) == result
    err = _inspect(source="def f(:\n", args="")
    assert InspectionResult.from_json(err.to_json()).error == err.error


def test_timing_and_outputs_come_from_running_the_function():
    result = _inspect(
        source=MLP, fn="two", args="f32[3], f32[3]", transforms=["jit"], time=True, time_budget_s=0.3
    )
    assert result.ok, result.error
    t = result.timing
    assert t.device == "cpu:0" and t.repeat >= 3 and t.number >= 1
    assert 0 < t.min_s <= t.median_s <= t.p90_s
    assert result.cost.flops is not None and t.flops_per_s == pytest.approx(result.cost.flops / t.median_s)
    assert result.memory["argument_size_in_bytes"] == 24
    from inspectors.source import materialize

    x, y = materialize([S3, S3])
    expected = float(jnp.sum(jnp.sin(x) * y))
    (out,) = result.outputs
    assert (out.shape, out.dtype) == ([], "float32")
    assert float(out.preview) == pytest.approx(expected, rel=1e-4)
    for stage in ("load", "trace", "lower", "compile", "run"):
        assert result.stage_times[stage] > 0


def test_timing_runs_on_the_chosen_device():
    result = _inspect(
        source=MLP, fn="two", args="f32[3], f32[3]", device="cpu:1", time=True, time_budget_s=0.1
    )
    assert result.ok and result.timing.device == "cpu:1"
    bad = _inspect(source=MLP, fn="two", args="f32[3], f32[3]", device="tpu:7")
    assert bad.error.stage == "inputs" and "no device 'tpu:7'" in bad.error.message


def test_sharded_programs_are_timed_on_all_their_devices(root):
    sample = root / "samples" / "parallelization_shard_map_psum.py"
    result = _inspect(source=sample.read_text(), filename=str(sample), time=True, time_budget_s=0.1)
    assert result.ok, result.error and result.error.format()
    assert result.timing.device == "cpu:0, cpu:1, cpu:2, cpu:3"


def test_shape_specs_nest_and_keys_become_prng_keys():
    src = "import jax\n\ndef f(key, tree, n):\n    return jax.random.normal(key, (2,)) * n, tree\n"
    result = _inspect(
        source=src, args="key, {'a': (i32[], bf16[2]), 'b': [bool[3]]}, 2.0", time=True, time_budget_s=0.1
    )
    assert result.ok, result.error and result.error.format()
    assert result.jaxpr(0).model.invars[0].type == "u32[2]"
    assert [v.type for v in result.jaxpr(0).model.invars[1:4]] == ["i32[]", "bf16[2]", "bool[3]"]
    assert result.jaxpr(0).model.arg_paths[:3] == ["key", "tree['a'][0]", "tree['a'][1]"]
    assert [o.path for o in result.outputs][0] == "[0]"


def test_repeated_inspection_is_served_from_the_stage_store(monkeypatch):
    from inspectors import pipeline

    request = Request(source=MLP, fn="two", args="f32[3], f32[3]", transforms=["grad"])
    first = inspect(request)
    monkeypatch.setattr(pipeline, "_run_stages", lambda *a: pytest.fail("traced again"))
    again = inspect(Request(**vars(request)))
    assert again is not first and again.to_dict() == first.to_dict()
    with pytest.raises(pytest.fail.Exception):
        inspect(Request(source=MLP + "\n", fn="two", args="f32[3], f32[3]", transforms=["grad"]))


def test_outputs_preview_matches_numpy():
    result = _inspect(source=MLP, fn="loss", args=MLP_ARGS, transforms=["grad"], time=True, time_budget_s=0.1)
    assert [o.path for o in result.outputs] == ["[0][0]", "[0][1]", "[1][0]", "[1][1]"]
    assert [o.shape for o in result.outputs] == [[8, 16], [16], [16, 1], [1]]
    assert all(o.dtype == "float32" for o in result.outputs)
    assert np.isfinite([float(v) for v in result.outputs[3].preview.strip("[]").split()]).all()
