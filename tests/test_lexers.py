"""Tests for inspectors.lexers: JAX's own text, printed in this run, lexes cleanly and with the right tokens."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from contextlib import nullcontext
from html import escape, unescape
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from pygments.styles import get_style_by_name
from pygments.token import Comment, Error, Keyword, Name, Number, Operator

from inspectors.lexers import HLOLexer, JaxprLexer, StableHLOLexer, get_lexer, highlight_html

# --- Functions whose jaxpr, StableHLO and HLO the lexers must handle -------------------------------------


def elementwise(x):
    return jnp.sin(x) * 2.0 + jnp.exp(-x) / (1.0 + x**2)


def dot(a, b):
    return jnp.dot(a, b).sum()


def grad(x):
    return jax.grad(lambda y: jnp.sum(jnp.tanh(y) ** 2))(x)


def vmap(a, b):
    return jax.vmap(jnp.dot)(a, b)


def nested_jit(x):
    inner = jax.jit(lambda y: y * 3.0)
    return jax.jit(lambda z: inner(z) + 1.0)(x)


def cond(x):
    return lax.cond(x.sum() > 0, lambda y: y * 2.0, lambda y: -y, x)


def while_loop(x):
    return lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] * 1.5), (0, x))


def scan(x):
    return lax.scan(lambda c, v: (c + v, c * v), jnp.zeros(()), x)


def fori_loop(x):
    return lax.fori_loop(0, 5, lambda i, c: c + i, x)


@jax.custom_jvp
def _sin(x):
    return jnp.sin(x)


_sin.defjvp(lambda primals, tangents: (_sin(primals[0]), jnp.cos(primals[0]) * tangents[0]))


def custom_jvp(x):
    return jax.grad(lambda y: _sin(y).sum())(x) + _sin(x)


@jax.custom_vjp
def _log1p(x):
    return jnp.log1p(x)


_log1p.defvjp(lambda x: (_log1p(x), x), lambda x, g: (g / (1 + x),))


def custom_vjp(x):
    return jax.grad(lambda y: _log1p(y).sum())(x) + _log1p(x)


def checkpoint(x):
    return jax.grad(lambda y: jax.checkpoint(lambda z: jnp.sin(jnp.sin(z)))(y).sum())(x)


def random_normal():
    return jax.random.normal(jax.random.PRNGKey(0), (3,))


def typed_key():
    k1, k2 = jax.random.split(jax.random.key(0))
    return jax.random.normal(k1, (3,)) + jax.random.uniform(k2, (3,))


def int_and_bool(i, b):
    return jnp.where(b, i // 2, i % 3), jnp.logical_not(b), i.astype(jnp.uint8), b & True


def special_floats(x):
    return jnp.clip(x, -jnp.inf, jnp.inf) + jnp.nan_to_num(x), jnp.argmax(x), x > jnp.nan


def effects_and_dtypes(x):
    jax.debug.print("x={x}", x=x, ordered=True)  # ordered: a !stablehlo.token threads through
    return x * np.arange(3.0) + (1 + 2j), x.astype(jnp.bfloat16), x.astype(jnp.float16)


def gather_sort_conv(x, i):
    return x[i], jnp.sort(x), jnp.convolve(x, x[:2])


def shard_map_psum(x):
    mesh = Mesh(np.array(jax.devices()[:1]), ("i",), axis_types=(AxisType.Auto,))
    return jax.shard_map(lambda y: lax.psum(y * 2, "i"), mesh=mesh, in_specs=P("i"), out_specs=P())(x)


def explicit_sharding(x):
    return jnp.sin(x) * 2


def f32(*shape: int, sharding: Any = None) -> jax.ShapeDtypeStruct:
    """Return an abstract float32 argument."""
    return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)


def _explicit_mesh() -> Mesh:
    """Return a one-device mesh with an Explicit axis `x`, so avals print as f32[8@x]."""
    return Mesh(np.array(jax.devices()[:1]), ("x",), axis_types=(AxisType.Explicit,))


CASES: dict[str, tuple[Callable, Callable[[], tuple]]] = {
    "elementwise": (elementwise, lambda: (f32(3),)),
    "dot": (dot, lambda: (f32(3, 4), f32(4, 2))),
    "grad": (grad, lambda: (f32(3),)),
    "vmap": (vmap, lambda: (f32(5, 3), f32(5, 3))),
    "nested_jit": (nested_jit, lambda: (f32(3),)),
    "cond": (cond, lambda: (f32(3),)),
    "while_loop": (while_loop, lambda: (f32(3),)),
    "scan": (scan, lambda: (f32(3),)),
    "fori_loop": (fori_loop, lambda: (f32(3),)),
    "custom_jvp": (custom_jvp, lambda: (f32(3),)),
    "custom_vjp": (custom_vjp, lambda: (f32(3),)),
    "checkpoint": (checkpoint, lambda: (f32(3),)),
    "random_normal": (random_normal, tuple),
    "typed_key": (typed_key, tuple),
    "int_and_bool": (
        int_and_bool,
        lambda: (jax.ShapeDtypeStruct((4,), jnp.int32), jax.ShapeDtypeStruct((4,), bool)),
    ),
    "special_floats": (special_floats, lambda: (f32(3),)),
    "effects_and_dtypes": (effects_and_dtypes, lambda: (f32(3),)),
    "gather_sort_conv": (gather_sort_conv, lambda: (f32(5), jax.ShapeDtypeStruct((2,), jnp.int32))),
    "shard_map_psum": (shard_map_psum, lambda: (f32(8),)),
    "explicit_sharding": (
        explicit_sharding,
        lambda: (f32(8, sharding=NamedSharding(_explicit_mesh(), P("x"))),),
    ),
}

STAGES = {
    "jaxpr": "jaxpr",
    "jaxpr_source_info": "jaxpr",
    "stablehlo": "stablehlo",
    "stablehlo_debug": "stablehlo",
    "hlo": "hlo",
}


def _stage_texts(fn: Callable, args: tuple) -> dict[str, str]:
    """Return every stage's text for `fn(*args)`, as JAX prints it."""
    closed = jax.make_jaxpr(fn)(*args)
    lowered = jax.jit(fn).lower(*args)
    return {
        "jaxpr": str(closed),
        "jaxpr_source_info": closed.pretty_print(source_info=True, name_stack=True),
        "stablehlo": lowered.as_text(),
        "stablehlo_debug": lowered.as_text(debug_info=True),
        "hlo": lowered.compile().as_text(),
    }


