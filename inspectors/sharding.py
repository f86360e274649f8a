"""Where the bytes move: the device mesh, each array's layout over it, every collective traced to its line.

Runs in the worker right after compiling (`analyze`), on the live `Compiled` object
(its input and output shardings) and on the result's texts: the compiled HLO, parsed
once by `hlo_text`, gives the collectives; each instruction's `stack_frame_id` (read
by `mapping`) gives its line; the jaxpr model gives its equation and, in explicit
mode, every equation's result sharding (`f32[64@data,256]`). No JAX import at the top:
the helpers that read text are pure and the app may import them.

Bytes moved per device are the usual ring estimates over a group of n devices, from
the per-device operand size S: all-gather (n-1)·S, all-reduce 2(n-1)/n·S,
reduce-scatter and all-to-all (n-1)/n·S, collective-permute and broadcast S.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

from inspectors import hlo_text, mapping
from inspectors.results import (
    Collective,
    CollectiveTotal,
    Equation,
    InspectionResult,
    Layout,
    MeshAxis,
    MeshInfo,
    ShardBlock,
    Sharding,
    ShardingWarning,
    walk,
)

# Collective opcodes of compiled HLO and how much each moves per device (see the module docstring).
COLLECTIVE_BYTES = {
    "all-gather": lambda size, n: (n - 1) * size,
    "all-reduce": lambda size, n: 2 * (n - 1) / n * size,
    "reduce-scatter": lambda size, n: (n - 1) / n * size,
    "all-to-all": lambda size, n: (n - 1) / n * size,
    "ragged-all-to-all": lambda size, n: (n - 1) / n * size,
    "collective-permute": lambda size, n: size,
    "collective-broadcast": lambda size, n: size,
}
ASYNC_SUFFIXES = ("-start", "-done")  # an async pair is one collective: the `-start` is listed

# Primitives that ask for a collective: what the user wrote, as the table says it.
REQUESTED = {
    "psum": "psum in shard_map",
    "psum_invariant": "psum in shard_map",
    "pmean": "pmean in shard_map",
    "pmax": "pmax in shard_map",
    "pmin": "pmin in shard_map",
    "all_gather": "all_gather in shard_map",
    "all_gather_invariant": "all_gather in shard_map",
    "all_to_all": "all_to_all in shard_map",
    "ragged_all_to_all": "ragged_all_to_all in shard_map",
    "ppermute": "ppermute in shard_map",
    "psum_scatter": "psum_scatter in shard_map",
    "reduce_scatter": "psum_scatter in shard_map",
    "pbroadcast": "pbroadcast in shard_map",
    "reshard": "reshard",
    "sharding_constraint": "with_sharding_constraint",
}

DTYPE_BYTES = {
    "pred": 1, "s2": 0.25, "u2": 0.25, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2,
    "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16,
}  # fmt: skip
_ARRAY = re.compile(r"\b([a-z]+\d*(?:e\d+m\d+\w*)?)\[([\d,\s]*)\]")
_MESH_HEAD = re.compile(r"mesh\[([^\]]*)\]")
_DEVICE_IDS = re.compile(r",\s*device_ids=\(((?:[^()]|\([^()]*\))*)\)")
_IOTA_ORDER = re.compile(r"\[([\d,\s]+)\](?:T\(([\d,\s]*)\))?")
_IOTA_GROUPS = re.compile(r"\[([\d,\s]+)\]<=\[([\d,\s]+)\](?:T\(([\d,\s]*)\))?")
_ATTR = re.compile(r"(replica_groups|source_target_pairs)=")
_SHARDED_DIM = re.compile(r"(\d+)@(\w+|\([^)]*\))")


# --- devices ----------------------------------------------------------------------------------


def use_devices(count: int | None) -> None:
    """Ask for `count` virtual CPU devices before JAX's backend starts; a clear error once it has.

    The sandbox's zygote imports JAX without starting a backend and forks one child per
    request, and the CLI is one process per run: both can still choose. A process that
    already ran JAX keeps its devices, and a different count is an error, not a silent 4.
    """
    if not count:
        return
    if count < 1:
        raise ValueError(f"--devices must be at least 1, not {count}")
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        have = len(jax.devices("cpu"))
        if have != count:
            raise RuntimeError(
                f"this process already started JAX with {have} CPU devices, so it cannot split the CPU into "
                f"{count}; inspect in a fresh process (the app's workers and the CLI start one per request)"
            ) from None


# --- types and sizes --------------------------------------------------------------------------


def type_bytes(hlo_type: str) -> float:
    """Return the bytes of an HLO type (`f32[8,32]{1,0}`, or a tuple of them)."""
    total = 0.0
    for dtype, dims in _ARRAY.findall(hlo_type):
        if dtype not in DTYPE_BYTES and not dtype.startswith("f8"):
            continue
        shape = [int(d) for d in dims.replace(" ", "").split(",") if d]
        total += DTYPE_BYTES.get(dtype, 1) * math.prod(shape)
    return total


def short_type(dtype: Any, shape: Iterable[int]) -> str:
    """`f32[64,256]` from a dtype and a shape, as jaxprs print them."""
    import numpy as np

    dt = np.dtype(dtype)
    kind = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dt.kind, dt.kind)
    name = "bool" if kind == "bool" else f"{kind}{dt.itemsize * 8}"
    if dt.name == "bfloat16":
        name = "bf16"
    return f"{name}[{','.join(str(d) for d in shape)}]"


# --- replica groups as mesh axes --------------------------------------------------------------


def parse_groups(attrs: str, partitions: int) -> list[list[int]] | None:
    """Return the device groups of a collective's `replica_groups=` (every form XLA prints), or None."""
    m = _ATTR.search(attrs)
    if not m:
        return [list(range(partitions))] if partitions else None
    rest = attrs[m.end() :]
    if m.group(1) == "source_target_pairs":
        return _braced(rest)
    if rest.startswith("{"):
        groups = _braced(rest)
        return groups if groups else [list(range(partitions))]
    if rest.startswith("mesh["):
        return _mesh_groups(rest)
    if iota := _IOTA_GROUPS.match(rest):
        return _iota_groups(*iota.groups())
    return None


