"""The StableHLO module model, checked against JAX's own `ir.Module` and the debug-info text JAX prints."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from jaxlib.mlir import ir

from inspectors import Request, inspect, mapping, mlir_text, stablehlo_module
from inspectors.results import InspectionResult

HERE = Path(__file__).name


@jax.jit
def inner(x):
    return jnp.sin(x) * 2.0


def program(x):
    def body(c, y):
        return c + inner(y), c * y

    c, ys = jax.lax.scan(body, 0.0, x)
    n = jax.lax.while_loop(lambda v: v < 10.0, lambda v: v * 2.0, c)
    return jax.lax.cond(n > 0, lambda: ys.sum(), lambda: -n)


@pytest.fixture(scope="module")
def lowered():
    """JAX's lowering of the program above: a scan, a while, a cond, a reduce and a nested jit."""
    lo = jax.jit(program).lower(jnp.arange(3.0))
    return lo, lo.as_text(debug_info=True), lo.as_text()


@pytest.fixture(scope="module")
def model(lowered):
    lo, debug, plain = lowered
    return stablehlo_module.build(lo.compiler_ir("stablehlo"), debug, plain)


def test_op_counts_per_name_equal_a_walk_of_jaxs_module(lowered, model):
    lo, *_ = lowered
    counts: Counter[str] = Counter()

    def count(op):
        counts[op.name] += 1
        return ir.WalkResult.ADVANCE

    module = lo.compiler_ir("stablehlo")
    with module.context:
        module.operation.walk(count, ir.WalkOrder.PRE_ORDER)
    assert Counter(op.name for op in model.ops) == counts
    assert {"stablehlo.while", "stablehlo.case", "stablehlo.reduce", "func.call"} <= set(counts)
    assert model.placed


def test_every_op_starts_on_a_line_that_prints_it(lowered, model):
    _, debug, _ = lowered
    lines = debug.splitlines()
    for op in model.ops:
        if op.line is None:  # in a compact op's line (`applies stablehlo.add`)
            assert model.ops[op.parent].line == model.ops[op.parent].loc_line, op
            continue
        printed = stablehlo_module._PRINTED.get(op.name, op.name)
        body = lines[op.line - 1].lstrip()
        body = (body.split(" = ", 1)[-1] if body.startswith("%") else body).lstrip('"')
        assert body.startswith((op.name, printed)), (op, lines[op.line - 1])
        if op.results:
            assert lines[op.line - 1].lstrip().startswith(op.results + " = ")


def test_every_ops_location_equals_the_one_jax_printed_for_it(lowered, model):
    _, debug, _ = lowered
    lines = debug.splitlines()
    aliases, cache = mlir_text.loc_aliases(debug), {}
    with_file = 0
    for op in model.ops:
        if op.loc_line is None:  # inside a compact op (`applies stablehlo.add`): its parent's line prints it
            assert model.ops[op.parent].line == model.ops[op.parent].loc_line, op
            continue
        printed = mlir_text.parse_loc(mlir_text.trailing_loc(lines[op.loc_line - 1]), aliases, cache)
        assert op.names == printed.names, (op, lines[op.loc_line - 1])
        assert [(f.file, f.line, f.column) for f in op.frames] == printed.frames, (op, lines[op.loc_line - 1])
        with_file += any(frame.file.endswith(HERE) for frame in op.frames)
    assert with_file > 10


def test_ops_in_the_nested_jit_and_the_loops_carry_their_lines(model):
    src = Path(__file__).read_text().splitlines()

    def line_of(text: str) -> int:
        return next(n for n, line in enumerate(src, start=1) if text in line)

    def user_lines(op_name: str, function: str | None = None) -> set[int]:
        return {
            frame.line
            for op in model.ops
            if op.name == op_name and (function is None or op.function == function)
            for frame in op.frames[:1]
            if frame.file.endswith(HERE)
        }

    assert line_of("return jnp.sin(x) * 2.0") in user_lines("stablehlo.sine", "inner")
    assert line_of("jax.lax.while_loop(") in user_lines("stablehlo.while")
    assert line_of("jax.lax.scan(") in user_lines("stablehlo.while")
    assert line_of("lambda v: v * 2.0") in user_lines("stablehlo.multiply")


def test_the_source_map_from_the_model_equals_the_text_scanners_on_every_op_line(lowered, model):
    _, debug, plain = lowered
    scanned = mapping.stablehlo_ops(debug, HERE, plain)
    ours = mapping.module_ops(model, HERE)
    assert [op.text_line for op in ours] == [op.text_line for op in scanned]
    same = ("text_line", "line", "column", "primitive", "scope", "phase", "plain_line")
    for a, b in zip(scanned, ours, strict=True):
        assert {k: getattr(a, k) for k in same} == {k: getattr(b, k) for k in same}
        if a.opcode.startswith("stablehlo."):  # the scanner reads `}` lines as nameless; the model names them
            assert (a.name, a.opcode) == (b.name, b.opcode)
    closing = {op.opcode for op in ours if op.text_line not in {o.text_line for o in scanned if o.opcode}}
    assert {"stablehlo.while", "stablehlo.case", "func.func", "builtin.module"} <= closing


PROGRAM = """\
import jax
import jax.numpy as jnp


@jax.jit
def inner(x):
    return jnp.cos(x) * 3.0


def f(x):
    y = jax.lax.fori_loop(0, 3, lambda i, v: v + inner(v), x)
    return jnp.sum(y**2)
"""


def test_the_worker_attaches_the_model_to_the_debug_stage_and_it_survives_json():
    result = inspect(Request(source=PROGRAM, filename="prog.py", fn="f", args="f32[4]", transforms=["grad"]))
    assert result.ok, result.error
    module = result.find("stablehlo-debug").module
    assert module is not None and module.placed and module.ops and not module.note
    again = InspectionResult.from_json(result.to_json())
    assert again.find("stablehlo-debug").module == module
    assert dataclasses.asdict(mapping.source_map(again)) == dataclasses.asdict(result.source_map)
    cos = [op for op in result.source_map.stablehlo_ops if op.opcode == "stablehlo.cosine"]
    assert cos and {op.line for op in cos} == {7}
