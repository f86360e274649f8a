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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from inspectors.results import Equation, InspectionResult, walk
from inspectors.styles import line_color  # noqa: F401 - one palette, re-exported
from inspectors.teaching_results import LineInfo, OpLoc, SourceMap

# --- palette ----------------------------------------------------------------------------------


# --- equations --------------------------------------------------------------------------------


def phase(name_stack: str) -> str:
    """Return "backward" for a transpose, "forward" for a jvp, else ""."""
    if "transpose(" in name_stack or name_stack.startswith("transpose"):
        return "backward"
    if "jvp(" in name_stack or name_stack == "jvp":
        return "forward"
    return ""


# --- MLIR locations ---------------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|#loc\d*|[A-Za-z_]\w*|\d+|[()\[\]<>,:]')
_LOC_DEF = re.compile(r"^(#loc\d*)\s*=\s*loc\((.*)\)\s*$")


@dataclass
class Loc:
    """A resolved MLIR location: names (outermost first) and file frames (innermost first)."""

    names: list[str] = field(default_factory=list)
    frames: list[tuple[str, int, int]] = field(default_factory=list)

    def __add__(self, other: Loc) -> Loc:
        return Loc(self.names + other.names, self.frames + other.frames)


class _LocParser:
    """Recursive descent over one location expression; `#locN` references resolve lazily."""

    def __init__(self, text: str, aliases: dict[str, str], cache: dict[str, Loc]) -> None:
        self.tokens = _TOKEN.findall(text)
        self.pos = 0
        self.aliases = aliases
        self.cache = cache

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.pos += 1
        return token

    def parse(self) -> Loc:
        """Parse one location: unknown, alias, callsite, fused, file:line:col or name(child)."""
        token = self.take()
        if token.startswith("#loc"):
            return resolve_alias(token, self.aliases, self.cache)
        if token == "callsite":
            return self.callsite()
        if token == "fused":
            return self.fused()
        if token.startswith('"'):
            return self.string(_unquote(token))
        return Loc()

    def callsite(self) -> Loc:
        """`callsite(callee at caller)`: the callee's frames come first (innermost)."""
        self.take()  # (
        callee = self.parse()
        self.take()  # at
        caller = self.parse()
        self.take()  # )
        return callee + caller

    def fused(self) -> Loc:
        """`fused<meta>[a, b, ...]`: all parts, in order."""
        if self.peek() == "<":
            depth = 0
            while self.peek():
                token = self.take()
                depth += (token == "<") - (token == ">")
                if depth == 0:
                    break
        self.take()  # [
        out = Loc()
        while self.peek() and self.peek() != "]":
            out = out + self.parse()
            if self.peek() == ",":
                self.take()
        self.take()  # ]
        return out

    def string(self, text: str) -> Loc:
        """A file location (`"f.py":3:8`), a name location (`"add"(child)`) or a bare name."""
        if self.peek() == ":":
            self.take()
            line = int(self.take())
            col = 0
            if self.peek() == ":":
                self.take()
                col = int(self.take())
            self._skip_range()
            return Loc([], [(text, line, col)])
        if self.peek() == "(":
            self.take()
            child = self.parse()
            self.take()  # )
            return Loc([text], []) + child
        return Loc([text], [])

    def _skip_range(self) -> None:
        """Skip `to 5:10` / `to :10` after a file location."""
        if self.peek() != "to":
            return
        self.take()
        while self.peek() and self.peek() not in (")", ",", "]"):
            self.take()


def _unquote(token: str) -> str:
    """Return a quoted MLIR string's contents."""
    return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def resolve_alias(alias: str, aliases: dict[str, str], cache: dict[str, Loc]) -> Loc:
    """Return the location an alias `#locN` stands for (cycles and unknowns give an empty Loc)."""
    if alias in cache:
        return cache[alias]
    cache[alias] = Loc()  # guards against cycles
    text = aliases.get(alias)
    loc = _LocParser(text, aliases, cache).parse() if text else Loc()
    cache[alias] = loc
    return loc


def parse_loc(text: str, aliases: dict[str, str], cache: dict[str, Loc] | None = None) -> Loc:
    """Parse the inside of `loc(...)`, resolving `#locN` aliases."""
    return _LocParser(text, aliases, {} if cache is None else cache).parse()


