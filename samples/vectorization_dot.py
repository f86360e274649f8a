"""vmap: from a dot product to matrix-vector and matrix-matrix products.

`jax.vmap(f)` turns a function written for one example into one that works
on a batch, without rewriting it and without a Python loop. `in_axes` says
which argument is batched along which axis: `in_axes=(0, None)` maps over
the rows of the first argument and shares the second. A dot product of two
vectors, mapped over the rows of a matrix, is a matrix-vector product.

The jaxpr has no loop: vmap pushed the batch axis into the primitive, so
the single `dot_general` now contracts a `f32[8,4]` with a `f32[4]`. Mapping
twice (`matmul` below) gives a matrix product, still one `dot_general`.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "vectorization",
    "title": "vmap of a dot product",
    "entry": "dot",
    "args": "f32[8,4], f32[4]",
    "transforms": ["vmap(in_axes=(0, None))"],
}


def dot(v, w):
    """Dot product of two vectors, written for one pair."""
    return jnp.dot(v, w)


# Rows of the first matrix against columns of the second: a matrix product.
matmul = jax.vmap(jax.vmap(dot, in_axes=(None, 1)), in_axes=(0, None))


if __name__ == "__main__":
    m = jnp.arange(32.0).reshape(8, 4)
    v = jnp.ones((4,))
    matvec = jax.vmap(dot, in_axes=(0, None))
    print(jax.make_jaxpr(matvec)(m, v))
    print(matvec(m, v))
    print(jnp.allclose(matmul(m, m.T), m @ m.T))
