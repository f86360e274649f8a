"""One inspection, stage by stage: load, inputs, transform, trace, lower, compile, run.

Each stage fills its part of the `InspectionResult`; the first failure is
recorded as an `InspectError` and the stages before it are kept.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect as pyinspect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from inspectors import jaxsetup
from inspectors.errors import to_error
from inspectors.results import (
    CostInfo,
    InspectionResult,
    OutputSummary,
    Request,
    Stage,
    as_data,
    chain_order,
    stage_label,
)
from inspectors.sandbox.protocol import encode_json
from inspectors.store import StageStore

jax = jaxsetup.jax()

import jax.extend.core as jex  # noqa: E402

from inspectors import memory, passes, profile, sharding, stablehlo_module, timing, transforms  # noqa: E402
from inspectors import source as src  # noqa: E402
from inspectors._jax_private import PrintedJaxpr  # noqa: E402
from inspectors.dead import dead_program_note  # noqa: E402
from inspectors.jaxpr_model import count_primitives, model_of  # noqa: E402

STORE_BYTES = 512 * 1024 * 1024  # this process's stage store (in memory): results by `Request.key()`
_store: StageStore | None = None


def stage_store() -> StageStore:
    """Return this process's stage store (results of untimed requests, by `Request.key()`)."""
    global _store
    if _store is None:
        _store = StageStore(budget_bytes=STORE_BYTES)
    return _store


class _StageFailed(Exception):
    """Raised inside a stage block once its error is recorded on the result."""


# The stage running now, for a watchdog that stops a request from outside (the sandbox's time
# limit): the user-facing name of `_stage`'s name, "" between stages.
current_stage = ""
# A thread of the pipeline's own that runs the user's code beside the main thread's stage (the residual
# trace while XLA compiles) names its stage here: what the user's code sees is what that thread does.
thread_stage = threading.local()
stage_listener: Callable[[str], None] | None = None  # hears each stage as it starts (the sandbox streams it)


def running_stage() -> str:
    """Return the stage running now as users name it: import, inputs, transform, trace, lower, compile, run."""
    return stage_label(getattr(thread_stage, "name", None) or current_stage)


@contextmanager
def _stage(result: InspectionResult, name: str) -> Iterator[None]:
    """Time a stage; record its exception as the result's error."""
    global current_stage
    start = time.perf_counter()
    outer, current_stage = current_stage, name
    if stage_listener is not None and stage_label(name) != stage_label(outer):
        stage_listener(running_stage())
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
        current_stage = outer
        result.stage_times[name] = time.perf_counter() - start


def cache_key(request: Request) -> str:
    """Return a digest of everything that determines a result (`Request.key()`)."""
    return request.key()


StageCallback = Callable[[InspectionResult, list[Stage]], None]


# What a result holds beside its chain of stages' texts: the jaxpr stages' models and counts, the memory report
# (and `memory_analysis()`'s sizes), the source map and provenance, the primitive cards, the sharding analysis.
# Every other analysis reads the models: asking for one asks for "models" too.
ALL_ANALYSES = frozenset({"models", "memory", "maps", "primitives", "sharding"})


def inspect(
    request: Request,
    *,
    use_cache: bool = True,
    on_stage: StageCallback | None = None,
    analyses: frozenset[str] = ALL_ANALYSES,
) -> InspectionResult:
    """Run every stage for `request`; results are cached on the request's contents.

    `on_stage(result, stages)` hears each group of stages as it completes (the source,
    then the jaxprs right after tracing, then lowering, compiling, XLA's passes and
    kernels), so a slow or failing compile never hides the jaxprs.
    Timed requests are never served from the cache: asking again means measuring again.
    `analyses` are the analyses of `ALL_ANALYSES` to make beside the stages (the CLI asks only for what its
    --emit prints: `--emit stages` needs none); a result with fewer is never cached.
    """
    analyses = analyses | {"models"} if analyses - {"models"} else analyses  # every other analysis reads them
    use_cache = use_cache and not (request.time or request.profile) and analyses == ALL_ANALYSES
    key = request.key()
    if use_cache and stage_store().complete(key):
        cached = stage_store().index(key)
        if on_stage:
            on_stage(cached, [cached.find(s.id) for s in cached.stages])
        return cached
    result = InspectionResult(request=request, jax_version=jax.__version__)
    emit = _Emitter(result, on_stage, analyses)
    try:
        _run_stages(result, emit)
    except _StageFailed:
        pass
    emit.flush()
    map_and_trace_back(result, analyses)
    if use_cache and not (result.error and result.error.transient):
        stage_store().put(key, result)
    return result


