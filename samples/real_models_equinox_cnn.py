"""An Equinox CNN and its loss: a model is a pytree of arrays, a layer is a callable.

`eqx.Module` is a frozen dataclass registered as a pytree: its array fields
(convolution kernels, biases, linear weights) are the leaves, and its
hyperparameters (kernel size, stride) are static fields that never reach
the jaxpr. So `jax.grad(loss)(model, x, y)` differentiates with respect to
every weight, and the gradient comes back as a `CNN` of the same shape.

What the trace shows: the model handles one image, and `jax.vmap` turns
it into a batched program: `conv_general_dilated` with a batch dimension,
`reduce_max` for the pooling, a `dot_general` for the classifier, then
`log_softmax`'s `reduce_max`/`exp`/`log`. Under `grad`, the backward pass
brings the convolution's transpose (another `conv_general_dilated` with
swapped dimension numbers) and routes the pooling's gradient to the maxima.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "real_models",
    "title": "Equinox: CNN loss",
    "entry": "loss",
    "args": "model, f32[8,1,12,12], i32[8]",
    "transforms": ["grad", "jit"],
}


class CNN(eqx.Module):
    """Conv → ReLU → max pool → linear classifier, for one 1×12×12 image."""

    conv: eqx.nn.Conv2d
    head: eqx.nn.Linear

    def __init__(self, key: jax.Array) -> None:
        k1, k2 = jax.random.split(key)
        self.conv = eqx.nn.Conv2d(1, 4, kernel_size=3, key=k1)
        self.head = eqx.nn.Linear(4 * 5 * 5, 10, key=k2)

    def __call__(self, image: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.conv(image))  # 4×10×10
        # 2×2 max pooling as a reshape and a max. (`eqx.nn.MaxPool2d` holds its initial
        # value as a float leaf: plain `jax.grad` would differentiate it, `eqx.filter_grad` not.)
        h = h.reshape(4, 5, 2, 5, 2).max(axis=(2, 4))
        return self.head(h.reshape(-1))


model = CNN(jax.random.PRNGKey(0))


def loss(model, images, labels):
    """Cross-entropy over a batch: the model sees one image, vmap adds the batch."""
    logits = jax.vmap(model)(images)
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


if __name__ == "__main__":
    images = jax.random.normal(jax.random.PRNGKey(1), (8, 1, 12, 12))
    labels = jnp.arange(8) % 10
    print(jax.make_jaxpr(jax.jit(jax.grad(loss)))(model, images, labels))
    print("loss:", loss(model, images, labels))
