"""The benchmark's GPT-2 models (Flax linen, Flax NNX, Equinox) at a small config: exact jaxprs, every stage.

Each file in `benchmarks/models/` is inspected as the app and CLI load it (its own `__explorer__` defaults:
`value_and_grad` then `jit` of the next-token loss) with its config line made small (2 layers, d=64, vocab
256); the jaxprs at both ends of the chain are compared with JAX's own `make_jaxpr` in the same run.
"""

from __future__ import annotations

import re
from pathlib import Path

import jax
import pytest

from inspectors import Request, inspect
from inspectors.source import read_defaults
from tests.jax_reference import exec_source

MODELS = Path(__file__).resolve().parent.parent / "benchmarks" / "models"
SMALL = "VOCAB, D, HEADS, LAYERS, SEQ = 256, 64, 4, 2, 16"
NAMES = ["gpt2_linen", "gpt2_nnx", "gpt2_eqx"]


def small(name: str) -> str:
    """The model file's source with its config line made small."""
    source, count = re.subn(r"^VOCAB, D, HEADS, LAYERS, SEQ = .*$", SMALL, (MODELS / f"{name}.py").read_text(),
                            flags=re.M)  # fmt: skip
    assert count == 1, f"{name}.py no longer names its config on one line"
    return source


@pytest.mark.parametrize("name", NAMES)
def test_a_gpt2_model_traces_exactly_as_jax_does_and_compiles(name: str) -> None:
    source = small(name)
    result = inspect(Request(source=source, filename=f"{name}.py"), use_cache=False)
    assert result.ok, result.error.format()
    ns = exec_source(source, f"{name}.py")
    args = [getattr(ns, a.strip()) for a in read_defaults(source).args.split(",")]
    loss = ns.loss
    assert result.jaxpr(0).text == str(jax.make_jaxpr(loss)(*args))
    assert result.jaxpr().text == str(jax.make_jaxpr(jax.jit(jax.value_and_grad(loss)))(*args))
    assert "ENTRY" in (result.text_of("hlo") or "")
