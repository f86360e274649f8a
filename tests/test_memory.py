"""Where the memory goes: residuals against `print_saved_residuals`, peaks against `memory_analysis()`."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import re
import sys
from collections import Counter
from pathlib import Path

import jax
import jax.ad_checkpoint
import jax.numpy as jnp
import pytest

from inspectors import catalog, inspect_fn, memory, pipeline, source, transforms
from inspectors.cli import main as cli_main
from inspectors.results import InspectionResult, MemoryReport, Request

sys.path.insert(0, str(Path(__file__).parent))
from models import eqx_mlp, linen_mlp, memory_models, nnx_mlp  # noqa: E402

WS = [jnp.ones((16, 16)) * 0.1, jnp.ones((16, 16)) * 0.2]
X = jnp.ones((8, 16))
PARAMS = {"x": jnp.ones((8, 16)), "w1": jnp.ones((16, 32)), "w2": jnp.ones((32, 4))}


def jax_printed(f, *args) -> list[str]:  # noqa: ANN001
    """Return what `jax.ad_checkpoint.print_saved_residuals` prints, one line per residual."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        jax.ad_checkpoint.print_saved_residuals(f, *args)
    return out.getvalue().splitlines()


def ours(result: InspectionResult) -> list[str]:
    """Return our residual list as JAX words each line."""
    return [r.jax_text for r in result.memory_report.residuals.residuals]


@pytest.fixture(scope="module")
def layers_grad() -> InspectionResult:
    """`jit(vjp(layers))` on two layers: every input differentiated, so JAX's list is the whole answer."""
    return inspect_fn(memory_models.layers, WS, X, transforms=["vjp", "jit"])


def test_residuals_equal_print_saved_residuals(layers_grad: InspectionResult) -> None:
    assert ours(layers_grad) == jax_printed(memory_models.layers, WS, X)
    report = layers_grad.memory_report.residuals
    lines = [
        int(m.group(1))
        for t in jax_printed(memory_models.layers, WS, X)
        if (m := re.search(r":(\d+):\d+ ", t))
    ]
    assert [r.line for r in report.residuals if r.line is not None] == lines
    assert report.total_bytes == sum(r.bytes for r in report.residuals) > 0
    assert {r.made_by for r in report.residuals} >= {"argument ws[0]", "argument x", "named 'act'"}


@pytest.mark.parametrize(
    "policy",
    ["nothing_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable", "save_only_these_names:act"],
)
def test_residuals_under_checkpoint_policies_equal_jax(policy: str) -> None:
    chosen = memory.policy_of(policy)
    f = jax.checkpoint(memory_models.layers, policy=chosen)
    r = inspect_fn(f, WS, X, transforms=["vjp"])
    assert ours(r) == jax_printed(f, WS, X)
    assert ours(r) != jax_printed(memory_models.layers, WS, X)  # the policy changed what is saved


def test_grad_of_a_pytree_loss_groups_by_line_and_scope() -> None:
    r = inspect_fn(memory_models.mlp_loss, PARAMS, transforms=["grad", "jit"])
    assert ours(r) == jax_printed(memory_models.mlp_loss, PARAMS)
    rep = r.memory_report.residuals
    assert sum(g.bytes for g in rep.by_line) == rep.total_bytes == sum(g.bytes for g in rep.by_scope)
    assert "hidden" in {g.key for g in rep.by_scope}


def test_grad_of_one_argument_saves_what_that_grad_needs() -> None:
    """grad(argnums=0) keeps `x` (not differentiated) as JAX keeps a closed-over value: same types, lines."""
    r = inspect_fn(memory_models.layers, WS, X, transforms=["grad", "jit"])
    closed = jax_printed(lambda ws: memory_models.layers(ws, X), WS)
    # JAX lists a closed-over value first, as a constant; the grad's undifferentiated input is that value.
    assert sorted(t.replace("from the argument x", "from a constant") for t in ours(r)) == sorted(closed)
    assert "f32[16,16] from the argument ws[0]" not in ours(r)  # only dx would need ws[0]


