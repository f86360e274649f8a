"""The one place that touches JAX internals (`jax._src`).

JAX's public surface prints a jaxpr (`str(closed_jaxpr)`) but does not expose
the names it gives variables while printing, nor the text of one equation.
The graph and the text must use the same names (`a`, `b`, `bc`), so we print
through JAX's own printer once and keep the naming context it used.
`tests/test_jax_private.py` fails loudly if any of this moves.
"""

from __future__ import annotations

import threading
from typing import Any

from jax._src import core as _core
from jax._src import pretty_printer as _pp

_lock = threading.Lock()


class PrintedJaxpr:
    """A jaxpr printed by JAX, with the naming context used to print it and where each equation landed.

    JAX prints a sub-jaxpr used more than once, or one of more than ten equations, once at the
    top of the text (`let name = { lambda ... } in`) and refers to it by name where it is used
    (`jaxpr=name`); the indentation of nested jaxprs narrows the width, so an equation can break
    across lines where printed alone it would not. So the lines are not searched for afterwards:
    every equation's document is tagged while JAX prints it, and the printer's source map says
    which lines it filled. One pass over the text; an equation of a sub-jaxpr printed once and
    referenced several times has the lines of that one printed definition.
    """

    def __init__(self, jaxpr: Any) -> None:
        captured: list[Any] = []
        printed: list[Any] = []  # equations in the order JAX printed them (a tag is an index here)
        holds: set[int] = set()  # tags of equations whose text holds other equations (an inline sub-jaxpr)
        original, original_pp_eqn = _core.JaxprPpContext, _core.pp_eqn

        class _Capturing(original):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                captured.append(self)

        def _tagging_pp_eqn(eqn: Any, context: Any, settings: Any) -> Any:
            """JAX's `pp_eqn` with the equation's document tagged by its print order (no traceback)."""
            tag = len(printed)
            printed.append(eqn)
            rule = (
                _core.pp_eqn_rules.get(eqn.primitive, _core._pp_eqn)
                if settings.custom_pp_eqn_rules
                else _core._pp_eqn
            )
            doc = rule(eqn, context, settings)
            if len(printed) > tag + 1:
                holds.add(tag)
            return _pp.source_map(doc, tag)

        with _lock:
            _core.JaxprPpContext, _core.pp_eqn = _Capturing, _tagging_pp_eqn
            try:
                doc = _core.pp_toplevel_jaxpr(jaxpr)
            finally:
                _core.JaxprPpContext, _core.pp_eqn = original, original_pp_eqn
        source_map: list[list[tuple[int, int, int]]] = []
        self.text: str = doc.format(source_map=source_map)
        self._context = captured[0]
        self._settings = _core.JaxprPpSettings()
        self._printed = printed  # keeps the equations alive, so their ids stay theirs
        self._spans = _spans(self.text.split("\n"), source_map, printed, holds)

    def name(self, var: Any) -> str:
        """Return the name JAX printed for `var` (`_` for a dropped output)."""
        if isinstance(var, _core.DropVar):
            return "_"
        return self._context.var_names[var]

    def eqn_lines(self, eqn: Any) -> list[int]:
        """Return the 1-based lines of the text where JAX printed `eqn` ([] if it printed it nowhere).

        A leaf spans all its lines; an equation whose text holds a sub-jaxpr's equations is
        marked on its first line only (they have their own). Several equations may share a line
        (a one-line sub-jaxpr: `{ lambda ; a:f32[]. let b:f32[] = sin a in (b,) }`).
        """
        span = self._spans.get(id(eqn))
        return list(span[0]) if span else []

    def eqn_text(self, eqn: Any) -> str:
        """Return one equation exactly as JAX printed it inside this jaxpr (its line breaks included)."""
        span = self._spans.get(id(eqn))
        if span:
            return span[1]
        return _core.pp_eqn(eqn, self._context, self._settings).format()  # a jaxpr JAX printed apart

    def shared_name(self, jaxpr: Any) -> str | None:
        """Return the name of a sub-jaxpr JAX hoisted to the top (`let name = ...`)."""
        return self._context.shared_jaxprs.get(jaxpr)


def _spans(
    lines: list[str], source_map: list[list[tuple[int, int, int]]], printed: list[Any], holds: set[int]
) -> dict[int, tuple[list[int], str]]:
    """Map id(equation) → (its 1-based lines, its text) from the printer's source map, in one pass."""
    seen: dict[int, list[Any]] = {}  # tag → [lines, first (line, column), last (line, column)]
    for n, regions in enumerate(source_map):
        for start, end, tag in regions:
            if not isinstance(tag, int):
                continue
            if tag not in seen:
                seen[tag] = [[n + 1], (n, start), (n, end)]
                continue
            at = seen[tag]
            if at[0][-1] != n + 1:
                at[0].append(n + 1)
            at[2] = (n, end)
    spans: dict[int, tuple[list[int], str]] = {}
    for tag, (own, (l0, c0), (l1, c1)) in seen.items():
        key = id(printed[tag])
        if key in spans:  # the same equation object printed twice: keep the first
            continue
        if l0 == l1:
            text = lines[l0][c0:c1]
        else:  # continuation lines are indented from the equation's column: take that indentation off
            rest = [ln[c0:] if not ln[:c0].strip() else ln for ln in lines[l0 + 1 : l1]]
            last = lines[l1][:c1]
            text = "\n".join([lines[l0][c0:], *rest, last[c0:] if not last[:c0].strip() else last])
        spans[key] = (own[:1] if tag in holds else own, text)
    return spans


def is_drop_var(var: Any) -> bool:
    """True for the `_` placeholder of an unused equation output."""
    return isinstance(var, _core.DropVar)
