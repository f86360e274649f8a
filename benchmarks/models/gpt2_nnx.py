"""A GPT-2-small-sized decoder in Flax NNX (12 layers, d=768, 12 heads, vocab 50,257, sequence 256).

The same shapes as `gpt2_linen.py`, written as NNX modules (fused qkv projection, tied embedding). The module
comes from `nnx.eval_shape`, so its parameters are shapes only: the explorer traces, lowers and compiles
`value_and_grad` of the next-token loss without allocating 124M parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

VOCAB, D, HEADS, LAYERS, SEQ = 50_257, 768, 12, 12, 256


class Attention(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.qkv = nnx.Linear(D, 3 * D, rngs=rngs)
        self.out = nnx.Linear(D, D, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, t, _ = x.shape
        q, k, v = jnp.split(self.qkv(x).reshape(b, t, 3 * HEADS, D // HEADS), 3, axis=2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(D // HEADS).astype(x.dtype)
        causal = jnp.tril(jnp.ones((t, t), bool))
        weights = jax.nn.softmax(jnp.where(causal, scores, jnp.finfo(x.dtype).min), axis=-1)
        return self.out(jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, D))


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.ln1 = nnx.LayerNorm(D, rngs=rngs)
        self.attn = Attention(rngs)
        self.ln2 = nnx.LayerNorm(D, rngs=rngs)
        self.up = nnx.Linear(D, 4 * D, rngs=rngs)
        self.down = nnx.Linear(4 * D, D, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attn(self.ln1(x))
        return x + self.down(nnx.gelu(self.up(self.ln2(x))))


class GPT(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.embed = nnx.Embed(VOCAB, D, rngs=rngs)
        self.pos = nnx.Param(jax.random.normal(rngs.params(), (SEQ, D)) * 0.02)
        self.blocks = nnx.List([Block(rngs) for _ in range(LAYERS)])
        self.ln_f = nnx.LayerNorm(D, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.embed(tokens) + self.pos[...]
        for block in self.blocks:
            x = block(x)
        return self.embed.attend(self.ln_f(x))


model = nnx.eval_shape(lambda: GPT(nnx.Rngs(0)))
tokens = jax.ShapeDtypeStruct((1, SEQ), jnp.int32)


def loss(model, tokens):
    logits = model(tokens)
    targets = jnp.roll(tokens, -1, axis=1)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], axis=-1))


__explorer__ = {"entry": "loss", "args": "model, tokens", "transforms": ["value_and_grad", "jit"]}
