"""Where the memory goes: residuals saved for the backward pass, the compiled peak, remat side by side.

- **residuals**: the list `jax.ad_checkpoint.print_saved_residuals` prints, computed the way it
  computes it (public pieces only: `jax.make_jaxpr` of `jax.vjp`, whose last outputs are the
  residuals the pullback closes over), for the function the pipeline's grad differentiates, with
  respect to the inputs that grad differentiates; each with bytes, line and model scope.
- **peak**: XLA's own buffer assignment of the compiled module (its dump: `*-buffer-assignment.txt`
  and `*-live-range.txt`): bytes live at each step of the schedule, the peak, the buffers live
  there with their HLO instruction, equation and line, totals beside `memory_analysis()`.
- **remat**: the differentiated function under `jax.checkpoint(policy=...)`, traced, lowered and
  compiled once more, beside the program as written (residuals diffed, peak, FLOPs).

Parsing the dump and grouping are plain Python (no JAX import at module level);
only `saved_residuals`, `remat` and `attach` run JAX.
"""

from __future__ import annotations

import glob
import math
import os
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from inspectors.results import (
    InspectionResult,
    LiveBuffer,
    MemoryGroup,
    MemoryReport,
    PeakReport,
    RematComparison,
    ResidualReport,
    SavedResidual,
)

# The pipeline's transforms that differentiate, and which inputs they differentiate by default:
# "argnums" (jax: `argnums`, default 0), "first" (the libraries: the first argument), "all" (vjp).
DIFFERENTIATING: dict[str, str] = {
    "grad": "argnums", "value_and_grad": "argnums", "vjp": "all",
    "nnx.grad": "argnums", "nnx.value_and_grad": "argnums",
    "eqx.filter_grad": "first", "eqx.filter_value_and_grad": "first",
}  # fmt: skip
POLICIES = (
    "nothing_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable", "everything_saveable",
    "save_only_these_names", "save_any_names_but_these",
)  # fmt: skip  # `jax.checkpoint_policies` by name; the two `names` ones take `:a,b`
DUMP_OPTIONS = {"xla_dump_hlo_as_text": True}  # no pass regex: the optimized module and its buffer assignment


def dump_options(folder: str) -> dict[str, Any]:
    """Compiler options that make XLA write the optimized module's buffer assignment into `folder`."""
    return {"xla_dump_to": folder, **DUMP_OPTIONS}


def fmt_bytes(n: float | None) -> str:
    """Return a size as people read it: `1.75 MiB`, `512 B`."""
    if n is None:
        return "not available"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


# --- residuals: what print_saved_residuals computes, for the pipeline's grad -----------------------


def grad_step(names: list[str]) -> int | None:
    """Return the index of the pipeline's first differentiating transform, or None."""
    return next((k for k, name in enumerate(names) if name in DIFFERENTIATING), None)


def diff_positions(name: str, options: dict[str, Any], n_args: int) -> tuple[int, ...]:
    """Return the positional arguments a differentiating transform differentiates."""
    rule = DIFFERENTIATING[name]
    if rule == "all":
        return tuple(range(n_args))
    if rule == "first":
        return (0,)
    argnums = options.get("argnums", 0)
    return tuple(argnums) if isinstance(argnums, (tuple, list)) else (argnums,)


def saved_residuals(
    f: Callable,
    args: tuple,
    kwargs: dict,
    diff: tuple[int, ...],
    names: list[str],
    where: Callable[[Any], tuple[int | None, str]],
) -> list[SavedResidual]:
    """Return the residuals `jax.vjp` of `f` saves, differentiating the inexact leaves of `args[diff]`.

    `names[j]` names flat input j (`ws[0]`, as JAX's own `arg_names`); `where(source_info)`
    returns (user line, scope). With every input differentiated this is exactly JAX's
    `print_saved_residuals(f, *args)`.
    """
    import jax

    flat, tree = jax.tree_util.tree_flatten((tuple(args), dict(kwargs)))
    owners = _owners(args, kwargs)
    wrt = [j for j, leaf in enumerate(flat) if owners[j] in diff and _inexact(leaf)]

    def linearized(*leaves: Any) -> Any:
        def of_diff(*d: Any) -> Any:
            full = list(leaves)
            for j, v in zip(wrt, d, strict=True):
                full[j] = v
            a, kw = jax.tree_util.tree_unflatten(tree, full)
            return f(*a, **kw)

        return jax.vjp(of_diff, *[leaves[j] for j in wrt])

    closed, shape = jax.make_jaxpr(linearized, return_shape=True)(*flat)
    n_res = len(jax.tree_util.tree_leaves(shape[1]))  # the pullback's leaves are its residuals
    jaxpr = closed.jaxpr
    return residual_rows(jaxpr, list(jaxpr.outvars[len(jaxpr.outvars) - n_res :]), names, where)


def _owners(args: tuple, kwargs: dict) -> list[int | str]:
    """Return, per flat input leaf, the position (or keyword) of the argument it belongs to."""
    import jax

    owners: list[int | str] = []
    for i, a in enumerate(args):
        owners += [i] * len(jax.tree_util.tree_leaves(a))
    for k, v in kwargs.items():
        owners += [k] * len(jax.tree_util.tree_leaves(v))
    return owners


def _inexact(leaf: Any) -> bool:
    """True for a floating or complex leaf: what grad can differentiate."""
    import jax
    import numpy as np

    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, np.inexact)


