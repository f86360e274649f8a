"""An explicit reshard: from rows to columns is one all-to-all.

With Explicit mesh axes (JAX 0.10's default for `jax.make_mesh`), a sharding
is part of the type and changes only where the program says so.
`jax.sharding.reshard(y, NamedSharding(mesh, P(None, "x")))` turns an array
split by rows (`f32[16@x,16]`) into one split by columns (`f32[16,16@x]`).

Every device holds a row block and needs a column block: each sends one
piece of its rows to every other device. Expect **exactly one all-to-all at
the `reshard` line**, asked for by the program (not inserted by XLA), moving
(n-1)/n of each device's shard; the elementwise `* 2` before it stays local.
Compare `parallelization_fsdp.py`, where XLA inserts the collectives itself.
"""

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

__explorer__ = {
    "stream": "parallelization",
    "title": "Explicit reshard: rows to columns",
    "entry": "rows_to_columns",
    "args": "by_rows((16, 16))",
    "transforms": ["jit"],
}


def device_mesh():
    """A 1-D mesh over every device, its axis named "x" (Explicit)."""
    return jax.make_mesh((jax.device_count(),), ("x",))


def by_rows(shape):
    """An abstract f32 array split by rows over the mesh."""
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(device_mesh(), P("x", None)))


def rows_to_columns(a):
    """Double `a`, then move it from a row split to a column split."""
    y = a * 2  # local: every device doubles its own rows
    return jax.sharding.reshard(y, NamedSharding(device_mesh(), P(None, "x")))  # one all-to-all


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", 4)
    print(jax.jit(rows_to_columns).trace(by_rows((16, 16))).jaxpr)
