"""Graphs of StableHLO and compiled HLO text, in the same Graph model as jaxprs.

Both parsers read the printed text (no JAX, no MLIR bindings), line by line:
StableHLO ops become nodes typed like jaxpr variables (`f32[8,3]`), funcs and
regions (while cond/body, case branches) become clusters; compiled HLO
instructions become nodes and each fusion a cluster of the ops XLA fused,
collapsible to one node labelled with its kind and op count.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from inspectors import hlo_text, mlir_text, styles
from inspectors.graph import Edge, Graph, GraphOptions, Group, Node, add_group

_DTYPES = {"i1": "bool", "pred": "bool", "ui8": "u8", "ui16": "u16", "ui32": "u32", "ui64": "u64", "s32": "i32", "s64": "i64", "s8": "i8", "s16": "i16"}  # fmt: skip
_HLO_FAMILY = {
    "multiply": "elementwise", "subtract": "elementwise", "divide": "elementwise", "add": "elementwise",
    "compare": "elementwise", "select": "elementwise", "convert": "elementwise", "maximum": "elementwise",
    "minimum": "elementwise", "negate": "elementwise", "exponential": "elementwise", "cosine": "elementwise",
    "sine": "elementwise", "power": "elementwise", "dot": "contraction", "convolution": "contraction",
    "reduce": "reduction", "broadcast": "shape", "bitcast": "shape", "get-tuple-element": "shape",
    "tuple": "shape", "copy": "shape", "dynamic-slice": "shape", "dynamic-update-slice": "shape",
    "fusion": "control", "while": "control", "conditional": "control", "call": "control", "case": "control",
    "rng-bit-generator": "random", "all-reduce": "collective", "all-gather": "collective",
    "custom-call": "custom", "custom_call": "custom", "constant": "other", "parameter": "other",
}  # fmt: skip


def short_type(mlir: str) -> str:
    """Return an MLIR tensor type as a jaxpr-style type: `tensor<8x3xf32>` → `f32[8,3]`."""
    m = re.fullmatch(r"tensor<(.*)>", mlir.strip())
    if not m:
        return mlir.strip()
    *dims, dtype = m.group(1).split("x")
    return f"{_DTYPES.get(dtype, dtype)}[{','.join(dims)}]"


def op_family(name: str) -> str:
    """Return the primitive family of an HLO/StableHLO op name."""
    name = name.split(".")[-1].replace("_", "-")
    return _HLO_FAMILY.get(name) or styles.family(name.replace("-", "_"))


@dataclass
class _Builder:
    """Accumulates nodes, edges and groups, with edges added once and back edges marked."""

    graph: Graph
    order: dict[str, int] = field(default_factory=dict)
    keys: set = field(default_factory=set)
    paths: set[str] = field(default_factory=set)

    def node(self, node: Node) -> str:
        """Add a node."""
        self.order[node.id] = len(self.order)
        self.graph.nodes.append(node)
        return node.id

    def group(self, group: Group) -> None:
        """Add a cluster under one already added (the hierarchy is a tree when built)."""
        add_group(self.graph.groups, self.paths, group)

    def edge(self, src: str | None, dst: str, var: str = "", type_: str = "", kind: str = "data") -> None:
        """Add an edge once."""
        if src is None or src == dst or (src, dst, var) in self.keys:
            return
        self.keys.add((src, dst, var))
        back = self.order.get(src, 0) >= self.order.get(dst, 0)
        self.graph.edges.append(Edge(src, dst, var, type_, kind, back))


# ---------------------------------------------------------------- StableHLO

_FUNC, _ARG, _OP = mlir_text.FUNC, mlir_text.ARG, mlir_text.OP  # one parser for StableHLO lines
_REF = re.compile(r"%[\w.$-]+(?:#\d+)?")
_RET = re.compile(r"^\s*(stablehlo\.return|func\.return|return)\b(.*)$")


def _result_type(rest: str) -> str:
    """Return the result type at the end of an op line (after ':' and '->')."""
    if " : " not in rest:
        return ""
    t = rest.rsplit(" : ", 1)[1]
    t = t.rsplit("->", 1)[-1].strip().strip("()")
    return ", ".join(short_type(x) for x in re.findall(r"tensor<[^>]*>|\w+", t) if x != "tensor")[:60]


class _StableHLO:
    """Line-by-line reader of a StableHLO module: funcs, ops, regions."""

    def __init__(self, opts: GraphOptions, title: str) -> None:
        self.b = _Builder(
            Graph(title=title, colour_by="family", direction=opts.direction, edge_labels=opts.edge_labels)
        )
        self.env: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.group = ""
        self.last: tuple[str, str, int] | None = None  # the last op: (node, result name, result count)
        # Open regions: (region path, op cluster, enclosing group, region count, op, env before).
        self.stack: list[tuple[str, str, str, int, tuple[str, str, int], dict]] = []
        self.bound: set[str] = set()
        self.private: set[str] = set()  # clusters of private funcs (callees of `call`)

    def line(self, lineno: int, line: str) -> None:
        """Read one line."""
        stripped = line.strip()
        if m := _FUNC.match(line):
            self.func(m.group(1), m.group(2))
            if re.match(r"\s*func\.func\s+private\b", line):
                self.private.add(self.group)
        elif stripped.startswith("}") and self.stack:
            self.close(stripped)
        elif re.fullmatch(r"\w+ \{", stripped) and self.last:  # `cond {` after a while op
            self.open(self.last, stripped[:-1].strip())
        elif m := _RET.match(line):
            nid = self.add(
                Node(
                    f"{self.group}:ret{lineno}",
                    "output",
                    m.group(1).split(".")[-1],
                    self.group,
                    details={"op": stripped},
                )
            )
            for ref in _REF.findall(m.group(2).split(" : ")[0]):
                self.b.edge(self.env.get(ref), nid, ref, self.types.get(ref.split("#")[0], ""))
        elif m := _OP.match(line):
            self.op(lineno, stripped, *m.groups())

    def add(self, node: Node) -> str:
        """Add a node; the first node of a region gets a binding edge from the region's op."""
        nid = self.b.node(node)
        if self.stack and self.stack[-1][0] == self.group and self.group not in self.bound:
            self.bound.add(self.group)
            self.b.edge(self.stack[-1][4][0], nid, kind="bind")
        return nid

    def func(self, name: str, args: str) -> None:
        """Start a func: a cluster with its arguments as parameter nodes."""
        self.env, self.group = {}, f"func@{name}"
        self.b.group(Group(self.group, f"func @{name}", "", "func"))
        for arg, typ in _ARG.findall(args):
            self.env[arg] = self.add(
                Node(
                    f"{self.group}:{arg}",
                    "param",
                    f"{arg}: {short_type(typ)}",
                    self.group,
                    details={"argument": f"{arg}: {typ}"},
                )
            )
            self.types[arg] = short_type(typ)

    def op(self, lineno: int, stripped: str, res: str, nres: str | None, op: str, rest: str) -> None:
        """Add one op; an op ending in `({` opens its first region."""
        short = op.removeprefix("stablehlo.").removeprefix("func.").removeprefix("chlo.")
        head = rest.split("({")[0]
        rtype = _result_type(head)
        callee = re.search(r"@([\w.$-]+)", head)
        attr = f"@{callee.group(1)}" if short == "call" and callee else _stable_attr(short, head)
        sublabel = "\n".join(filter(None, [attr[:40], rtype]))
        nid = self.add(
            Node(
                f"{self.group}:{res}#{lineno}",
                "op",
                short,
                self.group,
                short,
                op_family(short),
                sublabel,
                details={"op": stripped[:400], "result": rtype},
            )
        )
        for ref in _REF.findall(head.split(" : ")[0]):
            if ref in self.env:
                self.b.edge(self.env[ref], nid, ref, self.types.get(ref.split("#")[0], ""))
        self.last = (nid, res, int(nres or 1))
        self.write(res, int(nres or 1), nid, rtype)
        for arg in re.findall(r"(%[\w.$-]+)\s*=\s*%", head):  # while's `%iterArg = %init`
            self.env[arg] = nid
        if stripped.endswith("({"):
            self.open(self.last, "branch 0")

    def write(self, res: str, nres: int, nid: str, rtype: str = "") -> None:
        """Record the node producing an op's results (`%0`, `%0#1`, ...)."""
        self.env[res] = nid
        self.types[res] = rtype
        for k in range(nres):
            self.env[f"{res}#{k}"] = nid

    def open(self, op: tuple[str, str, int], label: str) -> None:
        """Open an op's first region: the op becomes a cluster."""
        nid, res, _ = op
        opgroup = f"{self.group}/{res}@{nid.rsplit('#', 1)[-1]}"
        node = next(n for n in reversed(self.b.graph.nodes) if n.id == nid)
        self.b.group(Group(opgroup, f"{node.label} {res}", self.group, node.label))
        node.group = opgroup
        self.region(opgroup, self.group, 0, op, label)

    def region(self, opgroup: str, outer: str, count: int, op: tuple[str, str, int], label: str) -> None:
        """Open region number `count` of an op."""
        path = f"{opgroup}/r{count}"
        label = {"do": "body (do)", "": f"branch {count}"}.get(label, label)
        self.b.group(Group(path, label, opgroup, "region"))
        self.stack.append((path, opgroup, outer, count, op, dict(self.env)))
        self.group = path

    def close(self, stripped: str) -> None:
        """Close a region; open the next one (`} do {`, `}, {`) or finish the op."""
        _, opgroup, outer, count, op, env = self.stack.pop()
        self.env, self.group = env, outer
        if stripped.endswith("{"):
            self.region(opgroup, outer, count + 1, op, stripped.strip("}{,( "))
            return
        rid = self.b.node(
            Node(
                f"{opgroup}:result",
                "return",
                f"→ {op[1]}",
                opgroup,
                details={"result": _result_type(stripped)},
            )
        )
        for n in self.b.graph.nodes:
            if n.kind == "output" and n.group.startswith(opgroup + "/"):
                self.b.edge(n.id, rid, kind="bind")
        self.write(op[1], op[2], rid, self.types.get(op[1], ""))


