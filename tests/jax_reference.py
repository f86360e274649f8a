"""JAX's own output for a source + inputs + transform, computed without `inspectors.pipeline`."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import jax


def exec_source(source: str, filename: str) -> types.ModuleType:
    """Run the source as a module, the way a user's notebook would."""
    module = types.ModuleType("reference")
    # Not this file's `from __future__ import annotations` (dataclass models need their own flags).
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    return module


def reference_texts(
    g: Callable, f: Callable, args: tuple, static: tuple[int, ...] = (), f_args: tuple | None = None
) -> dict[str, Any]:
    """Return make_jaxpr (before, after), lowered StableHLO and compiled HLO text from JAX itself.

    `f_args` are the inputs `f` itself receives inside the transform (per example under vmap).
    """
    jitted = g if isinstance(g, jax.stages.Wrapped) else jax.jit(g, static_argnums=static)
    lowered = jitted.lower(*args)
    return {
        "before": str(jax.make_jaxpr(f, static_argnums=static)(*(f_args or args))),
        "after": str(jax.make_jaxpr(g, static_argnums=static)(*args)),
        "stablehlo": lowered.as_text(),
        "stablehlo_debug": lowered.as_text(debug_info=True),
        "hlo": lowered.compile().as_text(),
    }
