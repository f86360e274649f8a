"""Issue 9: each attack on the hosted sandbox, performed in both isolation modes, and shown to fail.

Every test runs the attack as user code through the real pool (as root here, the
worst case), asserts it did not work, and that the next innocent request is
served as usual. The modes are bwrap (skipped where bwrap cannot run) and the
subprocess fallback.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from inspectors.results import InspectionResult, Request, SchemaError
from inspectors.sandbox import Limits, Pool, inspect_in
from inspectors.sandbox.launcher import bwrap_problem

ATTACKS = Path(__file__).parent / "attacks"
GOOD = "def f(x):\n    return x * 2.0\n"
LIMITS = dict(timeout_s=8.0, memory_mb=3072, output_mb=4.0, workers=1, queue=8)


def modes() -> list:
    """The isolation modes to test here."""
    forced = os.environ.get("JAXPR_EXPLORER_ISOLATION")
    bwrap = pytest.param(
        "bwrap", marks=pytest.mark.skipif(bwrap_problem() is not None, reason=str(bwrap_problem()))
    )
    return ["subprocess"] if forced == "subprocess" else [bwrap, "subprocess"]


@pytest.fixture(scope="module", params=modes())
def pool(request: pytest.FixtureRequest):
    """A one-worker pool per mode, shared by this module's tests."""
    with Pool(Limits(isolation=request.param, **LIMITS)) as p:
        p.start()
        yield p


def attack(pool: Pool, source: str, args: str | None = "f32[3]") -> InspectionResult:
    """Run `source` in the pool; then check that an innocent request is unaffected."""
    result = inspect_in(pool, Request(source=textwrap.dedent(source), args=args))
    innocent(pool)
    return result


def innocent(pool: Pool) -> None:
    """An innocent request after an attack gets its exact result, output and an empty /tmp."""
    source = "import os\nprint('hello', sorted(os.listdir('.')))\n" + GOOD
    result = inspect_in(pool, Request(source=source, args="f32[3]"))
    assert result.ok, result.error and result.error.format()
    assert "mul" in result.jaxpr_after and result.output == "hello []\n"


def raised(result: InspectionResult) -> str:
    """The message of the RuntimeError an attack raises to report what it saw."""
    assert result.error is not None and result.error.kind == "RuntimeError", (
        result.error and result.error.format()
    )
    return result.error.message


# --- 1. no earlier request is in a child's memory ------------------------------------------------


def test_a_program_cannot_find_an_earlier_requests_source_output_or_result(pool: Pool) -> None:
    secret = "JXE" + "SECRET_4711"
    first = inspect_in(pool, Request(source=f"KEY = {secret!r}\nprint(KEY)\n" + GOOD, args="f32[3]"))
    assert first.ok and first.output == secret + "\n"
    report = raised(attack(pool, (ATTACKS / "find_earlier_secret.py").read_text() + GOOD))
    frames, memory = re.fullmatch(r"frames/heap=(\{.*\}) memory=(\{.*\})", report).groups()
    assert frames == "{'4711': (0, 0), '0815': (0, 0)}", report
    counts = json.loads(memory.replace("'", '"'))
    assert counts["4711"] == counts["0815"] >= 1, report  # the scan sees its own copies, no earlier one


def test_partial_results_stream_before_the_final_one(pool: Pool) -> None:
    seen = []
    outcome = pool.call("echo", {"partials": [{"stage": "jaxpr"}, {"stage": "hlo"}]}, on_partial=seen.append)
    assert seen == [{"stage": "jaxpr"}, {"stage": "hlo"}]
    assert outcome.error is None and outcome.data["partials"] == seen


# --- 2. nothing outside the sandbox opens a path inside it ---------------------------------------

LINKS = """
    import os
    for name in ('.output', 'output', '../.output', 'result'):
        for target in ('/etc/shadow', '/proc/1/environ', '/proc/self/fd/2', '/proc/{server}/fd/2'):
            try:
                os.symlink(target, name)
                break
            except OSError:
                pass
    print('only this')
"""


def test_output_never_follows_a_link_the_program_planted(pool: Pool) -> None:
    result = attack(pool, textwrap.dedent(LINKS.format(server=os.getpid())) + GOOD)
    assert result.ok and result.output == "only this\n"


