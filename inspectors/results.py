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