def stablehlo_graph(text: str, options: GraphOptions | None = None, title: str = "StableHLO") -> Graph:
    """Return the graph of a StableHLO module: one node per op, funcs and regions as clusters."""
    opts = options or GraphOptions()
    reader = _StableHLO(opts, title)
    for lineno, line in enumerate(text.splitlines()):
        reader.line(lineno, line)
    graph = reader.b.graph
    graph.total_equations = sum(1 for n in graph.nodes if n.kind == "op")
    hide_callees(graph, reader.private, opts)
    return _finish(graph, opts)


def hide_callees(graph: Graph, private: set[str], opts: GraphOptions) -> None:
    """Draw private funcs only on demand: their `call` ops stand for them until `func@NAME` is expanded.

    A module with a hundred private functions (jax-md) otherwise lays them all side by side.
    """
    hidden = {p for p in private if p not in opts.expand}
    if not hidden:
        return

    def inside(group: str) -> bool:
        return any(group == h or group.startswith(h + "/") for h in hidden)

    gone = {n.id for n in graph.nodes if inside(n.group)}
    graph.nodes = [n for n in graph.nodes if n.id not in gone]
    graph.edges = [e for e in graph.edges if e.src not in gone and e.dst not in gone]
    graph.groups = [g for g in graph.groups if not inside(g.path)]
    for n in graph.nodes:
        callee = re.match(r"@([\w.$-]+)", n.sublabel)
        if n.primitive == "call" and callee and f"func@{callee.group(1)}" in hidden:
            n.kind = "collapsed"
            n.details["expand"] = f"func@{callee.group(1)}"
    graph.notes.append(f"{len(hidden)} private functions drawn as their calls; expand func@NAME to open one")


