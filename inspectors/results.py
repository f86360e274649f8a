"""The result model: plain dataclasses that survive a trip through JSON.

Every step of `inspectors` returns these types and nothing else, so the same
result can be produced in an isolated worker process and read back by the app.

The chain of stages
-------------------
An `InspectionResult` is a chain of `Stage` records, from the source to machine
code, in pipeline order. Every view is a view of one stage, or of two side by side.

    id                 kind        what it holds
    source             source      the user's code
    jaxpr:0            jaxpr       `f` as the pipeline calls it (per example under vmap)
    jaxpr:K            jaxpr       after the K-th transform: make_jaxpr of the partial
                                   pipeline on the arguments the outer transforms pass it
    stablehlo          stablehlo   Lowered.as_text()
    stablehlo-debug    stablehlo   Lowered.as_text(debug_info=True)
    hlo-unoptimized    hlo         Lowered.as_text(dialect="hlo"): the module XLA starts from
    hlo-pass:0         hlo-pass    the module XLA started from, as XLA dumped it
    hlo-pass:I         hlo-pass    the module after the I-th XLA pass that changed it (in
                                   order; `pipeline` and `pass_name` say which)
    hlo                hlo         Compiled.as_text(): the optimized module
    llvm:NAME          llvm        a kernel's LLVM IR (CPU)
    asm:NAME           asm         a kernel's assembly (CPU, from its object file)
    ptx:NAME           ptx         the PTX of a module or kernel (GPU, where the backend dumps it)

A stage carries its `kind`, a short `name` ("grad(loss)", "fusion"), the code
`expression` that produces it, its `text`, a `model` (jaxpr stages), `stats`
(counts by primitive or opcode), `time_s` (seconds its step took) and an `error`
when that one stage failed, or a `note` when it has no text (passes not recorded,
assembly unavailable). `group` names the step that produced it (source, trace,
models, lower, compile, passes, kernels): stages of a group arrive together when
results stream (`pipeline.inspect(..., on_stage=...)`); a jaxpr stage comes twice,
its text right after tracing and then with its model.
Pass texts are stored compactly: `delta` holds the line edits from the previous
pass's text; `InspectionResult.stage(id)` returns any stage with its full text
(and, for passes, its counts by opcode).
`jaxpr(K)` is stage `jaxpr:K` (`jaxpr()` the last one); JSON of earlier versions, with
flat fields (`jaxpr_before`, `hlo`, ...), still loads into the chain.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar


@dataclass
class Request:
    """What the user asked for: source, entry function, inputs, pipeline, device."""

    source: str
    filename: str = "main.py"
    fn: str | None = None
    args: str | None = None
    transforms: list[str] | None = None
    device: str | None = None
    time: bool = False
    time_budget_s: float = 1.0
    profile: bool = False  # measure time per compiled op (implies `time`): `InspectionResult.profile`
    remat_policy: str | None = None  # compare with the grad's function under this checkpoint policy (memory)
    devices: int | None = None  # virtual CPU devices to split the host into (None: the process's default)

    def key(self) -> str:
        """Return a digest of everything that determines the result: every cache's key.

        The time budget only matters when timing, so untimed requests that differ in it share a key.
        """
        data = dataclasses.asdict(self)
        if not (self.time or self.profile):
            data["time_budget_s"] = None
        blob = json.dumps(data, sort_keys=True).encode("utf-8", "replace")
        return hashlib.sha256(blob).hexdigest()


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def as_data(value: Any) -> Any:
    """Return a result value as plain JSON data: what `dataclasses.asdict` gives, without its deep copies.

    Dataclasses become dicts of their fields, tuples become lists; strings, numbers and None are shared,
    never copied (they are immutable). A GPT-2-sized result's analyses: about 4× faster than `asdict`.
    """
    cls = type(value)
    if cls is str or cls is int or cls is float or cls is bool or value is None:
        return value
    if cls is list or cls is tuple:
        return [as_data(v) for v in value]
    if cls is dict:
        return {k: as_data(v) for k, v in value.items()}
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(cls):
            return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return {name: as_data(getattr(value, name)) for name in names}


EVICTED_NOTE = "evicted from the stage store (over its byte budget): inspect the program again to see it"

# Internal stage names as users name them (import, inputs, transform, trace, lower, compile, run): the one
# table, for the app's timings and for running/timeout messages. A "(detail)" tail names a step within a phase.
STAGE_LABELS = {"load": "import", "trace_transformed": "trace (transformed)", "profile": "run"}


def stage_label(name: str, detail: bool = False) -> str:
    """Return a pipeline stage's user-facing name: `load` → import, `trace:2` → trace.

    Without `detail` it is the phase (`trace_transformed` → trace), as running stages and timeouts name it;
    with it, the step as the app's timings show it (`trace_transformed` → trace (transformed)).
    """
    base = name.split(":")[0]
    label = STAGE_LABELS.get(base, base)
    return label if detail else label.split(" (")[0]


@dataclass
class SourceLoc:
    """A line of the user's source: where an equation or an error came from."""

    file: str
    line: int
    column: int | None = None
    function: str = ""
    code: str = ""

    @classmethod
    def at(
        cls, file: str, line: int | None, column: int | None, function: str, lines: list[str]
    ) -> SourceLoc | None:
        """Return the location of `line` with its text from `lines` (None without a line)."""
        if line is None:
            return None
        code = lines[line - 1] if 0 < line <= len(lines) else ""
        return cls(file, line, column, function, code)


@dataclass
class VarInfo:
    """A jaxpr atom: a variable (`b`, typed `f32[3]`) or a literal (`2.0`)."""

    name: str
    type: str
    literal: bool = False
    dropped: bool = False


@dataclass
class SubJaxpr:
    """A jaxpr nested in an equation's params, named by its role (`branches[1]`)."""

    role: str
    jaxpr: JaxprModel


@dataclass
class Equation:
    """One jaxpr equation, with its printed text, source line and provenance."""

    id: str
    primitive: str
    params: dict[str, str]
    invars: list[VarInfo]
    outvars: list[VarInfo]
    text: str
    source: SourceLoc | None = None
    name_stack: str = ""
    provenance: str = ""
    subjaxprs: list[SubJaxpr] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # where its stage's printed text shows it (1-based)


@dataclass
class JaxprModel:
    """A structured jaxpr: inputs, constants, equations (recursively), outputs."""

    invars: list[VarInfo]
    constvars: list[VarInfo]
    outvars: list[VarInfo]
    eqns: list[Equation]
    arg_paths: list[str] = field(default_factory=list)
    const_values: list[str] = field(default_factory=list)


def walk(model: JaxprModel | None) -> Iterator[Equation]:
    """Yield every equation of a model, sub-jaxprs included, depth first."""
    for eqn in model.eqns if model else []:
        yield eqn
        for sub in eqn.subjaxprs:
            yield from walk(sub.jaxpr)


@dataclass
class CostInfo:
    """XLA's `cost_analysis()` figures; None where the backend gives none."""

    flops: float | None = None
    transcendentals: float | None = None
    bytes_accessed: float | None = None
    raw: dict[str, float] = field(default_factory=dict)


