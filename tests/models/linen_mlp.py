"""A Flax linen MLP (a dataclass module) with a squared-error loss."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    hidden: int = 16

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(1)(x)


model = MLP()
params = model.init(jax.random.PRNGKey(0), jnp.ones((1, 8)))


def loss(params, x):
    return jnp.mean(model.apply(params, x) ** 2)