def _braced_end(text: str) -> int:
    """The end of the braced group `text` starts with (`{{0,1},{2,3}}, ...` → 13)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return i + 1
    return len(text)


def _braced(text: str) -> list[list[int]]:
    """`{{0,1},{2,3}}` → [[0, 1], [2, 3]] (the outer braces only)."""
    inner = text[1 : _braced_end(text) - 1]
    return [[int(x) for x in g.split(",") if x.strip()] for g in re.findall(r"\{([^{}]*)\}", inner)]


def _ints(text: str | None) -> list[int]:
    return [int(x) for x in (text or "").replace(" ", "").split(",") if x]


def _iota_groups(group_dims: str, reshape: str, perm: str | None) -> list[list[int]]:
    """`[2,4]<=[4,2]T(1,0)`: iota over `reshape`, transposed, cut into groups of the last dimension."""
    import numpy as np

    dims, shape = _ints(group_dims), _ints(reshape)
    ids = np.arange(math.prod(shape)).reshape(shape)
    if perm:
        ids = ids.transpose(_ints(perm))
    return ids.reshape(dims).reshape(-1, dims[-1]).tolist()


def _mesh_groups(text: str) -> list[list[int]] | None:
    """`mesh['axis_0'=2,'axis_1'=4] {'axis_1'}`: devices that differ only along the braced axes.

    The mesh may name its device order: `mesh[...], device_ids=([2,2]T(1,0)) {...}` (an iota,
    maybe transposed, laid over the mesh's shape) or an explicit list of ids.
    """
    import numpy as np

    m = _MESH_HEAD.match(text)
    if not m:
        return None
    pairs = [p.split("=") for p in m.group(1).split(",") if "=" in p]
    names = [n.strip().strip("'\"") for n, _ in pairs]
    sizes = [int(v) for _, v in pairs]
    rest = text[m.end() :]
    ids = np.arange(math.prod(sizes))
    if order := _DEVICE_IDS.match(rest):
        iota = _IOTA_ORDER.fullmatch(order.group(1).strip())
        if iota:
            ids = np.arange(math.prod(_ints(iota.group(1)))).reshape(_ints(iota.group(1)))
            ids = (ids.transpose(_ints(iota.group(2))) if iota.group(2) else ids).reshape(-1)
        else:
            ids = np.array(_ints(order.group(1)))
        rest = rest[order.end() :]
    braced = re.match(r"\s*\{([^}]*)\}", rest)
    if braced is None or ids.size != math.prod(sizes):
        return None
    ids = ids.reshape(sizes)
    over = [
        names.index(n.strip().strip("'\""))
        for n in braced.group(1).split(",")
        if n.strip().strip("'\"") in names
    ]
    keep = [i for i in range(len(names)) if i not in over]
    group = math.prod(sizes[i] for i in over) if over else 1
    return ids.transpose(keep + over).reshape(-1, group).tolist()


def axes_of_groups(groups: list[list[int]], mesh: MeshInfo | None, permute: bool = False) -> list[str]:
    """Return the mesh axes a collective's groups run over (the axes whose devices each group spans).

    Group members are partition ids: positions in the mesh's flattened device order.
    For a collective-permute the groups are (source, target) pairs: the axes they cross.
    """
    if mesh is None or not mesh.axes or not groups:
        return []
    sizes = [a.size for a in mesh.axes]
    coords = {p: _coords(p, sizes) for p in range(math.prod(sizes))}
    if permute:
        crossed = {i for src, dst in (g for g in groups if len(g) == 2) for i in range(len(sizes))
                   if src in coords and dst in coords and coords[src][i] != coords[dst][i]}  # fmt: skip
        return [mesh.axes[i].name for i in sorted(crossed)]
    wanted = {frozenset(g) for g in groups}
    for r in range(1, len(sizes) + 1):
        for subset in itertools.combinations(range(len(sizes)), r):
            if _groups_over(subset, coords) == wanted:
                return [mesh.axes[i].name for i in subset]
    return []


def _coords(position: int, sizes: list[int]) -> tuple[int, ...]:
    out = []
    for size in reversed(sizes):
        out.append(position % size)
        position //= size
    return tuple(reversed(out))


def _groups_over(axes: tuple[int, ...], coords: dict[int, tuple[int, ...]]) -> set[frozenset[int]]:
    """The groups of devices that share every coordinate outside `axes`."""
    groups: dict[tuple, set[int]] = {}
    for p, c in coords.items():
        groups.setdefault(tuple(x for i, x in enumerate(c) if i not in axes), set()).add(p)
    return {frozenset(g) for g in groups.values()}


# --- collectives from the compiled module -----------------------------------------------------


def base_opcode(opcode: str) -> str:
    """`all-gather-start` → `all-gather`; other opcodes unchanged."""
    for suffix in ASYNC_SUFFIXES:
        if opcode.endswith(suffix):
            return opcode[: -len(suffix)]
    return opcode


def collectives(result: InspectionResult, mesh: MeshInfo | None, partitions: int) -> list[Collective]:
    """Return every collective of the compiled module once, with its bytes, mesh axes, line and equations."""
    text = result.text_of("hlo")
    if not text:
        return []
    module = hlo_text.parse(text)
    types = {(i.computation, i.name): i.type for i in module.instructions()}
    eqns = _equations_by_line(result)
    found = []
    for ins in module.instructions():
        base = base_opcode(ins.opcode)
        if base not in COLLECTIVE_BYTES or ins.opcode.endswith("-done"):
            continue
        found.append(_collective(ins, base, module, types, eqns, mesh, partitions, result.request.filename))
    return found


def _collective(
    ins: hlo_text.Instruction,
    base: str,
    module: hlo_text.HloModule,
    types: dict[tuple[str, str], str],
    eqns: dict[tuple[int, str], list[Equation]],
    mesh: MeshInfo | None,
    partitions: int,
    filename: str,
) -> Collective:
    """Describe one collective instruction."""
    op = mapping._hlo_op(ins, module.tables, filename)  # the source map's own reading of the metadata
    groups = parse_groups(ins.attrs, partitions) or []
    permute = base in ("collective-permute", "collective-broadcast")
    n = group_size(groups, permute)
    size = sum(type_bytes(types.get((ins.computation, o), "")) for o in ins.operands)
    primitive = op.primitive or _primitive_of_name(ins.op_name)
    matched = [
        e
        for e in eqns.get((op.line or 0, primitive), [])
        if not op.phase or mapping.phase(e.name_stack) == op.phase
    ]
    reason = REQUESTED.get(primitive, "")
    if reason and op.phase == "backward" and primitive.startswith("psum"):  # autodiff's, implied by the specs
        reason = "psum from grad: the transpose of shard_map's pvary (a replicated input used per device)"
    return Collective(
        name=ins.name,
        opcode=base,
        asynchronous=ins.opcode != base,
        type=ins.type,
        operand_bytes=size,
        bytes_per_device=COLLECTIVE_BYTES[base](size, n) if n > 1 or permute else 0.0,
        group_size=n,
        groups=_groups_text(ins.attrs),
        mesh_axes=axes_of_groups(groups, mesh, permute),
        line=op.line,
        column=op.column,
        primitive=primitive,
        phase=op.phase,
        equations=[e.id for e in matched],
        requested=bool(reason),
        reason=reason
        or (
            f"XLA inserted it to compute {primitive} on sharded operands" if primitive else "XLA inserted it"
        ),
        computation=ins.computation,
        text_line=ins.line,
    )


def group_size(groups: list[list[int]], permute: bool = False) -> int:
    """Devices in each group (the largest); for a permute, the devices its pairs touch."""
    if permute:
        return len({d for g in groups for d in g}) or 1
    return max((len(g) for g in groups), default=1)


def _primitive_of_name(op_name: str) -> str:
    """The primitive at the end of an op_name path (`shard_map/psum_invariant` → psum_invariant)."""
    last = op_name.split("/")[-1] if op_name else ""
    return last.split("[")[0] if "(" not in last else ""


def _groups_text(attrs: str) -> str:
    """The `replica_groups=` (or `source_target_pairs=`) text as XLA printed it."""
    m = _ATTR.search(attrs)
    if not m:
        return ""
    rest = attrs[m.end() :]
    if rest.startswith("{"):
        return rest[: _braced_end(rest)]
    return rest[: rest.find("}") + 1] if rest.startswith("mesh[") else rest.split(", ")[0]


def _equations_by_line(result: InspectionResult) -> dict[tuple[int, str], list[Equation]]:
    """Equations of the final jaxpr (sub-jaxprs included) by (line, primitive)."""
    out: dict[tuple[int, str], list[Equation]] = {}
    for eqn in walk(result.jaxpr().model):
        if eqn.source is not None:
            out.setdefault((eqn.source.line, eqn.primitive), []).append(eqn)
    return out


def totals(found: list[Collective], key: str) -> list[CollectiveTotal]:
    """Roll collectives up by source line (`key="line"`) or by mesh axis (`key="axis"`), most bytes first."""
    rows: dict[Any, CollectiveTotal] = {}
    for c in found:
        keys = [c.line] if key == "line" else (["+".join(c.mesh_axes)] if c.mesh_axes else [""])
        for k in keys:
            row = rows.setdefault(
                k, CollectiveTotal(line=k if key == "line" else None, axis=k if key == "axis" else "")
            )
            row.count += 1
            row.bytes_per_device += c.bytes_per_device
            row.opcodes[c.opcode] = row.opcodes.get(c.opcode, 0) + 1
    return sorted(rows.values(), key=lambda r: (-r.bytes_per_device, r.line or 0, r.axis))


def collective_heat(s: Sharding, graph_of: str) -> dict[str, float]:
    """Each node's share of the bytes collectives move: HLO instructions (`hlo`) or equations (`after`)."""
    total = s.bytes_per_device or 1.0
    heat: dict[str, float] = {}
    for c in s.collectives:
        for key in [c.name] if graph_of == "hlo" else c.equations if graph_of == "after" else []:
            heat[key] = heat.get(key, 0.0) + c.bytes_per_device / total / (
                1 if graph_of == "hlo" else len(c.equations)
            )
    return heat


# --- layouts: shardings of inputs, outputs and (explicit mode) equations -----------------------


def mesh_info(mesh: Any, source: str) -> MeshInfo:
    """Describe a `Mesh` or `AbstractMesh`: axes (name, size, type) and device ids in mesh order."""
    names, sizes = list(mesh.axis_names), [int(s) for s in mesh.axis_sizes]
    types = [getattr(t, "name", str(t)) for t in getattr(mesh, "axis_types", ())] or ["Auto"] * len(names)
    try:  # an AbstractMesh (from a type or a shard_map) has no devices: then mesh order is partition order
        ids = [int(d.id) for d in mesh.devices.flat]
    except (ValueError, AttributeError):
        ids = []
    return MeshInfo(
        axes=[MeshAxis(n, s, t) for n, s, t in zip(names, sizes, types, strict=False)],
        device_ids=ids or list(range(math.prod(sizes))),
        source=source,
    )


def spec_text(sharding: Any, rank: int = 0, mesh: MeshInfo | None = None) -> str:
    """`P('data', None)`, `replicated`, or for a sharding without a spec (GSPMD) its tiling over `mesh`."""
    if getattr(sharding, "is_fully_replicated", False):
        return "replicated"
    spec = getattr(sharding, "spec", None)
    if spec is not None:
        return str(spec)
    tiles = _TILES.search(str(sharding))
    found = _spec_of_tiles([int(t) for t in tiles.group(1).split(",")][:rank], mesh) if tiles and rank else ""
    return found or str(sharding)


def layout(
    role: str, path: str, shape: tuple[int, ...], dtype: Any, sharding: Any, mesh: MeshInfo | None = None
) -> Layout:
    """One array's layout: its sharding, the shard each device holds, and which device holds which block."""
    shard = tuple(sharding.shard_shape(shape)) if sharding is not None else tuple(shape)
    blocks: dict[tuple, list[int]] = {}
    if sharding is not None:
        for device, index in sharding.devices_indices_map(tuple(shape)).items():
            bounds = tuple(s.indices(n)[:2] for s, n in zip(index, shape, strict=True))
            blocks.setdefault(bounds, []).append(int(device.id))
    import numpy as np

    return Layout(
        role=role,
        path=path,
        type=short_type(dtype, shape),
        sharding=spec_text(sharding, len(shape), mesh) if sharding is not None else "",
        shard_type=short_type(dtype, shard),
        replicated=bool(getattr(sharding, "is_fully_replicated", True)),
        shard_bytes=int(np.dtype(dtype).itemsize * math.prod(shard)),
        blocks=[
            ShardBlock([a for a, _ in b], [z for _, z in b], sorted(d)) for b, d in sorted(blocks.items())
        ],
    )


def equation_layouts(result: InspectionResult, mesh: MeshInfo | None) -> list[Layout]:
    """Explicit mode: each equation's result sharding, read from its jaxpr type (`f32[64@data,256]`)."""
    sizes = {a.name: a.size for a in mesh.axes} if mesh else {}
    out = []
    for eqn in walk(result.jaxpr().model):
        for var in eqn.outvars:
            if "@" not in var.type:
                continue
            out.append(
                Layout(
                    role="equation",
                    path=var.name,
                    type=_SHARDED_DIM.sub(lambda m: m.group(1), var.type),
                    sharding=_spec_of_type(var.type),
                    shard_type=_SHARDED_DIM.sub(
                        lambda m: str(int(m.group(1)) // _axes_size(m.group(2), sizes)), var.type
                    ),
                    replicated=False,
                    eqn=eqn.id,
                    primitive=eqn.primitive,
                    line=eqn.source.line if eqn.source else None,
                )
            )
    return out


def _axes_size(axes: str, sizes: dict[str, int]) -> int:
    return math.prod(sizes.get(a.strip(), 1) for a in axes.strip("()").split(",") if a.strip()) or 1


def _spec_of_type(type_text: str) -> str:
    """`f32[64@data,256]` → `P('data', None)`."""
    inner = type_text[type_text.find("[") + 1 : type_text.rfind("]")]
    parts = []
    for dim in re.findall(r"\d+(?:@(?:\w+|\([^)]*\)))?", inner):
        if "@" in dim:
            axes = [a.strip() for a in dim.split("@", 1)[1].strip("()").split(",") if a.strip()]
            parts.append(repr(axes[0]) if len(axes) == 1 else "(" + ", ".join(map(repr, axes)) + ")")
        else:
            parts.append("None")
    return spec_of(parts)


def spec_of(parts: list[str]) -> str:
    """A PartitionSpec's text as JAX prints it: `P('data', None)`, `P('data',)`, `P()`."""
    return "P(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _flat_with_paths(tree: Any, names: list[str]) -> Iterator[tuple[str, Any]]:
    """Leaves of a pytree with their paths, named by `names` when there are as many."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    for i, (path, leaf) in enumerate(leaves):
        yield (names[i] if len(names) == len(leaves) else jax.tree_util.keystr(path) or "out"), leaf


def find_mesh(compiled: Any, closed: Any) -> MeshInfo | None:
    """The program's mesh: from its shardings, else a `shard_map`'s `mesh`, else its types' abstract mesh."""
    import jax

    for s in jax.tree_util.tree_leaves((compiled.input_shardings, compiled.output_shardings)):
        mesh = getattr(s, "mesh", None)
        if mesh is not None and isinstance(mesh, jax.sharding.Mesh):
            return mesh_info(mesh, "the inputs' and outputs' shardings")
    for eqn in _all_eqns(closed.jaxpr if closed is not None else None):
        mesh = eqn.params.get("mesh")
        if mesh is not None and hasattr(mesh, "axis_names"):
            return mesh_info(mesh, f"{eqn.primitive.name}'s mesh")
        for var in eqn.outvars:
            mesh = getattr(getattr(getattr(var, "aval", None), "sharding", None), "mesh", None)
            if mesh is not None and getattr(mesh, "axis_names", ()) and not getattr(mesh, "empty", False):
                return mesh_info(mesh, "the jaxpr's types")
    return None


def _all_eqns(jaxpr: Any) -> Iterator[Any]:
    """Every equation of a jaxpr and its sub-jaxprs."""
    import jax.extend.core as jex

    for eqn in jaxpr.eqns if jaxpr is not None else []:
        yield eqn
        for sub in jex.jaxprs_in_params(eqn.params):
            yield from _all_eqns(getattr(sub, "jaxpr", sub))


def mode_of(mesh: MeshInfo | None, closed: Any, partitions: int) -> str:
    """How the program is sharded: explicit types, automatic propagation, shard_map, or one device."""
    if partitions <= 1:
        return "single device"
    if closed is not None and any(e.primitive.name == "shard_map" for e in _all_eqns(closed.jaxpr)):
        return "manual (shard_map)"
    if mesh and any(a.type == "Explicit" for a in mesh.axes):
        return "explicit"
    return "automatic (XLA's propagation)"


# --- automatic mode: shardings after XLA's propagation, from the pass record ----------------------

PROPAGATION_PASSES = ("shardy-xla", "sharding-propagation")  # the module after these holds every sharding
_HLO_SHARDING = re.compile(r"sharding=(\{(?:[^{}]|\{[^{}]*\})*\})")
_TILES = re.compile(r"devices=\[([\d,]+)\]")


def propagated_layouts(result: InspectionResult, mesh: MeshInfo | None) -> tuple[list[Layout], str]:
    """Each instruction's sharding once XLA propagated them (global types), mapped to its line and equation.

    Read from the recorded pass that propagates shardings (Shardy or GSPMD); returns the
    layouts and a note when there is no such pass in the record.
    """
    stage = next((st for st in result.of_kind("hlo-pass") if st.pass_name in PROPAGATION_PASSES), None)
    text = result.text_of(stage.id) if stage is not None else None
    if not text:
        return (
            [],
            "XLA's sharding propagation is not in the pass record, so propagated shardings are not shown",
        )
    module = hlo_text.parse(text)
    eqns = _equations_by_line(result)
    out = []
    for ins in module.computations[module.entry].instructions if module.entry in module.computations else []:
        found = _HLO_SHARDING.search(ins.attrs)
        if not found or ins.opcode in ("parameter", "constant", "tuple", "get-tuple-element"):
            continue
        op = mapping._hlo_op(ins, module.tables, result.request.filename)
        if op.line is None:
            continue
        matched = [
            e
            for e in eqns.get((op.line, op.primitive), [])
            if not op.phase or mapping.phase(e.name_stack) == op.phase
        ]
        out.append(_propagated(ins, found.group(1), op, matched[0].id if matched else "", mesh))
    return out, ""


def _propagated(
    ins: hlo_text.Instruction, hlo_sharding: str, op: Any, eqn: str, mesh: MeshInfo | None
) -> Layout:
    """One instruction's propagated sharding as a layout."""
    global_type = re.sub(r"\{[^}]*\}", "", ins.type)
    dtype, dims = _ARRAY.search(global_type).groups() if _ARRAY.search(global_type) else ("", "")
    shape = [int(d) for d in dims.split(",") if d.strip()]
    tiles = (
        [int(t) for t in _TILES.search(hlo_sharding).group(1).split(",")]
        if _TILES.search(hlo_sharding)
        else []
    )
    shard = [-(-n // t) for n, t in zip(shape, tiles, strict=False)] + shape[len(tiles) :] if tiles else shape
    return Layout(
        role="propagated",
        path=ins.name,
        type=global_type,
        sharding=_spec_of_tiles(tiles[: len(shape)], mesh) or hlo_sharding,
        shard_type=f"{dtype}[{','.join(map(str, shard))}]",
        replicated="replicated" in hlo_sharding,
        eqn=eqn,
        primitive=op.primitive,
        line=op.line,
    )


def _spec_of_tiles(tiles: list[int], mesh: MeshInfo | None) -> str:
    """`[4,1]` on a mesh data=4 → `P('data', None)`; "" when a tile count matches no single axis."""
    if not tiles or mesh is None:
        return ""
    sizes = {a.size: [b.name for b in mesh.axes if b.size == a.size] for a in mesh.axes}
    parts = []
    for t in tiles:
        if t == 1:
            parts.append("None")
        elif len(sizes.get(t, [])) == 1:
            parts.append(repr(sizes[t][0]))
        else:
            return ""
    return spec_of(parts)


# --- what XLA prints while compiling ----------------------------------------------------------

# Messages of XLA's SPMD partitioner worth a warning, by a phrase they contain: the kind shown.
WARNING_KINDS = {
    "full rematerialization": "full rematerialization",
    "resharding": "resharding",
    "[spmd]": "partitioner",
}
_MESSAGE_FRAME = re.compile(r"stack_frame_id=(\d+)")
_MESSAGE_OP = re.compile(r'op_name="((?:[^"\\]|\\.)*)"')


class CompilerOutput:
    """What the process wrote to its stderr (file descriptor 2, where XLA's C++ logs go) while compiling."""

    text = ""


@contextlib.contextmanager
def compiler_output() -> Iterator[CompilerOutput]:
    """Capture fd 2 for the block, then write it back unchanged: XLA's messages are read, never lost."""
    out = CompilerOutput()
    try:
        saved, spool = os.dup(2), tempfile.TemporaryFile()
    except OSError:  # no descriptor or file to spare: compile without reading the messages
        yield out
        return
    os.dup2(spool.fileno(), 2)
    try:
        yield out
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        spool.seek(0)
        data = spool.read()
        spool.close()
        if data:
            os.write(2, data)
        out.text = data.decode("utf-8", "replace")


def compiler_warnings(result: InspectionResult, text: str) -> list[ShardingWarning]:
    """XLA's partitioner messages in `text`, each at the user's line its metadata's stack frame names."""
    tables = hlo_text.tables(result.text_of("hlo") or "")
    found = []
    for line in text.splitlines():
        lower = line.lower()
        kind = next((k for phrase, k in WARNING_KINDS.items() if phrase in lower), "")
        if not kind:
            continue
        frame = _MESSAGE_FRAME.search(line)
        chain = tables.chain(int(frame.group(1))) if frame else iter(())
        user = [ln for file, ln, *_ in chain if mapping.same_file(file, result.request.filename)]
        op = _MESSAGE_OP.search(line)
        message = line.split("] ", 1)[1] if "] " in line else line
        found.append(
            ShardingWarning(message.strip(), user[0] if user else None, op.group(1) if op else "", kind)
        )
    return found


# --- the whole analysis -----------------------------------------------------------------------


_PARTITIONS = re.compile(r"num_partitions=(\d+)")


def analyze(
    result: InspectionResult,
    compiled: Any,
    closed: Any = None,
    paths: list[str] | None = None,
    printed: str = "",
) -> Sharding:
    """Return the mesh, layouts and collectives of a compiled program (in the worker, after compiling)."""
    import jax

    start = time.perf_counter()
    text = result.text_of("hlo") or ""
    found = _PARTITIONS.search(text[: text.find("\n")] if "\n" in text else text)
    partitions = int(found.group(1)) if found else 1
    mesh = find_mesh(compiled, closed)
    devices = {d for s in jax.tree_util.tree_leaves(compiled.input_shardings) for d in s.device_set}
    platform = next(iter(devices)).platform if devices else jax.default_backend()
    ins = [
        layout("input", path, tuple(info.shape), info.dtype, s, mesh)
        for (path, info), s in zip(
            _flat_with_paths(compiled.args_info, paths or []),
            jax.tree_util.tree_leaves(compiled.input_shardings),
            strict=False,
        )
    ]
    outs = [
        layout("output", path, tuple(o.shape), o.dtype, o.sharding, mesh)
        for path, o in _flat_with_paths(compiled.out_info, [])
    ]
    coll = collectives(result, mesh, partitions)
    mode = mode_of(mesh, closed, partitions)
    propagated, note = propagated_layouts(result, mesh) if mode.startswith("automatic") else ([], "")
    sharding = Sharding(
        devices=partitions,
        platform=platform,
        available=len(jax.devices()),
        mesh=mesh,
        mode=mode,
        inputs=ins,
        outputs=outs,
        equations=equation_layouts(result, mesh) if mesh else [],
        propagated=propagated,
        collectives=coll,
        by_line=totals(coll, "line"),
        by_axis=totals(coll, "axis"),
        bytes_per_device=sum(c.bytes_per_device for c in coll),
        notes=[note] if note else [],
        warnings=compiler_warnings(result, printed) if printed else [],
    )
    sharding.time_s = time.perf_counter() - start
    return sharding


def analyze_guarded(
    result: InspectionResult,
    compiled: Any,
    closed: Any = None,
    paths: list[str] | None = None,
    printed: str = "",
) -> None:
    """Set `result.sharding`; an analysis that fails leaves a note, never hides the compiled stages.

    `printed` is what XLA wrote while compiling (`compiler_output`): its partitioner warnings.
    """
    try:
        result.sharding = analyze(result, compiled, closed, paths, printed)
    except Exception as exc:  # noqa: BLE001 - a teaching view that fails must not lose the stages
        result.sharding = Sharding(notes=[f"the sharding analysis failed: {exc!r}"])
    result.stage_times["sharding"] = result.sharding.time_s


# --- text for the CLI -------------------------------------------------------------------------


def fmt_bytes(n: float) -> str:
    """`1.5 MiB`, `256 B`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def mesh_text(s: Sharding) -> str:
    """`mesh data=4 (Explicit) over cpu devices 0,1,2,3` or `one device`."""
    if s.mesh is None:
        return f"{s.devices} {s.platform} device(s), no mesh"
    axes = " × ".join(f"{a.name}={a.size} ({a.type})" for a in s.mesh.axes)
    return f"mesh {axes} over {s.platform} devices {','.join(map(str, s.mesh.device_ids))}; mode: {s.mode}"


def layouts_text(s: Sharding) -> str:
    """`--emit sharding`: the mesh, then each input and output: sharding and per-device shard type."""
    lines = [f"# {mesh_text(s)}", *(f"# {n}" for n in s.notes)]
    lines += [f"# warning (line {w.line or '?'}): {w.message}" for w in s.warnings]
    for lay in s.inputs + s.outputs:
        lines.append(
            f"{lay.role:<6} {lay.path:<24} {lay.type:<16} {lay.sharding:<22} shard {lay.shard_type} of {lay.type}"
        )
    return "\n".join(lines) + "\n"


def collectives_text(s: Sharding, times: dict[str, float] | None = None) -> str:
    """`--emit collectives`: one collective per line: opcode, bytes, mesh axes, `line N` (and time, profiled)."""
    lines = [
        f"# {mesh_text(s)}; {len(s.collectives)} collective(s), {fmt_bytes(s.bytes_per_device)} per device"
    ]
    for c in s.collectives:
        axes = ",".join(c.mesh_axes) or "-"
        where = f"line {c.line}" if c.line else "line ?"
        asked = "asked" if c.requested else "inserted"
        took = f" {times[c.name] * 1e6:.1f} µs" if times and c.name in times else ""
        lines.append(
            f"{c.opcode:<18} {fmt_bytes(c.bytes_per_device):>10}  axes {axes:<10} {where:<9} {c.phase or '-':<8} "
            f"{asked:<8} {c.name} ({c.reason}){took}"
        )
    return "\n".join(lines) + "\n"