def loc_aliases(text: str) -> dict[str, str]:
    """Return `{"#loc7": '"f.py":35:18', ...}` from a module printed with debug info."""
    out = {}
    for line in text.splitlines():
        m = _LOC_DEF.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _trailing_loc(line: str) -> str | None:
    """Return the inside of the `loc(...)` that ends an op line, if any."""
    stripped = line.rstrip()
    start = stripped.rfind(" loc(")
    if start < 0 or not stripped.endswith(")"):
        return None
    return stripped[start + 5 : -1]


_SSA_OP = re.compile(r'^\s*(%[\w#:]+(?:\s*,\s*%[\w#:]+)*)\s*=\s*"?([\w.]+)"?')
_BARE_OP = re.compile(r"^\s*([\w.]+)")
_FUNC = re.compile(r"^\s*func\.func\s+(?:\w+\s+)?@([\w.$-]+)")


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
        m = _FUNC.match(line)
        if m:
            function = m.group(1)
            continue
        inner = _trailing_loc(line)
        if inner is None:
            continue
        ops.append(_stablehlo_op(line, number, parse_loc(inner, aliases, cache), filename, function))
        ops[-1].plain_line = plain_lines.get(number)
    return ops


def _stablehlo_op(line: str, number: int, loc: Loc, filename: str, function: str) -> OpLoc:
    """Describe one StableHLO op line."""
    m = _SSA_OP.match(line)
    name, opcode = (m.group(1), m.group(2)) if m else ("", (_BARE_OP.match(line) or [None, ""])[1])
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


# --- compiled HLO -----------------------------------------------------------------------------

_TABLES = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")
_TABLE_ROW = re.compile(r'^(\d+)\s+(?:"((?:[^"\\]|\\.)*)"|\{(.*)\})\s*$')
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s*\(")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(.*?)\s([\w\-]+)\(")
_OP_NAME = re.compile(r'op_name="((?:[^"\\]|\\.)*)"')
_FRAME_ID = re.compile(r"stack_frame_id=(\d+)")
_SOURCE_FILE = re.compile(r'source_file="((?:[^"\\]|\\.)*)"')
_SOURCE_LINE = re.compile(r"source_line=(\d+)")


@dataclass
class HloTables:
    """The stack-frame tables printed at the top of compiled HLO (JAX 0.10)."""

    files: dict[int, str] = field(default_factory=dict)
    functions: dict[int, str] = field(default_factory=dict)
    locations: dict[int, dict[str, int]] = field(default_factory=dict)
    frames: dict[int, dict[str, int]] = field(default_factory=dict)

    def parent(self, frame_id: int) -> int | None:
        """Return a frame's parent id; the printer writes parents one higher (1 = none)."""
        printed = self.frames.get(frame_id, {}).get("parent_frame_id", 0)
        # Frame 1 printed as its own parent means the +1 convention (a frame cannot be its
        # own parent); then 1 stands for "no parent".
        offset = 1 if self.frames.get(1, {}).get("parent_frame_id") == 1 else 0
        parent = printed - offset
        return parent if parent > 0 and parent != frame_id else None

    def chain(self, frame_id: int) -> Iterator[tuple[str, int, int, str]]:
        """Yield (file, line, column, function name) from a frame outwards."""
        seen: set[int] = set()
        current: int | None = frame_id
        while current is not None and current not in seen and current in self.frames:
            seen.add(current)
            loc = self.locations.get(self.frames[current].get("file_location_id", 0), {})
            yield (
                self.files.get(loc.get("file_name_id", 0), ""),
                loc.get("line", 0),
                loc.get("column", 0),
                self.functions.get(loc.get("function_name_id", 0), ""),
            )
            current = self.parent(current)


def hlo_tables(text: str) -> HloTables:
    """Parse the FileNames/FunctionNames/FileLocations/StackFrames tables."""
    tables, section = HloTables(), None
    targets = {"FileNames": tables.files, "FunctionNames": tables.functions}
    targets |= {"FileLocations": tables.locations, "StackFrames": tables.frames}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in _TABLES:
            section = stripped
            continue
        m = _TABLE_ROW.match(stripped) if section else None
        if not m:
            section = None if stripped.startswith(("%", "ENTRY", "HloModule")) else section
            continue
        row = m.group(2) if m.group(2) is not None else _attrs(m.group(3))
        targets[section][int(m.group(1))] = row
    return tables


def _attrs(text: str) -> dict[str, int]:
    """Parse `file_name_id=1 line=35 ...` into ints."""
    out = {}
    for part in text.split():
        key, _, value = part.partition("=")
        if value.lstrip("-").isdigit():
            out[key] = int(value)
    return out


