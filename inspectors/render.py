"""Graph → DOT (pure, exact-string testable) and DOT → SVG (the one place that runs Graphviz).

SVG comes from `graphviz-pure`, the pip-installed static Graphviz (no system
Graphviz needed), run in a subprocess with a time limit: layout is the slow
part, so it never runs in-process and never runs unbounded.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from pathlib import Path

from inspectors import styles
from inspectors.graph import Edge, Graph, GraphError, Group, Node, no_gc

LAYOUT_TIMEOUT_S = 20.0
LAYOUT_MEMORY_MB = int(os.environ.get("JAXPR_EXPLORER_LAYOUT_MEMORY_MB", "3072"))
SMALL_GRAPH = 150  # up to this many nodes, curved edges are affordable
STUB_LABEL = 32  # characters of the producer's name a long edge's stub shows

# Fast layout (FIELD-NOTES: 1,000 clustered nodes 50–90 s at defaults, about 2 s with these).
FAST_LAYOUT = {
    "newrank": "true",
    "nslimit": "1",
    "nslimit1": "1",
    "mclimit": "0.5",
    "searchsize": "20",
    "remincross": "false",
}

NODE_SHAPES: dict[str, dict[str, str]] = {
    "eqn": {"shape": "box", "style": "rounded,filled"},
    "call": {"shape": "box", "style": "filled,bold"},
    "collapsed": {"shape": "box3d", "style": "filled"},
    "return": {
        "shape": "box",
        "style": "rounded,filled",
        "fillcolor": "#f3f4f6",
        "fontsize": "8",
        "height": "0.2",
    },
    "input": {"shape": "invhouse", "style": "filled", "fillcolor": "#fef9c3"},
    "inputs": {"shape": "invhouse", "style": "filled,bold", "fillcolor": "#fde68a"},
    "const": {"shape": "note", "style": "filled", "fillcolor": "#f5f5f4"},
    "output": {"shape": "house", "style": "filled", "fillcolor": "#dcfce7"},
    "summary": {"shape": "folder", "style": "filled,dashed"},
    "drop": {
        "shape": "circle",
        "width": "0.12",
        "height": "0.12",
        "fixedsize": "true",
        "color": "#bbbbbb",
        "fontcolor": "#aaaaaa",
        "fontsize": "7",
    },
    "op": {"shape": "box", "style": "rounded,filled"},
    "param": {"shape": "invhouse", "style": "filled", "fillcolor": "#fef9c3"},
}

EDGE_STYLES: dict[str, dict[str, str]] = {
    "data": {},
    "bind": {"style": "dashed", "color": "#9ca3af", "arrowsize": "0.4"},
    "carry": {"color": "#7c3aed", "penwidth": "1.6", "fontcolor": "#7c3aed", "constraint": "false"},
    "drop": {"style": "dotted", "color": "#bbbbbb", "fontcolor": "#aaaaaa"},
    "anchor": {"style": "invis"},
}

GROUP_STYLES: dict[str, dict[str, str]] = {
    "fold": {"style": "dashed,filled", "fillcolor": "#fafaf9", "color": "#78716c"},
    "block": {"style": "dotted", "color": "#6b7280"},
    "module": {"style": "rounded,filled", "fillcolor": "#f5f3ff", "color": "#8b5cf6"},
    "cond": {"style": "rounded", "color": "#7c3aed"},
    "while": {"style": "rounded", "color": "#7c3aed"},
    "scan": {"style": "rounded", "color": "#7c3aed"},
}
ROLE_STYLE = {"style": "rounded,filled", "fillcolor": "#f8fafc", "color": "#94a3b8"}
DEFAULT_GROUP_STYLE = {"style": "rounded", "color": "#6366f1"}


class LayoutError(RuntimeError):
    """Graphviz failed on a graph."""


class LayoutTimeout(LayoutError):
    """Graphviz took longer than the time limit."""


def quote(text: str) -> str:
    """Return a DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def attrs(values: dict[str, str]) -> str:
    """Return a DOT attribute list (`[a="1" b="2"]`), empty for no attributes."""
    if not values:
        return ""
    return " [" + " ".join(f"{k}={quote(str(v))}" for k, v in values.items()) + "]"


def node_attrs(node: Node, colour_by: str) -> dict[str, str]:
    """Return the DOT attributes of a node."""
    a = dict(NODE_SHAPES.get(node.kind, NODE_SHAPES["eqn"]))
    if node.kind in ("eqn", "call", "collapsed", "summary", "op"):
        a["fillcolor"] = styles.fill_for(colour_by, node.family, node.provenance, node.line, node.heat)
    elif node.kind == "param" and colour_by == "memory":  # an HLO parameter holds its argument's buffer
        a["fillcolor"] = styles.heat_color(node.heat)
    a["label"] = node.label + (f"\n{node.sublabel}" if node.sublabel else "")
    if node.kind == "drop":
        a["label"] = "_"
    tip = node.details.get("equation") or "\n".join(f"{k}: {v}" for k, v in node.details.items() if v)
    if tip:
        a["tooltip"] = tip[:600]
    if node.match:
        a.update(color="#dc2626", penwidth="3")
    return a


