"""Run user programs in sandboxed worker processes, never in the caller's process.

    from inspectors.sandbox import Limits, Pool, inspect_in
    with Pool(Limits.from_env()) as pool:
        result = inspect_in(pool, request)   # an InspectionResult; failures in result.error

A pool holds warm zygotes (JAX imported once, no backend started), each
inside bubblewrap when it works here. Per request the pool hands a zygote a
fresh socket and output file (by SCM_RIGHTS); the zygote forks a child that
reads its own request from that socket, drops to rlimits, Landlock and
seccomp, runs one job from `jobs.JOBS`, and sends its partial and final
results straight back as JSON frames, which the pool checks strictly. The
zygote never sees a request or a result. Importing this package does not
import JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from inspectors.results import InspectionResult, Request
from inspectors.sandbox.errors import WorkerError
from inspectors.sandbox.jobs import JOBS, register_job
from inspectors.sandbox.launcher import IsolationUnavailable, choose_mode, describe
from inspectors.sandbox.limits import Limits
from inspectors.sandbox.pool import JobOutcome, Pool, devices_in, inspect_in

__all__ = [
    "JOBS",
    "IsolationUnavailable",
    "JobOutcome",
    "Limits",
    "Pool",
    "WorkerError",
    "devices_in",
    "inspect_in",
    "inspect_isolated",
    "isolation_status",
    "register_job",
]


def inspect_isolated(
    request: Request, limits: Limits | None = None, on_partial: Callable[[InspectionResult], None] | None = None
) -> InspectionResult:
    """Run one inspection in a fresh one-worker pool (the CLI's `--isolated`); `on_partial` hears the stages so far."""
    limits = limits or Limits.from_env()
    with Pool(Limits(**{**limits.to_dict(), "workers": 1})) as pool:
        return inspect_in(pool, request, on_partial=on_partial)


def devices_isolated(limits: Limits | None = None) -> list[str]:
    """Return the devices a sandboxed worker sees."""
    limits = limits or Limits.from_env()
    with Pool(Limits(**{**limits.to_dict(), "workers": 1})) as pool:
        return devices_in(pool)


@functools.lru_cache(maxsize=8)
def isolation_status(limits: Limits | None = None) -> str:
    """Return a short line on how user code is isolated here (for logs and the app's footer)."""
    limits = limits or Limits.from_env()
    try:
        mode, note = choose_mode(limits)
    except IsolationUnavailable as exc:
        return f"no isolation available: {exc}"
    return describe(mode, note)
