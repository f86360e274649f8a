"""Exceptions from user code, tracing, lowering and compiling, turned into data."""

from __future__ import annotations

import traceback

from inspectors.results import InspectError, SourceLoc

HINTS = {
    "TracerBoolConversionError": (
        "Python control flow (`if`, `while`, `and`) needs a concrete value, but under a "
        "transformation the value is an abstract tracer. Use `jnp.where` or `lax.cond` "
        "(or `lax.while_loop`), or mark the argument static with `jit(static_argnums=...)`."
    ),
    "ConcretizationTypeError": (
        "A concrete value was needed where JAX only has an abstract tracer. Use `lax` "
        "control flow, or make the argument static with `jit(static_argnums=...)`."
    ),
    "TracerIntegerConversionError": (
        "`int()` or indexing needs a concrete value; use `lax.dynamic_slice` or make the argument static."
    ),
    "TracerArrayConversionError": ("NumPy (`np.*`) was called on a traced value; use `jax.numpy` instead."),
    "TransformSpecError": "Write transforms in call syntax, e.g. `grad(argnums=1)` or `vmap(in_axes=(None, 0))`.",
}


def user_frames(exc: BaseException, filename: str, lines: list[str]) -> list[SourceLoc]:
    """Return the frames of the exception's traceback that are in the user's file."""
    frames = []
    for fs in traceback.extract_tb(exc.__traceback__):
        if fs.filename == filename:
            col = getattr(fs, "colno", None)
            loc = SourceLoc.at(filename, fs.lineno, None if col is None else col + 1, fs.name, lines)
            if loc:
                frames.append(loc)
    return frames


def to_error(stage: str, exc: BaseException, filename: str, source: str) -> InspectError:
    """Describe an exception raised at `stage`, pointing at the user's failing line."""
    lines = source.splitlines()
    frames = user_frames(exc, filename, lines)
    location = frames[-1] if frames else None
    message = str(exc)
    if isinstance(exc, SyntaxError) and exc.filename in (filename, "<inputs>"):
        message = exc.msg
        if exc.filename == filename:
            location = SourceLoc.at(filename, exc.lineno, exc.offset, "<module>", lines)
        else:
            stage = "inputs"
    # TracerBoolConversionError names the `def` line; the `if` is the innermost user frame.
    kind = type(exc).__name__
    return InspectError(
        stage=stage,
        kind=kind,
        message=message,
        location=location,
        user_frames=frames,
        hint=HINTS.get(kind, ""),
    )
