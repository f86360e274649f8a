"""Local and hosted limits, each stage streamed once within its cap, and the stage store."""

from __future__ import annotations

import dataclasses
import json

import pytest

from inspectors import Request, inspect
from inspectors.pipeline import Streamer
from inspectors.results import InspectionResult
from inspectors.sandbox import Limits
from inspectors.sandbox.protocol import encode_json

SOURCE = """\
import jax.numpy as jnp


def loss(w, x):
    h = jnp.tanh(x @ w)
    return jnp.mean(h ** 2) + jnp.sum(jnp.sin(w))
"""
REQUEST = Request(
    source=SOURCE, filename="model.py", fn="loss", args="f32[8,8], f32[4,8]", transforms=["grad", "jit"]
)


@pytest.fixture(scope="module")
def here() -> InspectionResult:
    """The request inspected in this process (nothing capped)."""
    return inspect(REQUEST, use_cache=False)


def _size(stage) -> int:  # what the Streamer measures: the stage's JSON as sent, in bytes
    return len(encode_json(dataclasses.asdict(stage)))


def _rebuilt(
    result: InspectionResult, stage_cap: int | None, result_cap: int | None = None
) -> InspectionResult:
    """Stream `result` through a Streamer with these caps and put the frames back together, as the server does."""
    frames: list[dict] = []
    streamer = Streamer(frames.append, stage_cap, result_cap)
    streamer.stages(result, list(result.stages))
    closing = streamer.closing(dataclasses.replace(result, notes=[]))
    so_far = InspectionResult(request=result.request)
    for data in [*frames, closing]:
        so_far.absorb(InspectionResult.from_dict({**data, "request": dataclasses.asdict(result.request)}))
    return so_far


def test_local_limits_are_the_machines_and_hosted_ones_strict_per_stage() -> None:
    local, hosted = Limits.from_env({}), Limits.from_env({"JAXPR_EXPLORER_HOSTED": "1"})
    assert (local.stage_mb, local.result_mb, local.timeout_s) == (0, 0, 1800)
    assert local.memory_mb >= hosted.memory_mb and local.tmp_mb > hosted.tmp_mb
    assert (hosted.stage_mb, hosted.result_mb, hosted.timeout_s, hosted.output_mb) == (8, 64, 20, 16)
    assert Limits.from_env({"JAXPR_EXPLORER_STAGE_MB": "2"}).stage_mb == 2  # a variable still wins locally
    assert "no cap per stage" in local.describe() and "8 MB per stage" in hosted.describe()


def test_uncapped_streaming_rebuilds_the_result_exactly(here: InspectionResult) -> None:
    again = _rebuilt(here, None)
    assert [s.id for s in again.stages] == [s.id for s in here.stages]
    assert all(again.text_of(s.id) == here.text_of(s.id) for s in here.stages)
    assert again.source_map == here.source_map and again.provenance == here.provenance and not again.notes


def test_frames_sent_as_measured_json_equal_the_frames_themselves(here: InspectionResult, monkeypatch) -> None:
    from inspectors import pipeline
    from inspectors.sandbox.protocol import decode_json

    encoded = []
    monkeypatch.setattr(pipeline, "encode_json", lambda data: encoded.append(1) or encode_json(data))
    frames, blobs = [], []
    for streamer in (Streamer(frames.append, None, None), Streamer(None, None, None, blobs.append)):
        streamer.stages(here, list(here.stages))
        streamer.closing(dataclasses.replace(here, notes=[]))
    assert [decode_json(b) for b in blobs] == [json.loads(json.dumps(f)) for f in frames]
    assert len(encoded) == 2 * len(blobs)  # each frame's JSON made once per stream, and sent as it was measured


def test_a_stage_over_its_cap_is_named_and_every_other_stage_is_kept(here: InspectionResult) -> None:
    passes = here.of_kind("hlo-pass")
    assert passes[1].base == "hlo-pass:0" and passes[1].delta is not None  # a delta over the dropped pass
    cap = _size(passes[0]) - 1  # hlo-pass:0 (a whole module) is just over; its deltas are far under
    too_big = {s.id for s in here.stages if _size(s) > cap and s.model is None}
    again = _rebuilt(here, cap)
    dropped = again.find("hlo-pass:0")
    assert (
        dropped.text is None
        and dropped.note.startswith("hlo-pass:0 is ")
        and "cap per stage: not kept" in dropped.note
    )
    # The pass after it came with its whole text (its base is gone), equal to the uncapped one.
    assert again.find("hlo-pass:1").delta is None and again.text_of("hlo-pass:1") == here.text_of(
        "hlo-pass:1"
    )
    for stage in here.stages:
        if stage.id in too_big:
            assert stage.id in again.find(stage.id).note
        else:
            assert again.text_of(stage.id) == here.text_of(stage.id), stage.id


