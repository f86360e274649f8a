"""stop_gradient: the straight-through estimator.

`lax.stop_gradient(x)` is the identity on values but a constant to
differentiation: no gradient flows back through it. A classic use is the
straight-through estimator for rounding, whose true derivative is zero
almost everywhere. `x + stop_gradient(round(x) - x)` has the value
`round(x)` going forward, while the backward pass sees only `x`, so the
gradient passes "straight through" the rounding.

Compare the two jaxprs: `make_jaxpr(quantized_loss)` shows a
`stop_gradient` equation. Under `grad` the forward half still computes
`round` and `stop_gradient` (they produce the value), but the backward half,
after the seed `1.0`, never touches them: that path was cut off from
differentiation. Other uses follow the
same pattern: fixed targets in temporal-difference learning, or freezing
part of a model.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "differentiability",
    "title": "stop_gradient: straight-through",
    "entry": "quantized_loss",
    "args": "f32[4]",
    "transforms": ["grad"],
}


def straight_through_round(x):
    """round(x) going forward, identity going backward."""
    return x + lax.stop_gradient(jnp.round(x) - x)


def quantized_loss(x):
    """Squared error of the rounded values against a target of 1.0."""
    return jnp.sum((straight_through_round(x) - 1.0) ** 2)


if __name__ == "__main__":
    x = jnp.array([0.2, 0.7, 1.4, 2.6])
    print(jax.make_jaxpr(quantized_loss)(x))
    print(jax.make_jaxpr(jax.grad(quantized_loss))(x))
    print("straight-through grad:", jax.grad(quantized_loss)(x))
    print("grad through round:   ", jax.grad(lambda x: jnp.sum((jnp.round(x) - 1.0) ** 2))(x))
