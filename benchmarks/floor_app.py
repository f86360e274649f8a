"""The framework floor: a plain Streamlit script showing `make_jaxpr`'s text; its radio reruns it for StableHLO.

`benchmarks/app_latency.py` times it beside the app: the same program, the app's default sample under grad.
"""

import jax
import jax.numpy as jnp
import streamlit as st


def loss(w, x, y):  # samples/differentiability_grad.py
    residual = x @ w - y
    return jnp.mean(residual**2)


args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in ((3,), (8, 3), (8,))]
view = st.radio("View", ["Jaxpr", "StableHLO"], horizontal=True)
g = jax.grad(loss)
st.code(str(jax.make_jaxpr(g)(*args)) if view == "Jaxpr" else jax.jit(g).lower(*args).as_text())
