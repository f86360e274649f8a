"""The stage chain: every intermediate jaxpr is JAX's own make_jaxpr of that partial pipeline."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from inspectors import Request, inspect
from inspectors.results import InspectionResult, LineEdit, Stage, apply_delta, line_delta
from tests.jax_reference import exec_source

SOURCE = """\
import jax.numpy as jnp


def two(x, y):
    return jnp.sum(jnp.sin(x) * y)


def unrolled(x, n):
    for _ in range(n):
        x = jnp.cos(x)
    return x.sum()
"""
S3 = jax.ShapeDtypeStruct((3,), jnp.float32)
S2x3 = jax.ShapeDtypeStruct((2, 3), jnp.float32)


def _jvp(g):
    """The CLI's `jvp`: ones-like tangents."""

    def jvp_g(*args):
        return jax.jvp(g, args, tuple(jnp.ones_like(a) for a in args))

    jvp_g.__name__ = f"jvp_{g.__name__}"
    return jvp_g


# (fn, args, pipeline, per stage K = 0..N: (the partial pipeline by hand, the arguments it is called with))
CHAIN_CASES = [
    (
        "two",
        "f32[3], f32[2,3]",
        ["grad", "vmap(in_axes=(None, 0))", "jit"],
        [
            (lambda f: f, (S3, S3)),
            (lambda f: jax.grad(f), (S3, S3)),
            (lambda f: jax.vmap(jax.grad(f), in_axes=(None, 0)), (S3, S2x3)),
            (lambda f: jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0))), (S3, S2x3)),
        ],
    ),
    (
        "two",
        "f32[3], f32[2,3]",
        ["vmap(in_axes=(None, 0))", "jacfwd"],
        [
            (lambda f: f, (S3, S3)),
            (lambda f: jax.vmap(f, in_axes=(None, 0)), (S3, S2x3)),
            (lambda f: jax.jacfwd(jax.vmap(f, in_axes=(None, 0))), (S3, S2x3)),
        ],
    ),
    (
        "two",
        "f32[3], f32[2,3]",
        ["checkpoint", "grad", "vmap(in_axes=(None, 0))"],
        [
            (lambda f: f, (S3, S3)),
            (lambda f: jax.checkpoint(f), (S3, S3)),
            (lambda f: jax.grad(jax.checkpoint(f)), (S3, S3)),
            (lambda f: jax.vmap(jax.grad(jax.checkpoint(f)), in_axes=(None, 0)), (S3, S2x3)),
        ],
    ),
    (
        "two",
        "f32[2,3], f32[3]",
        ["jit", "jacrev", "vmap(in_axes=(0, None))", "jvp"],
        [
            (lambda f: f, (S3, S3)),
            (lambda f: jax.jit(f), (S3, S3)),
            (lambda f: jax.jacrev(jax.jit(f)), (S3, S3)),
            (lambda f: jax.vmap(jax.jacrev(jax.jit(f)), in_axes=(0, None)), (S2x3, S3)),
            (lambda f: _jvp(jax.vmap(jax.jacrev(jax.jit(f)), in_axes=(0, None))), (S2x3, S3)),
        ],
    ),
    (
        "two",
        "f32[3], f32[3]",
        ["jvp", "jit"],
        [(lambda f: f, (S3, S3)), (lambda f: _jvp(f), (S3, S3)), (lambda f: jax.jit(_jvp(f)), (S3, S3))],
    ),
]


def _inspect(fn: str, args: str, pipeline: list[str]) -> InspectionResult:
    result = inspect(
        Request(source=SOURCE, filename="chain.py", fn=fn, args=args, transforms=pipeline), use_cache=False
    )
    assert result.ok, result.error and result.error.format()
    return result


@pytest.mark.parametrize("fn,args,pipeline,stages", CHAIN_CASES, ids=["+".join(c[2]) for c in CHAIN_CASES])
def test_every_intermediate_jaxpr_is_jax_own_make_jaxpr(fn, args, pipeline, stages):
    result = _inspect(fn, args, pipeline)
    f = getattr(exec_source(SOURCE, "chain.py"), fn)
    assert [s.id for s in result.jaxpr_stages()] == [f"jaxpr:{k}" for k in range(len(pipeline) + 1)]
    for k, (by_hand, specs) in enumerate(stages):
        assert result.find(f"jaxpr:{k}").text == str(jax.make_jaxpr(by_hand(f))(*specs)), f"jaxpr:{k}"
    assert result.jaxpr(0).text == result.find("jaxpr:0").text
    assert result.jaxpr().text == result.find(f"jaxpr:{len(pipeline)}").text


def test_static_arguments_stay_static_at_every_stage():
    result = _inspect("unrolled", "f32[3], 3", ["jit(static_argnums=1)", "grad"])
    f = exec_source(SOURCE, "chain.py").unrolled
    jitted = jax.jit(f, static_argnums=1)
    assert result.find("jaxpr:1").text == str(jax.make_jaxpr(jitted, static_argnums=1)(S3, 3))
    assert result.find("jaxpr:2").text == str(jax.make_jaxpr(jax.grad(jitted), static_argnums=1)(S3, 3))


