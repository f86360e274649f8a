"""The graph model: plain data (Graph, Node, Edge, Group) with slash-path clusters, and its options.

As in Model Explorer's adapters, a graph is a handful of dataclasses with stable ids;
nesting is a slash path (`0/jaxpr/module@3-131`), and the cluster hierarchy is a tree,
checked as it is built (`add_group`). Builders (`inspectors.graph.build`, `inspectors.hlo_graph`)
fill it; passes (`inspectors.graph.passes`) rewrite it; `inspectors.render` draws it.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from inspectors.results import Equation, VarInfo


@dataclass
class Node:
    """A visible node: an equation, an input/const/output, or a summary of many equations."""

    id: str
    kind: str  # input, const, output, eqn, call, return, collapsed, summary, drop, op, param
    label: str
    group: str = ""
    primitive: str = ""
    family: str = "other"
    sublabel: str = ""
    provenance: str = ""
    line: int | None = None
    count: int = 1
    details: dict[str, str] = field(default_factory=dict)
    match: bool = False
    heat: float | None = None  # share of the measured time (colour by "time"), None if unmeasured

    @property
    def expand_id(self) -> str:
        """Return the id `GraphOptions.expand` takes for this node (`eqn_0/jaxpr/3` → `0/jaxpr/3`).

        A StableHLO call opens its callee (`func@inner`); an input group opens by its own id.
        """
        return self.details.get("expand") or self.id.removeprefix("eqn_")


@dataclass
class Edge:
    """A variable flowing from its producer to one consumer (or a binding into a sub-graph)."""

    src: str
    dst: str
    var: str = ""
    type: str = ""
    kind: str = "data"  # data, bind, carry, drop
    back: bool = False


class GraphError(RuntimeError):
    """A graph that would not be a graph: a cluster added twice or before its parent."""


@dataclass
class Group:
    """A cluster: a sub-jaxpr, a higher-order equation, a folded repeat or a scope."""

    path: str
    label: str
    parent: str = ""
    kind: str = ""


@dataclass
class Graph:
    """A visible graph, ready to render."""

    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    colour_by: str = "family"
    direction: str = "TB"
    edge_labels: bool = True
    total_equations: int = 0

    def expandable(self) -> dict[str, str]:
        """Return the collapsed nodes and summaries that can open, by their `expand` id, with a label."""
        return {
            n.expand_id: f"{n.label} {n.sublabel.splitlines()[0] if n.sublabel else ''} ({n.expand_id})"
            for n in self.nodes
            if n.kind in ("collapsed", "summary", "inputs") or "expand" in n.details
        }

    def collapsible(self) -> dict[str, str]:
        """Return the open sub-graphs that can close, by their `collapse` path, with a label."""
        return {
            g.path: f"{g.label.splitlines()[0]} ({g.path})"
            for g in self.groups
            if g.kind not in ("region", "fold", "func") and not g.kind.endswith(("jaxpr", "]"))
        }


def add_group(groups: list[Group], known: set[str], group: Group) -> None:
    """Add a cluster whose parent was added before it and whose path is new; `known` holds the paths so far.

    Checked when built, the hierarchy cannot hold a cycle: every walk up the parents ends at the top.
    """
    if not group.path or group.path in known:
        raise GraphError(f"cluster {group.path!r} added twice (under {group.parent!r})")
    if group.parent and group.parent not in known:
        raise GraphError(f"cluster {group.path!r} added before its parent {group.parent!r}")
    known.add(group.path)
    groups.append(group)


def check_tree(groups: list[Group]) -> None:
    """Raise GraphError unless each cluster is new and sits under one listed before it (a tree, in order)."""
    known: set[str] = set()
    for g in groups:
        add_group([], known, g)


COLOUR_BY = ("family", "provenance", "line")


@dataclass(frozen=True)
class GraphOptions:
    """What to show: shared by the CLI (`--graph-*` flags) and the app's widgets."""

    depth: int = 3
    colour_by: str = "family"
    expand: frozenset[str] = frozenset()
    collapse: frozenset[str] = frozenset()
    budget: int = 250
    fold: bool = True
    search: str = ""
    direction: str = "TB"
    edge_labels: bool = True
    legend: bool = True
    long_edges: int = 12
    heat: tuple[tuple[str, float], ...] = ()  # (equation id or HLO instruction, share of measured time)
    group_inputs: bool = True  # many inputs drawn as one node per pytree prefix


FOLD_MIN_EQNS = 40  # lists shorter than this stay unfolded: small programs read better in full
FOLD_MIN_REPEATS = 3
FOLD_MAX_PERIOD = 64
SUMMARY_CHUNKS = 24
ANCHOR = "<call>"  # env key of the call node of the sub-jaxpr being drawn (not a variable name)
PREVIOUS = "<previous>"  # env key of the node drawn last in this jaxpr
CALL_GROUP = "<call group>"  # env key of the cluster the call's own equations sit in
EDGE_LABEL_LIMIT = 300  # beyond this many edges, labels cost too much layout time
LONG_EDGE_GRAPH = 40  # graphs with more nodes than this draw long edges as stubs
MAX_SCOPE_LEVELS = 6  # model scopes deeper than this are never tried open one level at a time
INPUT_GROUP_MIN = 9  # jaxprs with at least this many inputs group them by pytree prefix
INPUT_GROUPS_MAX = 12  # at most this many input groups per jaxpr
PASS_THROUGH = ("jit", "pjit", "closed_call", "remat2", "custom_jvp_call", "custom_vjp_call")


def eqn_count(eqn: Equation) -> int:
    """Return how many equations an equation stands for, its sub-jaxprs included (a loop, not recursion)."""
    count, todo = 0, [eqn]
    while todo:
        e = todo.pop()
        count += 1
        todo += [inner for s in e.subjaxprs for inner in s.jaxpr.eqns]
    return count


def dropped(v: VarInfo) -> bool:
    """Return whether an output is unused: JAX prints it as `_`."""
    return v.dropped


def literal_text(name: str) -> str:
    """Return a literal as a reader expects it: `TypedInt(0, dtype=int32)` → `0`."""
    m = re.fullmatch(r"\w+\((.*?), dtype=\w+\)", name)
    return m.group(1) if m else name


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cycle collector: tens of thousands of small acyclic objects only make it cost time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def equation_nodes(graph: Graph) -> list[Node]:
    """Return the nodes that stand for one equation each (for checks against the jaxpr)."""
    return [n for n in graph.nodes if n.kind in ("eqn", "call", "collapsed")]


def expanded_options(**kw: object) -> GraphOptions:
    """Return options that show every equation: no folding, no budget, everything open."""
    base = dict(depth=10_000, fold=False, budget=10**9, legend=False, long_edges=0, group_inputs=False)
    base.update(kw)
    return GraphOptions(**base)  # type: ignore[arg-type]
