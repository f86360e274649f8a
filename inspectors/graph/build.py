"""The build: the autodidax loop over a jaxpr's equations, filling the graph model.

An environment maps each variable to the node that produced it; every equation reads
its inputs from it and writes its outputs to it; sub-jaxprs become nested clusters with
slash paths (`0/jaxpr/1/body_jaxpr`) and deterministic ids. A plan per equation list
(folds of repeated blocks, blocks by model scope, summaries) says what one list shows;
`build_view` draws one view of the whole program, or None when it would pass the node budget.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from inspectors import styles
from inspectors.graph.model import (
    ANCHOR,
    CALL_GROUP,
    INPUT_GROUP_MIN,
    INPUT_GROUPS_MAX,
    PASS_THROUGH,
    PREVIOUS,
    Edge,
    Graph,
    GraphOptions,
    Group,
    Node,
    add_group,
    dropped,
    eqn_count,
    literal_text,
)
from inspectors.graph.passes import ancestors
from inspectors.graph.plan import Item, plan_items
from inspectors.results import Equation, JaxprModel, VarInfo

# ---------------------------------------------------------------- inputs grouped by pytree prefix

_PATH_PART = re.compile(r"\.[^.\[]+|\[[^\]]*\]")


def path_parts(path: str) -> list[str]:
    """Split an input's pytree path into readable parts: `params['dec'][0].w` → params, dec, [0], w."""
    head = re.match(r"[^.\[]*", path).group(0)
    parts = [head] if head else []
    for tok in _PATH_PART.findall(path[len(head) :]):
        inner = tok[1:] if tok.startswith(".") else tok[1:-1].strip("'\"")
        parts.append(f"[{inner}]" if tok.startswith("[") and inner.isdigit() else inner)
    return parts


def prefix_name(parts: list[str]) -> str:
    """Join path parts as a reader writes them: `params.dec[0]`."""
    return "".join(p if p.startswith("[") or i == 0 else f".{p}" for i, p in enumerate(parts))


def group_paths(paths: list[str], limit: int = INPUT_GROUPS_MAX) -> list[tuple[str, list[int]]]:
    """Group input paths by the deepest pytree prefix that keeps at most `limit` groups, in input order."""
    parts = [path_parts(p) for p in paths]
    best: list[tuple[str, list[int]]] = [(p, [i]) for i, p in enumerate(paths)]
    for depth in range(max((len(p) for p in parts), default=0), 0, -1):
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(parts):
            groups.setdefault(prefix_name(p[:depth]), []).append(i)
        if len(groups) <= limit:
            best = list(groups.items())
            if len(groups) < len(paths):
                return best
    return best


def type_size(type_text: str) -> int:
    """Return the number of values of a type written `f32[32,64]` (1 for a scalar)."""
    m = re.search(r"\[([\d,\s]*)\]", type_text)
    size = 1
    for d in m.group(1).split(",") if m and m.group(1).strip() else []:
        size *= int(d)
    return size


def count_text(n: int) -> str:
    """Return a count as `512`, `12.3 K`, `3.1 M`."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return str(n)


# ---------------------------------------------------------------- higher-order equations


def text_param(eqn: Equation, key: str) -> str:
    """Return a param as JAX printed it (`name=clip`), ignoring nested jaxprs."""
    flat, depth = [], 0
    for ch in eqn.text:
        depth += ch == "{"
        if depth == 0:
            flat.append(ch)
        depth -= ch == "}"
    m = re.search(rf"\b{re.escape(key)}=([^\s\]]+)", "".join(flat))
    return m.group(1) if m else eqn.params.get(key, "")


def _int(eqn: Equation, key: str) -> int:
    """Return an integer param (0 when missing)."""
    try:
        return int(eqn.params.get(key, "0"))
    except ValueError:
        return 0


def _split(n_first: int, first: str, n_second: int, second: str, n: int, rest: str) -> list[str]:
    """Return role names for n inputs: n_first of one, n_second of the next, then the rest."""
    roles = [first] * n_first + [second] * n_second
    return (roles + [rest] * n)[:n]


@dataclass(frozen=True)
class Binding:
    """How a higher-order primitive's operands and results meet its sub-jaxprs."""

    label: Callable[[Equation], str]
    sub_label: Callable[[Equation, str], str] = lambda e, role: role
    in_roles: Callable[[Equation, str, int], list[str]] = lambda e, role, n: [""] * n
    out_roles: Callable[[Equation, str, int], list[str]] = lambda e, role, n: [""] * n
    carries: Callable[[Equation, str], list[tuple[int, int]]] = lambda e, role: []


