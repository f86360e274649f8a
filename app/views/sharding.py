"""The Sharding view: the device mesh, each array's layout over it, and every collective traced to its line.

Everything shown was computed in the worker (`inspectors.sharding`, on the compiled
module and its shardings); this view only reads `result.sharding` and draws it. The
tiling pictures are SVG drawn here from the blocks (which device holds which part).
"""

from __future__ import annotations

import base64
from functools import partial

import pandas as pd
import streamlit as st

from app import state
from app.safe import code_span, html_text, md
from app.views import profile as profile_view
from app.views import source_map
from app.views.common import missing
from inspectors.results import Collective, InspectionResult, Layout, MeshInfo, Sharding, walk
from inspectors.styles import line_color

TILE_W, TILE_MAX_H, TILE_MIN_H = 220, 140, 34  # the tiling picture's size in pixels
DEVICE_HUES = 8  # device colours repeat after this many devices


def sharding_tab(result: InspectionResult) -> None:
    """The Sharding tab."""
    if st.session_state.pop(PICK_RERUN, False):  # a collective was picked: the Source map view shows it too
        st.rerun(scope="app")
    s = result.sharding
    if s is None:
        if result.running:  # a streamed frame: compiling (or XLA's passes) is still going
            st.info("The mesh, layouts and collectives come once the program is compiled.")
        else:
            missing("sharding analysis (it runs after compiling)", result)
        return
    for note in s.notes:
        st.info(note, icon=":material/info:")
    for w in s.warnings:  # XLA's, while compiling: the line its metadata names
        where = f"line {w.line}" if w.line else "no line"
        st.warning(f"XLA, {md(w.kind)} at {where}: {md(w.message)}", icon=":material/warning:")
    summary(s)
    mesh_picture(s.mesh)
    collectives_section(result, s)
    layouts_section(s)
    equations_section(s)


def summary(s: Sharding) -> None:
    """Devices, mesh, mode, collectives and bytes as metrics."""
    cols = st.columns(5)
    cols[0].metric(
        "Devices",
        s.devices,
        help=f"partitions of the compiled module; {s.available} {s.platform} device(s) available",
    )
    axes = " × ".join(f"{a.name}={a.size}" for a in s.mesh.axes) if s.mesh else "none"
    cols[1].metric("Mesh", axes)
    cols[2].metric("Mode", (s.mode or "—").split(" (")[0], help=s.mode or None)
    cols[3].metric("Collectives", len(s.collectives))
    cols[4].metric("Moved per device", fmt_bytes(s.bytes_per_device), help=BYTES_HELP)


BYTES_HELP = (
    "Ring estimates over a group of n devices from the per-device operand size S: all-gather (n-1)·S, "
    "all-reduce 2(n-1)/n·S, reduce-scatter and all-to-all (n-1)/n·S, collective-permute S."
)


def fmt_bytes(n: float) -> str:
    """`1.5 MiB`, `256 B`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def device_color(device: int) -> str:
    """A stable pastel per device id (the source-line palette, indexed by device)."""
    return line_color(device % DEVICE_HUES + 1)


# --- the mesh ---------------------------------------------------------------------------------


def mesh_picture(mesh: MeshInfo | None) -> None:
    """The mesh as a grid of device ids: rows along the first axis, columns along the others."""
    if mesh is None or not mesh.axes:
        st.caption("No device mesh: the program runs on one device.")
        return
    types = ", ".join(f"{md(a.name)}: {md(a.type)}" for a in mesh.axes)
    st.markdown(f"**Mesh** ({types}; found in {md(mesh.source)})")
    rows = mesh.axes[0].size if len(mesh.axes) > 1 else 1
    cols = max(1, len(mesh.device_ids) // rows)
    cells = []
    for r in range(rows):
        tds = "".join(
            f'<td style="background:{device_color(d)};padding:4px 10px;border:1px solid #999">{d}</td>'
            for d in mesh.device_ids[r * cols : (r + 1) * cols]
        )
        cells.append(f"<tr>{tds}</tr>")
    first, rest = html_text(mesh.axes[0].name), html_text(" × ".join(a.name for a in mesh.axes[1:]))
    label = f"rows: {first}, columns: {rest}" if len(mesh.axes) > 1 else f"axis {first}"
    st.html(
        f'<div><table style="border-collapse:collapse;font-family:monospace">{"".join(cells)}</table>'
        f'<div style="font-size:0.8em;color:#666">device ids; {label}</div></div>'
    )


# --- collectives ------------------------------------------------------------------------------


def collectives_section(result: InspectionResult, s: Sharding) -> None:
    """The collectives table, then totals per source line and per mesh axis."""
    st.markdown("**Collectives** (from the compiled module; an async start/done pair counts once)")
    if not s.collectives:
        st.caption("None: no device talks to another in this program.")
        return
    times = measured(result)
    source = result.request.source.splitlines()
    event = st.dataframe(
        pd.DataFrame([_row(c, source, times) for c in s.collectives]),
        hide_index=True,
        width="stretch",
        key="sharding_collectives",
        on_select=partial(_select_in_source_map, s.collectives),
        selection_mode="single-row",
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    picked(result, s.collectives[rows[0] if rows and rows[0] < len(s.collectives) else 0], source)
    left, right = st.columns(2)
    left.markdown("Per source line")
    left.dataframe(
        pd.DataFrame(
            [
                {
                    "line": t.line,
                    "code": _code(source, t.line),
                    "collectives": t.count,
                    "bytes/device": fmt_bytes(t.bytes_per_device),
                    "ops": _ops(t.opcodes),
                }
                for t in s.by_line
            ]  # fmt: skip
        ),
        hide_index=True,
        width="stretch",
    )
    right.markdown("Per mesh axis")
    right.dataframe(
        pd.DataFrame(
            [
                {
                    "axis": t.axis or "?",
                    "collectives": t.count,
                    "bytes/device": fmt_bytes(t.bytes_per_device),
                    "ops": _ops(t.opcodes),
                }
                for t in s.by_axis
            ]  # fmt: skip
        ),
        hide_index=True,
        width="stretch",
    )


def measured(result: InspectionResult) -> dict[str, float]:
    """Measured time per call of each compiled op, when this program was profiled (here or in the Profile view)."""
    prof = result.profile
    if prof is None:
        profiled = profile_view.profiled(state.request_key(result.request))
        prof = profiled.profile if profiled is not None else None
    return {op.name: op.time_s for op in prof.ops} if prof else {}


def source_map_pick(c: Collective) -> tuple[int | None, str | None]:
    """The Source map's selection for a collective: its line, and its equation when it has one alone."""
    return c.line, c.equations[0] if c.line and len(c.equations) == 1 else None


