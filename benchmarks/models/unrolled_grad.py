"""The grad of a Python loop unrolled 1,500 times: about 12,000 equations (8N+2 after grad), few of them big.

The opposite of the GPT-2-sized models beside it: small arrays, a very long chain. Tracing, printing and
placing the equations dominate, not XLA's compile of big matmuls.
"""

import jax.numpy as jnp

N = 1_500

x = jnp.linspace(-1.0, 1.0, 64, dtype=jnp.float32)
w = jnp.float32(0.5)


def loss(x, w):
    for _ in range(N):
        x = jnp.tanh(x * w) + x
    return jnp.sum(x)


__explorer__ = {"entry": "loss", "args": "x, w", "transforms": ["value_and_grad", "jit"]}
