"""log2: the first jaxpr.

The example that opens JAX's own explanation of jaxprs: base-2 logarithm
written with `lax.log`, the natural logarithm primitive. `make_jaxpr`
records each operation on its abstract input `f32[]` as one equation, so
the jaxpr reads just like the function: two `log`s and a `div`.

Note that `lax.log(2.0)` became an equation too, not a number: tracing
records what the program does, and JAX does not fold constants. The
compiler does, later: in the optimised HLO the second `log` and the `div`
have become a single `multiply` by 1.44269502 (that is, 1 / ln 2). Python
details such as variable names and comments are gone from the jaxpr; only
the operations on arrays remain.
"""

import jax
from jax import lax

__explorer__ = {
    "stream": "slides",
    "title": "log2",
    "entry": "log2",
    "args": "f32[]",
    "transforms": [],
}


def log2(x):
    """Base-2 logarithm from natural logarithms."""
    ln_x = lax.log(x)
    ln_2 = lax.log(2.0)
    return ln_x / ln_2


if __name__ == "__main__":
    print(jax.make_jaxpr(log2)(3.0))
    print(log2(8.0))
