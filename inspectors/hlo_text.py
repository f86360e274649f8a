"""HLO text, parsed once: computations, instructions, their metadata, the source tables. No JAX.

Reads both forms XLA prints: the optimized module (`Compiled.as_text()`, XLA's pass
dumps: `%name = f32[3]{0} add(%a, %b), metadata={op_name=... stack_frame_id=2}`)
and the unoptimized one JAX prints (`Lowered.as_text(dialect="hlo")`, names
without `%`). The source map, the HLO graph, provenance and the pass diffs all
read this one model.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

_COMPUTATION = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s*(?:\(.*\)\s*->\s*.*?)?\s*\{\s*$")
_INSTRUCTION = re.compile(r"^\s+(ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$")
_OPCODE = re.compile(r"\s*([\w\-]+)\(")
_OPERAND = re.compile(r"%?([A-Za-z_][\w.\-]*)")
_OP_NAME = re.compile(r'op_name="((?:[^"\\]|\\.)*)"')
_FRAME_ID = re.compile(r"stack_frame_id=(\d+)")
_SOURCE_FILE = re.compile(r'source_file="((?:[^"\\]|\\.)*)"')
_SOURCE_LINE = re.compile(r"source_line=(\d+)")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_KIND = re.compile(r"kind=(\w+)")
_MODULE = re.compile(r"^HloModule\s+([\w.\-]+)")
_TABLES = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")
_TABLE_ROW = re.compile(r'^(\d+)\s+(?:"((?:[^"\\]|\\.)*)"|\{(.*)\})\s*$')


@dataclass
class Instruction:
    """One HLO instruction: name, result type, opcode, operands, the attribute text, its text line."""

    name: str
    type: str
    opcode: str
    operands: list[str]
    attrs: str  # after the operands: `, lhs_contracting_dims={1}, metadata={...}`
    root: bool = False
    line: int = 0  # 1-based line in the module text
    computation: str = ""
    call: str = ""  # the text inside the opcode's parentheses (`%a, %b`, `0` of `parameter(0)`)

    @property
    def parameter_number(self) -> int | None:
        """N of `parameter(N)`; None for other opcodes."""
        return int(self.call) if self.opcode == "parameter" and self.call.strip().isdigit() else None

    @property
    def metadata(self) -> str:
        """The `metadata={...}` part of the attributes ("" without)."""
        start = self.attrs.find("metadata={")
        return self.attrs[start:] if start >= 0 else ""

    @property
    def op_name(self) -> str:
        """The jaxpr path XLA recorded (`jit(f)/jvp()/mul`), or ""."""
        return _first(_OP_NAME, self.metadata)

    @property
    def stack_frame_id(self) -> int | None:
        """The id into the StackFrames table, if any."""
        found = _first(_FRAME_ID, self.metadata)
        return int(found) if found else None

    @property
    def source(self) -> tuple[str, int] | None:
        """`(source_file, source_line)` from older metadata, if present."""
        file, line = _first(_SOURCE_FILE, self.metadata), _first(_SOURCE_LINE, self.metadata)
        return (file, int(line)) if file and line else None

    @property
    def calls(self) -> str:
        """The computation a fusion (or call) runs: `calls=%fused_computation.3`."""
        return _first(_CALLS, self.attrs)

    @property
    def fusion_kind(self) -> str:
        """`kLoop`, `kInput`, `kOutput`, `kCustom` for a fusion; "" otherwise."""
        return _first(_KIND, self.attrs) if self.opcode == "fusion" else ""


@dataclass
class Computation:
    """One HLO computation: its name, whether it is the entry, its instructions."""

    name: str
    entry: bool = False
    line: int = 0
    instructions: list[Instruction] = field(default_factory=list)


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


@dataclass
class HloModule:
    """A parsed HLO module: computations by name (in text order), the entry's name, source tables."""

    name: str = ""
    computations: dict[str, Computation] = field(default_factory=dict)
    entry: str = ""
    tables: HloTables = field(default_factory=HloTables)

    def instructions(self) -> Iterator[Instruction]:
        """Yield every instruction of every computation, in text order."""
        for comp in self.computations.values():
            yield from comp.instructions

    def fused_computations(self) -> set[str]:
        """Names of the computations fusions run (their bodies)."""
        return {i.calls for i in self.instructions() if i.opcode == "fusion" and i.calls}

    def top_level(self) -> Iterator[Instruction]:
        """Yield the instructions outside fusion bodies: what the program executes."""
        fused = self.fused_computations()
        for comp in self.computations.values():
            if comp.name not in fused:
                yield from comp.instructions


