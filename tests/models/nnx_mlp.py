"""A Flax NNX module (Linear layers, dropout with its own Rngs) and a loss over it."""

import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.l1 = nnx.Linear(8, 16, rngs=rngs)
        self.l2 = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.l2(nnx.relu(self.l1(x)))


class DropMLP(MLP):
    def __init__(self, rngs: nnx.Rngs) -> None:
        super().__init__(rngs)
        self.drop = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        return self.l2(self.drop(nnx.relu(self.l1(x))))


model = MLP(nnx.Rngs(0))
drop_model = DropMLP(nnx.Rngs(0))


def loss(model, x):
    return jnp.mean(model(x) ** 2)