@pytest.mark.parametrize(
    ("module", "model", "transform"),
    [(linen_mlp, "params", "vjp"), (nnx_mlp, "model", "vjp"), (eqx_mlp, "model", "vjp")],
)
def test_library_models_equal_jax(module, model: str, transform: str) -> None:  # noqa: ANN001
    x = jnp.ones((4, 8))
    if module is linen_mlp:
        args = (module.params, x)
        f = module.loss
    else:
        args, f = (getattr(module, model), x), module.loss
    r = inspect_fn(f, *args, transforms=[transform])
    assert r.error is None, r.error and r.error.format()
    assert ours(r) == jax_printed(f, *args)


@pytest.fixture(scope="module")
def held() -> InspectionResult:
    return inspect_fn(memory_models.held, jnp.ones((512, 8)), jnp.ones((8, 512)), transforms=["jit"])


def test_peak_totals_equal_memory_analysis(held: InspectionResult, layers_grad: InspectionResult) -> None:
    for result in (held, layers_grad):
        peak = result.memory_report.peak
        assert peak.available
        for what, assigned, analysed in memory.reconcile(peak):
            assert assigned == analysed, what
        assert peak.analysis == result.memory
        assert peak.peak_bytes == max(peak.live_bytes) == peak.live_bytes[peak.peak_step]
        assert peak.peak_bytes <= sum(peak.totals[k] for k in ("argument", "output", "temporary", "constant"))


def test_peak_is_held_by_the_matmul_line(held: InspectionResult) -> None:
    source = Path(memory_models.__file__).read_text().splitlines()
    matmul = next(i for i, line in enumerate(source, 1) if "c = a @ b" in line)
    first = held.memory_report.peak.at_peak[0]
    assert first.line == matmul and first.type == "f32[512,512]" and first.bytes == 512 * 512 * 4
    assert first.instruction in held.text_of("hlo")
    assert held.memory_report.peak.xla_peak_bytes == held.memory_report.peak.peak_bytes


