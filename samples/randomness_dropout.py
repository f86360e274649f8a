"""Dropout: randomness inside a model.

Dropout zeroes each activation with probability `rate` and scales the
survivors by `1 / (1 - rate)` so the expected value is unchanged. In JAX the
mask comes from an explicit key: the caller decides which key each call gets
(for example `fold_in(key, step)`), so a training step stays a pure function
and can be jitted, differentiated and replayed exactly.

With `rate` as a static argument the jaxpr bakes it in as constants: look
for `random_bits` feeding a comparison (`bernoulli`), then `select_n`
choosing between the scaled input and zeros. A `rate` of 0.0 would need a
different program, which is why it is static rather than traced.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "randomness",
    "title": "Dropout with an explicit key",
    "entry": "dropout",
    "args": "key, f32[4,8], 0.5",
    "transforms": ["jit(static_argnums=2)"],
}


def dropout(key, x, rate):
    """Zero each element with probability `rate`; rescale the rest."""
    if rate == 0.0:  # a Python `if` is fine: `rate` is static, not traced
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


if __name__ == "__main__":
    rng = jax.random.PRNGKey(0)
    x = jnp.ones((4, 8))
    fast_dropout = jax.jit(dropout, static_argnums=2)
    # make_jaxpr must treat `rate` as static too, or it would trace it.
    print(jax.make_jaxpr(fast_dropout, static_argnums=2)(rng, x, 0.5))
    print(fast_dropout(rng, x, 0.5))
