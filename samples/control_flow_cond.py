"""lax.cond: branching on data.

When the predicate depends on a traced value, Python's `if` cannot decide
(see `control_flow_concretization_error.py`). `lax.cond(pred, true_fn,
false_fn, operand)` stages the choice into the program instead: the jaxpr
has one `cond` equation whose `branches` hold both functions as sub-jaxprs,
and only one of them runs at run time. Note the order: `branches` is
`(false_fn, true_fn)`, indexed by the predicate converted to an integer.

Under `grad`, the forward pass is a `cond` that also saves what each branch
needs, and the backward pass is a second `cond` with the transposed branches,
chosen by the same predicate.
"""

import jax
import jax.numpy as jnp
from jax import lax

__explorer__ = {
    "stream": "control_flow",
    "title": "lax.cond",
    "entry": "bump",
    "args": "f32[]",
    "transforms": ["grad"],
}


def bump(x):
    """sin(x) for positive x, x**2 otherwise."""
    # `lax.cond` stages out both branches, unlike a Python `if`.
    return lax.cond(x > 0, jnp.sin, jnp.square, x)


if __name__ == "__main__":
    x = jnp.float32(1.5)
    print(jax.make_jaxpr(jax.grad(bump))(x))
    print(jax.grad(bump)(x), jax.grad(bump)(-x))
