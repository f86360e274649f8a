"""An Equinox module (a dataclass) that holds a plain function, as `eqx.nn.MLP` does."""

import equinox as eqx
import jax
import jax.numpy as jnp


class Net(eqx.Module):
    first: eqx.nn.Linear
    second: eqx.nn.Linear
    activation: object = jax.nn.relu

    def __init__(self, key: jax.Array) -> None:
        k1, k2 = jax.random.split(key)
        self.first = eqx.nn.Linear(8, 16, key=k1)
        self.second = eqx.nn.Linear(16, 1, key=k2)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.second(self.activation(self.first(x)))


model = Net(jax.random.PRNGKey(0))
mlp = eqx.nn.MLP(8, 1, 16, 2, activation=jax.nn.relu, key=jax.random.PRNGKey(1))


def loss(model, x):
    return jnp.mean(jax.vmap(model)(x) ** 2)
