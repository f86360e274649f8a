"""Issue 19: what a worker sends is checked for meaning, and its tricks with descriptors end on time.

Each attack runs as user code through the real pool in both isolation modes (bwrap
where it runs, and the subprocess fallback): it writes forged frames straight to
the request's socket (descriptor 3), or plays with that socket. Every one must end
as that request's clear error, never a worker restart or a server traceback, and
the next innocent request must be served as usual by the same worker.
"""

from __future__ import annotations

import json
import resource
import time

import pytest

from inspectors.results import InspectionResult, Request
from inspectors.sandbox import Limits, Pool, inspect_in, validate
from tests.sandbox_util import modes

GOOD = "def f(x):\n    return x * 2.0\n"
LIMITS = dict(timeout_s=6.0, memory_mb=3072, output_mb=4.0, workers=1, queue=8)
SEND = "import os, struct\ndef send(blob):\n    os.write(3, struct.pack('>I', len(blob)) + blob)\n"


@pytest.fixture(scope="module", params=modes())
def pool(request: pytest.FixtureRequest):
    """A one-worker pool per mode, shared by this module's tests."""
    with Pool(Limits(isolation=request.param, **LIMITS)) as p:
        p.start()
        yield p


def forged(*frames: dict, then: str = "os._exit(0)") -> str:
    """A program that writes `frames` to the result channel itself, then does `then`."""
    sends = "".join(f"send({json.dumps(json.dumps(f, ensure_ascii=False))}.encode())\n" for f in frames)
    return SEND + sends + then + "\n" + GOOD


def innocent(pool: Pool, pid: int, restarts: int) -> None:
    """The next innocent request gets its exact result from the same worker, which was never restarted."""
    result = inspect_in(pool, Request(source="print('hello')\n" + GOOD, args="f32[3]"))
    assert result.ok, result.error and result.error.format()
    assert "mul" in result.text_of("jaxpr:0") and result.output == "hello\n"
    assert [w.proc.pid for w in pool.workers()] == [pid] and pool.counts["restarts"] == restarts


def attack(pool: Pool, source: str, **request) -> InspectionResult:
    """Run `source`; check the worker survived it and serves the next request."""
    (worker,) = pool.workers()
    restarts = pool.counts["restarts"]
    result = inspect_in(pool, Request(source=source, args="f32[3]", **request))
    innocent(pool, worker.proc.pid, restarts)
    return result


def refused(result: InspectionResult, *says: str) -> None:
    """The request ended as a BadResult whose message names what was wrong."""
    assert result.error is not None and result.error.kind == "BadResult", (
        result.error and result.error.format()
    )
    for text in says:
        assert text in result.error.message, result.error.message


def copies(depth: int, per_level: int = 2) -> list[dict]:
    """A pass chain whose every delta copies its base `per_level + 1` times (edits running backwards)."""
    stages = [{"id": "hlo-pass:0", "kind": "hlo-pass", "text": "a\nb\nc\n"}]
    for i in range(1, depth + 1):
        edit = {"start": 10**9, "end": 0, "lines": []}
        stages.append(
            {
                "id": f"hlo-pass:{i}",
                "kind": "hlo-pass",
                "base": f"hlo-pass:{i - 1}",
                "delta": [edit] * per_level,
            }
        )
    return stages


# --- 1. the forged exponential delta: 7 KB that would expand to 3 * 3**40 lines -----------------


