"""Where the time goes: measured time per compiled op, rolled up to equations and source lines.

Three steps, each its own small part of this module:

- **measure** (the only part that imports JAX): call the compiled function under
  `jax.profiler.trace`, read the XSpace with `jax.profiler.ProfileData`, keep the
  events XLA records per executed HLO op or fusion (on CPU one per thunk, on GPU one
  per kernel), grouped by call (`run_id`); time the same calls without the profiler.
- **attribute**: each event's time to its HLO instruction (a loop's own time excludes
  its body; ops that overlap split the time), each fusion to its fused instructions,
  each instruction to the user's line and jaxpr equations through the same metadata
  `inspectors.mapping` reads for the source map; cost per op from the HLO shapes
  (XLA's `cost_analysis()` has module totals only), against a measured peak.
- **show**: per-line summaries, heat maps for source, jaxpr and HLO text and graphs,
  and the table `--emit profile` prints.

Everything but `measure`, `device_peaks` and `profile_call` works on plain data.
"""

from __future__ import annotations

import glob
import math
import os
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from inspectors import hlo_text, mapping
from inspectors.results import (
    InspectionResult,
    LineProfile,
    Profile,
    ProfileOp,
    ProfilePart,
    walk,
)

# --- costs from HLO shapes ----------------------------------------------------------------------

DTYPE_BYTES: dict[str, float] = {
    "pred": 1, "s2": 0.25, "u2": 0.25, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2,
    "s32": 4, "u32": 4, "s64": 8, "u64": 8, "f8e4m3fn": 1, "f8e5m2": 1, "bf16": 2, "f16": 2,
    "f32": 4, "f64": 8, "c64": 8, "c128": 16, "token": 0,
}  # fmt: skip
_ARRAY = re.compile(r"\b([a-z]+[0-9]*[a-z0-9]*)\[([\d,]*)\]")

# One FLOP per element of the result (transcendentals count as one, as a roofline needs a number).
ELEMENTWISE = frozenset(
    """add subtract multiply divide remainder maximum minimum power atan2 negate abs sign exponential
    exponential-minus-one log log-plus-one sqrt rsqrt cbrt tanh logistic sine cosine tan erf floor ceil
    round-nearest-even round-nearest-afz compare select clamp and or xor not shift-left
    shift-right-logical shift-right-arithmetic is-finite real imag complex""".split()
)
REDUCTIONS = frozenset({"reduce", "reduce-window"})
DATA = frozenset(
    """copy transpose broadcast reshape slice dynamic-slice dynamic-update-slice concatenate pad gather
    scatter iota convert reverse sort bitcast-convert""".split()
)
CONTROL = frozenset({"while", "conditional", "call"})  # their events enclose their bodies' events
COLLECTIVES = frozenset(
    """all-reduce all-reduce-start all-reduce-done all-gather all-gather-start all-gather-done
    reduce-scatter all-to-all collective-permute collective-permute-start collective-permute-done
    collective-broadcast""".split()
)  # time spent waiting for the other devices: no roofline
TRIVIAL = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all"})

# What an op mostly does, from the opcode of its heaviest part: the first rule that fits wins.
KIND_RULES: list[tuple[Callable[[str], bool], str]] = [
    (lambda op: op == "dot", "dot"),
    (lambda op: op == "convolution", "convolution"),
    (lambda op: op in REDUCTIONS, "reduce"),
    (lambda op: op in ELEMENTWISE, "elementwise"),
    (lambda op: op in DATA, "data movement"),
    (lambda op: op in COLLECTIVES, "collective"),
    (lambda op: op == "while", "loop"),
    (lambda op: op == "conditional", "branch"),
    (lambda op: op in ("custom-call", "call"), "call"),
    (lambda op: op in ("fusion", *TRIVIAL), "data movement"),  # a fusion of bitcasts and copies
]


def kind_of(opcode: str) -> str:
    """Return what an opcode does, for the table and the per-line summary."""
    return next((kind for rule, kind in KIND_RULES if rule(opcode)), "other")


def arrays(type_text: str) -> list[tuple[str, list[int]]]:
    """Return (dtype, dims) of every array in an HLO type: `f32[8,3]{1,0}` or a tuple of them."""
    return [(dt, [int(d) for d in dims.split(",") if d]) for dt, dims in _ARRAY.findall(type_text)]


def elements(type_text: str) -> int:
    """Return the number of elements of an HLO type (all arrays of a tuple)."""
    return sum(math.prod(dims) for _, dims in arrays(type_text))


def nbytes(type_text: str) -> float:
    """Return the size in bytes of an HLO type (all arrays of a tuple)."""
    return sum(DTYPE_BYTES.get(dt, 4) * math.prod(dims) for dt, dims in arrays(type_text))