def test_remat_policy_compares_with_one_compile(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "layers.py"
    path.write_text(Path(memory_models.__file__).read_text())
    argv = [
        str(path),
        "--fn",
        "layers",
        "--args",
        "[f32[16,16], f32[16,16]], f32[8,16]",
        "--transform",
        "vjp",
    ]
    assert cli_main([*argv, "--emit", "residuals", "--remat-policy", "dots_saveable"]) == 0
    out, err = capsys.readouterr()
    rows = out.splitlines()
    assert rows and all(re.match(r"^\S+\s+\d+ B  \S.*", row) for row in rows)
    assert "output of tanh  line 10" in out
    assert "# remat dots_saveable" in err and "+ f32[8,16] output of dot_general line 10" in err
    assert cli_main([*argv, "--emit", "memory"]) == 0
    out, _ = capsys.readouterr()
    head, *buffers = out.splitlines()
    assert head.startswith("peak ") and re.search(r"peak (\d+) B", head)
    sizes = [int(re.search(r"\s(\d+) B\s", b).group(1)) for b in buffers]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == int(
        re.search(r"peak (\d+) B", head).group(1)
    )


LAYERS_REQUEST = Request(
    source=Path(memory_models.__file__).read_text(),
    filename="layers.py",
    fn="layers",
    args="[f32[16,16], f32[16,16]], f32[8,16]",
    transforms=["vjp", "jit"],
)


@pytest.mark.parametrize("policy", ["dots_saveable", "nothing_saveable"])
def test_compare_job_equals_the_pipelines_remat(policy: str) -> None:
    full = pipeline.inspect(dataclasses.replace(LAYERS_REQUEST, remat_policy=policy), use_cache=False)
    assert full.error is None and full.memory_report.remat is not None
    before = [dataclasses.asdict(r) for r in full.memory_report.residuals.residuals]
    data = memory.remat_job(
        {"request": dataclasses.asdict(LAYERS_REQUEST), "policy": policy, "before": before}
    )
    alone, inspected = MemoryReport.from_dict(data).remat, full.memory_report.remat
    assert alone.error == "" and alone.compile_s > 0
    alone.compile_s = inspected.compile_s = 0.0  # a measurement: the rest must be the same, field for field
    assert alone == inspected
    made = [r for r in alone.residuals if r.primitive]  # outputs of equations, linked to the program's
    assert all(r.equation for r in made) and bool(made) == (policy == "dots_saveable")
    assert alone.added or alone.removed


def test_compare_job_reports_a_program_without_grad() -> None:
    request = dataclasses.replace(LAYERS_REQUEST, transforms=["jit"])
    data = memory.remat_job({"request": dataclasses.asdict(request), "policy": "dots_saveable", "before": []})
    assert "no grad" in MemoryReport.from_dict(data).remat.error


def test_no_grad_says_so(held: InspectionResult) -> None:
    assert held.memory_report.residuals is None
    assert "no grad" in held.memory_report.notes[0]


def test_report_survives_json(layers_grad: InspectionResult) -> None:
    again = InspectionResult.from_json(layers_grad.to_json())
    assert again.memory_report == layers_grad.memory_report


def test_no_buffer_assignment_is_not_available(tmp_path: Path) -> None:
    peak = memory.read_peak(str(tmp_path), "", "main.py", None, [], {"temp_size_in_bytes": 4})
    assert not peak.available and "not available" in peak.note and peak.analysis == {"temp_size_in_bytes": 4}


def test_memory_view_in_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from app import backend, state
    from app.views.memory import pick_lines

    calls: Counter[str] = Counter()

    def counted(name: str, fn):  # noqa: ANN001, ANN202
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return fn(*args, **kwargs)

        return call

    monkeypatch.setattr(backend, "run_inspection", counted("inspect", backend.run_inspection))
    monkeypatch.setattr(backend, "run_remat", counted("remat", backend.run_remat))

    app = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True
    at.query_params["view"] = "Memory"
    at.run()
    assert not at.exception, at.exception
    result = next(iter(at.session_state["_inspections"].values()))
    report = result.memory_report
    texts = " ".join(m.value for m in at.markdown)
    assert "The compiled peak" in texts
    assert (
        f"{len(report.residuals.residuals)} residuals, {memory.fmt_bytes(report.residuals.total_bytes)}"
        in texts
    )
    frames = [d.value for d in at.dataframe]
    shown = next((f for f in frames if "JAX prints" in f.columns), None)
    assert shown is not None, [list(f.columns) for f in frames]
    assert list(shown["JAX prints"]) == [r.jax_text for r in report.residuals.residuals]
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert calls == {"inspect": 1}
    first, r = (
        report.peak.at_peak[0],
        report.residuals.residuals[0],
    )  # each table's pick, the first row until one
    codes = [c.value for c in at.code]
    assert (
        "\n".join(pick_lines(result, first.line, first.equations, first.instruction, first.argument)) in codes
    )
    argument = r.made_by.removeprefix("argument ") if r.made_by.startswith("argument ") else ""
    assert "\n".join(pick_lines(result, r.line, [r.equation] if r.equation else [], "", argument)) in codes
    at.button(key="memory_compare").click().run()
    assert not at.exception, at.exception
    assert calls == {"inspect": 1, "remat": 1}  # Compare compiles the variant alone: no second inspection
    remat = next(f for f in (d.value for d in at.dataframe) if "as written" in f.columns)
    assert list(remat.iloc[:, 0]) == ["residuals", "peak live", "FLOPs"]
    variant = at.session_state["memory_variants"][(state.request_key(result.request), "nothing_saveable")]
    assert list(remat[variant.policy]) == [
        f"{variant.residual_count} · {memory.fmt_bytes(variant.residual_bytes)}",
        memory.fmt_bytes(variant.peak_bytes),
        f"{variant.flops:,.0f}",
    ]
    diff = next(c.value for c in at.code if c.language == "diff")
    assert diff.splitlines() == [f"+ {a}" for a in variant.added] + [f"- {r}" for r in variant.removed]


GRAD_SAMPLES = [
    s
    for s in catalog.list_samples()
    if s.transforms and s.transforms[0].split("(")[0] in memory.DIFFERENTIATING
]


def expected_for_sample(sample: catalog.Sample) -> tuple[list[str], set[str]]:
    """JAX's `print_saved_residuals` for the sample's differentiated function on its inputs.

    The inputs the grad leaves alone are closed over (JAX lists them as constants); returns
    JAX's lines and the names of those inputs.
    """
    module = source.load_module(sample.source(), f"{sample.name}.py")
    f = source.entry_function(module, sample.entry)
    args, _ = source.eval_inputs(sample.args, module)
    args = jax.tree_util.tree_map(
        lambda a: jnp.asarray(a) if hasattr(a, "shape") else a, source.materialize(args)
    )
    head = transforms.parse_transform(sample.transforms[0])
    diff = memory.diff_positions(head.name, head.options, len(args))
    params = list(inspect.signature(f).parameters.values())

    def only_diff(*d):  # noqa: ANN002, ANN202
        it = iter(d)
        return f(*[next(it) if i in diff else a for i, a in enumerate(args)])

    only_diff.__signature__ = inspect.Signature([params[i] for i in diff])
    printed = jax_printed(only_diff, *[args[i] for i in diff])
    return printed, {params[i].name for i in range(len(args)) if i not in diff}


@pytest.mark.parametrize("sample", GRAD_SAMPLES, ids=lambda s: s.name)
def test_every_grad_sample_equals_print_saved_residuals(sample: catalog.Sample) -> None:
    if "vmap" in " ".join(sample.transforms[1:]):
        pytest.skip("per example under vmap: JAX's printer has no batched form to compare with")
    result = pipeline.inspect(Request(source=sample.source(), filename=f"{sample.name}.py"), use_cache=False)
    assert result.error is None, result.error.format()
    printed, closed = expected_for_sample(sample)

    def as_constant(line: str) -> str:
        m = re.match(r"(\S+) from the argument (\w+)", line)
        return f"{m.group(1)} from a constant" if m and m.group(2) in closed else line

    assert sorted(map(as_constant, ours(result))) == sorted(printed)


@pytest.mark.parametrize(("module", "transform"), [(eqx_mlp, "eqx.filter_grad"), (nnx_mlp, "nnx.grad")])
def test_library_grads_equal_jax(module, transform: str) -> None:  # noqa: ANN001
    """`eqx.filter_grad` and `nnx.grad` differentiate the model: JAX's list for the model, `x` closed over."""
    x = jnp.ones((4, 8))
    r = inspect_fn(module.loss, module.model, x, transforms=[transform])
    assert r.error is None and r.memory_report.residuals.transform == transform

    def only_model(model):  # noqa: ANN001, ANN202
        return module.loss(model, x)

    printed = jax_printed(only_model, module.model)
    assert sorted(t.replace("from the argument x", "from a constant") for t in ours(r)) == sorted(printed)


def test_a_grad_inside_the_function_is_read_from_the_program() -> None:
    """`nnx.value_and_grad` inside `train_step`: the forward/backward split gives JAX's list for `loss_fn`."""
    sample = catalog.get_sample("real_models_nnx_train_step")
    result = pipeline.inspect(Request(source=sample.source(), filename=f"{sample.name}.py"), use_cache=False)
    rep = result.memory_report.residuals
    assert rep.transform == "grad inside the function" and "read from the traced program" in rep.note
    module = source.load_module(sample.source(), f"{sample.name}.py")
    x, y = jnp.ones((16, 8)), jnp.ones((16, 1))

    def loss_of(model):  # noqa: ANN001, ANN202
        return module.loss_fn(model, x, y)

    def triple(line: str) -> tuple[str, str, int | None]:
        m = re.match(r"(\S+) (?:from the )?(.*?)(?: from \S+:(\d+):\d+ .*)?$", line)
        return m.group(1), m.group(2), int(m.group(3)) if m.group(3) else None

    printed = jax_printed(loss_of, module.model)
    expected = Counter(triple(t.replace("from a constant", "from the argument x")) for t in printed)
    found = Counter((r.type, r.made_by, r.line) for r in rep.residuals)
    assert not found - expected  # everything listed is in JAX's own list
    # What JAX's list has besides: a broadcast of a constant, which the grad in the program rebuilds
    # in its backward pass instead of saving (its backward reads a fresh `broadcast_in_dim 0.0`).
    assert {made_by for _, made_by, _ in (expected - found).elements()} <= {"output of broadcast_in_dim"}


def test_memory_heat_follows_the_bytes(held: InspectionResult, layers_grad: InspectionResult) -> None:
    heat = memory.source_heat(held.memory_report)
    assert abs(sum(heat.values()) - 1) < 1e-9
    assert max(heat, key=heat.get) == held.memory_report.peak.at_peak[0].line
    eqn_heat = memory.equation_heat(layers_grad.memory_report)
    residuals = layers_grad.memory_report.residuals.residuals
    assert set(eqn_heat) == {r.equation for r in residuals if r.equation}


def test_donated_inputs_are_named_and_counted_as_aliased() -> None:
    w = jnp.ones((64, 64))
    r = inspect_fn(memory_models.sgd_step, w, w, transforms=["jit(donate_argnums=0)"])
    peak = r.memory_report.peak
    assert peak.aliases == ["output {} ← params (parameter 0)"]
    assert peak.totals["alias"] == r.memory["alias_size_in_bytes"] == w.nbytes
    held_params = next(b for b in peak.at_peak if b.argument == "params")
    assert held_params.kind == "argument, output"


# --- `--color-by memory`: residual bytes on the jaxpr graph, bytes live at the peak on the compiled HLO


def dot_fills(argv: list[str], capsys: pytest.CaptureFixture) -> dict[str, str]:
    """Run the CLI's `--emit dot`; return each DOT node's fill colour."""
    assert cli_main(argv) == 0
    out, _ = capsys.readouterr()
    return dict(re.findall(r'^\s*"([^"]+)" \[[^\n]*?fillcolor="(#[0-9a-f]{6})"', out, re.M))


def test_color_by_memory_paints_the_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture, layers_grad: InspectionResult
) -> None:
    from inspectors.results import walk
    from inspectors.styles import NO_HEAT, heat_color

    path = tmp_path / "layers.py"
    path.write_text(Path(memory_models.__file__).read_text())
    argv = [str(path), "--fn", "layers", "--args", "[f32[16,16], f32[16,16]], f32[8,16]"]
    argv += ["--transform", "vjp", "--transform", "jit", "--emit", "dot", "--color-by", "memory"]
    # The jaxpr: each equation by its share of the residual bytes (the ones an equation made).
    made = [r for r in layers_grad.memory_report.residuals.residuals if r.equation]
    share = Counter()
    for r in made:
        share[r.equation] += r.bytes / sum(m.bytes for m in made)
    fills = dot_fills(argv, capsys)
    eqns = [e.id for e in walk(layers_grad.stage("jaxpr:2").model)]
    assert {e: fills[f"eqn_{e}"] for e in eqns} == {e: heat_color(share.get(e)) for e in eqns}
    assert {e for e in eqns if fills[f"eqn_{e}"] != NO_HEAT} == set(share) != set()
    # The compiled HLO, fusions closed: each instruction by its share of the bytes live at the peak.
    peak = layers_grad.memory_report.peak
    held = Counter()
    for b in peak.at_peak:
        held[b.instruction] += b.bytes / peak.peak_bytes
    fills = dot_fills([*argv, "--graph-of", "hlo", "--graph-depth", "0"], capsys)
    ops = {n.removeprefix(":"): f for n, f in fills.items() if n.startswith(":")}
    assert ops == {name: heat_color(held.get(name)) for name in ops}
    assert {name for name, f in ops.items() if f != NO_HEAT} == set(held)
    # The parameters too: each argument's buffer (named in the buffer assignment) paints its node.
    arguments = {b.instruction for b in peak.at_peak if b.argument}
    assert arguments and all(ops[name] == heat_color(held[name]) != NO_HEAT for name in arguments)
    # Fusions open: the fused computation's root holds the fusion's buffer, so it wears its colour.
    fills = dot_fills([*argv, "--graph-of", "hlo", "--graph-depth", "3"], capsys)
    fused = [b.instruction for b in peak.at_peak if b.instruction.endswith("fusion")]
    for name in fused:
        inside = [f for n, f in fills.items() if n.startswith(f"{name}:")]
        assert inside.count(heat_color(held[name])) == 1, (name, inside)


