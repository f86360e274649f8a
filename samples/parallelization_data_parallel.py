"""Data-parallel training with shard_map and pmean.

The simplest way to use several devices for training: every device holds a
full copy of the parameters and a slice of the batch. With `shard_map` that
is a choice of specs: parameters are replicated (`P()`), inputs and targets
are split along the batch (`P("batch")`). Each device computes the loss of
its slice and `lax.pmean` averages the losses across devices (an
all-reduce). Taking `jax.grad` of that function gives the exact gradient of
the whole-batch loss, and every device ends up with the same update.

In the jaxpr of `train_step`, look for two `shard_map` equations. The
forward one works on local shapes (`f32[4,4]` inputs when 16 examples are
split over 4 devices) and ends in the `pmean` (a `psum_invariant` and a
division). The backward one is its transpose: the `psum` became a `pvary` (the
replicated cotangent, fanned out to every device), and the forward `pvary`
that mixed replicated `w` with per-device `x` became a psum that adds up the
per-device gradients of `w`. You never write that all-reduce: the `P()`
spec on `w` implies it.

Collectives to expect in the compiled module (the Sharding view): exactly one
all-reduce, in the backward pass, over the axis `batch`, at the `x @ w` line
of `loss` (where replicated `w` meets per-device `x`: the transposed `pvary`),
moving the gradient of `w` (`f32[4]`). The forward `pmean`'s all-reduce is
gone: `train_step` returns only the new `w`, never the loss value, so XLA drops
it as dead code.
"""

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

__explorer__ = {
    "stream": "parallelization",
    "title": "Data-parallel training step",
    "entry": "train_step",
    "args": "f32[4], f32[16,4], f32[16]",
    "transforms": [],
}

LEARNING_RATE = 0.1


def device_mesh():
    """A 1-D mesh over every device, its axis named "batch"."""
    # make_mesh defaults to Explicit axes in JAX 0.10; Auto lets shard_map
    # split inputs that are not yet sharded.
    return jax.make_mesh((jax.device_count(),), ("batch",), axis_types=(AxisType.Auto,))


def loss(w, x, y):
    """Mean squared error of a linear model; knows nothing about devices."""
    return jnp.mean((x @ w - y) ** 2)


def data_parallel_loss(w, x, y):
    """The whole-batch loss, computed slice by slice on every device."""

    def local_loss(w, x, y):
        # loss() sees only this device's slice; pmean averages over devices.
        return lax.pmean(loss(w, x, y), "batch")

    specs = (P(), P("batch"), P("batch"))  # replicate w, split x and y
    return jax.shard_map(local_loss, mesh=device_mesh(), in_specs=specs, out_specs=P())(w, x, y)


def train_step(w, x, y):
    """One step of gradient descent on the data-parallel loss."""
    return w - LEARNING_RATE * jax.grad(data_parallel_loss)(w, x, y)


if __name__ == "__main__":
    # Standalone: split the CPU into 4 devices before JAX first uses one.
    jax.config.update("jax_num_cpu_devices", 4)
    w = jnp.zeros((4,))
    x = jnp.arange(64.0).reshape(16, 4) / 64.0
    y = jnp.ones((16,))
    print(jax.make_jaxpr(train_step)(w, x, y))
    new_w = jax.jit(train_step)(w, x, y)
    # Same answer as the single-device step on the whole batch.
    print(new_w, jnp.allclose(new_w, w - LEARNING_RATE * jax.grad(loss)(w, x, y)))