# --- streaming from a worker: each stage once, in its own frame, within the caps -----------------

ANALYSES = ("source_map", "provenance", "profile", "outputs")  # result fields that travel in frames of their own
CLOSING_SLACK = 1 << 20  # bytes of a result cap kept for the closing frame (errors, times, cost)


def _mb(size: int) -> str:
    """A size for notes: `9.1 MB`, `240 KB`."""
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{max(size // 1024, 1)} KB"


class Streamer:
    """Sends a result from a worker: one frame per stage, one per analysis, then the closing frame.

    Hosted servers cap each stage and the whole result (`Limits.stage_mb`, `result_mb`): a stage
    over its cap is sent as a named stub ("hlo-pass:31 is 9.1 MB, over the 8 MB cap per stage:
    not kept") and every other stage still comes; a jaxpr whose model is too big keeps its text.
    A pass whose base was not kept is sent with its whole text instead of a delta.
    """

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], None],
        stage_cap: int | None,
        result_cap: int | None,
        emit_json: Callable[[bytes], None] | None = None,
    ):
        self.emit, self.stage_cap, self.result_cap = emit, stage_cap, result_cap
        # Sends a frame as the JSON measured here (the worker's channel): each frame is encoded once.
        self.emit_json = emit_json
        self.sent = 0
        self.dropped: set[str] = set()

    def stages(self, result: InspectionResult, stages: list[Stage]) -> None:
        """Send each stage of a finished group (an `on_stage` callback)."""
        for stage in stages:
            data, blob = self._fit(result, stage)
            self._send({"stages": [data]}, b'{"stages": [' + blob + b"]}", len(blob))

    def _fit(self, result: InspectionResult, stage: Stage) -> tuple[dict[str, Any], bytes]:
        """Return the stage's frame data and its JSON: whole, or without its model, or a stub that says why."""
        if stage.delta is not None and stage.base in self.dropped:
            stage = dataclasses.replace(stage, text=result.text_of(stage.id), delta=None, base="")
        data = as_data(stage)
        blob = encode_json(data)
        size = len(blob)
        why = self._refuse(stage.id, size)
        if why and stage.model is not None:
            lean = as_data(dataclasses.replace(stage, model=None))
            if not self._refuse(stage.id, len(encode_json(lean))):
                lean["note"] = f"its model is {_mb(size)}, {why}; the text is kept"
                return lean, encode_json(lean)
        if not why:
            self.dropped.discard(stage.id)
            return data, blob
        self.dropped.add(stage.id)
        stub = Stage(id=stage.id, kind=stage.kind, name=stage.name, expression=stage.expression,
                     stats=stage.stats, time_s=stage.time_s, group=stage.group, transform=stage.transform,
                     pipeline=stage.pipeline, pass_name=stage.pass_name, error=stage.error,
                     note=f"{stage.id} is {_mb(size)}, {why}: not kept")  # fmt: skip
        stub_data = as_data(stub)
        return stub_data, encode_json(stub_data)

    def _refuse(self, what: str, size: int) -> str:
        """Why `size` bytes cannot be sent now ("" when they can)."""
        if self.stage_cap is not None and size > self.stage_cap:
            return f"over the {_mb(self.stage_cap)} cap per stage"
        if self.result_cap is not None and self.sent + size > self.result_cap - CLOSING_SLACK:
            return f"past the {_mb(self.result_cap)} cap per result"
        return ""

    def _send(self, data: dict[str, Any], encoded: bytes, counted: int) -> None:
        """Emit one frame (`data`, whose JSON is `encoded`) and count `counted` bytes against the result cap."""
        self.sent += counted
        if self.emit_json is not None:
            self.emit_json(encoded)
        else:
            self.emit(data)

    def closing(self, result: InspectionResult) -> dict[str, Any]:
        """Send each analysis in its own frame (or a note why not); return the closing frame's data."""
        for name in ANALYSES:
            value = getattr(result, name)
            if not value:
                continue
            data = {name: as_data(value)}
            blob = encode_json(data)
            why = self._refuse(name, len(blob))
            if why:
                result.notes.append(f"the {name.replace('_', ' ')} is {_mb(len(blob))}, {why}: not kept")
            else:
                self._send(data, blob, len(blob))
        lean = dataclasses.replace(result, stages=[], **{name: None for name in ANALYSES if name != "outputs"}, outputs=[])
        return lean.to_dict()