def residual_rows(
    jaxpr: Any, outvars: list[Any], names: list[str], where: Callable[[Any], tuple[int | None, str]]
) -> list[SavedResidual]:
    """Describe residual variables in `print_saved_residuals`'s order and words (literals, constants,
    arguments, then equation outputs), looking through `reduce_precision` as JAX does."""
    import jax.extend.core as jex
    from jax.extend import source_info_util

    literals = [v for v in outvars if isinstance(v, jex.Literal)]
    subst = {e.outvars[0]: e.invars[0] for e in jaxpr.eqns if e.primitive.name == "reduce_precision"}
    wanted = {subst.get(v, v) for v in outvars if not isinstance(v, jex.Literal)}
    rows = [_row(v.aval, "from a literal") for v in literals]
    rows += [_row(v.aval, "from a constant") for v in jaxpr.constvars if v in wanted]
    for i, v in enumerate(jaxpr.invars):
        if v in wanted:
            name = names[i] if i < len(names) and names[i] else ""
            rows.append(
                _row(
                    v.aval,
                    f"from the argument {name}" if name else f"from the argument at flattened index {i}",
                )
            )
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            if v not in wanted:
                continue
            src = source_info_util.summarize(eqn.source_info)
            line, scope = where(eqn.source_info)
            rows.append(_row(v.aval, f"{_made_by(eqn)} from {src}", eqn.primitive.name, line, src, scope))
    return rows


def _made_by(eqn: Any) -> str:
    """JAX's words for an equation's residual: named, a jitted function's output, a primitive's."""
    name = eqn.params.get("name") if eqn.primitive.name == "name" else None
    prim = eqn.params.get("_prim")
    if name is None and type(prim).__name__ == "CheckpointName":
        name = prim.name
    if name is not None:
        return f"named '{name}'"
    if eqn.primitive.name == "jit":
        return f"output of jitted function '{eqn.params['name']}'"
    return f"output of {eqn.primitive.name}"


def _row(
    aval: Any, words: str, primitive: str = "", line: int | None = None, src: str = "", scope: str = ""
) -> SavedResidual:
    """One residual: its type, size, what made it, as JAX prints it."""
    short = aval.str_short(short_dtypes=True)
    size = int(math.prod(aval.shape) * aval.dtype.itemsize) if hasattr(aval, "shape") else 0
    made_by = words.removeprefix("from the ").removeprefix("from ").split(" from ")[0]
    return SavedResidual(short, size, made_by, primitive, line, src, scope, "", f"{short} {words}")


def group(residuals: list[SavedResidual], key: Callable[[SavedResidual], str]) -> list[MemoryGroup]:
    """Return residuals grouped by `key`, largest total first."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for r in residuals:
        counts[key(r)] += 1
        sizes[key(r)] += r.bytes
    return [MemoryGroup(k, counts[k], sizes[k]) for k in sorted(sizes, key=lambda k: (-sizes[k], k))]


def line_key(r: SavedResidual) -> str:
    """Group key by line: `line 7`, or what made it for inputs (`the arguments`)."""
    if r.line is not None:
        return f"line {r.line}"
    return "arguments" if r.made_by.startswith("argument") else (r.where or r.made_by)


def report_of(
    function: str, transform: str, wrt: str, residuals: list[SavedResidual], note: str = ""
) -> ResidualReport:
    """Wrap residuals with their totals and groups."""
    return ResidualReport(
        function=function,
        transform=transform,
        wrt=wrt,
        residuals=residuals,
        total_bytes=sum(r.bytes for r in residuals),
        by_line=group(residuals, line_key),
        by_scope=group(residuals, lambda r: r.scope or "(no scope)"),
        note=note,
    )


def link_equations(residuals: list[SavedResidual], model: Any) -> None:
    """Name each residual's forward equation in the transformed jaxpr: the n-th of its line and primitive."""
    from inspectors.mapping import phase
    from inspectors.results import walk

    queues: dict[tuple[int | None, str], list[str]] = defaultdict(list)
    for eqn in walk(model):
        if eqn.source is not None and phase(eqn.name_stack) != "backward":
            queues[(eqn.source.line, eqn.primitive)].append(eqn.id)
    for r in residuals:
        queue = queues.get((r.line, r.primitive)) if r.primitive else None
        if queue:
            r.equation = queue.pop(0)


# --- the compiled peak: XLA's buffer assignment --------------------------------------------------

_ALLOCATION = re.compile(r"^allocation (\d+): size (\d+), (.*):$")
_VALUE = re.compile(r"^ value: <\d+ ([^ >]+)(?: @\d+)?> \(size=(\d+),offset=(\d+)\): (.*)$")
_RANGE = re.compile(r"^\s+(\S+?\{[\d,]*\}):(\d+)-(\d+)$")
_STEP = re.compile(r"^\s+(\d+):(\S+)$")
_PEAK = re.compile(r"Stack trace breakdown for peak usage: ([\d ]+) bytes")
_ALIAS_ROW = re.compile(r"\{([\d,\s]*)\}:\s*\((\d+),\s*\{([\d,\s]*)\}")


@dataclass
class Allocation:
    """One allocation of XLA's buffer assignment: its size, kind and the values it holds."""

    size: int
    kinds: set[str] = field(default_factory=set)  # argument, output, temporary, constant, thread-local
    parameter: int | None = None
    values: list[tuple[str, int, str, int]] = field(default_factory=list)  # (value, size, type, offset)


def allocation_kinds(text: str) -> tuple[set[str], int | None]:
    """Read an allocation header's attributes (`parameter 0, ...`, `maybe-live-out`, `preallocated-temp`)."""
    kinds: set[str] = set()
    m = re.search(r"parameter (\d+)", text)
    if m:
        kinds.add("argument")
    if "maybe-live-out" in text or "output shape" in text:
        kinds.add("output")
    if "constant" in text:
        kinds.add("constant")
    if "thread-local" in text:
        kinds.add("thread-local")
    if not kinds:
        kinds.add("temporary")
    return kinds, int(m.group(1)) if m else None