def _select_in_source_map(collectives: list[Collective]) -> None:
    """A picked row selects its line (and equation) in the Source map view too, as that view's own pickers do."""
    rows = (st.session_state.get("sharding_collectives") or {}).get("selection", {}).get("rows") or []
    if rows and rows[0] < len(collectives) and collectives[rows[0]].line:
        # A plain key, not the Source map's widgets: their state lapses in a run that does not draw them.
        st.session_state[source_map.PICK_KEY] = source_map_pick(collectives[rows[0]])
        st.session_state[PICK_RERUN] = True  # each view is a fragment: the Source map redraws in a whole run


PICK_RERUN = "_sharding_pick_rerun"  # set by a pick: rerun the page, not this view's fragment alone
EXCERPT_LINES = 3  # source lines shown either side of the picked collective's


def source_excerpt_html(source: list[str], line: int) -> str:
    """The lines around `line`, numbered, `line` outlined (the Profile and Source map views' outline)."""
    rows = []
    for n in range(max(1, line - EXCERPT_LINES), min(len(source), line + EXCERPT_LINES) + 1):
        sel = "outline:2px solid #111;font-weight:600;background:#fef3c7;" if n == line else ""
        rows.append(
            f'<tr class="sharding-line" data-line="{n}" style="{sel}">'
            f'<td style="color:#6b7280;text-align:right;padding:0 0.5rem">{n}</td>'
            f'<td style="font-family:monospace;white-space:pre;padding:0 0.6rem;width:100%">'
            f"{html_text(source[n - 1])}</td></tr>"
        )
    return (
        '<div class="explorer-code" style="overflow:auto;border:1px solid #e5e7eb;border-radius:0.5rem">'
        '<table style="border-collapse:collapse;width:100%;font-size:13px">'
        + "".join(rows)
        + "</table></div>"
    )


def picked(result: InspectionResult, c: Collective, source: list[str]) -> None:
    """The picked collective (the first until one is picked): its line, its equations, its HLO instruction."""
    where = f"line {c.line}" if c.line else "no line of yours"
    st.caption(f"Picked (pick a row for another): {md(c.opcode)} {code_span(c.name)} at {md(where)}")
    eqns = {e.id: e for e in walk(result.jaxpr().model)}
    texts = [f"{where}: {_code(source, c.line)}"] if c.line else []
    texts += [f"equation {e} ({c.phase or 'no grad'}): {eqns[e].text}" for e in c.equations if e in eqns]
    hlo = (result.text_of("hlo") or "").splitlines()
    if 0 < c.text_line <= len(hlo):
        texts.append(f"HLO line {c.text_line}: {hlo[c.text_line - 1].strip()}")
    if c.line and 0 < c.line <= len(source):
        st.html(source_excerpt_html(source, c.line))
        st.caption(
            "Picking a row selects its line in the Source map view too: its equations and ops outlined."
        )
    st.code("\n".join(texts), language=None, wrap_lines=True)