def test_a_jaxpr_whose_model_is_over_the_cap_keeps_its_text(here: InspectionResult) -> None:
    last = here.jaxpr_stages()[-1]
    cap = len(json.dumps(dataclasses.asdict(dataclasses.replace(last, model=None)))) + 200
    again = _rebuilt(here, cap).find(last.id)
    assert again.text == last.text and again.model is None and "its model is" in again.note


def test_analyses_over_the_cap_become_notes(here: InspectionResult) -> None:
    size = len(json.dumps({"source_map": dataclasses.asdict(here.source_map)}))
    again = _rebuilt(here, size - 1)
    assert again.source_map is None and any(n.startswith("the source map is ") for n in again.notes)
    assert again.provenance == here.provenance  # smaller: kept


def test_the_result_cap_keeps_the_first_stages_and_names_the_rest(here: InspectionResult) -> None:
    total = sum(_size(s) for s in here.stages)
    again = _rebuilt(here, None, result_cap=(1 << 20) + total // 2)
    notes = [s.note for s in again.stages if "cap per result" in s.note]
    assert notes and all("past the" in n for n in notes)
    assert again.text_of("jaxpr:0") == here.text_of("jaxpr:0")


def test_the_sandbox_keeps_to_a_hosted_cap_per_stage(here: InspectionResult) -> None:
    from inspectors.sandbox import Pool, inspect_in

    limits = Limits(
        isolation="subprocess", timeout_s=60.0, memory_mb=3072, stage_mb=0.004, workers=1, queue=4
    )
    with Pool(limits) as pool:
        result = inspect_in(pool, REQUEST)
    assert result.ok, result.error and result.error.format()
    assert [s.id for s in result.stages] == [s.id for s in here.stages]
    dropped = [s for s in result.stages if s.note.endswith("over the 4 KB cap per stage: not kept")]
    assert dropped and all(s.note.startswith(f"{s.id} is ") for s in dropped)
    kept = [
        s
        for s in result.stages
        if s.text is not None and s.id != "stablehlo-debug" and s.kind in ("jaxpr", "stablehlo")
    ]
    assert kept and all(s.text == here.text_of(s.id) for s in kept)


# --- the stage store ----------------------------------------------------------------------------


def _stored(here: InspectionResult, budget: int | None = None):
    from inspectors.store import StageStore

    store = StageStore(budget_bytes=budget)
    store.put(REQUEST.key(), here)
    return store


def test_a_stage_is_fetched_only_when_a_view_reads_it(here: InspectionResult) -> None:
    store = _stored(here)
    index = store.index(REQUEST.key())
    assert store.fetches == 0 and [s.id for s in index.stages] == [s.id for s in here.stages]
    summary = index.stages[-1]
    assert (
        summary.text is None and summary.size > 0 and summary.kind == here.stages[-1].kind
    )  # an index entry
    assert index.find("hlo").stats == here.find("hlo").stats and store.fetches == 1
    assert index.text_of("jaxpr:2") == here.text_of("jaxpr:2") and store.fetches == 2
    assert index.jaxpr().model == here.jaxpr().model and store.fetches == 2  # held: not fetched again
    assert index.text_of("hlo-pass:1") == here.text_of("hlo-pass:1")  # a delta: its base is fetched too
    assert store.fetches == 4
    assert index.source_map == here.source_map and index.provenance == here.provenance  # in the index itself


def test_put_returns_the_index_without_reading_it_back(here: InspectionResult) -> None:
    from inspectors.store import StageStore

    store = StageStore()
    index = store.put(REQUEST.key(), here)
    assert store.fetches == 0 and all(
        s.text is None and s.model is None and s.delta is None and s.module is None for s in index.stages
    )  # summaries only: the StableHLO module model too is a body, fetched with its stage
    read_back = store.index(REQUEST.key())
    assert [dataclasses.asdict(s) for s in index.stages] == [dataclasses.asdict(s) for s in read_back.stages]
    assert index.fetched().to_dict() == read_back.fetched().to_dict() == here.to_dict()
    assert index.find("stablehlo-debug").module == here.find("stablehlo-debug").module is not None


def test_as_data_is_what_asdict_gives(here: InspectionResult) -> None:
    from inspectors.results import as_data

    assert json.dumps(as_data(here), sort_keys=True) == json.dumps(dataclasses.asdict(here), sort_keys=True)
    stage = here.find("stablehlo-debug")
    assert as_data(stage) == json.loads(json.dumps(dataclasses.asdict(stage)))


def test_a_result_without_analyses_has_the_same_stages_and_is_never_cached(here: InspectionResult) -> None:
    from inspectors.cli import analyses_for
    from inspectors.pipeline import stage_store

    lean = inspect(REQUEST, analyses=frozenset())
    assert [s.id for s in lean.stages] == [s.id for s in here.stages]

    def text(result: InspectionResult, stage_id: str) -> str:  # less the caller's own frame (this file's lines)
        return "\n".join(line for line in (result.text_of(stage_id) or "").splitlines() if __file__ not in line)

    assert all(text(lean, s.id) == text(here, s.id) for s in here.stages)
    assert lean.jaxpr().model is None and here.jaxpr().model is not None  # `--emit stages` lists no equations
    modelled = inspect(REQUEST, analyses=frozenset({"models"}))  # what a diff reads
    assert [s.model for s in modelled.of_kind("jaxpr")] == [s.model for s in here.of_kind("jaxpr")]
    assert (lean.memory_report, lean.memory, lean.source_map, lean.provenance, lean.primitives, lean.sharding) == (None,) * 6
    assert here.memory_report and here.memory and here.source_map and here.primitives and here.sharding  # the full result
    assert not stage_store().has(REQUEST.key()) or stage_store().index(REQUEST.key()).memory_report
    assert {e: analyses_for(e) for e in ("stages", "hlo", "hlo-pass:3", "passes")} == {
        e: frozenset() for e in ("stages", "hlo", "hlo-pass:3", "passes")
    }
    assert analyses_for("diff:jaxpr:0..jaxpr:1") == frozenset({"models"})
    assert [analyses_for(e) for e in ("json", "memory", "residuals", "primitives", "svg", "profile")] == [None] * 6


def test_an_index_holds_a_bounded_number_of_bodies(here: InspectionResult) -> None:
    store = _stored(here)
    index = store.index(REQUEST.key())
    index.HELD = 2
    for stage_id in ("jaxpr:0", "jaxpr:1", "jaxpr:2"):
        index.find(stage_id)
    assert [s.text is not None for s in index.stages[1:4]] == [False, True, True]
    assert index.text_of("jaxpr:0") == here.text_of("jaxpr:0") and store.fetches == 4  # fetched again


def test_eviction_under_the_byte_budget_keeps_open_views_working(here: InspectionResult) -> None:
    store = _stored(here)
    budget = store.stored_bytes() * 3 // 2
    store.budget = budget
    index = store.index(REQUEST.key())
    shown = index.find("jaxpr:2")  # a view is open on it
    other = Request(**{**REQUEST.__dict__, "transforms": ["jit"]})
    store.put(other.key(), inspect(other, use_cache=False))
    assert store.stored_bytes() <= budget and store.evictions > 0
    assert store.complete(other.key()) and not store.complete(REQUEST.key())
    assert (
        index.find("jaxpr:2") is shown and index.jaxpr().model == here.jaxpr().model
    )  # the open view still reads it
    evicted = next(s.id for s in index.stages if store.fetch(REQUEST.key(), s.id) is None)
    assert "evicted from the stage store" in index.find(evicted).note


def test_a_saved_result_reopens_equal_to_the_live_one(here: InspectionResult, tmp_path) -> None:
    from inspectors.store import open_saved, save_result

    path = tmp_path / "result.jxe"
    save_result(here, str(path))
    again = open_saved(str(path))
    assert again.fetched().to_dict() == here.to_dict()


@pytest.mark.parametrize(
    "emit", ["jaxpr", "jaxpr-before", "stages", "hlo-pass:1", "diff:jaxpr:0..jaxpr:1", "stablehlo"]
)
def test_the_cli_opens_a_saved_result_with_every_emit(here: InspectionResult, tmp_path, emit: str) -> None:
    from inspectors.cli import emit_text, main
    from inspectors.store import save_result

    path = tmp_path / "result.jxe"
    save_result(here, str(path))
    ns = type("NS", (), {"emit": emit})()
    expected = emit_text(here, ns)

    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["open", str(path), "--emit", emit]) == 0
    assert out.getvalue() == expected + ("" if expected.endswith("\n") else "\n")


