"""Walkthrough mode, "how JAX works": the data for each step, on concrete inputs.

1 source; 2 tracing with abstract values (the inputs' avals, or the
concretization error and its fix); 3 the jaxpr; 4 jvp as a jaxpr interpreter,
autodidax style: an environment of (primal, tangent) pairs, `read`/`write`, one
loop over the equations, each equation's jvp computed by `jax.jvp` of that one
primitive on concrete values; 5–7 lowering, compiling and timing from
`inspectors.inspect`. Runs user code, so the app calls it as the worker job
`"walkthrough"` (see `walkthrough_job`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from inspectors import jaxsetup
from inspectors.errors import to_error
from inspectors.results import (
    ArgAval,
    InspectionResult,
    JvpStep,
    Request,
    VmapRun,
    VmapStep,
    Walkthrough,
    request_from_dict,
    walk,
)

jax = jaxsetup.jax()

import jax.extend.core as jex  # noqa: E402

from inspectors import pipeline, transforms  # noqa: E402
from inspectors import source as src  # noqa: E402
from inspectors._jax_private import PrintedJaxpr  # noqa: E402
from inspectors.jaxpr_model import model_of, type_str  # noqa: E402

MAX_STEPS = 200  # equations recorded; the interpreter still runs them all
MAX_JVP_TEXTS = 60  # per-step jvp jaxprs printed (each costs a trace)
PREVIEW_ITEMS = 6
INLINE = {"jit", "pjit"}  # interpreted equation by equation; others are evaluated whole
CONCRETIZATION = {"TracerBoolConversionError", "ConcretizationTypeError", "TracerIntegerConversionError"}


def walkthrough(request: Request, *, inspect_stages: bool = True) -> Walkthrough:
    """Return every step's data for the request's entry function on seeded random inputs."""
    out = Walkthrough(source=request.source, filename=request.filename)
    try:
        f, args, static = _load(request, out)
        axes = vmap_axes(request, len(args))
    except Exception as exc:  # noqa: BLE001 - the user's code failing is data
        out.error = to_error("load", exc, request.filename, request.source)
        return out
    # The chain first: steps 3 and 5-7 read its stages (the jaxpr of `f`, lowering, XLA's passes, timing).
    if inspect_stages:
        out.inspection = _inspect(request)
    # Under vmap the inputs are batches: trace and jvp one example, then run vmap on the batch.
    example = per_example(args, axes) if axes is not None else args
    if _trace(out, f, example, static, request):
        _interpret(out, f, example, static, request)
        if axes is not None:
            out.vmap = vmap_interpret(out, f, args, axes, static, request)
    return out


def _load(request: Request, out: Walkthrough) -> tuple[Callable, tuple, tuple[int, ...]]:
    """Load the module; return the entry function, its inputs and the static positions."""
    defaults = src.read_defaults(request.source)
    module = src.load_module(request.source, request.filename)
    out.entry = src.resolve_entry(module, request.fn, defaults, request.source)
    specs = request.transforms if request.transforms is not None else defaults.transforms
    pipe = transforms.parse_pipeline(specs)
    out.expression = transforms.expression(out.entry, pipe)
    args = src.eval_args(request.args if request.args is not None else defaults.args, module)
    static = tuple(sorted(set(transforms.static_argnums(pipe)) | _python_args(args)))
    out.static_args = [repr(args[i]) for i in static]
    return src.entry_function(module, out.entry), args, static


def _python_args(args: tuple) -> set[int]:
    """Positions of arguments with no array in them: plain Python values stay static."""

    def is_array(leaf: Any) -> bool:
        return src.is_spec(leaf) or isinstance(leaf, (jax.Array, np.ndarray))

    return {i for i, a in enumerate(args) if not any(is_array(x) for x in jax.tree_util.tree_leaves(a))}


def _dynamic(f: Callable, args: tuple, static: tuple[int, ...]) -> tuple[Callable, tuple]:
    """Close `f` over its static arguments; return it and the dynamic arguments."""
    dyn_pos = [i for i in range(len(args)) if i not in static]

    def g(*dyn: Any) -> Any:
        full = list(args)
        for i, value in zip(dyn_pos, dyn, strict=True):
            full[i] = value
        return f(*full)

    # Name and code location of `f`, so JAX's messages point at the user's `def`.
    functools.update_wrapper(g, f, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
    if not static:
        g.__wrapped__ = f  # same signature: JAX names the arguments after the user's
    return g, tuple(args[i] for i in dyn_pos)


# --- step 2 and 3: tracing ---------------------------------------------------------------------


def _trace(out: Walkthrough, f: Callable, args: tuple, static: tuple[int, ...], request: Request) -> bool:
    """Record the inputs' avals and the jaxpr, or the tracing error and its fix."""
    g, dyn = _dynamic(f, args, static)
    paths = pipeline.arg_paths(f, args, static)
    leaves = jax.tree_util.tree_leaves(dyn)
    for path, leaf in zip(paths, leaves, strict=False):
        aval = (
            jax.typeof(leaf) if not src.is_spec(leaf) else jax.typeof(jax.numpy.zeros(leaf.shape, leaf.dtype))
        )
        out.avals.append(ArgAval(path, repr(aval), type_str(aval)))
    try:
        closed = jax.make_jaxpr(g)(*dyn)
    except Exception as exc:  # noqa: BLE001
        out.trace_error = to_error("trace", exc, request.filename, request.source)
        out.fix = fix_for(
            out.trace_error.kind, out.trace_error.location.code if out.trace_error.location else ""
        )
        return False
    chain = out.inspection.find("jaxpr:0") if out.inspection else None
    printed = PrintedJaxpr(closed.jaxpr)
    if chain is not None and chain.model is not None and chain.text == printed.text:
        out.jaxpr, out.model = chain.text, chain.model  # the chain's own stage: no second model
    else:
        out.jaxpr = printed.text
        out.model = model_of(printed, closed, request.filename, request.source, paths, src.function_codes(f))
    return True


