"""Source ↔ jaxpr ↔ StableHLO ↔ HLO mapping, from real inspection results."""

from __future__ import annotations

import re

import pytest

from inspectors import Request, inspect
from inspectors.catalog import get_sample
from inspectors.mapping import (
    hlo_ops,
    line_color,
    line_info,
    line_of_equation,
    line_of_hlo_instruction,
    line_of_hlo_text_line,
    line_of_stablehlo_line,
    loc_aliases,
    ops_of_equation,
    parse_loc,
    source_map,
    walk,
)
from inspectors.teaching_results import SourceMap

SAMPLES = [
    "slides_mlp",
    "differentiability_grad",
    "vectorization_per_example_grads",
    "control_flow_cond",
    "control_flow_static_if",
    "control_flow_fori_loop",
]

PROGRAM = """\
import jax
import jax.numpy as jnp
from jax import lax


@jax.jit
def inner(x):
    return jnp.sin(x) * 2.0


def helper(x):
    return jnp.cos(x)


def f(x, y):
    n = 3
    a = inner(x) + helper(y)
    if x.ndim == 1:
        a = a * 2.0
    b = jax.nn.relu(a)
    c = lax.cond(b.sum() > 0, lambda v: v * 2.0, lambda v: v - 1.0, b)
    d = lax.fori_loop(0, n, lambda i, v: v * 1.5, c)
    return jnp.sum(d**2)
"""


def sample_result(name: str):
    """Inspect a sample with its declared defaults (cached by `inspect`)."""
    return inspect(Request(source=get_sample(name).source(), filename=f"samples/{name}.py"))


def program_result():
    """The mixed program above, under grad."""
    request = Request(source=PROGRAM, filename="prog.py", fn="f", args="f32[3], f32[3]", transforms=["grad"])
    return inspect(request)


@pytest.fixture(scope="module", params=SAMPLES + ["program"])
def result(request):
    return program_result() if request.param == "program" else sample_result(request.param)


def test_every_equation_with_a_user_line_maps_to_that_line(result):
    smap = source_map(result)
    for model, after in ((result.jaxpr(0).model, False), (result.jaxpr().model, True)):
        for eqn in walk(model):
            if eqn.source and eqn.source.file == result.request.filename:
                assert line_of_equation(smap, eqn.id, after=after) == eqn.source.line, eqn.id


def test_every_stablehlo_op_with_a_user_loc_maps_to_a_line_that_exists(result):
    smap = source_map(result)
    lines = result.request.source.splitlines()
    mapped = [op for op in smap.stablehlo_ops if op.line is not None]
    assert mapped
    debug = result.text_of("stablehlo-debug").splitlines()
    plain = result.text_of("stablehlo").splitlines()
    for op in mapped:
        assert 1 <= op.line <= len(lines) and lines[op.line - 1].strip(), op
        assert line_of_stablehlo_line(smap, op.text_line) == op.line
        # the same op in the text without debug info
        assert plain[op.plain_line - 1] == re.sub(r" loc\(.*\)$", "", debug[op.text_line - 1])
        assert line_of_stablehlo_line(smap, op.plain_line, plain=True) == op.line


def test_every_stablehlo_loc_in_the_users_file_is_mapped(result):
    smap = source_map(result)
    aliases = loc_aliases(result.text_of("stablehlo-debug"))
    file_locs = [a for a, text in aliases.items() if text.startswith(f'"{result.request.filename}"')]
    mapped_lines = {op.line for op in smap.stablehlo_ops}
    for alias in file_locs:
        assert parse_loc(alias, aliases).frames[0][1] in mapped_lines | {None}


def test_hlo_instructions_with_stack_frames_map_to_real_lines(result):
    smap = source_map(result)
    lines = result.request.source.splitlines()
    hlo = result.text_of("hlo").splitlines()
    framed = [op for op in smap.hlo_ops if "stack_frame_id=" in hlo[op.text_line - 1]]
    assert framed
    for op in framed:
        if op.line is not None:
            assert 1 <= op.line <= len(lines) and lines[op.line - 1].strip()
            assert line_of_hlo_instruction(smap, "%" + op.name) == op.line
            assert line_of_hlo_text_line(smap, op.text_line) == op.line
    assert sum(op.line is not None for op in framed) >= len(framed) // 2


def test_python_only_lines_produce_nothing_and_calls_are_marked():
    smap = source_map(program_result())
    status = {i.code.strip(): i.status for i in smap.lines}
    assert status["n = 3"] == "nothing"
    assert status["if x.ndim == 1:"] == "nothing"
    assert status["a = a * 2.0"] == "traced"
    assert status["a = inner(x) + helper(y)"] == "traced"
    assert status["return jnp.cos(x)"] == "traced"
    mlp = source_map(sample_result("slides_mlp"))
    assert line_info(mlp, 41).status == "called"  # `preds = predict(params, inputs)`
    static_if = source_map(sample_result("control_flow_static_if"))
    assert {i.code.strip(): i.status for i in static_if.lines}["if squared:"] == "nothing"


def test_equations_in_library_code_and_inner_jits_map_to_user_lines():
    result = program_result()
    smap = source_map(result)
    relu = line_info(smap, 20)
    assert relu.code.strip() == "b = jax.nn.relu(a)" and relu.eqns_after and relu.hlo
    inner = line_info(smap, 8)  # inside the user's own jit: its own line
    assert inner.eqns_after and inner.stablehlo and inner.hlo


