"""The Sharding analysis against the compiled module: meshes, layouts, every collective at its line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import pytest
from streamlit.testing.v1 import AppTest

from inspectors import Request, hlo_text, inspect, sharding
from inspectors.catalog import get_sample
from inspectors.live import inspect_fn
from inspectors.mapping import same_file
from inspectors.results import InspectionResult, MeshAxis, MeshInfo
from inspectors.source import load_module, materialize

ROOT = Path(__file__).resolve().parent.parent
COLLECTIVE_LINE = re.compile(
    r"^\s+(?:ROOT\s+)?%([\w.\-]+) = .*? (all-gather|all-reduce|reduce-scatter|all-to-all|collective-permute)"
    r"(-start)?\(.*stack_frame_id=(\d+)"
)


def inspect_sample(name: str) -> InspectionResult:
    """Inspect a sample with its declared defaults (4 devices: the test process's)."""
    sample = get_sample(name)
    result = inspect(Request(source=sample.source(), filename=sample.path), use_cache=False)
    assert result.ok, result.error.format()
    return result


def line_of(result: InspectionResult, text: str) -> int:
    """The 1-based line of the sample's source that contains `text` (exactly one)."""
    found = [i for i, line in enumerate(result.request.source.splitlines(), 1) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


@pytest.fixture(scope="module")
def fsdp() -> InspectionResult:
    return inspect_sample("parallelization_fsdp")


@pytest.fixture(scope="module")
def psum() -> InspectionResult:
    return inspect_sample("parallelization_shard_map_psum")


@pytest.fixture(scope="module")
def resharded() -> InspectionResult:
    return inspect_sample("parallelization_reshard")


def collectives_in_text(result: InspectionResult) -> dict[str, int]:
    """Every collective line of the compiled HLO (a `-done` is its `-start`'s pair): name → the user's line."""
    text = result.text_of("hlo")
    tables = hlo_text.tables(text)
    found = {}
    for line in text.splitlines():
        m = COLLECTIVE_LINE.match(line)
        if m:
            frames = [f for f in tables.chain(int(m.group(4))) if same_file(f[0], result.request.filename)]
            found[m.group(1)] = frames[0][1]
    return found


@pytest.mark.parametrize("name", ["fsdp", "psum", "resharded"])
def test_every_collective_of_the_hlo_is_listed_once_at_its_stack_frame_line(name, request):
    result = request.getfixturevalue(name)
    listed = {c.name: c.line for c in result.sharding.collectives}
    assert len(listed) == len(result.sharding.collectives)
    assert listed == collectives_in_text(result)
    assert listed


def test_fsdp_gathers_at_both_matmul_lines_and_reduces_in_the_backward_pass(fsdp):
    s = fsdp.sharding
    first, second = line_of(fsdp, "x @ w1"), line_of(fsdp, "h @ w2")
    gathers = sorted((c.line, c.phase) for c in s.collectives if c.opcode == "all-gather")
    assert gathers == [(first, "forward"), (second, "forward")]
    reduces = [c for c in s.collectives if c.opcode == "all-reduce"]
    assert reduces and all(c.phase == "backward" for c in reduces)
    assert all(not c.requested and c.mesh_axes == ["data"] for c in s.collectives)
    eqns = {e.id: e for e in jax_walk(fsdp)}
    for c in s.collectives:
        assert c.equations and all(eqns[e].primitive == c.primitive == "dot_general" for e in c.equations)
    by_line = {t.line: t for t in s.by_line}
    assert by_line[second].opcodes == {"all-gather": 1}
    assert s.bytes_per_device == sum(c.bytes_per_device for c in s.collectives)
    assert s.mesh.axes == [MeshAxis("data", 4, "Explicit")] and s.mode == "explicit"


def jax_walk(result: InspectionResult):
    from inspectors.results import walk

    return walk(result.jaxpr().model)


def test_fsdp_all_gather_moves_three_quarters_of_the_weight(fsdp):
    gather = next(c for c in fsdp.sharding.collectives if c.line == line_of(fsdp, "x @ w1"))
    shard = 64 * 256 * 4  # w1's rows on one of 4 devices
    assert gather.operand_bytes == shard and gather.bytes_per_device == 3 * shard and gather.group_size == 4


def test_psum_in_shard_map_is_an_all_reduce_the_user_asked_for(psum):
    (c,) = psum.sharding.collectives
    assert (c.opcode, c.line, c.requested) == ("all-reduce", line_of(psum, "lax.psum("), True)
    assert c.mesh_axes == ["batch"] and c.reason == "psum in shard_map"
    assert psum.sharding.mode == "manual (shard_map)"
    # shard_map split the unsharded input: XLA's GSPMD sharding, named over the mesh as JAX would write it
    (x,) = psum.sharding.inputs
    assert (x.sharding, x.shard_type) == (str(jax.sharding.PartitionSpec("batch")), "f32[4]")


def test_reshard_rows_to_columns_is_one_all_to_all(resharded):
    (c,) = resharded.sharding.collectives
    assert (c.opcode, c.line, c.requested, c.reason) == (
        "all-to-all",
        line_of(resharded, "return jax.sharding.reshard("),
        True,
        "reshard",
    )
    (out,) = resharded.sharding.outputs
    assert (out.sharding, out.shard_type) == ("P(None, 'x')", "f32[16,4]")
    types = {e.path: (e.sharding, e.shard_type) for e in resharded.sharding.equations}
    assert ("P(None, 'x')", "f32[16,4]") in types.values() and ("P('x', None)", "f32[4,16]") in types.values()


def test_shard_types_and_blocks_equal_the_real_arrays_addressable_shards(fsdp):
    """Run the program on real arrays: every shard's shape, index and device is what the layout says."""
    module = load_module(fsdp.request.source, fsdp.request.filename)
    params, x = module.sharded_params(), module.sharded_batch()
    compiled = jax.jit(module.gradients).trace(params, x).lower().compile()
    real_in = jax.device_put(materialize((params, x)), compiled.input_shardings[0])
    real_out = compiled(*real_in)
    arrays = jax.tree_util.tree_leaves(real_in) + jax.tree_util.tree_leaves(real_out)
    layouts = fsdp.sharding.inputs + fsdp.sharding.outputs
    assert [lay.path for lay in fsdp.sharding.inputs] == ["params[0]", "params[1]", "x"]
    assert len(arrays) == len(layouts)
    for array, lay in zip(arrays, layouts, strict=True):
        for shard in array.addressable_shards:
            assert sharding.short_type(array.dtype, shard.data.shape) == lay.shard_type
            start = [s.indices(n)[0] for s, n in zip(shard.index, array.shape, strict=True)]
            block = next(b for b in lay.blocks if b.start == start)
            assert shard.device.id in block.devices


IN_FRESH_PROCESS = """
import sys
from inspectors import Request, inspect, pipeline
from inspectors.catalog import get_sample
pipeline.RECORD_PASSES = False  # not needed here: a faster compile
sample = get_sample("parallelization_fsdp")
result = inspect(Request(source=sample.source(), filename=sample.path, devices=int(sys.argv[1])))
print(result.to_json())
"""


@pytest.mark.parametrize("devices", [1, 8])
def test_fsdp_on_n_devices_in_a_fresh_process(devices):
    """A fresh process splits the CPU into N devices: mesh, shard types and collectives follow."""
    out = subprocess.run(
        [sys.executable, "-c", IN_FRESH_PROCESS, str(devices)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    s = InspectionResult.from_json(out.stdout).sharding
    assert s.devices == devices and s.mesh.axes == [MeshAxis("data", devices, "Explicit")]
    assert [lay.shard_type for lay in s.inputs] == [f"f32[{256 // devices},256]", f"f32[{256 // devices},128]",
                                                    f"f32[{64 // devices},256]"]  # fmt: skip
    opcodes = sorted(c.opcode for c in s.collectives)
    assert opcodes == ([] if devices == 1 else ["all-gather", "all-gather", "all-reduce"])
    assert all(c.group_size == devices for c in s.collectives)


def test_the_cli_splits_the_cpu_and_emits_one_line_per_collective():
    out = subprocess.run(
        [sys.executable, "-m", "inspectors", "samples/parallelization_reshard.py", "--devices", "2", "--emit", "collectives"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    head, row = out.stdout.splitlines()
    assert head.startswith("# mesh x=2 (Explicit) over cpu devices 0,1")
    line = next(i for i, t in enumerate(Path(ROOT / "samples/parallelization_reshard.py").read_text().splitlines(), 1)
                if "return jax.sharding.reshard(" in t)  # fmt: skip
    # 16x16 f32 by rows over 2 devices: a 512-byte shard each, half of it goes to the other device
    assert re.match(rf"all-to-all +256 B +axes x +line {line} .* asked ", row)


def test_a_device_count_this_process_cannot_have_is_a_clear_error():
    sample = get_sample("parallelization_fsdp")
    result = inspect(Request(source=sample.source(), filename=sample.path, devices=2), use_cache=False)
    assert result.error.stage == "load" and "already started JAX with 4 CPU devices" in result.error.message


def test_the_collectives_emitter_writes_one_line_per_collective(fsdp):
    lines = sharding.collectives_text(fsdp.sharding).splitlines()
    assert lines[0].startswith("# mesh data=4 (Explicit)") and len(lines) == 1 + len(
        fsdp.sharding.collectives
    )
    assert re.match(rf"all-gather .* axes data +line {line_of(fsdp, 'x @ w1')} ", lines[1])


def test_sharding_survives_json(fsdp):
    again = InspectionResult.from_json(fsdp.to_json())
    assert again.sharding == fsdp.sharding


def test_inspect_fn_analyses_a_live_sharded_function():
    mesh = jax.make_mesh((4,), ("x",))
    spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))

    def total(v):
        return v.sum()

    live = inspect_fn(total, jax.ShapeDtypeStruct((16,), "float32", sharding=spec), transforms="jit")
    (c,) = live.sharding.collectives
    assert c.opcode == "all-reduce" and c.mesh_axes == ["x"]


# --- replica groups in every form XLA prints -------------------------------------------------

MESH_2x4 = MeshInfo(axes=[MeshAxis("a", 2), MeshAxis("b", 4)])
GROUPS = [
    ("replica_groups={{0,4},{1,5},{2,6},{3,7}}", [[0, 4], [1, 5], [2, 6], [3, 7]], ["a"]),
    ("replica_groups=[2,4]<=[8]", [[0, 1, 2, 3], [4, 5, 6, 7]], ["b"]),
    ("replica_groups=[4,2]<=[2,4]T(1,0)", [[0, 4], [1, 5], [2, 6], [3, 7]], ["a"]),
    ("replica_groups=mesh['axis_0'=2,'axis_1'=4] {'axis_0'}", [[0, 4], [1, 5], [2, 6], [3, 7]], ["a"]),
    ("replica_groups=mesh['axis_0'=1,'axis_1'=8] {'axis_1'}", [list(range(8))], ["a", "b"]),
    ("replica_groups={}", [list(range(8))], ["a", "b"]),
    (
        "replica_groups=mesh['axis_0'=2,'axis_1'=1,'axis_2'=4], device_ids=([4,2]T(1,0)) {'axis_2'}",
        [[0, 2, 4, 6], [1, 3, 5, 7]],
        [],
    ),
    (
        "replica_groups=mesh['axis_0'=4,'axis_1'=2], device_ids=([2,4]T(1,0)) {'axis_0'}",
        [[0, 1, 2, 3], [4, 5, 6, 7]],
        ["b"],
    ),
]


@pytest.mark.parametrize(("attrs", "groups", "axes"), GROUPS)
def test_replica_groups_become_mesh_axes(attrs, groups, axes):
    parsed = sharding.parse_groups(attrs + ", use_global_device_ids=true", 8)
    assert parsed == groups
    assert sharding.axes_of_groups(parsed, MESH_2x4) == axes


def test_a_permute_crosses_the_axes_its_pairs_differ_on():
    pairs = sharding.parse_groups("source_target_pairs={{0,1},{1,2},{2,3},{3,0}}", 8)
    assert sharding.axes_of_groups(pairs, MESH_2x4, permute=True) == ["b"]


# --- the view -------------------------------------------------------------------------------


def _view_script(path: str) -> None:
    from pathlib import Path

    from app.views.sharding import sharding_tab
    from inspectors.results import InspectionResult

    sharding_tab(InspectionResult.from_json(Path(path).read_text()))


def test_the_view_shows_mesh_layouts_and_collectives(fsdp, tmp_path):
    path = tmp_path / "result.json"
    path.write_text(fsdp.to_json())
    at = AppTest.from_function(_view_script, args=(str(path),), default_timeout=30).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Devices"] == "4" and metrics["Mesh"] == "data=4" and metrics["Collectives"] == "3"
    table = at.dataframe[0].value
    assert list(table["collective"]) == [c.opcode for c in fsdp.sharding.collectives]
    assert list(table["line"]) == [c.line for c in fsdp.sharding.collectives]
    assert "x @ w1" in table["code"].iloc[0]
    eqn = next(e for e in jax_walk(fsdp) if e.id == fsdp.sharding.collectives[0].equations[0])
    picked = at.code[0].value  # the first collective until one is picked: its line, equation and HLO line
    assert "x @ w1" in picked and eqn.text in picked and fsdp.sharding.collectives[0].name in picked
    shown = " ".join(m.value for m in at.markdown)
    assert "each device holds `f32[64,256]`" in shown and "`P('data', None)`" in shown


def test_the_tiling_picture_puts_each_device_on_its_block(fsdp):
    from app.views.sharding import tiling_svg

    svg = tiling_svg(fsdp.sharding.inputs[0])  # f32[256,256] by rows over 4 devices: four horizontal bands
    rects = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg)
    assert [(float(x), float(w)) for x, _, w, _ in rects] == [(0.0, 220.0)] * 4
    assert [float(y) for _, y, _, _ in rects] == [0.0, 35.0, 70.0, 105.0]
    assert re.findall(r">(\d)</text>", svg) == ["0", "1", "2", "3"]


def test_a_single_device_program_has_no_collectives():
    result = inspect(Request(source="def f(x):\n    return x * 2\n", args="f32[8]"), use_cache=False)
    s = result.sharding
    assert s.devices == 1 and s.collectives == [] and s.mode == "single device"
    assert [(lay.sharding, lay.shard_type) for lay in s.inputs] == [("replicated", "f32[8]")]
    assert json.loads(result.to_json())["sharding"]["devices"] == 1


AUTOMATIC = """import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P


def mesh():
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))


def by_rows(shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(mesh(), P("data", None)))


def f(x, w):
    h = jnp.tanh(x @ w)
    h = jax.lax.with_sharding_constraint(h, NamedSharding(mesh(), P(None, "data")))
    return (h * 2).sum(axis=0)
"""


def test_automatic_mode_shows_shardings_after_propagation_at_their_equations():
    result = inspect(
        Request(source=AUTOMATIC, fn="f", args="by_rows((64, 256)), by_rows((256, 128))"), use_cache=False
    )
    s = result.sharding
    assert s.mode == "automatic (XLA's propagation)" and s.mesh.axes == [MeshAxis("data", 4, "Auto")]
    eqns = {e.id: e for e in jax_walk(result)}
    by_primitive = {lay.primitive: lay for lay in s.propagated}
    constraint = by_primitive["sharding_constraint"]
    assert (constraint.sharding, constraint.shard_type) == (
        "P(None, 'data')",
        "f32[64,32]",
    )  # what the user asked
    assert eqns[constraint.eqn].primitive == "sharding_constraint" and constraint.line == 16
    (out,) = s.outputs  # the root's propagated sharding is the compiled output's
    assert (by_primitive["reduce_sum"].sharding, by_primitive["reduce_sum"].shard_type) == (
        out.sharding,
        out.shard_type,
    )
    for lay in s.propagated:
        assert eqns[lay.eqn].primitive == lay.primitive and eqns[lay.eqn].source.line == lay.line
    assert {c.line for c in s.collectives} == {15}


def test_explicit_equation_shardings_equal_the_jaxpr_avals_shardings(fsdp):
    """Each equation's result sharding, read from the printed type, is the sharding JAX gave its aval."""
    module = load_module(fsdp.request.source, fsdp.request.filename)
    jitted = jax.jit(jax.jit(module.gradients))  # as the pipeline traces a pipeline ending in jit
    closed = jitted.trace(module.sharded_params(), module.sharded_batch()).jaxpr
    expected = []

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            for var in eqn.outvars:
                spec = var.aval.sharding.spec
                if any(p is not None for p in spec):
                    shard = [n // (4 if p else 1) for n, p in zip(var.aval.shape, spec, strict=False)]
                    expected.append(
                        (eqn.primitive.name, str(spec), sharding.short_type(var.aval.dtype, shard))
                    )
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                visit(getattr(sub, "jaxpr", sub))

    visit(closed.jaxpr)
    got = [(e.primitive, e.sharding, e.shard_type) for e in fsdp.sharding.equations]
    assert sorted(got) == sorted(expected) and got


REMATERIALIZED = """import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P


def mesh():
    return jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto, AxisType.Auto))


def spec(*names):
    return jax.ShapeDtypeStruct((16, 16, 16), jnp.float32, sharding=NamedSharding(mesh(), P(*names)))


def f(a, b, c):
    d = a + b
    d = jax.lax.with_sharding_constraint(d, NamedSharding(mesh(), P(None, ("x", "y"), None)))
    return c + d
"""


def test_the_full_remat_sample_gathers_over_each_axis_at_the_warned_line():
    result = inspect_sample("parallelization_full_remat")
    s, line = result.sharding, line_of(result, "d = a + b  # XLA warns")
    assert [w.line for w in s.warnings if w.kind == "full rematerialization"] == [line]
    assert sorted((c.opcode, tuple(c.mesh_axes), c.line) for c in s.collectives) == [
        ("all-gather", ("x",), line),
        ("all-gather", ("y",), line),
    ]


def test_xla_full_rematerialization_warning_is_caught_at_its_line(capfd):
    args = 'spec("y", None, "x"), spec("y", None, "x"), spec(None, ("x", "y"), None)'
    result = inspect(Request(source=REMATERIALIZED, fn="f", args=args), use_cache=False)
    printed = capfd.readouterr().err  # XLA's own message still reaches stderr
    (w,) = [w for w in result.sharding.warnings if w.kind == "full rematerialization"]
    assert w.message in printed and "Involuntary full rematerialization" in w.message
    assert w.line == 15 and w.op_name.endswith("add")  # `d = a + b`
    assert "warning (line 15)" in sharding.layouts_text(result.sharding)


def test_data_parallel_grad_leaves_one_backward_all_reduce_where_replicated_w_meets_the_batch():
    result = inspect_sample("parallelization_data_parallel")
    (c,) = result.sharding.collectives
    assert (c.opcode, c.phase, c.line, c.mesh_axes) == (
        "all-reduce",
        "backward",
        line_of(result, "x @ w - y"),
        ["batch"],
    )
    assert c.operand_bytes == 4 * 4 and c.reason.startswith("psum from grad")  # the gradient of w: f32[4]


def test_a_profiled_run_gives_each_collective_its_measured_time():
    sample = get_sample("parallelization_reshard")
    result = inspect(Request(source=sample.source(), filename=sample.path, profile=True, time_budget_s=0.2))
    ops = {op.name: op for op in result.profile.ops}
    (c,) = result.sharding.collectives
    assert ops[c.name].opcode == "all-to-all" and ops[c.name].time_s > 0
    assert re.search(rf"{re.escape(c.name)} \(reshard\) \d+\.\d µs$", sharding.collectives_text(
        result.sharding, {n: op.time_s for n, op in ops.items()}).splitlines()[1])  # fmt: skip


def test_colour_by_collective_paints_each_node_by_its_share_of_the_bytes(fsdp):
    from inspectors import cli, styles

    ns = cli.build_parser().parse_args(
        [fsdp.request.filename, "--graph-of", "hlo", "--color-by", "collective", "--emit", "dot"]
    )
    dot = cli.graph_text(fsdp, ns)
    total = fsdp.sharding.bytes_per_device
    for c in fsdp.sharding.collectives:
        assert (
            f'":{c.name}" [shape="box" style="rounded,filled" fillcolor="{styles.heat_color(c.bytes_per_device / total)}"'
            in dot
        )
    assert '"legend"' in dot and "% of the bytes moved" in dot
    assert re.search(rf'":get-tuple-element[.\d]*" \[[^\]]*fillcolor="{styles.NO_HEAT}"', dot)


@pytest.mark.slow
def test_the_app_draws_the_sharding_tab_on_the_devices_the_sidebar_picks():
    """The whole app: the sidebar's device count reaches the sandboxed worker, the tab draws its result."""
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True  # AppTest runs no browser code to ask for the rest
    at.query_params["sample"] = "parallelization_reshard"
    at.query_params["view"] = "Sharding"
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="devices").set_value(2).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Devices"], metrics["Mesh"], metrics["Collectives"]) == ("2", "x=2", "1")
    table = next(d.value for d in at.dataframe if d.value is not None and "collective" in d.value.columns)
    assert table["collective"].tolist() == ["all-to-all"] and table["who"].tolist() == ["asked"]


def graph_dots(at: AppTest, kind: str) -> list[str]:
    """The DOT of every graph of `kind` (`hlo`, `jaxpr-after`) the page drew, coloured by collective."""
    cache = at.session_state["_graph_cache"]
    return [
        dot for (key, _, opts, _), (_, dot) in cache.items() if key == kind and opts.colour_by == "collective"
    ]


@pytest.mark.slow
def test_the_app_colours_the_graphs_by_collective_as_the_cli_does():
    """Picking "collective" in a graph's colours fills each collective (and its equations) by its share of the bytes."""
    from inspectors import cli, styles

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True  # AppTest runs no browser code to ask for the rest
    for name, value in {"sample": "parallelization_fsdp", "devices": "4", "view": "Compiled HLO"}.items():
        at.query_params[name] = value
    at.session_state["hlo_view"] = "Graph"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="hlo_graph_colour").options == [
        "primitive family", "memory (residual bytes; on HLO: bytes at the peak)", "collective (bytes moved)"
    ]  # fmt: skip
    at.selectbox(key="hlo_graph_colour").set_value("collective").run()
    assert not at.exception, at.exception
    result = at.session_state["last_good"][1]
    s = result.sharding
    assert s.devices == 4 and {sharding.base_opcode(c.opcode) for c in s.collectives} >= {
        "all-gather",
        "all-reduce",
    }
    (dot,) = graph_dots(at, "hlo")
    for c in s.collectives:  # the styles code the CLI's `--color-by collective` uses
        fill = styles.heat_color(c.bytes_per_device / s.bytes_per_device)
        assert f'":{c.name}" [shape="box" style="rounded,filled" fillcolor="{fill}"' in dot
    assert re.search(rf'":get-tuple-element[.\d]*" \[[^\]]*fillcolor="{styles.NO_HEAT}"', dot)
    assert "% of the bytes moved" in dot and state_graph(at)["hlo_graph_colour"] == "collective"
    ns = cli.build_parser().parse_args(
        ["x.py", "--graph-of", "hlo", "--color-by", "collective", "--emit", "dot"]
    )
    assert cli.graph_text(result, ns) == dot.replace(
        f"compiled HLO of {result.entry}", f"hlo: {result.entry}"
    )

    at.session_state["view"] = "Graph"
    at.run()
    at.selectbox(key="jaxpr_graph_colour").set_value("collective").run()
    assert not at.exception, at.exception
    (after,) = graph_dots(at, "jaxpr-after")
    heat = sharding.collective_heat(s, "after")
    assert heat and all(f'fillcolor="{styles.heat_color(share)}"' in after for share in heat.values())
    ns = cli.build_parser().parse_args(
        ["x.py", "--graph-of", "after", "--color-by", "collective", "--emit", "dot"]
    )
    assert cli.graph_text(result, ns).count("fillcolor") == after.count("fillcolor")


def state_graph(at: AppTest) -> dict:
    """The graph options the shared link carries."""
    return dict(at.session_state["graph"])


@pytest.mark.slow
def test_the_device_picker_lists_the_devices_of_the_chosen_count():
    """The Device picker asks a worker split as the Virtual CPU devices picker says; a device gone is unpicked."""
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.session_state["plain_editor"] = True
    at.query_params["sample"] = "parallelization_reshard"
    at.query_params["devices"] = "4"
    at.run()
    assert not at.exception, at.exception
    cpus = lambda: [d for d in at.selectbox(key="device").options if d.startswith("cpu:")]  # noqa: E731
    assert cpus() == [f"cpu:{i} (virtual CPU device)" for i in range(4)]
    at.selectbox(key="device").set_value("cpu:3").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["last_good"][1].request.device == "cpu:3"
    at.selectbox(key="devices").set_value(2).run()
    assert cpus() == ["cpu:0 (virtual CPU device)", "cpu:1 (virtual CPU device)"]
    assert at.session_state["device"] == ""  # cpu:3 is not among 2 devices: back to the default
    at.selectbox(key="devices").set_value(1).run()
    assert cpus() == ["cpu:0"]


@pytest.mark.slow
def test_a_picked_collective_outlines_its_line_here_and_selects_it_in_the_source_map(fsdp):
    """The picked collective's source line is outlined in the Sharding view; the Source map gets the same pick."""
    from app.views import sharding as sharding_view

    for c in fsdp.sharding.collectives:
        line, eqn = sharding_view.source_map_pick(c)
        assert line == c.line and eqn == (c.equations[0] if c.line and len(c.equations) == 1 else None)
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True  # AppTest runs no browser code to ask for the rest
    for name, value in {"sample": "parallelization_fsdp", "devices": "4", "view": "Sharding"}.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    first = at.session_state["last_good"][1].sharding.collectives[0]  # picked until a row is
    source = at.session_state["code"].splitlines()
    (excerpt,) = [h.proto.body for h in at.get("html") if "sharding-line" in h.proto.body]
    outlined = re.findall(
        r'data-line="(\d+)" style="outline[^"]*"><td[^>]*>\d+</td><td[^>]*>([^<]*)<', excerpt
    )
    assert outlined == [
        (str(first.line), source[first.line - 1].replace("'", "&#x27;").replace('"', "&quot;"))
    ]
    # What a pick of another row stores (AppTest cannot click a dataframe's row): the Source map selects it.
    from app.views import source_map

    other = next(c for c in at.session_state["last_good"][1].sharding.collectives if c.line != first.line)
    at.session_state[source_map.PICK_KEY] = sharding_view.source_map_pick(other)
    at.session_state["view"] = "Source map"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="sm_line").value == other.line and source_map.PICK_KEY not in at.session_state
