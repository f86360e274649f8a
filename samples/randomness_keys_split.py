"""Keys and split: randomness without a global seed.

JAX has no hidden global random state. Every random function takes a key
explicitly, and the same key always gives the same numbers. To get new numbers
you `split` a key into fresh, independent keys and use each one once. Because
nothing is hidden, a random function stays a pure function: `jit`, `vmap` and
`grad` treat it like any other, and a program gives the same numbers on one
device or many, whatever order the work runs in.

In the jaxpr, look for `random_wrap` (the raw `uint32[2]` key from
`jax.random.PRNGKey` becomes a typed `key<fry>[]`), `random_split`, and
`random_bits` inside `_uniform` and `_normal`: each draw consumes its own key.
`jax.random.key(0)` makes a typed key directly and skips the wrap.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "randomness",
    "title": "Keys and split",
    "entry": "two_draws",
    "args": "key",
    "transforms": [],
}


def two_draws(key):
    """Draw two independent samples from one key by splitting it first."""
    # Reusing `key` for both draws would give correlated (identical) bits:
    # split it and use each child key exactly once.
    key_uniform, key_normal = jax.random.split(key)
    u = jax.random.uniform(key_uniform, (3,))
    n = jax.random.normal(key_normal, (3,))
    return u, n


def same_key_same_numbers(key):
    """Calling twice with one key repeats the numbers: there is no state to advance."""
    return jnp.array_equal(jax.random.normal(key, (3,)), jax.random.normal(key, (3,)))


if __name__ == "__main__":
    rng = jax.random.PRNGKey(0)
    print(jax.make_jaxpr(two_draws)(rng))
    print(two_draws(rng))
    print("same key, same numbers:", same_key_same_numbers(rng))
