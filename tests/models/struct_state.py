"""A `flax.struct` dataclass holding weights and a step count, updated by SGD."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class State:
    w: jax.Array
    b: jax.Array
    lr: float = struct.field(pytree_node=False, default=0.1)


state = State(w=jnp.ones((8, 1)), b=jnp.zeros((1,)))


def loss(state: State, x: jax.Array) -> jax.Array:
    return jnp.mean((x @ state.w + state.b) ** 2)


def sgd_step(state: State, x: jax.Array) -> State:
    g = jax.grad(loss)(state, x)
    return state.replace(w=state.w - state.lr * g.w, b=state.b - state.lr * g.b)
