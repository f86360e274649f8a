"""grad: the derivative of a scalar loss.

`jax.grad(loss)` returns a new function that computes the gradient of
`loss` with respect to its first argument. It works by tracing `loss` once
to record the forward computation, then reading that record backwards
(reverse mode), so one gradient costs about as much as a couple of
evaluations of `loss`, however many parameters there are.

The jaxpr of `grad(loss)` has two halves. First the forward pass, with the
values the backward pass needs kept alive (`x @ w - y`). Then the backward
pass, which starts from the seed `1.0` and runs the transposed operations in
reverse order: the mean becomes a broadcast of `1/8`, the square becomes a
multiplication by `2 * residual`, and the matrix product becomes a
`dot_general` that contracts with `x` over the batch axis instead. Equations
in the backward half come from `transpose(jvp(loss))`.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "grad of a least-squares loss",
    "entry": "loss",
    "args": "f32[3], f32[8,3], f32[8]",
    "transforms": ["grad"],
}


def loss(w, x, y):
    """Mean squared error of the linear model `x @ w` against `y`."""
    residual = x @ w - y
    return jnp.mean(residual**2)


if __name__ == "__main__":
    w = jnp.zeros((3,))
    x = jnp.arange(24.0).reshape(8, 3) / 24.0
    y = jnp.ones((8,))
    print(jax.make_jaxpr(jax.grad(loss))(w, x, y))
    print(loss(w, x, y), jax.grad(loss)(w, x, y))