def parse_buffer_assignment(text: str) -> list[Allocation]:
    """Parse `*-buffer-assignment.txt`: allocations and the values each holds."""
    out: list[Allocation] = []
    for line in text.splitlines():
        if m := _ALLOCATION.match(line):
            kinds, parameter = allocation_kinds(m.group(3))
            out.append(Allocation(int(m.group(2)), kinds, parameter))
        elif (v := _VALUE.match(line)) and out:
            name = v.group(1) if "{" in v.group(1) else v.group(1) + "{}"
            out[-1].values.append((name, int(v.group(2)), v.group(4), int(v.group(3))))
        elif line.startswith(("Total bytes used", "Used values")):
            break
    return out


def parse_live_range(text: str) -> tuple[list[str], dict[str, tuple[int, int]], int | None]:
    """Parse `*-live-range.txt`: the instruction sequence, each value's live range, XLA's peak."""
    sequence: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("InstructionSequence:", "BufferLiveRange:"):
            section = stripped
        elif stripped.startswith("Live ranges at"):
            section = "peak"
        elif section == "InstructionSequence:" and (m := _STEP.match(line)):
            sequence.append(m.group(2))
        elif section == "BufferLiveRange:" and (m := _RANGE.match(line)):
            ranges[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    peak = _PEAK.search(text)
    return sequence, ranges, int(peak.group(1).replace(" ", "")) if peak else None


def live_curve(allocations: list[Allocation], ranges: dict[str, tuple[int, int]], steps: int) -> list[int]:
    """Return bytes live at each step: per allocation, the union of the byte ranges of its live values.

    Values that share bytes (an in-place update, a bitcast) count once, as the heap XLA
    simulates counts them: the curve's peak is `memory_analysis().peak_memory_in_bytes`.
    """
    delta = [0] * (steps + 2)
    for a in allocations:
        if "thread-local" in a.kinds:
            continue
        events: dict[int, list[tuple[int, tuple[int, int]]]] = defaultdict(list)
        for n, size, _, offset in a.values:
            if n in ranges and size:
                start, end = ranges[n]
                events[start].append((1, (offset, offset + size)))
                events[end + 1].append((-1, (offset, offset + size)))
        active: Counter[tuple[int, int]] = Counter()
        previous = 0
        for t in sorted(events):  # a sweep: only the values live between two events are measured
            for sign, span in events[t]:
                active[span] += sign
                if not active[span]:
                    del active[span]
            live = _union(list(active))
            delta[t] += live - previous
            previous = live
    out, live = [], 0
    for d in delta[:steps]:
        live += d
        out.append(live)
    return out


def _union(intervals: list[tuple[int, int]]) -> int:
    """Return the bytes covered by byte ranges [start, end)."""
    total, reach = 0, -1
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def totals_of(allocations: list[Allocation]) -> dict[str, int]:
    """Sum allocations by kind, as `memory_analysis()` counts them (aliased ones once in each)."""
    out = {"argument": 0, "output": 0, "alias": 0, "temporary": 0, "constant": 0}
    for a in allocations:
        if "thread-local" in a.kinds:
            continue
        for kind in ("argument", "output", "temporary", "constant"):
            out[kind] += a.size if kind in a.kinds else 0
        out["alias"] += a.size if {"argument", "output"} <= a.kinds else 0
    return out


def find_dump(folder: str, suffix: str) -> str | None:
    """Return the text of the largest `*after_optimizations-<suffix>` file of a dump folder."""
    paths = glob.glob(os.path.join(folder, f"*after_optimizations-{suffix}"))
    if not paths:
        return None
    with open(max(paths, key=os.path.getsize), encoding="utf-8", errors="replace") as fh:
        return fh.read()


MAX_ATTRIBUTED = (
    64  # buffers at the peak traced to their line and equations (the largest; the rest keep type, size)
)
XLA_PEAK_NOTE = (
    "XLA's own live-range summary states {}: it does not count a value at the step its last reader "
    "defines the next one; this plot counts an instruction's operands and result as live together"
)
NO_ASSIGNMENT = (
    "not available: XLA wrote no buffer assignment for this compile (this backend does not dump one)"
)


def read_peak(
    folder: str, hlo: str, filename: str, model: Any, arg_paths: list[str], analysis: dict[str, int] | None
) -> PeakReport:
    """Read the compiled peak from XLA's dump folder and attribute its buffers to HLO, equations and lines."""
    assignment, live = find_dump(folder, "buffer-assignment.txt"), find_dump(folder, "live-range.txt")
    if assignment is None or live is None:
        return PeakReport(available=False, note=NO_ASSIGNMENT, analysis=dict(analysis or {}))
    return peak_from_texts(assignment, live, hlo, filename, model, arg_paths, analysis)


def peak_from_texts(
    assignment: str,
    live: str,
    hlo: str,
    filename: str,
    model: Any,
    arg_paths: list[str],
    analysis: dict[str, int] | None,
) -> PeakReport:
    """Build the peak report from the buffer-assignment and live-range texts and the optimized HLO."""
    allocations = parse_buffer_assignment(assignment)
    sequence, ranges, xla_peak = parse_live_range(live)
    values: dict[str, tuple[int, str, Allocation]] = {}
    for a in allocations:
        for name, size, type_, _ in a.values:
            values[name] = (size, type_, a)
    sizes = {name: v[0] for name, v in values.items()}
    curve = live_curve(allocations, ranges, len(sequence))
    peak = max(curve) if curve else 0
    step = curve.index(peak) if curve else 0
    live_now = [n for n, (s, e) in ranges.items() if s <= step <= e and sizes.get(n, 0) > 0]
    attribute = _Attributor(hlo, filename, model, arg_paths)
    live_now.sort(key=lambda n: (-sizes[n], ranges[n][0], n))
    at_peak = [
        attribute(n, values[n], ranges[n], i < MAX_ATTRIBUTED) for i, n in enumerate(live_now) if n in values
    ]
    note = "" if xla_peak in (None, peak) else XLA_PEAK_NOTE.format(fmt_bytes(xla_peak))
    return PeakReport(
        available=True, note=note, peak_bytes=peak, peak_step=step, xla_peak_bytes=xla_peak,
        schedule=sequence, live_bytes=curve, at_peak=at_peak, totals=totals_of(allocations),
        analysis=dict(analysis or {}), aliases=aliases(hlo, arg_paths),
    )  # fmt: skip


class _LazyLocs(dict):
    """Instruction name → its `OpLoc` (line, primitive, phase), read from the metadata on first use."""

    def __init__(self, instructions: dict[str, tuple[str, Any]], tables: Any, filename: str) -> None:
        super().__init__()
        self.instructions, self.tables, self.filename = instructions, tables, filename

    def get(self, name: str, default: Any = None) -> Any:  # noqa: D102 - dict.get, filled on demand
        if name not in self:
            found = self.instructions.get(name)
            if found is None:
                return default
            from inspectors import mapping

            self[name] = mapping._hlo_op(found[1], self.tables, self.filename)  # the source map's reader
        return self[name]

    def __getitem__(self, name: str) -> Any:
        if not dict.__contains__(self, name):
            self.get(name)
        return dict.__getitem__(self, name)


class _Equations:
    """The profile's equation index (same `match`), with result shapes read by splitting, not by regex."""

    def __init__(self, model: Any, filename: str) -> None:
        from inspectors import mapping, profile
        from inspectors.results import walk

        self.by_key: dict[tuple[int, str], list[tuple[str, str, str, list[int]]]] = defaultdict(list)
        self.lines_of: dict[str, set[int]] = defaultdict(set)
        for eqn in walk(model):
            if eqn.source and mapping.same_file(eqn.source.file, filename):
                dims = _dims(eqn.outvars[0].type) if eqn.outvars else []
                self.by_key[(eqn.source.line, eqn.primitive)].append(
                    (eqn.id, mapping.phase(eqn.name_stack), eqn.provenance, dims)
                )
                self.lines_of[eqn.primitive].add(eqn.source.line)
        self._index = profile.EquationIndex.__new__(profile.EquationIndex)
        self._index.by_key, self._index.lines_of = self.by_key, self.lines_of

    def match(self, *args: Any) -> list[tuple[str, str]]:
        """`profile.EquationIndex.match` over this index."""
        return self._index.match(*args)

    def only_line(self, primitives: list[str]) -> int | None:
        """`profile.EquationIndex.only_line` over this index."""
        return self._index.only_line(primitives)


def _dims(type_text: str) -> list[int]:
    """Return the dimensions of a jaxpr type: `f32[8,3]` → [8, 3]."""
    inside = type_text.partition("[")[2].partition("]")[0]
    return [int(d) for d in inside.split(",") if d.strip().isdigit()]


class _Attributor:
    """Names a buffer's HLO instruction, line, primitive, phase and equations (the profile's resolver)."""

    def __init__(self, hlo: str, filename: str, model: Any, arg_paths: list[str]) -> None:
        from inspectors import hlo_text, profile

        parsed = hlo_text.parse(hlo)  # cached: the source map reads the same parse afterwards
        comps = {name: comp.instructions for name, comp in parsed.computations.items()}
        instructions = {i.name: (c, i) for c, lst in comps.items() for i in lst}
        # The profile's module, with sources read only for the instructions asked about (a GPT-2's
        # 11,000 instructions took half a second to read, for the 64 buffers shown).
        locs = _LazyLocs(instructions, parsed.tables, filename)
        self.module = profile.Module(parsed.name, instructions, comps, {}, locs)
        self.resolver = profile.Resolver(self.module, _Equations(model, filename))
        self.arg_paths = arg_paths

    def __call__(
        self, value: str, info: tuple[int, str, Allocation], live: tuple[int, int], trace: bool = True
    ) -> LiveBuffer:
        size, type_, alloc = info
        name = value.split("{")[0]
        kinds = [k for k in ("argument", "output", "temporary", "constant") if k in alloc.kinds]
        buf = LiveBuffer(
            value, name, type_.split("{")[0] if "[" in type_ else type_, size, ", ".join(kinds), *live
        )
        found = self.module.instructions.get(name)
        if found is None:
            return buf
        ins = found[1]
        if ins.opcode == "parameter" and ins.parameter_number is not None:
            n = ins.parameter_number
            buf.argument = self.arg_paths[n] if n < len(self.arg_paths) else f"parameter {n}"
            return buf
        if not trace:
            return buf
        src = self.resolver.source(ins, ins)
        buf.line, buf.primitive, buf.phase = src.line, src.primitive, src.phase
        from inspectors.profile import arrays

        shape = arrays(ins.type)
        dims = shape[0][1] if shape else None
        buf.equations = [i for i, _ in self.resolver.eqns.match(src.line, src.primitive, src.phase, dims)][:4]
        return buf


def aliases(hlo: str, arg_paths: list[str]) -> list[str]:
    """Return the module's input/output aliases (donated inputs): `output {0} ← params[0] (parameter 0)`."""
    head = next((line for line in hlo.splitlines() if line.startswith("HloModule")), "")
    out = []
    for out_index, param, _ in _ALIAS_ROW.findall(_braced(head, "input_output_alias=")):
        n = int(param)
        name = arg_paths[n] if n < len(arg_paths) else f"parameter {n}"
        out.append(f"output {{{out_index}}} ← {name} (parameter {n})")
    return out


def _braced(text: str, key: str) -> str:
    """Return the balanced `{...}` after `key` in `text` ("" without one)."""
    start = text.find(key + "{")
    if start < 0:
        return ""
    depth, begin = 0, start + len(key)
    for i in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin + 1 : i]
    return ""


