"""The concretization error: Python `if` on a traced value.

`relu_if` looks innocent, but under `jit` it fails with
`TracerBoolConversionError`. `jit` runs the function once with tracers:
abstract stand-ins that know only a shape and dtype (`f32[]`), not a value.
`x > 0` is then a traced boolean, and a Python `if` needs a real `True` or
`False` to pick a branch, so JAX refuses: "Attempted boolean conversion of
traced array". The message points at the `def` line; the failing `if` is
the next frame down. `grad`, `vmap` and `make_jaxpr` trace the same way and
fail the same way.

Two fixes, both defined below. `relu_where` computes both sides and selects
elementwise with `jnp.where` (a `select_n` in the jaxpr); it is the usual
choice for cheap branches and it works on arrays. `relu_cond` uses
`lax.cond`, which stages both branches into the program and runs only one.
A third option, when the condition is really configuration rather than data,
is to make the argument static (see `control_flow_static_if.py`).
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "control_flow",
    "title": "The concretization error",
    "entry": "relu_if",
    "args": "f32[]",
    "transforms": ["jit"],
}


def relu_if(x):
    """Broken under jit: Python `if` on a traced value."""
    if x > 0:  # TracerBoolConversionError when `x` is a tracer
        return x
    return jnp.zeros_like(x)


def relu_where(x):
    """Fixed: select elementwise; both sides are computed."""
    return jnp.where(x > 0, x, 0.0)


def relu_cond(x):
    """Fixed: `lax.cond` stages out both branches, unlike a Python `if`."""
    return lax.cond(x > 0, lambda x: x, jnp.zeros_like, x)


if __name__ == "__main__":
    x = jnp.float32(-2.0)
    print("eagerly, relu_if works:", relu_if(x))
    try:
        jax.jit(relu_if)(x)
    except jax.errors.TracerBoolConversionError as err:
        print("under jit:", type(err).__name__)
    for fixed in (relu_where, relu_cond):
        print(jax.make_jaxpr(jax.jit(fixed))(x))
        print(fixed.__name__, jax.jit(fixed)(x))