def _stable_attr(op: str, head: str) -> str:
    """Return the important attribute of a StableHLO op (dims, comparison direction, constant)."""
    if op == "constant":
        m = re.search(r"dense<([^>]*)>", head)
        return m.group(1)[:20] if m else ""
    if op == "compare":
        m = re.match(r"\s*(\w+),", head)
        return m.group(1) if m else ""
    m = re.search(
        r"(contracting_dims = \[[^\]]*\] x \[[^\]]*\]|dims = \[[^\]]*\]|dimensions = \[[^\]]*\])", head
    )
    return m.group(1) if m else ""


# ---------------------------------------------------------------- compiled HLO

HloInstr = hlo_text.Instruction  # one parser for HLO text: inspectors/hlo_text.py


def parse_hlo(text: str) -> tuple[dict[str, list[HloInstr]], str]:
    """Return the computations of an HLO module (name → instructions) and the entry's name."""
    module = hlo_text.parse(text)
    return {name: comp.instructions for name, comp in module.computations.items()}, module.entry


def _callees(ins: HloInstr) -> list[tuple[str, str]]:
    """Return (role, computation) pairs an instruction runs as nested graphs."""
    a = ins.attrs
    if ins.opcode == "fusion" and (m := re.search(r"calls=%([\w.\-]+)", a)):
        return [("fused", m.group(1))]
    if ins.opcode == "while":
        cond = re.search(r"condition=%([\w.\-]+)", a)
        body = re.search(r"body=%([\w.\-]+)", a)
        return [(r, m.group(1)) for r, m in (("condition", cond), ("body", body)) if m]
    if ins.opcode == "conditional":
        m = re.search(r"branch_computations=\{([^}]*)\}", a)
        names = (
            re.findall(r"%([\w.\-]+)", m.group(1))
            if m
            else re.findall(r"(?:true|false)_computation=%([\w.\-]+)", a)
        )
        return [(f"branch {i}", n) for i, n in enumerate(names)]
    if ins.opcode in ("call", "async-start") and (m := re.search(r"(?:to_apply|calls)=%([\w.\-]+)", a)):
        return [("callee", m.group(1))]
    return []


