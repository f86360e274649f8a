"""Provenance of a transformation, read from models and texts. No JAX here.

- grad: equations of the forward (jvp) and backward (transpose) pass, from each
  equation's name stack, and the residuals the forward pass saves for the backward.
- vmap: variables that gained a batch dimension, equations vmap introduced.
- jit: XLA fusions, constants folded away, equations that left no HLO.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from inspectors import hlo_text
from inspectors.mapping import phase, walk
from inspectors.results import (
    BatchedVar,
    ConstantInfo,
    Equation,
    FusionInfo,
    GradProvenance,
    InspectionResult,
    IntroducedEqn,
    JaxprModel,
    JitProvenance,
    MatchedEqn,
    Provenance,
    Residual,
    SourceMap,
    VarInfo,
    VmapProvenance,
)


def provenance_of(result: InspectionResult, smap: SourceMap) -> Provenance:
    """What grad, vmap and jit did to this result's program (each part only where it applies)."""
    out = Provenance()
    grad = grad_provenance(result.jaxpr().model)
    out.grad = grad if grad.forward or grad.backward else None
    vmap = vmap_provenance(result.jaxpr(0).model, result.jaxpr().model)
    out.vmap = vmap if vmap.batched or vmap.introduced else None
    out.jit = jit_provenance(result, smap) if result.text_of("hlo") else None
    return out


# --- grad -------------------------------------------------------------------------------------


def grad_provenance(model: JaxprModel | None) -> GradProvenance:
    """Split a grad's equations into forward and backward passes; find the residuals."""
    out = GradProvenance()
    for eqn in walk(model):
        {"forward": out.forward, "backward": out.backward}.get(phase(eqn.name_stack), out.other).append(
            eqn.id
        )
    for scope, jaxpr in scopes(model):
        out.residuals.extend(residuals(jaxpr, scope))
    return out


def scopes(model: JaxprModel | None, prefix: str = "") -> Iterator[tuple[str, JaxprModel]]:
    """Yield (id prefix, jaxpr) for a model and every sub-jaxpr: each is one naming scope."""
    if model is None:
        return
    yield prefix, model
    for eqn in model.eqns:
        for sub in eqn.subjaxprs:
            yield from scopes(sub.jaxpr, f"{eqn.id}/{sub.role}/")


def residuals(jaxpr: JaxprModel, scope: str = "") -> list[Residual]:
    """Return the variables forward equations of one jaxpr produce and backward ones consume."""
    produced: dict[str, tuple[Equation, VarInfo]] = {}
    found: dict[str, Residual] = {}
    for eqn in jaxpr.eqns:
        kind = phase(eqn.name_stack)
        if kind == "backward":
            for v in eqn.invars:
                if v.literal or v.name not in produced:
                    continue
                src, info = produced[v.name]
                res = found.setdefault(v.name, Residual(v.name, info.type, scope, src.id))
                if eqn.id not in res.consumed_by:
                    res.consumed_by.append(eqn.id)
        elif kind == "forward":
            produced.update({v.name: (eqn, v) for v in eqn.outvars if not v.dropped})
    return list(found.values())


# --- vmap -------------------------------------------------------------------------------------

_TYPE = re.compile(r"^(\w+)\[([\d,\s]*)\]")
_NAME = re.compile(r"[A-Za-z_]\w*")


def shape_of(type_str: str) -> tuple[str, tuple[int, ...]] | None:
    """Parse `f32[8,4]` into ("f32", (8, 4)); None for other types."""
    m = _TYPE.match(type_str)
    if not m:
        return None
    dims = tuple(int(d) for d in m.group(2).replace(" ", "").split(",") if d)
    return m.group(1), dims


def batch_axis(before: str, after: str) -> int | None:
    """Return the axis vmap inserted into `before` to give `after`, or None if none was."""
    b, a = shape_of(before), shape_of(after)
    if not b or not a or b[0] != a[0] or len(a[1]) != len(b[1]) + 1:
        return None
    return next((i for i in range(len(a[1])) if a[1][:i] + a[1][i + 1 :] == b[1]), None)


def strip_vmap(provenance: str) -> str:
    """Return a provenance without its vmap layers: `vmap(transpose(jvp))` → `transpose(jvp)`."""
    names = [n for n in _NAME.findall(provenance) if n != "vmap"]
    return "(".join(names) + ")" * max(len(names) - 1, 0)


def _leaf_eqns(model: JaxprModel | None) -> list[Equation]:
    """Equations that compute (not the containers jit/custom_jvp around them)."""
    return [e for e in walk(model) if not e.subjaxprs or e.primitive in ("cond", "while", "scan")]