def map_and_trace_back(result: InspectionResult, analyses: frozenset[str] = ALL_ANALYSES) -> None:
    """Compute the source map and provenance from the chain (here, in the worker: the app only reads them),
    then the primitive cards (`analyses` names which: "maps", "primitives")."""
    if "maps" not in analyses or (result.jaxpr().model is None and result.jaxpr(0).model is None):
        result.__dict__.pop("_closed", None)
        return
    from inspectors import mapping, provenance

    start = time.perf_counter()
    try:
        result.source_map = mapping.source_map(result)
        result.provenance = provenance.provenance_of(result, result.source_map)
    except Exception:  # noqa: BLE001 - a teaching view that fails must not lose the stages
        result.source_map, result.provenance = None, None
    result.stage_times["maps"] = time.perf_counter() - start
    if "primitives" in analyses:
        primitive_cards(result)
    else:
        result.__dict__.pop("_closed", None)


# --- primitives: a card per primitive of the chain (inspectors.primitives) ---


def primitive_cards(result: InspectionResult) -> None:
    """Attach a card per primitive, from the ClosedJaxprs traced for this result (then let them go)."""
    closed = result.__dict__.pop("_closed", None)
    if not closed:
        return
    from inspectors import primitives

    start = time.perf_counter()
    try:
        result.primitives = primitives.cards_of(result, closed)
    except Exception:  # noqa: BLE001 - a teaching view that fails must not lose the stages
        result.primitives = None
    finally:
        # The live examples traced library jits (`_threefry_fold_in`, ...) from frames of their own. JAX
        # caches traces by function and types, so the user's next program in this process would be
        # lowered with our locations instead of theirs: forget them.
        jax.clear_caches()
    result.stage_times["primitives"] = time.perf_counter() - start


class _Emitter:
    """Adds stages to the result and tells `on_stage` about each finished group."""

    def __init__(
        self, result: InspectionResult, on_stage: StageCallback | None, analyses: frozenset[str] = ALL_ANALYSES
    ) -> None:
        self.result = result
        self.on_stage = on_stage
        self.analyses = analyses  # the analyses wanted beside the stages (the memory report's among them)
        self.pending: list[Stage] = []

    def put(self, stage: Stage) -> Stage:
        """Add a stage to the chain; it is announced with its group."""
        self.pending.append(self.result.put(stage))
        return stage

    def flush(self, seconds: float | None = None) -> None:
        """Announce the stages added since the last flush (a completed group that took `seconds`)."""
        pending, self.pending = sorted(self.pending, key=chain_order), []
        for stage in pending:
            stage.time_s = seconds if stage.time_s is None else stage.time_s
        if self.on_stage and pending:
            self.on_stage(self.result, pending)


def clear_cache() -> None:
    """Forget every stored result."""
    global _store
    _store = None


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


