"""StableHLO (MLIR) text, parsed in one place: function headers, op lines, locations. No JAX.

The source map and the StableHLO graph both read these: `func.func` headers
(name and arguments), op lines (results, op name), and the `loc(...)` each op
ends with, resolved through the `#locN = loc(...)` aliases printed at the end of
a module with debug info (name, callsite, fused and file locations, nested).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# `func.func public @main(%arg0: tensor<3xf32> loc("x"), ...) -> (...) {`
FUNC = re.compile(r"^\s*func\.func\s+(?:public\s+|private\s+)?@([\w.$-]+)\((.*?)\)\s*(?:->.*)?\{\s*$")
_FUNC_NAME = re.compile(r"^\s*func\.func\s+(?:\w+\s+)?@([\w.$-]+)")
ARG = re.compile(r"(%[\w.$-]+):\s*(tensor<[^>]*>|[\w<>.!]+)")
# `%3 = stablehlo.add %1, %2 : tensor<3xf32>`, `%4:2 = "stablehlo.while"(...)`
OP = re.compile(r'^\s*(%[\w.$-]+)(?::(\d+))?\s*=\s*"?([\w.]+)"?(.*)$')
SSA_OP = re.compile(r'^\s*(%[\w#:]+(?:\s*,\s*%[\w#:]+)*)\s*=\s*"?([\w.]+)"?')
BARE_OP = re.compile(r"^\s*([\w.]+)")


def func_header(line: str) -> tuple[str, str] | None:
    """Return (name, argument text) of a `func.func` line printed on one line, else None."""
    m = FUNC.match(line)
    return (m.group(1), m.group(2)) if m else None


def func_name(line: str) -> str | None:
    """Return the name of the function a `func.func` line opens (any layout), else None."""
    m = _FUNC_NAME.match(line)
    return m.group(1) if m else None


def op_of(line: str) -> tuple[str, str]:
    """Return (results, op name) of an op line: (`%3`, `stablehlo.add`); ("", op) without results."""
    m = SSA_OP.match(line)
    if m:
        return m.group(1), m.group(2)
    bare = BARE_OP.match(line)
    return "", bare.group(1) if bare else ""


# --- locations --------------------------------------------------------------------------------

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


def trailing_loc(line: str) -> str | None:
    """Return the inside of the `loc(...)` that ends an op line, if any."""
    stripped = line.rstrip()
    start = stripped.rfind(" loc(")
    if start < 0 or not stripped.endswith(")"):
        return None
    return stripped[start + 5 : -1]
