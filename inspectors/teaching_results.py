"""Result types for the teaching views: source map, provenance, walkthrough.

Plain dataclasses that survive a trip through JSON, like `inspectors.results`:
the walkthrough is produced in an isolated worker and read back by the app;
the source map and provenance are computed in the app from an
`InspectionResult`, without JAX.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from inspectors.results import InspectError, InspectionResult, JaxprModel, _decode

T = TypeVar("T")


class JsonMixin:
    """`to_dict`/`to_json` and `from_dict`/`from_json` for a result dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """Return the value as plain JSON-compatible data."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

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


@dataclass
class SourceMap(JsonMixin):
    """Source line ↔ jaxpr equations ↔ StableHLO ops ↔ HLO instructions."""

    filename: str
    entry: str = ""
    entry_span: list[int] = field(default_factory=list)  # [first, last] line of the entry `def`
    lines: list[LineInfo] = field(default_factory=list)
    stablehlo_ops: list[OpLoc] = field(default_factory=list)
    hlo_ops: list[OpLoc] = field(default_factory=list)


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