def test_the_graph_view_colours_by_memory_in_the_app() -> None:
    from streamlit.testing.v1 import AppTest

    from inspectors.styles import heat_color

    app = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.session_state["plain_editor"] = True
    at.session_state["all_views_at_once"] = True
    at.session_state["view"] = "Graph"
    at.run()
    at.selectbox(key="jaxpr_graph_colour").set_value("memory").run()
    assert not at.exception, at.exception
    result = next(iter(at.session_state["_inspections"].values()))
    heat = dict(memory.equation_heat(result.memory_report))
    assert heat
    cache = at.session_state["_graph_cache"].items()
    graph, dot = next(v for k, v in cache if k[0] == "jaxpr-after" and k[2].colour_by == "memory")
    painted = {n.details["id"]: n.heat for n in graph.nodes if n.heat is not None and n.kind == "eqn"}
    assert painted == {e: heat[e] for e in painted} and set(painted) == set(heat)
    assert all(f'fillcolor="{heat_color(share)}"' in dot for share in heat.values())
    assert any("share of the residual bytes" in c.value for c in at.caption)


def test_a_picked_buffer_or_residual_names_its_line_equation_and_hlo(
    held: InspectionResult, layers_grad: InspectionResult
) -> None:
    from app.views.memory import pick_lines
    from inspectors.results import walk

    source = held.request.source.splitlines()
    first = held.memory_report.peak.at_peak[0]  # the matmul's output, held across the sort
    eqns = {e.id: e for e in walk(held.stage("jaxpr:1").model)}
    lines = pick_lines(held, first.line, first.equations, first.instruction)
    assert lines[0] == f"line {first.line}: {source[first.line - 1].strip()}" and "a @ b" in lines[0]
    assert lines[1:-1] == [f"equation {e}: {eqns[e].text}" for e in first.equations] and first.equations
    assert "dot_general" in lines[1]
    hlo = [h.strip() for h in held.text_of("hlo").splitlines()]
    assert lines[-1].removeprefix("HLO: ") in hlo and f"{first.instruction} = " in lines[-1]
    r = next(r for r in layers_grad.memory_report.residuals.residuals if r.equation)
    eqn = next(e for e in walk(layers_grad.stage("jaxpr:2").model) if e.id == r.equation)
    src = layers_grad.request.source.splitlines()
    assert pick_lines(layers_grad, r.line, [r.equation], "") == [
        f"line {r.line}: {src[r.line - 1].strip()}",
        f"equation {r.equation}: {eqn.text}",
    ]


