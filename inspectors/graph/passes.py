"""Passes over the graph model and the equations: fold detection, search, scopes, inputs, long edges, legend.

Each is a function of plain data (a `Graph`, or a `JaxprModel`'s equations), tested on its own;
`inspectors.graph.jaxpr_graph` runs the build, then these, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inspectors import styles
from inspectors.graph.model import (
    EDGE_LABEL_LIMIT,
    FOLD_MAX_PERIOD,
    FOLD_MIN_REPEATS,
    LONG_EDGE_GRAPH,
    Edge,
    Graph,
    GraphOptions,
)
from inspectors.results import Equation, JaxprModel, walk

_TRANSFORM_WRAPPER = re.compile(r"[A-Za-z_]\w*\(|\)")


def scope_path(eqn: Equation) -> tuple[str, ...]:
    """Return the model scopes an equation was traced in, from JAX's name stack.

    Flax linen module paths, Equinox module names and `jax.named_scope`s all land
    in the name stack beside the transforms: `transpose(jvp(MLP))/Dense_1` is
    scope `MLP/Dense_1` seen through `transpose(jvp(...))`.
    """
    return tuple(c for c in _TRANSFORM_WRAPPER.sub("", eqn.name_stack).split("/") if c)


def signature(eqn: Equation) -> tuple:
    """Return what makes two equations 'the same' for folding repeated blocks."""
    return (
        scope_path(eqn),
        eqn.primitive,
        tuple(v.type for v in eqn.invars),
        tuple(v.type for v in eqn.outvars),
        tuple(sorted(eqn.params.items())),
        eqn.source.line if eqn.source else None,
        eqn.provenance,
        len(eqn.subjaxprs),
    )


def find_folds(
    sigs: list[int], min_reps: int = FOLD_MIN_REPEATS, max_period: int = FOLD_MAX_PERIOD
) -> list[tuple[int, int, int]]:
    """Return (start, period, repeats) of maximal runs of a block repeated back to back."""
    folds, i, n = [], 0, len(sigs)
    while i < n:
        best = None
        for p in range(1, min(max_period, (n - i) // min_reps) + 1):
            j = i
            while j + p < n and sigs[j] == sigs[j + p]:
                j += 1
            reps = (j - i) // p + 1
            if (
                reps >= min_reps
                and p * reps >= 2 * min_reps
                and (best is None or p * reps > best[1] * best[2])
            ):
                best = (i, p, reps)
        if best:
            folds.append(best)
            i += best[1] * best[2]
        else:
            i += 1
    return folds


def search_matches(model: JaxprModel, query: str, limit: int = 200) -> list[str]:
    """Return ids of equations matching a query: a primitive, a variable, a source line (`line 12`),
    or a function or scope name (`softmax`: a jit's name, the function a line is in, a name-stack scope)."""
    q = query.strip()
    if not q:
        return []
    m = re.fullmatch(r"(?:line\s*|:)?(\d+)", q)
    hits = []
    for e in walk(model):
        if m:
            ok = e.source is not None and e.source.line == int(m.group(1))
        else:
            names = {v.name for v in e.invars + e.outvars if not v.literal}
            ok = e.primitive == q or q in names or (len(q) > 2 and q in e.primitive) or _named(e, q)
            # Model scopes too: `layer_3`, `attention`, `Dense_0`, `layer_3/attention`.
            ok = ok or (len(q) > 2 and q in "/".join(scope_path(e)))
        if ok:
            hits.append(e.id)
            if len(hits) >= limit:
                break
    return hits


def line_scopes(model: JaxprModel, line: int) -> dict[str, list[str]]:
    """Split the equations of one source line by model scope: a line in a loop over layers, layer by layer.

    Returns `{"layer_0/attention": [eqn ids], "layer_1/attention": [...], ...}` in program
    order; equations traced outside any scope are under "".
    """
    out: dict[str, list[str]] = {}
    for e in walk(model):
        if e.source is not None and e.source.line == line:
            out.setdefault("/".join(scope_path(e)), []).append(e.id)
    return out


def _named(e: Equation, q: str) -> bool:
    """True when `q` names the equation's jit, its function, or a scope on its name stack."""
    function = e.source.function if e.source else ""
    scopes = re.split(r"[/()]", e.name_stack)
    return len(q) > 2 and (e.params.get("name") == q or function == q or q in scopes)


def ancestors(eqn_id: str) -> list[str]:
    """Return the ids of the equations whose sub-jaxprs contain `eqn_id` (`0/jaxpr/1/...` → `0`, `0/jaxpr/1`)."""
    parts = eqn_id.split("/")
    return ["/".join(parts[:k]) for k in range(1, len(parts) - 1, 2)]


def legend_rows(model: JaxprModel, opts: GraphOptions) -> list[tuple[str, str]]:
    """Return the legend rows for the chosen colouring of a model."""
    provs = sorted({e.provenance for e in walk(model)}, key=lambda p: (len(p), p))
    lines = sorted({(e.source.line, e.source.code) for e in walk(model) if e.source})
    return styles.legend(opts.colour_by, provs, lines)


def finish(graph: Graph, model: JaxprModel, opts: GraphOptions) -> Graph:
    """Run the passes after a view is built: edge labels, inputs placed in their scopes, stubs, legend."""
    graph.edge_labels = opts.edge_labels and len(graph.edges) <= EDGE_LABEL_LIMIT
    place_inputs(graph)
    if opts.long_edges and len(graph.nodes) > LONG_EDGE_GRAPH:
        mark_long_edges(graph, opts.long_edges)
    graph.legend = legend_rows(model, opts) if opts.legend else []
    return graph


INPUT_KINDS = ("input", "inputs", "const", "param")


def place_inputs(graph: Graph) -> int:
    """Move each input group that one model scope alone reads into that scope's cluster; return how many.

    `params.decoder.layer_3` then sits at the top of layer 3's box, hung by an invisible
    edge under what precedes the layer, instead of in a row of inputs across the whole
    graph with an edge to every layer (which dot lays out as a staircase).
    """
    parents = {g.path: g.parent for g in graph.groups}
    kinds = {g.path: g.kind for g in graph.groups}
    by_id = {n.id: n for n in graph.nodes}
    readers: dict[str, list[str]] = {}
    for e in graph.edges:
        if e.src in by_id and by_id[e.src].kind == "inputs" and e.dst in by_id:
            readers.setdefault(e.src, []).append(e.dst)
    rank = ranks(graph)
    moved = 0
    for nid, consumers in readers.items():
        home = _common_module({by_id[c].group for c in consumers}, parents, kinds)
        if not home:
            continue
        first = min(consumers, key=lambda c: rank.get(c, 0))
        before = [
            e.src
            for e in graph.edges
            if e.dst == first
            and not e.back
            and e.kind != "bind"
            and by_id.get(e.src, first).kind not in INPUT_KINDS
        ]
        if not before:
            continue
        by_id[nid].group = home
        graph.edges.append(Edge(max(before, key=lambda x: rank.get(x, 0)), nid, kind="anchor"))
        moved += 1
    return moved


def _common_module(groups: set[str], parents: dict[str, str], kinds: dict[str, str]) -> str:
    """Return the innermost model-scope cluster holding all these groups ("" if none)."""

    def chain(path: str) -> list[str]:
        out = [path]
        while path and len(out) <= len(parents):  # a tree's chain is never longer than its clusters
            path = parents.get(path, "")
            out.append(path)
        return out[::-1]

    common = ""
    for level in zip(*(chain(g) for g in groups), strict=False):
        if len(set(level)) > 1:
            break
        common = level[0]
    return next((p for p in reversed(chain(common)) if kinds.get(p) == "module"), "")


def ranks(graph: Graph) -> dict[str, int]:
    """Return each node's longest-path depth along forward edges (nodes are created in program order)."""
    incoming: dict[str, list[str]] = {}
    for e in graph.edges:
        if not e.back:
            incoming.setdefault(e.dst, []).append(e.src)
    rank: dict[str, int] = {}
    for n in graph.nodes:
        rank[n.id] = max((rank.get(src, 0) + 1 for src in incoming.get(n.id, ())), default=0)
    return rank


def mark_long_edges(graph: Graph, span: int) -> int:
    """Turn data edges spanning more than `span` nodes (in program order) into stubs; return how many.

    Long edges (a grad's forward values read by its backward pass) make dot's
    layout explode; a stub at the consumer naming the producer keeps the
    information and the layout fast.
    """
    rank = ranks(graph)
    local = _local_input_edges(graph)
    count = 0
    for e in graph.edges:
        if (
            e.kind == "data"
            and not e.back
            and rank.get(e.dst, 0) - rank.get(e.src, 0) > span
            and id(e) not in local
        ):
            e.kind = "long"
            count += 1
    if count:
        graph.notes.append(f"{count} long edges drawn as stubs at their consumer ('from ...')")
    return count


def _local_input_edges(graph: Graph) -> set[int]:
    """Edges from an input group placed in a scope's cluster to nodes inside that cluster: never stubs."""
    parents = {g.path: g.parent for g in graph.groups}
    group_of = {n.id: n.group for n in graph.nodes}
    homes = {n.id: n.group for n in graph.nodes if n.kind == "inputs" and n.group}

    def inside(group: str, home: str) -> bool:
        for _ in range(len(parents) + 1):  # a tree's chain is never longer than its clusters
            if not group or group == home:
                break
            group = parents.get(group, "")
        return group == home

    return {id(e) for e in graph.edges if e.src in homes and inside(group_of.get(e.dst, ""), homes[e.src])}


# -- the budget: one walk over the built graph's cluster tree decides what to close

View = tuple[int, "int | None"]  # (depth of calls open, deepest model-scope level open; None: all)


@dataclass(frozen=True)
class ViewChoice:
    """The view a budget chose: its knobs, the nodes it shows, and the clusters it closes (in order)."""

    view: View
    nodes: int
    collapsed: tuple[str, ...]
    fits: bool


def closes(rule: tuple[str, int], view: View) -> bool:
    """Return whether a view closes a cluster: a call's below its depth, a model scope's below its level."""
    knob, level = rule
    depth, scope_open = view
    return level >= depth if knob == "depth" else scope_open is not None and level >= scope_open


def subtree_nodes(graph: Graph) -> dict[str, int]:
    """Return the nodes inside each cluster, nested clusters included (clusters are listed parents first)."""
    count = {g.path: 0 for g in graph.groups}
    for n in graph.nodes:
        if n.group in count:
            count[n.group] += 1
    for g in reversed(graph.groups):  # children before their parents
        if g.parent in count:
            count[g.parent] += count[g.path]
    return count


def fit_view(
    graph: Graph, closable: dict[str, tuple[str, int]], views: list[View], budget: int
) -> ViewChoice:
    """Return the first view (most open first) whose visible nodes fit the budget, or the last when none does.

    `graph` is the most open view, built once; `closable` names the clusters a view may close and by
    which knob. A closed cluster is drawn as one node (a collapsed call, a scope's summary), so it saves
    its nodes but one. One walk down the tree keeps, per cluster, the views that close it or an
    enclosing cluster as a bit mask; the outermost closed clusters are what each view collapses.
    """
    inside = subtree_nodes(graph)
    hidden: dict[str, int] = {"": 0}  # views under which a cluster is closed or inside a closed one
    saved = [0] * len(views)
    outermost: list[tuple[str, int]] = []
    for g in graph.groups:
        rule = closable.get(g.path)
        mask = sum(1 << k for k, v in enumerate(views) if closes(rule, v)) if rule else 0
        above = hidden.get(g.parent, 0)
        hidden[g.path] = above | mask
        fresh = mask & ~above
        if fresh:
            outermost.append((g.path, fresh))
            for k in range(len(views)):
                if fresh >> k & 1:
                    saved[k] += inside[g.path] - 1
    total = len(graph.nodes)
    pick = next((k for k in range(len(views)) if total - saved[k] <= budget), len(views) - 1)
    collapsed = tuple(path for path, mask in outermost if mask >> pick & 1)
    return ViewChoice(views[pick], total - saved[pick], collapsed, total - saved[pick] <= budget)
