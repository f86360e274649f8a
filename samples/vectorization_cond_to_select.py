"""vmap turns lax.cond into select.

A `lax.cond` picks one branch for the whole computation. Under `vmap`, the
predicate has a batch axis (one decision per example), so a single branch
no longer fits every example. JAX then runs both branches on the whole batch
and picks each example's result with `select_n`: correct, but both branches
cost time. That is why a cond inside vmapped code is not a way to skip
work.

Compare the jaxpr of `unit_or_zero` alone (one `cond` equation with two
`branches`) with the default `vmap` pipeline: no `cond` left, the division
by the norm and the zero branch are both computed, then `select_n` merges
them row by row.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "vectorization",
    "title": "vmap turns cond into select",
    "entry": "unit_or_zero",
    "args": "f32[8,4]",
    "transforms": ["vmap"],
}


def unit_or_zero(v):
    """Scale `v` to unit length, or return zeros if it is (nearly) zero."""
    norm = jnp.sqrt(jnp.sum(v * v))
    return lax.cond(norm > 1e-6, lambda v: v / norm, jnp.zeros_like, v)


if __name__ == "__main__":
    vs = jnp.arange(32.0).reshape(8, 4) - 2.0
    vs = vs.at[0].set(0.0)  # one zero row takes the other branch
    print(jax.make_jaxpr(jax.vmap(unit_or_zero))(vs))
    print(jax.vmap(unit_or_zero)(vs))
