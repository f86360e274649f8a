"""shard_map and psum: a mean over data split across devices.

`jax.shard_map` runs a function once per device on that device's block of
the data. The mesh names the devices' axes (here one axis, `"batch"`, over
all devices), `in_specs` says how each input is split (`P("batch")`: cut
axis 0 into equal blocks, one per device), and `out_specs` how outputs are
put back together (`P()`: the same value on every device). Inside, code
sees only its local block, `f32[4]` of the `f32[16]` on 4 devices, and talks
to the other devices through collectives such as `lax.psum`, a sum over a
mesh axis (an all-reduce).

In the jaxpr, look for the `shard_map` equation with its `mesh`, `in_specs`
and `out_specs`, and a body that works on the local shape. Because
`shard_map` checks which values vary across devices (`check_vma=True`), the
body's types carry `{V:batch}` and the psum is printed as `psum_invariant`:
its result is the same everywhere. The compiled HLO has an `all-reduce`:
the Sharding view lists it once, at the `psum` line, over the axis `batch`,
asked for by the program (not inserted by XLA); its operand is one f32 per device.
"""

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

__explorer__ = {
    "stream": "parallelization",
    "title": "shard_map with psum",
    "entry": "global_mean",
    "args": "f32[16]",
    "transforms": ["jit"],
}


def device_mesh():
    """A 1-D mesh over every device, its axis named "batch"."""
    # make_mesh defaults to Explicit axes in JAX 0.10; Auto lets shard_map
    # split inputs that are not yet sharded.
    return jax.make_mesh((jax.device_count(),), ("batch",), axis_types=(AxisType.Auto,))


def global_mean(x):
    """Mean of `x`, computed blockwise on each device and combined with psum."""

    def local_mean(block):
        # Each device sums its own block; psum adds the partial sums together.
        return lax.psum(jnp.sum(block), "batch") / x.size

    return jax.shard_map(local_mean, mesh=device_mesh(), in_specs=P("batch"), out_specs=P())(x)


if __name__ == "__main__":
    # Standalone: split the CPU into 4 devices before JAX first uses one.
    jax.config.update("jax_num_cpu_devices", 4)
    x = jnp.arange(16.0)
    print(jax.devices())
    print(jax.make_jaxpr(jax.jit(global_mean))(x))
    print(jax.jit(global_mean)(x), jnp.mean(x))