def test_chain_runs_from_source_to_optimized_hlo_in_order():
    result = _inspect("two", "f32[3], f32[2,3]", ["grad", "vmap(in_axes=(None, 0))", "jit"])
    ids = [s.id for s in result.stages]
    assert ids[:5] == ["source", "jaxpr:0", "jaxpr:1", "jaxpr:2", "jaxpr:3"]
    assert ids.index("stablehlo") < ids.index("hlo-unoptimized") < ids.index("hlo")
    names = [s.name for s in result.jaxpr_stages()]
    assert names == [
        "two",
        "grad(two)",
        "vmap(grad(two), in_axes=(None, 0))",
        "jit(vmap(grad(two), in_axes=(None, 0)))",
    ]
    assert [s.transform for s in result.jaxpr_stages()] == ["", "grad", "vmap(in_axes=(None, 0))", "jit"]
    assert result.find("source").text == SOURCE
    assert result.find("jaxpr:1").stats == {
        "sin": 1,
        "cos": 1,
        "mul": 3,
        "reduce_sum": 1,
        "broadcast_in_dim": 1,
    }
    own_time = [s for s in result.stages if s.kind not in ("source", "hlo-pass", "llvm", "asm", "ptx")]
    assert all(s.time_s is not None and s.time_s >= 0 for s in own_time)
    # XLA does not report a time per pass or per kernel: none is shown rather than the compile's on each
    assert all(s.time_s is None for s in result.stages if s.kind in ("hlo-pass", "llvm", "asm"))


def test_progressive_delivery_announces_jaxprs_before_lowering():
    seen: list[list[tuple[str, bool, bool]]] = []

    def heard(result, stages):
        seen.append([(s.id, s.text is not None, s.model is not None) for s in stages])

    request = Request(source=SOURCE, filename="chain.py", fn="two", args="f32[3], f32[3]", transforms=["grad", "jit"])
    result = inspect(request, use_cache=False, on_stage=heard)
    assert seen[0] == seen[1] == [("source", True, False)]  # again with the entry the import resolved
    assert result.find("source").expression == "two"
    assert seen[2] == [("jaxpr:2", True, False)]  # the whole pipeline's text first
    assert seen[3] == [("jaxpr:0", True, False), ("jaxpr:1", True, False)]  # then the partial pipelines'
    assert seen[4] == [("jaxpr:0", True, True), ("jaxpr:1", True, True), ("jaxpr:2", True, True)]  # then models
    assert [i for i, _, _ in seen[5]] == ["stablehlo", "stablehlo-debug", "hlo-unoptimized"]
    assert "hlo" in [i for i, _, _ in seen[6]]
    assert {i for group in seen for i, _, _ in group} == {s.id for s in result.stages}


def test_a_failing_compile_never_hides_the_jaxprs():
    code = (
        "import jax\n\n\ndef f(x):\n"
        "    return jax.ffi.ffi_call('no_such_target', jax.ShapeDtypeStruct(x.shape, x.dtype))(x)\n"
    )
    seen: list[list[str]] = []
    request = Request(source=code, filename="chain.py", fn="f", args="f32[3]", transforms=["jit"])
    result = inspect(request, use_cache=False, on_stage=lambda r, stages: seen.append([s.id for s in stages]))
    assert result.error.stage == "compile"
    assert seen[:6] == [["source"], ["source"], ["jaxpr:1"], ["jaxpr:0"], ["jaxpr:0", "jaxpr:1"], ["stablehlo", "stablehlo-debug", "hlo-unoptimized"]]
    assert "ffi_call" in result.find("jaxpr:1").text and result.text_of("hlo") is None


def test_a_failing_transform_keeps_the_stages_before_it():
    request = Request(
        source=SOURCE,
        filename="chain.py",
        fn="two",
        args="f32[2,3], f32[3]",
        transforms=["vmap(in_axes=(0, None))", "grad"],
    )
    result = inspect(request, use_cache=False)
    assert result.error.kind == "TypeError" and "scalar" in result.error.message
    assert result.find("jaxpr:1").text.startswith("{ lambda ; a:f32[2,3] b:f32[3]. let")
    assert result.find("jaxpr:2").error == result.error and result.jaxpr().text is None


def test_chain_survives_json_and_older_flat_json_still_loads():
    result = _inspect("two", "f32[3], f32[3]", ["grad"])
    again = InspectionResult.from_json(result.to_json())
    assert again == result and again.jaxpr().text == result.jaxpr().text
    flat = {"request": {"source": "x"}, "jaxpr_before": "{ a }", "jaxpr_after": "{ b }", "hlo": "HloModule m"}
    old = InspectionResult.from_dict(flat)
    assert (old.jaxpr(0).text, old.jaxpr().text, old.text_of("hlo")) == ("{ a }", "{ b }", "HloModule m")
    assert [s.id for s in old.stages] == ["jaxpr:0", "jaxpr:1", "hlo"]
    only = InspectionResult.from_dict({"request": {"source": "x"}, "jaxpr_before": "{ a }", "model_after": None})
    assert only.jaxpr().id == "jaxpr:0" and only.jaxpr().text == "{ a }"  # no pipeline: the last jaxpr is jaxpr:0


