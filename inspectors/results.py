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


MAX_DECODE_DEPTH = 200  # levels of nesting a result may have (a jaxpr nests about 5 per sub-jaxpr)


class SchemaError(ValueError):
    """Data that does not match the result model: a wrong type, an unknown field, too deep."""


def _decode(tp: Any, value: Any, path: str = "$", depth: int = 0) -> Any:
    """Rebuild a value of annotated type `tp` from JSON data, checking every type strictly.

    Driven only by the dataclasses' annotations, so it follows the model as it changes.
    Raises SchemaError (naming the path) on anything the annotations do not allow.
    """
    if depth > MAX_DECODE_DEPTH:
        raise SchemaError(f"{path}: nested deeper than {MAX_DECODE_DEPTH} levels")
    origin = typing.get_origin(tp)
    if tp is Any:
        return _check_json(value, path, depth)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(tp, value, path, depth)
    if value is None:
        raise SchemaError(f"{path}: null where {_name(tp)} is required")
    if origin in (list, tuple) or tp in (list, tuple):
        return _decode_sequence(tp, value, path, depth)
    if origin is dict or tp is dict:
        args = typing.get_args(tp) or (str, Any)
        _expect(value, dict, path, "an object")
        return {
            _decode(args[0], k, f"{path}.<key>", depth + 1): _decode(args[1], v, f"{path}.{k}", depth + 1)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, path, depth)
    return _decode_scalar(tp, value, path)


def _name(tp: Any) -> str:
    """A type's name for messages."""
    return getattr(tp, "__name__", None) or str(tp)


def _expect(value: Any, kind: type, path: str, what: str) -> None:
    """Raise SchemaError unless `value` is a `kind`."""
    if not isinstance(value, kind):
        raise SchemaError(f"{path}: {type(value).__name__} where {what} is required")


def _decode_union(tp: Any, value: Any, path: str, depth: int) -> Any:
    """Decode `X | Y | None`: null if allowed, else the first member that fits."""
    members = typing.get_args(tp)
    if value is None:
        if type(None) in members:
            return None
        raise SchemaError(f"{path}: null where {tp} is required")
    problems = []
    for member in (m for m in members if m is not type(None)):
        try:
            return _decode(member, value, path, depth)
        except SchemaError as exc:
            problems.append(str(exc))
    raise SchemaError(problems[0] if len(problems) == 1 else f"{path}: fits none of {tp}")


def _decode_sequence(tp: Any, value: Any, path: str, depth: int) -> Any:
    """Decode `list[X]` or `tuple[X, ...]` from a JSON array."""
    _expect(value, list, path, "an array")
    args = typing.get_args(tp) or (Any,)
    if typing.get_origin(tp) is tuple or tp is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
        if len(args) != len(value):
            raise SchemaError(f"{path}: {len(value)} items where {len(args)} are required")
        return tuple(
            _decode(a, v, f"{path}[{i}]", depth + 1) for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    return [_decode(args[0], v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]


def _decode_dataclass(tp: Any, value: Any, path: str, depth: int) -> Any:
    """Decode a dataclass from a JSON object: no unknown fields, every required field present."""
    _expect(value, dict, path, f"an object ({tp.__name__})")
    hints = typing.get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    unknown = [k for k in value if k not in fields]
    if unknown:
        raise SchemaError(f"{path}: unknown field {str(unknown[0])[:60]!r} in {tp.__name__}")
    missing = [
        name
        for name, f in fields.items()
        if name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SchemaError(f"{path}: {tp.__name__} lacks {missing[0]!r}")
    return tp(**{k: _decode(hints[k], v, f"{path}.{k}", depth + 1) for k, v in value.items()})


_SCALARS: dict[Any, tuple[type, ...]] = {str: (str,), bool: (bool,), int: (int,), float: (int, float)}


def _decode_scalar(tp: Any, value: Any, path: str) -> Any:
    """Check a str, bool, int or float (an int is a float; a bool is neither int nor float)."""
    allowed = _SCALARS.get(tp)
    if allowed is None:
        raise SchemaError(f"{path}: the model has a type results cannot carry ({_name(tp)})")
    if not isinstance(value, allowed) or (tp is not bool and isinstance(value, bool)):
        raise SchemaError(f"{path}: {type(value).__name__} where {_name(tp)} is required")
    return value


def _check_json(value: Any, path: str, depth: int) -> Any:
    """Check plain JSON data (for fields annotated `Any`): only JSON types, at most the depth cap."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DECODE_DEPTH:
            raise SchemaError(f"{path}: nested deeper than {MAX_DECODE_DEPTH} levels")
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                raise SchemaError(f"{path}: an object key that is not a string")
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            raise SchemaError(f"{path}: {type(item).__name__} is not JSON data")
    return value


def request_from_dict(data: dict[str, Any]) -> Request:
    """Rebuild a `Request` from plain data."""
    return _decode(Request, data)
