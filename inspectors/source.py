"""Load the user's source: its declared defaults, its functions, its inputs.

Defaults are read statically from a module-level `__explorer__ = {...}` dict
literal (no code runs for that), so the app can list samples without
executing them. Inputs are a Python expression evaluated in the module's
namespace, where JAX's shape notation (`f32[4,8]`, `i32[]`, `key`) is also
available and becomes `jax.ShapeDtypeStruct`s.
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPES = {
    "bool": "bool",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "f64": "float64",
    "c64": "complex64",
    "c128": "complex128",
}
_EMPTY_SHAPE = re.compile(r"\b(" + "|".join(DTYPES) + r")\[\s*\]")


@dataclass
class Defaults:
    """What a source file declares about itself in `__explorer__`."""

    entry: str | None = None
    args: str | None = None
    transforms: list[str] = field(default_factory=list)
    stream: str = ""
    title: str = ""
    doc: str = ""


MAX_SOURCE_KB = 256  # the default cap on a program's size (the sandbox's JAXPR_EXPLORER_SOURCE_KB)
PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)  # a very long line can raise any


class SourceTooLarge(ValueError):
    """The program is larger than the size limit."""


def source_problem(source: str, limit_kb: int | None = None) -> str | None:
    """Return why `source` is too large to accept (default limit: JAXPR_EXPLORER_SOURCE_KB), or None."""
    if limit_kb is None:
        try:
            limit_kb = int(os.environ.get("JAXPR_EXPLORER_SOURCE_KB") or MAX_SOURCE_KB)
        except ValueError:
            limit_kb = MAX_SOURCE_KB
    size = len(source.encode("utf-8", errors="replace"))
    if size <= limit_kb * 1024:
        return None
    return (
        f"The program is {size / 1024:,.0f} KB; the limit is {limit_kb} KB per program "
        "(JAXPR_EXPLORER_SOURCE_KB). Shorten it, or load large data from arrays you build in code."
    )


def read_defaults(source: str) -> Defaults:
    """Return the `__explorer__` defaults and docstring, without running the code."""
    try:
        tree = ast.parse(source)
    except PARSE_ERRORS:
        return Defaults()
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__explorer__" for t in node.targets
        ):
            try:
                found = ast.literal_eval(node.value)
            except (*PARSE_ERRORS, TypeError):
                found = {}
    if not isinstance(found, dict):
        found = {}
    return Defaults(
        entry=found.get("entry"),
        args=found.get("args"),
        transforms=list(found.get("transforms", [])),
        stream=found.get("stream", ""),
        title=found.get("title", ""),
        doc=ast.get_docstring(tree) or "",
    )


def top_level_functions(source: str) -> list[str]:
    """Return the names of the top-level `def`s, in source order."""
    try:
        tree = ast.parse(source)
    except PARSE_ERRORS:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def load_module(source: str, filename: str) -> types.ModuleType:
    """Compile and run the source as a fresh module, as `python file.py` would (a new namespace every call).

    The code gets its own compile flags (`dont_inherit=True`: this file's
    `from __future__ import annotations` must not leak into it), its module is
    registered in `sys.modules` under its own name while it runs and after
    (dataclasses, Flax linen and Equinox modules look their module up there),
    and its folder is on `sys.path` so sibling modules and packages import.
    """
    problem = source_problem(source)
    if problem:
        raise SourceTooLarge(problem)
    code = compile(source, filename, "exec", dont_inherit=True)
    name = module_name(filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__dict__["__explorer_codes__"] = _all_codes(code)
    _add_folder_to_path(filename)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        # As a failed import does: the half-run module does not stay registered.
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    return module


FALLBACK_MODULE = "__explorer_main__"


def module_name(filename: str) -> str:
    """Return the module name of a user file: its stem, unless that names a module already imported."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    if not stem.isidentifier() or keyword.iskeyword(stem):
        return FALLBACK_MODULE
    existing = sys.modules.get(stem)
    # `model.py` is the user's `model`; `jax.py` must never replace the real jax.
    if existing is not None and not hasattr(existing, "__explorer_codes__"):
        return FALLBACK_MODULE
    return stem


def _add_folder_to_path(filename: str) -> None:
    """Put a real file's folder on `sys.path`, as `python file.py` puts its own."""
    if not os.path.isfile(filename):
        return
    folder = os.path.dirname(os.path.abspath(filename))
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _all_codes(code: types.CodeType) -> frozenset[types.CodeType]:
    """Return a code object and every code object nested in it (functions, lambdas)."""
    found = {code}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _all_codes(const)
    return frozenset(found)


def module_codes(module: types.ModuleType) -> frozenset[types.CodeType]:
    """Return the code objects compiled from this load of the source.

    Library functions that JAX caches (`jax.random`'s inner jits) keep the
    traceback of whoever traced them first; only frames running this load's
    code are the user's current lines (jax#15663).
    """
    return module.__dict__.get("__explorer_codes__", frozenset())


def function_codes(fn: Any) -> frozenset[types.CodeType]:
    """Return the code objects of the loaded source that defined `fn` (empty if unknown)."""
    import inspect

    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    return namespace.get("__explorer_codes__", frozenset())


