"""fold_in: a fresh key for every step.

`jax.random.fold_in(key, i)` mixes an integer into a key and returns a new
key. It is the tidy way to derive many keys from one without threading the
results of `split` through your code: a key per training step
(`fold_in(key, step)`), per layer, or per example. Different integers give
independent keys; the same integer gives the same key every time, so a run
can be replayed exactly, or resumed from step 3 without replaying steps 0-2.

Here a loop of noisy gradient descent steps (Langevin dynamics) folds the
loop counter into the key. In the jaxpr, look inside the loop body (a
`scan`: `fori_loop` with fixed bounds becomes one) for `random_fold_in` taking
the loop index, followed by the `random_bits` of the normal draw. The key is
a loop constant; only the counter and `x` are carried.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "randomness",
    "title": "fold_in: a key per step",
    "entry": "noisy_descent",
    "args": "key, f32[4]",
    "transforms": ["jit"],
}

STEPS = 5
LEARNING_RATE = 0.1
NOISE = 0.01


def noisy_descent(key, x):
    """Minimise |x|^2 with gradient steps plus Gaussian noise."""

    def step(i, x):
        # A new key per step, derived from the loop counter: no key to carry.
        step_key = jax.random.fold_in(key, i)
        noise = jax.random.normal(step_key, x.shape)
        return x - LEARNING_RATE * 2.0 * x + NOISE * noise

    return lax.fori_loop(0, STEPS, step, x)


if __name__ == "__main__":
    rng = jax.random.PRNGKey(0)
    x = jnp.ones((4,))
    print(jax.make_jaxpr(jax.jit(noisy_descent))(rng, x))
    print(jax.jit(noisy_descent)(rng, x))
