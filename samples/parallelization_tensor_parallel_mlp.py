"""A tensor-parallel MLP (Megatron style): split the hidden layer, sum once at the end.

Instead of splitting the batch, tensor parallelism splits each layer's weights
over the mesh axis `"model"`: `w1` by columns (`P(None, "model")`) and `w2` by
rows (`P("model", None)`). Each device then computes its own slice of the
hidden layer, `f32[8,32]` of `f32[8,128]` on 4 devices, with no communication:
the first matmul and the `relu` are purely local (their jaxpr types read
`f32[8,128@model]`).

The second matmul contracts over the split hidden axis, so each device holds
only a partial sum of the output. Asking for a replicated result
(`out_sharding=P()`) makes that explicit: expect **one all-reduce, at the second
matmul's line**, moving the output (`f32[8,64]`), and nothing else. This is why
Megatron pairs a column-split layer with a row-split one: one collective per
pair of matmuls, whatever the hidden size.
"""

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

__explorer__ = {
    "stream": "parallelization",
    "title": "Tensor-parallel MLP",
    "entry": "mlp",
    "args": "f32[8,64], column_split((64, 128)), row_split((128, 64))",
    "transforms": ["jit"],
}


def device_mesh():
    """A 1-D mesh over every device, its axis named "model"."""
    return jax.make_mesh((jax.device_count(),), ("model",))


def column_split(shape):
    """An abstract f32 weight split by columns over "model"."""
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(device_mesh(), P(None, "model")))


def row_split(shape):
    """An abstract f32 weight split by rows over "model"."""
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(device_mesh(), P("model", None)))


def mlp(x, w1, w2):
    """relu(x @ w1) @ w2 with the hidden layer split across devices."""
    h = jax.nn.relu(x @ w1)  # local: each device computes its hidden columns
    replicated = NamedSharding(device_mesh(), P())
    return jnp.matmul(h, w2, out_sharding=replicated)  # partial sums: one all-reduce


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", 4)
    args = (jnp.ones((8, 64)), column_split((64, 128)), row_split((128, 64)))
    print(jax.jit(mlp).trace(*args).jaxpr)