def _scan_in(e: Equation, role: str, n: int) -> list[str]:
    """Scan body inputs: consts, carry, xs."""
    return _split(_int(e, "num_consts"), "const", _int(e, "num_carry"), "carry", n, "xs")


def _while_in(e: Equation, role: str, n: int) -> list[str]:
    """While cond/body inputs: their consts, then the carry."""
    key = "cond_nconsts" if role == "cond_jaxpr" else "body_nconsts"
    return _split(_int(e, key), "const", 0, "", n, "carry")


def _while_carries(e: Equation, role: str) -> list[tuple[int, int]]:
    """Body output i feeds body input (body_nconsts + i) on the next trip."""
    if role != "body_jaxpr":
        return []
    k = _int(e, "body_nconsts")
    return [(i, k + i) for i in range(_n_outs(e))]


def _n_outs(e: Equation) -> int:
    """Return the number of results of an equation."""
    return len(e.outvars)


def _branch_label(e: Equation, role: str) -> str:
    """Label `branches[1]` as `branch 1`."""
    m = re.match(r"branches\[(\d+)\]", role)
    return f"branch {m.group(1)} (index = {m.group(1)})" if m else role


def _custom_label(kind: str, rules: tuple[str, ...]) -> Callable[[Equation], str]:
    """Return a labeller that names a custom-rule call and its rules."""

    def label(e: Equation) -> str:
        shown = ", ".join(f"{r} rule: {text_param(e, r)}" for r in rules if text_param(e, r))
        return f"{kind}: {text_param(e, 'name') or '?'}" + (f"\n{shown}" if shown else "")

    return label


BINDINGS: dict[str, Binding] = {
    "jit": Binding(label=lambda e: f"jit: {e.params.get('name', '?')}"),
    "pjit": Binding(label=lambda e: f"pjit: {e.params.get('name', '?')}"),
    "closed_call": Binding(label=lambda e: "closed_call"),
    "cond": Binding(
        label=lambda e: f"cond · {len(e.subjaxprs)} branches (operand 0 is the index)",
        sub_label=_branch_label,
        in_roles=lambda e, role, n: ["operand"] * n,
    ),
    "while": Binding(
        label=lambda e: "while loop",
        sub_label=lambda e, role: {
            "cond_jaxpr": "cond_jaxpr: loop condition",
            "body_jaxpr": "body_jaxpr: loop body",
        }.get(role, role),
        in_roles=_while_in,
        out_roles=lambda e, role, n: ["continue?"] * n if role == "cond_jaxpr" else ["carry"] * n,
        carries=_while_carries,
    ),
    "scan": Binding(
        label=lambda e: (
            f"scan · length {e.params.get('length', '?')}"
            + (" · reverse" if e.params.get("reverse") == "True" else "")
        ),
        sub_label=lambda e, role: f"body: consts {_int(e, 'num_consts')}, carry {_int(e, 'num_carry')}, xs",
        in_roles=_scan_in,
        out_roles=lambda e, role, n: _split(_int(e, "num_carry"), "carry", 0, "", n, "ys"),
        carries=lambda e, role: [(i, _int(e, "num_consts") + i) for i in range(_int(e, "num_carry"))],
    ),
    "custom_jvp_call": Binding(
        label=_custom_label("custom_jvp", ("jvp",)), sub_label=lambda e, role: "call_jaxpr: primal"
    ),
    "custom_vjp_call": Binding(
        label=_custom_label("custom_vjp", ("fwd", "bwd")), sub_label=lambda e, role: "call_jaxpr: primal"
    ),
    "custom_vjp_call_jaxpr": Binding(
        label=_custom_label("custom_vjp", ("fwd", "bwd")), sub_label=lambda e, role: "fun_jaxpr: primal"
    ),
    "remat2": Binding(
        label=lambda e: (
            f"checkpoint (remat) · policy {e.params.get('policy', 'None')}"
            + (" · differentiated" if e.params.get("differentiated") == "True" else "")
        )
    ),
    "shard_map": Binding(
        label=lambda e: (
            "shard_map · "
            + " ".join(f"{k}={e.params[k]}" for k in ("mesh", "in_specs", "out_specs") if k in e.params)[:90]
        )
    ),
    "xla_pmap": Binding(
        label=lambda e: f"pmap: {e.params.get('name', '?')} · axis {e.params.get('axis_name', '?')}"
    ),
}


