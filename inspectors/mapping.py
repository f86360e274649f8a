"""Source ↔ jaxpr ↔ StableHLO ↔ HLO mapping, as in Compiler Explorer. No JAX here.

Everything is read from an `InspectionResult`: equations carry their user line;
StableHLO ops carry MLIR locations (`loc(#loc7)`, aliases defined at the end of
the module, nested as name, callsite and fused locations); compiled HLO carries
`metadata={op_name=... stack_frame_id=N}` into FileNames/FunctionNames/
FileLocations/StackFrames tables (JAX 0.10), or `source_file=`/`source_line=`
(older JAX). The app can therefore map a result that came back from a worker.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from inspectors import hlo_text
from inspectors.graph import scope_path
from inspectors.hlo_text import HloTables
from inspectors.mlir_text import Loc, func_name, loc_aliases, op_of, parse_loc, trailing_loc  # noqa: F401 - re-exported
from inspectors.results import Equation, InspectionResult, LineInfo, OpLoc, SourceMap, StableHloModule, walk
from inspectors.styles import line_color  # noqa: F401 - one palette, re-exported

# --- palette ----------------------------------------------------------------------------------


# --- equations --------------------------------------------------------------------------------


def phase(name_stack: str) -> str:
    """Return "backward" for a transpose, "forward" for a jvp, else ""."""
    if "transpose(" in name_stack or name_stack.startswith("transpose"):
        return "backward"
    if "jvp(" in name_stack or name_stack == "jvp":
        return "forward"
    return ""


# --- MLIR locations: parsed in mlir_text.py -----------------------------------------------------


def _user_frame(loc: Loc, filename: str) -> tuple[str, int, int] | None:
    """Return the innermost frame of `loc` in the user's file."""
    for frame in loc.frames:
        if same_file(frame[0], filename):
            return frame
    return None


def same_file(name: str, filename: str) -> bool:
    """True if a file name in compiler metadata names the user's file."""
    return name == filename or name.endswith("/" + filename) or filename.endswith("/" + name)


def primitive_of(names: list[str]) -> str:
    """Return the primitive a location names: the first name that is not a scope path."""
    for name in names:
        if name and "/" not in name:
            return name.split("(")[0].rstrip(":")
    return ""


