"""A card for every primitive of a program: what it computes, its parameters here, rules, lowering, a live run.

Built in the worker from the chain's jaxprs (the ClosedJaxprs, for parameter values and the primitives'
registered rules) and from what the result already holds (models, source map, provenance):

    cards = primitives.cards_of(result, closed)   # closed: {K: ClosedJaxpr of stage jaxpr:K}

Descriptions and examples are rows of `docs.DOCS`; parameter explainers are rules in `params`. A primitive
without a row (a newer JAX, a user's own) still gets a card from what JAX knows about it.
"""

from __future__ import annotations

import ast
import functools
from collections import Counter
from collections.abc import Iterator
from typing import Any

from inspectors import styles
from inspectors.jaxpr_model import param_summary, sub_jaxprs, type_str
from inspectors.primitives.docs import DOCS, INPUTS, Doc
from inspectors.primitives.params import EqnView, Operand, explain
from inspectors.results import (
    Equation,
    InspectionResult,
    JaxprModel,
    LiveExample,
    ParamNote,
    PrimitiveCard,
    PrimitiveCards,
    PrimitiveUse,
    walk,
)

__all__ = ["NO_DESCRIPTION", "adopt_examples", "cards_of", "describe", "every_example", "live_example", "live_examples", "registered_rules"]

NO_DESCRIPTION = "no description yet"
MAX_USES = 4  # distinct parameter sets explained per card (a GPT-2 has hundreds of dot_generals)
VALUE_LIMIT = 300  # characters of a printed parameter value kept on a card
SKIPPED_OPS = {"stablehlo.return", "func.return", "return", ""}
CONSTANT_OPS = {"stablehlo.constant"}
CALLS = {"jit", "pjit", "closed_call", "core_call"}  # lowered to a func.call of a function of their own


def describe(name: str) -> Doc | None:
    """Return the description row of primitive `name`, or None when there is none yet."""
    return DOCS.get(name)


# --- walking the chain: raw equations beside their models ---------------------------------------


def pairs(jaxpr: Any, model: JaxprModel) -> Iterator[tuple[Any, Equation]]:
    """Yield (JAX equation, model equation) for every equation, sub-jaxprs included (as the model was built)."""
    for eqn, meqn in zip(jaxpr.eqns, model.eqns, strict=False):
        yield eqn, meqn
        for (_, sub), msub in zip(sub_jaxprs(eqn.params), meqn.subjaxprs, strict=False):
            yield from pairs(sub, msub.jaxpr)


def eqn_view(eqn: Any, meqn: Equation) -> EqnView:
    """What the explainers see: the model's names and types, JAX's param values."""
    ins = [Operand(v.name, v.type) for v in meqn.invars]
    outs = [Operand(v.name, v.type) for v in meqn.outvars]
    return EqnView(meqn.primitive, ins, outs, dict(eqn.params))


def use_of(stage_id: str, eqn: Any, meqn: Equation) -> PrimitiveUse:
    """Explain every parameter of one equation."""
    view = eqn_view(eqn, meqn)
    shown = {**param_summary(eqn.params), **printed_params(one_line(meqn), meqn.primitive, list(eqn.params))}
    notes = []
    for name, value in eqn.params.items():
        text = shown.get(name) or _jaxpr_value(value)  # every param has a text: jaxpr-valued ones a stand-in
        text = text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"
        notes.append(ParamNote(name=name, value=text, meaning=explain(meqn.primitive, name, value, view)))
    return PrimitiveUse(stage=stage_id, eqn=meqn.id, text=one_line(meqn), params=notes)


def printed_params(line: str, primitive: str, keys: list[str]) -> dict[str, str]:
    """Return the params JAX printed in an equation's line (`dimension_numbers=(([1], [0]), ([], []))`), as
    printed: JAX leaves out those at their defaults, so the rest keep `str(value)`."""
    start = line.find(f" {primitive}[")
    if start < 0:
        return {}
    body = line[start + len(primitive) + 2 : line.rfind("]")]
    found = sorted((i, k) for k in keys for i in _starts(body, f"{k}="))
    ends = [i for i, _ in found[1:]] + [len(body)] * bool(found)
    return {k: body[i + len(k) + 1 : j].strip() for (i, k), j in zip(found, ends, strict=True)}


