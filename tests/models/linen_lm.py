"""A small Flax linen language model whose loss returns (loss, aux): the shape of a real training step.

A top module holding only its decoder (so the `LM` scope and the `LM/decoder` scope cover the same
equations), token and position embeddings, two pre-norm decoder blocks (causal self-attention and an MLP, each a
named submodule), a final norm and a read-out head, then a cross-entropy loss returning the loss and
auxiliary metrics. Traced as `jit(value_and_grad(loss, has_aux=True))`, its jaxpr nests the module
paths (`LM/decoder/block_0/attn/...`) inside a jit inside a jvp/transpose: the graph's scope hierarchy.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

__explorer__ = {
    "title": "Flax linen LM, value_and_grad with aux",
    "entry": "loss",
    "args": "params, tokens",
    "transforms": ["value_and_grad(has_aux=True)", "jit"],
}

VOCAB, D_MODEL, HEADS, LAYERS, SEQ = 64, 32, 4, 2, 16


class Attention(nn.Module):
    """Causal multi-head self-attention."""

    heads: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        qkv = nn.Dense(3 * x.shape[-1], name="qkv")(x)
        q, k, v = jnp.split(qkv, 3, axis=-1)
        split = lambda t: t.reshape(t.shape[0], self.heads, -1).transpose(1, 0, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        scores = q @ k.transpose(0, 2, 1) / jnp.sqrt(q.shape[-1])
        mask = jnp.tril(jnp.ones((x.shape[0], x.shape[0]), bool))
        weights = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
        out = (weights @ v).transpose(1, 0, 2).reshape(x.shape)
        return nn.Dense(x.shape[-1], name="out")(out)


class MLP(nn.Module):
    """Two projections around a GELU."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.gelu(nn.Dense(4 * x.shape[-1], name="up")(x))
        return nn.Dense(x.shape[-1], name="down")(h)


class Block(nn.Module):
    """Pre-norm residual block."""

    heads: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + Attention(self.heads, name="attn")(nn.LayerNorm(name="ln_1")(x))
        return x + MLP(name="mlp")(nn.LayerNorm(name="ln_2")(x))


class Head(nn.Module):
    """The read-out to the vocabulary: one Dense, so its scope holds exactly its `proj` scope."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(VOCAB, name="proj")(x)


class Decoder(nn.Module):
    """Embeddings, decoder blocks, a final norm and the read-out head."""

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        embed = nn.Embed(VOCAB, D_MODEL, name="wte")
        x = embed(tokens) + self.param("wpe", nn.initializers.normal(0.02), (SEQ, D_MODEL))
        for i in range(LAYERS):
            x = Block(HEADS, name=f"block_{i}")(x)
        return Head(name="head")(nn.LayerNorm(name="ln_f")(x))


class LM(nn.Module):
    """The language model: all of it is its decoder, as in Flax's lm1b example (`TransformerLM/decoder`)."""

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        return Decoder(name="decoder")(tokens)


model = LM()
tokens = jnp.arange(SEQ + 1) % VOCAB
params = model.init(jax.random.PRNGKey(0), tokens[:-1])


def loss(params, tokens):
    """Next-token cross-entropy; aux holds the accuracy and the logits' scale."""
    logits = model.apply(params, tokens[:-1])
    targets = tokens[1:]
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, targets[:, None], axis=-1).mean()
    aux = {"accuracy": (logits.argmax(-1) == targets).mean(), "logit_scale": jnp.abs(logits).mean()}
    return nll, aux