def stablehlo_ops(text: str, filename: str, plain: str | None = None) -> list[OpLoc]:
    """Return every op line of a StableHLO module printed with debug info, with its source."""
    aliases = loc_aliases(text)
    cache: dict[str, Loc] = {}
    plain_lines = _plain_line_numbers(text, plain)
    ops, function = [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#loc"):
            continue
        name = func_name(line)
        if name:
            function = name
            continue
        inner = trailing_loc(line)
        if inner is None:
            continue
        ops.append(_stablehlo_op(line, number, parse_loc(inner, aliases, cache), filename, function))
        ops[-1].plain_line = plain_lines.get(number)
    return ops


def module_ops(module: StableHloModule, filename: str) -> list[OpLoc]:
    """Return every op of the module model (read in the worker from JAX's `ir.Module`), with its source.

    Each op sits on the line where its `loc(...)` is printed (a region op's closing line), as a scan of
    the debug text finds it; an op printed inside another's line (`applies stablehlo.add`) has none.
    """
    out = []
    for op in module.ops:
        if op.loc_line is None:
            continue
        loc = Loc(op.names, [(f.file, f.line, f.column) for f in op.frames])
        out.append(_op_loc(op.results, op.name, op.loc_line, loc, filename, op.function))
        out[-1].plain_line = op.plain_loc_line
    return sorted(out, key=lambda op: op.text_line)  # in the text's order, as the views list them


def _stablehlo_op(line: str, number: int, loc: Loc, filename: str, function: str) -> OpLoc:
    """Describe one StableHLO op line."""
    name, opcode = op_of(line)
    return _op_loc(name, opcode, number, loc, filename, function)


def _op_loc(name: str, opcode: str, number: int, loc: Loc, filename: str, function: str) -> OpLoc:
    """Describe one StableHLO op from its location."""
    frame = _user_frame(loc, filename)
    scope = "/".join(n for n in loc.names if "/" in n or "(" in n)
    return OpLoc(
        kind="stablehlo",
        name=name,
        opcode=opcode,
        text_line=number,
        line=frame[1] if frame else None,
        column=frame[2] if frame else None,
        primitive=primitive_of(loc.names),
        scope=scope,
        phase=phase(scope),
        computation=function,
    )


def _plain_line_numbers(debug: str, plain: str | None) -> dict[int, int]:
    """Map line numbers of the debug-info text to the plain text (same lines minus `#loc`s)."""
    if not plain:
        return {}
    kept = [n for n, line in enumerate(debug.splitlines(), start=1) if not line.startswith("#loc")]
    plain_count = len(plain.rstrip("\n").splitlines())
    if len(kept) != plain_count:
        return {}
    return {n: i for i, n in enumerate(kept, start=1)}


# --- compiled HLO: parsed in hlo_text.py --------------------------------------------------------


def hlo_ops(text: str, filename: str) -> list[OpLoc]:
    """Return every HLO instruction, with the user's line from its metadata where it has one."""
    module = hlo_text.parse(text)
    return [_hlo_op(ins, module.tables, filename) for ins in module.instructions()]


def _hlo_op(ins: hlo_text.Instruction, tables: HloTables, filename: str) -> OpLoc:
    """Describe one HLO instruction from its metadata."""
    op_name = ins.op_name
    path = op_name.split("/")
    source_line, column, functions = _hlo_source(ins, tables, filename)
    scope = "/".join([*path[:-1], *functions])
    return OpLoc(
        kind="hlo",
        name=ins.name,
        opcode=ins.opcode,
        text_line=ins.line,
        line=source_line,
        column=column,
        primitive=path[-1] if op_name and "(" not in path[-1] else "",
        scope=scope,
        phase=phase(scope),
        computation=ins.computation,
    )


def _hlo_source(
    ins: hlo_text.Instruction, tables: HloTables, filename: str
) -> tuple[int | None, int | None, list[str]]:
    """Return (line, column, function names along the stack) for one instruction's metadata."""
    source = ins.source
    if source and same_file(source[0], filename):
        return source[1], None, []
    frame_id = ins.stack_frame_id
    if frame_id is None:
        return None, None, []
    chain = list(tables.chain(frame_id))
    functions = [f for *_, f in chain if f]
    for frame_file, frame_line, frame_col, _ in chain:
        if same_file(frame_file, filename):
            return frame_line, frame_col, functions
    return None, None, functions


def hlo_tables(text: str) -> HloTables:
    """Parse the FileNames/FunctionNames/FileLocations/StackFrames tables."""
    return hlo_text.tables(text)


# --- the source map ---------------------------------------------------------------------------


def source_map(result: InspectionResult) -> SourceMap:
    """Map every user line to its equations, StableHLO ops and HLO instructions."""
    filename = result.request.filename
    lines = result.request.source.splitlines()
    debug, compiled = result.text_of("stablehlo-debug"), result.text_of("hlo")
    module = getattr(result.find("stablehlo-debug"), "module", None)
    if module is not None and module.ops and module.placed:  # the worker's model of JAX's own module
        shlo = module_ops(module, filename)
    else:  # a result saved before the model, or a module it could not place: scan the text
        shlo = stablehlo_ops(debug, filename, result.text_of("stablehlo")) if debug else []
    hlo = hlo_ops(compiled, filename) if compiled else []
    infos: dict[int, LineInfo] = {}

    def info(n: int) -> LineInfo:
        if n not in infos:
            code = lines[n - 1] if 0 < n <= len(lines) else ""
            infos[n] = LineInfo(line=n, code=code, color=line_color(n), status="traced")
        return infos[n]

    for eqn in walk(result.jaxpr(0).model):
        if eqn.source and same_file(eqn.source.file, filename):
            info(eqn.source.line).eqns_before.append(eqn.id)
    for eqn in walk(result.jaxpr().model):
        if eqn.source and same_file(eqn.source.file, filename):
            line = info(eqn.source.line)
            line.eqns_after.append(eqn.id)
            line.scopes.setdefault("/".join(scope_path(eqn)), []).append(eqn.id)
    for stage in result.jaxpr_stages():  # every stage of the chain: jaxpr:1..K-1 too
        for eqn in walk(stage.model):
            if eqn.source and same_file(eqn.source.file, filename):
                info(eqn.source.line).eqns.setdefault(stage.id, []).append(eqn.id)
    for line in infos.values():
        if len(line.scopes) < 2:
            line.scopes = {}
    for op in shlo:
        if op.line is not None:
            info(op.line).stablehlo.append(op.text_line)
    for op in hlo:
        if op.line is not None:
            info(op.line).hlo.append(op.name)
    span, statements = entry_statements(result.request.source, result.entry)
    _mark_statuses(infos, statements, info)
    return SourceMap(
        filename=filename,
        entry=result.entry,
        entry_span=span,
        lines=[infos[n] for n in sorted(infos)],
        stablehlo_ops=shlo,
        hlo_ops=hlo,
    )


def _mark_statuses(infos: dict[int, LineInfo], statements: list[Statement], info: Callable) -> None:
    """Set each line's status: "traced", "lowered" (ops only), "called" or "nothing".

    An entry statement with no equations of its own either calls a function of this
    file that traced some ("called": equations carry the innermost user line), or
    "produced nothing" (Python-only work, such as `n = 3` or a static `if`).
    """
    for item in infos.values():
        if not (item.eqns_before or item.eqns_after):
            item.status = "lowered"

    def traced(first: int, last: int) -> bool:
        return any(
            n in infos and (infos[n].eqns_before or infos[n].eqns_after) for n in range(first, last + 1)
        )

    for stmt in statements:
        if traced(stmt.first, stmt.last):
            continue
        status = "called" if any(traced(a, b) for a, b in stmt.callees) else "nothing"
        for n in range(stmt.first, stmt.last + 1):
            info(n).status = status


@dataclass
class Statement:
    """A statement (or compound header) of the entry function and the local functions it calls."""

    first: int
    last: int
    callees: list[tuple[int, int]] = field(default_factory=list)  # line spans of called local defs


def entry_statements(source: str, entry: str) -> tuple[list[int], list[Statement]]:
    """Return the entry `def`'s [first, last] lines and its statements.

    A compound statement (`if`, `for`, `with`) contributes its header only; its body
    statements are listed on their own. Docstrings are left out.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [], []
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    fn = defs.get(entry)
    if fn is None:
        return [], []
    statements = []
    for stmt in _statements(fn.body):
        first, last = _header_span(stmt)
        calls = {
            c.func.id for c in _header_nodes(stmt) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
        }
        spans = [(defs[c].lineno, defs[c].end_lineno or defs[c].lineno) for c in sorted(calls) if c in defs]
        statements.append(Statement(first, last, spans))
    return [fn.lineno, fn.end_lineno or fn.lineno], statements


def _header_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Yield the AST nodes of a statement outside its nested bodies."""
    for name, value in ast.iter_fields(stmt):
        if name in ("body", "orelse", "finalbody", "handlers"):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, ast.AST):
                yield from ast.walk(item)


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Yield statements depth first, nested bodies included (not nested defs)."""
    for stmt in body:
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            continue  # a docstring
        yield stmt
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(stmt, name, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            yield from _statements(handler.body)


def _header_span(stmt: ast.stmt) -> tuple[int, int]:
    """Return [first, last] line of a statement, or of a compound statement's header."""
    end = stmt.end_lineno or stmt.lineno
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        end = max(stmt.lineno, body[0].lineno - 1)
    return stmt.lineno, end