def binding(primitive: str) -> Binding:
    """Return the binding rule of a higher-order primitive (a generic one for unknown names)."""
    return BINDINGS.get(primitive) or Binding(
        label=lambda e: " ".join(filter(None, [e.primitive, styles.param_label(e.primitive, e.params)]))
    )


class _OverBudget(Exception):
    """Raised when a view attempt grows past the node budget."""


class _View:
    """One attempt at a visible graph of a model under given options."""

    def __init__(
        self,
        opts: GraphOptions,
        depth: int,
        chunk: bool,
        abort_at: int | None,
        plans: dict,
        scope_open: int | None = None,
    ) -> None:
        self.opts, self.depth, self.chunk, self.abort_at, self.plans = opts, depth, chunk, abort_at, plans
        self.scope_open = scope_open  # model scopes nested deeper than this are drawn closed (None: all open)
        self.grouped: set[str] = set()  # nodes standing for several inputs
        self.passing: set[str] = set()  # call nodes whose operands bind straight into their body
        self.sub_paths: dict[str, list[str]] = {}
        self.graph = Graph(title="", colour_by=opts.colour_by, direction=opts.direction)
        self.order: dict[str, int] = {}
        self.edge_keys: set[tuple] = set()
        self.group_paths: set[str] = set()
        self.matches: set[str] = set()
        self.forced: set[str] = set()
        self.heat = dict(opts.heat)
        # Clusters a budget may close, by the view knob that closes them: a call's cluster by depth
        # ("depth", its level), a model scope's by scope level ("scope", its level). Asked-for and
        # search-opened clusters are not listed: no budget closes them.
        self.closable: dict[str, tuple[str, int]] = {}

    # -- primitives of the graph
    def node(self, node: Node) -> str:
        """Add a node; abort the attempt when the budget is blown."""
        self.order[node.id] = len(self.order)
        self.graph.nodes.append(node)
        if self.abort_at is not None and len(self.order) > self.abort_at:
            raise _OverBudget
        return node.id

    def edge(self, src: str | None, dst: str, v: VarInfo | None, slot: object, kind: str = "data") -> None:
        """Add an edge once per (src, dst, slot); edges against the flow become back edges."""
        if src is None or (src == dst and kind != "carry" and slot is None):
            return
        if src in self.grouped:  # one edge per consumer from a group of inputs, unlabelled
            v, slot = None, "group"
        key = (src, dst, slot, kind)
        if key in self.edge_keys:
            return
        self.edge_keys.add(key)
        back = self.order.get(src, 0) >= self.order.get(dst, 0)
        if v is not None and dropped(v):
            kind = "drop"
        self.graph.edges.append(Edge(src, dst, v.name if v else "", v.type if v else "", kind, back))

    def group(self, path: str, label: str, parent: str, kind: str) -> None:
        """Add a cluster under one already added: the hierarchy is a tree when built."""
        add_group(self.graph.groups, self.group_paths, Group(path, label, parent, kind))

    # -- the loop
    def jaxpr(
        self,
        m: JaxprModel,
        path: str,
        level: int,
        parent: str,
        env: dict[str, str],
        call: str | None = None,
        roles: tuple = ((), ()),
    ) -> list[str]:
        """Draw one jaxpr's inputs, equations and outputs; return its output node ids."""
        prefix = f"{path}:" if path else ""
        for i, v in enumerate(m.constvars):
            value = m.const_values[i] if i < len(m.const_values) else ""
            env[v.name] = self.node(
                Node(
                    f"const_{prefix}{v.name}",
                    "const",
                    f"{v.name}:{v.type}",
                    parent,
                    sublabel="const",
                    details={"value": value},
                )
            )
        paths = m.arg_paths or self.sub_paths.pop(path, [])
        grouped = self.input_groups(m, paths, prefix, parent, env, call) if not any(roles[0]) else set()
        for i, v in enumerate(m.invars):
            if i in grouped or (v.name in env and call in self.passing):
                continue  # drawn as part of a group, or bound straight to the caller's producer
            role = roles[0][i] if i < len(roles[0]) else ""
            arg = paths[i] if i < len(paths) and paths[i] != v.name else ""
            nid = self.node(
                Node(
                    f"in_{prefix}{v.name}",
                    "input",
                    f"{v.name}:{v.type}",
                    parent,
                    sublabel=arg or role,
                    details={"input": f"{v.name}:{v.type}", "role": role or arg},
                )
            )
            env[v.name] = nid
            if call:
                self.edge(call, nid, None, i, "bind")
        self.items(m.eqns, self.plan(m.eqns, path), path, level, parent, env)
        if call in self.passing:  # results bind straight to the call's return node
            return [env.get(v.name, "") for v in m.outvars]
        if self.opts.group_inputs and len(m.outvars) >= INPUT_GROUP_MIN and not any(roles[1]):
            return self.output_group(m, prefix, parent, env)
        outs = []
        for i, v in enumerate(m.outvars):
            role = roles[1][i] if i < len(roles[1]) else ""
            label = f"{v.name}" if v.literal else f"{v.name}:{v.type}"
            nid = self.node(
                Node(
                    f"out_{prefix}{i}",
                    "output",
                    label,
                    parent,
                    sublabel=role or ("out" if not path else ""),
                    details={"output": f"{v.name}:{v.type}"},
                )
            )
            if not v.literal:
                self.edge(env.get(v.name), nid, v, 0)
            outs.append(nid)
        return outs

    def input_groups(
        self, m: JaxprModel, paths: list[str], prefix: str, parent: str, env: dict[str, str], call: str | None
    ) -> set[int]:
        """Draw many inputs as one node per pytree prefix (`params[0] · 6 arrays · 12.3 K values`).

        Return the indices of the inputs drawn that way; a group is expanded by its id.
        """
        if not self.opts.group_inputs or len(m.invars) < INPUT_GROUP_MIN or len(paths) != len(m.invars):
            return set()
        drawn: set[int] = set()
        for name, members in group_paths(paths):
            gid = f"inputs_{prefix}{name}"
            if len(members) < 2 or gid in self.opts.expand:
                continue
            types = [m.invars[i].type for i in members]
            label = f"{name}\n{len(members)} arrays · {count_text(sum(map(type_size, types)))} values"
            listing = "\n".join(f"{paths[i]}: {m.invars[i].name}:{m.invars[i].type}" for i in members)
            nid = self.node(
                Node(gid, "inputs", label, parent, count=len(members), details={"inputs": listing, "id": gid})
            )
            self.grouped.add(nid)
            for i in members:
                env[m.invars[i].name] = nid
            if call:
                self.edge(call, nid, None, "group", "bind")
            drawn.update(members)
        return drawn

    def output_group(self, m: JaxprModel, prefix: str, parent: str, env: dict[str, str]) -> list[str]:
        """Draw many outputs (a gradient of every parameter) as one node."""
        gid = f"outputs_{prefix}"
        types = [v.type for v in m.outvars]
        label = f"outputs · {len(types)} arrays · {count_text(sum(map(type_size, types)))} values"
        listing = "\n".join(f"{v.name}:{v.type}" for v in m.outvars)
        nid = self.node(Node(gid, "output", label, parent, count=len(types), details={"outputs": listing}))
        for v in m.outvars:
            if not v.literal:
                self.edge(env.get(v.name), nid, None, "group")
        return [nid] * len(m.outvars)

    def plan(self, eqns: list[Equation], path: str) -> list[Item]:
        """Return the plan of an equation list (shared by every view of one build: `self.plans`)."""
        key = (path, self.chunk)
        if key not in self.plans:
            self.plans[key] = plan_items(eqns, path, self.opts, self.chunk)
        return self.plans[key]

    def items(
        self, eqns: list[Equation], items: list[Item], path: str, level: int, parent: str, env: dict[str, str]
    ) -> None:
        """Draw a list of items."""
        for it in items:
            if it.kind == "eqn":
                self.equation(eqns[it.start], level, parent, env)
            elif it.kind == "fold":
                self.fold(eqns, it, level, parent, env)
            elif self.block_open(it, eqns):
                kind = "module" if it.scope else "block"
                self.group(it.id, f"{it.label} · {it.end - it.start} equations", parent, kind)
                if it.scope and not self.pinned_open(it, eqns):
                    self.closable[it.id] = ("scope", it.level)
                self.items(eqns, it.items, path, level, it.id, env)
            else:
                self.summary(eqns[it.start : it.end], it, parent, env)

    def block_open(self, it: Item, eqns: list[Equation]) -> bool:
        """Return whether a block is drawn open: asked for, holding a match, or open by default."""
        opened = it.opened and it.id not in self.opts.collapse
        return opened or self.is_open(it.id, eqns[it.start : it.end]) or self.scope_opens(it)

    def pinned_open(self, it: Item, eqns: list[Equation]) -> bool:
        """Return whether a block is open whatever the view: opened by the plan, asked for, or a match's."""
        return (it.opened and it.id not in self.opts.collapse) or self.is_open(it.id, eqns[it.start : it.end])

    def scope_opens(self, it: Item) -> bool:
        """Return whether a model scope's block is drawn open at this attempt's scope depth."""
        if not it.scope or it.id in self.opts.collapse:
            return False
        return self.scope_open is None or it.level < self.scope_open

    def is_open(self, item_id: str, eqns: list[Equation]) -> bool:
        """Return whether a block is expanded: asked for, or holding a search match."""
        if item_id in self.opts.collapse:
            return False
        return item_id in self.opts.expand or any(e.id in self.matches or e.id in self.forced for e in eqns)

    def fold(self, eqns: list[Equation], it: Item, level: int, parent: str, env: dict[str, str]) -> None:
        """Draw the first copy of a repeated block; later copies reuse its nodes."""
        reps = (it.end - it.start) // it.period
        self.group(
            it.id,
            f"repeated block ×{reps} ({it.period} equations each, {it.start}–{it.end - 1})",
            parent,
            "fold",
        )
        first = [self.equation(e, level, it.id, env) for e in eqns[it.start : it.start + it.period]]
        for k in range(it.start + it.period, it.end):
            rep = first[(k - it.start) % it.period]
            self.reuse(eqns[k], rep, env)

    def reuse(self, eqn: Equation, rep: tuple[str, str], env: dict[str, str]) -> None:
        """Route a repeated equation's variables through its representative's nodes."""
        dst, src = rep
        if eqn.id in self.matches:
            self.mark(dst)
        for slot, v in enumerate(eqn.invars):
            if not v.literal:
                self.edge(env.get(v.name), dst, v, slot)
        for v in eqn.outvars:
            env[v.name] = src

    def mark(self, nid: str) -> None:
        """Highlight a node as a search match."""
        for n in reversed(self.graph.nodes):
            if n.id == nid:
                n.match = True
                return

    def summary(self, eqns: list[Equation], it: Item, parent: str, env: dict[str, str]) -> None:
        """Draw many equations as one '+N equations' node."""
        n = sum(eqn_count(e) for e in eqns)
        prims = Counter(e.primitive for e in eqns).most_common(3)
        lines = [e.source.line for e in eqns if e.source]
        provs = Counter(e.provenance for e in eqns).most_common(1)
        fams = Counter(styles.family(e.primitive, bool(e.subjaxprs)) for e in eqns).most_common(1)
        sub = " ".join(f"{p}×{c}" for p, c in prims)
        where = f"lines {min(lines)}–{max(lines)}" if lines else ""
        title, first = (it.label, f"{n} equations") if it.scope else (f"+{n} equations", it.label)
        nid = self.node(
            Node(
                it.id,
                "summary",
                title,
                parent,
                primitive="",
                family=fams[0][0],
                sublabel=f"{first}\n{sub}" + (f"\n{where}" if where else ""),
                provenance=provs[0][0],
                line=lines[0] if lines else None,
                count=n,
                heat=sum(self.heat[e.id] for e in eqns if e.id in self.heat) if self.heat else None,
                details={
                    "summary": f"{n} equations ({it.start}–{it.end - 1}) {it.label}",
                    "primitives": sub,
                    "source": where,
                },
            )
        )
        self.absorb(eqns, nid, env)
        env[PREVIOUS] = nid

    def absorb(self, eqns: list[Equation], nid: str, env: dict[str, str]) -> None:
        """Route the variables of equations hidden in one node through that node."""
        for e in eqns:
            for v in e.invars:
                if not v.literal and env.get(v.name) != nid:
                    self.edge(env.get(v.name), nid, v, None)
            for v in e.outvars:
                env[v.name] = nid

    def passes_through(self, eqn: Equation) -> bool:
        """Return whether a call's many operands bind straight into its lone sub-jaxpr."""
        if not self.opts.group_inputs or eqn.primitive not in PASS_THROUGH or len(eqn.subjaxprs) != 1:
            return False
        sub = eqn.subjaxprs[0].jaxpr
        return len(eqn.invars) >= INPUT_GROUP_MIN and len(sub.invars) == len(eqn.invars)

    def expanded(self, eqn: Equation, level: int) -> bool:
        """Return whether a higher-order equation shows its sub-jaxprs."""
        if eqn.id in self.opts.collapse:
            return False
        return level < self.depth or eqn.id in self.opts.expand or eqn.id in self.forced

    def equation(self, eqn: Equation, level: int, parent: str, env: dict[str, str]) -> tuple[str, str]:
        """Draw one equation; return (node reading its inputs, node producing its outputs)."""
        if eqn.subjaxprs and self.expanded(eqn, level):
            return self.call(eqn, level, parent, env)
        kind = "collapsed" if eqn.subjaxprs else "eqn"
        nid = self.node(self.eqn_node(eqn, f"eqn_{eqn.id}", kind, parent))
        self.inputs(eqn, nid, env)
        self.outputs(eqn, nid, env, parent)
        env[PREVIOUS] = nid
        return nid, nid

    def eqn_node(self, eqn: Equation, nid: str, kind: str, parent: str) -> Node:
        """Return the node of an equation, with what hovering over it shows."""
        literals = " ".join(literal_text(v.name) for v in eqn.invars if v.literal)
        sub = styles.param_label(eqn.primitive, eqn.params)
        if kind == "collapsed":
            sub = f"{binding(eqn.primitive).label(eqn)} ▸ {eqn_count(eqn) - 1} eqns"
        elif kind == "call":
            sub = ""  # the cluster's label says it
        sub = " · ".join(filter(None, [sub, f"lit {literals}" if literals else ""]))
        src = eqn.source
        return Node(
            nid,
            kind,
            eqn.primitive,
            parent,
            eqn.primitive,
            styles.family(eqn.primitive, bool(eqn.subjaxprs)),
            sub.replace('"', "'"),
            eqn.provenance,
            src.line if src else None,
            eqn_count(eqn),
            details={
                "equation": eqn.text,
                "params": "\n".join(f"{k}={v}" for k, v in eqn.params.items()),
                "source": f"{src.file}:{src.line} ({src.function})  {src.code.strip()}" if src else "",
                "inputs": " ".join(f"{literal_text(v.name)}:{v.type}" for v in eqn.invars),
                "outputs": " ".join(f"{v.name}:{v.type}" for v in eqn.outvars),
                "provenance": eqn.provenance or "primal",
                "id": eqn.id,
            },
            match=eqn.id in self.matches,
            heat=self.heat.get(eqn.id),
        )

    def inputs(self, eqn: Equation, nid: str, env: dict[str, str]) -> None:
        """Draw an edge from each input's producer (an equation without any hangs under its call)."""
        for slot, v in enumerate(eqn.invars):
            if not v.literal:
                self.edge(env.get(v.name), nid, v, slot)
        if ANCHOR in env and all(v.literal for v in eqn.invars):
            # Inside a scope's cluster, hang it under the equation before it: an anchor from the
            # call at the top would stretch the cluster up to there (layers drawn as a staircase).
            group = self.graph.nodes[-1].group if self.graph.nodes else ""
            inside = PREVIOUS in env and group != env.get(CALL_GROUP, group)
            self.edge(env[PREVIOUS] if inside else env[ANCHOR], nid, None, "anchor", "anchor")

    def outputs(self, eqn: Equation, nid: str, env: dict[str, str], parent: str) -> None:
        """Record the node producing each output; dropped outputs get a quiet stub."""
        for i, v in enumerate(eqn.outvars):
            env[v.name] = nid
            if dropped(v):
                did = self.node(
                    Node(f"drop_{eqn.id}:{i}", "drop", "_", parent, details={"dropped": f"_:{v.type}"})
                )
                self.edge(nid, did, v, i, "drop")

    def call(self, eqn: Equation, level: int, parent: str, env: dict[str, str]) -> tuple[str, str]:
        """Draw a higher-order equation as a cluster: call node, sub-jaxprs, return node."""
        rule = binding(eqn.primitive)
        label = rule.label(eqn)
        if len(eqn.subjaxprs) == 1 and rule.sub_label(eqn, eqn.subjaxprs[0].role) != eqn.subjaxprs[0].role:
            label += f"\n{rule.sub_label(eqn, eqn.subjaxprs[0].role)}"
        self.group(eqn.id, label, parent, eqn.primitive)
        if eqn.id not in self.opts.expand and eqn.id not in self.forced:
            self.closable[eqn.id] = ("depth", level)
        cid = self.node(self.eqn_node(eqn, f"eqn_{eqn.id}", "call", eqn.id))
        through = self.passes_through(eqn)
        if not through:
            self.inputs(eqn, cid, env)
        sub_outs = []
        for sub in eqn.subjaxprs:
            path = f"{eqn.id}/{sub.role}"
            # A lone sub-jaxpr (jit, remat, custom_jvp) needs no cluster of its own.
            group = path if len(eqn.subjaxprs) > 1 else eqn.id
            if group == path:
                self.group(path, rule.sub_label(eqn, sub.role), eqn.id, sub.role)
            n_in, n_out = len(sub.jaxpr.invars), len(sub.jaxpr.outvars)
            roles = (rule.in_roles(eqn, sub.role, n_in), rule.out_roles(eqn, sub.role, n_out))
            inner: dict[str, str] = {ANCHOR: cid, CALL_GROUP: group}
            if through:
                # Many operands passed straight in (the top-level jit of a model): the body reads
                # them from their producers, with no second row of input nodes.
                self.passing.add(cid)
                for outer, v in zip(eqn.invars, sub.jaxpr.invars, strict=True):
                    if not outer.literal and outer.name in env:
                        inner[v.name] = env[outer.name]
            outs = self.jaxpr(sub.jaxpr, path, level + 1, group, inner, cid, roles)
            ins = [inner.get(v.name) for v in sub.jaxpr.invars]
            for o, i in rule.carries(eqn, sub.role):
                if o < len(outs) and i < len(ins):
                    self.edge(outs[o], ins[i], sub.jaxpr.outvars[o], ("carry", i), "carry")
            sub_outs.append(outs)
        names = " ".join(v.name for v in eqn.outvars)
        rid = self.node(
            Node(
                f"ret_{eqn.id}",
                "return",
                f"{eqn.primitive} → {names}"[:60],
                eqn.id,
                eqn.primitive,
                "control",
                details={"results": " ".join(f"{v.name}:{v.type}" for v in eqn.outvars)},
            )
        )
        for outs in sub_outs:
            for k, o in enumerate(outs):
                self.edge(o or None, rid, None, "through" if through else k, "bind")
        self.outputs(eqn, rid, env, parent)
        env[PREVIOUS] = rid
        return cid, rid


