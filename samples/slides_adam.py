"""Adam as a pure function: optimiser state in, optimiser state out.

In JAX an optimiser is not an object that mutates parameters in place. It is
a pair of functions: `init` builds the state (a step count and Adam's two
moving averages, one per parameter), and `update` takes parameters,
gradients and state and returns new parameters and a new state. Because
nothing is mutated, the whole training step (loss, gradient, update) is one
pure function that `jit` compiles into one program. This is the design of
`optax` and of the old `jax.example_libraries.optimizers`.

`jax.tree.map` applies the update rule to every leaf of the parameter
pytree at once. In the jaxpr of `train_step`, look for the gradient
computation followed by the same short sequence (two moving averages, a
`sqrt`, a `div`) repeated once per parameter array, with the bias
correction computed once from the step count.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "slides",
    "title": "Adam update step",
    "entry": "train_step",
    "args": "init_params(), adam_init(init_params()), f32[16,4], f32[16,2]",
    "transforms": ["jit"],
}

LEARNING_RATE = 1e-2
BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8


def adam_init(params):
    """Step 0 and zero first and second moments shaped like `params`."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    return jnp.zeros((), jnp.int32), zeros, zeros


def adam_update(params, grads, state):
    """One Adam step: returns (new_params, new_state); mutates nothing."""
    step, m, v = state
    step = step + 1
    m = jax.tree.map(lambda m, g: BETA1 * m + (1 - BETA1) * g, m, grads)
    v = jax.tree.map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, v, grads)
    # Bias correction: the averages start at zero and are too small early on.
    m_scale = 1.0 / (1 - BETA1**step)
    v_scale = 1.0 / (1 - BETA2**step)

    def apply(p, m, v):
        return p - LEARNING_RATE * (m * m_scale) / (jnp.sqrt(v * v_scale) + EPS)

    return jax.tree.map(apply, params, m, v), (step, m, v)


def loss(params, x, y):
    """Mean squared error of a linear layer."""
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def train_step(params, state, x, y):
    """Gradient and Adam update, compiled together."""
    grads = jax.grad(loss)(params, x, y)
    return adam_update(params, grads, state)


def init_params():
    """A 4 -> 2 linear layer as a dict pytree."""
    w = jax.random.normal(jax.random.PRNGKey(0), (4, 2))
    return {"w": w, "b": jnp.zeros((2,))}


if __name__ == "__main__":
    params = init_params()
    state = adam_init(params)
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 4))
    y = x[:, :2]  # learn to copy the first two features
    step_fn = jax.jit(train_step)
    print(jax.make_jaxpr(step_fn)(params, state, x, y))
    for _ in range(100):
        params, state = step_fn(params, state, x, y)
    print("loss after 100 steps:", loss(params, x, y), "step:", state[0])
