"""Where the random bits come from: threefry.

`jax.random.normal(key, (3,))` is a pure function of its key. Its jaxpr is a
small pipeline: `random_bits` asks the key's generator for 32-bit integers,
bit tricks turn them into uniform floats in [-1, 1), and `erf_inv` maps those
to a normal distribution. Each helper (`_normal`, `_normal_real`, `_uniform`)
is its own nested `jit`.

The generator itself, the counter-based Threefry-2x32 hash, hides behind the
`random_bits` primitive in the jaxpr. Switch to the StableHLO view to see it
as a private function `@threefry2x32` full of adds, rotations and xors.
`threefry_hash` below calls the hash directly, so its jaxpr shows the
`threefry2x32` primitive itself: a counter goes in, random-looking bits come
out, and the same counter always gives the same bits.
"""

import jax
import jax.extend.random
import jax.numpy as jnp

__explorer__ = {
    "stream": "randomness",
    "title": "Threefry behind jax.random.normal",
    "entry": "sample",
    "args": "key",
    "transforms": ["jit"],
}


def sample(key):
    """Three standard normal numbers."""
    return jax.random.normal(key, (3,))


def threefry_hash(key, counter):
    """Hash a uint32 counter with the raw Threefry-2x32 function."""
    # Library-level API: jax.random builds every distribution on top of this.
    return jax.extend.random.threefry_2x32(key, counter)


if __name__ == "__main__":
    rng = jax.random.PRNGKey(0)
    print(jax.make_jaxpr(jax.jit(sample))(rng))
    print(jax.jit(sample)(rng))
    counter = jnp.arange(4, dtype=jnp.uint32)
    print(jax.make_jaxpr(threefry_hash)(rng, counter))
    print(threefry_hash(rng, counter))
