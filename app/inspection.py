"""Results for the views, cached on the request so tab and option changes never re-trace.

All results come from `app.backend`; this module only remembers them.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import streamlit as st

from app import backend
from inspectors.results import InspectionResult, Request, request_from_dict

TRANSIENT_KINDS = {"SessionBusy", "ServerBusy", "WorkerCrashed"}


class _Transient(Exception):
    """Carries a result that must not be cached (busy server, crashed worker)."""

    def __init__(self, result: InspectionResult) -> None:
        super().__init__(result.error.kind if result.error else "")
        self.result = result


@st.cache_data(max_entries=64, show_spinner=False)
def _inspect(request_json: str) -> InspectionResult:
    """Return the backend's result for a request given as JSON (the cache key)."""
    result = backend.run_inspection(request_from_dict(json.loads(request_json)))
    if result.error is not None and result.error.kind in TRANSIENT_KINDS:
        raise _Transient(result)  # st.cache_data never caches a raise: the next rerun asks again
    return result


def inspect(request: Request) -> InspectionResult:
    """Return the (cached) result of an untimed inspection."""
    try:
        return _inspect(json.dumps(asdict(request), sort_keys=True))
    except _Transient as transient:
        return transient.result


def run_and_time(request: Request) -> InspectionResult:
    """Compile, run and time the request's function (on demand, not cached here)."""
    return backend.run_inspection(request)


def isolation() -> str:
    """Return the backend's one line on how user code is isolated ("" if it says nothing)."""
    status = getattr(backend, "isolation_status", None)
    try:
        return status() if status else ""
    except Exception:  # noqa: BLE001 - a footer must never break the page
        return ""


@st.cache_data(ttl=600, show_spinner=False)
def devices() -> list[str]:
    """Return the devices inspections can run on; empty if the backend cannot say."""
    try:
        return list(backend.available_devices())
    except Exception:  # noqa: BLE001 - the picker falls back to the default device
        return []
