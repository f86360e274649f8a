"""One inspection, stage by stage: load, inputs, transform, trace, lower, compile, run.

Each stage fills its part of the `InspectionResult`; the first failure is
recorded as an `InspectError` and the stages before it are kept.
"""

from __future__ import annotations

import functools
import hashlib
import inspect as pyinspect
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from inspectors import jaxsetup
from inspectors.errors import to_error
from inspectors.results import CostInfo, InspectionResult, OutputSummary, Request, Stats

jax = jaxsetup.jax()

from inspectors import source as src  # noqa: E402
from inspectors import timing, transforms  # noqa: E402
from inspectors.jaxpr_model import build_model, count_primitives  # noqa: E402

CACHE_SIZE = 64
_cache: OrderedDict[str, InspectionResult] = OrderedDict()


class _StageFailed(Exception):
    """Raised inside a stage block once its error is recorded on the result."""


@contextmanager
def _stage(result: InspectionResult, name: str) -> Iterator[None]:
    """Time a stage; record its exception as the result's error."""
    start = time.perf_counter()
    try:
        yield
    except _StageFailed:
        raise
    except BaseException as exc:  # noqa: BLE001 - any user error becomes data
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not isinstance(exc, SystemExit):
            raise
        result.error = to_error(name, exc, result.request.filename, result.request.source)
        raise _StageFailed from None
    finally:
        result.stage_times[name] = time.perf_counter() - start