def _hlo_attr(ins: HloInstr) -> str:
    """Return the important attribute of an instruction."""
    if ins.opcode == "fusion":
        m = re.search(r"kind=(\w+)", ins.attrs)
        return m.group(1) if m else ""
    m = re.search(r"(lhs_contracting_dims=\{[^}]*\}|dimensions=\{[^}]*\}|direction=\w+|index=\d+)", ins.attrs)
    return m.group(1) if m else ""


def _op_name(ins: HloInstr) -> str:
    """Return the jaxpr path XLA recorded for an instruction (`jit(f)/jvp()/mul`)."""
    m = re.search(r'op_name="([^"]*)"', ins.attrs)
    return m.group(1) if m else ""


class _HloView:
    """Draws compiled HLO computations, nesting fusions, loops and branches as clusters."""

    def __init__(self, comps: dict[str, list[HloInstr]], opts: GraphOptions, depth: int) -> None:
        self.comps, self.opts, self.depth = comps, opts, depth
        self.types: dict[str, str] = {}
        colour = opts.colour_by if opts.colour_by in styles.HEAT_COLOURINGS else "family"
        self.b = _Builder(
            Graph(title="", colour_by=colour, direction=opts.direction, edge_labels=opts.edge_labels)
        )
        self.heat = dict(opts.heat)

    def computation(
        self, name: str, path: str, level: int, args: list[str | None], call: str | None
    ) -> str | None:
        """Draw one computation; return the node producing its root value."""
        env: dict[str, str] = {}
        root = None
        for ins in self.comps.get(name, []):
            if ins.opcode == "parameter":
                idx = ins.parameter_number or 0
                if call is None and idx < len(args) and args[idx] is not None:
                    env[ins.name] = args[idx]  # a fused parameter is its operand: no node
                    continue
                nid = self.b.node(
                    Node(
                        f"{path}:{ins.name}",
                        "param",
                        f"{ins.name}: {ins.type}",
                        path,
                        heat=self.heat.get(ins.name),  # `--color-by memory`: the argument buffer's share
                        details={"instruction": f"{ins.name} = {ins.type} parameter"},
                    )
                )
                if call:
                    self.b.edge(call, nid, kind="bind")
                env[ins.name] = nid
            else:
                env[ins.name] = self.instruction(ins, path, level, env)
            self.types[ins.name] = ins.type
            if ins.root:
                root = env[ins.name]
        return root

    def instruction(self, ins: HloInstr, path: str, level: int, env: dict[str, str]) -> str:
        """Draw one instruction (expanding what it calls when open); return its result's node."""
        callees = _callees(ins)
        nid = f"{path}:{ins.name}"
        cluster = f"{path}/{ins.name}" if path else ins.name
        closed = {nid, cluster} & self.opts.collapse
        is_open = callees and not closed and (level < self.depth or bool({nid, cluster} & self.opts.expand))
        n_ops = sum(len(self.comps.get(c, [])) for _, c in callees)
        sub = " · ".join(
            filter(
                None,
                [_hlo_attr(ins), f"{n_ops} ops" if callees else "", ins.type if len(ins.type) < 40 else ""],
            )
        )
        node = Node(
            nid,
            "collapsed" if callees and not is_open else "op",
            ins.opcode,
            path,
            ins.opcode,
            op_family(ins.opcode),
            sub,
            count=max(n_ops, 1),
            heat=self.heat.get(ins.name),
            details={
                "instruction": f"{ins.name} = {ins.type} {ins.opcode}({', '.join(ins.operands)}){ins.attrs}"[
                    :600
                ],
                "result": ins.type,
                "op_name": _op_name(ins),
            },
        )
        if not is_open:
            self.b.node(node)
            for o in ins.operands:
                self.b.edge(env.get(o), nid, "", self.types.get(o, ""))
            return nid
        label = f"{ins.opcode} {ins.name}" + (
            f" ({_hlo_attr(ins)}, {n_ops} ops)" if ins.opcode == "fusion" else ""
        )
        self.b.group(Group(cluster, label, path, ins.opcode))
        operands = [env.get(o) for o in ins.operands]
        if ins.opcode == "fusion":  # the fused ops read the operands directly
            root = self.computation(callees[0][1], cluster, level + 1, operands, None)
            self._root_holds(root, cluster, ins.name)
            return root or nid
        node.group = cluster
        self.b.node(node)
        for o in ins.operands:
            self.b.edge(env.get(o), nid, "", self.types.get(o, ""))
        results = []
        for role, comp in callees:
            sub_path = f"{cluster}/{role}"
            self.b.group(Group(sub_path, f"{role}: {comp}", cluster, "region"))
            results.append(self.computation(comp, sub_path, level + 1, [], nid))
        ret = self.b.node(
            Node(
                f"{cluster}:result",
                "return",
                f"{ins.opcode} → {ins.name}",
                cluster,
                details={"result": ins.type},
            )
        )
        for r in results:
            self.b.edge(r, ret, kind="bind")
        return ret

    def _root_holds(self, root: str | None, cluster: str, name: str) -> None:
        """Memory colours: an open fusion's buffer is its root's value, so the root node wears its heat."""
        share = self.heat.get(name)
        if self.opts.colour_by != "memory" or share is None or not (root or "").startswith(f"{cluster}:"):
            return
        node = self.b.graph.nodes[self.b.order[root]]
        node.heat = (node.heat or 0.0) + share


