"""The one private JAX dependency: fails loudly when JAX moves what it relies on."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from inspectors._jax_private import PrintedJaxpr


def _nested(x):
    y = jax.jit(lambda v: jnp.sin(v) * 2.0)(x)
    return jax.lax.cond(y.sum() > 0, jnp.cos, jnp.tan, y).sum()


def test_printing_through_the_captured_context_is_exactly_jax_text():
    closed = jax.make_jaxpr(jax.grad(_nested))(jnp.ones(3))
    printed = PrintedJaxpr(closed.jaxpr)
    assert printed.text == str(closed)


def test_names_and_equation_texts_come_from_the_same_context():
    closed = jax.make_jaxpr(jax.grad(_nested))(jnp.ones(3))
    printed = PrintedJaxpr(closed.jaxpr)
    flat_text = " ".join(printed.text.split())
    for eqn in closed.jaxpr.eqns:
        text = printed.eqn_text(eqn)
        assert " ".join(text.split()) in flat_text
        outs = [printed.name(v) for v in eqn.outvars]
        assert text.startswith(outs[0] + ":")
    assert [printed.name(v) for v in closed.jaxpr.invars] == ["a"]


def test_shared_sub_jaxprs_are_named_like_jax_names_them():
    def many(x):
        body = jax.jit(lambda v: sum(jnp.sin(v + i) for i in range(12)))
        return body(x) + body(x * 2)

    closed = jax.make_jaxpr(many)(jnp.ones(3))
    printed = PrintedJaxpr(closed.jaxpr)
    assert printed.text == str(closed)
    assert printed.text.startswith("let ")  # the jaxpr used twice is hoisted to the top
    sub = closed.jaxpr.eqns[0].params["jaxpr"].jaxpr
    assert printed.shared_name(sub) and printed.shared_name(sub) in printed.text
