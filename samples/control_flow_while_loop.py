"""lax.while_loop: loops that stop on a condition.

`lax.while_loop(cond_fun, body_fun, init)` repeats `body_fun` while
`cond_fun` is true, all inside the compiled program: the number of trips can
depend on the data, which a Python `while` over traced values cannot do. The
jaxpr shows one `while` equation with two sub-jaxprs, `cond_jaxpr` and
`body_jaxpr`, and a carry (here the estimate and a step counter) that must
keep the same shape and dtype on every trip.

The price of an unknown trip count: `while_loop` supports forward-mode
differentiation (`jvp`, `jacfwd`) but not reverse mode (`grad`), because the
backward pass would need to store every iteration. Use `lax.scan` or
`lax.fori_loop` with fixed bounds when you need `grad`.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "control_flow",
    "title": "lax.while_loop",
    "entry": "newton_sqrt",
    "args": "f32[]",
    "transforms": ["jit"],
}

TOLERANCE = 1e-5
MAX_STEPS = 20


def newton_sqrt(a):
    """Square root of `a` by Newton's method, stopping once converged."""

    def not_done(state):
        x, step = state
        return (jnp.abs(x * x - a) > TOLERANCE * a) & (step < MAX_STEPS)

    def newton_step(state):
        x, step = state
        return 0.5 * (x + a / x), step + 1

    x, steps = lax.while_loop(not_done, newton_step, (a, 0))
    return x, steps


if __name__ == "__main__":
    a = jnp.float32(2.0)
    print(jax.make_jaxpr(jax.jit(newton_sqrt))(a))
    print(jax.jit(newton_sqrt)(a))