def reconcile(peak: PeakReport) -> list[tuple[str, int | None, int | None]]:
    """Return (what, buffer assignment, memory_analysis()) rows: the totals side by side."""
    a = peak.analysis
    rows = [
        ("arguments", peak.totals.get("argument"), a.get("argument_size_in_bytes")),
        ("outputs", peak.totals.get("output"), a.get("output_size_in_bytes")),
        ("aliased", peak.totals.get("alias"), a.get("alias_size_in_bytes")),
        ("temporaries", peak.totals.get("temporary"), a.get("temp_size_in_bytes")),
    ]
    return rows


# --- remat side by side ------------------------------------------------------------------------


def policy_of(spec: str) -> Any:
    """Return `jax.checkpoint_policies.NAME` (`save_only_these_names:h,k` takes names)."""
    import jax

    name, _, names = spec.partition(":")
    if name not in POLICIES:
        raise ValueError(f"unknown checkpoint policy {name!r}; known: {', '.join(POLICIES)}")
    policy = getattr(jax.checkpoint_policies, name)
    if name in ("save_only_these_names", "save_any_names_but_these"):
        return policy(*[n.strip() for n in names.split(",") if n.strip()])
    return policy


def diff_residuals(before: list[SavedResidual], after: list[SavedResidual]) -> tuple[list[str], list[str]]:
    """Return (only in after, only in before): residuals as `type made_by line N`, counted as multisets."""

    def key(r: SavedResidual) -> str:
        return f"{r.type} {r.made_by}" + (f" line {r.line}" if r.line is not None else "")

    a, b = Counter(map(key, before)), Counter(map(key, after))
    return sorted((b - a).elements()), sorted((a - b).elements())


