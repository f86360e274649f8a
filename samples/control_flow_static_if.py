"""Python `if` on a static flag.

A Python `if` runs while JAX traces the function, so it only works on values
known at trace time. Marking `squared` static with
`jax.jit(norm, static_argnums=1)` makes it an ordinary Python bool: the `if`
picks a branch during tracing and the jaxpr contains only that branch (no
`sqrt` when `squared=True`). The price is one compilation per distinct flag
value, which is fine for a handful of configuration switches.

Compare with `control_flow_cond.py`, where the predicate depends on the data
and `lax.cond` must put both branches in the program.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "control_flow",
    "title": "Python if on a static flag",
    "entry": "norm",
    "args": "f32[4], True",
    "transforms": ["jit(static_argnums=1)"],
}


def norm(x, squared):
    """Euclidean norm of `x`, or its square when `squared` is true."""
    total = jnp.sum(x * x)
    # Decided at trace time: `squared` is a Python bool, never a tracer.
    if squared:
        return total
    return jnp.sqrt(total)


if __name__ == "__main__":
    x = jnp.arange(4.0)
    fast_norm = jax.jit(norm, static_argnums=1)
    for squared in (True, False):
        # make_jaxpr must treat the flag as static too, or it would trace it.
        print(jax.make_jaxpr(fast_norm, static_argnums=1)(x, squared))
        print(fast_norm(x, squared))