# --- Run & time keeps to its budget on big models -------------------------------------------------


def test_a_call_longer_than_the_budget_is_timed_once_and_says_so() -> None:
    import time

    from inspectors.timing import time_calls

    calls = []
    t = time_calls(lambda: calls.append(time.sleep(0.3)), "cpu:0", budget_s=0.25, first_s=0.31)
    assert calls == [] and (t.repeat, t.number, t.median_s) == (1, 1, 0.31)
    assert t.note == "1 call of 0.31 s; the 0.25 s budget allows no repeats"


def test_a_budget_for_two_repeats_times_two_and_says_so() -> None:
    import time

    from inspectors.timing import time_calls

    calls = []
    t = time_calls(lambda: calls.append(time.sleep(0.2)), "cpu:0", budget_s=0.9, first_s=0.2)
    assert t.repeat == 2 and t.number == 1 and len(calls) == 3  # one to measure a repeat, then two
    assert t.note.startswith("2 calls of 0.2") and t.note.endswith("the 0.9 s budget allows only 2 repeats")
    quick = time_calls(lambda: None, "cpu:0", budget_s=0.05)
    assert quick.repeat >= 3 and quick.note == ""


# --- the app's backend: one store, indexes out, saved results -----------------------------------


def test_the_backend_hands_out_indexes_and_saves_whole_results(
    here: InspectionResult, monkeypatch, tmp_path
) -> None:
    from app import backend
    from inspectors.sandbox import Pool
    from inspectors.store import StageStore, open_saved

    monkeypatch.setattr(backend, "STORE", StageStore())
    limits = Limits(isolation="subprocess", timeout_s=60.0, memory_mb=3072, workers=1, queue=4)
    with Pool(limits) as pool:
        monkeypatch.setattr(backend, "pool", lambda: pool)
        result = backend.run_inspection(REQUEST, session="store-test")
        assert result.ok and backend.STORE.fetches == 0  # an index: nothing read yet
        assert result.text_of("jaxpr:2") == here.text_of("jaxpr:2") and backend.STORE.fetches == 1
        again = backend.run_inspection(REQUEST, session="store-test")  # served by the store, no worker
        assert again is not result and backend.cache_stats["hits"] >= 1
    path = tmp_path / "saved.jxe"
    path.write_bytes(backend.saved_result(REQUEST))
    assert open_saved(str(path)).fetched().to_dict() == result.fetched().to_dict()


