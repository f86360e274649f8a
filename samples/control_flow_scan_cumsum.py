"""lax.scan: a loop that carries state and stacks outputs.

`lax.scan(f, init, xs)` calls `f(carry, x)` on each slice of `xs`, threads
the carry from one step to the next, and stacks the per-step outputs. It is
the functional form of a `for` loop with an accumulator, and it compiles the
body once, however long `xs` is.

A running (cumulative) sum is the smallest example: the carry is the total
so far, the output at each step is the new total. In the jaxpr, look for one
`scan` equation with `length=8`, `num_carry=1`, and a body of a single `add`.
`jnp.cumsum` computes the same thing with a dedicated primitive.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "control_flow",
    "title": "lax.scan: cumulative sum",
    "entry": "cumulative_sum",
    "args": "f32[8]",
    "transforms": [],
}


def cumulative_sum(xs):
    """Running totals of `xs`, via scan."""

    def step(total, x):
        total = total + x
        return total, total  # (new carry, output for this step)

    _, totals = lax.scan(step, jnp.zeros((), xs.dtype), xs)
    return totals


if __name__ == "__main__":
    xs = jnp.arange(8.0)
    print(jax.make_jaxpr(cumulative_sum)(xs))
    print(cumulative_sum(xs), jnp.cumsum(xs))
