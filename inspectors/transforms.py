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


def _library_transform(module: str, name: str) -> Callable[..., Callable]:
    """Return a library's own transform (`flax.nnx.grad`, `equinox.filter_jit`), imported only now."""

    def build(f: Callable, **options: Any) -> Callable:
        import importlib

        try:
            lib = importlib.import_module(module)
        except ImportError:
            raise TransformSpecError(f"{module}.{name} needs {module.split('.')[0]} installed") from None
        return getattr(lib, name)(f, **options)

    build.__name__ = name
    return build


# The libraries' own transforms, as their users write them: `nnx.grad`, `eqx.filter_jit`.
LIBRARY_TRANSFORMS: dict[str, tuple[str, str]] = {
    "nnx.grad": ("flax.nnx", "grad"),
    "nnx.value_and_grad": ("flax.nnx", "value_and_grad"),
    "nnx.jit": ("flax.nnx", "jit"),
    "nnx.vmap": ("flax.nnx", "vmap"),
    "eqx.filter_grad": ("equinox", "filter_grad"),
    "eqx.filter_value_and_grad": ("equinox", "filter_value_and_grad"),
    "eqx.filter_jit": ("equinox", "filter_jit"),
    "eqx.filter_vmap": ("equinox", "filter_vmap"),
}
_ALIASES = {"flax.nnx.": "nnx.", "equinox.": "eqx.", "jax.": ""}

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
    **{name: _library_transform(*where) for name, where in LIBRARY_TRANSFORMS.items()},
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
    name = ast.unparse(func)
    for long, short in _ALIASES.items():
        name = short + name.removeprefix(long) if name.startswith(long) else name
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


def is_jax_value(leaf: Any) -> bool:
    """True for a leaf JAX can trace: an array, a shape spec, a NumPy or Python number."""
    import jax

    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct, bool, int, float, complex)):
        return True
    return hasattr(leaf, "__jax_array__")


def is_array_value(leaf: Any) -> bool:
    """True for an array leaf (not a Python number): what `eqx.filter_jit` traces."""
    import jax

    return isinstance(leaf, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)) or hasattr(leaf, "__jax_array__")


def keep_static(
    f: Callable, args: tuple, kwargs: dict[str, Any]
) -> tuple[Callable, tuple, dict[str, Any]]:
    """Keep inputs JAX cannot trace out of the traced inputs, as `eqx.filter_jit` does.

    Positional arguments keep JAX's own rules (numbers are traced; `jit(static_argnums=...)`
    makes them static) except for leaves JAX cannot trace at all (the activation
    function an Equinox model holds). Keyword arguments are traced only where they
    are arrays, so `train=False` stays a Python bool. Each argument keeps its tree,
    with `None` where a static leaf was; `f` gets the leaves put back. Inputs with
    nothing static are returned unchanged: the program is the one JAX itself traces.
    """
    import inspect

    import jax

    positional = jax.tree_util.tree_leaves(args)
    keywords = jax.tree_util.tree_leaves(kwargs)
    if all(map(is_jax_value, positional)) and all(map(is_array_value, keywords)):
        return f, args, kwargs
    split = [_partition(a, is_jax_value) for a in args]
    kw_split = {k: _partition(v, is_array_value) for k, v in kwargs.items()}

    def with_static(*dyn_args: Any, **dyn_kwargs: Any) -> Any:
        full = [_combine(d, s) for d, (_, s) in zip(dyn_args, split, strict=True)]
        full_kw = {k: _combine(v, kw_split[k][1]) for k, v in dyn_kwargs.items()}
        return f(*full, **full_kw)

    with_static.__name__ = getattr(f, "__name__", "f")
    with_static.__qualname__ = getattr(f, "__qualname__", with_static.__name__)
    try:
        with_static.__signature__ = inspect.signature(f)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass
    return with_static, tuple(d for d, _ in split), {k: d for k, (d, _) in kw_split.items()}


def _partition(tree: Any, traced: Callable[[Any], bool]) -> tuple[Any, Any]:
    """Return (traced part, static part) of a pytree: each has `None` where the other has the leaf."""
    import jax

    dyn = jax.tree_util.tree_map(lambda x: x if traced(x) else None, tree)
    static = jax.tree_util.tree_map(lambda x: None if traced(x) else x, tree)
    return dyn, static


def _combine(dyn: Any, static: Any) -> Any:
    """Put the static leaves back into the traced part of a pytree."""
    import jax

    return jax.tree_util.tree_map(
        lambda d, s: d if s is None else s, dyn, static, is_leaf=lambda x: x is None
    )