def hlo_ops(text: str, filename: str) -> list[OpLoc]:
    """Return every HLO instruction, with the user's line from its metadata where it has one."""
    tables = hlo_tables(text)
    ops, computation = [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        m = _COMPUTATION.match(line)
        if m:
            computation = m.group(1)
            continue
        m = _INSTRUCTION.match(line)
        if m:
            ops.append(_hlo_op(m.group(1), m.group(3), line, number, computation, tables, filename))
    return ops


def _hlo_op(
    name: str, opcode: str, line: str, number: int, computation: str, tables: HloTables, filename: str
) -> OpLoc:
    """Describe one HLO instruction from its metadata."""
    meta = line[line.find("metadata={") :] if "metadata={" in line else ""
    op_name = _first(_OP_NAME, meta)
    path = op_name.split("/")
    source_line, column, functions = _hlo_source(meta, tables, filename)
    scope = "/".join([*path[:-1], *functions])
    return OpLoc(
        kind="hlo",
        name=name,
        opcode=opcode,
        text_line=number,
        line=source_line,
        column=column,
        primitive=path[-1] if op_name and "(" not in path[-1] else "",
        scope=scope,
        phase=phase(scope),
        computation=computation,
    )


def _first(pattern: re.Pattern[str], text: str) -> str:
    """Return the first group of the first match, or ""."""
    m = pattern.search(text)
    return m.group(1) if m else ""


def _hlo_source(meta: str, tables: HloTables, filename: str) -> tuple[int | None, int | None, list[str]]:
    """Return (line, column, function names along the stack) for one instruction's metadata."""
    file, line = _first(_SOURCE_FILE, meta), _first(_SOURCE_LINE, meta)
    if file and line and same_file(file, filename):
        return int(line), None, []
    frame_id = _first(_FRAME_ID, meta)
    if not frame_id:
        return None, None, []
    chain = list(tables.chain(int(frame_id)))
    functions = [f for *_, f in chain if f]
    for frame_file, frame_line, frame_col, _ in chain:
        if same_file(frame_file, filename):
            return frame_line, frame_col, functions
    return None, None, functions


# --- the source map ---------------------------------------------------------------------------


def source_map(result: InspectionResult) -> SourceMap:
    """Map every user line to its equations, StableHLO ops and HLO instructions."""
    filename = result.request.filename
    lines = result.request.source.splitlines()
    shlo = stablehlo_ops(result.stablehlo_debug, filename, result.stablehlo) if result.stablehlo_debug else []
    hlo = hlo_ops(result.hlo, filename) if result.hlo else []
    infos: dict[int, LineInfo] = {}

    def info(n: int) -> LineInfo:
        if n not in infos:
            code = lines[n - 1] if 0 < n <= len(lines) else ""
            infos[n] = LineInfo(line=n, code=code, color=line_color(n), status="traced")
        return infos[n]

    for eqn in walk(result.model_before):
        if eqn.source and same_file(eqn.source.file, filename):
            info(eqn.source.line).eqns_before.append(eqn.id)
    for eqn in walk(result.model_after):
        if eqn.source and same_file(eqn.source.file, filename):
            info(eqn.source.line).eqns_after.append(eqn.id)
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


def line_info(smap: SourceMap, line: int) -> LineInfo | None:
    """Return what a source line produced, or None if nothing is known about it."""
    return next((i for i in smap.lines if i.line == line), None)


def line_of_stablehlo_line(smap: SourceMap, text_line: int, plain: bool = False) -> int | None:
    """Return the source line of a StableHLO text line (debug text, or plain if `plain`)."""
    for op in smap.stablehlo_ops:
        if (op.plain_line if plain else op.text_line) == text_line:
            return op.line
    return None


def line_of_hlo_instruction(smap: SourceMap, name: str) -> int | None:
    """Return the source line of a compiled HLO instruction (`add.3` or `%add.3`)."""
    name = name.lstrip("%")
    return next((op.line for op in smap.hlo_ops if op.name == name), None)


def line_of_hlo_text_line(smap: SourceMap, text_line: int) -> int | None:
    """Return the source line of a line of the compiled HLO text."""
    return next((op.line for op in smap.hlo_ops if op.text_line == text_line), None)


def line_of_equation(smap: SourceMap, eqn_id: str, after: bool = True) -> int | None:
    """Return the source line of an equation id of the after (or before) model."""
    for item in smap.lines:
        if eqn_id in (item.eqns_after if after else item.eqns_before):
            return item.line
    return None


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