@dataclass
class Timing:
    """Execution time of the compiled function on one device, timeit-style."""

    device: str
    number: int
    repeat: int
    first_call_s: float
    min_s: float
    median_s: float
    p90_s: float
    mean_s: float
    stdev_s: float
    spread: float
    flops_per_s: float | None = None
    note: str = ""  # fewer calls than a robust timing wants, and why ("1 call of 15.2 s; the 1 s budget...")


@dataclass
class OutputSummary:
    """One output leaf: its pytree path, shape, dtype and a preview of values."""

    path: str
    shape: list[int]
    dtype: str
    preview: str


TRANSIENT_KINDS = frozenset({"SessionBusy", "ServerBusy", "WorkerCrashed", "Stopped"})
TRANSIENT_STAGES = frozenset({"worker", "queue"})


@dataclass
class InspectError:
    """A failure as data: stage, exception kind, JAX's message, the user's line."""

    stage: str
    kind: str
    message: str
    location: SourceLoc | None = None
    user_frames: list[SourceLoc] = field(default_factory=list)
    hint: str = ""

    @property
    def transient(self) -> bool:
        """True for failures of the service, not the program (busy, crashed): never cache them."""
        return self.kind in TRANSIENT_KINDS or self.stage in TRANSIENT_STAGES

    @property
    def line(self) -> int | None:
        """The user's line that failed, if there is one."""
        return self.location.line if self.location else None

    def format(self) -> str:
        """Return a short human-readable report of the error."""
        where = ""
        if self.location:
            loc = self.location
            where = f'  File "{loc.file}", line {loc.line}, in {loc.function}\n'
            if loc.code:
                where += f"    {loc.code.strip()}\n"
        hint = f"\nHint: {self.hint}" if self.hint else ""
        return f"{self.kind} during {self.stage}:\n{where}{self.message}{hint}"


@dataclass
class LineEdit:
    """Replace lines [start, end) of the previous text with `lines` (a compact pass text)."""

    start: int
    end: int
    lines: list[str] = field(default_factory=list)


def line_delta(old: str, new: str) -> list[LineEdit]:
    """Return the edits that turn `old` into `new`, line by line (common ends trimmed first)."""
    a, b = old.splitlines(), new.splitlines()
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not mid_a and not mid_b:
        return []
    if len(mid_a) * len(mid_b) > MAX_DELTA_WORK:  # a pass that rewrote most of a large module: one edit
        return [LineEdit(head, len(a) - tail, mid_b)]
    matcher = difflib.SequenceMatcher(None, mid_a, mid_b)
    return [
        LineEdit(head + i1, head + i2, mid_b[j1:j2])
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op != "equal"
    ]


MAX_DELTA_WORK = 4_000_000  # changed lines before x after above which a delta is one replacement


def apply_delta(old: str, edits: list[LineEdit]) -> str:
    """Return `old` with `edits` (from `line_delta`) applied."""
    lines, out, pos = old.splitlines(), [], 0
    for e in edits:
        out.extend(lines[pos : e.start])
        out.extend(e.lines)
        pos = e.end
    out.extend(lines[pos:])
    return "\n".join(out) + "\n"


@dataclass
class Stage:
    """One step of the chain from source to machine code (see the module docstring)."""

    id: str
    kind: str
    name: str = ""
    expression: str = ""
    text: str | None = None
    model: JaxprModel | None = None
    stats: dict[str, int] = field(default_factory=dict)
    time_s: float | None = None
    group: str = ""
    transform: str = ""  # jaxpr:K (K ≥ 1): the transform this step applied, as written
    pipeline: str = ""  # hlo-pass:I: XLA's pass pipeline
    pass_name: str = ""  # hlo-pass:I: the pass
    base: str = ""  # the stage before this one, whose text `delta` edits (passes)
    delta: list[LineEdit] | None = None
    note: str = ""  # why a stage has no text ("objdump is not installed")
    error: InspectError | None = None
    size: int = 0  # an index's summary (the stage store): bytes of its stored body; 0 when it has no text
    module: StableHloModule | None = None  # stablehlo-debug: the MLIR module's ops (inspectors/stablehlo_module.py)

    @property
    def has_text(self) -> bool:
        """True if the stage has a text to show (read from a summary too: its `size`)."""
        return self.text is not None or self.delta is not None or self.size > 0

    @property
    def index(self) -> int | None:
        """K of `jaxpr:K`, I of `hlo-pass:I`; None for other stages."""
        head, _, tail = self.id.partition(":")
        return int(tail) if tail.isdigit() else None


# Where each stage sits in the chain: by its id's head, then its index.
CHAIN_ORDER = (
    "source", "jaxpr", "stablehlo", "stablehlo-debug", "hlo-unoptimized", "hlo-pass", "hlo", "llvm", "asm", "ptx"
)  # fmt: skip


def chain_order(stage: Stage) -> tuple[int, int, str]:
    """Sort key putting stages in chain order (source first, kernels last)."""
    head, _, tail = stage.id.partition(":")
    rank = CHAIN_ORDER.index(head) if head in CHAIN_ORDER else len(CHAIN_ORDER)
    return rank, int(tail) if tail.isdigit() else 0, tail


# Result-level analyses computed in the worker after compiling: a streamed frame that has one brings it.
ANALYSES = ("memory_report", "sharding", "primitives")


