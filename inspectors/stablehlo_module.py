"""The StableHLO module model, read from the MLIR module JAX returns (`Lowered.compiler_ir("stablehlo")`).

One walk over the `ir.Module`'s operations (func bodies and the regions of
while, case, reduce, ... included) gives each op its name, result and operand
names, result types and its location, decoded through MLIR's typed locations
(NameLoc: a name-stack entry, CallSiteLoc: callee then caller frames,
FileLineColLoc: file, line and column, FusedLoc: every part). The text the app
shows stays what JAX prints (`Lowered.as_text(debug_info=True)`); each op is
placed on the lines of that text where it starts and where its `loc(...)` is
printed, by reading the ops in the printer's order (a pre-order walk) and
checking that each one's name is on its line. Runs in the worker; the model is
plain data (`StableHloModule`) and travels with the `stablehlo-debug` stage.
"""

from __future__ import annotations

import time
from typing import Any

from inspectors.mlir_text import trailing_loc
from inspectors.results import MlirFrame, MlirLoc, MlirOp, StableHloModule

_PRINTED = {"func.return": "return", "func.call": "call", "builtin.module": "module"}  # short forms


def decode_loc(loc: Any, cache: dict) -> MlirLoc:
    """Return an MLIR location as names (outermost first) and file frames (innermost first)."""
    key = loc.attr
    found = cache.get(key)
    if found is None:
        found = _decode(loc, cache)
        cache[key] = found
    return found


def _decode(loc: Any, cache: dict) -> MlirLoc:
    """Decode one typed location (the parts are decoded through the cache too)."""
    from jaxlib.mlir import ir

    if isinstance(loc, ir.NameLoc):
        child = decode_loc(loc.child_loc, cache)
        return MlirLoc([loc.name_str, *child.names], list(child.frames))
    if isinstance(loc, ir.CallSiteLoc):  # the callee's frames are the inner ones
        callee, caller = decode_loc(loc.callee, cache), decode_loc(loc.caller, cache)
        return MlirLoc(callee.names + caller.names, callee.frames + caller.frames)
    if isinstance(loc, ir.FileLineColLoc):
        return MlirLoc([], [MlirFrame(loc.filename, loc.start_line, loc.start_col)])
    if isinstance(loc, ir.FusedLoc):
        out = MlirLoc()
        for part in loc.locations:
            part = decode_loc(part, cache)
            out = MlirLoc(out.names + part.names, out.frames + part.frames)
        return out
    return MlirLoc()  # unknown (or a kind this model does not read)


class _Reader:
    """Walks the module in the printer's order, placing each op on the debug text's lines."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.cursor = 0  # index of the next line not yet read
        self.ops: list[MlirOp] = []
        self.cache: dict = {}
        self.placed = True

    def visit(self, op: Any, function: str, parent: int | None, depth: int, printed: bool = True) -> None:
        """Add one op (then its regions' ops) to the model; `printed`: on lines of its own."""
        op = op.operation
        name = op.name
        if name == "func.func":
            function = op.attributes["sym_name"].value
        start = self.find_start(name) if printed else None
        results = self.results_text(start)
        loc = decode_loc(op.location, self.cache)
        index = len(self.ops)
        self.ops.append(
            MlirOp(
                name=name,
                results=results,
                result_types=[str(r.type) for r in op.results],
                operands=len(op.operands),
                function=function if name != "builtin.module" else "",
                parent=parent,
                depth=depth,
                line=start + 1 if start is not None else None,
                names=loc.names,
                frames=loc.frames,
            )
        )
        # A compact form (`applies stablehlo.add`) prints its regions' ops on its own line: they get none.
        one_line = start is not None and trailing_loc(self.lines[start]) is not None
        for region in op.regions:
            for block in region.blocks:
                for child in block.operations:
                    self.visit(child, function, index, depth + 1, printed and not one_line)
        if printed:
            self.ops[index].loc_line = start + 1 if one_line else self.find_loc()

    def find_start(self, name: str) -> int | None:
        """Return the index of the next line where an op named `name` starts (None when lost)."""
        short = _PRINTED.get(name, name)
        for i in range(self.cursor, len(self.lines)):
            line = self.lines[i]
            if _starts_op(line, name, short):
                self.cursor = i + 1
                return i
        self.placed = False
        return None

    def find_loc(self) -> int | None:
        """Return the 1-based number of the next line ending in `loc(...)` (a region op's closing line)."""
        for i in range(self.cursor, len(self.lines)):
            if trailing_loc(self.lines[i]) is not None and not self.lines[i].startswith("#loc"):
                self.cursor = i + 1
                return i + 1
        self.placed = False
        return None

    def results_text(self, start: int | None) -> str:
        """Return the results as printed before ` = ` (`%3`, `%1:4`, `%a, %b`); "" for none."""
        if start is None:
            return ""
        line = self.lines[start].lstrip()
        if not line.startswith("%"):
            return ""
        return line.split(" = ", 1)[0].strip()


def _starts_op(line: str, name: str, short: str) -> bool:
    """True if `line` is where an op named `name` (printed `short` in custom form) starts."""
    body = line.lstrip()
    if body.startswith("%"):  # `%3 = stablehlo.add ...`, `%4 = "stablehlo.case"(...)`
        body = body.split(" = ", 1)[-1]
    body = body.lstrip('"')
    return body.startswith((name, short)) and body[len(short if body.startswith(short) else name) :][:1] in (
        " ", "(", '"', "", "<", "{"
    )  # fmt: skip


def build(module: Any, debug_text: str, plain_text: str | None = None) -> StableHloModule:
    """Return the model of `module` (JAX's `ir.Module`), placed on the lines of its debug-info text."""
    reader = _Reader(debug_text)
    with module.context:
        reader.visit(module.operation, "", None, 0)
    plain = _plain_lines(debug_text, plain_text)
    for op in reader.ops:
        op.plain_line = plain.get(op.line) if op.line else None
        op.plain_loc_line = plain.get(op.loc_line) if op.loc_line else None
    return StableHloModule(ops=reader.ops, placed=reader.placed)


def _plain_lines(debug: str, plain: str | None) -> dict[int, int]:
    """Map line numbers of the debug-info text to the plain text (the same lines without `#loc` ones)."""
    if not plain:
        return {}
    kept = [n for n, line in enumerate(debug.splitlines(), start=1) if not line.startswith("#loc")]
    if len(kept) != len(plain.rstrip("\n").splitlines()):
        return {}
    return {n: i for i, n in enumerate(kept, start=1)}


def of_lowered(lowered: Any, debug_text: str, plain_text: str | None = None) -> StableHloModule | None:
    """Return the model of a `jax.stages.Lowered`, or None when its module cannot be read (said in a note)."""
    start = time.perf_counter()
    try:
        module = build(lowered.compiler_ir("stablehlo"), debug_text, plain_text)
    except Exception as err:  # noqa: BLE001 - the texts still show; the source map falls back to them
        return StableHloModule(note=f"the StableHLO module could not be read: {type(err).__name__}: {err}")
    module.time_s = time.perf_counter() - start
    return module