def is_wrapped(model: JaxprModel) -> bool:
    """Return whether a program is one call around everything (a few equations, one with a body)."""
    return len(model.eqns) <= 3 and any(e.subjaxprs for e in model.eqns)


def build_view(
    model: JaxprModel,
    opts: GraphOptions,
    depth: int,
    chunk: bool,
    budget: int | None,
    plans: dict,
    matches: list[str],
    scope_open: int | None = None,
) -> Graph | None:
    """Build one view of a program, or return None as soon as it grows past `budget` nodes.

    `depth`: levels of sub-jaxprs open; `chunk`: long lists summarised; `scope_open`: model scopes
    nested deeper than this drawn closed (None: all open); `plans` is shared between views.
    """
    view = _View(opts, depth, chunk, budget, plans, scope_open)
    view.matches = set(matches)
    view.forced = {a for m in matches for a in ancestors(m)}
    try:
        view.jaxpr(model, "", 0, "", {})
    except _OverBudget:
        return None
    return view.graph


def build_open(
    model: JaxprModel, opts: GraphOptions, depth: int, plans: dict, matches: list[str]
) -> tuple[Graph, dict[str, tuple[str, int]]]:
    """Build the most open view (every model scope open, `depth` levels of calls), with no budget.

    Return it and the clusters a budget may close (`_View.closable`): the data the budget pass
    (`passes.fit_view`) decides on without building again.
    """
    view = _View(opts, depth, False, None, plans, None)
    view.matches = set(matches)
    view.forced = {a for m in matches for a in ancestors(m)}
    view.jaxpr(model, "", 0, "", {})
    return view.graph, view.closable
