"""Plans: what one list of equations shows, as plain data (`Item`s), decided before anything is drawn.

The passes over a jaxpr's equations: fold (repeated blocks back to back become one `×N` block),
group by scope (consecutive equations of one model scope nest as blocks: `layer_3` > `attention`),
and, for the budget, group by provenance and function, then chunk long lists into summaries.
Each is a function of the equations and items; the build draws the items it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inspectors.graph.model import FOLD_MIN_EQNS, SUMMARY_CHUNKS, GraphOptions
from inspectors.graph.passes import find_folds, scope_path, signature
from inspectors.results import Equation


@dataclass
class Item:
    """A run of equations [start, end) shown as one thing: an equation, a fold, or a block."""

    kind: str  # eqn, fold, block
    start: int
    end: int
    period: int = 1
    id: str = ""
    label: str = ""
    items: list[Item] = field(default_factory=list)
    scope: str = ""  # a model scope's name (`layer_3`) for blocks grouped by the name stack
    level: int = 0  # nesting of that scope (0: outermost)
    opened: bool = False  # drawn open unless collapsed (a few large blocks whose summaries fit)


def _scope_key(eqn: Equation) -> tuple[str, str]:
    """Return the (provenance, source function) an equation belongs to."""
    return (eqn.provenance, eqn.source.function if eqn.source else "")


def plan_items(eqns: list[Equation], path: str, opts: GraphOptions, chunk: bool) -> list[Item]:
    """Return the items of an equation list: folds of repeated blocks, model scopes, then (chunk) summaries."""
    items = fold_items(opts, eqns, path)
    items = module_items(eqns, items, path, 0)
    if chunk and len(items) > opts.budget // 2:
        items = scope_items(opts, eqns, items, path)
    if chunk and len(items) > opts.budget // 2:
        items = chunk_items(opts, eqns, items, path, SUMMARY_CHUNKS)
    return items


def fold_items(opts: GraphOptions, eqns: list[Equation], path: str) -> list[Item]:
    """Return one item per equation, with repeated blocks folded."""
    if not opts.fold or len(eqns) < FOLD_MIN_EQNS:
        return [Item("eqn", i, i + 1) for i in range(len(eqns))]
    ids: dict[tuple, int] = {}
    sigs = [ids.setdefault(signature(e), len(ids)) for e in eqns]
    items, i = [], 0
    for start, period, reps in find_folds(sigs):
        items += [Item("eqn", k, k + 1) for k in range(i, start)]
        fid = f"{path}/fold@{start}" if path else f"fold@{start}"
        items.append(Item("fold", start, start + period * reps, period, fid, f"×{reps}"))
        i = start + period * reps
    return items + [Item("eqn", k, k + 1) for k in range(i, len(eqns))]


def module_items(eqns: list[Equation], items: list[Item], path: str, level: int) -> list[Item]:
    """Nest consecutive items by the model scope they were traced in (`layer_3` > `attention`)."""

    def key(it: Item) -> tuple[str, str] | None:
        scopes = scope_path(eqns[it.start])
        if len(scopes) <= level:
            return None
        # Forward and backward passes through one module are different blocks.
        return (scopes[level], eqns[it.start].provenance if level == 0 else "")

    runs: list[list[Item]] = []
    for it in items:
        if runs and key(runs[-1][0]) == key(it):
            runs[-1].append(it)
        else:
            runs.append([it])
    if len(runs) == 1 and key(items[0]) is None:
        return items
    out = []
    for run in runs:
        k = key(run[0])
        if k is None or (len(run) == 1 and run[0].kind == "eqn"):
            out += run
            continue
        start, end = run[0].start, run[-1].end
        bid = f"{path}/module@{start}-{end}" if path else f"module@{start}-{end}"
        inner, scope = module_items(eqns, run, path, level + 1), k[0]
        if len(inner) == 1 and inner[0].scope and (inner[0].start, inner[0].end) == (start, end):
            # A scope holding only one scope of the same extent (`LM` around `LM/decoder`, Equinox's
            # `MaxPool2d` calling `Pool`) is one block `LM/decoder`: as two they would share one id.
            scope, inner = f"{scope}/{inner[0].scope}", inner[0].items
        label = scope + (f" · {k[1]}" if k[1] else "")
        out.append(Item("block", start, end, id=bid, label=label, items=inner, scope=scope, level=level))
    return out


def scope_items(opts: GraphOptions, eqns: list[Equation], items: list[Item], path: str) -> list[Item]:
    """Group consecutive items of the same provenance and source function into blocks."""
    runs: list[list[Item]] = []
    for it in items:
        k = _scope_key(eqns[it.start])
        if runs and _scope_key(eqns[runs[-1][0].start]) == k:
            runs[-1].append(it)
        else:
            runs.append([it])
    if len(runs) < 2 or len(runs) > opts.budget // 2:
        return items
    out = []
    for run in runs:
        if len(run) == 1:
            out += run
            continue
        prov, fn = _scope_key(eqns[run[0].start])
        label = " · ".join(filter(None, [prov or "primal", f"{fn}()" if fn else ""]))
        inner = run if len(run) <= opts.budget // 2 else chunk_items(opts, eqns, run, path, SUMMARY_CHUNKS)
        out.append(block(inner, path, "scope", label, eqns))
    blocks = [it for it in out if it.kind == "block"]
    # A few blocks (forward and backward of one function) open at once: their summaries fit.
    if len(blocks) <= 4 and sum(len(b.items) for b in blocks) + len(out) <= opts.budget // 2:
        for b in blocks:
            b.opened = True
    return out


def chunk_items(opts: GraphOptions, eqns: list[Equation], items: list[Item], path: str, n: int) -> list[Item]:
    """Split a long list of items into about n summary blocks, leaving search matches visible."""
    size = -(-len(items) // n)
    out = []
    for k in range(0, len(items), size):
        part = items[k : k + size]
        inner = part if len(part) <= opts.budget // 2 else chunk_items(opts, eqns, part, path, n)
        out.append(inner[0] if len(inner) == 1 else block(inner, path, "summary", "", eqns))
    return out


def block(items: list[Item], path: str, kind: str, label: str, eqns: list[Equation]) -> Item:
    """Return a block item over consecutive items."""
    start, end = items[0].start, items[-1].end
    bid = f"{path}/{kind}@{start}-{end}" if path else f"{kind}@{start}-{end}"
    return Item("block", start, end, id=bid, label=label or f"equations {start}–{end - 1}", items=items)
