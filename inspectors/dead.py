"""Dead programs: say so instead of timing an empty program.

An NNX train step that updates its model in place under plain `jax.jit` and
returns nothing traces every equation, then compiles to `ENTRY () -> ()`:
nothing is returned, so everything is dead code. Timing it measures only the
call. These checks read the result alone (no JAX).
"""

from __future__ import annotations

from inspectors import hlo_text

# Instructions that compute nothing: the program's inputs, constants and plumbing.
PASSIVE = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "copy"})

RETURNS_NOTHING = (
    "the function returns nothing, so everything it computes is dead code: XLA removed all work and there "
    "is nothing to time. An in-place update (an NNX optimizer step under jax.jit) is kept only if the "
    "function returns the new state (or use nnx.jit, which writes it back)."
)
NO_WORK = (
    "XLA removed all work: the compiled program only passes inputs and constants through "
    "({ops}), so there is nothing to time."
)


def dead_program_note(n_outputs: int, hlo: str | None) -> str:
    """Return why a compiled program has no work to time, or "" when it has some."""
    if n_outputs == 0:
        return RETURNS_NOTHING
    if not hlo:
        return ""
    ops = entry_opcodes(hlo)
    if not ops or any(op not in PASSIVE for op in ops):
        return ""
    return NO_WORK.format(ops=", ".join(sorted(set(ops))))


def entry_opcodes(hlo: str) -> list[str]:
    """The opcodes of the entry computation's instructions, read from its lines alone (not the whole module)."""
    start = hlo.find("\nENTRY ")
    if start < 0:
        return []
    end = hlo.find("\n}", start + 1)
    lines = hlo[start + 1 : end if end >= 0 else len(hlo)].splitlines()[1:]
    return [ins.opcode for line in lines if (ins := hlo_text.instruction(line))]