# --- the worker's one call -----------------------------------------------------------------------


@contextmanager
def _running(name: str) -> Iterator[None]:
    """Name the stage running now as the pipeline's stages do (for the sandbox's watchdog)."""
    from inspectors import pipeline

    outer, pipeline.current_stage = pipeline.current_stage, name
    try:
        yield
    finally:
        pipeline.current_stage = outer


def final_model(result: InspectionResult) -> Any:
    """The model of the pipeline's last jaxpr stage (the program that was compiled), or None."""
    stages = result.jaxpr_stages()
    return stages[-1].model if stages else None


RESIDUALS_MEANWHILE = True  # trace for the residuals on a thread while XLA compiles (False: after it)
THREAD_NAME = "jaxpr-explorer-residuals"  # the sandbox raises its deadline in this thread too


class Residuals:
    """The residual trace of the pipeline's grad, started before the compile and read after it.

    XLA's compile releases the GIL, so `saved_residuals` (the user's function traced once more,
    which needs nothing from the compile) runs on its own thread meanwhile. The thread touches
    nothing but this object: the stage the watchdog names stays the pipeline's (`compile`), and
    what it raises is raised again by `get`, where the trace ran before the thread.
    """

    def __init__(
        self, result: InspectionResult, chain: Any, tracer: Any, device: Any, meanwhile: bool = True
    ) -> None:
        begun = time.perf_counter()
        self.device, self.done = device, False
        self.rows: list[SavedResidual] | None = None
        self.error: BaseException | None = None
        self.grad_error: Exception | None = None
        self.thread: threading.Thread | None = None
        try:
            self.grad: _Grad | str | None = _grad_of(chain, tracer, result.request)
        except Exception as exc:  # noqa: BLE001 - raised again by `grad_of`, where attach reports it
            self.grad, self.grad_error = None, exc
        if meanwhile and isinstance(self.grad, _Grad):
            thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            try:
                thread.start()
                self.thread = thread
            except RuntimeError:  # no thread to spare (a sandbox's limit): trace after the compile
                pass
        self.main_s = time.perf_counter() - begun  # the part on the critical path, counted in "memory"

    def _run(self) -> None:
        """Trace `jax.vjp` of the grad's function for its residuals, under the main thread's device."""
        import jax

        from inspectors import pipeline

        g = self.grad
        if threading.current_thread().name == THREAD_NAME:  # the user's function is traced: "trace"
            pipeline.thread_stage.name = "trace:memory"
        # JAX's config contexts are per thread: the main thread's default device, set here again
        device = jax.default_device(self.device) if self.device is not None else nullcontext()
        try:
            with device:
                self.rows = saved_residuals(g.g, g.dyn, g.kwargs, g.positions, g.paths, g.where)
        except BaseException as exc:  # noqa: BLE001 - raised again by `get`, on the main thread
            self.error = exc
        self.done = True

    def grad_of(self) -> _Grad | str | None:
        """The pipeline's grad step (`_grad_of`); raises what it raised."""
        if self.grad_error is not None:
            raise self.grad_error
        return self.grad

    def get(self) -> list[SavedResidual]:
        """The residual rows (waiting for the thread; tracing here without one); raises what the trace raised."""
        if self.thread is not None:
            self.thread.join()
        elif not self.done:
            self._run()
        if self.error is not None:
            raise self.error
        return self.rows

    def discard(self) -> None:
        """Wait for the thread when the compile failed, so no user code runs after the request."""
        if self.thread is not None:
            self.thread.join()


def start(result: InspectionResult, chain: Any, tracer: Any, device: Any) -> Residuals:
    """Start the residual trace before `lowered.compile(...)`; `attach` reads it afterwards. Never raises."""
    return Residuals(result, chain, tracer, device, RESIDUALS_MEANWHILE)


def attach(
    result: InspectionResult,
    chain: Any,
    tracer: Any,
    compiled: Any,
    folder: str,
    residuals: Residuals | None = None,
) -> None:
    """Add the memory report to `result` (in the worker, right after compiling); never raises.

    `residuals` is what `start` began before the compile (None: the trace runs here, in turn).
    """
    begun, started = time.perf_counter(), 0.0
    report = MemoryReport(flops=result.cost.flops if result.cost else None)
    try:
        report.peak = read_peak(
            folder,
            result.text_of("hlo") or "",
            result.request.filename,
            final_model(result),
            tracer.paths,
            result.memory,
        )
    except Exception as exc:  # noqa: BLE001 - a dump we cannot read never hides the compiled program
        report.peak = PeakReport(
            available=False, note=f"not available: the buffer assignment could not be read ({exc!r})"
        )
    try:
        with _running("trace:memory"):  # the user's function runs again: a watchdog sees "trace"
            started = residuals.main_s if residuals else 0.0
            residuals = residuals or Residuals(result, chain, tracer, None, meanwhile=False)
            _residuals_and_remat(result, report, chain, tracer, residuals)
    except Exception as exc:  # noqa: BLE001
        report.notes.append(f"residuals could not be computed: {type(exc).__name__}: {exc}")
    result.memory_report = report
    result.stage_times["memory"] = time.perf_counter() - begun + started


