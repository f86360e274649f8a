"""Automatic sharding, and the warning that says XLA gave up: an involuntary full rematerialization.

With Auto mesh axes, you shard the inputs and XLA's propagation (Shardy)
decides every other sharding; `with_sharding_constraint` pins one in the
middle. Here `a` and `b` arrive split as `P("y", None, "x")` on a 2 × 2 mesh,
but the constraint asks for their sum as `P(None, ("x", "y"), None)`: a
different axis, and the mesh axes in the other order. The partitioner finds no
cheap way between those two tilings.

Expect XLA to print `[SPMD] Involuntary full rematerialization` while
compiling: it gathers the whole sum on every device and slices it again. The
Sharding view catches that message and puts it at the line of `d = a + b`
(the operation it names), shows the collectives that resulted at their lines,
and lists the shardings after propagation for each equation. Change the
constraint to `P("y", None, "x")` and the warning and the collectives go away.
"""

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

__explorer__ = {
    "stream": "parallelization",
    "title": "Automatic sharding: a full rematerialization",
    "entry": "f",
    "args": 'split("y", None, "x"), split("y", None, "x"), split(None, ("x", "y"), None)',
    "transforms": ["jit"],
}


def device_mesh():
    """A 2 × (n/2) mesh with Auto axes: XLA propagates the shardings (needs an even device count)."""
    return jax.make_mesh((2, jax.device_count() // 2), ("x", "y"), axis_types=(AxisType.Auto, AxisType.Auto))


def split(*spec):
    """An abstract f32[16,16,16] sharded as `P(*spec)`."""
    return jax.ShapeDtypeStruct((16, 16, 16), jnp.float32, sharding=NamedSharding(device_mesh(), P(*spec)))


def f(a, b, c):
    """Add three arrays, pinning the middle sum to another tiling."""
    d = a + b  # XLA warns here: from P("y", None, "x") to the constraint below is a full rematerialization
    d = jax.lax.with_sharding_constraint(d, NamedSharding(device_mesh(), P(None, ("x", "y"), None)))
    return c + d


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", 4)
    args = (split("y", None, "x"), split("y", None, "x"), split(None, ("x", "y"), None))
    jax.jit(f).trace(*args).lower().compile()  # prints XLA's warning on stderr
