"""The app's one door to inspections: every user program runs in a sandboxed worker.

The Streamlit process never imports JAX and never runs user code. Requests go
to one process-wide pool of warm, sandboxed workers (`inspectors.sandbox`) and
come back as plain data. Each browser session has at most one request in
flight; the queue is bounded and fair by client (the browser's address behind
nginx, else a cookie, else the session), and every refusal is a result with a
clear error. Whatever comes back from a worker is validated strictly; a
malformed result is an error and is never cached.
Every result goes into one stage store (`inspectors.store`: SQLite, stages by
`(Request.key(), stage id)`, a byte budget with least-recently-used eviction);
a session gets the result's index and fetches a stage's body when a view reads
it. Untimed results are served from the store for all sessions (treat them as
read-only): a workshop opens the same samples many times.
Limits and pool size come from `JAXPR_EXPLORER_*` environment variables;
`JAXPR_EXPLORER_HOSTED=1` makes importing this module fail without bwrap.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import threading
from collections.abc import Callable

from inspectors import store as stage_store
from inspectors.results import (
    InspectionResult,
    MemoryReport,
    RematComparison,
    Request,
    SavedResidual,
    Walkthrough,
)
from inspectors.sandbox import Limits, Pool, devices_in, inspect_in, validate
from inspectors.sandbox import errors as sandbox_errors
from inspectors.sandbox import isolation_status as _isolation_status
from inspectors.sandbox.launcher import choose_mode

LIMITS = Limits.from_env()
if LIMITS.hosted:
    choose_mode(LIMITS)  # raises IsolationUnavailable: a hosted server must not start without bwrap

# The stage store's byte budget (compressed stage bodies on disk): JAXPR_EXPLORER_STORE_MB.
STORE_MB = float(os.environ.get("JAXPR_EXPLORER_STORE_MB") or 2048)
STORE = stage_store.server_store(STORE_MB)
_lock = threading.Lock()
_pool: Pool | None = None
_devices: dict[int | None, list[str]] = {}  # per virtual CPU device count (None: the worker's default)
cache_stats = {"hits": 0, "misses": 0}


def pool() -> Pool:
    """Return the process-wide worker pool, starting it on first use."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = Pool(LIMITS)
            _pool.start(wait=False)
            atexit.register(_pool.close)
        return _pool


def session_id() -> str | None:
    """Return the current browser session's id (None outside a Streamlit script run)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return None
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def client_id() -> str | None:
    """Who is billed for worker time in the fair queue: the browser's address, else a cookie, else None.

    Behind the proxy (a loopback peer) the address is the last `X-Forwarded-For` hop, the
    one nginx itself saw; earlier hops are whatever the browser claimed and are ignored.
    """
    try:
        import streamlit as st

        context = st.context
        address = context.ip_address
        if not address:
            forwarded = context.headers.get("X-Forwarded-For") or ""
            address = forwarded.split(",")[-1].strip()
        if address:
            return f"address {address}"
        route = context.cookies.get("jxe_route")
        return f"cookie {route}" if route else None
    except Exception:  # noqa: BLE001 - outside a script run, or an older Streamlit: bill the session
        return None


def run_inspection(
    request: Request,
    on_wait: Callable[[int], None] | None = None,
    session: str | None = None,
    client: str | None = None,
    on_partial: Callable[[InspectionResult], None] | None = None,
    on_tick: Callable[[], None] | None = None,
) -> InspectionResult:
    """Return the inspection result for `request`, computed in a sandboxed worker.

    `on_tick()` hears, about twice a second while no stage arrives, that it still runs (Stop lives on it).

    Failures (user errors, limits, a busy session or server) are in `result.error`;
    `on_wait(n)` is called while `n` requests are ahead of this one in the queue.
    """
    key = request.key()
    if _key(request) is not None and STORE.complete(key):
        cache_stats["hits"] += 1
        return STORE.index(key)
    cache_stats["misses"] += 1
    result = inspect_in(
        pool(),
        request,
        session=session or session_id(),
        client=client or client_id(),
        on_wait=on_wait,
        on_partial=on_partial,
        on_tick=on_tick,
    )
    if result.error is not None and result.error.transient:
        return result  # the service's failure, not the program's: never stored
    return STORE.put(key, result)


def _key(request: Request) -> str | None:
    """The key of a request the store may answer (timings are never reused: they are measurements)."""
    return None if request.time or request.profile else request.key()


def stop_inspection(session: str | None = None) -> bool:
    """Stop the inspection this browser session is running (its Stop button); False if none runs."""
    session = session or session_id()
    return session is not None and _pool is not None and _pool.stop(session)


def saved_result(request: Request) -> bytes:
    """Return the stored result of `request` as one saved-result file (`python -m inspectors open FILE`)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "result.jxe")
        STORE.save(request.key(), path)
        with open(path, "rb") as fh:
            return fh.read()


def run_walkthrough(
    request: Request,
    on_wait: Callable[[int], None] | None = None,
    session: str | None = None,
    client: str | None = None,
) -> Walkthrough:
    """Return the walkthrough ("how JAX works", steps 1-7) of `request`, computed in a sandboxed worker.

    A request the worker could not finish (a limit, a busy session or server, a crash)
    comes back as a Walkthrough whose `trace_error` says why, as `run_inspection` does.
    """
    payload = dataclasses.asdict(request)
    outcome = pool().run(
        "walkthrough", payload, session=session or session_id(), client=client or client_id(), on_wait=on_wait
    )
    failed = Walkthrough(source=request.source, filename=request.filename)
    if outcome.error is not None:
        failed.trace_error = sandbox_errors.refine(outcome.error.to_inspect_error(), LIMITS)
        return failed
    try:
        walk = Walkthrough.from_dict(outcome.data or {})
        if walk.inspection is not None:  # its chain, checked as inspect_in checks one
            validate.check(walk.inspection)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        failed.trace_error = sandbox_errors.bad_result(f"a malformed walkthrough: {exc}").to_inspect_error()
        return failed
    for error in (walk.trace_error, walk.error, walk.inspection.error if walk.inspection else None):
        if error is not None:
            sandbox_errors.refine(error, LIMITS)
    return walk


def run_remat(
    request: Request, policy: str, before: list[SavedResidual], session: str | None = None
) -> RematComparison:
    """Return `request`'s grad under checkpoint `policy` beside `before` (its residuals), from a worker.

    Only the variant is compiled (the `remat` job), not the whole inspection again.
    """
    payload = {
        "request": dataclasses.asdict(request),
        "policy": policy,
        "before": [dataclasses.asdict(r) for r in before],
    }
    outcome = pool().run("remat", payload, session=session or session_id(), client=client_id())
    if outcome.error is not None:
        error = sandbox_errors.refine(outcome.error.to_inspect_error(), LIMITS)
        return RematComparison(policy=policy, error=f"{error.kind}: {error.message}")
    try:
        return MemoryReport.from_dict(outcome.data or {}).remat or RematComparison(
            policy, error="no comparison came back"
        )
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        return RematComparison(policy=policy, error=f"a malformed remat comparison: {exc}")


def available_devices(count: int | None = None) -> list[str]:
    """Return the devices inspections on `count` virtual CPU devices run on (`cpu:0`, `gpu:0`), asked of a worker."""
    if count not in _devices:
        _devices[count] = devices_in(pool(), count)
    return list(_devices[count])


def isolation_status() -> str:
    """Return one line on how user code is isolated (for the sidebar footer)."""
    return _isolation_status(LIMITS)


def limits() -> Limits:
    """Return the limits every request runs under."""
    return LIMITS
