"""An Equinox CNN in the style of Equinox's MNIST tutorial: conv, max-pool, linear layers in a list.

Traced as `jit(value_and_grad(loss))`. Equinox names its layers' calls with `jax.named_scope`
(`eqx.nn.Conv`, `eqx.nn.Linear`), and its `MaxPool2d.__call__` only calls `Pool.__call__`, so a pool's
equations sit in two scopes of exactly the same extent (`eqx.nn.MaxPool2d/eqx.nn.Pool`). `MaxPool2d`
below keeps that shape: Equinox's own reduces with a generic `lax.reduce_window`, whose jvp JAX 0.10
refuses ("non-zero init_value_tangent"), so this one takes the maximum over a reshape.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

__explorer__ = {
    "title": "Equinox CNN, filter_value_and_grad",
    "entry": "loss",
    "args": "model, images, labels",
    "transforms": ["value_and_grad", "jit"],
}


class MaxPool2d(eqx.Module):
    """2×2 max pooling, scoped as Equinox scopes its own (`eqx.nn.MaxPool2d` calling `eqx.nn.Pool`)."""

    @jax.named_scope("eqx.nn.MaxPool2d")
    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pool(x)

    @jax.named_scope("eqx.nn.Pool")
    def pool(self, x: jax.Array) -> jax.Array:
        c, h, w = x.shape
        return x[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


class CNN(eqx.Module):
    """Conv, pool, relu, flatten, then three linear layers."""

    layers: list

    def __init__(self, key: jax.Array) -> None:
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.layers = [
            eqx.nn.Conv2d(1, 3, kernel_size=4, key=k1),
            MaxPool2d(),
            jax.nn.relu,
            jnp.ravel,
            eqx.nn.Linear(3 * 5 * 5, 32, key=k2),
            jax.nn.sigmoid,
            eqx.nn.Linear(32, 16, key=k3),
            jax.nn.relu,
            eqx.nn.Linear(16, 10, key=k4),
            jax.nn.log_softmax,
        ]

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return x


model = CNN(jax.random.PRNGKey(0))
images = jnp.ones((4, 1, 13, 13))
labels = jnp.arange(4) % 10


def loss(model, images, labels):
    """Mean cross-entropy of the batch."""
    log_probs = jax.vmap(model)(images)
    return -jnp.take_along_axis(log_probs, labels[:, None], axis=-1).mean()