@pytest.fixture(scope="module")
def texts() -> dict[tuple[str, str], str]:
    """Return {(case, stage): text} for every case, generated once per module."""
    out = {}
    for case, (fn, make_args) in CASES.items():
        args = make_args()
        with jax.set_mesh(_explicit_mesh()) if case == "explicit_sharding" else nullcontext():
            out.update({(case, stage): text for stage, text in _stage_texts(fn, args).items()})
    return out


def _tokens(language: str, text: str) -> list[tuple[Any, str]]:
    """Return the (token type, value) pairs of `text`, without Pygments' newline fix-ups."""
    return [(ttype, value) for _, ttype, value in get_lexer(language).get_tokens_unprocessed(text)]


# --- Every text lexes without errors and round-trips ---------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("case", CASES)
def test_jax_text_lexes_without_errors_and_round_trips(texts, case, stage):
    text = texts[case, stage]
    tokens = _tokens(STAGES[stage], text)
    errors = [value for ttype, value in tokens if ttype in Error]
    assert errors == []
    assert "".join(value for _, value in tokens) == text


# --- Targeted token checks: every token matching `pattern` in that text has type `expected` ------------

TOKEN_CASES = [
    # (case, stage, pattern, expected)
    ("elementwise", "jaxpr", "sin", Name.Function),
    ("elementwise", "jaxpr", "b", Name.Variable),
    ("elementwise", "jaxpr", "f32", Keyword.Type),
    ("elementwise", "jaxpr", "lambda|let|in", Keyword),
    ("elementwise", "jaxpr", "2.0", Number.Float),
    ("elementwise", "jaxpr", "integer_pow", Name.Function),
    ("dot", "jaxpr", "dot_general", Name.Function),
    ("dot", "jaxpr", "dimension_numbers|preferred_element_type", Name.Attribute),
    ("dot", "jaxpr", "float32", Keyword.Type),
    ("grad", "jaxpr", "_", Name.Builtin.Pseudo),
    ("nested_jit", "jaxpr", "<lambda>", Name.Other),
    ("cond", "jaxpr", "branches", Name.Attribute),
    ("cond", "jaxpr", "bool", Keyword.Type),
    ("while_loop", "jaxpr", "cond_jaxpr|body_jaxpr", Name.Attribute),
    ("while_loop", "jaxpr", "while", Name.Function),
    ("fori_loop", "jaxpr", "scan", Name.Function),
    ("custom_jvp", "jaxpr", "custom_jvp_call", Name.Function),
    ("custom_jvp", "jaxpr", "call_jaxpr|jvp", Name.Attribute),
    ("custom_vjp", "jaxpr", "fwd|bwd", Name.Attribute),
    ("checkpoint", "jaxpr", "remat2?|checkpoint", Name.Function),
    ("random_normal", "jaxpr", "key", Keyword.Type),
    ("random_normal", "jaxpr", "random_bits", Name.Function),
    ("typed_key", "jaxpr", "_uniform1", Name.Label),
    ("int_and_bool", "jaxpr", "i32|u8", Keyword.Type),
    ("int_and_bool", "jaxpr", "True|False", Keyword.Constant),
    ("special_floats", "jaxpr", "-?inf|nan", Number.Float),
    ("effects_and_dtypes", "jaxpr", "debug_print", Name.Function),
    ("effects_and_dtypes", "jaxpr", r"\(1\+2j\)", Number.Float),
    ("effects_and_dtypes", "jaxpr_source_info", "# .*", Comment.Single),
    ("shard_map_psum", "jaxpr", "V", Keyword.Pseudo),
    ("explicit_sharding", "jaxpr", "@", Operator),
    ("elementwise", "stablehlo", r"stablehlo\.(sine|add|multiply)", Name.Function),
    ("elementwise", "stablehlo", r"tensor<3xf32>", Keyword.Type),
    ("elementwise", "stablehlo", r"%arg0|%cst|%\d+", Name.Variable),
    ("elementwise", "stablehlo", "@main", Name.Function),
    ("elementwise", "stablehlo", "@jit_elementwise", Name.Namespace),
    ("elementwise", "stablehlo", r"module|attributes|func\.func|public", Keyword),
    ("elementwise", "stablehlo", r"jax\.result_info|mhlo\.num_partitions", Name.Attribute),
    ("dot", "stablehlo", r"stablehlo\.dot_general", Name.Function),
    ("cond", "stablehlo", r"stablehlo\.case", Name.Function),
    ("cond", "stablehlo", r"tensor<i1>", Keyword.Type),
    ("while_loop", "stablehlo", r"stablehlo\.(while|return)|return", Name.Function),
    ("while_loop", "stablehlo", "cond|do", Keyword),
    ("while_loop", "stablehlo", r"%0#\d", Name.Variable),
    ("random_normal", "stablehlo", "call", Name.Function),
    ("special_floats", "stablehlo", "0x[0-9A-F]+", Number.Hex),
    ("effects_and_dtypes", "stablehlo", r"!stablehlo\.token", Keyword.Type),
    ("gather_sort_conv", "stablehlo", r"#stablehlo\.\w+", Name.Decorator),
    ("shard_map_psum", "stablehlo", r"\^bb0", Name.Label),
    ("explicit_sharding", "stablehlo", r"#sdy\.sharding", Name.Decorator),
    ("while_loop", "stablehlo_debug", r"#loc\d*", Name.Label),
    ("while_loop", "stablehlo_debug", "loc", Name.Builtin),
    ("while_loop", "stablehlo_debug", "unknown", Keyword),
    ("cond", "hlo", "ROOT|ENTRY", Keyword),
    ("cond", "hlo", "HloModule", Keyword.Namespace),
    ("cond", "hlo", r"%fused_computation(\.\d+)?|%region_\d+\.\d+", Name.Function),
    ("cond", "hlo", r"fusion|get-tuple-element|conditional", Name.Function),
    ("cond", "hlo", r"%get-tuple-element(\.\d+)?", Name.Variable),
    ("cond", "hlo", "kLoop", Name.Constant),
    ("cond", "hlo", "metadata|op_name|calls|kind", Name.Attribute),
    ("cond", "hlo", "f32|s32|pred", Keyword.Type),
    ("cond", "hlo", "FileNames|FunctionNames|FileLocations|StackFrames", Keyword),
    ("random_normal", "hlo", r"u32", Keyword.Type),
    ("random_normal", "hlo", r"/\*index=\d+\*/", Comment.Multiline),
]