def cache_key(request: Request) -> str:
    """Return a digest of everything that determines a result."""
    blob = json.dumps(asdict(request), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def inspect(request: Request, *, use_cache: bool = True) -> InspectionResult:
    """Run every stage for `request`; results are cached on the request's contents.

    Timed requests are never served from the cache: asking again means measuring again.
    """
    use_cache = use_cache and not request.time
    key = cache_key(request)
    if use_cache and key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    result = InspectionResult(request=request, jax_version=jax.__version__)
    try:
        _run_stages(result)
    except _StageFailed:
        pass
    if use_cache:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget every cached result."""
    _cache.clear()


def list_devices() -> list[str]:
    """Return every device of every available backend as `platform:id`."""
    return [device_name(d) for d in _all_devices()]


def device_name(device: Any) -> str:
    """Return a device's name as the CLI and app write it: `cpu:0`, `gpu:1`."""
    return f"{device.platform}:{device.id}"


def _all_devices() -> list[Any]:
    """Every device of every backend that initialises here."""
    devices = []
    for backend in ("cpu", "gpu", "tpu"):
        try:
            devices.extend(jax.devices(backend))
        except RuntimeError:
            continue
    return devices


def resolve_device(name: str | None) -> Any:
    """Return the JAX device named `platform:id` (the default device if None)."""
    if not name:
        return jax.devices()[0]
    for device in _all_devices():
        if device_name(device) == name or str(device) == name:
            return device
    raise LookupError(f"no device {name!r}; available: {', '.join(list_devices())}")


def _run_stages(result: InspectionResult) -> None:
    """Fill `result` stage by stage; raise _StageFailed at the first failure."""
    req = result.request
    defaults = src.read_defaults(req.source)
    result.functions = src.top_level_functions(req.source)
    args_expr = req.args if req.args is not None else defaults.args
    specs = req.transforms if req.transforms is not None else defaults.transforms
    with _stage(result, "load"):
        module = src.load_module(req.source, req.filename)
        result.entry = src.resolve_entry(module, req.fn, defaults, req.source)
        f = src.entry_function(module, result.entry)
    with _stage(result, "transform"):
        pipeline = transforms.parse_pipeline(specs)
        result.expression = transforms.expression(result.entry, pipeline)
    with _stage(result, "inputs"):
        args, kwargs = src.eval_inputs(args_expr, module)
        device = resolve_device(req.device)
        f, args, kwargs = transforms.keep_static(f, args, kwargs)
    run_callable(result, f, args, kwargs, pipeline, device, src.module_codes(module))


def run_callable(
    result: InspectionResult,
    f: Callable,
    args: tuple,
    kwargs: dict,
    pipeline: list[transforms.Transform],
    device: Any,
    codes: frozenset | None,
) -> None:
    """Transform, trace, lower, compile (and time) `f` on its inputs: the stages after loading.

    `codes` are the code objects of the user's loaded source (None for a live function:
    then equations map to frames in `result.request.filename`).
    """
    req = result.request
    with _stage(result, "transform"):
        recorder = ArgRecorder(f)
        g = transforms.apply_pipeline(recorder.wrap(), pipeline)
    static = transforms.static_argnums(pipeline)
    paths = arg_paths(f, args, static, kwargs)
    with jax.default_device(device):
        jitted = jax.jit(_plain(g), static_argnums=static)
        after_error = _trace_transformed(result, jitted, args, paths, codes, kwargs)
        with _stage(result, "trace"):
            # `f` is shown as the pipeline called it: per example under vmap, with the
            # values jit made static, so "before" is the program the transform rewrote.
            f_args, f_static = recorder.seen(args, static)
            before = jax.make_jaxpr(f, static_argnums=f_static)(*f_args, **recorder.seen_kwargs(kwargs))
            result.jaxpr_before, result.model_before = build_model(before, req.filename, req.source, paths, codes)
            result.stats.before = count_primitives(result.model_before)
            result.stats.total_before = sum(result.stats.before.values())
        if after_error:
            result.error = after_error
            raise _StageFailed
        with _stage(result, "lower"):
            # A pipeline that ends in `jit` is lowered as the user would: `g.lower(...)`,
            # not `jit(g)`, which would wrap it in a second jit.
            # `.lower(*args)` reuses the trace above from JAX's cache.
            ends_in_jit = bool(pipeline) and pipeline[-1].name == "jit"
            lowered = (g if ends_in_jit else jitted).lower(*args, **kwargs)
            result.stablehlo = lowered.as_text()
            result.stablehlo_debug = lowered.as_text(debug_info=True)
        with _stage(result, "compile"):
            compiled = lowered.compile()
            result.hlo = compiled.as_text()
            result.cost = cost_info(compiled)
            result.memory = memory_info(compiled)
        if req.time:
            with _stage(result, "run"):
                _time(result, compiled, args, static, device, kwargs)


def _plain(g: Callable) -> Callable:
    """Return `g` as a plain function for `jax.jit` (an `eqx.filter_jit` or `nnx.jit` object is not one)."""
    if pyinspect.isfunction(g) or isinstance(g, jax.stages.Wrapped):
        return g

    def plain(*args: Any, **kwargs: Any) -> Any:
        return g(*args, **kwargs)

    name = getattr(g, "__name__", None)
    plain.__name__ = plain.__qualname__ = name if isinstance(name, str) else type(g).__name__
    return plain


def _trace_transformed(
    result: InspectionResult, jitted: Any, args: tuple, paths: list[str], codes: frozenset, kwargs: dict | None = None
) -> Any:
    """Trace the transformed function; return its error (if any) so `f` still gets its view."""
    result.stats = Stats()
    try:
        with _stage(result, "trace_transformed"):
            traced = jitted.trace(*args, **(kwargs or {}))
            req = result.request
            result.jaxpr_after, result.model_after = build_model(
                traced.jaxpr, req.filename, req.source, paths, codes
            )
            result.stats.after = count_primitives(result.model_after)
            result.stats.total_after = sum(result.stats.after.values())
    except _StageFailed:
        error, result.error = result.error, None
        return error
    return None


class ArgRecorder:
    """Records the abstract arguments the pipeline first calls `f` with.

    `wrap()` returns a plain function that stands in for `f` (same name and
    signature, so JAX prints the same program). Objects JAX treats specially
    (pmap'd or custom-derivative functions) are not wrapped: `f` is then shown
    on the user's inputs.
    """

    def __init__(self, f: Callable) -> None:
        self.f = f
        self.calls: list[tuple] = []
        self.kwargs: list[dict] = []

    def wrap(self) -> Callable:
        """Return `f`, wrapped to record its arguments where that is transparent."""
        f = self.f
        plain = pyinspect.isfunction(f) and not hasattr(f, "__wrapped__")
        if not (plain or isinstance(f, jax.stages.Wrapped)):
            return f

        @functools.wraps(f)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            if not self.calls:
                self.calls.append(tuple(jax.tree_util.tree_map(_abstract, a) for a in args))
                self.kwargs.append(jax.tree_util.tree_map(_abstract, kwargs))
            return f(*args, **kwargs)

        return recorded

    def seen(self, args: tuple, static: tuple[int, ...]) -> tuple[tuple, tuple[int, ...]]:
        """Return (args, static_argnums) as `f` saw them, or the user's if unrecorded."""
        if not self.calls:
            return args, static
        seen = self.calls[0]
        fixed = tuple(i for i, a in enumerate(seen) if not _is_array_tree(a))
        return seen, fixed


    def seen_kwargs(self, kwargs: dict) -> dict:
        """Return the keyword arguments as `f` saw them, or the user's if unrecorded."""
        return self.kwargs[0] if self.kwargs else kwargs


def _abstract(leaf: Any) -> Any:
    """A tracer or array becomes a ShapeDtypeStruct; Python values stay (they were static)."""
    aval = getattr(leaf, "aval", None)
    if aval is not None and hasattr(aval, "shape"):
        return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=getattr(aval, "weak_type", False))
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)
    return leaf