@functools.lru_cache(maxsize=4)
def parse(text: str) -> HloModule:
    """Parse an HLO module's text (either form) into computations and instructions.

    Cached on the text: the source map, provenance, graphs and diffs read the same
    module; treat the result as read-only.
    """
    module = HloModule(tables=tables(text))
    current: Computation | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith(("FileNames", "FunctionNames", "FileLocations", "StackFrames")):
            continue
        if not line[0].isspace():
            if m := _MODULE.match(line):
                module.name = m.group(1)
            elif m := _COMPUTATION.match(line):
                current = Computation(m.group(2), bool(m.group(1)), number)
                module.computations[current.name] = current
                module.entry = current.name if current.entry else module.entry
            elif line.startswith("}"):
                current = None
            continue
        if current is not None and (ins := instruction(line, number, current.name)):
            current.instructions.append(ins)
    return module


def instruction(line: str, number: int = 0, computation: str = "") -> Instruction | None:
    """Parse one instruction line, or return None if it is not one."""
    m = _INSTRUCTION.match(line)
    if not m:
        return None
    root, name, rest = m.groups()
    type_, rest = _split_type(rest)
    op = _OPCODE.match(rest)
    if not op:
        return None
    operands, attrs = _split_call(rest[op.end() :])
    names = [o for o in _OPERAND.findall(operands) if not _is_literal(o)]
    return Instruction(name, type_, op.group(1), names, attrs, bool(root), number, computation, operands)


def _split_type(rest: str) -> tuple[str, str]:
    """Split `(f32[3]{0}, s32[]) tuple(...)` into the type and what follows."""
    if not rest.startswith("("):
        head, _, tail = rest.partition(" ")
        return head, tail
    depth = 0
    for i, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return rest[: i + 1], rest[i + 1 :]
    return rest, ""


def _split_call(rest: str) -> tuple[str, str]:
    """Split `a, b), attrs` into the operand text and the attribute text."""
    close = rest.find(")")
    if close >= 0 and "(" not in rest[:close]:  # the common case: no parentheses among the operands
        return rest[:close], rest[close + 1 :]
    depth = 1
    for i, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return rest[:i], rest[i + 1 :]
    return rest, ""


def _is_literal(token: str) -> bool:
    """True for tokens of a literal operand list (`constant(1)`, `true`, `inf`)."""
    return token in ("true", "false", "inf", "nan") or token[0].isdigit()


def tables(text: str) -> HloTables:
    """Parse the FileNames/FunctionNames/FileLocations/StackFrames tables."""
    out, section = HloTables(), None
    targets = {"FileNames": out.files, "FunctionNames": out.functions}
    targets |= {"FileLocations": out.locations, "StackFrames": out.frames}
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
    return out


def _attrs(text: str) -> dict[str, int]:
    """Parse `file_name_id=1 line=35 ...` into ints."""
    out = {}
    for part in text.split():
        key, _, value = part.partition("=")
        if value.lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _first(pattern: re.Pattern[str], text: str) -> str:
    """Return the first group of the first match, or ""."""
    m = pattern.search(text)
    return m.group(1) if m else ""


_COMP_HEAD = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*(?:\(.*\)\s*->\s*.*?)?\s*\{\s*$", re.MULTILINE)
_OPCODE_OF_LINE = re.compile(r"^\s+(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(?:\(.*?\)|\S+)\s+([\w\-]+)\(", re.MULTILINE)
_FUSION_CALLS = re.compile(r"\sfusion\(.*?calls=%?([\w.\-]+)")


def count_opcodes(text: str, top_level: bool = True) -> dict[str, int]:
    """`opcode_counts(parse(text))` without building the model: a few regex scans (for every XLA pass)."""
    heads = list(_COMP_HEAD.finditer(text))
    fused = set(_FUSION_CALLS.findall(text)) if top_level else set()
    counts: Counter[str] = Counter()
    for i, head in enumerate(heads):
        if head.group(1) in fused:
            continue
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        counts.update(_OPCODE_OF_LINE.findall(text, head.end(), end))
    counts.pop("parameter", None)
    return dict(counts.most_common())


def opcode_counts(module: HloModule, top_level: bool = True) -> dict[str, int]:
    """Return instruction counts by opcode (outside fusion bodies by default), most common first."""
    instructions = module.top_level() if top_level else module.instructions()
    return dict(Counter(i.opcode for i in instructions if i.opcode != "parameter").most_common())