@pytest.mark.parametrize(("case", "stage", "pattern", "expected"), TOKEN_CASES)
def test_tokens_matching_pattern_have_expected_type(texts, case, stage, pattern, expected):
    matching = [
        ttype for ttype, value in _tokens(STAGES[stage], texts[case, stage]) if re.fullmatch(pattern, value)
    ]
    assert matching, f"no token matches {pattern!r}"
    assert set(matching) == {expected}


# --- Registry and HTML ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "lexer"),
    [("jaxpr", JaxprLexer), ("stablehlo", StableHLOLexer), ("mlir", StableHLOLexer), ("hlo", HLOLexer)],
)
def test_get_lexer_returns_the_registered_lexer(language, lexer):
    assert type(get_lexer(language)) is lexer


def test_get_lexer_rejects_unknown_languages():
    with pytest.raises(ValueError, match="unknown language"):
        get_lexer("fortran")


@pytest.mark.parametrize(("case", "stage"), [("cond", "jaxpr"), ("dot", "stablehlo"), ("dot", "hlo")])
def test_highlight_html_keeps_every_word_and_inlines_styles(texts, case, stage):
    text = texts[case, stage]
    html = highlight_html(text, STAGES[stage])
    assert set(re.findall(r"\w+", text)) <= set(re.findall(r"\w+", unescape(html)))
    assert '<span style="' in html and 'class="k' not in html


