"""pmap: one program per device, the classic way.

`jax.pmap(f, axis_name="devices")` maps `f` over the leading axis of its
inputs and runs each slice on its own device, so that axis may not be
longer than the number of devices: `one_row_per_device()` builds an
`f32[4,8]` on 4 devices, 8 numbers per device. Inside, `lax.psum(...,
"devices")` sums across the mapped axis, here to normalise every row by the
grand total.

In JAX 0.10, `pmap` is built on `shard_map`: the jaxpr shows a `jit`
wrapping a `shard_map` over a mesh named after `axis_name`, with
`in_specs=(P('devices',),)` and a body that `squeeze`s away the per-device
axis of size 1. New code usually writes `shard_map` directly (see
`parallelization_shard_map_psum.py`): it splits an axis of any length
divisible by the device count into blocks, and composes with `jit`.

Collectives to expect (the Sharding view): one all-reduce over the mesh
axis `devices`, at the `psum` line, asked for by the program.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "parallelization",
    "title": "pmap with psum",
    "entry": "normalize",
    "args": "one_row_per_device()",
    "transforms": [],
}


def normalize_row(row):
    """Divide this device's row by the sum over all devices."""
    # The axis name exists only inside pmap: calling this directly fails.
    return row / lax.psum(jnp.sum(row), "devices")


# The entry is already a transformed function: pmap is part of the program.
normalize = jax.pmap(normalize_row, axis_name="devices")


def one_row_per_device():
    """An f32[devices, 8] array: f32[4,8] on 4 devices."""
    n = jax.local_device_count()
    return jnp.arange(n * 8.0).reshape(n, 8)


if __name__ == "__main__":
    # Standalone: split the CPU into 4 devices before JAX first uses one.
    jax.config.update("jax_num_cpu_devices", 4)
    x = one_row_per_device()
    print(jax.make_jaxpr(normalize)(x))
    print(normalize(x), jnp.sum(normalize(x)))