@dataclass
class _Grad:
    """The pipeline's differentiated function and what it was called with, for residuals and remat."""

    k: int
    f: Callable
    g: Callable  # `f` over its traced arguments only
    args: tuple
    static: tuple[int, ...]
    dyn: tuple
    kwargs: dict
    positions: tuple[int, ...]
    paths: list[str]
    where: Callable


def _grad_of(chain: Any, tracer: Any, req: Any) -> _Grad | str | None:
    """The pipeline's grad step as a `_Grad`; a note when it was never called; None without a grad."""
    from inspectors.jaxpr_model import user_location
    from inspectors.pipeline import arg_paths

    k = grad_step([t.name for t in chain.pipeline])
    if k is None:
        return None
    seen = chain.call_args(k, tracer.args, tracer.static, tracer.kwargs)
    if seen is None:
        return "the outer transforms never called the differentiated function"
    args, static, kwargs = seen
    t = chain.pipeline[k]
    lines = req.source.splitlines()

    def where(source_info: Any) -> tuple[int | None, str]:
        from inspectors.graph import scope_path

        loc = user_location(source_info, req.filename, lines, tracer.codes)
        stack = str(getattr(source_info, "name_stack", ""))
        return (loc.line if loc else None), "/".join(scope_path(_Named(stack)))

    return _Grad(
        k=k, f=chain.fns[k], g=_with_static(chain.fns[k], args, static), args=args, static=static,
        dyn=tuple(a for i, a in enumerate(args) if i not in static), kwargs=kwargs,
        positions=_dynamic_positions(diff_positions(t.name, t.options, len(args)), static),
        paths=arg_paths(chain.fns[0], args, static, kwargs), where=where,
    )  # fmt: skip


def _residuals_and_remat(
    result: InspectionResult, report: MemoryReport, chain: Any, tracer: Any, residuals: Residuals
) -> None:
    """Residuals of the pipeline's grad, and the remat variant when the request names a policy."""
    names = [t.name for t in chain.pipeline]
    grad = residuals.grad_of()
    if grad is None:
        report.residuals = inner_grad_residuals(final_model(result))
        if report.residuals is None:
            report.notes.append(
                "no grad, vjp or value_and_grad in the pipeline or the program: "
                "nothing is saved for a backward pass"
            )
        return
    if isinstance(grad, str):
        report.notes.append(grad)
        return
    k, t, req = grad.k, chain.pipeline[grad.k], result.request
    # Traced again, as JAX's own `saved_residuals` does (replaying the pipeline's jaxpr instead
    # loses the residuals that are literals), on a thread while XLA compiled (`Residuals`).
    rows = residuals.get()
    link_equations(rows, final_model(result))
    outer = [n for n in names[k + 1 :] if n in ("vmap", "nnx.vmap", "eqx.filter_vmap")]
    note = "per example: the outer vmap saves each of these once per example, batched" if outer else ""
    positions = grad.positions
    wrt = (
        "all inputs"
        if DIFFERENTIATING[t.name] == "all"
        else f"argnums={positions if len(positions) > 1 else positions[0]}"
    )
    report.residuals = report_of(chain.names[k], t.name, wrt, rows, note)
    if req.remat_policy:
        report.remat = remat(req.remat_policy, grad, chain, tracer, final_model(result), req.filename, rows)


INNER_GRAD_NOTE = (
    "the grad is inside the function (nnx.grad, eqx.filter_grad, jax.grad in your code), so JAX's printer "
    "cannot be called on it from outside: these are read from the traced program instead, the values its "
    "backward (transpose) equations read from its forward (jvp) equations"
)


def inner_grad_residuals(model: Any) -> ResidualReport | None:
    """Residuals of a grad inside the user's function, from the jaxpr's forward/backward split (or None)."""
    from inspectors.graph import scope_path
    from inspectors.provenance import grad_provenance, scopes

    grad = grad_provenance(model)
    if not grad.backward:
        return None
    rows = _argument_residuals(model)
    for _, jaxpr in scopes(model):
        for eqn, var in _crossing(jaxpr):
            line = eqn.source.line if eqn.source else None
            where = f"{eqn.source.file}:{line}" if eqn.source else ""
            rows.append(
                SavedResidual(
                    type=var.type, bytes=type_bytes(var.type), made_by=f"output of {eqn.primitive}",
                    primitive=eqn.primitive, line=line, where=where,
                    scope="/".join(scope_path(eqn)), equation=eqn.id,
                )
            )  # fmt: skip
    return report_of("the function's inner grad", "grad inside the function", "", rows, INNER_GRAD_NOTE)


def _crossing(jaxpr: Any) -> list[tuple[Any, Any]]:
    """(equation, output) of one jaxpr's non-backward equations whose outputs its backward ones read.

    As `provenance.residuals`, but any equation before the backward pass counts (a broadcast JAX
    stages out of the grad carries no `jvp` in its name stack, yet it is saved).
    """
    from inspectors.mapping import phase

    produced: dict[str, tuple[Any, Any]] = {}
    found: dict[str, tuple[Any, Any]] = {}
    for eqn in jaxpr.eqns:
        if phase(eqn.name_stack) == "backward":
            for v in eqn.invars:
                if not v.literal and v.name in produced:
                    found.setdefault(v.name, produced[v.name])
        else:
            produced.update({v.name: (eqn, v) for v in eqn.outvars if not v.dropped})
    return list(found.values())


