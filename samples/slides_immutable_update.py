"""Arrays are immutable: `x.at[i].set(v)`.

From "Thinking in JAX": JAX arrays cannot be changed in place, so
`x[0] = 10.0` raises a TypeError. Instead, `x.at[0].set(10.0)` returns a
new array with the change, leaving `x` untouched (`.add`, `.mul`, `.min`,
`.max` work the same way). Immutability is what lets JAX trace a function
once and transform it: no operation has a hidden side effect.

The jaxpr shows a `scatter` (for `.set`), a `scatter-add` (for `.add`) and
a `scatter-mul`, each producing a new value. That need not mean a copy:
under `jit`, XLA sees that the old array is dead and can update the buffer
in place. The constant indices were resolved at trace time (-1 became 7),
but the traced index `i` may be negative, so the program itself wraps it:
look for `lt`, `add` and `select_n` before the `scatter-mul`.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "slides",
    "title": "Immutable arrays and .at[]",
    "entry": "bump_first_and_last",
    "args": "f32[8], i32[]",
    "transforms": [],
}


def bump_first_and_last(x, i):
    """Set x[0] to 10, add 1 to x[-1] and double x[i], functionally."""
    y = x.at[0].set(10.0)
    y = y.at[-1].add(1.0)
    return y.at[i].multiply(2.0)  # `i` is traced: the index is data


if __name__ == "__main__":
    x = jnp.arange(8.0)
    print(jax.make_jaxpr(bump_first_and_last)(x, 3))
    print(bump_first_and_last(x, 3), "x is unchanged:", x)
    try:
        x[0] = 10.0
    except TypeError as err:
        print("TypeError:", str(err).splitlines()[0])
