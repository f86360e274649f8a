"""The app's one door to inspections: every result the UI shows comes through here.

Today it calls the library in-process; the hosted-demo work routes it through
isolated worker processes, so the UI must not call `inspectors.inspect` itself.
"""

from __future__ import annotations

from inspectors.results import InspectionResult, Request


def run_inspection(request: Request) -> InspectionResult:
    """Return the inspection result for `request`."""
    from inspectors import inspect

    return inspect(request)


def available_devices() -> list[str]:
    """Return the devices inspections can run on (`cpu:0`, `gpu:0`, ...)."""
    from inspectors import list_devices

    return list_devices()