def _dims_attr(attrs: str, key: str) -> list[int]:
    """Return `key={1,2}` from an instruction's attributes as ints."""
    m = re.search(rf"\b{key}=\{{([\d,]*)\}}", attrs)
    return [int(d) for d in m.group(1).split(",") if d] if m else []


def _dot_flops(ins: hlo_text.Instruction, types: dict[str, str]) -> float:
    """2 × result elements × contracted size (the lhs's contracting dimensions)."""
    lhs = arrays(types.get(ins.operands[0], "")) if ins.operands else []
    contracted = math.prod(lhs[0][1][d] for d in _dims_attr(ins.attrs, "lhs_contracting_dims")) if lhs else 1
    return 2.0 * elements(ins.type) * contracted


def _conv_flops(ins: hlo_text.Instruction, types: dict[str, str]) -> float:
    """2 × result elements × kernel elements per output feature."""
    kernel = arrays(types.get(ins.operands[1], "")) if len(ins.operands) > 1 else []
    labels = re.search(r"dim_labels=\w+_(\w+)->", ins.attrs)
    if not kernel or not labels or "o" not in labels.group(1):
        return 0.0
    dims = kernel[0][1]
    out_features = dims[labels.group(1).index("o")] if len(dims) == len(labels.group(1)) else 1
    return 2.0 * elements(ins.type) * math.prod(dims) / max(out_features, 1)


def instruction_flops(ins: hlo_text.Instruction, types: dict[str, str]) -> float:
    """Return an instruction's FLOPs estimated from its shapes (0 for data movement and control)."""
    if ins.opcode == "dot":
        return _dot_flops(ins, types)
    if ins.opcode == "convolution":
        return _conv_flops(ins, types)
    if ins.opcode in ELEMENTWISE:
        return float(elements(ins.type))
    if ins.opcode in REDUCTIONS and ins.operands:
        return float(elements(types.get(ins.operands[0], "")))
    return 0.0


def instruction_bytes(ins: hlo_text.Instruction, types: dict[str, str]) -> float:
    """Return the bytes an executed op reads (its operands) and writes (its result)."""
    return sum(nbytes(types.get(o, "")) for o in ins.operands) + nbytes(ins.type)


# --- the compiled module as a lookup table ------------------------------------------------------


@dataclass
class Module:
    """The compiled HLO module: instructions by name, their computation's types, their source."""

    name: str
    instructions: dict[str, tuple[str, hlo_text.Instruction]]  # name → (computation, instruction)
    comps: dict[str, list[hlo_text.Instruction]]
    types: dict[str, dict[str, str]]  # computation → instruction name → type
    locs: dict[str, Any]  # name → mapping.OpLoc (line, primitive, phase, text line)

    @classmethod
    def read(cls, hlo: str, filename: str) -> Module:
        """Read optimized HLO text with the project's parsers: `hlo_text` (structure), `mapping` (sources)."""
        parsed = hlo_text.parse(hlo)
        comps = {name: comp.instructions for name, comp in parsed.computations.items()}
        return cls(
            name=parsed.name,
            instructions={i.name: (c, i) for c, lst in comps.items() for i in lst},
            comps=comps,
            types={c: {i.name: i.type for i in lst} for c, lst in comps.items()},
            locs={op.name: op for op in mapping.hlo_ops(hlo, filename)},
        )

    def located(self, ins: hlo_text.Instruction) -> Any:
        """Return the source of an instruction with a user line: its own, else its reducer's.

        XLA leaves some instructions it creates without metadata (a `reduce-window` that
        splits a sum); the region they apply still names the user's line.
        """
        loc = self.locs.get(ins.name)
        if loc is not None and loc.line is not None:
            return loc
        m = re.search(r"to_apply=%([\w.\-]+)", ins.attrs)
        region = self.comps.get(m.group(1), []) if m else []
        return next((self.locs[i.name] for i in region if getattr(self.locs.get(i.name), "line", None)), None)

    def fused(self, ins: hlo_text.Instruction) -> list[tuple[str, hlo_text.Instruction]]:
        """Return the instructions a fusion runs (nested fusions opened), trivial ones left out."""
        out = []
        for inner in self.comps.get(ins.calls, []) if ins.opcode == "fusion" else []:
            if inner.opcode == "fusion":
                out += self.fused(inner)
            elif inner.opcode not in TRIVIAL:
                out.append((ins.calls, inner))
        return out


# --- measure: the only part that runs JAX ------------------------------------------------------


@dataclass
class OpEvent:
    """One executed op as the profiler recorded it."""

    name: str
    start_ns: float
    end_ns: float


