"""Forward vs reverse mode: jvp and vjp.

There are two ways to push derivatives through a program. Forward mode,
`jax.jvp(f, (x,), (t,))`, carries a tangent `t` alongside `x` through every
operation and returns `f(x)` together with `J @ t`: one column-ish slice of
the Jacobian per pass, cheap when there are few inputs. Reverse mode,
`jax.vjp(f, x)`, runs `f` forwards, keeps what it needs, and returns a
function that maps an output cotangent `u` to `u @ J`: one row per pass,
cheap when there are few outputs (which is why `grad` of a scalar loss is
reverse mode).

Here `f` maps 3 numbers to 2. Under the default `vjp` pipeline, the jaxpr
shows the forward equations, then the backward pass: transposed equations
(`transpose(jvp(f))`) that take a 2-vector of ones to a 3-vector. Switch the
pipeline to `jvp` and the tangent flows forward instead, interleaved with the
primal computation: each `sin` gains a `cos` and a `mul`.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "Forward vs reverse mode",
    "entry": "f",
    "args": "f32[3]",
    "transforms": ["vjp"],
}


def f(x):
    """A small map from R^3 to R^2."""
    return jnp.stack([jnp.sin(x[0]) * x[1], jnp.sum(x**2)])


if __name__ == "__main__":
    x = jnp.array([1.0, 2.0, 3.0])

    # Forward mode: input-sized tangent in, output-sized tangent out.
    def forward(x):
        return jax.jvp(f, (x,), (jnp.ones_like(x),))

    # Reverse mode: output-sized cotangent in, input-sized cotangent out.
    def reverse(x):
        y, f_vjp = jax.vjp(f, x)
        return y, f_vjp(jnp.ones_like(y))

    print(jax.make_jaxpr(reverse)(x))
    print("jvp:", forward(x))
    print("vjp:", reverse(x))
