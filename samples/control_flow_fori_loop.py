"""lax.fori_loop: counted loops.

`lax.fori_loop(lower, upper, body, init)` runs `body(i, carry)` for `i` from
`lower` to `upper`. Unlike a Python `for`, the loop is not unrolled: the
jaxpr stays the same size however many trips it makes. When the bounds are
plain Python ints, `fori_loop` is built on `scan` (look for `scan` with
`length=5`, not `while`), which is what makes it reverse-differentiable.
With traced bounds it becomes a `while` and `grad` stops working.

Here Horner's rule evaluates a polynomial and `grad(argnums=1)` takes its
derivative in `x`: the jaxpr has a forward `scan` that saves each step's
values and a second `scan` with `reverse=True` that walks them backwards.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "control_flow",
    "title": "lax.fori_loop",
    "entry": "horner",
    "args": "f32[5], f32[]",
    "transforms": ["grad(argnums=1)", "jit"],
}


def horner(coeffs, x):
    """Evaluate coeffs[0] * x**(n-1) + ... + coeffs[n-1] at `x`."""

    def step(i, acc):
        return acc * x + coeffs[i]

    # `coeffs.shape[0]` is a Python int at trace time, so the bounds are static.
    return lax.fori_loop(0, coeffs.shape[0], step, jnp.zeros_like(x))


if __name__ == "__main__":
    coeffs = jnp.array([1.0, 0.0, -2.0, 0.0, 1.0])  # x^4 - 2x^2 + 1
    x = jnp.float32(2.0)
    slope = jax.jit(jax.grad(horner, argnums=1))
    print(jax.make_jaxpr(slope)(coeffs, x))
    print(horner(coeffs, x), slope(coeffs, x))  # 9.0, 4x^3 - 4x = 24.0
