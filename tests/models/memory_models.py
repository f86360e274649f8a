"""Programs whose memory is known: a stack of layers with a named activation, and a matmul held across a sort."""

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name


def layers(ws, x):
    for w in ws:
        x = jnp.tanh(x @ w)
        x = checkpoint_name(x, "act")
    return jnp.sum(x**2)


def mlp_loss(params):
    with jax.named_scope("hidden"):
        h = jnp.sin(params["x"] @ params["w1"])
    out = h @ params["w2"]
    return jnp.mean(out**2)


def held(a, b):
    c = a @ b
    s = jnp.sort(c, axis=0)
    return s[:2] + c[:2]


def sgd_step(params, x):
    return params - 0.1 * x