def hlo_graph(text: str, options: GraphOptions | None = None, title: str = "compiled HLO") -> Graph:
    """Return the graph of compiled HLO: instructions, with fusions, loops and branches as clusters."""
    opts = options or GraphOptions()
    comps, entry = parse_hlo(text)
    graph = None
    for depth in range(max(opts.depth, 0), -1, -1):
        view = _HloView(comps, opts, depth)
        root = view.computation(entry, "", 0, [], None)
        graph = view.b.graph
        if root:
            view.b.edge(
                root, view.b.node(Node("hlo_result", "output", "result", "", details={"result": entry}))
            )
        if len(graph.nodes) <= opts.budget:
            break
    assert graph is not None
    if depth < opts.depth:
        graph.notes.append(f"collapsed to depth {depth} to stay within the node budget ({opts.budget})")
    graph.title = title
    graph.total_equations = sum(len(v) for v in comps.values())
    return _finish(graph, opts)


def _finish(graph: Graph, opts: GraphOptions) -> Graph:
    """Apply the shared finishing touches: legend, search highlight, long-edge stubs."""
    from inspectors.graph import EDGE_LABEL_LIMIT, LONG_EDGE_GRAPH, mark_long_edges

    graph.legend = styles.legend(graph.colour_by, [], []) if opts.legend else []
    graph.edge_labels = graph.edge_labels and len(graph.edges) <= EDGE_LABEL_LIMIT
    q = opts.search.strip()
    if q:
        hits = [n for n in graph.nodes if n.primitive == q or q in n.id.split(":")[-1].split("#")[0]]
        for n in hits:
            n.match = True
        graph.notes.append(f"search '{q}': {len(hits)} match(es)")
    if len(graph.nodes) > opts.budget:
        summarise(graph, opts.budget)
    if opts.long_edges and len(graph.nodes) > LONG_EDGE_GRAPH:
        mark_long_edges(graph, opts.long_edges)
    return graph