def resolve_entry(module: types.ModuleType, requested: str | None, defaults: Defaults, source: str) -> str:
    """Return the entry: requested, else declared, else the last `def` (a name or an expression)."""
    functions = top_level_functions(source)
    name = (requested or "").strip() or defaults.entry or (functions[-1] if functions else None)
    if name is None:
        raise LookupError("the source defines no function to inspect; add a `def`")
    if not is_name(name):
        entry_function(module, name)  # an expression: check it evaluates to a callable
        return name
    if not callable(getattr(module, name, None)):
        known = ", ".join(functions) or "none"
        raise LookupError(f"no function named {name!r} in the source (functions: {known})")
    return name


def is_name(entry: str) -> bool:
    """True for a plain function name (`loss`), False for an expression (`partial(loss, model)`)."""
    return entry.isidentifier() and not keyword.iskeyword(entry)


def entry_function(module: types.ModuleType, entry: str) -> Any:
    """Return the callable an entry names: a module attribute, or an expression evaluated in the module.

    Expressions are what real code calls: `partial(loss, model)`, `model.__call__`,
    `Net.apply`, an `nnx.jit`- or `eqx.filter_jit`-wrapped function.
    """
    if is_name(entry):
        return getattr(module, entry)
    try:
        code = compile(entry, "<entry>", "eval", dont_inherit=True)
    except SyntaxError as exc:
        raise LookupError(f"cannot parse the entry {entry!r}: {exc.msg}") from None
    fn = eval(code, expression_namespace(module))  # noqa: S307 - the user's own expression
    if not callable(fn):
        raise LookupError(f"the entry {entry!r} is a {type(fn).__name__}, not a function")
    return fn


def expression_namespace(module: types.ModuleType) -> dict[str, Any]:
    """Names an entry or inputs expression sees: conveniences first, the module's own names over them."""
    import functools

    import jax
    import jax.numpy as jnp

    namespace: dict[str, Any] = {"partial": functools.partial, "functools": functools, "jax": jax, "jnp": jnp, "np": np}
    namespace.update(module.__dict__)
    return namespace


class _DtypeSpec:
    """`f32` in an inputs expression: `f32[4, 8]` gives a ShapeDtypeStruct."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype

    def __getitem__(self, shape: Any) -> Any:
        import jax

        shape = shape if isinstance(shape, tuple) else (shape,)
        return jax.ShapeDtypeStruct(tuple(int(d) for d in shape), np.dtype(_np_dtype(self.dtype)))

    def __repr__(self) -> str:
        return next(k for k, v in DTYPES.items() if v == self.dtype)


def _np_dtype(name: str) -> Any:
    """Return a numpy dtype for a name, bfloat16 included."""
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def key_spec() -> Any:
    """Return the spec of a PRNG key (`jax.random.PRNGKey`'s uint32[2])."""
    import jax

    return jax.ShapeDtypeStruct((2,), np.dtype("uint32"))


def eval_args(expr: str | None, module: types.ModuleType) -> tuple[Any, ...]:
    """Evaluate the inputs expression in the module's namespace; return the positional args."""
    args, _ = eval_inputs(expr, module)
    return args


def eval_inputs(expr: str | None, module: types.ModuleType) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Evaluate the inputs expression as a call's arguments: (positional, keyword).

    `params, batch, train=False` gives `((params, batch), {"train": False})`.
    """
    if expr is None or not expr.strip():
        return (), {}
    text = _EMPTY_SHAPE.sub(lambda m: f"{m.group(1)}[()]", expr)
    namespace = expression_namespace(module)
    for name, dtype in DTYPES.items():
        namespace.setdefault(name, _DtypeSpec(dtype))
    namespace.setdefault("key", key_spec())
    namespace["__explorer_inputs__"] = _inputs
    code = compile(f"__explorer_inputs__({text}\n)", "<inputs>", "eval", dont_inherit=True)
    return eval(code, namespace)  # noqa: S307 - evaluating the user's own inputs is the point


def _inputs(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return a call's arguments as they were given."""
    return args, kwargs


def is_spec(leaf: Any) -> bool:
    """True for a shape spec leaf (traced abstractly, filled with random data to run)."""
    import jax

    return isinstance(leaf, jax.ShapeDtypeStruct)


def materialize(args: Any, seed: int = 0) -> Any:
    """Replace every spec leaf by a seeded random array of its shape and dtype."""
    import jax

    rng = np.random.default_rng(seed)

    def fill(leaf: Any) -> Any:
        if not is_spec(leaf):
            return leaf
        dtype = np.dtype(leaf.dtype)
        if leaf.shape == (2,) and dtype == np.uint32:
            return np.asarray(jax.random.PRNGKey(int(rng.integers(0, 2**31))))
        if dtype == np.bool_:
            return rng.random(leaf.shape) < 0.5
        if np.issubdtype(dtype, np.integer):
            return rng.integers(0, 10, leaf.shape).astype(dtype)
        if np.issubdtype(dtype, np.complexfloating):
            return (rng.standard_normal(leaf.shape) + 1j * rng.standard_normal(leaf.shape)).astype(dtype)
        return rng.standard_normal(leaf.shape).astype(dtype)

    return jax.tree_util.tree_map(fill, args)