def edge_attrs(edge: Edge, labels: bool) -> dict[str, str]:
    """Return the DOT attributes of an edge."""
    a = dict(EDGE_STYLES.get(edge.kind, {}))
    text = ":".join(filter(None, [edge.var, edge.type]))
    if text:
        a["tooltip"] = text
        if labels and edge.kind != "bind":
            a["label"] = text if edge.kind != "carry" else f"carry {edge.var}"
    if edge.back:
        a.setdefault("constraint", "false")
        a.setdefault("color", "#7c3aed")
    return a


def group_attrs(group: Group) -> dict[str, str]:
    """Return the DOT attributes of a cluster."""
    if group.kind in GROUP_STYLES:
        style = GROUP_STYLES[group.kind]
    elif "/" in group.path.rsplit("/", 1)[-1] or group.kind.endswith(("jaxpr", "]")):
        style = ROLE_STYLE
    else:
        style = DEFAULT_GROUP_STYLE
    return {"label": group.label, "tooltip": group.path, **style}


def graph_attrs(graph: Graph) -> dict[str, str]:
    """Return the graph-level attributes: direction, title, fast layout settings."""
    # The title goes below the drawing: the viewer's toolbar sits over the top edge.
    a = {"rankdir": graph.direction, "labelloc": "b", "fontname": "Helvetica", "fontsize": "12"}
    a["label"] = graph.title + "".join(f"\n{n}" for n in graph.notes)
    a.update(FAST_LAYOUT)
    a.update(ranksep="0.3", nodesep="0.25")
    if len(graph.nodes) > SMALL_GRAPH:
        a["splines"] = "line"
    return a


def legend_node(graph: Graph) -> str:
    """Return a DOT node holding the legend as an HTML table."""
    rows = "".join(
        f'<TR><TD BGCOLOR="{fill}" WIDTH="14"> </TD><TD ALIGN="LEFT">{html.escape(label)}</TD></TR>'
        for label, fill in graph.legend
    )
    title = {
        "family": "primitive family",
        "provenance": "transform provenance",
        "line": "source line",
        "time": "measured time",
        "memory": "memory (share of the bytes)",
    }.get(graph.colour_by, graph.colour_by)
    table = f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="2"><TR><TD COLSPAN="2"><B>{title}</B></TD></TR>{rows}</TABLE>'
    return f'  "legend" [shape=plaintext fontsize=9 label=<{table}>]'


def stub_lines(sid: str, edge: Edge, producer: Node | None) -> list[str]:
    """Return a long edge drawn as a stub next to its consumer, naming the producer."""
    where = producer.label if producer else edge.src
    where = (
        where if len(where) <= STUB_LABEL else where[: STUB_LABEL - 1] + "…"
    )  # long labels widen the layout
    if producer and producer.kind in ("eqn", "call", "collapsed") and producer.details.get("id"):
        where += f" (eqn {producer.details['id']})"
    label = f"{edge.var}:{edge.type}\nfrom {where}"
    tip = f"{edge.var}:{edge.type} produced by {edge.src}"
    node = {
        "shape": "plaintext",
        "fontsize": "7",
        "fontcolor": "#6b7280",
        "label": label,
        "tooltip": tip,
        "height": "0.1",
    }
    return [
        f"  {quote(sid)}{attrs(node)}",
        f"  {quote(sid)} -> {quote(edge.dst)}{attrs({'style': 'dashed', 'color': '#9ca3af', 'arrowsize': '0.4', 'tooltip': tip})}",
    ]


def to_dot(graph: Graph) -> str:
    """Return the DOT source of a graph."""
    with no_gc():
        return _to_dot(graph)


def _to_dot(graph: Graph) -> str:
    """Build the DOT source (see to_dot)."""
    by_group: dict[str, list[Node]] = {}
    for n in graph.nodes:
        by_group.setdefault(n.group, []).append(n)
    children: dict[str, list[Group]] = {}
    for g in graph.groups:
        children.setdefault(g.parent, []).append(g)
    names = {n.id: n for n in graph.nodes}
    # A long edge's stub is declared in its consumer's cluster, so it is drawn beside the consumer.
    stubs: dict[str, list[str]] = {}
    edges = []
    for i, e in enumerate(graph.edges):
        if e.kind == "long":
            node, edge = stub_lines(f"stub_{i}", e, names.get(e.src))
            consumer = names.get(e.dst)
            stubs.setdefault(consumer.group if consumer else "", []).append(node.strip())
            edges.append(edge)
        else:
            edges.append(f"  {quote(e.src)} -> {quote(e.dst)}{attrs(edge_attrs(e, graph.edge_labels))}")
    lines = [
        "digraph jaxpr {",
        f"  graph{attrs(graph_attrs(graph))}",
        '  node [fontname="Helvetica" fontsize="10" height="0.3" margin="0.08,0.03"]',
        '  edge [fontname="Helvetica" fontsize="8" arrowsize="0.6" color="#4b5563"]',
    ]
    lines += _emit_groups(graph.groups, by_group, children, graph.colour_by, stubs)
    if graph.legend:
        lines.append(legend_node(graph))
    lines += edges
    lines.append("}")
    return "\n".join(lines) + "\n"


