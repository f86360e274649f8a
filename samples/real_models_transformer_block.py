"""A small transformer with `jax.named_scope`: the model's structure in the program.

A jaxpr is a flat list of equations, and a transformer's layers are just
more equations. `jax.named_scope("layer_3")` records where each equation
came from in its name stack (`layer_3/attention/...`) without changing
the program. Flax and Equinox modules do the same with their module
paths. The explorer's graph groups equations by this name stack, so the
six layers below are six clusters, each with its attention and MLP inside,
and the StableHLO `loc(...)` names carry the same paths.

What the trace shows, per layer: layer norm (`reduce_sum`, `rsqrt`),
the query/key/value projections (`dot_general`), the attention scores and
their softmax (`reduce_max`, `exp`, `div`), the weighted sum of values,
then the MLP's two `dot_general`s around a `tanh`-approximated GELU, each
with its residual `add`. A Python `for` loop over the layers unrolls: one
source line, six copies, told apart by their scope.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "real_models",
    "title": "Transformer block with named scopes",
    "entry": "transformer",
    "args": "init_params(), f32[16,32]",
    "transforms": ["jit"],
}

N_LAYERS, D_MODEL, D_MLP = 6, 32, 64


def layer_norm(x):
    """Normalise each position's features to zero mean and unit variance."""
    mean = x.mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5)


def attention(p, x):
    """Single-head self-attention over the sequence."""
    q, k, v = x @ p["wq"], x @ p["wk"], x @ p["wv"]
    scores = q @ k.T / jnp.sqrt(D_MODEL)
    return jax.nn.softmax(scores, axis=-1) @ v @ p["wo"]


def mlp(p, x):
    """Two projections around a GELU."""
    return jax.nn.gelu(x @ p["w1"]) @ p["w2"]


def transformer(params, x):
    """Pre-norm residual layers; each layer's equations carry its scope."""
    for i, p in enumerate(params):
        with jax.named_scope(f"layer_{i}"):
            with jax.named_scope("attention"):
                x = x + attention(p, layer_norm(x))
            with jax.named_scope("mlp"):
                x = x + mlp(p, layer_norm(x))
    return x


def init_params():
    """One dict of weights per layer."""
    shapes = {"wq": (D_MODEL, D_MODEL), "wk": (D_MODEL, D_MODEL), "wv": (D_MODEL, D_MODEL),
              "wo": (D_MODEL, D_MODEL), "w1": (D_MODEL, D_MLP), "w2": (D_MLP, D_MODEL)}
    keys = iter(jax.random.split(jax.random.PRNGKey(0), N_LAYERS * len(shapes)))
    return [{name: 0.1 * jax.random.normal(next(keys), s) for name, s in shapes.items()} for _ in range(N_LAYERS)]


if __name__ == "__main__":
    params = init_params()
    x = jax.random.normal(jax.random.PRNGKey(1), (16, D_MODEL))
    print(jax.make_jaxpr(jax.jit(transformer))(params, x))
    print("output norm:", jnp.linalg.norm(jax.jit(transformer)(params, x)))
