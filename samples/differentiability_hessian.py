"""hessian: second derivatives by composing transforms.

`jax.hessian(f)` is simply `jacfwd(jacrev(f))`: reverse mode for the
gradient (one scalar output, many inputs), then forward mode over that
gradient (as many outputs as inputs, so either mode costs the same and
forward has less overhead). Nothing special is needed: transforms compose
because each one returns an ordinary function that the next can trace.

The jaxpr is the gradient computation with every operation batched over 3
tangent directions (an identity matrix made of `iota` and `eq`): it is
derivative-of-derivative code, written by the tracer. For the Rosenbrock
function the result is a 3 x 3 symmetric, tridiagonal matrix.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "hessian",
    "entry": "rosenbrock",
    "args": "f32[3]",
    "transforms": ["hessian"],
}


def rosenbrock(x):
    """The Rosenbrock valley: minimum 0 at x = (1, 1, 1)."""
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


if __name__ == "__main__":
    x = jnp.ones((3,))
    print(jax.make_jaxpr(jax.hessian(rosenbrock))(x))
    print(jax.hessian(rosenbrock)(x))
