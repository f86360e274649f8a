"""Per-example gradients: vmap of grad.

`grad(loss)` of a batch loss gives one gradient, averaged over the batch.
Some methods need one gradient per example (differential privacy clips
each one; influence functions and gradient-noise statistics inspect them).
Write the loss for a single example, take `grad`, then `vmap` it over the
batch: `in_axes=(None, 0)` shares the parameters and maps over the examples.
The result has a leading batch axis on every leaf of the gradient.

In the jaxpr, the backward pass works on the whole batch at once instead of
looping. The last `dot_general` shows how: its dimension numbers
`(([], []), ([0], [0]))` contract nothing and batch over axis 0, so it
computes one outer product of error and input per example, `f32[8,4]`,
where the batch gradient would have summed them away.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "vectorization",
    "title": "Per-example gradients",
    "entry": "loss",
    "args": "(f32[4], f32[]), (f32[8,4], f32[8])",
    "transforms": ["grad", "vmap(in_axes=(None, 0))", "jit"],
}


def loss(params, example):
    """Squared error of a linear model on one example (or a batch: mean)."""
    w, b = params
    x, y = example
    return jnp.mean((x @ w + b - y) ** 2)


# grad first (for one example), vmap second (over the batch).
per_example_grads = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))


if __name__ == "__main__":
    params = (jnp.ones((4,)), jnp.float32(0.0))
    xs = jnp.arange(32.0).reshape(8, 4) / 32.0
    ys = jnp.ones((8,))
    print(jax.make_jaxpr(per_example_grads)(params, (xs, ys)))
    grad_w, grad_b = per_example_grads(params, (xs, ys))
    print(grad_w.shape, grad_b.shape)
    # Their mean is the ordinary batch gradient.
    print(jnp.allclose(grad_w.mean(0), jax.grad(loss)(params, (xs, ys))[0]))