@pytest.mark.parametrize(
    ("case", "stage", "line"), [("scan", "jaxpr", 3), ("dot", "stablehlo", 3), ("cond", "hlo", 1)]
)
def test_highlight_html_highlights_the_requested_line(texts, case, stage, line):
    text = "\n" + texts[case, stage]  # a leading blank line must not shift the numbering
    html = highlight_html(text, STAGES[stage], hl_lines=[line + 1], linenos=True)
    marker = f'<span style="background-color: {get_style_by_name("default").highlight_color}">'
    assert html.count(marker) == 1
    highlighted = unescape(re.sub(r"<[^>]+>", "", html.split(marker, 1)[1].split("\n", 1)[0]))
    number, _, rest = highlighted.lstrip().partition(text.splitlines()[line])
    assert (number.strip(), rest) == (str(line + 1), "")


def test_highlight_html_handles_python():
    html = highlight_html("def f(x):\n    return jnp.sin(x)\n", "python")
    assert "def" in html and "jnp" in html


@pytest.mark.parametrize("language", ["jaxpr", "stablehlo", "hlo"])
def test_arbitrary_text_never_yields_error_tokens(language):
    rng = random.Random(0)  # every state ends in a catch-all, so even noise lexes (as Text)
    noise = "".join(rng.choice("{}[]()<>%#@^!\"'=:;,. \nax3_-\\/*") for _ in range(5000))
    tokens = _tokens(language, noise)
    assert [value for ttype, value in tokens if ttype in Error] == []
    assert "".join(value for _, value in tokens) == noise


# --- The explorer's compact runs rebuild Pygments' own HTML ------------------------------------------


def _html_from_runs(text: str, classes: list[str], runs: list[list[int]]) -> str:
    """What explorer.js's tokensHtml draws, line by line (Python's copy of it)."""
    out = []
    for line, spans in zip(text.split("\n"), runs, strict=True):
        pos, html = 0, ""
        for length, k in zip(spans[::2], spans[1::2], strict=True):
            piece = escape(line[pos : pos + length], quote=False)
            html += f'<span class="{classes[k]}">{piece}</span>' if classes[k] else piece
            pos += length
        assert pos == len(line)  # the runs cover each line exactly
        out.append(html)
    return "\n".join(out)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("case", ["cond", "scan", "dot"])
def test_explorer_runs_rebuild_pygments_html_exactly(texts, case, stage):
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    from app.components.explorer import token_runs

    text = "\n" + texts[case, stage]  # a leading blank line must stay line 1
    classes, runs = token_runs(text, STAGES[stage])
    assert len(runs) == text.count("\n") + 1
    lexer = get_lexer(STAGES[stage])
    lexer.stripnl = False
    expected = highlight(text, lexer, HtmlFormatter(nowrap=True))  # plus the newline Pygments ensures
    drawn = _html_from_runs(text, classes, runs)
    assert unescape(re.sub(r"<[^>]+>", "", drawn)) == text
    # Runs merge neighbouring tokens of one class, so compare the class of every character.
    assert _classed_text(drawn) == _classed_text(expected)[: len(text)]


def _classed_text(html: str) -> list[tuple[str, str]]:
    """(class, character) for every character of highlighted HTML: equal when the colouring is equal."""
    out = []
    for m in re.finditer(r'<span class="([^"]+)">([^<]*)</span>|([^<]+)', html):
        cls, inner, bare = m.groups()
        out += [(cls or "", c) for c in unescape(inner if inner is not None else bare)]
    return out
