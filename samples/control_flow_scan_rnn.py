"""lax.scan: a recurrent network.

An RNN applies the same cell at every time step: `h = tanh(W h + U x + b)`.
Writing the time loop with `lax.scan` keeps the program size independent of
the sequence length (a Python loop would unroll one copy of the cell per
step) and gives `grad` a loop it knows how to reverse.

Under `grad`, look for two `scan` equations: the forward one, whose outputs
include the residuals each step saved (the `tanh` results), and a second
`scan` with `reverse=True` that runs backwards through time (backpropagation
through time) and accumulates the weight gradients in its carry.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "control_flow",
    "title": "lax.scan: RNN",
    "entry": "rnn_loss",
    "args": "init_params(), f32[6,3]",
    "transforms": ["grad", "jit"],
}

HIDDEN = 4
FEATURES = 3


def init_params():
    """Small random weights (W, U, b) for the cell."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    w = 0.5 * jax.random.normal(k1, (HIDDEN, HIDDEN))
    u = 0.5 * jax.random.normal(k2, (HIDDEN, FEATURES))
    return w, u, jnp.zeros((HIDDEN,))


def rnn_loss(params, xs):
    """Run the RNN over the sequence `xs` and score the final state."""
    w, u, b = params

    def cell(h, x):
        h = jnp.tanh(w @ h + u @ x + b)
        return h, h

    h_final, _ = lax.scan(cell, jnp.zeros((HIDDEN,)), xs)
    return jnp.sum(h_final**2)


if __name__ == "__main__":
    params = init_params()
    xs = jnp.ones((6, FEATURES))
    grad_fn = jax.jit(jax.grad(rnn_loss))
    print(jax.make_jaxpr(grad_fn)(params, xs))
    print(grad_fn(params, xs))