def _starts(text: str, token: str) -> list[int]:
    """Return where `token` starts a word in `text` (at the start or after a space)."""
    return [i for i in range(len(text)) if text.startswith(token, i) and (i == 0 or text[i - 1] == " ")]


def one_line(meqn: Equation) -> str:
    """Return an equation's printed text on one line (a nested jaxpr shown as `…`)."""
    lines = [line.strip() for line in (meqn.text or meqn.primitive).splitlines()]
    if meqn.subjaxprs and len(lines) > 2:
        return f"{lines[0]} … {lines[-1]}"
    return " ".join(lines).replace("[ ", "[").replace(" ]", "]")


def _jaxpr_value(value: Any) -> str:
    """A short stand-in for a jaxpr-valued param (its full text is in the Jaxpr view)."""
    items = value if isinstance(value, (tuple, list)) else [value]
    return ", ".join(f"{{ lambda … {len(getattr(getattr(j, 'jaxpr', j), 'eqns', ()))} eqns }}" for j in items)


class _Seen:
    """Everything the chain holds about one primitive: counts per stage, its JAX object, explained uses."""

    def __init__(self, prim: Any) -> None:
        self.prim = prim
        self.counts: Counter[str] = Counter()
        self.uses: list[PrimitiveUse] = []
        self.keys: set[str] = set()
        self.first: tuple[Any, Equation] | None = None


def collect(result: InspectionResult, closed: dict[int, Any]) -> dict[str, _Seen]:
    """Return what every jaxpr stage holds about each primitive; the last stage's equations are explained first."""
    seen: dict[str, _Seen] = {}
    for stage in reversed(result.jaxpr_stages()):
        jaxpr = closed.get(stage.index or 0)
        if stage.model is None or jaxpr is None:
            continue
        for eqn, meqn in pairs(jaxpr.jaxpr, stage.model):
            entry = seen.setdefault(meqn.primitive, _Seen(eqn.primitive))
            entry.counts[stage.id] += 1
            entry.first = entry.first or (eqn, meqn)
            key = repr(sorted(meqn.params.items())) + "|" + ",".join(v.type for v in meqn.invars)
            if key not in entry.keys and len(entry.uses) < MAX_USES:
                entry.keys.add(key)
                entry.uses.append(use_of(stage.id, eqn, meqn))
    return seen


# --- what JAX registers for it ---------------------------------------------------------------------


def registered_rules(prim: Any) -> dict[str, bool]:
    """Return which rules JAX's public registries hold for a primitive: jvp, transpose, batching, lowering."""
    from jax.interpreters import ad, batching, mlir

    # `mlir._lowerings` is the one table the public `mlir.register_lowering` fills; read, never written.
    lowerings = getattr(mlir, "_lowerings", {})
    by_platform = getattr(mlir, "_platform_specific_lowerings", {})
    return {
        "jvp": prim in ad.primitive_jvps,
        "transpose": prim in ad.primitive_transposes,
        "batching": prim in batching.fancy_primitive_batchers,
        "lowering": prim in lowerings or any(prim in table for table in by_platform.values()),
    }


def rule_notes(name: str, rules: dict[str, bool], family: str, has_subjaxprs: bool) -> list[str]:
    """Say what a missing rule means for this primitive (a table of cases, first match wins)."""
    notes = []
    if not rules["jvp"]:
        if name.startswith("custom_"):
            notes.append(
                "jvp: differentiated by the user's own rule, which JAX calls instead of a registry entry"
            )
        else:
            notes.append("jvp: none registered — differentiating through it fails")
    if not rules["transpose"]:
        if has_subjaxprs or family in ("control", "custom"):
            notes.append("transpose: none in the registry — JAX transposes its inner jaxpr instead")
        else:
            notes.append(
                "transpose: none — it is not linear; grad transposes the linear equations its jvp emits"
            )
    if not rules["batching"]:
        notes.append("batching: none registered — vmap of it fails (or goes through its own rule)")
    return notes


# --- what the chain's transforms made of it here ----------------------------------------------------