# --- lookups the UI uses ----------------------------------------------------------------------


@dataclass
class _Lookup:
    """A source map's answers by key (one pass over it): a 12,000-equation program asks thousands of times."""

    info: dict[int, LineInfo]
    after: dict[str, int]
    before: dict[str, int]
    stablehlo: dict[int, int | None]
    stablehlo_plain: dict[int, int | None]
    hlo: dict[str, int | None]
    hlo_text: dict[int, int | None]


def _lookup(smap: SourceMap) -> _Lookup:
    """Return the source map's lookup tables, built on first use and kept on it (not one of its fields)."""
    found = smap.__dict__.get("_lookup")
    if found is None:
        after, before = {}, {}
        for item in reversed(smap.lines):  # the first line that lists an equation wins, as a scan would
            after.update(dict.fromkeys(item.eqns_after, item.line))
            before.update(dict.fromkeys(item.eqns_before, item.line))
        first = lambda pairs: {k: v for k, v in reversed(pairs)}  # noqa: E731 - the first op of a key wins
        found = _Lookup(
            info={i.line: i for i in reversed(smap.lines)},
            after=after,
            before=before,
            stablehlo=first([(op.text_line, op.line) for op in smap.stablehlo_ops]),
            stablehlo_plain=first([(op.plain_line, op.line) for op in smap.stablehlo_ops]),
            hlo=first([(op.name, op.line) for op in smap.hlo_ops]),
            hlo_text=first([(op.text_line, op.line) for op in smap.hlo_ops]),
        )
        smap.__dict__["_lookup"] = found
    return found


def line_info(smap: SourceMap, line: int) -> LineInfo | None:
    """Return what a source line produced, or None if nothing is known about it."""
    return _lookup(smap).info.get(line)


def line_of_stablehlo_line(smap: SourceMap, text_line: int, plain: bool = False) -> int | None:
    """Return the source line of a StableHLO text line (debug text, or plain if `plain`)."""
    lookup = _lookup(smap)
    return (lookup.stablehlo_plain if plain else lookup.stablehlo).get(text_line)


def line_of_hlo_instruction(smap: SourceMap, name: str) -> int | None:
    """Return the source line of a compiled HLO instruction (`add.3` or `%add.3`)."""
    return _lookup(smap).hlo.get(name.lstrip("%"))


def line_of_hlo_text_line(smap: SourceMap, text_line: int) -> int | None:
    """Return the source line of a line of the compiled HLO text."""
    return _lookup(smap).hlo_text.get(text_line)


def line_of_equation(smap: SourceMap, eqn_id: str, after: bool = True) -> int | None:
    """Return the source line of an equation id of the after (or before) model."""
    lookup = _lookup(smap)
    return (lookup.after if after else lookup.before).get(eqn_id)


def ops_of_equation(smap: SourceMap, eqn: Equation) -> list[OpLoc]:
    """Return StableHLO ops and HLO instructions of the same line, primitive and phase (best effort)."""
    if eqn.source is None:
        return []
    want = phase(eqn.name_stack)
    return [
        op
        for op in smap.stablehlo_ops + smap.hlo_ops
        if op.line == eqn.source.line and op.primitive == eqn.primitive and (not want or op.phase == want)
    ]