def test_every_jaxpr_stage_of_the_chain_has_a_source_map() -> None:
    request = Request(source=SOURCE, filename="model.py", fn="loss", args="f32[8,8], f32[4,8]",
                      transforms=["grad", "vmap(in_axes=(None, 0))", "jit"])  # fmt: skip
    result = inspect(request, use_cache=False)
    assert [s.id for s in result.jaxpr_stages()] == ["jaxpr:0", "jaxpr:1", "jaxpr:2", "jaxpr:3"]
    for stage in result.jaxpr_stages():
        from inspectors.results import walk

        expected: dict[int, list[str]] = {}
        for eqn in walk(stage.model):
            if eqn.source and eqn.source.file.endswith("model.py"):
                expected.setdefault(eqn.source.line, []).append(eqn.id)
        mapped = {i.line: i.eqns[stage.id] for i in result.source_map.lines if stage.id in i.eqns}
        assert mapped == expected and set(mapped) >= {5, 6}, stage.id  # both lines of the body, every stage


# --- Stop ---------------------------------------------------------------------------------------

SLOW = """\
import time
import jax.numpy as jnp


def f(x):
    time.sleep(60)  # a compile that takes a minute, as far as the server can tell
    return jnp.sin(x)
"""


def test_stop_ends_a_running_inspection_and_keeps_what_arrived() -> None:
    import threading
    import time

    from inspectors.sandbox import Pool, inspect_in

    limits = Limits(isolation="subprocess", timeout_s=120.0, memory_mb=3072, workers=1, queue=4)
    arrived: list[list[str]] = []
    ticks: list[float] = []
    with Pool(limits) as pool:
        pool.start()
        stopper = threading.Timer(3.0, lambda: arrived.append(["stop", pool.stop("stopper")]))
        stopper.start()
        start = time.monotonic()
        result = inspect_in(
            pool,
            Request(source=SLOW, filename="slow.py", fn="f", args="f32[3]"),
            session="stopper",
            on_partial=lambda so_far: arrived.append([s.id for s in so_far.stages]),
            on_tick=lambda: ticks.append(time.monotonic()),
        )
        took = time.monotonic() - start
        assert pool.stop("stopper") is False  # nothing runs for that session any more
        after = inspect_in(pool, REQUEST, session="stopper")  # the worker serves the next request
    assert ["stop", True] in arrived and took < 30
    assert result.error is not None and result.error.kind == "Stopped" and result.error.transient
    assert "stages that arrived before it are shown" in result.error.message
    assert result.find("source").text == SLOW  # what arrived is kept
    assert len(ticks) >= 3  # the caller heard the request was still running while no frame came
    assert after.ok, after.error and after.error.format()