def fix_for(kind: str, code: str) -> str:
    """Return a suggested rewrite for Python control flow on a traced value."""
    if kind not in CONCRETIZATION:
        return ""
    indent = re.match(r"\s*", code).group(0) if code else ""
    m = re.match(r"\s*(if|while|elif)\s+(.*):\s*(#.*)?$", code)
    if m and m.group(1) == "while":
        return (
            f"Python `while` needs a concrete condition; stage the loop out instead:\n"
            f"{indent}state = lax.while_loop(lambda state: {m.group(2)}, body_fn, state)"
        )
    if m:
        return (
            f"Python `{m.group(1)}` needs a concrete bool; stage out both branches instead:\n"
            f"{indent}result = lax.cond({m.group(2)}, true_fn, false_fn, operands)\n"
            f"or select elementwise: jnp.where({m.group(2)}, value_if_true, value_if_false)"
        )
    return "Use `lax.cond`/`jnp.where` (or `lax.while_loop`), or mark the argument static: `jit(static_argnums=...)`."


# --- step 4: the jvp interpreter --------------------------------------------------------------


def tangents_like(values: list[Any]) -> list[Any]:
    """Ones for inexact values, float0 zeros for integers and bools (as `transforms._tangents`)."""
    return jax.tree_util.tree_leaves(transforms._tangents(list(values)))


def _zero_tangent(x: Any) -> Any:
    """The tangent of a value that does not depend on the inputs."""
    dtype = jax.dtypes.result_type(x)
    shape = np.shape(x)
    if jax.dtypes.issubdtype(dtype, np.inexact):
        return jax.numpy.zeros(shape, dtype)
    return np.zeros(shape, dtype=jax.dtypes.float0)