def summarise(graph: Graph, budget: int) -> None:
    """Fold runs of consecutive ops of one cluster into '+N ops' nodes until the graph fits the budget."""
    size = -(-len(graph.nodes) // max(budget // 2, 1))
    keep, runs, current = [], [], []
    for n in graph.nodes:
        if (
            n.kind in ("op", "collapsed")
            and not n.match
            and (not current or current[-1].group == n.group)
            and len(current) < size
        ):
            current.append(n)
            continue
        runs.append(current)
        current = [n] if n.kind in ("op", "collapsed") and not n.match else []
        if not current:
            keep.append(n)
    runs.append(current)
    alias: dict[str, str] = {}
    for run in filter(None, runs):
        if len(run) == 1:
            keep.append(run[0])
            continue
        ops = Counter(n.primitive for n in run).most_common(3)
        sid = f"{run[0].id}+{len(run)}"
        keep.append(
            Node(
                sid,
                "summary",
                f"+{len(run)} ops",
                run[0].group,
                family=Counter(n.family for n in run).most_common(1)[0][0],
                sublabel=" ".join(f"{p}×{c}" for p, c in ops),
                count=len(run),
                details={"summary": f"{len(run)} ops from {run[0].id}"},
            )
        )
        alias.update({n.id: sid for n in run})
    order = {n.id: i for i, n in enumerate(graph.nodes)}
    keep.sort(key=lambda n: order.get(n.id, order.get(n.id.rsplit("+", 1)[0], 0)))
    edges, seen = [], set()
    for e in graph.edges:
        src, dst = alias.get(e.src, e.src), alias.get(e.dst, e.dst)
        if src != dst and (src, dst, e.kind) not in seen:
            seen.add((src, dst, e.kind))
            edges.append(Edge(src, dst, "", e.type, e.kind, e.back))
    graph.nodes, graph.edges = keep, edges
    graph.notes.append(f"runs of up to {size} ops summarised to stay within the node budget ({budget})")