def transforms_of(name: str, result: InspectionResult, counts: Counter) -> list[str]:
    """Describe, from provenance and the stage counts, what grad and vmap did with this primitive here."""
    lines = []
    stages = result.jaxpr_stages()
    if len(stages) > 1:
        lines.append(" · ".join(f"{s.id} ({s.name}): {counts.get(s.id, 0)}" for s in stages))
    prov = result.provenance
    last = stages[-1].model if stages else None
    ids = {e.id for e in walk(last) if e.primitive == name}
    if prov and prov.grad and ids:
        fwd, bwd = len(ids & set(prov.grad.forward)), len(ids & set(prov.grad.backward))
        if fwd or bwd:
            lines.append(
                f"grad: {fwd} in the forward pass (jvp rules), {bwd} in the backward pass (transposes)"
            )
    if prov and prov.vmap:
        changed = [m for m in prov.vmap.matched if m.primitive == name and m.changed_params]
        for m in changed[:3]:
            edits = "; ".join(f"{k}: {v}" for k, v in m.changed_params.items())
            lines.append(f"vmap's batching rule rewrote {m.before} → {m.after}: {edits}")
        added = [i for i in prov.vmap.introduced if i.primitive == name]
        if added:
            lines.append(f"vmap introduced {len(added)} of these ({', '.join(i.id for i in added[:6])})")
    return lines


# --- what it lowers to ------------------------------------------------------------------------------


def lowering_from_map(name: str, result: InspectionResult) -> dict[str, int]:
    """Count the StableHLO ops the source map attributes to this primitive in the program."""
    smap = result.source_map
    if smap is None:
        return {}
    if name in CALLS:
        calls = sum(1 for op in smap.stablehlo_ops if op.opcode in ("call", "func.call") and op.scope)
        return {"func.call": calls} if calls else {}
    ops = Counter(
        op.opcode for op in smap.stablehlo_ops if op.primitive == name and op.opcode not in SKIPPED_OPS
    )
    return dict(ops.most_common())


def lowering_alone(eqn: Any) -> dict[str, int]:
    """Lower one equation on its own (its params and input types) and count the StableHLO ops it becomes."""
    import jax

    avals = [v.aval for v in eqn.invars]
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals]
    prim, params = eqn.primitive, dict(eqn.params)
    lowered = jax.jit(lambda *xs: prim.bind(*xs, **params)).lower(*specs)
    module = lowered.compiler_ir("stablehlo")
    ops: Counter[str] = Counter()

    def visit(op: Any, depth: int) -> None:
        name = op.operation.name
        if name not in ("func.func", "builtin.module") and name not in SKIPPED_OPS:
            ops["func.call" if name == "call" else name] += 1
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    visit(inner, depth + 1)

    for op in module.body.operations:
        visit(op, 0)
    return dict(ops.most_common())


def lowering_of(name: str, seen: _Seen, result: InspectionResult) -> tuple[dict[str, int], str]:
    """Return (ops, where they were read): the program's source map, else this equation lowered alone."""
    found = lowering_from_map(name, result)
    # Ops a lowering rule traces through `mlir.lower_fun` carry the inner primitives' names, not this one's:
    # only constants left under its name means the real ops are elsewhere, so lower it alone to see them.
    if set(found) - CONSTANT_OPS:
        return found, "this program's StableHLO (source map)"
    if seen.first is None:
        return {}, ""
    try:
        return lowering_alone(
            seen.first[0]
        ), "no op of this program's StableHLO carries its name: its first equation, lowered on its own"
    except Exception as exc:  # noqa: BLE001 - a primitive that needs its context (a mesh axis) to lower
        return {}, f"not lowered on its own: {type(exc).__name__}"


# --- the live example ------------------------------------------------------------------------------


def show(value: Any) -> str:
    """Return a value as the card prints it: arrays by numpy, keys by their data, pytrees leaf by leaf."""
    import jax
    import numpy as np

    leaves = jax.tree_util.tree_leaves(value)
    parts = []
    for leaf in leaves:
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        parts.append(" ".join(np.array2string(np.asarray(leaf), precision=4, threshold=24).split()))
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def _types(value: Any) -> str:
    import jax

    return ", ".join(type_str(jax.typeof(leaf)) for leaf in jax.tree_util.tree_leaves(value))


