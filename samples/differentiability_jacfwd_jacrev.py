"""jacfwd vs jacrev: whole Jacobians.

`jax.jacfwd(f)` builds the Jacobian column by column with forward mode: it
is `vmap` of `jvp` over the basis vectors of the input. `jax.jacrev(f)`
builds it row by row with reverse mode: `vmap` of `vjp` over the basis
vectors of the output. Both give the same matrix; the cost differs. Here `f`
maps 3 inputs to 12 outputs (a "tall" Jacobian), so `jacfwd` needs 3
tangents while `jacrev` needs 12 cotangents. For a wide Jacobian (many
inputs, few outputs, like a loss) `jacrev` wins.

In the jaxpr, the batched tangents appear as an identity matrix built from
`iota` and `eq`, and every derivative operation works on a leading axis of
size 3 (`jacfwd`). Switch to `jacrev` and that axis becomes 12 and the
equations come in reverse order.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "jacfwd vs jacrev",
    "entry": "features",
    "args": "f32[3]",
    "transforms": ["jacfwd"],
}


def features(x):
    """Map 3 numbers to 12 features: a tall Jacobian (12 x 3)."""
    return jnp.concatenate([jnp.sin(x), jnp.cos(x), x**2, jnp.exp(-x)])


if __name__ == "__main__":
    x = jnp.array([0.1, 0.2, 0.3])
    print(jax.make_jaxpr(jax.jacfwd(features))(x))
    forward, reverse = jax.jacfwd(features)(x), jax.jacrev(features)(x)
    print(forward.shape, jnp.allclose(forward, reverse))