@dataclass
class InspectionResult:
    """Everything one inspection found: the chain of stages, XLA's analyses, timing, the first error."""

    request: Request
    entry: str = ""
    functions: list[str] = field(default_factory=list)
    expression: str = ""
    stages: list[Stage] = field(default_factory=list)
    cost: CostInfo | None = None
    memory: dict[str, int] | None = None
    stage_times: dict[str, float] = field(default_factory=dict)
    timing: Timing | None = None
    outputs: list[OutputSummary] = field(default_factory=list)
    error: InspectError | None = None
    jax_version: str = ""
    output: str = ""  # what the user's code printed (captured by the sandboxed worker)
    source_map: SourceMap | None = None  # computed with the result (in the worker), never again by the app
    provenance: Provenance | None = None  # what grad, vmap and jit did, likewise
    profile: Profile | None = None  # time per compiled op, when `request.profile`
    running: str = ""  # streamed frames only: the stage that started last (import, trace, compile, run...)
    notes: list[str] = field(default_factory=list)  # what was not kept, and why ("the source map is 9.1 MB, over...")
    memory_report: MemoryReport | None = None  # residuals, the compiled peak, remat (inspectors.memory)
    sharding: Sharding | None = None  # the mesh, layouts and collectives (inspectors.sharding), after compiling
    primitives: PrimitiveCards | None = None  # a card per primitive of the chain, computed in the worker

    @property
    def ok(self) -> bool:
        """True when every requested stage succeeded."""
        return self.error is None

    # --- the chain ----------------------------------------------------------------------------

    def find(self, stage_id: str) -> Stage | None:
        """Return the stored stage `stage_id` (pass texts may be deltas), or None.

        A result from the stage store holds summaries: the body is fetched here, on first read.
        """
        for i, stage in enumerate(self.stages):
            if stage.id == stage_id:
                return self._fetched(i, stage) if stage_id in self.__dict__.get("_unfetched", ()) else stage
        return None

    # --- stages fetched from the stage store when read (`inspectors.store`) ---------------------

    HELD = 48  # stage bodies an index keeps at hand; older ones go back to summaries (fetched again)

    def attach_fetch(self, fetch: typing.Callable[[str], Stage | None], ids: set[str]) -> None:
        """Make stages `ids` summaries whose bodies `fetch(id)` returns when first read."""
        self.__dict__.update(_fetch=fetch, _unfetched=set(ids), _held={})

    def _fetched(self, i: int, summary: Stage) -> Stage:
        """Fetch stage `i`'s body; keep at most HELD bodies (the stages the open views read)."""
        body = self.__dict__["_fetch"](summary.id)
        if body is None:  # evicted: the summary says so
            return dataclasses.replace(summary, note=summary.note or EVICTED_NOTE)
        self.stages[i] = body
        self._unfetched.discard(summary.id)
        held = self._held
        held[summary.id] = summary
        while len(held) > self.HELD:
            old_id = next(iter(held))
            old = held.pop(old_id)
            self.stages = [old if s.id == old_id else s for s in self.stages]
            self._unfetched.add(old_id)
        return body

    def fetched(self) -> InspectionResult:
        """Return this result with every stage's body (itself if it holds them all)."""
        if not self.__dict__.get("_unfetched"):
            return self
        whole = dataclasses.replace(self, stages=list(self.stages))
        whole.attach_fetch(self.__dict__["_fetch"], set(self._unfetched))
        whole.__dict__["_held"], whole.HELD = {}, len(self.stages) + 1
        for stage in list(whole.stages):
            whole.find(stage.id)
        whole.__dict__.pop("_unfetched", None)
        return whole

    def stage(self, stage_id: str) -> Stage | None:
        """Return stage `stage_id` with its full text (a pass's delta applied) and counts, or None.

        Pass stages are stored without counts (recording stays cheap); they are counted here.
        """
        stored = self.find(stage_id)
        if stored is None or (stored.delta is None and (stored.stats or stored.kind != "hlo-pass")):
            return stored
        text = self.text_of(stage_id)
        stats = stored.stats
        if not stats and stored.kind == "hlo-pass" and text:
            from inspectors.hlo_text import count_opcodes  # pure Python: the app may call this

            stats = count_opcodes(text)
        return dataclasses.replace(stored, text=text, delta=None, stats=stats)

    def text_of(self, stage_id: str) -> str | None:
        """Return the full text of stage `stage_id` (None if it has none)."""
        stored = self.find(stage_id)
        if stored is None:
            return None
        if stored.delta is None:
            return stored.text
        memo = self.__dict__.setdefault("_texts", {})
        if stage_id not in memo:
            base = self.text_of(stored.base)
            memo[stage_id] = None if base is None else apply_delta(base, stored.delta)
        return memo[stage_id]

    def put(self, stage: Stage) -> Stage:
        """Add `stage` to the chain (replacing a stage of the same id); return it."""
        self.__dict__.pop("_texts", None)
        self.__dict__.get("_unfetched", set()).discard(stage.id)
        for i, old in enumerate(self.stages):
            if old.id == stage.id:
                self.stages[i] = stage
                return stage
        self.stages.append(stage)
        self.stages.sort(key=chain_order)
        return stage

    def absorb(self, partial: InspectionResult) -> InspectionResult:
        """Add a partial result's stages and what it knows so far (a streamed frame); return self."""
        for stage in partial.stages:
            self.put(stage)
        names = ("entry", "expression", "functions", "cost", "memory", "error", "jax_version", "timing")
        for name in (*names, "source_map", "provenance", "profile", "outputs", "notes", *ANALYSES):
            value = getattr(partial, name)
            if value:
                setattr(self, name, value)
        self.stage_times.update(partial.stage_times)
        self.running = partial.running or self.running
        return self

    def of_kind(self, kind: str) -> list[Stage]:
        """Return the stages of one kind, in chain order (summaries, for a store's index: read bodies by id)."""
        return [s for s in self.stages if s.kind == kind]

    def jaxpr_stages(self) -> list[Stage]:
        """Return the jaxpr stages with their bodies, `jaxpr:0` first."""
        return [self.find(s.id) for s in sorted(self.of_kind("jaxpr"), key=lambda s: s.index or 0)]

    def jaxpr(self, index: int | None = None) -> Stage:
        """Return stage `jaxpr:index` (the last jaxpr stage when None), or an empty jaxpr stage.

        The empty stage has no text and no model, so `result.jaxpr().model` reads None when
        tracing failed or was not reached.
        """
        if index is None:
            stages = sorted(self.of_kind("jaxpr"), key=lambda s: s.index or 0)
            found = self.find(stages[-1].id) if stages else None
        else:
            found = self.find(f"jaxpr:{index}")
        return found or Stage(id=f"jaxpr:{index or 0}", kind="jaxpr")

    def equation_counts(self, index: int | None = None) -> dict[str, int] | None:
        """Equations by primitive of stage `jaxpr:index` (the last when None), sub-jaxprs included; None until counted."""
        stage = self.jaxpr(index)
        return dict(stage.stats) if stage.stats or stage.model is not None else None

    def equations(self, index: int | None = None) -> int | None:
        """How many equations stage `jaxpr:index` (the last when None) has, sub-jaxprs included; None until counted."""
        counts = self.equation_counts(index)
        return None if counts is None else sum(counts.values())

    # --- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON-compatible data (every stage's body fetched)."""
        return as_data(self.fetched())

    def to_json(self, **kwargs: Any) -> str:
        """Return the result as a JSON string."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InspectionResult:
        """Rebuild a result from `to_dict()` output (or from an earlier version's flat or retired fields)."""
        if isinstance(data, dict):
            _check_retired(data)
        dropped = (*LEGACY_FIELDS, *RETIRED_FIELDS)
        body = {k: v for k, v in data.items() if k not in dropped} if isinstance(data, dict) else data
        result = _decode(cls, body)
        if not data.get("stages"):
            _read_legacy(result, data)
        return result

    @classmethod
    def from_json(cls, text: str) -> InspectionResult:
        """Rebuild a result from `to_json()` output."""
        return cls.from_dict(json.loads(text))


# Flat fields of earlier versions: name -> (stage id, None: the last jaxpr stage; kind; attribute; type).
# from_dict still reads them, so results saved and links shared before the chain still open.
LEGACY_FIELDS: dict[str, tuple[str | None, str, str, Any]] = {
    "jaxpr_before": ("jaxpr:0", "jaxpr", "text", str),
    "model_before": ("jaxpr:0", "jaxpr", "model", JaxprModel),
    "jaxpr_after": (None, "jaxpr", "text", str),
    "model_after": (None, "jaxpr", "model", JaxprModel),
    "stablehlo": ("stablehlo", "stablehlo", "text", str),
    "stablehlo_debug": ("stablehlo-debug", "stablehlo", "text", str),
    "hlo": ("hlo", "hlo", "text", str),
}


# Fields earlier versions wrote that the chain now holds: name -> the shape they had. from_dict checks
# them as strictly as any field, then drops them. `stats` held the first and last jaxpr stages' `stats`.
RETIRED_FIELDS: dict[str, dict[str, Any]] = {
    "stats": {"before": dict[str, int], "after": dict[str, int], "total_before": int, "total_after": int},
}


def _check_retired(data: dict[str, Any]) -> None:
    """Raise SchemaError unless each retired field in `data` has the shape it had (or is null)."""
    for name, shape in RETIRED_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        _expect(value, dict, f"$.{name}", "an object")
        for key, item in value.items():
            if key not in shape:
                raise SchemaError(f"$.{name}: unknown field {str(key)[:60]!r}")
            _decode(shape[key], item, f"$.{name}.{key}")


def _read_legacy(result: InspectionResult, data: dict[str, Any]) -> None:
    """Put an earlier version's flat fields into `result`'s chain as stages."""
    for name, (stage_id, kind, attr, tp) in LEGACY_FIELDS.items():
        if data.get(name) is None:
            continue
        if stage_id is None:  # "after": the pipeline's last jaxpr, `jaxpr:1` when only `jaxpr:0` exists
            stage_id = f"jaxpr:{max(result.jaxpr().index or 0, 1)}"
        stage = result.find(stage_id) or result.put(Stage(id=stage_id, kind=kind))
        setattr(stage, attr, _decode(tp, data[name], f"$.{name}"))


MAX_DECODE_DEPTH = 200  # levels of nesting a result may have (a jaxpr nests about 5 per sub-jaxpr)


class SchemaError(ValueError):
    """Data that does not match the result model: a wrong type, an unknown field, too deep."""


def _decode(tp: Any, value: Any, path: str = "$", depth: int = 0) -> Any:
    """Rebuild a value of annotated type `tp` from JSON data, checking every type strictly.

    Driven only by the dataclasses' annotations, so it follows the model as it changes.
    Raises SchemaError (naming the path) on anything the annotations do not allow.
    Each type gets one decoding function, built once (`_decoder`); paths are only
    spelled out when there is an error to report, so a 12,000-equation result
    decodes in seconds, not minutes.
    """
    return _decoder(tp)(value, path, depth)


# A path is "$" or (parent path, ".", key) / (parent path, "[", index): joined only for a message.
Path = Any


def _spell(path: Path) -> str:
    """Return a path as text: `$.stages[3].model.eqns[12].params`."""
    parts = []
    while isinstance(path, tuple):
        path, kind, key = path
        parts.append(f"[{key}]" if kind == "[" else f".{key}")
    return str(path) + "".join(reversed(parts))


Decoder = typing.Callable[[Any, Path, int], Any]


@functools.cache
def _decoder(tp: Any) -> Decoder:
    """Return the function that decodes (and checks) a JSON value of annotated type `tp`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        inner = _check_json
    elif origin in (typing.Union, types.UnionType):
        inner = _union_decoder(tp)
    elif origin in (list, tuple) or tp in (list, tuple):
        inner = _sequence_decoder(tp)
    elif origin is dict or tp is dict:
        inner = _dict_decoder(tp)
    elif dataclasses.is_dataclass(tp):
        inner = _dataclass_decoder(tp)
    else:
        inner = _scalar_decoder(tp)
    nullable = tp is Any or origin in (typing.Union, types.UnionType)

    def decode(value: Any, path: Path, depth: int) -> Any:
        if depth > MAX_DECODE_DEPTH:
            raise SchemaError(f"{_spell(path)}: nested deeper than {MAX_DECODE_DEPTH} levels")
        if value is None and not nullable:
            raise SchemaError(f"{_spell(path)}: null where {_name(tp)} is required")
        return inner(value, path, depth)

    return decode


def _name(tp: Any) -> str:
    """A type's name for messages."""
    return getattr(tp, "__name__", None) or str(tp)


def _expect(value: Any, kind: type, path: Path, what: str) -> None:
    """Raise SchemaError unless `value` is a `kind`."""
    if not isinstance(value, kind):
        raise SchemaError(f"{_spell(path)}: {type(value).__name__} where {what} is required")


def _union_decoder(tp: Any) -> Decoder:
    """`X | Y | None`: null if allowed, else the first member that fits."""
    members = typing.get_args(tp)
    optional = type(None) in members
    choices = [m for m in members if m is not type(None)]

    def decode(value: Any, path: Path, depth: int) -> Any:
        if value is None:
            if optional:
                return None
            raise SchemaError(f"{_spell(path)}: null where {tp} is required")
        problems = []
        for member in choices:
            try:
                return _decoder(member)(value, path, depth)
            except SchemaError as exc:
                problems.append(str(exc))
        raise SchemaError(problems[0] if len(problems) == 1 else f"{_spell(path)}: fits none of {tp}")

    return decode


def _sequence_decoder(tp: Any) -> Decoder:
    """`list[X]` or `tuple[X, ...]` (or a fixed tuple) from a JSON array."""
    args = typing.get_args(tp) or (Any,)
    is_tuple = typing.get_origin(tp) is tuple or tp is tuple
    if is_tuple and not (len(args) == 2 and args[1] is Ellipsis):

        def fixed(value: Any, path: Path, depth: int) -> Any:
            _expect(value, list, path, "an array")
            if len(args) != len(value):
                raise SchemaError(f"{_spell(path)}: {len(value)} items where {len(args)} are required")
            return tuple(_decoder(a)(v, (path, "[", i), depth + 1) for i, (a, v) in enumerate(zip(args, value, strict=True)))

        return fixed

    def each(value: Any, path: Path, depth: int) -> Any:
        _expect(value, list, path, "an array")
        item = _decoder(args[0])
        out = [item(v, (path, "[", i), depth + 1) for i, v in enumerate(value)]
        return tuple(out) if is_tuple else out

    return each


def _dict_decoder(tp: Any) -> Decoder:
    """`dict[K, V]` from a JSON object."""
    key_type, value_type = typing.get_args(tp) or (str, Any)

    def decode(value: Any, path: Path, depth: int) -> Any:
        _expect(value, dict, path, "an object")
        keys, values = _decoder(key_type), _decoder(value_type)
        return {
            keys(k, (path, ".", "<key>"), depth + 1): values(v, (path, ".", k), depth + 1) for k, v in value.items()
        }

    return decode


def _dataclass_decoder(tp: Any) -> Decoder:
    """A dataclass from a JSON object: no unknown fields, every required field present."""
    fields: dict[str, Decoder] = {}  # filled on first use: the model's types refer to each other
    required: list[str] = []

    def decode(value: Any, path: Path, depth: int) -> Any:
        _expect(value, dict, path, f"an object ({tp.__name__})")
        if not fields:
            hints = typing.get_type_hints(tp)
            for f in dataclasses.fields(tp):
                if f.init:
                    fields[f.name] = _decoder(hints[f.name])
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                        required.append(f.name)
        for k in value:
            if k not in fields:
                raise SchemaError(f"{_spell(path)}: unknown field {str(k)[:60]!r} in {tp.__name__}")
        for name in required:
            if name not in value:
                raise SchemaError(f"{_spell(path)}: {tp.__name__} lacks {name!r}")
        return tp(**{k: fields[k](v, (path, ".", k), depth + 1) for k, v in value.items()})

    return decode


_SCALARS: dict[Any, tuple[type, ...]] = {str: (str,), bool: (bool,), int: (int,), float: (int, float)}


def _scalar_decoder(tp: Any) -> Decoder:
    """A str, bool, int or float (an int is a float; a bool is neither int nor float)."""
    allowed = _SCALARS.get(tp)

    def decode(value: Any, path: Path, depth: int) -> Any:
        if allowed is None:
            raise SchemaError(f"{_spell(path)}: the model has a type results cannot carry ({_name(tp)})")
        if not isinstance(value, allowed) or (tp is not bool and isinstance(value, bool)):
            raise SchemaError(f"{_spell(path)}: {type(value).__name__} where {_name(tp)} is required")
        return value

    return decode


def _check_json(value: Any, path: Path, depth: int) -> Any:
    """Check plain JSON data (for fields annotated `Any`): only JSON types, at most the depth cap."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DECODE_DEPTH:
            raise SchemaError(f"{_spell(path)}: nested deeper than {MAX_DECODE_DEPTH} levels")
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                raise SchemaError(f"{_spell(path)}: an object key that is not a string")
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            raise SchemaError(f"{_spell(path)}: {type(item).__name__} is not JSON data")
    return value


def request_from_dict(data: dict[str, Any]) -> Request:
    """Rebuild a `Request` from plain data."""
    return _decode(Request, data)


# === teaching views: source map, provenance, walkthrough ========================================

T = TypeVar("T")


class JsonMixin:
    """`to_dict`/`to_json` and `from_dict`/`from_json` for a result dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """Return the value as plain JSON-compatible data."""
        return as_data(self)

    def to_json(self, **kwargs: Any) -> str:
        """Return the value as a JSON string."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild a value from `to_dict()` output."""
        return _decode(cls, data)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Rebuild a value from `to_json()` output."""
        return _decode(cls, json.loads(text))


# --- source map -------------------------------------------------------------------------------


@dataclass
class OpLoc:
    """A StableHLO op or compiled HLO instruction, and the user's line it came from."""

    kind: str  # "stablehlo" or "hlo"
    name: str  # SSA result (`%3`) or HLO instruction name (`add.3`)
    opcode: str  # `stablehlo.add`, `fusion`, ...
    text_line: int  # 1-based line in `stablehlo_debug` or `hlo`
    line: int | None = None  # the user's source line
    column: int | None = None
    primitive: str = ""  # the jaxpr primitive named in the location (`dot_general`)
    scope: str = ""  # name stack / function names: `jit(loss)/transpose(jvp())`
    phase: str = ""  # "forward", "backward" or ""
    computation: str = ""  # HLO computation (or StableHLO function) holding it
    plain_line: int | None = None  # line in `stablehlo` (no debug info), StableHLO only


@dataclass
class LineInfo:
    """One line of the user's source and everything traced or lowered from it."""

    line: int
    code: str
    color: str
    status: str  # "traced", "lowered" (ops only), "called" (via a local def) or "nothing"
    eqns_before: list[str] = field(default_factory=list)
    eqns_after: list[str] = field(default_factory=list)
    stablehlo: list[int] = field(default_factory=list)  # text lines in `stablehlo_debug`
    hlo: list[str] = field(default_factory=list)  # HLO instruction names
    # `eqns_after` by model scope (Flax/NNX/Equinox module path, `named_scope`), when the line ran in more
    # than one: a line in a loop over layers, layer by layer ("" for equations outside any scope).
    scopes: dict[str, list[str]] = field(default_factory=dict)
    # Every jaxpr stage of the chain, the intermediate ones included: stage id -> equation ids from this line.
    eqns: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SourceMap(JsonMixin):
    """Source line ↔ jaxpr equations ↔ StableHLO ops ↔ HLO instructions."""

    filename: str
    entry: str = ""
    entry_span: list[int] = field(default_factory=list)  # [first, last] line of the entry `def`
    lines: list[LineInfo] = field(default_factory=list)
    stablehlo_ops: list[OpLoc] = field(default_factory=list)
    hlo_ops: list[OpLoc] = field(default_factory=list)


# --- the StableHLO module model (read from JAX's ir.Module in the worker: inspectors/stablehlo_module.py) ---


@dataclass
class MlirFrame:
    """One file location of an MLIR location (a FileLineColLoc)."""

    file: str
    line: int
    column: int = 0


@dataclass
class MlirLoc:
    """An MLIR location, decoded: name-stack names (outermost first) and file frames (innermost first)."""

    names: list[str] = field(default_factory=list)
    frames: list[MlirFrame] = field(default_factory=list)


@dataclass
class MlirOp:
    """One operation of the module, in the printer's order, with where JAX's text prints it."""

    name: str  # `stablehlo.add`, `func.func`, `builtin.module`
    results: str = ""  # as printed before ` = `: `%3`, `%1:4`
    result_types: list[str] = field(default_factory=list)  # `tensor<3xf32>`
    operands: int = 0
    function: str = ""  # the func.func holding it
    parent: int | None = None  # index of the op whose region holds it
    depth: int = 0
    line: int | None = None  # 1-based line of the debug-info text where it starts
    loc_line: int | None = None  # ... and where its `loc(...)` is printed (a region op's closing line)
    plain_line: int | None = None  # the same lines in the text without debug info
    plain_loc_line: int | None = None
    names: list[str] = field(default_factory=list)  # its location's names (MlirLoc.names)
    frames: list[MlirFrame] = field(default_factory=list)  # ... and frames (MlirLoc.frames)


@dataclass
class StableHloModule:
    """The ops of a lowered module (pre-order, regions included); `placed` if every op found its lines."""

    ops: list[MlirOp] = field(default_factory=list)
    placed: bool = True
    note: str = ""  # why there are no ops
    time_s: float = 0.0  # the worker's time to read and place it


# --- provenance -------------------------------------------------------------------------------


@dataclass
class Residual:
    """A value the forward pass saves for the backward pass."""

    name: str
    type: str
    scope: str  # id prefix of the jaxpr it lives in ("" for the top level)
    produced_by: str  # equation id
    consumed_by: list[str] = field(default_factory=list)


@dataclass
class GradProvenance(JsonMixin):
    """Forward (jvp) and backward (transpose) equations of a grad, and residuals."""

    forward: list[str] = field(default_factory=list)
    backward: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    residuals: list[Residual] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Return the number of forward, backward and other equations and residuals."""
        return {
            "forward": len(self.forward),
            "backward": len(self.backward),
            "other": len(self.other),
            "residuals": len(self.residuals),
        }


@dataclass
class BatchedVar:
    """A variable of the vmapped jaxpr that carries a batch dimension the original lacks."""

    name: str
    where: str  # "input", "output" or the equation id that produces it
    before_type: str
    after_type: str
    axis: int | None = None


@dataclass
class MatchedEqn:
    """An equation of the vmapped jaxpr and its per-example counterpart."""

    before: str
    after: str
    primitive: str
    changed_params: dict[str, str] = field(default_factory=dict)  # param: "before → after"


@dataclass
class IntroducedEqn:
    """An equation of the vmapped jaxpr with no counterpart in the per-example jaxpr."""

    id: str
    primitive: str
    origin: str  # "vmap", or the inner transform it came from ("jvp", "transpose(jvp)")


@dataclass
class VmapProvenance(JsonMixin):
    """What vmap did: batched variables, matched and introduced equations."""

    batched: list[BatchedVar] = field(default_factory=list)
    matched: list[MatchedEqn] = field(default_factory=list)
    introduced: list[IntroducedEqn] = field(default_factory=list)


@dataclass
class FusionInfo:
    """One XLA fusion: the instruction, its kind, what it fused and from which lines."""

    name: str
    kind: str
    computation: str
    text_line: int
    instructions: list[str] = field(default_factory=list)
    opcodes: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


@dataclass
class ConstantInfo:
    """A StableHLO constant that no HLO constant holds any more (folded, best effort)."""

    value: str
    type: str
    text_line: int
    line: int | None = None


@dataclass
class JitProvenance(JsonMixin):
    """What lowering and XLA changed: fusions, folded constants, equations with no HLO left."""

    fusions: list[FusionInfo] = field(default_factory=list)
    folded_constants: list[ConstantInfo] = field(default_factory=list)
    eqns_without_hlo: list[str] = field(default_factory=list)
    hlo_instructions: int = 0
    stablehlo_ops: int = 0


@dataclass
class Provenance(JsonMixin):
    """What each transformation did, computed once with the result."""

    grad: GradProvenance | None = None  # when the final jaxpr has forward or backward equations
    vmap: VmapProvenance | None = None  # when vmap batched variables or introduced equations
    jit: JitProvenance | None = None  # when there is compiled HLO


# --- walkthrough ------------------------------------------------------------------------------


@dataclass
class ArgAval:
    """One flattened input as tracing sees it: an abstract value, not data."""

    path: str
    aval: str  # `ShapedArray(float32[3])`
    short: str  # `f32[3]`


@dataclass
class JvpStep:
    """One step of the jvp interpreter: an equation, its primal and tangent values."""

    index: int
    eqn_id: str
    primitive: str
    text: str
    in_primals: list[str] = field(default_factory=list)
    in_tangents: list[str] = field(default_factory=list)
    out_primals: list[str] = field(default_factory=list)
    out_tangents: list[str] = field(default_factory=list)
    jvp_text: str = ""  # the jaxpr of this one equation's jvp: what the step adds
    added_primitives: list[str] = field(default_factory=list)
    opaque: bool = False  # a higher-order primitive evaluated by `jax.jvp` as a whole


@dataclass
class VmapStep:
    """One step of the vmap interpreter: an equation, its values and their batch axes."""

    index: int
    eqn_id: str
    primitive: str
    text: str
    in_values: list[str] = field(default_factory=list)
    in_axes: list[str] = field(default_factory=list)  # "0", "1", or "not batched"
    out_values: list[str] = field(default_factory=list)
    out_axes: list[str] = field(default_factory=list)
    batched_text: str = ""  # the jaxpr vmap's batching rule made of this one equation
    added_primitives: list[str] = field(default_factory=list)


@dataclass
class VmapRun:
    """The vmap interpreter over the per-example jaxpr, on a batch of seeded random inputs."""

    in_axes: list[str] = field(default_factory=list)  # per argument, as the pipeline's vmap says
    input_axes: list[str] = field(default_factory=list)  # per flattened input (the avals' order)
    batch_size: int = 0
    steps: list[VmapStep] = field(default_factory=list)
    steps_truncated: bool = False
    outputs: list[str] = field(default_factory=list)
    batched_jaxpr: str | None = None  # `jax.make_jaxpr(jax.vmap(f, in_axes))`
    max_abs_diff_vs_jax: float | None = None  # interpreter outputs vs `jax.vmap`
    error: InspectError | None = None


@dataclass
class Walkthrough(JsonMixin):
    """Steps 1–7 of "how JAX works" for one function on concrete inputs."""

    source: str
    filename: str
    entry: str = ""
    expression: str = ""
    avals: list[ArgAval] = field(default_factory=list)
    static_args: list[str] = field(default_factory=list)
    trace_error: InspectError | None = None
    fix: str = ""
    jaxpr: str | None = None
    model: JaxprModel | None = None
    steps: list[JvpStep] = field(default_factory=list)
    steps_truncated: bool = False
    jvp_jaxpr: str | None = None
    primals_out: list[str] = field(default_factory=list)
    tangents_out: list[str] = field(default_factory=list)
    max_abs_diff_vs_jax: float | None = None  # interpreter tangents vs `jax.jvp`
    inspection: InspectionResult | None = None  # lowering, compiling, timing of the request
    error: InspectError | None = None  # the interpreter's own failure, if any
    vmap: VmapRun | None = None  # when the pipeline has a vmap: its interpreter, step by step


# === diffs between two stages =============================================================



@dataclass
class EqnChange:
    """One row of a structural jaxpr diff: an equation added, removed, changed or unchanged."""

    status: str  # "added", "removed", "changed" or "same"
    primitive: str
    before: str | None = None  # equation id in the first jaxpr
    after: str | None = None  # equation id in the second
    origin: str = ""  # "forward", "backward", "batched", "forward, batched", ... (from the name stack)
    line: int | None = None  # the user's source line
    text_before: str = ""
    text_after: str = ""
    changes: list[str] = field(default_factory=list)  # "types: f32[3] → f32[2,3]", "params: axes=(0,) → (1,)"


@dataclass
class JaxprDiff(JsonMixin):
    """Two jaxpr stages side by side: equations matched by primitive and line, and a line diff."""

    a: str
    b: str
    transform: str = ""  # the transforms between them ("vmap(in_axes=(None, 0))")
    rows: list[EqnChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # added, removed, changed, same
    primitives: dict[str, list[int]] = field(default_factory=dict)  # primitive: [count in a, count in b]
    origins: dict[str, int] = field(default_factory=dict)  # added equations by origin
    new_subjaxprs: list[str] = field(default_factory=list)  # `jit: jaxpr`, `cond: branches[0]`
    residuals: int = 0  # values b's forward pass saves for its backward pass
    summary: list[str] = field(default_factory=list)
    line_diff: list[str] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # lines of a's text the line diff removes (1-based)
    added: list[int] = field(default_factory=list)  # lines of b's text it adds


@dataclass
class TextDiff(JsonMixin):
    """Two text stages (HLO passes, StableHLO, kernels): a line diff and a summary."""

    a: str
    b: str
    summary: list[str] = field(default_factory=list)
    opcodes: dict[str, list[int]] = field(default_factory=dict)  # HLO: opcode: [count in a, count in b]
    line_diff: list[str] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # lines of a's text the line diff removes (1-based)
    added: list[int] = field(default_factory=list)  # lines of b's text it adds

# --- the profile: where the time goes (inspectors.profile) --------------------------------------


@dataclass
class ProfilePart:
    """HLO instructions inside a profiled op that share one source, and their part of the op's time.

    A fusion's instructions with the same line, primitive, phase, opcode and shape form one
    part (an unrolled loop fuses thousands of them), so a part's equations are listed once.
    """

    instructions: list[str]  # `dot.3`, or fused instructions (`multiply.2`, ...)
    opcode: str
    primitive: str = ""  # the jaxpr primitive in their metadata (`dot_general`)
    line: int | None = None  # the user's line (library calls count for their caller)
    phase: str = ""  # "forward", "backward" or ""
    weight: float = 1.0  # their fraction of the op's time: by estimated FLOPs (elements at least)
    flops: float = 0.0  # estimated from HLO shapes, per execution of the op
    text_lines: list[int] = field(default_factory=list)  # their lines in the compiled HLO text
    equations: list[str] = field(default_factory=list)  # equation ids of `model_after`
    inferred: bool = False  # no metadata: the line is its primitive's only line, or a neighbour's


@dataclass
class ProfileOp:
    """One compiled op or fusion as XLA ran it: measured time per call and what it came from."""

    name: str  # the HLO instruction the profiler names (`ynn_fusion`, `dot.3`)
    opcode: str  # `fusion`, `dot`, `while`, ...
    kind: str  # what it mostly does: `dot`, `convolution`, `reduce`, `elementwise`, `loop`, ...
    computation: str  # the HLO computation holding it (the entry, or a loop body)
    time_s: float  # per call: overlapping ops split the time, a loop's own time excludes its body
    share: float  # time_s / measured wall time per call
    busy_s: float  # per call: the sum of its events' durations
    calls: float  # executions per call (a loop body's ops run once per iteration)
    line: int | None = None  # the user's line with most of its time
    text_line: int = 0  # its line in the compiled HLO text
    phase: str = ""  # "forward", "backward", "forward+backward" or ""
    provenance: str = ""  # transforms its equations came through (`vmap(transpose(jvp))`)
    flops: float | None = None  # per call, estimated from HLO shapes
    bytes: float | None = None  # per call: operands read and results written, from HLO shapes
    flops_per_s: float | None = None  # achieved, over busy time
    bytes_per_s: float | None = None
    bound: str = ""  # "compute" or "memory" against the measured peaks; "" for control flow
    roofline: float | None = None  # achieved / attainable at its arithmetic intensity
    parts: list[ProfilePart] = field(default_factory=list)

    @property
    def equations(self) -> list[str]:
        """Return the equation ids of all its parts, in order, without repeats."""
        return list(dict.fromkeys(e for p in self.parts for e in p.equations))


@dataclass
class LineProfile:
    """One user line: its share of the measured time, the ops it became, forward/backward split."""

    line: int | None  # None: ops no user line produced (copies XLA added, constants)
    code: str
    time_s: float
    share: float
    ops: dict[str, int] = field(default_factory=dict)  # compiled ops by kind (`dot`: 2), hottest first
    phases: dict[str, float] = field(default_factory=dict)  # share of the total per phase
    summary: str = ""  # "line 7: 91.0 % of the time, 2 dots, forward 45.0 % / backward 46.0 %"


@dataclass
class Profile:
    """Measured time per compiled op, rolled up to jaxpr equations and source lines."""

    device: str
    runs: int  # profiled calls, after `warmup` discarded ones
    warmup: int
    wall_s: float  # mean wall time per call under the profiler (the shares' denominator)
    wall_median_s: float  # median of the same calls
    untraced_median_s: float  # median wall time per call without the profiler, same loop
    overhead: float  # the profiler's cost per call: wall_min_s / untraced_min_s - 1
    covered_s: float  # op time per call (the sum of `ops[].time_s`)
    coverage: float  # covered_s / wall_s
    events: int  # op events read
    wall_min_s: float = 0.0  # fastest profiled call (minima are the least disturbed by other load)
    untraced_min_s: float = 0.0  # fastest call without the profiler
    peak_flops_per_s: float | None = None  # measured once per worker: a large matmul
    peak_bytes_per_s: float | None = None  # and a large copy
    cost_source: str = "estimated from HLO shapes"
    ops: list[ProfileOp] = field(default_factory=list)  # hottest first
    lines: list[LineProfile] = field(default_factory=list)  # hottest first
    notes: list[str] = field(default_factory=list)


# --- memory: where it goes (inspectors.memory) ---------------------------------------------------


@dataclass
class SavedResidual:
    """One value the forward pass saves for the backward pass, as `print_saved_residuals` lists it."""

    type: str  # `f32[64,256]`
    bytes: int
    made_by: str  # `output of tanh`, `argument ws[0]`, `named 'h'`, `output of jitted function 'f'`
    primitive: str = ""  # the equation's primitive ("" for arguments, constants, literals)
    line: int | None = None  # the user's line
    where: str = ""  # JAX's summary of the equation's source (`main.py:7:12 (f)`)
    scope: str = ""  # model scope from the name stack (Flax/Equinox layer, named_scope)
    equation: str = ""  # the forward equation's id in the transformed jaxpr (best effort)
    jax_text: str = ""  # the line exactly as `jax.ad_checkpoint.print_saved_residuals` prints it


@dataclass
class MemoryGroup:
    """Residuals (or buffers) grouped by one key: a source line or a model scope."""

    key: str
    count: int
    bytes: int


@dataclass
class ResidualReport:
    """Every residual the differentiated function saves, grouped by line and scope, with totals."""

    function: str  # what was differentiated: `loss`
    transform: str  # the transform that differentiates it: `grad`, `nnx.grad`, `vjp`
    wrt: str = ""  # which inputs: `argnums=0`, `all inputs`
    residuals: list[SavedResidual] = field(default_factory=list)
    total_bytes: int = 0
    by_line: list[MemoryGroup] = field(default_factory=list)
    by_scope: list[MemoryGroup] = field(default_factory=list)
    note: str = ""  # per example under vmap, and the like


@dataclass
class LiveBuffer:
    """A buffer of the compiled module, with its live range and what it came from."""

    value: str  # XLA's value name: `sort.0{1}`
    instruction: str  # the HLO instruction that defines it
    type: str
    bytes: int
    kind: str  # "argument", "output", "argument, output" (aliased), "temporary", "constant"
    start: int = 0  # first and last step of the schedule it is live in
    end: int = 0
    line: int | None = None
    primitive: str = ""
    phase: str = ""  # "forward", "backward" or ""
    equations: list[str] = field(default_factory=list)
    argument: str = ""  # the input it holds (`ws[0]`) for parameters


@dataclass
class PeakReport:
    """Bytes live over the compiled schedule, from XLA's buffer assignment, and who holds the peak."""

    available: bool
    note: str = ""  # why not available, or what is estimated
    peak_bytes: int = 0
    peak_step: int = 0
    xla_peak_bytes: int | None = None  # the peak XLA's live-range dump states (should equal peak_bytes)
    schedule: list[str] = field(default_factory=list)  # instruction per step
    live_bytes: list[int] = field(default_factory=list)  # bytes live at each step
    at_peak: list[LiveBuffer] = field(default_factory=list)  # largest first
    totals: dict[str, int] = field(default_factory=dict)  # from the buffer assignment: argument, output, ...
    analysis: dict[str, int] = field(default_factory=dict)  # `Compiled.memory_analysis()`
    aliases: list[str] = field(default_factory=list)  # donated or aliased inputs: `output {0} ← params[0]`


@dataclass
class RematComparison:
    """The differentiated function under a checkpoint policy, beside the program as written."""

    policy: str
    residual_bytes: int = 0
    residual_count: int = 0
    peak_bytes: int | None = None
    temp_bytes: int | None = None
    flops: float | None = None
    compile_s: float = 0.0
    residuals: list[SavedResidual] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # only the variant saves these
    removed: list[str] = field(default_factory=list)  # residuals only the program as written saves
    error: str = ""


@dataclass
class MemoryReport(JsonMixin):
    """Where the memory goes: residuals saved for the backward pass, the compiled peak, remat side by side."""

    residuals: ResidualReport | None = None
    peak: PeakReport | None = None
    remat: RematComparison | None = None
    flops: float | None = None  # the program as written (`cost_analysis()`), beside the remat variant's
    notes: list[str] = field(default_factory=list)


# --- primitives ---------------------------------------------------------------------------------


@dataclass
class ParamNote:
    """One parameter of one equation: its value as JAX prints it and what it means there."""

    name: str
    value: str
    meaning: str  # "" when there is no explanation for it yet


@dataclass
class PrimitiveUse:
    """One equation of the program that binds the primitive, with its parameters explained."""

    stage: str  # jaxpr:K
    eqn: str  # equation id in that stage's model
    text: str  # its first printed line
    params: list[ParamNote] = field(default_factory=list)


@dataclass
class LiveExample:
    """The primitive bound through its `jax.lax` (or `jax`) function on small concrete inputs, in the worker."""

    code: str  # the call, as run: `lax.dot_general(m, n, (([1], [0]), ([], [])))`
    inputs: list[list[str]] = field(default_factory=list)  # [name, expression, value]
    output: str = ""
    output_type: str = ""  # `f32[2,2]`
    error: str = ""


@dataclass
class PrimitiveCard:
    """What one primitive does, for this program: description, its equations' parameters, rules, lowering."""

    name: str
    family: str
    described: bool  # False: "no description yet" (a newer JAX, a custom primitive)
    summary: str = ""
    formula: str = ""
    binds: str = ""  # the function that binds it: `jax.lax.dot_general`
    counts: dict[str, int] = field(default_factory=dict)  # equations per jaxpr stage
    rules: dict[str, bool] = field(default_factory=dict)  # jvp, transpose, batching, lowering: registered?
    rule_notes: list[str] = field(default_factory=list)
    transforms: list[str] = field(default_factory=list)  # what the chain's grad / vmap made of it here
    lowers_to: dict[str, int] = field(default_factory=dict)  # StableHLO op: count
    lowering_note: str = ""  # where `lowers_to` was read from
    uses: list[PrimitiveUse] = field(default_factory=list)  # distinct parameter sets, last stage first
    uses_total: int = 0
    example: LiveExample | None = None


@dataclass
class PrimitiveCards(JsonMixin):
    """A card for every primitive in every jaxpr stage of the chain (sub-jaxprs included)."""

    stage: str = ""  # the stage whose counts the panel lists (the last jaxpr stage)
    cards: list[PrimitiveCard] = field(default_factory=list)

    def card(self, name: str) -> PrimitiveCard | None:
        """Return the card of primitive `name`, or None."""
        return next((c for c in self.cards if c.name == name), None)


# --- sharding: the device mesh, layouts over it, every collective traced to its line (inspectors.sharding) ---


@dataclass
class MeshAxis:
    """One axis of the device mesh: its name, size and type (Explicit, Auto or Manual)."""

    name: str
    size: int
    type: str = "Auto"


@dataclass
class MeshInfo:
    """The program's device mesh: its axes, and the device ids in mesh (row-major) order."""

    axes: list[MeshAxis] = field(default_factory=list)
    device_ids: list[int] = field(default_factory=list)
    source: str = ""  # where it was found: the shardings, a shard_map's mesh, the jaxpr's types


@dataclass
class ShardBlock:
    """One block of an array, [start, stop) per dimension, and the devices that hold it."""

    start: list[int]
    stop: list[int]
    devices: list[int]


@dataclass
class Layout:
    """An array over the mesh: its sharding, the shard each device holds, which device holds which block."""

    role: str  # "input", "output", "equation" (explicit mode: a result's type) or "propagated" (automatic)
    path: str  # the input's or output's pytree path, or the equation's variable
    type: str  # the global type: `f32[256,256]`
    sharding: str  # `P('data', None)`, "replicated", or the sharding's own text
    shard_type: str  # what one device holds: `f32[64,256]`
    replicated: bool = False
    shard_bytes: int = 0
    blocks: list[ShardBlock] = field(default_factory=list)
    eqn: str = ""  # role "equation": the equation id
    primitive: str = ""
    line: int | None = None


@dataclass
class Collective:
    """One collective of the compiled module (an async start/done pair counts once), traced to its line."""

    name: str  # the HLO instruction (`all-gather.1`, `all-reduce-start`)
    opcode: str  # all-gather, all-reduce, reduce-scatter, all-to-all, collective-permute, ...
    asynchronous: bool = False
    type: str = ""  # its result type, as XLA printed it
    operand_bytes: float = 0.0  # per device
    bytes_per_device: float = 0.0  # moved per device (ring estimate, `inspectors.sharding`)
    group_size: int = 1
    groups: str = ""  # `replica_groups=` as printed
    mesh_axes: list[str] = field(default_factory=list)  # the mesh axes its groups run over
    line: int | None = None
    column: int | None = None
    primitive: str = ""  # the jaxpr primitive in its metadata
    phase: str = ""  # "forward", "backward" or ""
    equations: list[str] = field(default_factory=list)  # equation ids of the final jaxpr
    requested: bool = False  # the program asked for it (psum in shard_map, reshard), else XLA inserted it
    reason: str = ""
    computation: str = ""
    text_line: int = 0  # its line in the compiled HLO text


@dataclass
class CollectiveTotal:
    """Collectives rolled up by source line or by mesh axis."""

    line: int | None = None
    axis: str = ""
    count: int = 0
    bytes_per_device: float = 0.0
    opcodes: dict[str, int] = field(default_factory=dict)


@dataclass
class ShardingWarning:
    """A message XLA printed while compiling (a full rematerialization, a resharding), at its line."""

    message: str
    line: int | None = None
    op_name: str = ""  # the jaxpr path in the message's metadata (`jit(f)/add`)
    kind: str = ""  # "full rematerialization", ...


@dataclass
class Sharding(JsonMixin):
    """Where the bytes move: the mesh, each input's and output's layout, every collective and its line."""

    devices: int = 1  # partitions of the compiled module
    platform: str = ""
    available: int = 0  # devices the process had
    mesh: MeshInfo | None = None
    mode: str = ""  # "explicit", "automatic (XLA's propagation)", "manual (shard_map)", "single device"
    inputs: list[Layout] = field(default_factory=list)
    outputs: list[Layout] = field(default_factory=list)
    equations: list[Layout] = field(default_factory=list)  # explicit mode: each equation's result
    propagated: list[Layout] = field(default_factory=list)  # automatic mode: shardings after XLA's propagation
    collectives: list[Collective] = field(default_factory=list)
    by_line: list[CollectiveTotal] = field(default_factory=list)
    by_axis: list[CollectiveTotal] = field(default_factory=list)
    bytes_per_device: float = 0.0
    notes: list[str] = field(default_factory=list)
    time_s: float = 0.0
    warnings: list[ShardingWarning] = field(default_factory=list)  # XLA's, while compiling