def _run_stages(result: InspectionResult, emit: _Emitter) -> None:
    """Fill `result` stage by stage; raise _StageFailed at the first failure."""
    req = result.request
    source = emit.put(Stage(id="source", kind="source", name=req.filename, text=req.source, group="source"))
    emit.flush()
    defaults = src.read_defaults(req.source)
    result.functions = src.top_level_functions(req.source)
    args_expr = req.args if req.args is not None else defaults.args
    specs = req.transforms if req.transforms is not None else defaults.transforms
    with _stage(result, "load"):
        sharding.use_devices(req.devices)  # before the user's code can start JAX's backend
        module = src.load_module(req.source, req.filename)
        result.entry = src.resolve_entry(module, req.fn, defaults, req.source)
        f = src.entry_function(module, result.entry)
        source.expression = result.entry
    emit.put(source)  # again, with the entry the import resolved (it went out before the import ran)
    emit.flush()
    with _stage(result, "transform"):
        pipeline = transforms.parse_pipeline(specs)
        result.expression = transforms.expression(result.entry, pipeline)
    with _stage(result, "inputs"):
        args, kwargs = src.eval_inputs(args_expr, module)
        device = resolve_device(req.device)
        f, args, kwargs = transforms.keep_static(f, args, kwargs)
    run_callable(result, emit, f, args, kwargs, pipeline, device, src.module_codes(module))


