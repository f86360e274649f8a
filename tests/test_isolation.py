"""The sandbox's plumbing: warm workers, fairness, crashes, hosted mode, the CLI and the app's door."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from inspectors.results import Request
from inspectors.sandbox import IsolationUnavailable, Limits, Pool, inspect_in, isolation_status
from inspectors.sandbox.launcher import bwrap_problem, choose_mode
from inspectors.sandbox.protocol import decode_json, encode_json

GOOD = "def f(x):\n    return x * 2.0\n"
SLEEPY = "import time\ntime.sleep({s})\ndef f(x):\n    return x + 1.0\n"
FORCED_OFF = os.environ.get("JAXPR_EXPLORER_ISOLATION") == "subprocess"
MODE = "subprocess" if FORCED_OFF or bwrap_problem() else "bwrap"


def small(**overrides) -> Limits:
    """Small limits for tests, in the mode this machine supports."""
    values = dict(timeout_s=5.0, memory_mb=3072, output_mb=4.0, workers=1, queue=8, isolation=MODE)
    return Limits(**{**values, **overrides})


@pytest.fixture(scope="module")
def pool():
    with Pool(small(workers=2)) as p:
        p.start()
        yield p


def good(pool: Pool, session: str | None = None):
    return inspect_in(pool, Request(source=GOOD, args="f32[3]"), session=session)


def test_app_backend_never_imports_jax(root) -> None:
    code = "import sys, app.backend; assert 'jax' not in sys.modules, 'jax imported'; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_limits_come_from_environment_variables() -> None:
    env = {
        "JAXPR_EXPLORER_TIMEOUT_S": "7.5",
        "JAXPR_EXPLORER_MEMORY_MB": "3000",
        "JAXPR_EXPLORER_HOSTED": "1",
    }
    limits = Limits.from_env(env, workers=3)
    assert (limits.timeout_s, limits.memory_mb, limits.hosted, limits.workers) == (7.5, 3000, True, 3)
    with pytest.raises(ValueError, match="at least 2048"):
        Limits(memory_mb=1024)


def test_hosted_mode_refuses_to_start_without_bwrap() -> None:
    with pytest.raises(IsolationUnavailable, match="bwrap"):
        choose_mode(Limits(hosted=True, isolation="subprocess"))
    with pytest.raises(IsolationUnavailable):
        Pool(Limits(hosted=True, isolation="subprocess"))


def test_hosted_app_refuses_to_start_without_bwrap(root) -> None:
    env = {**os.environ, "JAXPR_EXPLORER_HOSTED": "1", "JAXPR_EXPLORER_ISOLATION": "subprocess"}
    done = subprocess.run(
        [sys.executable, "-c", "import app.backend"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "IsolationUnavailable" in done.stderr


def test_isolation_status_says_how_code_is_isolated() -> None:
    assert "bwrap namespaces" in isolation_status(Limits(isolation="auto")) or bwrap_problem()
    fallback = isolation_status(Limits(isolation="subprocess"))
    assert fallback.startswith("fallback workers (not for hosting")
    assert "rlimits" in fallback


def test_warm_workers_are_reused_across_requests(pool: Pool) -> None:
    good(pool)
    zygotes = {w.proc.pid for w in pool.workers()}
    first = pool.run("echo", {"n": 1})
    second = pool.run("echo", {"n": 2})
    assert first.data == {"n": 1} and second.data == {"n": 2}
    result = good(pool)
    assert result.ok and result.jaxpr().text and "mul" in result.jaxpr().text
    # The same warm zygotes served them all (JAX imported once; the speed is in benchmarks/load.py).
    assert {w.proc.pid for w in pool.workers()} == zygotes


def test_odd_text_crosses_the_pipes() -> None:
    blob = encode_json({"s": "bad \udcff and \x00 and é"})
    assert decode_json(blob) == {"s": "bad ? and \x00 and é"}


def test_a_session_has_at_most_one_request_in_flight(pool: Pool) -> None:
    slow = Request(source=SLEEPY.format(s=1.5), args="f32[3]")
    first = {}
    thread = threading.Thread(target=lambda: first.update(r=inspect_in(pool, slow, session="alice")))
    thread.start()
    time.sleep(0.3)
    second = inspect_in(pool, Request(source=GOOD, args="f32[3]"), session="alice")
    other = good(pool, session="bob")  # another session is not slowed by alice's request
    thread.join()
    assert second.error and second.error.kind == "SessionBusy" and "still running" in second.error.message
    assert other.ok
    assert first["r"].ok
    assert good(pool, session="alice").ok


def test_full_queue_says_server_busy_and_waiters_see_their_place() -> None:
    with Pool(small(workers=1, queue=1)) as p:
        p.start()
        results, places = {}, []
        slow = Request(source=SLEEPY.format(s=1.5), args="f32[3]")
        a = threading.Thread(target=lambda: results.update(a=inspect_in(p, slow, session="a")))
        a.start()
        time.sleep(0.3)
        b = threading.Thread(
            target=lambda: results.update(
                b=inspect_in(p, Request(source=GOOD, args="f32[3]"), session="b", on_wait=places.append)
            )
        )
        b.start()
        time.sleep(0.3)
        c = good(p, session="c")
        a.join()
        b.join()
    assert c.error and c.error.kind == "ServerBusy" and "1 requests are waiting ahead" in c.error.message
    assert results["a"].ok and results["b"].ok
    assert places and places[0] == 0


def test_a_killed_worker_is_replaced_and_its_caller_told(pool: Pool) -> None:
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(r=inspect_in(pool, Request(source=SLEEPY.format(s=3), args="f32[3]")))
    )
    thread.start()
    time.sleep(1.0)
    busy = [w for w in pool.workers() if w.busy]
    assert busy
    os.killpg(busy[0].proc.pid, signal.SIGKILL)
    thread.join()
    error = outcome["r"].error
    assert error and error.kind == "WorkerCrashed" and "replaced" in error.message
    for _ in range(3):
        assert good(pool).ok


def test_cli_isolated_prints_the_same_jaxpr_as_in_process(root) -> None:
    from inspectors import inspect

    sample = root / "samples" / "differentiability_grad.py"
    done = subprocess.run(
        [sys.executable, "-m", "inspectors", str(sample), "--isolated"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAXPR_EXPLORER_ISOLATION": MODE},
    )
    assert done.returncode == 0, done.stderr
    assert "workers" in done.stderr  # the isolation in force is announced
    expected = inspect(Request(source=sample.read_text(), filename=str(sample)), use_cache=False)
    assert done.stdout == expected.jaxpr().text + ("" if expected.jaxpr().text.endswith("\n") else "\n")


def test_cli_isolated_reports_limits_with_the_users_line(root, tmp_path) -> None:
    program = tmp_path / "loop.py"
    program.write_bytes(b"# caf\xe9 in Latin-1, not UTF-8\ndef f(x):\n    while True:\n        pass\n")
    env = {**os.environ, "JAXPR_EXPLORER_TIMEOUT_S": "2", "JAXPR_EXPLORER_ISOLATION": MODE}
    done = subprocess.run(
        [sys.executable, "-m", "inspectors", str(program), "--args", "f32[3]", "--isolated"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert "Timeout" in done.stderr and "JAXPR_EXPLORER_TIMEOUT_S" in done.stderr and "line 3" in done.stderr


def test_cli_hosted_fails_without_bwrap(root, tmp_path) -> None:
    env = {**os.environ, "JAXPR_EXPLORER_ISOLATION": "subprocess"}
    done = subprocess.run(
        [sys.executable, "-m", "inspectors", "x.py", "--hosted"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2 and "bwrap" in done.stderr


def test_backend_caches_untimed_results_but_never_timings_or_busy_errors(monkeypatch) -> None:
    from app import backend
    from inspectors.results import InspectError, InspectionResult

    calls = []

    def fake_inspect_in(pool, request, session=None, client=None, on_wait=None, on_partial=None, on_tick=None):
        calls.append(request)
        busy = InspectError("queue", "SessionBusy", "busy") if "busy" in request.source else None
        return InspectionResult(request=request, error=busy)

    monkeypatch.setattr(backend, "inspect_in", fake_inspect_in)
    monkeypatch.setattr(backend, "pool", lambda: None)
    for request, calls_after in [
        (Request(source="x = 1  # cache test"), 1),
        (Request(source="x = 1  # cache test", time=True), 3),
        (Request(source="busy  # cache test"), 5),
    ]:
        backend.run_inspection(request, session="s")
        backend.run_inspection(request, session="s")
        assert len(calls) == calls_after


def test_code_under_the_hosts_tmp_is_bound_aside_so_the_fresh_tmp_does_not_hide_it(monkeypatch) -> None:
    from inspectors.sandbox import launcher

    monkeypatch.setattr(launcher, "PACKAGE_DIR", "/tmp/clone/inspectors")
    monkeypatch.setattr(launcher, "PROJECT_ROOT", "/tmp/clone")
    monkeypatch.setattr(launcher, "_python_paths", lambda: ["/tmp/clone/.venv", "/opt/python"])
    argv = launcher.build_launch("bwrap", Limits()).argv
    binds = [argv[i + 2] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert "/run/jaxpr-explorer/tmp/clone/inspectors" in binds and "/opt/python" in binds
    assert not [b for b in binds if b == "/tmp" or b.startswith("/tmp/")]  # each request mounts a tmpfs there
    assert "PYTHONPATH" in argv and argv[argv.index("PYTHONPATH") + 1] == "/run/jaxpr-explorer/tmp/clone"
