"""Jaxpr Explorer's library: see what JAX does to a program, stage by stage.

    from inspectors import Request, inspect
    result = inspect(Request(source=code, fn="loss", args="f32[3]", transforms=["grad", "jit"]))
    print(result.jaxpr().text)

Importing this package is cheap: JAX loads on first use of `inspect`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspectors.results import InspectError, InspectionResult, JaxprModel, Request

__all__ = ["InspectError", "InspectionResult", "JaxprModel", "Request", "inspect", "inspect_fn", "list_devices"]


def inspect(
    request: Request,
    *,
    use_cache: bool = True,
    on_stage: Callable[..., None] | None = None,
    analyses: frozenset[str] | None = None,
) -> InspectionResult:
    """Trace, transform, lower, compile (and optionally time) the request's function.

    `on_stage(result, stages)` hears each group of stages of the chain as it completes. `analyses` limits
    what is made beside the stages' texts to some of "models" (the jaxpr stages' models), "memory", "maps"
    (source map, provenance), "primitives", "sharding" (None: all of them; any but "models" implies it).
    """
    from inspectors import pipeline

    wanted = pipeline.ALL_ANALYSES if analyses is None else frozenset(analyses)
    return pipeline.inspect(request, use_cache=use_cache, on_stage=on_stage, analyses=wanted)


def inspect_fn(fn: Any, *args: Any, **options: Any) -> Any:
    """Inspect a live function on its inputs: `inspect_fn(loss, params, batch, transforms=["grad", "jit"])`."""
    from inspectors import live

    return live.inspect_fn(fn, *args, **options)


def list_devices() -> list[str]:
    """Return every JAX device of every available backend as `platform:id`."""
    from inspectors import pipeline

    return pipeline.list_devices()