def _memory_view_script(path: str) -> None:
    from pathlib import Path

    from app.views.memory import memory_tab
    from inspectors.results import InspectionResult

    memory_tab(InspectionResult.from_json(Path(path).read_text()))


def test_without_memory_analysis_the_report_and_view_say_not_available(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(jax.stages.Compiled, "memory_analysis", lambda self: None)  # as some backends
    source_text = "import jax.numpy as jnp\n\ndef f(w, x):\n    return jnp.sum(jnp.tanh(x @ w))\n"
    req = Request(source=source_text, filename="na.py", args="f32[8,8], f32[4,8]", transforms=["grad", "jit"])
    result = pipeline.inspect(req, use_cache=False)
    assert result.error is None and result.memory is None
    peak = result.memory_report.peak
    assert peak.available and peak.analysis == {}  # the buffer assignment still reads; XLA's totals do not
    assert [theirs for _, _, theirs in memory.reconcile(peak)] == [None] * 4
    path = tmp_path / "result.json"
    path.write_text(result.to_json())
    at = AppTest.from_function(_memory_view_script, args=(str(path),), default_timeout=60).run()
    assert not at.exception, at.exception
    totals = next(d.value for d in at.dataframe if "memory_analysis()" in d.value.columns)
    assert list(totals["total"]) == ["arguments", "outputs", "aliased", "temporaries"]
    assert list(totals["memory_analysis()"]) == ["not available"] * 4
    assert list(totals["agree"]) == [""] * 4  # nothing to agree with
    assert list(totals["buffer assignment"]) == [memory.fmt_bytes(t) for _, t, _ in memory.reconcile(peak)]
    assert not any("peak_memory_in_bytes" in c.value for c in at.caption)


def test_the_residual_thread_reports_its_exception_as_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    ran_on: list[str] = []

    def failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        ran_on.append(threading.current_thread().name)
        raise ValueError("boom")

    monkeypatch.setattr(memory, "saved_residuals", failing)
    req = Request(source="import jax.numpy as jnp\n\ndef f(x):\n    return jnp.sum(jnp.sin(x))\n",
                  args="f32[3]", transforms=["grad", "jit"])  # fmt: skip
    result = pipeline.inspect(req, use_cache=False)
    assert result.error is None and result.text_of("hlo")  # the compiled program is never hidden
    assert ran_on == [memory.THREAD_NAME]  # traced on its own thread, while XLA compiled
    assert result.memory_report.residuals is None
    assert result.memory_report.notes == ["residuals could not be computed: ValueError: boom"]
    monkeypatch.setattr(memory, "RESIDUALS_MEANWHILE", False)  # in turn, on this thread: the same note
    again = pipeline.inspect(req, use_cache=False)
    assert ran_on[1:] == [threading.main_thread().name]
    assert again.memory_report.notes == result.memory_report.notes
