"""Diffs between two stages of the chain: what a transform or an XLA pass changed. No JAX here.

- Two jaxprs: a structural diff (equations matched in order by primitive and source
  line; added, removed, changed, each with where it came from: the forward or
  backward pass of a grad, batched by vmap) beside a line diff, and a "what changed"
  summary (counts by primitive, new sub-jaxprs, residuals).
- Two HLO modules (passes, before/after optimization): a line diff and a summary
  ("fusion: 14 instructions → 3 fusions").
- Anything else: a line diff.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter, defaultdict

from inspectors import hlo_text
from inspectors.mapping import phase
from inspectors.provenance import grad_provenance
from inspectors.results import (
    EqnChange,
    Equation,
    InspectionResult,
    JaxprDiff,
    JaxprModel,
    Stage,
    TextDiff,
    walk,
)

HLO_KINDS = ("hlo", "hlo-pass")
CONTEXT_LINES = 2
SYMBOLS = {"added": "+", "removed": "-", "changed": "~", "same": "="}


class DiffError(ValueError):
    """A diff asked of stages that are missing or have no text."""


def diff(result: InspectionResult, a: str, b: str) -> JaxprDiff | TextDiff:
    """Diff stage `a` against stage `b` of a result (ids such as `jaxpr:1`, `hlo-pass:3`)."""
    first, second = _stage(result, a), _stage(result, b)
    if first.kind == second.kind == "jaxpr" and first.model and second.model:
        return jaxpr_diff(first, second, _transforms_between(result, first, second))
    if first.kind in HLO_KINDS and second.kind in HLO_KINDS:
        return hlo_diff(first, second)
    return text_diff(first, second)


def parse_pair(spec: str) -> tuple[str, str]:
    """Split `jaxpr:1..jaxpr:2` into its two stage ids."""
    a, sep, b = spec.partition("..")
    if not (sep and a and b):
        raise DiffError(f"write a diff as A..B, e.g. jaxpr:1..jaxpr:2 (got {spec!r})")
    return a, b


def _stage(result: InspectionResult, stage_id: str) -> Stage:
    """Return a stage with its full text, or raise DiffError."""
    stage = result.stage(stage_id)
    if stage is None:
        ids = ", ".join(s.id for s in result.stages)
        raise DiffError(f"no stage {stage_id!r} in this result; its stages: {ids}")
    if stage.text is None:
        raise DiffError(f"stage {stage_id} has no text" + (f": {stage.note}" if stage.note else ""))
    return stage


def _transforms_between(result: InspectionResult, a: Stage, b: Stage) -> str:
    """Return the transforms applied from jaxpr stage `a` to `b` (`grad, vmap(in_axes=(None, 0))`)."""
    lo, hi = sorted((a.index or 0, b.index or 0))
    steps = [s.transform for s in result.jaxpr_stages() if lo < (s.index or 0) <= hi and s.transform]
    return ", ".join(steps)


# --- jaxprs -----------------------------------------------------------------------------------


def origin(name_stack: str) -> str:
    """Where an equation came from: `forward`/`backward` (grad), `batched` (vmap), or ""."""
    parts = [phase(name_stack)] if phase(name_stack) else []
    if "vmap(" in name_stack or name_stack.startswith("vmap"):
        parts.append("batched")
    return ", ".join(parts)


def _key(eqn: Equation) -> tuple[str, int | None]:
    """Equations match when they apply the same primitive for the same source line."""
    return eqn.primitive, eqn.source.line if eqn.source else None


def match(before: list[Equation], after: list[Equation]) -> list[tuple[int | None, int | None]]:
    """Pair equations in order: each of `before` takes the first unused equal-keyed one after the last pair.

    Returns (index in before, index in after) pairs in the order of `after`, with
    None for an equation that has no partner. Greedy and monotone: linear in size
    up to a log factor, so it scales to 12,000-equation grads.
    """
    positions: dict[tuple, list[int]] = defaultdict(list)
    for j, eqn in enumerate(after):
        positions[_key(eqn)].append(j)
    partner: dict[int, int] = {}
    last = -1
    for i, eqn in enumerate(before):
        candidates = positions.get(_key(eqn), [])
        k = bisect.bisect_right(candidates, last)
        if k < len(candidates):
            last = candidates[k]
            partner[last] = i
    pairs: list[tuple[int | None, int | None]] = []
    next_before = 0  # removed equations are placed just before the partner of the next kept one
    for j in range(len(after)):
        i = partner.get(j)
        if i is None:
            pairs.append((None, j))
            continue
        pairs.extend((r, None) for r in range(next_before, i))
        pairs.append((i, j))
        next_before = i + 1
    pairs.extend((r, None) for r in range(next_before, len(before)))
    return pairs


def _signature_changes(a: Equation, b: Equation) -> list[str]:
    """Describe how two matched equations differ: types and params."""
    changes = []
    types_a = [v.type for v in a.invars + a.outvars]
    types_b = [v.type for v in b.invars + b.outvars]
    if types_a != types_b:
        outs_a = " ".join(v.type for v in a.outvars)
        outs_b = " ".join(v.type for v in b.outvars)
        ins_a = " ".join(v.type for v in a.invars)
        ins_b = " ".join(v.type for v in b.invars)
        if outs_a != outs_b:
            changes.append(f"out: {outs_a} → {outs_b}")
        if ins_a != ins_b:
            changes.append(f"in: {ins_a} → {ins_b}")
    for name in sorted(set(a.params) | set(b.params)):
        pa, pb = a.params.get(name), b.params.get(name)
        if pa != pb:
            changes.append(f"{name}: {pa if pa is not None else '—'} → {pb if pb is not None else '—'}")
    return changes


def jaxpr_diff(a: Stage, b: Stage, transform: str = "") -> JaxprDiff:
    """Structural and line diff of two jaxpr stages."""
    before, after = list(walk(a.model)), list(walk(b.model))
    out = JaxprDiff(a=a.id, b=b.id, transform=transform)
    for i, j in match(before, after):
        out.rows.append(_row(before[i] if i is not None else None, after[j] if j is not None else None))
    out.counts = {s: sum(r.status == s for r in out.rows) for s in ("added", "removed", "changed", "same")}
    count_a, count_b = Counter(e.primitive for e in before), Counter(e.primitive for e in after)
    out.primitives = {
        p: [count_a[p], count_b[p]]
        for p in sorted(set(count_a) | set(count_b), key=lambda p: (-abs(count_b[p] - count_a[p]), p))
        if count_a[p] != count_b[p]
    }
    unlabelled = transform if transform and "," not in transform else "other"
    out.origins = dict(Counter(r.origin or unlabelled for r in out.rows if r.status == "added").most_common())
    out.new_subjaxprs = _new_subjaxprs(a.model, b.model)
    out.residuals = len(grad_provenance(b.model).residuals) - len(grad_provenance(a.model).residuals)
    out.summary = _jaxpr_summary(out, len(before), len(after))
    out.line_diff, out.removed, out.added = line_changes(a.text or "", b.text or "", a.id, b.id)
    return out


def _row(a: Equation | None, b: Equation | None) -> EqnChange:
    """One structural row for a matched pair or an unmatched equation."""
    eqn = b or a
    assert eqn is not None
    changes = _signature_changes(a, b) if a and b else []
    status = "added" if a is None else "removed" if b is None else "changed" if changes else "same"
    return EqnChange(
        status=status,
        primitive=eqn.primitive,
        before=a.id if a else None,
        after=b.id if b else None,
        origin=origin(eqn.name_stack),
        line=eqn.source.line if eqn.source else None,
        text_before=a.text if a else "",
        text_after=b.text if b else "",
        changes=changes,
    )


def _new_subjaxprs(a: JaxprModel | None, b: JaxprModel | None) -> list[str]:
    """Return `primitive: role` of sub-jaxprs `b` has more of than `a`."""
    roles_a = Counter(f"{e.primitive}: {s.role}" for e in walk(a) for s in e.subjaxprs)
    roles_b = Counter(f"{e.primitive}: {s.role}" for e in walk(b) for s in e.subjaxprs)
    return sorted((roles_b - roles_a).elements())


def _jaxpr_summary(d: JaxprDiff, n_a: int, n_b: int) -> list[str]:
    """The "what changed" lines of a jaxpr diff."""
    c = d.counts
    lines = [
        f"{d.a} → {d.b}" + (f" ({d.transform})" if d.transform else "") + f": {n_a} → {n_b} equations",
        f"{c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['same']} unchanged",
    ]
    if d.origins:
        lines.append("added: " + ", ".join(f"{n} {o}" for o, n in d.origins.items()))
    if d.primitives:
        lines.append("by primitive: " + ", ".join(f"{p} {x} → {y}" for p, (x, y) in d.primitives.items()))
    if d.new_subjaxprs:
        lines.append("new sub-jaxprs: " + ", ".join(d.new_subjaxprs))
    if d.residuals > 0:
        lines.append(f"residuals: {_plural(d.residuals, 'value')} the forward pass saves for the backward pass")
    return lines


# --- text stages ------------------------------------------------------------------------------


def lines_of(text: str) -> list[str]:
    """Split a stage's text into lines numbered as the explorer numbers them (on `\\n`; no trailing empty line)."""
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def line_changes(a: str, b: str, name_a: str, name_b: str, context: int = CONTEXT_LINES) -> tuple[list[str], list[int], list[int]]:
    """Return a unified line diff of two texts and the lines it removes from `a` and adds to `b` (1-based).

    One `difflib.SequenceMatcher` serves both: the diff is what `difflib.unified_diff`
    prints from its grouped opcodes, and the grouped opcodes hold every change.
    """
    left, right = lines_of(a), lines_of(b)
    out: list[str] = []
    removed: list[int] = []
    added: list[int] = []
    for group in difflib.SequenceMatcher(None, left, right).get_grouped_opcodes(context):
        if not out:
            out += [f"--- {name_a}", f"+++ {name_b}"]
        out.append(f"@@ -{_hunk_range(group[0][1], group[-1][2])} +{_hunk_range(group[0][3], group[-1][4])} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in left[i1:i2]]
                continue
            out += ["-" + line for line in left[i1:i2]]
            out += ["+" + line for line in right[j1:j2]]
            removed += range(i1 + 1, i2 + 1)
            added += range(j1 + 1, j2 + 1)
    return out, removed, added


def _hunk_range(start: int, stop: int) -> str:
    """A hunk's line range as `difflib.unified_diff` writes it (`3`, `3,4`, `2,0` for none)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def text_diff(a: Stage, b: Stage) -> TextDiff:
    """Line diff of two text stages of any kind."""
    out = TextDiff(a=a.id, b=b.id)
    out.line_diff, out.removed, out.added = line_changes(a.text or "", b.text or "", a.id, b.id)
    out.summary = [f"{a.id} → {b.id}: {len(out.added)} lines added, {len(out.removed)} removed"]
    return out


def hlo_diff(a: Stage, b: Stage) -> TextDiff:
    """Line diff of two HLO modules, with what the pass did to the executed instructions."""
    out = text_diff(a, b)
    counts_a = hlo_text.count_opcodes(a.text or "")
    counts_b = hlo_text.count_opcodes(b.text or "")
    out.opcodes = {
        op: [counts_a.get(op, 0), counts_b.get(op, 0)]
        for op in sorted(set(counts_a) | set(counts_b), key=lambda o: (-abs(counts_b.get(o, 0) - counts_a.get(o, 0)), o))
        if counts_a.get(op, 0) != counts_b.get(op, 0)
    }
    out.summary = [_hlo_headline(b, counts_a, counts_b), *out.summary]
    if out.opcodes:
        out.summary.append("by opcode: " + ", ".join(f"{op} {x} → {y}" for op, (x, y) in out.opcodes.items()))
    return out


def _hlo_headline(b: Stage, counts_a: dict[str, int], counts_b: dict[str, int]) -> str:
    """`fusion: 14 instructions → 3 fusions`, or the instruction totals before and after."""
    name = b.pass_name or b.name or b.id
    fusions = counts_b.get("fusion", 0) - counts_a.get("fusion", 0)
    others_a = sum(n for op, n in counts_a.items() if op != "fusion")
    others_b = sum(n for op, n in counts_b.items() if op != "fusion")
    if fusions > 0 and others_b < others_a:
        return f"{name}: {_plural(others_a - others_b, 'instruction')} → {_plural(fusions, 'fusion')}"
    return f"{name}: {sum(counts_a.values())} → {_plural(sum(counts_b.values()), 'instruction')}"


def _plural(n: int, noun: str) -> str:
    """`1 fusion`, `3 fusions`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- printing ---------------------------------------------------------------------------------


def format_diff(d: JaxprDiff | TextDiff) -> str:
    """Return a diff as the CLI prints it: summary, structural rows (jaxprs), line diff."""
    lines = [f"# {s}" for s in d.summary]
    if isinstance(d, JaxprDiff):
        lines.append("")
        lines.extend(_format_row(r) for r in d.rows if r.status != "same")
    lines.append("")
    lines.extend(d.line_diff)
    return "\n".join(lines)


def _format_row(r: EqnChange) -> str:
    """One structural row: symbol, primitive, origin, line, the equation (before → after)."""
    where = f"line {r.line}" if r.line else ""
    head = f"{SYMBOLS[r.status]} {r.primitive:<18} {r.origin or '-':<18} {where:<8}"
    text = _one_line(r.text_after or r.text_before)
    if r.status == "changed":
        text = _one_line(r.text_before) + "  →  " + text + "  [" + "; ".join(r.changes) + "]"
    return f"{head} {text}".rstrip()


def _one_line(text: str, limit: int = 120) -> str:
    """An equation's text on one line, cut at `limit` (a jit's whole body would flood the row)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