def _is_array_tree(tree: Any) -> bool:
    """True if any leaf of `tree` is an array spec (so the argument is traced)."""
    return any(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree_util.tree_leaves(tree))


def _time(
    result: InspectionResult, compiled: Any, args: tuple, static: tuple[int, ...], device: Any, kwargs: dict | None = None
) -> None:
    """Run the compiled function on concrete inputs; record outputs and timing."""
    dynamic = [a for i, a in enumerate(args) if i not in static]
    # Place inputs as the executable expects them: on `device`, or sharded (shard_map, pmap).
    shardings = tuple(compiled.input_shardings[0])  # one pytree of shardings per argument
    concrete = jax.device_put(tuple(src.materialize(dynamic)), shardings)
    kw = jax.device_put(src.materialize(kwargs or {}), compiled.input_shardings[1])
    out = jax.block_until_ready(compiled(*concrete, **kw))
    result.outputs = summarize_outputs(out)
    leaves = jax.tree_util.tree_leaves(shardings)
    used = sorted({d for s in leaves for d in s.device_set}, key=lambda d: (d.platform, d.id))
    where = ", ".join(device_name(d) for d in used) or device_name(device)
    t = timing.time_calls(lambda: compiled(*concrete, **kw), where, result.request.time_budget_s)
    flops = result.cost.flops if result.cost else None
    t.flops_per_s = flops / t.median_s if flops and flops > 0 and t.median_s > 0 else None
    result.timing = t


def arg_paths(f: Callable, args: tuple, static: tuple[int, ...], kwargs: dict | None = None) -> list[str]:
    """Return each flattened input's path named after `f`'s parameters: `params[0][1]`."""
    try:
        names = list(pyinspect.signature(f).parameters)
    except (TypeError, ValueError):
        names = []
    paths = []
    for i, arg in enumerate(args):
        if i in static:
            continue
        base = names[i] if i < len(names) else f"args[{i}]"
        for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]:
            paths.append(base + jax.tree_util.keystr(path))
    for path, _ in jax.tree_util.tree_flatten_with_path(kwargs or {})[0]:
        paths.append(_kw_path(path))
    return paths


def _kw_path(path: tuple) -> str:
    """Return a keyword input's path: `train`, `batch['x']`."""
    first, *rest = path
    return str(getattr(first, "key", first)) + jax.tree_util.keystr(tuple(rest))


def cost_info(compiled: Any) -> CostInfo | None:
    """Return XLA's cost analysis, or None where the backend gives none (jax#16008)."""
    try:
        raw = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - some backends raise instead of returning None
        return None
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if not raw:
        return None

    def figure(key: str) -> float | None:
        value = raw.get(key)
        return float(value) if value is not None and value >= 0 else None

    return CostInfo(
        flops=figure("flops"),
        transcendentals=figure("transcendentals"),
        bytes_accessed=figure("bytes accessed"),
        raw={k: float(v) for k, v in raw.items()},
    )


def memory_info(compiled: Any) -> dict[str, int] | None:
    """Return `memory_analysis()` sizes in bytes, or None where unavailable."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001
        return None
    if stats is None:
        return None
    return {
        name: int(getattr(stats, name))
        for name in dir(stats)
        if name.endswith("_in_bytes") and isinstance(getattr(stats, name, None), int)
    }


def summarize_outputs(out: Any, limit: int = 6) -> list[OutputSummary]:
    """Describe each output leaf: path, shape, dtype, a short preview of values."""
    import numpy as np

    leaves = jax.tree_util.tree_flatten_with_path(out)[0]
    summaries = []
    for path, leaf in leaves:
        arr = np.asarray(leaf)
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", arr.dtype), jax.dtypes.prng_key):
            arr = np.asarray(jax.random.key_data(leaf))
        preview = np.array2string(arr, precision=4, threshold=limit * 2, edgeitems=limit // 2)
        summaries.append(
            OutputSummary(
                path=jax.tree_util.keystr(path) or "out",
                shape=list(arr.shape),
                dtype=str(getattr(leaf, "dtype", arr.dtype)),
                preview=" ".join(preview.split()),
            )
        )
    return summaries