class JvpInterpreter:
    """Evaluates a jaxpr on (primal, tangent) pairs one equation at a time, recording steps."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.steps: list[JvpStep] = []
        self.truncated = False

    def run(
        self, jaxpr: Any, consts: list[Any], primals: list[Any], tangents: list[Any], prefix: str = ""
    ) -> tuple:
        """Return (primals out, tangents out) of `jaxpr`: the autodidax loop."""
        env: dict[Any, tuple[Any, Any]] = {}

        def read(v: Any) -> tuple[Any, Any]:
            if isinstance(v, jex.Literal):
                return v.val, _zero_tangent(v.val)
            return env[v]

        def write(v: Any, value: tuple[Any, Any]) -> None:
            if not isinstance(v, jex.DropVar):
                env[v] = value

        for v, c in zip(jaxpr.constvars, consts, strict=True):
            write(v, (c, _zero_tangent(c)))
        for v, p, t in zip(jaxpr.invars, primals, tangents, strict=True):
            write(v, (p, t))
        for i, eqn in enumerate(jaxpr.eqns):
            ins = [read(v) for v in eqn.invars]
            outs = self.equation(eqn, f"{prefix}{i}", [p for p, _ in ins], [t for _, t in ins])
            for v, value in zip(eqn.outvars, outs, strict=True):
                write(v, value)
        results = [read(v) for v in jaxpr.outvars]
        return [p for p, _ in results], [t for _, t in results]

    def equation(
        self, eqn: Any, eqn_id: str, primals: list[Any], tangents: list[Any]
    ) -> list[tuple[Any, Any]]:
        """Apply one equation's jvp; recurse into `jit`, evaluate other higher-order ones whole."""
        if eqn.primitive.name in INLINE:
            step = self.record(eqn, eqn_id, primals, tangents)
            closed = eqn.params["jaxpr"]
            p_out, t_out = self.run(closed.jaxpr, closed.consts, primals, tangents, f"{eqn_id}/jaxpr/")
        else:
            fun = _bind_fn(eqn)
            p_out, t_out = jax.jvp(fun, tuple(primals), tuple(tangents))
            step = self.record(eqn, eqn_id, primals, tangents)
            if step is not None:
                step.opaque = bool(list(jex.jaxprs_in_params(eqn.params)))
                if step.index < MAX_JVP_TEXTS:
                    step.jvp_text, step.added_primitives = jvp_of_equation(fun, primals, tangents)
        if step is not None:
            step.out_primals = [preview(x) for x in p_out]
            step.out_tangents = [preview(x) for x in t_out]
        return list(zip(p_out, t_out, strict=True))

    def record(self, eqn: Any, eqn_id: str, primals: list, tangents: list) -> JvpStep | None:
        """Append a step for an equation (None past MAX_STEPS)."""
        if len(self.steps) >= MAX_STEPS:
            self.truncated = True
            return None
        step = JvpStep(
            index=len(self.steps),
            eqn_id=eqn_id,
            primitive=eqn.primitive.name,
            text=self.texts.get(eqn_id, str(eqn)),
            in_primals=[preview(x) for x in primals],
            in_tangents=[preview(x) for x in tangents],
        )
        self.steps.append(step)
        return step


def jvp_by_interpreter(f: Callable, *args: Any) -> tuple[list[Any], list[Any], list[JvpStep]]:
    """Trace `f` on concrete `args` and run the interpreter with ones-like tangents (flat lists)."""
    closed = jax.make_jaxpr(f)(*args)
    primals = jax.tree_util.tree_leaves(args)
    interp = JvpInterpreter({})
    p_out, t_out = interp.run(closed.jaxpr, closed.consts, primals, tangents_like(primals))
    return p_out, t_out, interp.steps


def _bind_fn(eqn: Any) -> Callable:
    """Return a function of the equation's inputs that binds its primitive (as `eval_jaxpr` does)."""
    params = eqn.primitive.get_bind_params(eqn.params)  # JAX 0.10: sub-functions live in params

    def fun(*args: Any) -> list[Any]:
        with eqn.ctx.manager:
            out = eqn.primitive.bind(*args, **params)
        return list(out) if eqn.primitive.multiple_results else [out]

    return fun


def jvp_of_equation(fun: Callable, primals: list[Any], tangents: list[Any]) -> tuple[str, list[str]]:
    """Return the jaxpr one equation's jvp adds, and its primitives."""
    return _jaxpr_of(lambda p, t: jax.jvp(fun, tuple(p), tuple(t)), list(primals), list(tangents))


def _jaxpr_of(fun: Callable, *args: Any) -> tuple[str, list[str]]:
    """Return `fun`'s jaxpr text and primitives (a note instead, if it cannot be traced)."""
    try:
        closed = jax.make_jaxpr(fun)(*args)
    except Exception as exc:  # noqa: BLE001 - a display nicety must not stop the walkthrough
        return f"(not available: {type(exc).__name__})", []
    return str(closed), [e.primitive.name for e in closed.jaxpr.eqns]


