"""The inspection result model: plain dataclasses that survive a trip through JSON.

Every stage of `inspectors` returns these types and nothing else, so the same
result can be produced in an isolated worker process and read back by the app.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


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
class Stats:
    """Equation counts by primitive (sub-jaxprs included), before and after."""

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    total_before: int = 0
    total_after: int = 0


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


@dataclass
class OutputSummary:
    """One output leaf: its pytree path, shape, dtype and a preview of values."""

    path: str
    shape: list[int]
    dtype: str
    preview: str


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
class InspectionResult:
    """Everything one inspection found; stages that failed are None."""

    request: Request
    entry: str = ""
    functions: list[str] = field(default_factory=list)
    expression: str = ""
    jaxpr_before: str | None = None
    jaxpr_after: str | None = None
    model_before: JaxprModel | None = None
    model_after: JaxprModel | None = None
    stablehlo: str | None = None
    stablehlo_debug: str | None = None
    hlo: str | None = None
    cost: CostInfo | None = None
    memory: dict[str, int] | None = None
    stats: Stats | None = None
    stage_times: dict[str, float] = field(default_factory=dict)
    timing: Timing | None = None
    outputs: list[OutputSummary] = field(default_factory=list)
    error: InspectError | None = None
    jax_version: str = ""
    output: str = ""  # what the user's code printed (captured by the sandboxed worker)
    profile: Profile | None = None  # time per compiled op, when `request.profile`

    @property
    def ok(self) -> bool:
        """True when every requested stage succeeded."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON-compatible data."""
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        """Return the result as a JSON string."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InspectionResult:
        """Rebuild a result from `to_dict()` output."""
        return _decode(cls, data)

    @classmethod
    def from_json(cls, text: str) -> InspectionResult:
        """Rebuild a result from `to_json()` output."""
        return cls.from_dict(json.loads(text))


def _decode(tp: Any, value: Any) -> Any:
    """Rebuild a value of annotated type `tp` from JSON data."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(inner[0], value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_decode(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _decode(item, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _decode(hints[k], v) for k, v in value.items() if k in names})
    return value


def request_from_dict(data: dict[str, Any]) -> Request:
    """Rebuild a `Request` from plain data."""
    return _decode(Request, data)


# --- the profile: where the time goes (inspectors.profile) --------------------------------------


@dataclass
class ProfilePart:
    """One HLO instruction inside a profiled op, and the part of the op's time it stands for."""

    instruction: str  # `dot.3`, or a fused instruction (`multiply.2`)
    opcode: str
    primitive: str = ""  # the jaxpr primitive in its metadata (`dot_general`)
    line: int | None = None  # the user's line (library calls count for their caller)
    phase: str = ""  # "forward", "backward" or ""
    weight: float = 1.0  # its fraction of the op's time: by estimated FLOPs (elements at least)
    flops: float = 0.0  # estimated from HLO shapes, per execution
    text_line: int = 0  # its line in the compiled HLO text
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
