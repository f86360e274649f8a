"""Turn a JAX jaxpr into the structured, JSON-friendly `JaxprModel`.

The same small loop as every jaxpr consumer in autodidax: walk the equations,
describe inputs and outputs, recurse into the sub-jaxprs found in params.
Names come from JAX's own printer, so the model and the text agree.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import jax.extend.core as jex

from inspectors._jax_private import PrintedJaxpr, is_drop_var
from inspectors.results import Equation, JaxprModel, SourceLoc, SubJaxpr, VarInfo, walk

PARAM_TEXT_LIMIT = 160
_TRANSFORM_NAME = re.compile(r"([A-Za-z_][\w]*)\(")


def type_str(aval: Any) -> str:
    """Return an aval as JAX prints it in a jaxpr (`f32[4,16]`)."""
    try:
        return aval.str_short(short_dtypes=True)
    except (AttributeError, TypeError):
        return str(aval)


@functools.lru_cache(maxsize=4096)  # a program's equations share a few dozen name stacks
def provenance(name_stack: str) -> str:
    """Return the transforms an equation came through: `vmap(transpose(jvp))`."""
    names = _TRANSFORM_NAME.findall(name_stack)
    return "".join(f"{n}(" for n in names[:-1]) + (names[-1] if names else "") + ")" * max(len(names) - 1, 0)


def user_location(
    source_info: Any, filename: str, lines: list[str], codes: frozenset | None = None
) -> SourceLoc | None:
    """Return the innermost frame of the user's current code in an equation's traceback.

    With `codes`, a frame counts only if it runs one of those code objects, so a
    traceback cached from an earlier version of the same file is never used.
    """
    traceback = getattr(source_info, "traceback", None)
    if traceback is None:
        return None
    if codes is None:
        for frame in traceback.frames:
            if frame.file_name == filename:
                return SourceLoc.at(filename, frame.line_num, None, frame.function_name, lines)
        return None
    matcher = _matcher(codes)
    for code, lasti in zip(*traceback.raw_frames(), strict=False):
        if (positions := matcher.positions(code)) is not None:
            line, _, col, _ = _position(code, lasti, positions)
            return SourceLoc.at(filename, line, None if col is None else col + 1, code.co_name, lines)
    return None


class _Matcher:
    """Which code objects are among `codes` (`code in codes`, by equality as before), asked once per code object:
    a code object's hash is computed anew each time, and every equation's traceback holds dozens of JAX's own."""

    def __init__(self, codes: frozenset) -> None:
        self.codes = codes
        self.seen: dict[int, tuple[Any, list | None]] = {}  # id(code) -> (code, kept alive; its positions or None)

    def positions(self, code: Any) -> list | None:
        """The (lazily filled) positions list of a code object among `codes`, else None."""
        hit = self.seen.get(id(code))
        if hit is None:
            hit = self.seen[id(code)] = (code, [] if code in self.codes else None)
        return hit[1]


@functools.lru_cache(maxsize=8)  # one per loaded source; equal sets may share one (membership is by equality)
def _matcher(codes: frozenset) -> _Matcher:
    """The matcher of a set of the user's code objects."""
    return _Matcher(codes)


def _position(code: Any, lasti: int, positions: list) -> tuple:
    """Return (line, end line, column, end column) of the instruction at `lasti` (`positions`: a cache to fill)."""
    if not positions:
        positions.extend(code.co_positions())
    index = lasti // 2
    return positions[index] if 0 <= index < len(positions) else (code.co_firstlineno, None, None, None)


