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

_lock = threading.Lock()


class PrintedJaxpr:
    """A jaxpr printed by JAX, with the naming context used to print it."""

    def __init__(self, jaxpr: Any) -> None:
        captured: list[Any] = []
        original = _core.JaxprPpContext

        class _Capturing(original):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                captured.append(self)

        with _lock:
            _core.JaxprPpContext = _Capturing
            try:
                doc = _core.pp_toplevel_jaxpr(jaxpr)
            finally:
                _core.JaxprPpContext = original
        self.text: str = doc.format()
        self._context = captured[0]
        self._settings = _core.JaxprPpSettings()

    def name(self, var: Any) -> str:
        """Return the name JAX printed for `var` (`_` for a dropped output)."""
        if isinstance(var, _core.DropVar):
            return "_"
        return self._context.var_names[var]

    def eqn_text(self, eqn: Any) -> str:
        """Return one equation exactly as JAX prints it inside this jaxpr."""
        return _core.pp_eqn(eqn, self._context, self._settings).format()

    def shared_name(self, jaxpr: Any) -> str | None:
        """Return the name of a sub-jaxpr JAX hoisted to the top (`let name = ...`)."""
        return self._context.shared_jaxprs.get(jaxpr)


def is_drop_var(var: Any) -> bool:
    """True for the `_` placeholder of an unused equation output."""
    return isinstance(var, _core.DropVar)
