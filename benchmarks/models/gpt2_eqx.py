"""A GPT-2-small-sized decoder in Equinox (12 layers, d=768, 12 heads, vocab 50,257, sequence 256).

The same shapes as `gpt2_linen.py`, written as Equinox modules (fused qkv projection, tied embedding; each
layer maps one sequence, `jax.vmap` maps the batch). The model comes from `eqx.filter_eval_shape`, so its
leaves are shapes only: the explorer traces, lowers and compiles `value_and_grad` of the next-token loss
without allocating 124M parameters.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

VOCAB, D, HEADS, LAYERS, SEQ = 50_257, 768, 12, 12, 256


class Attention(eqx.Module):
    qkv: eqx.nn.Linear
    out: eqx.nn.Linear

    def __init__(self, key: jax.Array) -> None:
        k1, k2 = jax.random.split(key)
        self.qkv = eqx.nn.Linear(D, 3 * D, key=k1)
        self.out = eqx.nn.Linear(D, D, key=k2)

    def __call__(self, x: jax.Array) -> jax.Array:
        t = x.shape[0]
        q, k, v = jnp.split(jax.vmap(self.qkv)(x).reshape(t, 3 * HEADS, D // HEADS), 3, axis=1)
        scores = jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(D // HEADS).astype(x.dtype)
        causal = jnp.tril(jnp.ones((t, t), bool))
        weights = jax.nn.softmax(jnp.where(causal, scores, jnp.finfo(x.dtype).min), axis=-1)
        return jax.vmap(self.out)(jnp.einsum("hqk,khd->qhd", weights, v).reshape(t, D))


class Block(eqx.Module):
    ln1: eqx.nn.LayerNorm
    attn: Attention
    ln2: eqx.nn.LayerNorm
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, key: jax.Array) -> None:
        k1, k2, k3 = jax.random.split(key, 3)
        self.ln1, self.ln2 = eqx.nn.LayerNorm(D), eqx.nn.LayerNorm(D)
        self.attn = Attention(k1)
        self.up = eqx.nn.Linear(D, 4 * D, key=k2)
        self.down = eqx.nn.Linear(4 * D, D, key=k3)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attn(jax.vmap(self.ln1)(x))
        return x + jax.vmap(lambda h: self.down(jax.nn.gelu(self.up(h))))(jax.vmap(self.ln2)(x))


class GPT(eqx.Module):
    embed: eqx.nn.Embedding
    pos: jax.Array
    blocks: list[Block]
    ln_f: eqx.nn.LayerNorm

    def __init__(self, key: jax.Array) -> None:
        keys = jax.random.split(key, LAYERS + 2)
        self.embed = eqx.nn.Embedding(VOCAB, D, key=keys[0])
        self.pos = jax.random.normal(keys[1], (SEQ, D)) * 0.02
        self.blocks = [Block(k) for k in keys[2:]]
        self.ln_f = eqx.nn.LayerNorm(D)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.embed.weight[tokens] + self.pos
        for block in self.blocks:
            x = block(x)
        return jax.vmap(self.ln_f)(x) @ self.embed.weight.T


model = eqx.filter_eval_shape(GPT, jax.random.PRNGKey(0))
tokens = jax.ShapeDtypeStruct((1, SEQ), jnp.int32)


def loss(model, tokens):
    logits = jax.vmap(model)(tokens)
    targets = jnp.roll(tokens, -1, axis=1)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], axis=-1))


__explorer__ = {"entry": "loss", "args": "model, tokens", "transforms": ["value_and_grad", "jit"]}