def sub_jaxprs(params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (role, open jaxpr) for every jaxpr nested in an equation's params."""
    for key, value in params.items():
        if isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                if isinstance(item, (jex.ClosedJaxpr, jex.Jaxpr)):
                    yield f"{key}[{i}]", _open(item)
        elif isinstance(value, (jex.ClosedJaxpr, jex.Jaxpr)):
            yield key, _open(value)


def _open(jaxpr: Any) -> Any:
    """Return the open `Jaxpr` of a ClosedJaxpr (or the Jaxpr itself)."""
    return jaxpr.jaxpr if isinstance(jaxpr, jex.ClosedJaxpr) else jaxpr


def param_summary(params: dict[str, Any]) -> dict[str, str]:
    """Return the non-jaxpr params as short strings (`axes=(0,)`)."""
    out = {}
    for key, value in params.items():
        if any(True for _ in sub_jaxprs({key: value})):
            continue
        text = getattr(value, "__name__", None) if callable(value) else None
        text = text or str(value)
        out[key] = text if len(text) <= PARAM_TEXT_LIMIT else text[: PARAM_TEXT_LIMIT - 1] + "…"
    return out


class _Builder:
    """Builds models for one printed top-level jaxpr (one naming context)."""

    def __init__(
        self, printed: PrintedJaxpr, filename: str, lines: list[str], codes: frozenset | None
    ) -> None:
        self.printed = printed
        self.filename = filename
        self.lines = lines
        self.codes = codes

    def atom(self, v: Any) -> VarInfo:
        """Describe a variable or literal operand."""
        if isinstance(v, jex.Literal):
            return VarInfo(name=str(v.val), type=type_str(v.aval), literal=True)
        name = self.printed.name(v)
        # JAX prints an output nothing reads as `_` (a DropVar, or a Var it found unused).
        return VarInfo(name=name, type=type_str(v.aval), dropped=is_drop_var(v) or name == "_")

    def model(self, jaxpr: Any, prefix: str, parent: SourceLoc | None) -> JaxprModel:
        """Describe one open jaxpr; equations get ids under `prefix`."""
        eqns = [self.equation(e, f"{prefix}{i}", parent) for i, e in enumerate(jaxpr.eqns)]
        return JaxprModel(
            invars=[self.atom(v) for v in jaxpr.invars],
            constvars=[self.atom(v) for v in jaxpr.constvars],
            outvars=[self.atom(v) for v in jaxpr.outvars],
            eqns=eqns,
        )

    def equation(self, eqn: Any, eqn_id: str, parent: SourceLoc | None) -> Equation:
        """Describe one equation and, recursively, its sub-jaxprs."""
        # Equations traced inside library code (jax.nn.relu's inner jit) have no
        # frame in the user's file: they belong to the user's line that called them.
        loc = user_location(eqn.source_info, self.filename, self.lines, self.codes) or parent
        stack = str(eqn.source_info.name_stack)
        subs = [
            SubJaxpr(role, self.model(sub, f"{eqn_id}/{role}/", loc)) for role, sub in sub_jaxprs(eqn.params)
        ]
        return Equation(
            id=eqn_id,
            primitive=eqn.primitive.name,
            params=param_summary(eqn.params),
            invars=[self.atom(v) for v in eqn.invars],
            outvars=[self.atom(v) for v in eqn.outvars],
            text=self.printed.eqn_text(eqn),
            lines=self.printed.eqn_lines(eqn),
            source=loc,
            name_stack=stack,
            provenance=provenance(stack),
            subjaxprs=subs,
        )


def build_model(
    closed_jaxpr: Any,
    filename: str,
    source: str,
    arg_paths: list[str] | None = None,
    codes: frozenset | None = None,
) -> tuple[str, JaxprModel]:
    """Return (JAX's text, structured model) of a ClosedJaxpr.

    `codes` are the code objects of the user's loaded source (`source.module_codes`):
    equations map to the innermost frame running them.
    """
    printed = PrintedJaxpr(closed_jaxpr.jaxpr)
    return printed.text, model_of(printed, closed_jaxpr, filename, source, arg_paths, codes)


def model_of(
    printed: PrintedJaxpr,
    closed_jaxpr: Any,
    filename: str,
    source: str,
    arg_paths: list[str] | None = None,
    codes: frozenset | None = None,
) -> JaxprModel:
    """Return the structured model of a ClosedJaxpr already printed (its text shown first, the model after).

    Each equation carries its lines in `printed.text` (`Equation.lines`, from `PrintedJaxpr.eqn_lines`):
    the equations of a sub-jaxpr JAX printed once at the top and referenced by name several times
    all have the lines of that one printed definition.
    """
    builder = _Builder(printed, filename, source.splitlines(), codes)
    model = builder.model(closed_jaxpr.jaxpr, "", None)
    if arg_paths and len(arg_paths) == len(model.invars):
        model.arg_paths = list(arg_paths)
    model.const_values = [_short(c) for c in closed_jaxpr.consts]
    return model


def _short(value: Any) -> str:
    """Return a one-line preview of a constant."""
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:79] + "…"


def count_primitives(model: JaxprModel) -> dict[str, int]:
    """Return equation counts by primitive, sub-jaxprs included, most common first."""
    return dict(Counter(e.primitive for e in walk(model)).most_common())