@dataclass
class Measurement:
    """Op events per profiled call and wall times per call with and without the profiler."""

    runs: list[list[OpEvent]]  # one list per profiled call, warm-up calls discarded (or one pooled list)
    walls: list[float]  # seconds per profiled call (the calls `runs` stand for)
    untraced: list[float]  # seconds per call, same loop, no profiler
    warmup: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Return how many calls the events stand for (figures are per call)."""
        return max(len(self.walls), 1)


MIN_RUNS, MAX_RUNS = 5, 50


def run_count(median_s: float, budget_s: float) -> int:
    """Return how many calls to profile: enough to fill `budget_s`, within [MIN_RUNS, MAX_RUNS]."""
    return int(min(MAX_RUNS, max(MIN_RUNS, budget_s / max(median_s, 1e-6))))


def _walls(call: Callable[[], Any], n: int) -> list[float]:
    """Return the wall time of each of `n` calls, each waited for."""
    import jax

    out = []
    for _ in range(n):
        start = time.perf_counter()
        jax.block_until_ready(call())
        out.append(time.perf_counter() - start)
    return out


def measure(call: Callable[[], Any], module: str, runs: int, warmup: int = 1) -> Measurement:
    """Run `call` `runs` times without and `warmup + runs` times with the profiler; read its events."""
    import jax

    untraced = _walls(call, warmup + runs)[warmup:]
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0  # Python frames are not ops: tracing them only adds overhead
    folder = tempfile.mkdtemp(prefix="jxe-profile-")
    try:
        with jax.profiler.trace(folder, profiler_options=options):
            walls = _walls(call, warmup + runs)
        paths = glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)
        if not paths:
            raise RuntimeError("the profiler wrote no trace (jax.profiler.trace left no .xplane.pb)")
        data = jax.profiler.ProfileData.from_file(paths[0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    groups = op_events(data, module)
    return split_runs(groups, walls, warmup, untraced)


def op_events(data: Any, module: str) -> list[list[OpEvent]]:
    """Return the op events of `module`, one list per call (`run_id`), in time order.

    Device planes (`/device:GPU:0`: kernels) are preferred when they hold op events; on
    CPU the host plane's XLA threads hold one event per executed op or fusion.
    """
    by_plane: dict[bool, dict[Any, list[OpEvent]]] = {True: {}, False: {}}
    for plane in data.planes:
        on_device = plane.name.startswith("/device:")
        for line in plane.lines:
            for ev in line.events:
                stats = dict(ev.stats)
                if "hlo_op" not in stats or stats.get("hlo_module", module) != module:
                    continue
                name = str(stats["hlo_op"] or ev.name)
                run = stats.get("run_id", 0)
                start = float(ev.start_ns)
                by_plane[on_device].setdefault(run, []).append(
                    OpEvent(name, start, start + float(ev.duration_ns))
                )
    groups = by_plane[True] or by_plane[False]
    ordered = sorted(groups.values(), key=lambda evs: min(e.start_ns for e in evs))
    return [sorted(evs, key=lambda e: e.start_ns) for evs in ordered]


OUTLIER = 3.0  # a profiled call slower than this many times the median was descheduled: left out


def split_runs(
    groups: list[list[OpEvent]], walls: list[float], warmup: int, untraced: list[float]
) -> Measurement:
    """Pair event groups with the calls that made them; drop the warm-up calls and outliers."""
    notes = []
    if len(groups) == len(walls):
        runs, kept = groups[warmup:], walls[warmup:]
        limit = OUTLIER * statistics.median(kept) if kept else math.inf
        steady = [(r, w) for r, w in zip(runs, kept, strict=True) if w <= limit]
        if len(steady) < len(kept):
            notes.append(
                f"{len(kept) - len(steady)} of {len(kept)} calls left out: over {OUTLIER:g}× the median"
            )
        runs, kept = [r for r, _ in steady], [w for _, w in steady]
    else:
        # No per-call ids (or some calls recorded no ops): pool the events over all calls.
        pooled = [e for g in groups for e in g]
        runs, kept, warmup = ([pooled] if pooled else []), walls, 0
        notes.append(f"{len(groups)} event groups for {len(walls)} calls: events pooled over all calls")
    return Measurement(runs, kept, untraced, warmup, notes)


def device_name(device: Any) -> str:
    """Return `platform:id`."""
    return f"{device.platform}:{device.id}"


_PEAKS: dict[str, tuple[float, float]] = {}
# matmul n and copy elements per platform. On CPU a 16 MB copy: larger buffers are fresh
# pages each call (page faults, ~1 GB/s here), smaller ones stay in cache.
PEAK_SIZES = {"cpu": (512, 1 << 22)}
DEFAULT_PEAK_SIZE = (4096, 1 << 27)
PEAK_RUNS = 10


def device_peaks(device: Any) -> tuple[float, float]:
    """Return (FLOP/s of a large f32 matmul, bytes/s of a large copy) on `device`, measured once.

    Cached per worker process: each figure is the best of a few runs.
    """
    key = device_name(device)
    if key not in _PEAKS:
        import jax
        import jax.numpy as jnp

        n, size = PEAK_SIZES.get(device.platform, DEFAULT_PEAK_SIZE)
        with jax.default_device(device):
            a = jnp.ones((n, n), jnp.float32)
            x = jnp.ones((size,), jnp.float32)
            matmul = jax.jit(jnp.matmul).lower(a, a).compile()
            copy = jax.jit(jnp.copy).lower(x).compile()
            t_mm = min(_walls(lambda: matmul(a, a), PEAK_RUNS + 1)[1:])
            t_cp = min(_walls(lambda: copy(x), PEAK_RUNS + 1)[1:])
        _PEAKS[key] = (2.0 * n**3 / t_mm, 2.0 * 4 * size / t_cp)
    return _PEAKS[key]


def profile_call(result: InspectionResult, call: Callable[[], Any], device: Any) -> Profile:
    """Profile the compiled call of a timed result (the pipeline's hook): measure, then attribute."""
    timing = result.timing
    assert timing is not None and result.text_of("hlo") is not None, "profile after timing"
    module = Module.read(result.text_of("hlo"), result.request.filename)
    runs = run_count(timing.median_s, result.request.time_budget_s)
    meas = measure(call, module.name, runs)
    return attribute(result, module, meas, device_peaks(device), timing.device)


# --- attribute: events → ops → parts → equations and lines ------------------------------------


def split_time(
    events: list[OpEvent], control: Callable[[str], bool]
) -> tuple[dict[str, float], dict[str, int]]:
    """Return (ns per op name, events per op name) for one call.

    Every instant of the call goes to the ops running then, split equally among them; a
    loop or branch (`control`) only gets instants when none of its body's ops runs. The
    sum is therefore the union of the events: never more than the call's wall time.
    """
    points = sorted({e.start_ns for e in events} | {e.end_ns for e in events})
    order = sorted(range(len(events)), key=lambda i: events[i].start_ns)
    times: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for e in events:
        counts[e.name] += 1
    active: list[int] = []
    j = 0
    for a, b in zip(points, points[1:], strict=False):
        while j < len(order) and events[order[j]].start_ns <= a:
            active.append(order[j])
            j += 1
        active = [i for i in active if events[i].end_ns > a]
        if not active:
            continue
        leaves = [i for i in active if not control(events[i].name)]
        if not leaves:  # only loops: the innermost (latest started) one is running its own code
            leaves = [max(active, key=lambda i: events[i].start_ns)]
        for i in leaves:
            times[events[i].name] += (b - a) / len(leaves)
    return times, counts


def _busy(events: Iterable[OpEvent]) -> dict[str, float]:
    """Return the summed event durations per op name (ns)."""
    out: dict[str, float] = defaultdict(float)
    for e in events:
        out[e.name] += e.end_ns - e.start_ns
    return out


class EquationIndex:
    """Equations of the transformed jaxpr by (line, primitive), with their phase and provenance."""

    def __init__(self, result: InspectionResult) -> None:
        self.by_key: dict[tuple[int, str], list[tuple[str, str, str, list[int]]]] = defaultdict(list)
        self.lines_of: dict[str, set[int]] = defaultdict(set)  # primitive → user lines
        for eqn in walk(result.jaxpr().model):
            if eqn.source and mapping.same_file(eqn.source.file, result.request.filename):
                key = (eqn.source.line, eqn.primitive)
                shape = arrays(eqn.outvars[0].type) if eqn.outvars else []
                dims = shape[0][1] if shape else []
                self.by_key[key].append((eqn.id, mapping.phase(eqn.name_stack), eqn.provenance, dims))
                self.lines_of[eqn.primitive].add(eqn.source.line)

    def match(
        self, line: int | None, primitive: str, phase: str, dims: list[int] | None = None
    ) -> list[tuple[str, str]]:
        """Return (id, provenance) of the equations an instruction came from.

        Candidates share its line and primitive; those of its phase, then of its result
        shape, are preferred (a loop over layers puts every layer's dot on one line).
        """
        found = self.by_key.get((line, primitive), []) if line is not None else []
        found = [f for f in found if f[1] == phase] or found
        found = (
            [f for f in found if f[3] == dims]
            or [f for f in found if sorted(f[3]) == sorted(dims or [])]
            or found
        )
        return [(i, prov) for i, _, prov, _ in found]

    def only_line(self, primitives: list[str]) -> int | None:
        """Return the one user line where all equations of these primitives are, if there is one."""
        lines = set().union(*(self.lines_of.get(p, set()) for p in primitives)) if primitives else set()
        return next(iter(lines)) if len(lines) == 1 else None


# XLA's opcode → the jaxpr primitives it may come from (for instructions with no op_name).
OPCODE_PRIMITIVES: dict[str, tuple[str, ...]] = {
    "dot": ("dot_general",), "convolution": ("conv_general_dilated",), "add": ("add", "add_any"),
    "subtract": ("sub",), "multiply": ("mul",), "divide": ("div",), "maximum": ("max",),
    "minimum": ("min",), "negate": ("neg",), "exponential": ("exp",), "log": ("log",),
    "tanh": ("tanh",), "sine": ("sin",), "cosine": ("cos",), "sqrt": ("sqrt",), "rsqrt": ("rsqrt",),
    "logistic": ("logistic",), "reduce": ("reduce_sum", "reduce_max", "reduce_min"),
    "while": ("scan", "while"), "conditional": ("cond",),
}  # fmt: skip
NEIGHBOUR_HOPS = 3  # through bitcasts, tuples and parameters, to the nearest instruction with a line


@dataclass
class Source:
    """Where an instruction came from: the user's line, the primitive, the grad phase."""

    line: int | None
    primitive: str
    phase: str
    text_line: int
    inferred: bool = False  # the line came from the primitive's only line or a neighbour


class Resolver:
    """Finds each instruction's user line: its metadata, else the best evidence XLA left."""

    def __init__(self, module: Module, eqns: EquationIndex) -> None:
        self.module, self.eqns = module, eqns
        self.users: dict[str, list[str]] = defaultdict(list)
        for lst in module.comps.values():
            for ins in lst:
                for o in ins.operands:
                    self.users[o].append(ins.name)

    def source(self, ins: hlo_text.Instruction, executed: hlo_text.Instruction) -> Source:
        """Return an instruction's source: metadata, its reducer's, the primitive's only line,
        a computing neighbour's, else the executed op's (a fusion's own metadata)."""
        loc = self.module.locs.get(ins.name)
        named = [p for p in (loc.primitive if loc else "").split(";") if p]
        src = self._line(ins, executed, named, loc)
        src.text_line = loc.text_line if loc else 0
        guess = self.primitive(ins.opcode, src.line)
        # XLA folds a transpose into the dot that reads it and keeps the transpose's name: a
        # dot is a dot_general whenever the line has one.
        contraction = ins.opcode in ("dot", "convolution") and (src.line, guess) in self.eqns.by_key
        src.primitive = guess if contraction or not named else named[0]
        return src

    def _line(
        self, ins: hlo_text.Instruction, executed: hlo_text.Instruction, named: list[str], loc: Any
    ) -> Source:
        """Return the line (and phase) of an instruction from the best evidence there is."""
        found = self.module.located(ins)
        if found is not None:
            return Source(found.line, "", found.phase, 0)
        line = self.eqns.only_line(named)
        if line is not None:
            return Source(line, "", loc.phase if loc else "", 0, inferred=True)
        near = self.neighbour(ins) if ins.opcode not in DATA else None
        if near is not None:
            return Source(near.line, "", near.phase, 0, inferred=True)
        outer = self.module.located(executed) if executed is not ins else None
        if outer is not None:
            return Source(outer.line, "", outer.phase, 0)
        return Source(None, "", loc.phase if loc else "", 0)

    def primitive(self, opcode: str, line: int | None) -> str:
        """Return the primitive an unnamed instruction likely came from: one with equations on its line."""
        candidates = OPCODE_PRIMITIVES.get(opcode, ("",))
        return next((p for p in candidates if (line, p) in self.eqns.by_key), candidates[0])

    def neighbour(self, ins: hlo_text.Instruction) -> Any:
        """Return the best nearby instruction with a user line, a few hops away at most.

        When XLA rewrites an op (a dot with a vector becomes a dot and bitcasts), what is
        left of the original op keeps its metadata: a neighbour named after the same
        primitive wins, then the nearest, then a user over an operand.
        """
        want = OPCODE_PRIMITIVES.get(ins.opcode, ())
        seen, frontier, found = {ins.name}, [ins.name], []
        for hops in range(NEIGHBOUR_HOPS):
            nxt = []
            for name in frontier:
                around = [(o, 1) for o in self.users.get(name, [])]
                around += [(o, 2) for o in self.module.instructions[name][1].operands]
                for other, side in around:
                    if other in seen or other not in self.module.instructions:
                        continue
                    seen.add(other)
                    loc = self.module.located(self.module.instructions[other][1])
                    if loc is not None:
                        found.append((loc.primitive.split(";")[0] not in want, hops, side, len(found), loc))
                    nxt.append(other)
            frontier = nxt
        return min(found)[-1] if found else None


# Inside a fusion these cost next to nothing (they become index arithmetic in the loop).
FREE_IN_FUSION = frozenset({"broadcast", "reshape", "iota", "convert", "bitcast-convert", "slice"})
FREE_WEIGHT = 0.1


def parts_of(name: str, resolver: Resolver) -> tuple[list[ProfilePart], str]:
    """Return an executed op's parts (a fusion's instructions, else itself) and their provenances."""
    module = resolver.module
    comp, ins = module.instructions[name]
    members = module.fused(ins) if ins.opcode == "fusion" else []
    fused = bool(members)
    members = members or [(comp, ins)]
    groups: dict[tuple, ProfilePart] = {}
    provs: list[str] = []
    for member_comp, member in members:
        src = resolver.source(member, ins)
        flops = instruction_flops(member, module.types[member_comp])
        shape = arrays(member.type)
        dims = shape[0][1] if shape else None
        weight = max(flops, float(elements(member.type)), 1.0)
        weight *= FREE_WEIGHT if fused and member.opcode in FREE_IN_FUSION else 1.0
        key = (src.line, src.primitive, src.phase, member.opcode, src.inferred, tuple(dims or ()))
        part = groups.get(key)
        if part is None:
            found = resolver.eqns.match(src.line, src.primitive, src.phase, dims)
            provs += [prov for _, prov in found]
            part = groups[key] = ProfilePart(
                instructions=[], opcode=member.opcode, primitive=src.primitive, line=src.line,
                phase=src.phase, weight=0.0, equations=[i for i, _ in found], inferred=src.inferred,
            )  # fmt: skip
        part.instructions.append(member.name)
        part.text_lines += [src.text_line] if src.text_line else []
        part.weight += weight
        part.flops += flops
    parts = list(groups.values())
    total = sum(p.weight for p in parts)
    for p in parts:
        p.weight /= total
    return parts, _provenance(provs)


def _provenance(provs: list[str]) -> str:
    """Return the provenances of an op's equations, most common first (`primal` for none)."""
    counts: dict[str, int] = defaultdict(int)
    for p in provs:
        counts[p or "primal"] += 1
    return ", ".join(sorted(counts, key=lambda p: -counts[p]))


def _weighted(parts: list[ProfilePart], key: Callable[[ProfilePart], Any]) -> dict[Any, float]:
    """Return the parts' weights summed by `key`."""
    out: dict[Any, float] = defaultdict(float)
    for p in parts:
        out[key(p)] += p.weight
    return out


def _main_line(parts: list[ProfilePart]) -> int | None:
    """Return the user line holding most of an op's weight (None if no part has a line)."""
    lines = _weighted([p for p in parts if p.line is not None], lambda p: p.line)
    return max(lines, key=lambda n: (lines[n], -n)) if lines else None


def phase_label(parts: list[ProfilePart]) -> str:
    """Return "forward", "backward", "forward+backward" or "" from the parts' phases."""
    weights = _weighted(parts, lambda p: p.phase)
    return "+".join(ph for ph in ("forward", "backward") if weights.get(ph, 0) >= 0.05)


def _kind(parts: list[ProfilePart]) -> str:
    """Return what an op mostly does: the kind of its heaviest opcode."""
    weights = _weighted(parts, lambda p: kind_of(p.opcode))
    return max(weights, key=lambda k: weights[k]) if weights else "other"


def build_op(
    name: str, time_ns: float, busy_ns: float, count: int, n_runs: int, wall_s: float,
    resolver: Resolver, peaks: tuple[float, float] | None,
) -> ProfileOp:  # fmt: skip
    """Return the row of one executed op: time per call, parts, cost and roofline."""
    module = resolver.module
    comp, ins = module.instructions[name]
    parts, prov = parts_of(name, resolver)
    calls = count / n_runs
    time_s, busy_s = time_ns * 1e-9 / n_runs, busy_ns * 1e-9 / n_runs
    loc = module.locs.get(name)
    op = ProfileOp(
        name=name,
        opcode=ins.opcode,
        kind=_kind(parts) if ins.opcode not in CONTROL else kind_of(ins.opcode),
        computation=comp,
        time_s=time_s,
        share=time_s / wall_s if wall_s > 0 else 0.0,
        busy_s=busy_s,
        calls=calls,
        line=_main_line(parts),
        text_line=loc.text_line if loc else 0,
        phase=phase_label(parts),
        provenance=prov,
        parts=parts,
    )
    if ins.opcode not in CONTROL:
        op.flops = sum(p.flops for p in parts) * calls
        op.bytes = instruction_bytes(ins, module.types[comp]) * calls
        roofline(op, peaks)
    return op


def roofline(op: ProfileOp, peaks: tuple[float, float] | None) -> None:
    """Set achieved rates (over busy time) and the bound against the measured peaks."""
    if op.busy_s <= 0:
        return
    op.flops_per_s = op.flops / op.busy_s if op.flops else None
    op.bytes_per_s = op.bytes / op.busy_s if op.bytes else None
    if not peaks or not op.bytes or op.kind == "collective":
        return
    peak_flops, peak_bytes = peaks
    intensity = (op.flops or 0.0) / op.bytes
    op.bound = "compute" if intensity * peak_bytes >= peak_flops else "memory"
    if op.flops:
        op.roofline = op.flops_per_s / min(peak_flops, intensity * peak_bytes)
    else:
        op.roofline = (op.bytes_per_s or 0.0) / peak_bytes


def attribute(
    result: InspectionResult,
    module: Module,
    meas: Measurement,
    peaks: tuple[float, float] | None,
    device: str,
) -> Profile:
    """Turn a measurement into the profile: ops hottest first, then lines."""
    n = meas.calls
    control = lambda name: name in module.instructions and module.instructions[name][1].opcode in CONTROL  # noqa: E731
    times: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    busy: dict[str, float] = defaultdict(float)
    for events in meas.runs:
        t, c = split_time(events, control)
        for name in t.keys() | c.keys():
            times[name] += t.get(name, 0.0)
            counts[name] += c.get(name, 0)
        for name, ns in _busy(events).items():
            busy[name] += ns
    covered_s = sum(times.values()) * 1e-9 / n
    wall_s = statistics.fmean(meas.walls) if meas.walls else 0.0
    resolver = Resolver(module, EquationIndex(result))
    unknown = sorted(name for name in times if name not in module.instructions)
    ops = [
        build_op(name, times[name], busy[name], counts[name], n, wall_s, resolver, peaks)
        for name in times
        if name in module.instructions
    ]
    ops.sort(key=lambda o: (-o.time_s, o.name))
    untraced = statistics.median(meas.untraced) if meas.untraced else 0.0
    traced = statistics.median(meas.walls) if meas.walls else 0.0
    fastest, fastest_untraced = min(meas.walls, default=0.0), min(meas.untraced, default=0.0)
    notes = list(meas.notes)
    if covered_s > wall_s:  # the profiler's clock and ours disagree: say so rather than hide it
        notes.append(f"op events ({fmt_time(covered_s)}) exceed the wall time per call ({fmt_time(wall_s)})")
    if unknown:
        notes.append(f"events of ops not in the compiled HLO: {', '.join(unknown[:5])}")
    profile = Profile(
        device=device,
        runs=len(meas.walls),
        warmup=meas.warmup,
        wall_s=wall_s,
        wall_median_s=traced,
        untraced_median_s=untraced,
        overhead=fastest / fastest_untraced - 1 if fastest_untraced > 0 else 0.0,
        wall_min_s=fastest,
        untraced_min_s=fastest_untraced,
        covered_s=covered_s,
        coverage=covered_s / wall_s if wall_s > 0 else 0.0,
        events=sum(len(r) for r in meas.runs),
        peak_flops_per_s=peaks[0] if peaks else None,
        peak_bytes_per_s=peaks[1] if peaks else None,
        ops=ops,
        notes=notes,
    )
    profile.lines = line_profiles(profile, result.request.source)
    return profile


# --- show: lines, heat, the CLI table -----------------------------------------------------------


def line_profiles(profile: Profile, source: str) -> list[LineProfile]:
    """Roll the ops up to user lines (each op's time split over its parts' lines), hottest first."""
    code = source.splitlines()
    rows: dict[int | None, LineProfile] = {}
    for op in profile.ops:
        for part in op.parts:
            row = rows.get(part.line)
            if row is None:
                text = code[part.line - 1] if part.line and 0 < part.line <= len(code) else ""
                row = rows[part.line] = LineProfile(part.line, text, 0.0, 0.0)
            row.time_s += op.time_s * part.weight
            row.share += op.share * part.weight
            phase = part.phase or "other"
            row.phases[phase] = row.phases.get(phase, 0.0) + op.share * part.weight
        main = rows[op.line]  # the line with most of the op's weight: one of its parts' lines
        main.ops[op.kind] = main.ops.get(op.kind, 0) + 1
    out = sorted(rows.values(), key=lambda r: (-r.time_s, r.line or 0))
    for row in out:
        row.summary = line_summary(row)
    return out


PLURALS = {"dot": "dots", "convolution": "convolutions", "reduce": "reductions", "loop": "loops",
           "branch": "branches", "call": "calls", "elementwise": "elementwise ops",
           "data movement": "data movements", "collective": "collectives", "other": "other ops"}  # fmt: skip


def line_summary(row: LineProfile) -> str:
    """Return "line 7: 91.0 % of the time, 2 dots, forward 45.0 % / backward 46.0 %"."""
    where = f"line {row.line}" if row.line is not None else "no line (added by XLA)"
    ops = ", ".join(f"{n} {kind if n == 1 else PLURALS.get(kind, kind)}" for kind, n in row.ops.items())
    text = f"{where}: {100 * row.share:.1f} % of the time" + (f", {ops}" if ops else "")
    if {"forward", "backward"} & row.phases.keys():
        split = [
            f"{ph} {100 * row.phases[ph]:.1f} %"
            for ph in ("forward", "backward", "other")
            if ph in row.phases
        ]
        text += ", " + " / ".join(split)
    return text


def source_heat(profile: Profile) -> dict[int, float]:
    """Return each user line's share of the measured time."""
    return {row.line: row.share for row in profile.lines if row.line is not None}


def equation_heat(profile: Profile) -> dict[str, float]:
    """Return each equation id's share (a call's equation holds its body's), for jaxpr views."""
    out: dict[str, float] = defaultdict(float)
    for op in profile.ops:
        for part in op.parts:
            for eqn_id in part.equations:
                share = op.share * part.weight / len(part.equations)
                out[eqn_id] += share
                segments = eqn_id.split("/")
                for k in range(1, len(segments) - 1, 2):  # `3/jaxpr/2`: equation `3` holds `3/jaxpr/2`
                    out["/".join(segments[:k])] += share
    return dict(out)


def instruction_heat(profile: Profile) -> dict[str, float]:
    """Return each HLO instruction's share: executed ops, and their fused instructions' parts."""
    out: dict[str, float] = {}
    for op in profile.ops:
        out[op.name] = out.get(op.name, 0.0) + op.share
        for part in op.parts:
            if part.instructions != [op.name]:
                for name in part.instructions:
                    out[name] = out.get(name, 0.0) + op.share * part.weight / len(part.instructions)
    return out


def hlo_text_heat(profile: Profile) -> dict[int, float]:
    """Return the share of each line of the compiled HLO text (ops and fused instructions)."""
    out: dict[int, float] = {}
    for op in profile.ops:
        if op.text_line:
            out[op.text_line] = out.get(op.text_line, 0.0) + op.share
        for part in op.parts:
            if part.instructions != [op.name]:
                for n in part.text_lines:
                    out[n] = out.get(n, 0.0) + op.share * part.weight / len(part.text_lines)
    return out


def fmt_time(s: float | None) -> str:
    """Return seconds as `1.23 ms`, `45.6 µs`, `2.1 s` (or `-`)."""
    if s is None:
        return "-"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_rate(x: float | None, unit: str) -> str:
    """Return a rate with an SI prefix: `45.3 GFLOP/s` (or `-`)."""
    if not x:
        return "-"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def header(profile: Profile) -> str:
    """Return the one-line account of how the profile was measured."""
    return (
        f"{profile.device}: {profile.runs} profiled calls after {profile.warmup} warm-up; "
        f"{fmt_time(profile.wall_s)} per call, op events cover {100 * profile.coverage:.1f} %; "
        f"profiler overhead {100 * profile.overhead:+.1f} % (fastest call {fmt_time(profile.wall_min_s)} "
        f"traced vs {fmt_time(profile.untraced_min_s)} untraced; medians {fmt_time(profile.wall_median_s)} "
        f"vs {fmt_time(profile.untraced_median_s)})"
    )


def phase_text(op: ProfileOp) -> str:
    """Return an op's grad phase, marked `·vmap` when its equations were batched by vmap."""
    return (op.phase + " ·vmap" if "vmap(" in op.provenance else op.phase).strip()


def table(profile: Profile) -> str:
    """Return `--emit profile`: one row per compiled op or fusion, hottest first."""
    head = f"# {'share':>7}  {'time':>9}  {'calls':>6}  {'op':<34} {'line':<9} {'kind':<13} {'phase':<16} {'FLOP/s':>12} {'bytes/s':>10}  bound"
    rows = [head]
    for op in profile.ops:
        line = f"line {op.line}" if op.line is not None else "no line"
        phase = phase_text(op) or "-"
        calls = f"{op.calls:g}" if op.calls < 1e5 else f"{op.calls:.3g}"
        rows.append(
            f"{100 * op.share:7.1f} %  {fmt_time(op.time_s):>9}  {calls:>6}  {op.name:<34} {line:<9} "
            f"{op.kind:<13} {phase:<16} {fmt_rate(op.flops_per_s, 'FLOP/s'):>12} "
            f"{fmt_rate(op.bytes_per_s, 'B/s'):>10}  {op.bound or '-'}"
        )
    return "\n".join(rows) + "\n"


def summary(profile: Profile) -> str:
    """Return the measurement header and the per-line summary (the CLI prints it on stderr)."""
    peaks = (
        f"peak {fmt_rate(profile.peak_flops_per_s, 'FLOP/s')} (matmul), "
        f"{fmt_rate(profile.peak_bytes_per_s, 'B/s')} (copy); FLOPs and bytes {profile.cost_source}"
    )
    lines = [f"# {header(profile)}", f"# {peaks}", *(f"# {row.summary}" for row in profile.lines)]
    return "\n".join(lines + [f"# note: {n}" for n in profile.notes]) + "\n"
