"""Load the user's source: its declared defaults, its functions, its inputs.

Defaults are read statically from a module-level `__explorer__ = {...}` dict
literal (no code runs for that), so the app can list samples without
executing them. Inputs are a Python expression evaluated in the module's
namespace, where JAX's shape notation (`f32[4,8]`, `i32[]`, `key`) is also
available and becomes `jax.ShapeDtypeStruct`s.
"""

from __future__ import annotations

import ast
import re
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


def source_problem(source: str, limit_kb: int = MAX_SOURCE_KB) -> str | None:
    """Return why `source` is too large to accept, or None."""
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
    """Compile and run the source as a fresh module (a new namespace every call)."""
    problem = source_problem(source)
    if problem:
        raise SourceTooLarge(problem)
    code = compile(source, filename, "exec")
    module = types.ModuleType("__explorer_main__")
    module.__file__ = filename
    module.__dict__["__explorer_codes__"] = _all_codes(code)
    exec(code, module.__dict__)
    return module


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
    """Return the entry function name: requested, else declared, else the last `def`."""
    functions = top_level_functions(source)
    name = requested or defaults.entry or (functions[-1] if functions else None)
    if name is None:
        raise LookupError("the source defines no function to inspect; add a `def`")
    if not callable(getattr(module, name, None)):
        known = ", ".join(functions) or "none"
        raise LookupError(f"no function named {name!r} in the source (functions: {known})")
    return name


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
    """Evaluate the inputs expression in the module's namespace; return the arg tuple."""
    if expr is None or not expr.strip():
        return ()
    text = _EMPTY_SHAPE.sub(lambda m: f"{m.group(1)}[()]", expr)
    namespace = {name: _DtypeSpec(dtype) for name, dtype in DTYPES.items()}
    namespace["key"] = key_spec()
    namespace.update(module.__dict__)
    code = compile(f"({text},)", "<inputs>", "eval")
    return eval(code, namespace)  # noqa: S307 - evaluating the user's own inputs is the point


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
