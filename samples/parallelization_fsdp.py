"""FSDP: weights sharded over the devices, gathered just in time for each matmul.

Fully sharded data parallelism keeps only a slice of every weight on each
device: here both weight matrices are split by rows over the mesh axis
`"data"` (`P("data", None)`), and so is the batch. With the mesh's default
Explicit axes the sharding is part of every type: the jaxpr prints
`f32[256@data,256]`, the weight each device holds is `f32[64,256]` of
`f32[256,256]` on 4 devices.

A matmul needs whole rows of its weight, so XLA inserts the collectives:
expect an **all-gather of `w1` at the first matmul line** and an **all-gather of
`w2` at the second** (forward), and in the backward pass one **all-reduce** that
adds up every device's gradients of both weights (their batch slices differ),
which are then cut back to the rows each device keeps. The Sharding view lists
each with its line and the bytes it moves; none of them is written in the
code. (On this CPU backend the gradient is an all-reduce and a slice; a
reduce-scatter would move half the bytes, and other backends often use one.)
"""

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

__explorer__ = {
    "stream": "parallelization",
    "title": "FSDP: sharded weights, gathered per matmul",
    "entry": "gradients",
    "args": "sharded_params(), sharded_batch()",
    "transforms": ["jit"],
}


def device_mesh():
    """A 1-D mesh over every device (Explicit axes, JAX 0.10's default)."""
    return jax.make_mesh((jax.device_count(),), ("data",))


def by_rows(shape):
    """An abstract f32 array of `shape` split by rows over the mesh."""
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(device_mesh(), P("data", None)))


def sharded_params():
    """Two weight matrices, each split by rows: the FSDP layout."""
    return by_rows((256, 256)), by_rows((256, 128))


def sharded_batch():
    """A batch of 64 examples, split over the devices (data parallel)."""
    return by_rows((64, 256))


def loss(params, x):
    """A two-layer network's squared output; it knows nothing about devices."""
    w1, w2 = params
    h = jnp.tanh(x @ w1)  # all-gather of w1 here
    y = h @ w2  # all-gather of w2 here
    return jnp.mean(y**2)


def gradients(params, x):
    """The gradients of `loss` for both weights: the backward pass's collectives too."""
    return jax.grad(loss)(params, x)


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", 4)
    params, x = sharded_params(), sharded_batch()
    print(jax.jit(gradients).trace(params, x).jaxpr)
    compiled = jax.jit(gradients).trace(params, x).lower().compile()
    print("\n".join(line for line in compiled.as_text().splitlines() if "all-" in line))