JAXPR_DTYPE_BYTES = {
    "bool": 1, "i8": 1, "u8": 1, "i16": 2, "u16": 2, "f16": 2, "bf16": 2, "i32": 4, "u32": 4, "f32": 4,
    "i64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16, "f8_e4m3fn": 1, "f8_e5m2": 1,
}  # fmt: skip


def type_bytes(type_text: str) -> int:
    """Return the bytes of a jaxpr type (`f32[8,3]` → 96, `bool[4]` → 4); 0 for what is not an array."""
    dtype, _, rest = type_text.partition("[")
    return JAXPR_DTYPE_BYTES.get(dtype, 4) * math.prod(_dims(type_text)) if rest else 0


def _argument_residuals(model: Any) -> list[SavedResidual]:
    """The program's inputs that its backward equations read (`print_saved_residuals`' "from the argument"),
    followed into sub-jaxprs that take their caller's operands one for one (jit, remat, custom rules)."""
    from inspectors.mapping import phase

    top = {v.name: f"argument {p}" for v, p in zip(model.invars, model.arg_paths or [], strict=False)}
    found: dict[str, SavedResidual] = {}

    def visit(jaxpr: Any, names: dict[str, str]) -> None:
        inputs = {v.name: v for v in jaxpr.invars}
        for e in jaxpr.eqns:
            if phase(e.name_stack) == "backward":
                for v in e.invars:
                    if v.name in inputs and v.name in names and names[v.name] not in found:
                        found[names[v.name]] = SavedResidual(v.type, type_bytes(v.type), names[v.name])
            for sub in e.subjaxprs:
                if len(sub.jaxpr.invars) == len(e.invars):
                    outer = [names.get(v.name, "") for v in e.invars]
                    visit(sub.jaxpr, {v.name: n for v, n in zip(sub.jaxpr.invars, outer, strict=True) if n})

    visit(model, top)
    return list(found.values())


def _dynamic_positions(positions: tuple[int, ...], static: tuple[int, ...]) -> tuple[int, ...]:
    """Renumber argument positions after static ones are taken out."""
    return tuple(p - sum(s < p for s in static) for p in positions if p not in static)


def _with_static(f: Callable, args: tuple, static: tuple[int, ...]) -> Callable:
    """Return `f` over its traced arguments only, the static ones put back."""
    if not static:
        return f

    def g(*dyn: Any, **kwargs: Any) -> Any:
        it = iter(dyn)
        return f(*[args[i] if i in static else next(it) for i in range(len(args))], **kwargs)

    return g


@dataclass
class _Named:
    """Just enough of an Equation for `graph.scope_path`."""

    name_stack: str


def remat(
    policy: str, grad: _Grad, chain: Any, tracer: Any, model: Any, filename: str, before: list[SavedResidual]
) -> RematComparison:
    """Checkpoint the differentiated function with `policy`, compile the pipeline over it once, compare."""
    import jax

    from inspectors import passes, transforms
    from inspectors.pipeline import _plain, cost_info, memory_info

    out = RematComparison(policy=policy)
    try:
        chosen = policy_of(policy)
        checkpointed = jax.checkpoint(grad.g, policy=chosen)
        rows = saved_residuals(checkpointed, grad.dyn, grad.kwargs, grad.positions, grad.paths, grad.where)
        link_equations(rows, model)
        out.residuals, out.residual_count = rows, len(rows)
        out.residual_bytes = sum(r.bytes for r in rows)
        out.added, out.removed = diff_residuals(before, rows)
        start = time.perf_counter()
        variant = transforms.apply_pipeline(
            jax.checkpoint(grad.f, policy=chosen, static_argnums=grad.static), chain.pipeline[grad.k :]
        )
        lowered = jax.jit(_plain(variant), static_argnums=tracer.static).lower(*tracer.args, **tracer.kwargs)
        with passes.dump_folder() as folder:
            compiled = lowered.compile(dump_options(folder))
            analysis = memory_info(compiled)
            peak = read_peak(folder, compiled.as_text(), filename, None, tracer.paths, analysis)
        out.compile_s = time.perf_counter() - start
        out.peak_bytes = peak.peak_bytes if peak.available else None
        out.temp_bytes = (analysis or {}).get("temp_size_in_bytes")
        cost = cost_info(compiled)
        out.flops = cost.flops if cost else None
    except Exception as exc:  # noqa: BLE001 - a policy that does not apply is reported, not raised
        out.error = f"{type(exc).__name__}: {exc}"
    return out


# --- remat alone: the worker job behind the app's Compare (only the variant compiles) -------------


@dataclass
class _Traced:
    """What `remat` reads of the pipeline's tracer: the inputs, static positions, paths, the user's code."""

    args: tuple
    static: tuple[int, ...]
    kwargs: dict
    paths: list[str]
    codes: Any