def example_namespace() -> dict[str, Any]:
    """The names an example's code may use: jax, jnp, lax, P and the example helpers."""
    import jax
    import jax.extend  # noqa: F401 - threefry_2x32 lives there
    import jax.numpy as jnp
    from jax import lax
    from jax.sharding import PartitionSpec

    return {"jax": jax, "jnp": jnp, "lax": lax, "P": PartitionSpec, "clip_gradient": _clip_gradient()}


@functools.cache
def _clip_gradient() -> Any:
    """A `jax.custom_vjp` function for the custom_vjp_call example: identity, its gradient clipped to [-1, 1]."""
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def clip_gradient(x: Any) -> Any:
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (jnp.clip(g, -1.0, 1.0),))
    return clip_gradient


def example_inputs(code: str) -> list[str]:
    """Return the standard inputs an example's code reads, in `INPUTS` order."""
    names = {n.id for n in ast.walk(ast.parse(code, mode="eval")) if isinstance(n, ast.Name)}
    return [k for k in INPUTS if k in names]


_RAN: dict[str, LiveExample] = {}  # examples already run in this process (they never depend on the program)
STATIC_INPUTS = {"mesh"}  # inputs that are not arrays: closed over, never passed as arguments
# The examples are tiny: XLA's cheapest compile. One compile of all a program's examples took 1.3-1.6 s in a
# fresh process on the 2-core machine, against 3.2-3.5 s for the same 18 run eagerly (one compile each).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def live_examples(names: list[str]) -> dict[str, LiveExample]:
    """Run the examples of several primitives in one `jax.jit` over all their calls (one compile, not one per
    primitive). The inputs are its arguments, so nothing is constant-folded; an example that does not trace
    inside jit runs on its own (`live_example`)."""
    import jax

    todo = [n for n in names if n not in _RAN and DOCS.get(n) and DOCS[n].example]
    if todo:
        namespace = example_namespace()
        used = sorted({v for n in todo for v in example_inputs(DOCS[n].example)})
        values = {v: eval(INPUTS[v], namespace) for v in used}  # noqa: S307 - our own table, never user text
        arrays = {v: x for v, x in values.items() if v not in STATIC_INPUTS}

        def run(inputs: dict[str, Any]) -> dict[str, Any]:
            scope = {**namespace, **values, **inputs}
            outs = {}
            for n in todo:
                try:
                    outs[n] = eval(DOCS[n].example, scope)  # noqa: S307 - our own table
                except Exception:  # noqa: BLE001, S112 - this one runs on its own below
                    continue
            return outs

        try:
            outs = jax.jit(run).lower(arrays).compile(FAST_COMPILE)(arrays)
        except Exception:  # noqa: BLE001 - then every example runs on its own
            outs = {}
        for n, out in outs.items():
            inputs = [[v, INPUTS[v], show(values[v])] for v in example_inputs(DOCS[n].example)]
            _RAN[n] = LiveExample(
                code=DOCS[n].example, inputs=inputs, output=show(out), output_type=_types(out)
            )
    found = {n: _RAN.get(n) or live_example(n) for n in names}
    return {n: ex for n, ex in found.items() if ex is not None}


def every_example() -> dict[str, dict[str, Any]]:
    """Run every primitive's example (one compile) and return them as plain data, by primitive."""
    import dataclasses

    names = [n for n, doc in DOCS.items() if doc.example]
    return {n: dataclasses.asdict(ex) for n, ex in live_examples(names).items()}


def adopt_examples(data: Any) -> int:
    """Take examples `every_example` computed in another process (the sandbox's prefetch) as run here.

    Only well-formed examples of this table's primitives, with this table's code, are taken: return how many.
    """
    from inspectors.results import SchemaError, _decode

    taken = 0
    for name, raw in data.items() if isinstance(data, dict) else ():
        doc = DOCS.get(name)
        try:
            example = _decode(LiveExample, raw)
        except SchemaError:
            continue
        if doc is not None and example.code == doc.example and not example.error:
            _RAN[name] = example
            taken += 1
    return taken


