"""A GPT-2-small-sized decoder in Flax linen (12 layers, d=768, 12 heads, vocab 50,257, sequence 256).

Parameters come from `jax.eval_shape`, so nothing big is allocated: the explorer traces, lowers and
compiles `value_and_grad` of the loss on shapes alone (running it is another matter on CPU).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

VOCAB, D, HEADS, LAYERS, SEQ = 50_257, 768, 12, 12, 256


class Block(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.LayerNorm()(x)
        h = nn.SelfAttention(num_heads=HEADS, qkv_features=D, deterministic=True)(h, mask=nn.make_causal_mask(x[..., 0]))
        x = x + h
        h = nn.LayerNorm()(x)
        h = nn.Dense(4 * D)(h)
        h = nn.gelu(h)
        return x + nn.Dense(D)(h)


class GPT(nn.Module):
    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        embed = nn.Embed(VOCAB, D)
        x = embed(tokens) + self.param("pos", nn.initializers.normal(0.02), (SEQ, D))
        for _ in range(LAYERS):
            x = Block()(x)
        return embed.attend(nn.LayerNorm()(x))


model = GPT()
tokens = jax.ShapeDtypeStruct((1, SEQ), jnp.int32)
params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, SEQ), jnp.int32)))


def loss(params, tokens):
    logits = model.apply(params, tokens)
    targets = jnp.roll(tokens, -1, axis=1)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], axis=-1))


__explorer__ = {"entry": "loss", "args": "params, tokens", "transforms": ["value_and_grad", "jit"]}