def test_ops_of_equation_follow_line_primitive_and_phase():
    result = sample_result("slides_mlp")
    smap = source_map(result)
    tanh = next(e for e in walk(result.jaxpr().model) if e.primitive == "tanh")
    ops = ops_of_equation(smap, tanh)
    assert {op.kind for op in ops} == {"stablehlo", "hlo"}
    assert all(op.line == 36 and op.primitive == "tanh" and op.phase == "forward" for op in ops)


def test_source_map_agrees_with_jax_experimental_source_mapper(result):
    """JAX's own source maps, where its regex parsers cope, give the same lines as ours."""
    source_mapper = pytest.importorskip("jax.experimental.source_mapper")  # needs absl-py
    from jax.experimental.source_mapper import hlo as sm_hlo

    smap = source_map(result)
    filename = result.request.filename
    try:  # its MLIR parser fails on bare name locations (`loc("max")`): KeyError
        theirs = _decode(source_mapper.create_mlir_sourcemap(result.text_of("stablehlo-debug")))
    except (KeyError, ValueError) as exc:
        pytest.skip(f"source_mapper cannot parse this module: {exc!r}")
    ours = {op.text_line: op.line for op in smap.stablehlo_ops if op.line is not None}
    assert ours == {n: line for n, (file, line) in theirs.items() if file == filename}
    theirs = _decode(sm_hlo.parse_hlo_dump(result.text_of("hlo")))
    ours = {op.text_line: op.line for op in smap.hlo_ops if op.line is not None}
    assert ours == {n: line for n, (file, line) in theirs.items() if file == filename}


def _decode(smap) -> dict[int, tuple[str, int]]:
    """Return {generated line (1-based): (source file, source line)} of a TC39 source map."""
    out, source, line = {}, 0, 0
    for number, group in enumerate(smap.mappings, start=1):
        for segment in group:
            if len(segment) >= 4:
                source += segment[1]
                line += segment[2]
                out.setdefault(number, (smap.sources[source], line + 1))
    return out


def test_location_parser_reads_names_callsites_and_fused_locations():
    aliases = {
        "#loc1": '"f.py":3:8',
        "#loc2": '"jit(f)/jvp()"(#loc1)',
        "#loc3": '"cond/branch_0_fun"("f.py":3:40 to 3:52)',
        "#loc4": "callsite(#loc3 at #loc2)",
        "#loc5": 'fused<"x">["lib.py":9:1, "mul"(#loc4)]',
    }
    loc = parse_loc('"sub"(#loc4)', aliases)
    assert loc.names == ["sub", "cond/branch_0_fun", "jit(f)/jvp()"]
    assert loc.frames == [("f.py", 3, 40), ("f.py", 3, 8)]
    fused = parse_loc("#loc5", aliases)
    assert fused.frames[0] == ("lib.py", 9, 1) and fused.names[0] == "mul"
    assert parse_loc("unknown", aliases).frames == []
    assert parse_loc("#loc9", {"#loc9": "#loc9"}).frames == []  # a cycle is no location


def test_hlo_source_file_metadata_of_older_jax_is_read():
    text = (
        "HloModule m\n\nENTRY %main (x: f32[3]) -> f32[3] {\n"
        '  %x = f32[3]{0} parameter(0), metadata={op_name="x"}\n'
        '  ROOT %sine.1 = f32[3]{0} sine(%x), metadata={op_name="jit(f)/jvp()/sin" '
        'source_file="f.py" source_line=7}\n}\n'
    )
    ops = hlo_ops(text, "f.py")
    assert [(o.name, o.opcode, o.line, o.primitive, o.phase) for o in ops] == [
        ("x", "parameter", None, "x", ""),
        ("sine.1", "sine", 7, "sin", "forward"),
    ]


def test_line_colors_are_stable_hex_and_differ_between_neighbours():
    colors = [line_color(n) for n in range(1, 40)]
    assert colors == [line_color(n) for n in range(1, 40)]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colors)
    assert all(a != b for a, b in zip(colors, colors[1:], strict=False))
    assert line_color(5, "contrast") != line_color(5)


def test_source_map_survives_json_round_trip():
    smap = source_map(program_result())
    again = SourceMap.from_json(smap.to_json())
    assert again == smap and again.stablehlo_ops[0].kind == "stablehlo"


LAYERS = """import jax
import jax.numpy as jnp


def f(x):
    for i in range(3):
        with jax.named_scope(f"layer_{i}"):
            x = jnp.sin(x) * 2.0
    return x
"""


def test_a_line_in_a_loop_over_layers_splits_by_layer():
    result = inspect(Request(source=LAYERS, fn="f", args="f32[4]", transforms=["jit"]))
    assert result.ok, result.error
    (info,) = [i for i in result.source_map.lines if i.line == 8]
    assert list(info.scopes) == ["layer_0", "layer_1", "layer_2"]
    by_id = {e.id: e for e in walk(result.jaxpr().model)}
    for scope, ids in info.scopes.items():
        assert [by_id[i].primitive for i in ids] == ["sin", "mul"]
        assert all(scope in by_id[i].name_stack for i in ids)
    assert sorted(sum(info.scopes.values(), [])) == sorted(info.eqns_after)
    assert all(not i.scopes for i in result.source_map.lines if i.line != 8)  # one scope: no split