@functools.cache
def live_example(name: str) -> LiveExample | None:
    """Run primitive `name`'s example call on its own small inputs; None when it has no example."""
    doc = DOCS.get(name)
    if doc is None or not doc.example:
        return None
    namespace = example_namespace()
    example = LiveExample(code=doc.example)
    try:
        for var in example_inputs(doc.example):
            namespace[var] = eval(INPUTS[var], namespace)  # noqa: S307 - our own table, never user text
            example.inputs.append([var, INPUTS[var], show(namespace[var])])
        out = eval(doc.example, namespace)  # noqa: S307 - our own table
        example.output, example.output_type = show(out), _types(out)
    except Exception as exc:  # noqa: BLE001 - an example a backend cannot run (a mesh it lacks) says why
        example.error = f"{type(exc).__name__}: {exc}"[:300]
    return example


# --- the cards ----------------------------------------------------------------------------------


def card(
    name: str, seen: _Seen, result: InspectionResult, example: LiveExample | None = None, lower: bool = True
) -> PrimitiveCard:
    """Build one primitive's card."""
    doc = DOCS.get(name)
    has_subs = bool(seen.first and seen.first[1].subjaxprs)
    family = styles.family(name, has_subs)
    rules = registered_rules(seen.prim)
    ops, where = lowering_of(name, seen, result) if lower else ({}, "")
    last = result.jaxpr_stages()[-1].id if result.jaxpr_stages() else ""
    return PrimitiveCard(
        name=name,
        family=family,
        described=doc is not None,
        summary=doc.summary if doc else NO_DESCRIPTION,
        formula=doc.formula if doc else "",
        binds=doc.binds if doc else "",
        counts={k: seen.counts[k] for k in sorted(seen.counts)},
        rules=rules,
        rule_notes=rule_notes(name, rules, family, has_subs),
        transforms=transforms_of(name, result, seen.counts),
        lowers_to=ops,
        lowering_note=where,
        uses=seen.uses,
        uses_total=seen.counts.get(last, 0) or sum(seen.counts.values()),
        example=example,
    )


def cards_of(
    result: InspectionResult, closed: dict[int, Any], with_examples: bool = True, lower: bool = True
) -> PrimitiveCards:
    """Return a card for every primitive in every jaxpr stage: most used in the last stage first.

    `with_examples=False` skips the live examples, `lower=False` the lowering of equations alone (tests that
    only read descriptions and parameters)."""
    seen = collect(result, closed)
    stages = result.jaxpr_stages()
    last = stages[-1].id if stages else ""
    order = sorted(seen, key=lambda n: (-seen[n].counts.get(last, 0), -sum(seen[n].counts.values()), n))
    examples = live_examples(order) if with_examples else {}
    return PrimitiveCards(
        stage=last, cards=[_guarded(n, seen[n], result, examples.get(n), lower) for n in order]
    )


def _guarded(
    name: str, seen: _Seen, result: InspectionResult, example: LiveExample | None, lower: bool
) -> PrimitiveCard:
    """Build a card; a primitive whose card fails (params shaped unlike any rule expects) still gets one."""
    try:
        return card(name, seen, result, example, lower)
    except Exception as exc:  # noqa: BLE001 - one odd primitive must not cost the program its other cards
        doc = DOCS.get(name)
        return PrimitiveCard(
            name=name,
            family=styles.family(name),
            described=doc is not None,
            summary=doc.summary if doc else NO_DESCRIPTION,
            counts=dict(seen.counts),
            rule_notes=[f"this card could not be completed: {type(exc).__name__}"],
        )


def listing(cards: PrimitiveCards | None) -> str | None:
    """Return one line per primitive: name, count in the last stage, what it computes, what it lowers to."""
    if cards is None:
        return None
    rows = []
    for c in cards.cards:
        count = c.counts.get(cards.stage, 0)
        ops = ", ".join(c.lowers_to) or "-"
        rows.append(f"{c.name:<24} {count:>5}  {first_sentence(c.summary):<72}  {ops}")
    return "\n".join(rows)


def first_sentence(text: str, limit: int = 72) -> str:
    """Return the first sentence of a description, cut to `limit` characters."""
    head = text.split(". ")[0].split(": ")[0].rstrip(".")
    return head if len(head) <= limit else head[: limit - 1] + "…"
