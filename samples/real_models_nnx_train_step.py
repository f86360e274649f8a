"""A Flax NNX training step: a module object in, new weights out.

Flax NNX writes models as ordinary Python objects: `MLP.__init__` creates
`nnx.Linear` layers whose weights are `nnx.Param` variables, and
`optimizer.update(model, grads)` changes them in place. JAX itself knows
nothing of objects: to `jax.jit`, an NNX module is a pytree, so every
`nnx.Param` becomes one input array of the jaxpr (`model.hidden.kernel`,
`model.out.bias`, ...) and the optimizer's state adds more inputs.

What the trace shows: `nnx.value_and_grad` is `jax.value_and_grad` over the
`nnx.Param` leaves only (the optimizer's step count is an integer and gets
no gradient), the update is a `mul` by the learning rate and an `add` per parameter, and the new
weights leave the program as outputs. Under plain `jax.jit` an in-place
update is only kept because `train_step` returns the model and the
optimizer: a step that returned nothing would compile to an empty program
(`nnx.jit` does this bookkeeping for you and writes the results back).
"""

import jax.numpy as jnp
import optax
from flax import nnx

__explorer__ = {
    "stream": "real_models",
    "title": "Flax NNX: MLP train step",
    "entry": "train_step",
    "args": "model, optimizer, f32[16,8], f32[16,1]",
    "transforms": ["jit"],
}


class MLP(nnx.Module):
    """Two linear layers with a ReLU between them."""

    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.Linear(din, dhidden, rngs=rngs)
        self.out = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x):
        return self.out(nnx.relu(self.hidden(x)))


model = MLP(8, 32, 1, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)


def loss_fn(model, x, y):
    """Mean squared error of the model's predictions."""
    return jnp.mean((model(x) - y) ** 2)


def train_step(model, optimizer, x, y):
    """Gradient of the loss, one SGD step in place; return the loss and the updated objects."""
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss, model, optimizer


if __name__ == "__main__":
    import jax

    x = jax.random.normal(jax.random.PRNGKey(1), (16, 8))
    y = x[:, :1]
    print(jax.make_jaxpr(train_step)(model, optimizer, x, y))
    step = jax.jit(train_step)
    for _ in range(50):
        loss, model, optimizer = step(model, optimizer, x, y)
    print("loss after 50 steps:", loss)