def _row(c: Collective, source: list[str], times: dict[str, float]) -> dict[str, object]:
    """One table row for a collective."""
    row: dict[str, object] = {
        "collective": c.opcode + (" (async)" if c.asynchronous else ""),
        "line": c.line,
        "code": _code(source, c.line),
        "phase": c.phase or "—",
        "bytes/device": fmt_bytes(c.bytes_per_device),
        "mesh axes": ", ".join(c.mesh_axes) or "?",
        "group": c.group_size,
        "who": "asked" if c.requested else "XLA",
        "why": c.reason,
        "equations": ", ".join(c.equations),
        "HLO": c.name,
    }
    if times:
        row["time"] = f"{times[c.name] * 1e6:.1f} µs" if c.name in times else "—"
    return row


def _code(source: list[str], line: int | None) -> str:
    return source[line - 1].strip() if line and 0 < line <= len(source) else ""


def _ops(opcodes: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in opcodes.items())


# --- layouts ----------------------------------------------------------------------------------


def layouts_section(s: Sharding) -> None:
    """Each input and output: its sharding, the shard one device holds, and the tiling picture."""
    st.markdown("**Layouts** (inputs and outputs as compiled; which device holds which block)")
    for lay in s.inputs + s.outputs:
        left, right = st.columns([2, 1], vertical_alignment="center")
        left.markdown(
            f"{lay.role} {code_span(lay.path)}: {code_span(lay.type)} as {code_span(lay.sharding)}; "
            f"each device holds {code_span(lay.shard_type)} ({fmt_bytes(lay.shard_bytes)})"
            + (" — the picture shows its first two dimensions" if len(_dims(lay.type)) > 2 else "")
        )
        right.markdown(svg_image(tiling_svg(lay)), unsafe_allow_html=True)


def svg_image(svg: str) -> str:
    """An `<img>` of an SVG (as data: the picture cannot run anything; st.html drops bare SVG)."""
    return f'<img alt="tiling" src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'


def tiling_svg(lay: Layout) -> str:
    """An SVG of the array's first two dimensions cut into blocks, each labelled with its devices."""
    dims = _dims(lay.type)
    rows, cols = (dims[0], dims[1]) if len(dims) >= 2 else (1, dims[0] if dims else 1)
    rows, cols = max(rows, 1), max(cols, 1)
    height = int(min(TILE_MAX_H, max(TILE_MIN_H, TILE_W * rows / cols)))
    cells: dict[tuple[int, int, int, int], list[int]] = {}
    for b in lay.blocks:
        r0, r1, c0, c1 = (
            (b.start[0], b.stop[0], b.start[1], b.stop[1]) if len(dims) >= 2 else (0, 1, *_span(b, dims))
        )
        cells.setdefault((r0, r1, c0, c1), []).extend(b.devices)
    shapes = []
    for (r0, r1, c0, c1), devices in sorted(cells.items()):
        x, w = TILE_W * c0 / cols, TILE_W * (c1 - c0) / cols
        y, h = height * r0 / rows, height * (r1 - r0) / rows
        label = ",".join(str(d) for d in sorted(set(devices)))
        shapes.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{device_color(min(devices))}" '
            f'stroke="#555"><title>devices {label}: rows {r0}:{r1}, columns {c0}:{c1}</title></rect>'
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" font-size="11" text-anchor="middle" '
            f'font-family="monospace">{html_text(label if len(label) < 12 else "all")}</text>'
        )
    title = html_text(f"{lay.path}: {lay.type} {lay.sharding}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{TILE_W + 2}" height="{height + 2}" '
        f'role="img" aria-label="{title}"><g transform="translate(1,1)">{"".join(shapes)}</g></svg>'
    )


def _dims(type_text: str) -> list[int]:
    inner = type_text[type_text.find("[") + 1 : type_text.rfind("]")]
    return [int(d) for d in inner.split(",") if d.strip().isdigit()]


def _span(block: object, dims: list[int]) -> tuple[int, int]:
    """A rank-1 block's [start, stop) (a scalar is one cell)."""
    return (block.start[0], block.stop[0]) if dims else (0, 1)  # type: ignore[attr-defined]


# --- each equation's result: explicit types, or XLA's propagation ------------------------------


def equations_section(s: Sharding) -> None:
    """Every equation's result sharding: from the jaxpr's types (Explicit axes) or after XLA's propagation."""
    if s.equations:
        _layout_table(
            f"Equations' result shardings ({len(s.equations)}, from the jaxpr's types)", s.equations, "result"
        )
    if s.propagated:
        title = f"Shardings after XLA's propagation ({len(s.propagated)} instructions, mapped to equations)"
        _layout_table(title, s.propagated, "HLO")


def _layout_table(title: str, layouts: list[Layout], what: str) -> None:
    """One folded table of per-equation layouts."""
    with st.expander(title):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "equation": e.eqn,
                        "primitive": e.primitive,
                        "line": e.line,
                        what: e.path,
                        "type": e.type,
                        "sharding": e.sharding,
                        "per device": e.shard_type,
                    }
                    for e in layouts
                ]
            ),
            hide_index=True,
            width="stretch",
        )