def compare_policy(request: Any, policy: str, before: list[SavedResidual]) -> RematComparison:
    """Remat `request`'s grad under `policy` alone: load, build the inputs, trace once, compile the variant.

    `before` are the residuals of the program as written (the inspection's), diffed against the variant's.
    The whole pipeline is traced once (not compiled): its steps record what each calls the next with,
    and its jaxpr numbers the equations the residuals link to, as the inspection's do.
    """
    import jax

    from inspectors import pipeline, sharding, transforms
    from inspectors import source as src
    from inspectors._jax_private import PrintedJaxpr
    from inspectors.jaxpr_model import model_of

    try:
        with _running("load"):
            defaults = src.read_defaults(request.source)
            sharding.use_devices(request.devices)
            module = src.load_module(request.source, request.filename)
            entry = src.resolve_entry(module, request.fn, defaults, request.source)
            f = src.entry_function(module, entry)
            steps = transforms.parse_pipeline(
                request.transforms if request.transforms is not None else defaults.transforms
            )
            args, kwargs = src.eval_inputs(
                request.args if request.args is not None else defaults.args, module
            )
            f, args, kwargs = transforms.keep_static(f, args, kwargs)
        chain = pipeline.Chain(f, entry, steps)
        static = transforms.static_argnums(steps)
        with jax.default_device(pipeline.resolve_device(request.device)), _running("trace:memory"):
            paths = pipeline.arg_paths(chain.fns[0], args, static, kwargs)
            traced = _Traced(args, static, kwargs, paths, src.module_codes(module))
            closed = (
                jax.jit(pipeline._plain(chain.fns[-1]), static_argnums=static).trace(*args, **kwargs).jaxpr
            )
            grad = _grad_of(chain, traced, request)
            if not isinstance(grad, _Grad):
                return RematComparison(
                    policy=policy, error=grad or "no grad, vjp or value_and_grad in the pipeline"
                )
            model = model_of(
                PrintedJaxpr(closed.jaxpr), closed, request.filename, request.source, paths, traced.codes
            )
            return remat(policy, grad, chain, traced, model, request.filename, before)
    except Exception as exc:  # noqa: BLE001 - the inspection ran this program: what fails here is reported
        return RematComparison(policy=policy, error=f"{type(exc).__name__}: {exc}")


def remat_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker job: `{"request", "policy", "before"}` data in, `{"remat": RematComparison}` data out."""
    from inspectors.results import request_from_dict

    before = [SavedResidual(**r) for r in payload.get("before") or []]
    comparison = compare_policy(request_from_dict(payload["request"]), payload["policy"], before)
    return MemoryReport(remat=comparison).to_dict()


# --- text for the CLI ----------------------------------------------------------------------------


def residual_lines(report: ResidualReport) -> str:
    """`--emit residuals`: one residual per line: type, bytes, what made it, `line N`."""
    rows = [
        f"{r.type:<16} {r.bytes:>12} B  {r.made_by}" + (f"  line {r.line}" if r.line is not None else "")
        for r in report.residuals
    ]
    return "\n".join(rows)


def memory_lines(peak: PeakReport) -> str:
    """`--emit memory`: `peak SIZE`, then the buffers live at the peak, largest first."""
    if not peak.available:
        return f"peak {peak.note}"
    step = peak.schedule[peak.peak_step] if peak.peak_step < len(peak.schedule) else ""
    head = (
        f"peak {peak.peak_bytes} B ({fmt_bytes(peak.peak_bytes)}) at step {peak.peak_step} of "
        f"{len(peak.schedule)} ({step}), {len(peak.at_peak)} buffers live"
    )
    rows = [
        f"{b.type:<20} {b.bytes:>12} B  {b.instruction:<28} {b.kind}"
        + (f"  line {b.line}" if b.line is not None else "")
        + (f"  argument {b.argument}" if b.argument else "")
        for b in peak.at_peak
    ]
    return "\n".join([head, *rows])


def remat_summary(report: MemoryReport) -> str:
    """Return the remat comparison as `# ...` lines: as written vs under the policy."""
    r, res, peak = report.remat, report.residuals, report.peak
    if r is None or res is None:
        return ""
    if r.error:
        return f"# remat {r.policy}: {r.error}"
    flops = lambda x: f"{x:.3g}" if x is not None else "not available"  # noqa: E731
    written_peak = peak.peak_bytes if peak and peak.available else None
    lines = [
        f"# remat {r.policy}: residuals {fmt_bytes(res.total_bytes)} → {fmt_bytes(r.residual_bytes)}, "
        f"peak {fmt_bytes(written_peak)} → {fmt_bytes(r.peak_bytes)}, "
        f"FLOPs {flops(report.flops)} → {flops(r.flops)}",
        *[f"#   + {a}" for a in r.added],
        *[f"#   - {a}" for a in r.removed],
    ]
    return "\n".join(lines)


# --- heat: where the bytes are, on the source and the jaxpr ---------------------------------------


def source_heat(report: MemoryReport) -> dict[int, float]:
    """Return each source line's share of the bytes: residuals saved, plus buffers live at the peak."""
    weights: Counter[int] = Counter()
    for r in report.residuals.residuals if report.residuals else []:
        if r.line is not None:
            weights[r.line] += r.bytes
    for b in report.peak.at_peak if report.peak else []:
        if b.line is not None:
            weights[b.line] += b.bytes
    total = sum(weights.values())
    return {line: w / total for line, w in weights.items()} if total else {}


def equation_heat(report: MemoryReport) -> dict[str, float]:
    """Return each equation's share of the residual bytes (its outputs the backward pass reads)."""
    weights: Counter[str] = Counter()
    for r in report.residuals.residuals if report.residuals else []:
        if r.equation:
            weights[r.equation] += r.bytes
    total = sum(weights.values())
    return {e: w / total for e, w in weights.items()} if total else {}


def instruction_heat(report: MemoryReport) -> dict[str, float]:
    """Return each compiled HLO instruction's share of the bytes live at the peak (the buffers it defines)."""
    peak = report.peak
    if peak is None or not peak.available:
        return {}
    weights: Counter[str] = Counter()
    for b in peak.at_peak:
        weights[b.instruction] += b.bytes
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()} if total else {}


GRAPH_HEAT: dict[str, Callable[[MemoryReport], dict[str, float]]] = {
    "after": equation_heat,  # the transformed jaxpr: residual bytes, by the forward equation that made them
    "hlo": instruction_heat,  # the compiled module: bytes live at the peak, by defining instruction
}  # `--color-by memory`: the graphs the report's keys name (other graphs have no memory heat)


def graph_heat(report: MemoryReport | None, graph_of: str) -> tuple[tuple[str, float], ...]:
    """Return `GraphOptions.heat` for `--color-by memory` of graph `graph_of` (empty where it has none)."""
    heat = GRAPH_HEAT.get(graph_of)
    return tuple(sorted(heat(report).items())) if heat and report is not None else ()
