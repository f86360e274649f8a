"""The transformation pipeline: a table of named transforms with their options.

A pipeline is a list of specs in call syntax, innermost first:
`["grad", "vmap(in_axes=(None, 0))", "jit"]` is
`jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0)))`.

Parsing and printing are pure Python (the app uses them without loading JAX);
JAX is imported only when a pipeline is applied.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TransformSpecError(ValueError):
    """A transform spec that cannot be parsed or names no known transform."""


@dataclass(frozen=True)
class Transform:
    """One parsed pipeline step: a transform name and its keyword options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name + (f"({format_options(self.options)})" if self.options else "")


def format_options(options: dict[str, Any]) -> str:
    """Return options as call keywords: `in_axes=(None, 0)`."""
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _tangents(tree: Any) -> Any:
    """Ones-like tangents (float0 zeros for integer and bool leaves)."""
    import jax

    def one(x: Any) -> Any:
        dtype = jax.dtypes.result_type(x)
        shape = jax.numpy.shape(x)
        if jax.dtypes.issubdtype(dtype, np.inexact):
            return jax.numpy.ones(shape, dtype)
        return np.zeros(shape, dtype=jax.dtypes.float0)

    return jax.tree_util.tree_map(one, tree)


def _jvp(f: Callable, **options: Any) -> Callable:
    """`jax.jvp` with ones-like tangents: returns (primal_out, tangent_out)."""

    import jax

    def f_jvp(*args: Any) -> Any:
        return jax.jvp(f, args, _tangents(args), **options)

    f_jvp.__name__ = f"jvp_{getattr(f, '__name__', 'f')}"
    return f_jvp


def _vjp(f: Callable, **options: Any) -> Callable:
    """`jax.vjp` pulled back with ones-like cotangents: returns (out, cotangents)."""

    import jax

    def f_vjp(*args: Any) -> Any:
        out, pullback = jax.vjp(f, *args, **options)
        return out, pullback(_tangents(out))

    f_vjp.__name__ = f"vjp_{getattr(f, '__name__', 'f')}"
    return f_vjp


def _checkpoint(f: Callable, policy: Any = None, **options: Any) -> Callable:
    """`jax.checkpoint`, with `policy` given by name (`"dots_saveable"`)."""
    import jax

    if isinstance(policy, str):
        if not hasattr(jax.checkpoint_policies, policy):
            raise TransformSpecError(f"unknown checkpoint policy {policy!r}")
        policy = getattr(jax.checkpoint_policies, policy)
    return jax.checkpoint(f, policy=policy, **options)


def _jax_transform(name: str) -> Callable[..., Callable]:
    """Return `jax.<name>`, importing JAX only now."""

    def build(f: Callable, **options: Any) -> Callable:
        import jax

        return getattr(jax, name)(f, **options)

    build.__name__ = name
    return build


TRANSFORMS: dict[str, Callable[..., Callable]] = {
    "grad": _jax_transform("grad"),
    "value_and_grad": _jax_transform("value_and_grad"),
    "vmap": _jax_transform("vmap"),
    "jit": _jax_transform("jit"),
    "jvp": _jvp,
    "vjp": _vjp,
    "jacfwd": _jax_transform("jacfwd"),
    "jacrev": _jax_transform("jacrev"),
    "hessian": _jax_transform("hessian"),
    "checkpoint": _checkpoint,
    "remat": _checkpoint,
}


def parse_transform(spec: str) -> Transform:
    """Parse `vmap(in_axes=(None, 0))` into a Transform; options must be literals."""
    text = spec.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise TransformSpecError(f"cannot parse transform {spec!r}: {exc.msg}") from None
    call = node if isinstance(node, ast.Call) else None
    func = call.func if call else node
    name = ast.unparse(func).removeprefix("jax.")
    if name not in TRANSFORMS:
        known = ", ".join(sorted(TRANSFORMS))
        raise TransformSpecError(f"unknown transform {name!r}; known transforms: {known}")
    if call and call.args:
        raise TransformSpecError(f"{name}: give options by keyword, e.g. {name}(argnums=1)")
    options = {}
    for kw in call.keywords if call else []:
        if kw.arg is None:
            raise TransformSpecError(f"{name}: **options are not supported")
        try:
            options[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            value = ast.unparse(kw.value)
            raise TransformSpecError(
                f"{name}: option {kw.arg}={value} must be a literal (number, string, tuple, None)"
            ) from None
    return Transform(name, options)


def parse_pipeline(specs: list[str] | str | None) -> list[Transform]:
    """Parse a pipeline given as a list of specs or one comma-separated string."""
    if specs is None:
        return []
    if isinstance(specs, str):
        specs = split_pipeline(specs)
    return [parse_transform(s) for s in specs if s.strip()]


def split_pipeline(text: str) -> list[str]:
    """Split `grad, vmap(in_axes=(None, 0)), jit` at top-level commas."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def apply_pipeline(f: Callable, pipeline: list[Transform]) -> Callable:
    """Apply the transforms to `f`, innermost first."""
    for t in pipeline:
        f = TRANSFORMS[t.name](f, **t.options)
    return f


def expression(fn_name: str, pipeline: list[Transform]) -> str:
    """Return the pipeline as code: `jit(vmap(grad(loss), in_axes=(None, 0)))`."""
    expr = fn_name
    for t in pipeline:
        expr = f"{t.name}({expr}" + (f", {format_options(t.options)})" if t.options else ")")
    return expr


def static_argnums(pipeline: list[Transform]) -> tuple[int, ...]:
    """Return the static argument positions any `jit` in the pipeline declares."""
    nums: list[int] = []
    for t in pipeline:
        value = t.options.get("static_argnums") if t.name == "jit" else None
        if value is not None:
            nums.extend([value] if isinstance(value, int) else value)
    return tuple(sorted(set(nums)))