def _emit_groups(
    groups: list[Group], by_group: dict, children: dict, colour_by: str, stubs: dict
) -> list[str]:
    """Return the nodes of each cluster (and the stubs of its long edges), its sub-clusters nested inside.

    A loop over a stack, not recursion: nesting as deep as a program's is fine, and a cluster that is
    not under the top (a cycle of parents) is an error naming it, never a hang.
    """
    lines: list[str] = []
    stack: list[tuple[str, str, str]] = [("open", "", "  ")]  # (what, cluster path or a DOT line, indent)
    opened: set[str] = set()
    queued: set[str] = {""}
    while stack:
        what, path, pad = stack.pop()
        if what == "line":
            lines.append(path)
            continue
        opened.add(path)
        lines += [f"{pad}{quote(n.id)}{attrs(node_attrs(n, colour_by))}" for n in by_group.get(path, [])]
        lines += [f"{pad}{stub}" for stub in stubs.get(path, [])]
        pending = []
        for g in children.get(path, []):
            if g.path in queued:
                raise GraphError(f"cluster {g.path!r} listed twice")
            queued.add(g.path)
            pending += [
                ("line", f"{pad}subgraph {quote('cluster_' + g.path)} {{", ""),
                ("line", f"{pad}  graph{attrs(group_attrs(g))}", ""),
                ("open", g.path, pad + "  "),
                ("line", f"{pad}}}", ""),
            ]
        stack += reversed(pending)
    lost = [g.path for g in groups if g.path not in opened]
    if lost:
        raise GraphError(
            f"clusters not under the top of the graph (a cycle of parents): {', '.join(lost[:5])}"
        )
    return lines


def graphviz_command() -> str:
    """Return the Graphviz executable: graphviz-pure next to Python, on PATH, else `dot`."""
    exe = "graphviz-pure" + (".exe" if os.name == "nt" else "")
    local = Path(sys.executable).parent / exe
    if local.exists():
        return str(local)
    found = shutil.which("graphviz-pure") or shutil.which("dot")
    if not found:
        raise LayoutError("Graphviz not found: install the `graphviz-pure` wheel (pip install graphviz-pure)")
    return found


# Caps the address space, then becomes Graphviz: a limit set in the parent (preexec_fn) would fork the
# server's threaded process; `-S` skips site imports, so this costs milliseconds.
_CAPPED_EXEC = (
    "import os, resource, sys; mb = int(sys.argv[1]) << 20; "
    "resource.setrlimit(resource.RLIMIT_AS, (mb, mb)); resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def layout_command(memory_mb: int = LAYOUT_MEMORY_MB) -> list[str]:
    """Return the command that lays out DOT as SVG, under a memory limit where the system has one."""
    cmd = [graphviz_command(), "-Tsvg"]
    return [sys.executable, "-S", "-c", _CAPPED_EXEC, str(memory_mb), *cmd] if os.name == "posix" else cmd


def dot_to_svg(dot: str, timeout: float = LAYOUT_TIMEOUT_S, memory_mb: int = LAYOUT_MEMORY_MB) -> str:
    """Lay out DOT and return SVG; raise LayoutTimeout past `timeout` seconds, LayoutError past `memory_mb`."""
    try:
        proc = subprocess.run(
            layout_command(memory_mb), input=dot.encode(), capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise LayoutTimeout(
            f"layout took longer than {timeout:g} s; collapse more (lower the depth or the node budget) or search"
        ) from None
    if proc.returncode != 0 and _out_of_memory(proc):
        raise LayoutError(
            f"layout ran past its memory limit ({memory_mb} MB); collapse more (lower the depth or the node"
            " budget) or search"
        )
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode(errors="replace").strip()
        raise LayoutError(f"Graphviz failed (exit {proc.returncode}): {err[:500]}")
    return proc.stdout.decode()


def _out_of_memory(proc: subprocess.CompletedProcess) -> bool:
    """Return whether Graphviz died for want of memory (a failed allocation or a kill)."""
    err = proc.stderr.decode(errors="replace").lower()
    return proc.returncode < 0 or "out of memory" in err or "malloc" in err or "cannot allocate" in err


def to_svg(graph: Graph, timeout: float = LAYOUT_TIMEOUT_S) -> str:
    """Return the SVG of a graph."""
    return dot_to_svg(to_dot(graph), timeout)
