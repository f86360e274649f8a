"""checkpoint (remat): trade compute for memory.

Reverse mode keeps the forward pass's intermediate values (residuals) until
the backward pass uses them, so memory grows with the depth of the model.
`jax.checkpoint` (also called `jax.remat`) marks a block whose intermediates
are not kept: only its inputs are saved, and the block is recomputed during
the backward pass when its residuals are needed.

In the jaxpr of `grad(deep)`, each checkpointed block shows up as a
`remat2` equation (`differentiated=True`) in the backward half, whose body
recomputes the block's `sin`s next to the `cos`es of the derivative. The
forward half computes the blocks but keeps none of their insides. Remove
the `jax.checkpoint` and the residuals appear as ordinary values passed
from the forward to the backward half instead.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "checkpoint (remat)",
    "entry": "deep",
    "args": "f32[8]",
    "transforms": ["value_and_grad"],
}

BLOCKS = 2


@jax.checkpoint
def block(x):
    """A few layers whose intermediates we choose not to store."""
    return jnp.sin(jnp.sin(jnp.sin(x)))


def deep(x):
    """Stack checkpointed blocks and reduce to a scalar."""
    for _ in range(BLOCKS):
        x = block(x)
    return jnp.sum(x)


if __name__ == "__main__":
    x = jnp.linspace(0.0, 1.0, 8)
    print(jax.make_jaxpr(jax.value_and_grad(deep))(x))
    print(jax.value_and_grad(deep)(x))
