"""custom_vjp: clipping gradients on the way back.

`jax.custom_vjp` replaces the reverse-mode rule of a function. You give a
forward function that returns the output plus residuals (values to keep for
later) and a backward function that turns residuals and the output
cotangent into input cotangents. Here `clip_gradient` is the identity on
the way forward, but clips whatever gradient flows back through it to
[-1, 1]: a per-tensor gradient clip you can drop into any model.

`make_jaxpr(loss)` shows a `custom_vjp_call` equation that names both
halves (`fwd=clip_gradient_fwd`, `bwd=clip_gradient_bwd`). Under `grad` the
rule has already been applied: the forward pass is just `x ** 3`, and where
the derivative of the identity would be, the backward pass runs your
`clip_gradient_bwd`, visible as the `jit` named `clip` (a `max` and a
`min`). `custom_vjp` functions support reverse mode only: `jvp` of them
raises a TypeError.
"""

import jax
import jax.numpy as jnp

__explorer__ = {
    "stream": "differentiability",
    "title": "custom_vjp: gradient clipping",
    "entry": "loss",
    "args": "f32[4]",
    "transforms": ["grad"],
}

CLIP = 1.0


@jax.custom_vjp
def clip_gradient(x):
    """Identity going forward; clips the gradient going backward."""
    return x


def clip_gradient_fwd(x):
    return x, None  # no residuals needed: the backward pass ignores x


def clip_gradient_bwd(_residuals, g):
    return (jnp.clip(g, -CLIP, CLIP),)  # one cotangent per primal input


clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)


def loss(x):
    """A steep loss whose raw gradient 3 * x**2 would be large."""
    return jnp.sum(clip_gradient(x) ** 3)


if __name__ == "__main__":
    x = jnp.array([-3.0, -0.5, 0.5, 3.0])
    print(jax.make_jaxpr(jax.grad(loss))(x))
    print("clipped:", jax.grad(loss)(x))
    print("raw:    ", jax.grad(lambda x: jnp.sum(x**3))(x))