def preview(x: Any) -> str:
    """Return a one-line preview of a value (float0 tangents read as "zero")."""
    if jax.dtypes.issubdtype(getattr(x, "dtype", None) or np.float32, jax.dtypes.prng_key):
        return "key<" + preview(jax.random.key_data(x)) + ">"
    arr = np.asarray(x)
    if arr.dtype == jax.dtypes.float0:
        return f"float0{list(arr.shape)} (zero)"
    text = np.array2string(arr, precision=4, threshold=PREVIEW_ITEMS * 2, edgeitems=PREVIEW_ITEMS // 2)
    return " ".join(text.split())


def _interpret(out: Walkthrough, f: Callable, args: tuple, static: tuple[int, ...], request: Request) -> None:
    """Run the jvp interpreter on seeded random inputs with ones-like tangents; check it against jax.jvp."""
    g, dyn_specs = _dynamic(f, args, static)
    dyn = src.materialize(dyn_specs)
    primals = jax.tree_util.tree_leaves(dyn)
    tangents = tangents_like(primals)
    try:
        closed = jax.make_jaxpr(g)(*dyn)
        texts = {e.id: e.text for e in walk(out.model)}
        interp = JvpInterpreter(texts)
        p_out, t_out = interp.run(closed.jaxpr, closed.consts, primals, tangents)
        out.steps, out.steps_truncated = interp.steps, interp.truncated
        out.primals_out = [preview(x) for x in p_out]
        out.tangents_out = [preview(x) for x in t_out]
        out.jvp_jaxpr = str(jax.make_jaxpr(lambda p, t: jax.jvp(g, p, t))(tuple(dyn), _tangent_tree(dyn)))
        ref_p, ref_t = jax.jvp(g, tuple(dyn), _tangent_tree(dyn))
        out.max_abs_diff_vs_jax = max_abs_diff(t_out, jax.tree_util.tree_leaves(ref_t))
    except Exception as exc:  # noqa: BLE001
        out.error = to_error("interpret", exc, request.filename, request.source)


def _tangent_tree(dyn: tuple) -> tuple:
    """Ones-like tangents with the inputs' tree structure."""
    return tuple(transforms._tangents(list(dyn)))


def max_abs_diff(a: list[Any], b: list[Any]) -> float:
    """Return the largest absolute difference between two lists of arrays (float0 ignored)."""
    diffs = [0.0]
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype == jax.dtypes.float0 or y.dtype == jax.dtypes.float0 or x.size == 0:
            continue
        diffs.append(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return max(diffs)


# --- step 4 under vmap: the batching interpreter -----------------------------------------------


def vmap_axes(request: Request, n_args: int) -> list[int | None] | None:
    """Return the first vmap's in_axes per argument, or None when the pipeline has no vmap."""
    defaults = src.read_defaults(request.source)
    specs = request.transforms if request.transforms is not None else defaults.transforms
    found = [t for t in transforms.parse_pipeline(specs) if t.name == "vmap"]
    if not found:
        return None
    in_axes = found[0].options.get("in_axes", 0)
    axes = list(in_axes) if isinstance(in_axes, (tuple, list)) else [in_axes] * n_args
    if len(axes) != n_args or not all(a is None or isinstance(a, int) for a in axes):
        return None  # per-leaf in_axes trees: leave the walkthrough to jvp
    return axes


def _drop_axis(leaf: Any, axis: int | None) -> Any:
    """One example of a batched leaf: the spec without the axis, or index 0 along it."""
    if axis is None:
        return leaf
    if src.is_spec(leaf):
        shape = list(leaf.shape)
        del shape[axis]
        return jax.ShapeDtypeStruct(tuple(shape), leaf.dtype)
    return np.take(np.asarray(leaf), 0, axis=axis)


def per_example(args: tuple, axes: list[int | None]) -> tuple:
    """Return the arguments of one example of the batch."""
    return tuple(
        jax.tree_util.tree_map(functools.partial(_drop_axis, axis=a), arg)
        for arg, a in zip(args, axes, strict=True)
    )


class VmapInterpreter:
    """Evaluates a per-example jaxpr on batched values, one equation at a time (batch axis per value)."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.steps: list[VmapStep] = []
        self.truncated = False

    def run(self, jaxpr: Any, consts: list[Any], values: list[Any], axes: list[int | None]) -> tuple:
        """Return (values out, their batch axes) of `jaxpr`: the autodidax loop."""
        env: dict[Any, tuple[Any, int | None]] = {}

        def read(v: Any) -> tuple[Any, int | None]:
            return (v.val, None) if isinstance(v, jex.Literal) else env[v]

        for v, c in zip(jaxpr.constvars, consts, strict=True):
            env[v] = (c, None)
        for v, x, a in zip(jaxpr.invars, values, axes, strict=True):
            env[v] = (x, a)
        for i, eqn in enumerate(jaxpr.eqns):
            ins = [read(v) for v in eqn.invars]
            outs = self.equation(eqn, str(i), [x for x, _ in ins], [a for _, a in ins])
            for v, value in zip(eqn.outvars, outs, strict=True):
                if not isinstance(v, jex.DropVar):
                    env[v] = value
        results = [read(v) for v in jaxpr.outvars]
        return [x for x, _ in results], [a for _, a in results]

    def equation(self, eqn: Any, eqn_id: str, values: list[Any], axes: list[int | None]) -> list[tuple]:
        """Apply one equation: as is when nothing is batched, else through its batching rule."""
        fun = _bind_fn(eqn)
        batched = any(a is not None for a in axes)
        outs = jax.vmap(fun, in_axes=tuple(axes), out_axes=0)(*values) if batched else fun(*values)
        out_axes = [0 if batched else None] * len(outs)
        if len(self.steps) >= MAX_STEPS:
            self.truncated = True
        else:
            step = VmapStep(
                index=len(self.steps),
                eqn_id=eqn_id,
                primitive=eqn.primitive.name,
                text=self.texts.get(eqn_id, str(eqn)),
                in_values=[preview(x) for x in values],
                in_axes=[_axis_text(a) for a in axes],
                out_values=[preview(x) for x in outs],
                out_axes=[_axis_text(a) for a in out_axes],
            )
            if batched and step.index < MAX_JVP_TEXTS:
                batched_fun = jax.vmap(fun, in_axes=tuple(axes), out_axes=0)
                step.batched_text, step.added_primitives = _jaxpr_of(batched_fun, *values)
            self.steps.append(step)
        return list(zip(outs, out_axes, strict=True))


def _axis_text(axis: int | None) -> str:
    """How a step shows a batch axis."""
    return "not batched" if axis is None else str(axis)


def vmap_interpret(
    out: Walkthrough,
    f: Callable,
    args: tuple,
    axes: list[int | None],
    static: tuple[int, ...],
    request: Request,
) -> VmapRun:
    """Run the vmap interpreter on a seeded random batch; check it against `jax.vmap`."""
    run = VmapRun(in_axes=[_axis_text(a) for a in axes])
    g, dyn_specs = _dynamic(f, args, static)
    dyn_axes = [a for i, a in enumerate(axes) if i not in static]
    try:
        batch = src.materialize(dyn_specs)
        closed = jax.make_jaxpr(g)(*per_example(batch, dyn_axes))
        leaves, leaf_axes = [], []
        for arg, a in zip(batch, dyn_axes, strict=True):
            arg_leaves = jax.tree_util.tree_leaves(arg)
            leaves += arg_leaves
            leaf_axes += [a] * len(arg_leaves)
        run.input_axes = [_axis_text(a) for a in leaf_axes]
        run.batch_size = next(np.shape(x)[a] for x, a in zip(leaves, leaf_axes, strict=True) if a is not None)
        interp = VmapInterpreter({e.id: e.text for e in walk(out.model)})
        values, value_axes = interp.run(closed.jaxpr, closed.consts, leaves, leaf_axes)
        run.steps, run.steps_truncated = interp.steps, interp.truncated
        stacked = [_batch_first(x, a, run.batch_size) for x, a in zip(values, value_axes, strict=True)]
        run.outputs = [preview(x) for x in stacked]
        vmapped = jax.vmap(g, in_axes=tuple(dyn_axes))
        run.batched_jaxpr = str(jax.make_jaxpr(vmapped)(*batch))
        run.max_abs_diff_vs_jax = max_abs_diff(stacked, jax.tree_util.tree_leaves(vmapped(*batch)))
    except Exception as exc:  # noqa: BLE001
        run.error = to_error("interpret", exc, request.filename, request.source)
    return run


def _batch_first(x: Any, axis: int | None, size: int) -> Any:
    """Return `x` with its batch axis first (broadcast when it was never batched)."""
    x = np.asarray(x)
    return np.moveaxis(x, axis, 0) if axis is not None else np.broadcast_to(x, (size, *x.shape))


# --- steps 5 to 7 -----------------------------------------------------------------------------


def _inspect(request: Request) -> InspectionResult:
    """Lower, compile and time the request as the explorer does (cached by `inspect`)."""
    budget = min(request.time_budget_s, 0.5)
    return pipeline.inspect(dataclasses.replace(request, time=True, time_budget_s=budget))


def walkthrough_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker job: `Request` data in, `Walkthrough` data out."""
    return walkthrough(request_from_dict(payload)).to_dict()
