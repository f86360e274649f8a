"""custom_jvp: a numerically stable derivative for log(1 + exp(x)).

`log1pexp(x) = log(1 + exp(x))` (softplus) is easy to write, but its
automatic derivative `exp(x) / (1 + exp(x))` overflows to `inf / inf = nan`
for large `x`, even though the true slope tends to 1. `jax.custom_jvp` lets
you keep the original function and supply the derivative rule yourself,
here `1 - 1 / (1 + exp(x))`, which is exact and never divides infinities.

In the jaxpr of `grad(log1pexp)`, the primal call appears as
`custom_jvp_call`, holding the original function (`call_jaxpr`) and the
name of the rule (`jvp=log1pexp_jvp`). After it come the rule's own
equations (`exp`, `add`, `div`, `sub`): JAX ran your rule instead of
differentiating `log`.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "custom_jvp: stable softplus",
    "entry": "log1pexp",
    "args": "f32[]",
    "transforms": ["grad", "jit"],
}


def naive_log1pexp(x):
    """log(1 + exp(x)) with automatic derivatives (nan gradient for large x)."""
    return jnp.log(1.0 + jnp.exp(x))


@jax.custom_jvp
def log1pexp(x):
    """log(1 + exp(x)) with a hand-written, stable derivative."""
    return jnp.log(1.0 + jnp.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    # exp(x) / (1 + exp(x)) rewritten so large x gives 1.0, not inf / inf.
    return log1pexp(x), (1.0 - 1.0 / (1.0 + jnp.exp(x))) * x_dot


if __name__ == "__main__":
    x = jnp.float32(100.0)
    print(jax.make_jaxpr(jax.jit(jax.grad(log1pexp)))(x))
    print("naive grad at 100:", jax.grad(naive_log1pexp)(x))
    print("custom grad at 100:", jax.jit(jax.grad(log1pexp))(x))
