"""One parser per text format: HLO (both printed forms) and StableHLO lines, on exact small inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from inspectors import hlo_text, mlir_text
from inspectors.graph import GraphOptions
from inspectors.hlo_graph import hlo_graph

OPTIMIZED = """\
HloModule m, entry_computation_layout={(f32[4]{0}, f32[4]{0})->f32[4]{0}}

FileNames
1 "f.py"

FunctionNames
1 "f"

FileLocations
1 {file_name_id=1 function_name_id=1 line=7 end_line=7 column=5 end_column=9}

StackFrames
1 {file_location_id=1 parent_frame_id=1}


%fused (p0: f32[4], p1: f32[4]) -> f32[4] {
  %p0 = f32[4]{0} parameter(0)
  %p1 = f32[4]{0} parameter(1)
  ROOT %s = f32[4]{0} subtract(%p0, %p1), metadata={op_name="jit(f)/sub" stack_frame_id=1}
}

ENTRY %main (x: f32[4], y: f32[4]) -> f32[4] {
  %x = f32[4]{0} parameter(0)
  %y = f32[4]{0} parameter(1)
  %t = (f32[4]{0}, /*index=1*/s32[]) tuple(%x, %y)
  %e = f32[4]{0} exponential(%y)
  ROOT %f = f32[4]{0} fusion(%x, %e), kind=kLoop, calls=%fused
}
"""


def test_optimized_hlo_parses_into_computations_instructions_and_tables():
    module = hlo_text.parse(OPTIMIZED)
    assert (module.name, module.entry, list(module.computations)) == ("m", "main", ["fused", "main"])
    sub = module.computations["fused"].instructions[2]
    assert (sub.name, sub.type, sub.opcode, sub.operands, sub.root, sub.line) == (
        "s",
        "f32[4]{0}",
        "subtract",
        ["p0", "p1"],
        True,
        19,
    )
    assert (sub.op_name, sub.stack_frame_id) == ("jit(f)/sub", 1)
    assert list(module.tables.chain(1)) == [("f.py", 7, 5, "f")]
    tup = module.computations["main"].instructions[2]
    assert (tup.type, tup.opcode, tup.operands) == ("(f32[4]{0}, /*index=1*/s32[])", "tuple", ["x", "y"])
    fusion = module.computations["main"].instructions[-1]
    assert (fusion.calls, fusion.fusion_kind, fusion.attrs) == (
        "fused",
        "kLoop",
        ", kind=kLoop, calls=%fused",
    )
    assert [i.parameter_number for i in module.computations["fused"].instructions] == [0, 1, None]
    assert hlo_text.opcode_counts(module) == {"tuple": 1, "exponential": 1, "fusion": 1}
    assert hlo_text.opcode_counts(module, top_level=False) == {
        "subtract": 1,
        "tuple": 1,
        "exponential": 1,
        "fusion": 1,
    }
    assert hlo_text.count_opcodes(OPTIMIZED) == hlo_text.opcode_counts(module)
    assert hlo_text.count_opcodes(OPTIMIZED, top_level=False) == hlo_text.opcode_counts(module, top_level=False)


def test_both_printed_forms_parse_every_instruction_line():
    def f(x, w):
        return jnp.sum(jnp.tanh(x @ w) + x), x * 2.0

    spec = jax.ShapeDtypeStruct((4, 4), jnp.float32)
    lowered = jax.jit(f).lower(spec, spec)
    for text in (lowered.as_text(dialect="hlo"), lowered.compile().as_text()):
        module = hlo_text.parse(text)
        lines = [ln for ln in text.splitlines() if ln.startswith("  ") and " = " in ln]
        assert [i.line for i in module.instructions()] == [text.splitlines().index(ln) + 1 for ln in lines]
        assert module.entry and module.computations[module.entry].instructions[-1].root


def test_a_fusion_graph_wires_each_fused_parameter_to_its_own_operand():
    graph = hlo_graph(OPTIMIZED, GraphOptions(depth=3))
    assert {(e.src, e.dst) for e in graph.edges} >= {(":x", "f:s"), (":e", "f:s")}


def test_stablehlo_headers_ops_and_locations():
    line = (
        '  func.func public @main(%arg0: tensor<3xf32> loc("x"), %arg1: tensor<2x3xf32>) -> (tensor<3xf32>) {'
    )
    assert mlir_text.func_header(line)[0] == "main" and mlir_text.func_name(line) == "main"
    assert mlir_text.ARG.findall(mlir_text.func_header(line)[1]) == [
        ("%arg0", "tensor<3xf32>"),
        ("%arg1", "tensor<2x3xf32>"),
    ]
    assert mlir_text.op_of("    %3 = stablehlo.add %1, %2 : tensor<3xf32> loc(#loc7)") == (
        "%3",
        "stablehlo.add",
    )
    assert mlir_text.trailing_loc("    %3 = stablehlo.add %1, %2 : tensor<3xf32> loc(#loc7)") == "#loc7"
    aliases = mlir_text.loc_aliases('#loc1 = loc("f.py":3:8)\n#loc7 = loc("jit(f)/add"(#loc1))\n')
    loc = mlir_text.parse_loc("#loc7", aliases)
    assert (loc.names, loc.frames) == (["jit(f)/add"], [("f.py", 3, 8)])