def test_a_result_without_jaxprs_reads_an_empty_jaxpr_stage():
    failed = InspectionResult(request=Request(source="import nope"))
    assert (failed.jaxpr().text, failed.jaxpr().model, failed.jaxpr(0).model, failed.jaxpr(3).text) == (None,) * 4
    assert failed.stages == []  # reading did not add a stage


def test_request_key_ignores_the_time_budget_only_when_not_timing():
    a, b = Request(source="x", time_budget_s=1.0), Request(source="x", time_budget_s=2.0)
    assert a.key() == b.key()
    assert (
        Request(source="x", time=True, time_budget_s=1.0).key()
        != Request(source="x", time=True, time_budget_s=2.0).key()
    )
    assert a.key() != Request(source="y").key()


def test_pass_texts_are_stored_as_line_deltas():
    old, new = "a\nb\nc\nd\n", "a\nB\nc\nd\ne\n"
    edits = line_delta(old, new)
    assert edits == [LineEdit(1, 2, ["B"]), LineEdit(4, 4, ["e"])]
    assert apply_delta(old, edits) == new
    result = InspectionResult(request=Request(source=""))
    result.put(Stage(id="hlo-pass:1", kind="hlo-pass", text=old))
    result.put(Stage(id="hlo-pass:2", kind="hlo-pass", base="hlo-pass:1", delta=edits))
    assert result.stage("hlo-pass:2").text == new and result.find("hlo-pass:2").text is None


def test_the_sandboxed_worker_streams_each_stage_once_as_it_completes():
    from inspectors.passes import NO_PROGRAMS
    from inspectors.sandbox import Limits, Pool, inspect_in

    seen: list[list[str]] = []
    frames: list[dict] = []
    request = Request(source=SOURCE, filename="chain.py", fn="two", args="f32[3], f32[3]", transforms=["grad", "jit"])
    limits = Limits(isolation="subprocess", timeout_s=60.0, memory_mb=3072, output_mb=8.0, workers=1, queue=4)
    with Pool(limits) as pool:
        pool.start()
        final = inspect_in(pool, request, on_partial=lambda so_far: seen.append([s.id for s in so_far.stages]))
        raw = pool.run("inspect", {**request.__dict__, "caps": {}}, on_partial=frames.append)
    assert final.ok, final.error and final.error.format()
    # Frames that only say which stage is running leave the stages as they were: keep the changes.
    seen = [ids for i, ids in enumerate(seen) if i == 0 or ids != seen[i - 1]]
    assert seen[:2] == [["source"], ["source", "jaxpr:2"]]  # the whole pipeline's jaxpr first
    assert seen.index([s for s in seen if "stablehlo" in s][0]) < seen.index([s for s in seen if "hlo" in s][0])
    assert seen[-1] == [s.id for s in final.stages]
    # One stage per frame; a stage goes once, except a jaxpr (its text, then its model) and the
    # source (again with its expression, once the import resolved the entry).
    sent = [f["stages"][0]["id"] for f in frames if "stages" in f]
    assert all(len(f["stages"]) == 1 for f in frames if "stages" in f)
    twice = {i for i in sent if sent.count(i) > 1}
    assert twice == {"source", "jaxpr:0", "jaxpr:1", "jaxpr:2"} and max(map(sent.count, sent)) == 2
    assert raw.data["stages"] == [] and raw.data["source_map"] is None  # the closing frame repeats nothing
    here = inspect(request, use_cache=False)
    assert [s.text for s in final.jaxpr_stages()] == [s.text for s in here.jaxpr_stages()]
    assert [s.id for s in final.stages] == [s.id for s in here.stages]
    assert all(s.note == NO_PROGRAMS for s in final.of_kind("asm"))
    assert final.source_map == here.source_map and final.provenance == here.provenance


def test_source_map_and_provenance_come_with_the_result():
    from inspectors.mapping import source_map
    from inspectors.provenance import grad_provenance, jit_provenance, vmap_provenance

    result = _inspect("two", "f32[3], f32[2,3]", ["grad", "vmap(in_axes=(None, 0))", "jit"])
    assert result.source_map == source_map(result)
    assert result.source_map.lines and any(info.eqns_after for info in result.source_map.lines)
    assert result.provenance.grad == grad_provenance(result.jaxpr().model)
    assert result.provenance.vmap == vmap_provenance(result.jaxpr(0).model, result.jaxpr().model)
    assert result.provenance.jit == jit_provenance(result, result.source_map)
    again = InspectionResult.from_json(result.to_json())
    assert again.source_map == result.source_map and again.provenance == result.provenance


def test_a_delta_too_costly_to_align_is_one_exact_replacement(monkeypatch):
    import inspectors.results as results

    monkeypatch.setattr(results, "MAX_DELTA_WORK", 3)
    old, new = "a\nb\nc\nd\ne\n", "a\nB\nc\nD\ne\n"
    assert line_delta(old, new) == [LineEdit(1, 4, ["B", "c", "D"])]
    assert apply_delta(old, line_delta(old, new)) == new