def test_workers_do_not_hold_the_servers_stderr(tmp_path: Path) -> None:
    log = tmp_path / "server-stderr.log"
    saved = os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(fd, 2)
    try:
        with Pool(Limits(isolation=_mode(), **LIMITS)) as p:
            p.start()
            worker = p.workers()[0]
            server_stderr = os.fstat(2)
            held = [
                path
                for pid in _tree(worker.proc.pid)
                for path in Path(f"/proc/{pid}/fd").iterdir()
                if _same(path, server_stderr)
            ]
            assert held == []
            source = "import os\nfor pid in os.listdir('/proc'):\n    try:\n        os.write(os.open(f'/proc/{pid}/fd/2', os.O_WRONLY), b'JXE-LEAK')\n    except (OSError, ValueError):\n        pass\n"
            inspect_in(p, Request(source=source + GOOD, args="f32[3]"))
            innocent(p)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    assert "JXE-LEAK" not in log.read_text(errors="replace")


def _mode() -> str:
    return (
        "subprocess"
        if bwrap_problem() or os.environ.get("JAXPR_EXPLORER_ISOLATION") == "subprocess"
        else "bwrap"
    )


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _same(path: Path, st: os.stat_result) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


# --- 5. what comes back from user code is untrusted ------------------------------------------

FORGE = """
    import os, struct
    def send(blob):
        os.write(3, struct.pack('>I', len(blob)) + blob)
    {action}
    os._exit(0)
"""
FORGERIES = {
    "not JSON": ("send(b'{not json')", "BadResult", "not JSON"),
    "nested 100,000 deep": ("send(b'{\"ok\": ' + b'[' * 100000 + b']' * 100000 + b'}')", "BadResult", "JSON"),
    "a size far beyond the cap": ("os.write(3, struct.pack('>I', 15 << 20))", "OutputLimit", "4 MB"),
    "wrong types": ('send(b\'{"ok": {"jaxpr_before": 123}}\')', "BadResult", "jaxpr_before: int where str"),
    "an unknown field": ('send(b\'{"ok": {"evil": 1}}\')', "BadResult", "unknown field 'evil'"),
    "a bool for an int": (
        'send(b\'{"ok": {"stats": {"total_after": true}}}\')',
        "BadResult",
        "bool where int",
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_result_is_refused_and_never_cached(pool: Pool, monkeypatch, name: str) -> None:
    from app import backend

    action, kind, says = FORGERIES[name]
    monkeypatch.setattr(backend, "pool", lambda: pool)
    request = Request(
        source=textwrap.dedent(FORGE.format(action=action)) + GOOD + f"# {name}\n", args="f32[3]"
    )
    result = backend.run_inspection(request, session="forger")
    assert result.error is not None and result.error.kind == kind, result.error and result.error.format()
    assert says in result.error.message, result.error.message
    assert backend._key(request) not in backend._cache
    innocent(pool)


def test_a_forged_final_frame_before_the_real_one_is_refused(pool: Pool) -> None:
    source = 'import os, struct\nblob = b\'{"ok": {"entry": "forged"}}\'\nos.write(3, struct.pack(\'>I\', len(blob)) + blob)\n'
    result = attack(pool, source + GOOD)
    assert (
        result.error is not None and result.error.kind == "BadResult" and "extra_data" in result.error.message
    )


def test_results_decode_strictly_by_their_annotations() -> None:
    good = InspectionResult(request=Request(source="x")).to_dict()
    assert InspectionResult.from_dict(good).request.source == "x"
    for bad, says in [
        ({**good, "functions": "f"}, "$.functions: str where an array"),
        ({**good, "stage_times": {"trace": "slow"}}, "$.stage_times.trace: str where float"),
        ({**good, "error": {"stage": "load", "kind": "E"}}, "$.error: InspectError lacks 'message'"),
        ({**good, "timing": []}, "$.timing: list where an object"),
        ({**good, "request": None}, "$.request: null"),
    ]:
        with pytest.raises(SchemaError, match=re.escape(says)):
            InspectionResult.from_dict(bad)
    deep: dict = {"stage": "s", "kind": "k", "message": "m"}
    model: dict = {"invars": [], "constvars": [], "outvars": [], "eqns": []}
    for _ in range(100):
        eqn = {"id": "e", "primitive": "p", "params": {}, "invars": [], "outvars": [], "text": "t"}
        model = {**model, "eqns": [{**eqn, "subjaxprs": [{"role": "r", "jaxpr": model}]}]}
    with pytest.raises(SchemaError, match="nested deeper"):
        InspectionResult.from_dict({**good, "model_after": model, "error": deep})
