"""The jobs a sandboxed worker can run: each a function from plain data to plain data.

Jobs run inside the hardened child process, never in the server. Register a new
one with `register_job("name", fn)` in this module, next to the others, so the
zygote knows it before it forks. A job is called as `job(payload, emit)`:
`emit(dict)` sends a partial result to the server at once (the caller's
`on_partial` gets it), and the job's return value is the final result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Emit = Callable[[dict[str, Any]], None]
Job = Callable[[dict[str, Any], Emit], dict[str, Any]]
JOBS: dict[str, Job] = {}


def register_job(name: str, fn: Job) -> Job:
    """Make `fn` runnable in the sandbox as job `name`; return `fn`."""
    JOBS[name] = fn
    return fn


PRELOAD_LIBRARIES = ("flax.linen", "flax.nnx", "optax", "equinox")  # real models import these: not per request


def preload() -> None:
    """Import what the jobs need (JAX included, and the model libraries installed) without starting a JAX backend."""
    import importlib

    from inspectors import pipeline, walkthrough  # noqa: F401 - imports JAX, configures CPU devices

    for name in PRELOAD_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def inspect_job(payload: dict[str, Any], emit: Emit | None = None) -> dict[str, Any]:
    """Run one inspection: `Request` data in, `InspectionResult` data out."""
    from inspectors import pipeline
    from inspectors.results import request_from_dict

    # Each group of stages goes to the server as soon as it is done: the jaxprs right
    # after tracing, then lowering, compiling, XLA's passes, kernels. objdump cannot
    # run in the sandbox (no new processes): kernels say so instead of trying.
    # Each stage goes once, in a frame of its own, within the caps the server sent (`caps`, bytes).
    pipeline.DISASSEMBLE = False
    caps = payload.pop("caps", None) or {}
    request = request_from_dict(payload)
    if emit is None:
        return pipeline.inspect(request, use_cache=False).to_dict()
    streamer = pipeline.Streamer(emit, caps.get("stage"), caps.get("result"), getattr(emit, "json", None))
    # Each stage as it starts, so a request stopped at the time limit can say where it was.
    pipeline.stage_listener = lambda name: emit({"running": name})
    return streamer.closing(pipeline.inspect(request, use_cache=False, on_stage=streamer.stages))


def devices_job(payload: dict[str, Any], emit: Emit | None = None) -> dict[str, Any]:
    """Return the devices inspections can run on; `count`: with the CPU split into that many (as `inspect` does)."""
    from inspectors import pipeline, sharding

    count = payload.get("count")
    sharding.use_devices(count if type(count) is int else None)  # the same call `Request.devices` makes
    return {"devices": pipeline.list_devices()}


def walkthrough_job(payload: dict[str, Any], emit: Emit | None = None) -> dict[str, Any]:
    """Run the teaching walkthrough: `Request` data in, `Walkthrough` data out."""
    from inspectors.walkthrough import walkthrough_job as run

    return run(payload)


def remat_job(payload: dict[str, Any], emit: Emit | None = None) -> dict[str, Any]:
    """Compile only the remat variant (the app's Compare): request, policy and residuals in, comparison out."""
    from inspectors.memory import remat_job as run

    return run(payload)


def echo_job(payload: dict[str, Any], emit: Emit | None = None) -> dict[str, Any]:
    """Return the payload unchanged, after emitting its `partials` (a health check of the worker path)."""
    for part in payload.get("partials", []):
        if emit is not None:
            emit(part)
    return dict(payload)


register_job("inspect", inspect_job)
register_job("devices", devices_job)
register_job("echo", echo_job)
register_job("walkthrough", walkthrough_job)
register_job("remat", remat_job)
