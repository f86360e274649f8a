"""An MLP: predict and loss.

The network from JAX's README: parameters are a plain list of `(W, b)`
tuples, one per layer, and the model is an ordinary Python function. No
module classes, no registered variables: `jax.grad(loss)` returns a
gradient with exactly the same structure as `params`, a list of `(dW, db)`
tuples, because JAX treats nested lists and tuples as pytrees.

The Python `for` loop over layers runs at trace time, so the jaxpr is
unrolled: one `dot_general`, `add`, `tanh` per layer. (The loop also takes
the `tanh` of the last layer and throws it away; that dead `tanh` is still
in the jaxpr, and the compiler deletes it.) Under `grad` the backward pass
mirrors the forward pass in reverse: `tanh`'s derivative `1 - y**2` is
built from the saved output `y` as `(1 - y) + (1 - y) * y`, and each layer's
`dot_general` is transposed twice, once for the weight gradient and once to
pass the error to the layer below.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "slides",
    "title": "MLP predict and loss",
    "entry": "loss",
    "args": "[(f32[8,16], f32[16]), (f32[16,1], f32[1])], f32[32,8], f32[32,1]",
    "transforms": ["grad", "jit"],
}

LAYER_SIZES = (8, 16, 1)


def predict(params, inputs):
    for W, b in params:
        outputs = jnp.dot(inputs, W) + b
        inputs = jnp.tanh(outputs)
    return outputs  # no activation on the last layer


def loss(params, inputs, targets):
    preds = predict(params, inputs)
    return jnp.sum((preds - targets) ** 2)


def init_params():
    """Random weights and zero biases for each layer in LAYER_SIZES."""
    params = []
    for layer, (m, n) in enumerate(zip(LAYER_SIZES[:-1], LAYER_SIZES[1:], strict=True)):
        layer_key = jax.random.fold_in(jax.random.PRNGKey(0), layer)
        params.append((jax.random.normal(layer_key, (m, n)) / jnp.sqrt(m), jnp.zeros((n,))))
    return params


def batch():
    """32 random inputs and their targets."""
    inputs = jax.random.normal(jax.random.PRNGKey(1), (32, LAYER_SIZES[0]))
    return inputs, jnp.sin(inputs.sum(axis=1, keepdims=True))


if __name__ == "__main__":
    params = init_params()
    inputs, targets = batch()
    grad_fn = jax.jit(jax.grad(loss))
    print(jax.make_jaxpr(grad_fn)(params, inputs, targets))
    grads = grad_fn(params, inputs, targets)
    print(loss(params, inputs, targets), [(dW.shape, db.shape) for dW, db in grads])
