"""The app's one door to inspections: every user program runs in a sandboxed worker.

The Streamlit process never imports JAX and never runs user code. Requests go
to one process-wide pool of warm, sandboxed workers (`inspectors.sandbox`) and
come back as plain data. Each browser session has at most one request in
flight; the queue is bounded, and every refusal is a result with a clear error.
Limits and pool size come from `JAXPR_EXPLORER_*` environment variables;
`JAXPR_EXPLORER_HOSTED=1` makes importing this module fail without bwrap.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

from inspectors.results import InspectionResult, Request
from inspectors.sandbox import Limits, Pool, devices_in, inspect_in
from inspectors.sandbox import isolation_status as _isolation_status
from inspectors.sandbox.launcher import choose_mode

LIMITS = Limits.from_env()
if LIMITS.hosted:
    choose_mode(LIMITS)  # raises IsolationUnavailable: a hosted server must not start without bwrap

_lock = threading.Lock()
_pool: Pool | None = None
_devices: list[str] | None = None


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


def run_inspection(
    request: Request,
    on_wait: Callable[[int], None] | None = None,
    session: str | None = None,
) -> InspectionResult:
    """Return the inspection result for `request`, computed in a sandboxed worker.

    Failures (user errors, limits, a busy session or server) are in `result.error`;
    `on_wait(n)` is called while `n` requests are ahead of this one in the queue.
    """
    return inspect_in(pool(), request, session=session or session_id(), on_wait=on_wait)


def available_devices() -> list[str]:
    """Return the devices inspections can run on (`cpu:0`, `gpu:0`, ...), asked of a worker."""
    global _devices
    if _devices is None:
        _devices = devices_in(pool())
    return list(_devices)


def isolation_status() -> str:
    """Return one line on how user code is isolated (for the sidebar footer)."""
    return _isolation_status(LIMITS)


def limits() -> Limits:
    """Return the limits every request runs under."""
    return LIMITS