def run_callable(
    result: InspectionResult,
    emit: _Emitter,
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
        chain = Chain(f, result.entry, pipeline)
    static = transforms.static_argnums(pipeline)
    with jax.default_device(device):
        tracer = _Tracer(result, emit, chain, args, static, codes, kwargs)
        try:
            after_error = tracer.trace_all()
        finally:  # the texts go out first (even when tracing `f` itself failed), then the models
            emit.flush()
            if "models" in emit.analyses:
                start = time.perf_counter()
                tracer.build_models()
                result.stage_times["models"] = time.perf_counter() - start
            result.__dict__["_closed"] = tracer.closed  # for the primitive cards (not a field: never sent)
            emit.flush()
        if after_error:
            result.error = after_error
            raise _StageFailed
        with _stage(result, "lower"):
            # A pipeline that ends in `jit` is lowered as the user would: `g.lower(...)`,
            # not `jit(g)`, which would wrap it in a second jit.
            # `.lower(*args)` reuses the trace above from JAX's cache.
            ends_in_jit = bool(pipeline) and pipeline[-1].name == "jit"
            lowered = (chain.fns[-1] if ends_in_jit else tracer.jitted).lower(*args, **kwargs)
            _put_text(emit, "stablehlo", "StableHLO", lowered.as_text(), "lower")
            _put_text(emit, "stablehlo-debug", "StableHLO with locations", lowered.as_text(debug_info=True), "lower")
            _put_text(emit, "hlo-unoptimized", "HLO before optimization", lowered.as_text(dialect="hlo"), "lower")
        # --- the StableHLO module model: read once, here, from JAX's own ir.Module (inspectors/stablehlo_module.py)
        debug = result.find("stablehlo-debug")
        debug.module = stablehlo_module.of_lowered(lowered, debug.text or "", result.text_of("stablehlo"))
        emit.flush(result.stage_times.get("lower"))
        with passes.dump_folder() as folder:
            skip = passes.worth_recording(result.text_of("hlo-unoptimized")) if RECORD_PASSES else "off"
            wants_memory = "memory" in emit.analyses
            # The residuals are traced on a thread while XLA compiles.
            residuals = memory.start(result, chain, tracer, device) if wants_memory else None
            with _stage(result, "compile"):
                options = memory.dump_options(folder) if skip else passes.compile_options(folder)
                with sharding.compiler_output() as printed:  # XLA's partitioner warnings, read and passed on
                    try:
                        compiled = lowered.compile(options)
                    except BaseException:
                        if residuals is not None:
                            residuals.discard()  # no user code runs on after a failed request
                        raise
                _put_text(emit, "hlo", "optimized HLO", compiled.as_text(), "compile")
                result.cost = cost_info(compiled)
                if wants_memory:
                    result.memory = memory_info(compiled)
            emit.flush(result.stage_times.get("compile"))
            if skip != "off":
                _record_passes(result, emit, folder, skip)
            if wants_memory:
                memory.attach(result, chain, tracer, compiled, folder, residuals)  # residuals, peak, remat; never raises
            # --- sharding: the mesh, layouts and collectives, while the compiled object is at hand
            if "sharding" in emit.analyses:
                sharding.analyze_guarded(result, compiled, tracer.closed.get(len(pipeline)), tracer.paths, printed.text)
        final = tracer.closed.get(len(pipeline))  # JAX's own jaxpr: the models may not have been built
        dead = dead_program_note(len(final.jaxpr.outvars) if final is not None else 1, result.text_of("hlo"))
        if dead:  # say so rather than time an empty program
            result.find("hlo").note = dead
            emit.put(result.find("hlo"))
            emit.flush()
        if (req.time or req.profile) and not dead:
            with _stage(result, "run"):
                call = _time(result, compiled, args, static, device, kwargs)
            if req.profile:  # where the time goes: per compiled op, line and equation
                with _stage(result, "profile"):
                    result.profile = profile.profile_call(result, call, device)


def _plain(g: Callable) -> Callable:
    """Return `g` as a plain function for `jax.jit` (an `eqx.filter_jit` or `nnx.jit` object is not one)."""
    if pyinspect.isfunction(g) or isinstance(g, jax.stages.Wrapped):
        return g

    def plain(*args: Any, **kwargs: Any) -> Any:
        return g(*args, **kwargs)

    name = getattr(g, "__name__", None)
    plain.__name__ = plain.__qualname__ = name if isinstance(name, str) else type(g).__name__
    return plain


RECORD_PASSES = True  # record XLA's passes and kernels with every compile
DISASSEMBLE = True  # run objdump on kernels (off where the process may not start programs)


def _record_passes(result: InspectionResult, emit: _Emitter, folder: str, skip: str) -> None:
    """Add XLA's passes (one group) and kernels (another) from the compile's dump folder."""
    start = time.perf_counter()
    try:
        dump = passes.XlaDump(note=skip) if skip else passes.read_dump(folder, disassemble=DISASSEMBLE)
        stages = passes.pass_stages(dump, result.expression)
    except Exception as exc:  # noqa: BLE001 - a dump we cannot read never hides the compiled program
        dump, stages = passes.XlaDump(note=f"XLA's pass dump could not be read ({exc!r})"), []
    if not stages or dump.note:
        note = dump.note or "XLA wrote no pass dump for this compile"
        stages = stages or [Stage(id="hlo-pass:0", kind="hlo-pass", name="before optimizations", group="passes")]
        stages[0].note = note
    for stage in stages:
        emit.put(stage)
    result.stage_times["passes"] = time.perf_counter() - start
    # No time per pass: the dump does not say how long XLA spent in each pass, and the group's time (reading
    # the dump) on every row would read as one. A pass's own time goes in `stage.time_s` where XLA reports it.
    emit.flush()
    start = time.perf_counter()
    for stage in passes.kernel_stages(dump):
        emit.put(stage)
    result.stage_times["kernels"] = time.perf_counter() - start
    emit.flush()  # likewise: no time of its own per kernel


TEXT_KINDS = {"stablehlo": "stablehlo", "stablehlo-debug": "stablehlo", "hlo-unoptimized": "hlo", "hlo": "hlo"}


def _put_text(emit: _Emitter, stage_id: str, name: str, text: str, group: str) -> Stage:
    """Add a text stage (StableHLO, HLO) to the chain."""
    stage = Stage(
        id=stage_id, kind=TEXT_KINDS[stage_id], name=name, expression=emit.result.expression, text=text, group=group
    )
    return emit.put(stage)


class Chain:
    """The pipeline applied one transform at a time, each step recording what it is called with.

    `fns[K]` is the function after K transforms (`fns[0]` is `f`); `recorders[K]`
    records the arguments the next transform first calls `fns[K]` with, so each
    partial pipeline can be traced exactly as the whole pipeline calls it.
    """

    def __init__(self, f: Callable, entry: str, pipeline: list[transforms.Transform]) -> None:
        self.pipeline = pipeline
        self.fns: list[Callable] = [f]
        self.recorders: list[ArgRecorder] = []
        self.names = [transforms.expression(entry, pipeline[:k]) for k in range(len(pipeline) + 1)]
        for k, t in enumerate(pipeline):
            recorder = ArgRecorder(self.fns[-1], intermediate=k > 0)
            self.recorders.append(recorder)
            self.fns.append(transforms.apply_pipeline(recorder.wrap(), [t]))

    def call_args(
        self, k: int, args: tuple, static: tuple[int, ...], kwargs: dict
    ) -> tuple[tuple, tuple[int, ...], dict] | None:
        """Return (args, static_argnums, kwargs) `fns[k]` was called with; None if it never was."""
        if k == len(self.pipeline):
            return args, static, kwargs
        recorder = self.recorders[k]
        if not recorder.calls and k > 0:
            return None
        return (*recorder.seen(args, static), recorder.seen_kwargs(kwargs))


class _Tracer:
    """Traces the whole pipeline, then each partial pipeline, into `jaxpr:K` stages."""

    def __init__(
        self,
        result: InspectionResult,
        emit: _Emitter,
        chain: Chain,
        args: tuple,
        static: tuple,
        codes: frozenset,
        kwargs: dict,
    ) -> None:
        self.result, self.emit, self.chain = result, emit, chain
        self.args, self.static, self.codes, self.kwargs = args, static, codes, kwargs
        self.jitted = jax.jit(_plain(chain.fns[-1]), static_argnums=static)
        self.paths = arg_paths(chain.fns[0], args, static, kwargs)
        self.closed: dict[int, Any] = {}  # ClosedJaxpr of each traced stage
        self.printed: dict[int, tuple[PrintedJaxpr, list[str]]] = {}  # its printing context and input paths

    def trace_all(self) -> Any:
        """Trace every stage; return the whole pipeline's error (if any) so `f` still gets its view.

        An error tracing `f` itself is raised (as _StageFailed) after the whole pipeline's.
        """
        n = len(self.chain.pipeline)
        error = None
        try:
            with _stage(self.result, "trace_transformed" if n else "trace"):
                start = time.perf_counter()
                self._put(n, self.jitted.trace(*self.args, **self.kwargs).jaxpr, self.paths, start)
            self.emit.flush()  # the whole pipeline's jaxpr goes out first, before the partial pipelines
        except _StageFailed:
            error, self.result.error = self.result.error, None
            name = self.chain.names[n]
            self.emit.put(Stage(id=f"jaxpr:{n}", kind="jaxpr", name=name, expression=name, error=error, group="trace"))
        for k in reversed(range(n)):  # from the outside in: a jit step already holds the jaxpr inside it
            self._trace_partial(k)
        return error

    def _trace_partial(self, k: int) -> None:
        """Trace `fns[k]` on the arguments the next transform called it with."""
        seen = self.chain.call_args(k, self.args, self.static, self.kwargs)
        name = self.chain.names[k]
        if seen is None:
            note = "the outer transforms never called this function, so it has no jaxpr of its own"
            self.emit.put(Stage(id=f"jaxpr:{k}", kind="jaxpr", name=name, expression=name, note=note, group="trace"))
            return
        # Each stage is shown as the pipeline called it: per example under vmap, with
        # the values jit made static, so it is the program the next transform rewrote.
        f_args, f_static, f_kwargs = seen
        paths = self.paths if f_args is self.args else arg_paths(self.chain.fns[0], f_args, f_static, f_kwargs)
        if k == 0:
            with _stage(self.result, "trace"):
                start = time.perf_counter()
                self._put(0, self._jaxpr_of(0, f_args, f_static, f_kwargs), paths, start)
            return
        try:
            with _stage(self.result, f"trace:{k}"):
                start = time.perf_counter()
                self._put(k, self._jaxpr_of(k, f_args, f_static, f_kwargs), paths, start)
        except _StageFailed:
            error, self.result.error = self.result.error, None
            self.emit.put(Stage(id=f"jaxpr:{k}", kind="jaxpr", name=name, expression=name, error=error, group="trace"))

    def _jaxpr_of(self, k: int, args: tuple, static: tuple[int, ...], kwargs: dict) -> Any:
        """Return make_jaxpr of `fns[k]`, or the jaxpr inside the next stage when that is just `jit` of it."""
        inner = self._inside_jit(k)
        if inner is not None:
            return inner
        return jax.make_jaxpr(self.chain.fns[k], static_argnums=static)(*args, **kwargs)

    def _inside_jit(self, k: int) -> Any:
        """If step k+1 is `jit` and its jaxpr is one jit equation over its own inputs, return that equation's jaxpr.

        `jit(g)` traces `g` on exactly the arguments it receives, so this is make_jaxpr of `g`
        (tests compare the two byte for byte) without tracing `g` a second time.
        """
        outer = self.closed.get(k + 1)
        if outer is None or self.chain.pipeline[k].name != "jit" or len(outer.jaxpr.eqns) != 1:
            return None
        eqn = outer.jaxpr.eqns[0]
        inner = eqn.params.get("jaxpr")
        wired = list(eqn.invars) == list(outer.jaxpr.invars) and list(eqn.outvars) == list(outer.jaxpr.outvars)
        return inner if eqn.primitive.name == "jit" and wired and isinstance(inner, jex.ClosedJaxpr) else None

    def _put(self, k: int, closed: Any, paths: list[str], start: float) -> None:
        """Add the `jaxpr:k` stage (JAX's text) of a ClosedJaxpr traced since `start`; its model comes later."""
        self.closed[k] = closed
        printed = PrintedJaxpr(closed.jaxpr)
        t = self.chain.pipeline[k - 1] if k > 0 else None
        stage = Stage(
            id=f"jaxpr:{k}",
            kind="jaxpr",
            name=self.chain.names[k],
            expression=self.chain.names[k],
            text=printed.text,
            time_s=time.perf_counter() - start,
            group="trace",
            transform=str(t) if t else "",
        )
        self.emit.put(stage)
        self.printed[k] = (printed, paths)

    def build_models(self) -> None:
        """Give every traced jaxpr stage its structured model and counts (after the texts went out)."""
        req = self.result.request
        for k, (printed, paths) in sorted(self.printed.items()):
            stage = self.result.find(f"jaxpr:{k}")
            stage.model = model_of(printed, self.closed[k], req.filename, req.source, paths, self.codes)
            stage.stats = count_primitives(stage.model)
            stage.group = "models"
            self.emit.put(stage)


class ArgRecorder:
    """Records the abstract arguments the pipeline first calls `f` with.

    `wrap()` returns a plain function that stands in for `f` (same name and
    signature, so JAX prints the same program). Objects JAX treats specially
    (pmap'd or custom-derivative functions) are not wrapped: `f` is then shown
    on the user's inputs.
    """

    def __init__(self, f: Callable, intermediate: bool = False) -> None:
        self.f = f
        self.intermediate = intermediate  # a transform's output (grad(f)), not the user's f
        self.calls: list[tuple] = []
        self.kwargs: list[dict] = []

    def wrap(self) -> Callable:
        """Return `f`, wrapped to record its arguments where that is transparent."""
        f = self.f
        plain = pyinspect.isfunction(f) and (self.intermediate or not hasattr(f, "__wrapped__"))
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
    result: InspectionResult,
    compiled: Any,
    args: tuple,
    static: tuple[int, ...],
    device: Any,
    kwargs: dict | None = None,
) -> Callable[[], Any]:
    """Run the compiled function on concrete inputs; record outputs and timing; return the call."""
    dynamic = [a for i, a in enumerate(args) if i not in static]
    # Place inputs as the executable expects them: on `device`, or sharded (shard_map, pmap).
    shardings = tuple(compiled.input_shardings[0])  # one pytree of shardings per argument
    concrete = jax.device_put(tuple(src.materialize(dynamic)), shardings)
    kw = jax.device_put(src.materialize(kwargs or {}), compiled.input_shardings[1])
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*concrete, **kw))
    first = time.perf_counter() - start  # the warm-up call counts: a big model's one call may be the budget
    result.outputs = summarize_outputs(out)
    leaves = jax.tree_util.tree_leaves(shardings)
    used = sorted({d for s in leaves for d in s.device_set}, key=lambda d: (d.platform, d.id))
    where = ", ".join(device_name(d) for d in used) or device_name(device)
    t = timing.time_calls(lambda: compiled(*concrete, **kw), where, result.request.time_budget_s, first_s=first)
    flops = result.cost.flops if result.cost else None
    t.flops_per_s = flops / t.median_s if flops and flops > 0 and t.median_s > 0 else None
    result.timing = t
    return lambda: compiled(*concrete, **kw)


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