def test_a_forged_exponential_delta_chain_is_refused_before_it_expands(pool: Pool, monkeypatch) -> None:
    from app import backend

    frame = {"ok": {"stages": copies(40)}}
    assert len(json.dumps(frame)) < 8000
    monkeypatch.setattr(backend, "pool", lambda: pool)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    (worker,) = pool.workers()
    restarts = pool.counts["restarts"]
    request = Request(source=forged(frame), args="f32[3]")
    result = backend.run_inspection(request, session="forger")
    refused(result, "$.stages[1].delta[0]", "out of order")
    assert not backend.STORE.has(backend._key(request))
    assert time.monotonic() - start < LIMITS["timeout_s"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100_000  # KB: the server did not grow
    innocent(pool, worker.proc.pid, restarts)


# --- 2. the cheap restart-forcing frame: a stage id with a non-ASCII digit ----------------------


@pytest.mark.parametrize("stage_id", ["jaxpr:\u00b2", "jaxpr:\u0663", "hlo-pass:1\u00b9"])
def test_a_partial_frame_with_a_malformed_stage_id_fails_only_its_request(pool: Pool, stage_id: str) -> None:
    frame = {"partial": {"stages": [{"id": stage_id, "kind": "jaxpr"}]}}
    refused(attack(pool, forged(frame)), "a partial result", "is not a stage id")


# --- 3. every rule of the chain, broken once -----------------------------------------------------

TEXT = {"id": "hlo-pass:0", "kind": "hlo-pass", "text": "a\nb\nc\n"}


def delta(i: int, base: str, *edits: tuple[int, int, list[str]], **more) -> dict:
    """A pass stage `hlo-pass:i` that edits `base`."""
    edit_list = [{"start": s, "end": e, "lines": lines} for s, e, lines in edits]
    return {"id": f"hlo-pass:{i}", "kind": "hlo-pass", "base": base, "delta": edit_list, **more}


BROKEN = {
    "a base that names itself": ([TEXT, delta(1, "hlo-pass:1")], "returns to itself"),
    "two bases that name each other": (
        [TEXT, delta(1, "hlo-pass:2"), delta(2, "hlo-pass:1")],
        "returns to itself",
    ),
    "a missing base": ([delta(1, "hlo-pass:0")], "is not in the result"),
    "an edit past the base's end": ([TEXT, delta(1, "hlo-pass:0", (2, 9, []))], "past its base's end"),
    "edits out of order": ([TEXT, delta(1, "hlo-pass:0", (2, 3, []), (0, 1, []))], "out of order"),
    "a negative start": ([TEXT, delta(1, "hlo-pass:0", (-3, 1, []))], "out of order"),
    "a line break inside an added line": (
        [TEXT, delta(1, "hlo-pass:0", (0, 1, ["x\u2028y"]))],
        "line break",
    ),
    "a text beside a delta": ([TEXT, delta(1, "hlo-pass:0", text="x")], "both a text and a delta"),
    "a kind that is not its id's": ([{**TEXT, "kind": "jaxpr"}], "'jaxpr' where 'hlo-pass'"),
    "an unknown stage id": ([{"id": "evil", "kind": "hlo"}], "'evil' is not a stage id"),
    "a kernel name with markup": ([{"id": "llvm:<img src=x>", "kind": "llvm"}], "is not a stage id"),
    "a base that is not a stage id": ([TEXT, delta(1, "../x")], "is not a stage id"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_chain_that_breaks_a_rule_is_refused(pool: Pool, name: str) -> None:
    stages, says = BROKEN[name]
    refused(attack(pool, forged({"ok": {"stages": stages}})), says)


NAMES = {
    "a running stage with markup": ({"running": "trace<script>"}, "$.running"),
    "an error's stage with markup": (
        {"error": {"stage": "[x](http://e.test)", "kind": "E", "message": "m"}},
        "$.error.stage",
    ),
    "a timing key with markup": ({"stage_times": {"![x](http://e.test/i.png)": 1.0}}, "$.stage_times"),
    "a source-map status with markup": (
        {
            "source_map": {
                "filename": "main.py",
                "lines": [{"line": 1, "code": "x", "color": "", "status": "<b>"}],
            }
        },
        "status",
    ),
}


@pytest.mark.parametrize("name", list(NAMES))
def test_a_forged_name_the_server_shows_is_refused(pool: Pool, name: str) -> None:
    body, says = NAMES[name]
    refused(attack(pool, forged({"ok": body})), says)


def test_each_expanded_text_and_the_whole_expansion_are_capped(pool: Pool, monkeypatch) -> None:
    (worker,) = pool.workers()
    restarts = pool.counts["restarts"]
    # The texts are built by the program, so its own source stage stays under the caps.
    big = "{'id': 'hlo-pass:0', 'kind': 'hlo-pass', 'text': 'x' * 5000}"
    chain = (
        "[{'id': 'hlo-pass:0', 'kind': 'hlo-pass', 'text': 'y' * 3000}] + [{'id': f'hlo-pass:{i}', "
        "'kind': 'hlo-pass', 'base': f'hlo-pass:{i - 1}', 'delta': []} for i in range(1, 12)]"
    )  # each pass an unchanged copy: 12 × 3,001 characters
    with monkeypatch.context() as small_caps:  # the caps of a tiny server, for this request only
        small_caps.setattr(validate, "MAX_TEXT_CHARS", 4000)
        small_caps.setattr(validate, "MAX_EXPANDED_CHARS", 30000)
        sent = (
            SEND + "import json\nsend(json.dumps({{'ok': {{'stages': {}}}}}).encode())\nos._exit(0)\n" + GOOD
        )
        one = inspect_in(pool, Request(source=sent.format("[" + big + "]"), args="f32[3]"))
        every = inspect_in(pool, Request(source=sent.format(chain), args="f32[3]"))
    refused(one, "hlo-pass:0", "cap 4000")
    refused(every, "over 30000 characters expanded")
    innocent(pool, worker.proc.pid, restarts)


def test_a_partial_frame_is_checked_against_the_stages_streamed_before_it(pool: Pool) -> None:
    first = {"partial": {"stages": [TEXT]}}
    second = {"partial": {"stages": [delta(1, "hlo-pass:0", (1, 7, []))]}}
    refused(attack(pool, forged(first, second)), "a partial result", "past its base's end")


def test_the_real_pipelines_chain_passes_the_checks(pool: Pool) -> None:
    result = attack(
        pool,
        "import jax.numpy as jnp\ndef g(x):\n    return jnp.sum(jnp.sin(x) * x)\n",
        fn="g",
        transforms=["grad"],
    )
    assert result.ok, result.error and result.error.format()
    passes = result.of_kind("hlo-pass")
    assert len(passes) >= 3 and any(s.delta for s in passes)
    sizes = validate.sizes({s.id: s for s in result.stages})
    for stage in result.stages:  # the sizes computed from line lengths are the expanded texts' sizes
        text = result.text_of(stage.id) or ""
        assert sizes[stage.id] == sum(len(line) + 1 for line in text.splitlines()), stage.id


def test_the_whole_expansion_cap_counts_every_frame_streamed_so_far(pool: Pool, monkeypatch) -> None:
    # Each frame alone is far under the caps; together they pass the cap on all texts at the 10th frame.
    frames = [{"partial": {"stages": [{"id": "hlo-pass:0", "kind": "hlo-pass", "text": "y" * 3000}]}}]
    frames += [{"partial": {"stages": [delta(i, f"hlo-pass:{i - 1}")]}} for i in range(1, 12)]
    with monkeypatch.context() as small_caps:
        small_caps.setattr(validate, "MAX_EXPANDED_CHARS", 30000)
        result = attack(pool, forged(*frames))
    refused(result, "a partial result", "over 30000 characters expanded")


def _stages(*data: dict) -> list:
    return InspectionResult.from_dict({"request": {"source": ""}, "stages": list(data)}).stages


def test_a_stream_is_measured_once_per_stage_and_equals_the_whole_chains_sizes(
    pool: Pool, monkeypatch
) -> None:
    program = "import jax.numpy as jnp\ndef g(x):\n    return jnp.sum(jnp.sin(x) * x)\n"
    result = attack(pool, program, fn="g", transforms=["grad"])
    chain = {s.id: s for s in result.stages}
    whole = validate.sizes(chain)
    calls = []
    measure = validate._apply_lengths
    monkeypatch.setattr(validate, "_apply_lengths", lambda *a: calls.append(a[2]) or measure(*a))
    streamed = validate.ChainSizes()
    for stage in result.stages:  # a frame per stage, as the worker sends them
        streamed.add([stage])
    assert streamed.chars() == whole
    deltas = [s.id for s in result.stages if s.delta is not None]
    assert len(deltas) >= 2 and calls == deltas  # each delta measured once, not once per later frame


def test_a_base_sent_again_remeasures_the_stages_that_edit_it() -> None:
    sizes = validate.ChainSizes()
    sizes.add(_stages(TEXT))
    sizes.add(_stages(delta(1, "hlo-pass:0", (1, 3, ["z"]))))  # a, z: lines 1..3 of a 3-line base
    assert sizes.chars() == {"hlo-pass:0": 6, "hlo-pass:1": 4}
    with pytest.raises(validate.InvalidResult, match="past its base's end"):  # the base shrinks under its delta
        sizes.add(_stages({**TEXT, "text": "a\n"}))
    assert sizes.chars() == {"hlo-pass:0": 6, "hlo-pass:1": 4}  # a refused frame changes nothing
    sizes.add(_stages({**TEXT, "text": "a\nbb\nc\nd\n"}))  # a longer base: its delta measured again
    assert sizes.chars() == {"hlo-pass:0": 9, "hlo-pass:1": 6}
    with pytest.raises(validate.InvalidResult, match="returns to itself"):  # a cycle across two frames
        sizes.add(_stages(delta(0, "hlo-pass:1")))


# --- 4. a caller's exception mid-stream still reads the zygote's report -------------------------


class Stopped(BaseException):
    """Like Streamlit's StopException: the page's script was stopped while it waited."""


def test_a_callback_that_raises_leaves_the_worker_in_step(pool: Pool) -> None:
    (worker,) = pool.workers()

    def explode(data: dict) -> None:
        raise Stopped()

    with pytest.raises(Stopped):
        pool.call("echo", {"partials": [{"n": 1}]}, on_partial=explode)

    def typo(data: dict) -> None:
        raise TypeError("a bug in the page's callback")

    outcome = pool.call("echo", {"partials": [{"n": 2}]}, on_partial=typo)
    assert outcome.error is not None and outcome.error.kind == "BadResult", outcome.error
    assert "could not be read (TypeError)" in outcome.error.message
    seen: list[dict] = []
    outcome = pool.call("echo", {"partials": [{"n": 3}], "x": "mine"}, on_partial=seen.append)
    assert outcome.error is None and outcome.data["x"] == "mine" and seen == [{"n": 3}]
    assert outcome.facts["status"] == "exited" and [w.proc.pid for w in pool.workers()] == [worker.proc.pid]


# --- 5. the request's socket put in flight: the wait still ends on time --------------------------

IN_FLIGHT = """
import os, socket
a, b = socket.socketpair()
socket.send_fds(a, [b"x"], [3])  # a copy of the request's socket, in flight to ourselves: never closed
"""


@pytest.mark.parametrize("then", ["os._exit(0)", "pass"])
def test_a_request_socket_sent_in_flight_does_not_hold_the_server(pool: Pool, then: str) -> None:
    start = time.monotonic()
    result = attack(pool, IN_FLIGHT + then + "\n" + GOOD)
    took = time.monotonic() - start
    assert took < 5.0, f"the server waited {took:.1f} s"
    if then == "pass":  # the job went on and sent its result: it is served
        assert result.ok and "mul" in result.text_of("jaxpr:0"), result.error and result.error.format()
    else:
        assert result.error is not None and result.error.kind == "ProgramExited", result.error.format()
        assert "stopped answering" not in result.error.message


# --- 6. worker uids are leased per host, across replicas ----------------------------------------


@pytest.mark.parametrize("mode", modes())
def test_worker_uids_are_leased_per_host_across_replicas(mode: str, tmp_path, monkeypatch, root) -> None:
    import os
    import subprocess
    import sys

    from inspectors.sandbox import uids

    monkeypatch.setenv(uids.LOCK_DIR_ENV, str(tmp_path))
    replica = (
        "from inspectors.sandbox import uids\nlease = uids.lease()\nprint(lease.uid, flush=True)\ninput()\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", replica], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        theirs = int(other.stdout.readline())
        with Pool(Limits(isolation=mode, **{**LIMITS, "workers": 2})) as two:
            two.start()
            mine = sorted(w.uid for w in two.workers())
            assert len(set(mine)) == 2 and theirs not in mine, (mine, theirs)
            result = inspect_in(two, Request(source="import os\nprint(os.getuid())\n" + GOOD, args="f32[3]"))
            assert result.ok, result.error and result.error.format()
            if os.geteuid() == 0:  # user code runs as the worker's leased uid
                assert int(result.output) in mine, (result.output, mine)
    finally:
        other.kill()
        other.wait()
    again = uids.lease()
    assert again.uid == theirs  # the replica's uid is free again once it is gone
    again.release()


# --- 7. shared memory a child could hold outside its address-space limit ------------------------

HOLD_SHARED = """
import ctypes, os
seen = {}
try:
    fd = os.memfd_create("hold")  # pages of a memfd need never be mapped: RLIMIT_AS would not count them
    os.write(fd, b"1" * (8 << 20))
    seen["memfd"] = "held 8 MB"
except OSError as exc:
    seen["memfd"] = f"errno {exc.errno}"
try:
    from multiprocessing import shared_memory
    shared_memory.SharedMemory(create=True, size=8 << 20)
    seen["posix shm"] = "held 8 MB"
except OSError as exc:
    seen["posix shm"] = f"errno {exc.errno}"
libc = ctypes.CDLL(None, use_errno=True)
segment = libc.shmget(0, 8 << 20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
seen["sysv shm"] = "held 8 MB" if segment >= 0 else f"errno {ctypes.get_errno()}"
raise RuntimeError(repr(seen))
"""


def test_user_code_cannot_create_shared_memory_outside_its_limit(pool: Pool) -> None:
    result = attack(pool, HOLD_SHARED + GOOD)
    assert result.error is not None and result.error.kind == "RuntimeError", result.error
    seen = eval(result.error.message)  # noqa: S307 - our own repr of a dict of strings
    assert seen["memfd"] == "errno 1" and not any("held" in v for v in seen.values()), seen


# --- 8. a flood from one client leaves a worker for everyone else --------------------------------

SLEEPER = "import time\ntime.sleep({s})\n" + GOOD


@pytest.mark.parametrize("mode", modes())
def test_one_clients_flood_leaves_a_worker_free_and_its_turned_away_requests_say_why(mode: str) -> None:
    import threading

    limits = Limits(isolation=mode, **{**LIMITS, "workers": 2, "queue_wait_s": 3.0})
    with Pool(limits) as two:
        two.start()
        flood: dict[str, InspectionResult] = {}

        def send(name: str) -> None:
            request = Request(source=SLEEPER.format(s=4.5) + f"# {name}\n", args="f32[3]")
            flood[name] = inspect_in(two, request, session=name, client="flooder")

        tabs = [threading.Thread(target=send, args=(f"tab{i}",)) for i in range(3)]
        for tab in tabs:
            tab.start()
        while two.queue_length() < 2:  # one running, two waiting: the flood holds its one worker
            time.sleep(0.05)
        start = time.monotonic()
        light = inspect_in(
            two, Request(source=GOOD + "# light\n", args="f32[3]"), session="l", client="light"
        )
        waited = time.monotonic() - start
        for tab in tabs:
            tab.join()
    assert light.ok and waited < 3.0, (waited, light.error and light.error.format())
    outcomes = sorted(r.error.kind if r.error else "ok" for r in flood.values())
    assert outcomes == ["ServerBusy", "ServerBusy", "ok"], outcomes
    turned = next(r.error for r in flood.values() if r.error)
    assert "hold 1 of the 2 workers" in turned.message and "JAXPR_EXPLORER_CLIENT_WORKERS" in turned.message
