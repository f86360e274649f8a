"""An Optax update: a gradient transformation chain as two pure functions.

An Optax optimizer is a pair `(init, update)`. `init(params)` builds the
state (here Adam's step count and two moment pytrees, plus nothing for the
clipping stage), and `update(grads, state, params)` returns the updates and
a new state; `optax.apply_updates` adds them to the parameters. Nothing is
mutated, so the whole step is one pure function that `jit` compiles.

What the trace shows: `optax.chain(clip_by_global_norm, adam)` runs in
order. First one global norm over every gradient leaf (`integer_pow`,
`reduce_sum` per leaf, one `sqrt`), a `select_n` that scales only when the
norm is too large; then Adam's moments and bias correction per leaf, with
the step count incremented once (`add` on an `i32[]`).
"""

import jax
import jax.numpy as jnp
import optax

__explorer__ = {
    "stream": "real_models",
    "title": "Optax: clipped Adam update",
    "entry": "train_step",
    "args": "params, opt_state, f32[32,4], f32[32,1]",
    "transforms": ["jit"],
}

optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
params = {"w": jnp.zeros((4, 1)), "b": jnp.zeros((1,))}
opt_state = optimizer.init(params)


def loss(params, x, y):
    """Mean squared error of a linear model."""
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def train_step(params, opt_state, x, y):
    """One step: gradient, clipped Adam updates, new parameters and state."""
    grads = jax.grad(loss)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


if __name__ == "__main__":
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 4))
    y = x[:, :1]
    print(jax.make_jaxpr(jax.jit(train_step))(params, opt_state, x, y))
    step = jax.jit(train_step)
    for _ in range(100):
        params, opt_state = step(params, opt_state, x, y)
    print("loss after 100 steps:", loss(params, x, y))
