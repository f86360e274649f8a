"""Results for the views, held on the request so tab and option changes never re-trace.

All results come from `app.backend`, as indexes of the stage store: this session holds the
index of the results it shows and the stage bodies its open views read (`InspectionResult.HELD`).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import streamlit as st

from app import backend
from inspectors.results import InspectError, InspectionResult, Request


class Transient(Exception):
    """Carries a value that must not be cached (busy server, crashed worker)."""

    def __init__(self, value: Any) -> None:
        super().__init__("transient")
        self.value = value


def unless_transient(value: Any, error: InspectError | None) -> Any:
    """Return `value`, or raise it as Transient: st.cache_data never caches a raise."""
    if error is not None and error.transient:
        raise Transient(value)
    return value


def call_cached(fn: Callable[[str], Any], request: Request) -> Any:
    """Call a `st.cache_data` function keyed on the request's JSON; transient values pass through."""
    try:
        return fn(json.dumps(asdict(request), sort_keys=True))  # the function reads the request back
    except Transient as transient:
        return transient.value


STOP_KEY = "stop_inspection"  # the Stop button the progress line draws while a request runs
STOP_WAIT_S = 10.0  # how long the Stop click's run waits for the stopped run to hand over what arrived
MEMO_SIZE = 4  # result indexes this session holds (the stage store keeps every result, for all sessions)


def inspect(
    request: Request,
    on_wait: Callable[[int], None] | None = None,
    on_partial: Callable[[InspectionResult], None] | None = None,
    restart: bool = False,
) -> InspectionResult:
    """Return the result of an untimed inspection, remembered for this session.

    An `on_partial` with a `tick` method hears it while no stage arrives (a long compile: Stop).
    `restart` (the Run button was pressed) runs again a request the user stopped, even on unchanged code.

    Reruns (a tab, a colour option) never reach the backend; a new request does, and
    `on_wait(n)` hears how many requests are ahead of it in the shared queue.
    """
    key = request.key()
    memo = st.session_state.setdefault("_inspections", OrderedDict())
    if st.session_state.get(STOP_KEY) and key not in memo and backend.stop_inspection():
        # Streamlit stopped the run that drew Stop and started this one: stop its worker and show what arrived.
        deadline = time.monotonic() + STOP_WAIT_S
        while key not in memo and time.monotonic() < deadline:
            time.sleep(0.1)
    if restart and key in memo and stopped_by_user(memo[key]):
        del memo[key]  # a rerun keeps the stopped result; Run asks for the whole inspection again
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    tick = getattr(on_partial, "tick", None)
    result = backend.run_inspection(request, on_wait=on_wait, on_partial=on_partial, on_tick=tick)
    stopped = stopped_by_user(result)  # the user's: a rerun (a tab, an option) must not restart it
    if result.error is None or not result.error.transient or stopped:
        memo[key] = result
        while len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
    return result


def stopped_by_user(result: InspectionResult) -> bool:
    """True for a result the user's Stop ended (kept for reruns until Run asks again)."""
    return result.error is not None and result.error.kind == "Stopped"


def run_and_time(request: Request) -> InspectionResult:
    """Compile, run and time the request's function (on demand, not cached here)."""
    return backend.run_inspection(request)


def remat(request: Request, policy: str, before: list) -> Any:
    """Compile `request`'s grad under checkpoint `policy` alone (the Memory view's Compare)."""
    return backend.run_remat(request, policy, before)


def isolation() -> str:
    """Return the backend's one line on how user code is isolated ("" if it says nothing)."""
    status = getattr(backend, "isolation_status", None)
    try:
        return status() if status else ""
    except Exception:  # noqa: BLE001 - a footer must never break the page
        return ""


@st.cache_data(ttl=600, show_spinner=False)
def devices(count: int | None = None) -> list[str]:
    """Return the devices inspections on `count` virtual CPU devices run on; empty if the backend cannot say."""
    try:
        return list(backend.available_devices(count))
    except Exception:  # noqa: BLE001 - the picker falls back to the default device
        return []


def saved_result(request: Request) -> bytes:
    """Return the stored result of `request` as one saved-result file (a download)."""
    return backend.saved_result(request)


def stop() -> bool:
    """Stop this session's running inspection (the Stop button)."""
    return backend.stop_inspection()