def vmap_provenance(before: JaxprModel | None, after: JaxprModel | None) -> VmapProvenance:
    """Compare the per-example jaxpr with the vmapped one: batched variables, new equations."""
    out = VmapProvenance()
    if before is None or after is None or not any("vmap" in e.provenance for e in walk(after)):
        return out
    out.batched.extend(_batched_io(before.invars, after.invars, "input"))
    if len(before.outvars) == len(after.outvars):
        out.batched.extend(_batched_io(before.outvars, after.outvars, "output"))
    queues: dict[tuple[int | None, str], list[Equation]] = defaultdict(list)
    for eqn in _leaf_eqns(before):
        queues[_key(eqn)].append(eqn)
    for eqn in _leaf_eqns(after):
        inner = strip_vmap(eqn.provenance)
        queue = queues.get(_key(eqn)) if inner in ("", "jvp") else None
        if queue:
            _match(out, queue.pop(0), eqn)
        else:
            out.introduced.append(IntroducedEqn(eqn.id, eqn.primitive, inner or "vmap"))
    return out


def _key(eqn: Equation) -> tuple[int | None, str]:
    """Equations correspond across the transform by source line and primitive."""
    return (eqn.source.line if eqn.source else None, eqn.primitive)


def _batched_io(before: list[VarInfo], after: list[VarInfo], where: str) -> list[BatchedVar]:
    """Compare inputs (or outputs) by position."""
    out = []
    for b, a in zip(before, after, strict=False):
        axis = batch_axis(b.type, a.type)
        if axis is not None:
            out.append(BatchedVar(a.name, where, b.type, a.type, axis))
    return out


def _match(out: VmapProvenance, before: Equation, after: Equation) -> None:
    """Record a matched pair, its batched outputs and the params vmap changed."""
    changed = {
        k: f"{before.params.get(k, '')} → {v}"
        for k, v in after.params.items()
        if before.params.get(k, v) != v
    }
    out.matched.append(MatchedEqn(before.id, after.id, after.primitive, changed))
    for b, a in zip(before.outvars, after.outvars, strict=False):
        axis = batch_axis(b.type, a.type)
        if axis is not None:
            out.batched.append(BatchedVar(a.name, after.id, b.type, a.type, axis))


# --- jit --------------------------------------------------------------------------------------

_CONST_SHLO = re.compile(r"stablehlo\.constant\s+dense<(.*)>\s*:\s*(tensor<[^>]*>)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan)|true|false")


def jit_provenance(result: InspectionResult, smap: SourceMap) -> JitProvenance:
    """Fusions, folded constants and equations with no HLO left, for a lowered and compiled result."""
    module = hlo_text.parse(result.text_of("hlo") or "")
    return JitProvenance(
        fusions=fusions(smap, module),
        folded_constants=folded_constants(result.text_of("stablehlo-debug") or "", module, smap),
        eqns_without_hlo=eqns_without_hlo(result.jaxpr().model, smap),
        hlo_instructions=len(smap.hlo_ops),
        stablehlo_ops=len(smap.stablehlo_ops),
    )


def fusions(smap: SourceMap, module: hlo_text.HloModule) -> list[FusionInfo]:
    """Return every fusion instruction with the instructions it fused and their lines."""
    by_computation = defaultdict(list)
    for op in smap.hlo_ops:
        by_computation[op.computation].append(op)
    instructions = {(i.computation, i.name): i for i in module.instructions()}
    out = []
    for op in smap.hlo_ops:
        if op.opcode != "fusion":
            continue
        ins = instructions.get((op.computation, op.name))
        called = ins.calls if ins else ""
        inside = [i for i in by_computation.get(called, []) if i.opcode != "parameter"]
        lines = sorted({i.line for i in inside if i.line is not None} | ({op.line} if op.line else set()))
        out.append(
            FusionInfo(
                name=op.name,
                kind=ins.fusion_kind if ins else "",
                computation=called,
                text_line=op.text_line,
                instructions=[i.name for i in inside],
                opcodes=[i.opcode for i in inside],
                lines=lines,
            )
        )
    return out


def constant_values(text: str) -> tuple[float | str, ...]:
    """Normalise a constant's printed value to a tuple of numbers (`1.000000e+00` == `1`)."""
    values = []
    for token in _NUMBER.findall(text.replace("0x", " 0x")):
        try:
            values.append(float(token))
        except ValueError:
            values.append(token)
    return tuple(values[:1]) if len(set(values)) == 1 else tuple(values)  # a splat is its value


def folded_constants(stablehlo_debug: str, hlo: hlo_text.HloModule, smap: SourceMap) -> list[ConstantInfo]:
    """Return StableHLO constants whose value no HLO constant holds (best effort)."""
    kept = {constant_values(i.call) for i in hlo.instructions() if i.opcode == "constant"}
    lines = {op.text_line: op.line for op in smap.stablehlo_ops}
    out = []
    for number, line in enumerate(stablehlo_debug.splitlines(), start=1):
        m = _CONST_SHLO.search(line)
        if not m:
            continue
        values = constant_values(m.group(1))
        if values and values not in kept:
            out.append(ConstantInfo(m.group(1), m.group(2), number, lines.get(number)))
    return out


def eqns_without_hlo(model: JaxprModel | None, smap: SourceMap) -> list[str]:
    """Return ids of computing equations whose line and primitive no HLO instruction carries."""
    carried = {(op.line, op.primitive) for op in smap.hlo_ops if op.line is not None}
    return [
        e.id
        for e in walk(model)
        if not e.subjaxprs and e.source is not None and (e.source.line, e.primitive) not in carried
    ]
