"""Pygments lexers for the texts JAX prints: jaxprs, StableHLO (MLIR) and compiled HLO.

Each lexer is a plain `RegexLexer` whose every state ends in a catch-all rule, so text from a newer JAX
that the rules do not know comes out as `Text`, never as `Token.Error`.

    html = highlight_html(str(jax.make_jaxpr(f)(x)), "jaxpr", hl_lines=[2])
"""

from __future__ import annotations

from collections.abc import Sequence

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer, RegexLexer, bygroups, default, include, words
from pygments.lexers.python import PythonLexer
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["LEXERS", "HLOLexer", "JaxprLexer", "StableHLOLexer", "get_lexer", "highlight_html"]

_IDENT = r"[A-Za-z_]\w*"
_FLOAT = r"-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)"
_COMPLEX = r"\([-+\w.]*j\)|-?[\d.]+(?:e[+-]?\d+)?j"
_STRING = r'"(?:\\.|[^"\\\n])*"'
# Python dtype names as they appear in jaxpr params (`new_dtype=float32`, `index_dtype=int32`).
_NUMPY_DTYPE = r"\b(?:b?float\d+\w*|u?int\d+|complex\d+|bool)\b"


class JaxprLexer(RegexLexer):
    """Lexer for jaxprs as printed by `str(jax.make_jaxpr(f)(*args))`."""

    name = "Jaxpr"
    aliases = ["jaxpr"]
    filenames = ["*.jaxpr"]

    tokens = {
        "root": [
            include("body"),
            (r"\}", Punctuation, "#pop"),  # closes the `{ lambda` that pushed this state
        ],
        "body": [
            (r"\s+", Whitespace),
            (r"(?<=\s)#\s[^\n]*", Comment.Single),  # pretty_print(source_info=True) annotations
            (r"(\{)(\s*)(lambda)\b", bygroups(Punctuation, Whitespace, Keyword), "root"),
            # A sub-jaxpr used more than once is printed first as `let _where = { lambda ... } in`.
            (r"^(let)(\s+)(\w+)(\s+)(=)", bygroups(Keyword, Whitespace, Name.Label, Whitespace, Operator)),
            # Lookarounds, because `in` and `let` are also valid generated variable names.
            (r"(?<=\.\s)let\b|(?<=\}\s)in\b|\bin(?=\s\()", Keyword),
            include("literal"),
            (r"(_)(:)", bygroups(Name.Builtin.Pseudo, Punctuation), "type"),
            (rf"({_IDENT})(:)", bygroups(Name.Variable, Punctuation), "type"),
            (
                rf"(=)(\s*)({_IDENT})(\[)",
                bygroups(Operator, Whitespace, Name.Function, Punctuation),
                "params",
            ),
            (rf"(=)(\s*)({_IDENT})", bygroups(Operator, Whitespace, Name.Function)),
            (rf"({_IDENT})(\[)", bygroups(Name.Function, Punctuation), "params"),  # equation without outputs
            (r"_\b", Name.Builtin.Pseudo),
            (_IDENT, Name.Variable),
            (_FLOAT, Number.Float),
            (r"-?\d+", Number.Integer),
            (r"[(),;.]", Punctuation),
            (r"=", Operator),
            (r"[^}]", Text),
        ],
        "literal": [
            (rf"({_FLOAT})(:)", bygroups(Number.Float, Punctuation), "type"),
            (r"(-?\d+)(:)", bygroups(Number.Integer, Punctuation), "type"),
            (rf"({_COMPLEX})(:)", bygroups(Number.Float, Punctuation), "type"),
            # Literals are scalars; the lookahead tells `inf:f32[]` from a variable named `inf`.
            (r"(-?inf|nan)(:)(?=\w+\[\](?!\s*=))", bygroups(Number.Float, Punctuation), "type"),
            (r"(True|False)(:)", bygroups(Keyword.Constant, Punctuation), "type"),
            (r"(\[\.\.\.\])(:)", bygroups(Number, Punctuation), "type"),  # a non-scalar literal
        ],
        "type": [
            (r"(key)(<)(\w+)(>)", bygroups(Keyword.Type, Punctuation, Name.Builtin, Punctuation)),
            (
                r"(\w+)(<\w+>)?(\{)",
                bygroups(Keyword.Type, Name.Builtin, Punctuation),
                ("#pop", "type-close", "type"),
            ),
            (rf"{_IDENT}(?=[<\[])", Keyword.Type),
            (r"<\w+>", Name.Builtin),  # memory space, e.g. f32<host>[3]
            (r"\[", Punctuation, ("#pop", "type-suffix", "shape")),
            (_IDENT, Keyword.Type, "#pop"),  # shapeless types: Tok, BoxTy
            default("#pop"),
        ],
        "shape": [
            (r"\]", Punctuation, "#pop"),
            (r"\d+", Number.Integer),
            (r"@", Operator),  # sharded dimension, e.g. f32[8@x]
            (_IDENT, Name.Constant),  # mesh axis or symbolic dimension
            (r"[,()]", Punctuation),
            (r"[^\]\n]", Operator),
        ],
        "type-suffix": [
            (r"\{", Punctuation, ("#pop", "type-annotation")),  # e.g. {V:i} or {weak_type}
            default("#pop"),
        ],
        "type-annotation": [
            (r"\}", Punctuation, "#pop"),
            (r"(\w+)(:)", bygroups(Keyword.Pseudo, Punctuation)),
            (r"\w+", Name.Constant),
            (r"\s+", Whitespace),
            (r"[^}\n]", Punctuation),
        ],
        "type-close": [
            (r"\}", Punctuation, "#pop"),
            default("#pop"),
        ],
        "params": [
            (r"\s+", Whitespace),
            (r"(?<=\s)#\s[^\n]*", Comment.Single),
            (r"(\{)(\s*)(lambda)\b", bygroups(Punctuation, Whitespace, Keyword), "root"),
            (r"\]", Punctuation, "#pop"),
            (r"\[", Punctuation, "params"),  # lists inside values, e.g. (([1], [0]), ([], []))
            (r"(\w*jaxpr\w*)(=)(\w+)", bygroups(Name.Attribute, Operator, Name.Label)),  # shared sub-jaxpr
            (r"(\w+)(=)", bygroups(Name.Attribute, Operator)),
            (words(("True", "False", "None"), suffix=r"\b"), Keyword.Constant),
            (_NUMPY_DTYPE, Keyword.Type),
            (_FLOAT, Number.Float),
            (r"-?\d+", Number.Integer),
            (r"'[^'\n]*'", String.Single),
            (_STRING, String.Double),
            (r"<[^<>\n]*>", Name.Other),  # reprs such as <lambda> or <function f at 0xXXXX>
            (_IDENT, Name),
            (r"[(){},:.*@]", Punctuation),
            (r".", Text),
        ],
    }


_MLIR_TYPE = r"(?:tensor|memref|vector|complex|tuple)<(?:[^<>]|<(?:[^<>]|<[^<>]*>)*>)*>"
_MLIR_SCALAR = r"\b(?:[su]?i\d+|ui\d+|f\d+(?:E\d+M\d+\w*)?|bf16|tf32|index|none)\b"


class StableHLOLexer(RegexLexer):
    """Lexer for StableHLO/MLIR text as printed by `jax.jit(f).lower(*args).as_text()`."""

    name = "StableHLO"
    aliases = ["stablehlo", "mlir"]
    filenames = ["*.mlir"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"//[^\n]*", Comment.Single),
            (r"\{-#", Comment.Preproc, "resources"),
            (r"(loc)(\()", bygroups(Name.Builtin, Punctuation), "loc"),
            (r'(")([a-z_]\w*(?:\.\w+)+)(")(?=\()', bygroups(Punctuation, Name.Function, Punctuation)),
            (_STRING, String.Double),
            (r"(module)(\s+)(@[\w$.-]+)", bygroups(Keyword, Whitespace, Name.Namespace)),
            (words(("module", "attributes", "func.func"), suffix=r"\b"), Keyword),
            (words(("public", "private", "nested"), suffix=r"\b"), Keyword),
            (r"%[\w$.-]+(?:#\d+)?", Name.Variable),
            (r"\^[\w$.-]+", Name.Label),
            (r'@[\w$.-]+|@"[^"\n]*"', Name.Function),  # symbols, quoted as in @"<lambda>"
            (_MLIR_TYPE, Keyword.Type),
            (r"![\w.]+(?:<(?:[^<>]|<[^<>]*>)*>)?", Keyword.Type),  # !stablehlo.token
            (r"#loc\d*\b", Name.Label),
            (r"(#[\w.]+)(<)", bygroups(Name.Decorator, Punctuation), "angle"),
            (r"#[\w.]+", Name.Decorator),
            (
                r"(dense|dense_resource|array|sparse|strided|distinct|opaque)(<)",
                bygroups(Name.Builtin, Punctuation),
                "angle",
            ),
            (r"[A-Za-z_][\w$.]*(?=\s*=(?!=))", Name.Attribute),
            (r"[a-z_]\w*(?:\.\w+)+", Name.Function),  # dialect.op, e.g. stablehlo.add
            (words(("return", "call"), suffix=r"\b"), Name.Function),  # short forms of func.return/call
            (_MLIR_SCALAR, Keyword.Type),
            (words(("cond", "do", "applies", "across", "init", "reducer"), suffix=r"\b"), Keyword),
            (words(("true", "false", "unit"), suffix=r"\b"), Keyword.Constant),
            (r"0x[0-9A-Fa-f]+", Number.Hex),
            (_FLOAT, Number.Float),
            (r"-?\d+", Number.Integer),
            (r"[A-Z][A-Z0-9_]*\b", Name.Constant),  # enums: LT, SIGNED, DEFAULT
            (r"->", Operator),
            (r"=", Operator),
            (r"[(){}\[\],:<>*?|]", Punctuation),
            (r"[\w$.-]+", Name),
            (r".", Text),
        ],
        "angle": [
            (r"->", Operator),
            (r"<", Punctuation, "#push"),
            (r">", Punctuation, "#pop"),
            include("root"),
        ],
        "loc": [
            (r"\)", Punctuation, "#pop"),
            (r"\(", Punctuation, "#push"),
            (_STRING, String.Double),
            (r"#loc\d*\b", Name.Label),
            (words(("callsite", "fused", "unknown", "at", "to", "name"), suffix=r"\b"), Keyword),
            (r"\d+", Number.Integer),
            (r"\s+", Whitespace),
            (r"[:,\[\]<>]", Punctuation),
            (r".", Text),
        ],
        "resources": [
            (r"#-\}", Comment.Preproc, "#pop"),
            (r"[^#]+|#", Comment.Preproc),
        ],
    }


_HLO_DTYPE = r"\b(?:pred|token|opaque|[suf]\d+|bf16|c64|c128|tf32|f[48]e\w+?)(?=\[)"
# Attributes whose value names a computation, e.g. `calls=%fused_computation`.
_HLO_CALLED = ("calls", "to_apply", "condition", "body", "select", "scatter", "comparator")


class HLOLexer(RegexLexer):
    """Lexer for (optimized) HLO text as printed by `jax.jit(f).lower(*args).compile().as_text()`."""

    name = "HLO"
    aliases = ["hlo"]
    filenames = ["*.hlo"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"/\*.*?\*/", Comment.Multiline),  # e.g. /*index=5*/ in long tuples
            (r"(HloModule)(\s+)([\w.-]+)", bygroups(Keyword.Namespace, Whitespace, Name.Namespace)),
            (r"^(?:FileNames|FunctionNames|FileLocations|StackFrames)\b", Keyword),
            (r"(ENTRY)(\s+)(%?[\w.-]+)", bygroups(Keyword, Whitespace, Name.Function)),
            (r"^%[\w.-]+", Name.Function),  # computation header; instructions are indented
            (r"^[A-Za-z_][\w.-]*(?=\s+[({])", Name.Function),
            (r"ROOT\b", Keyword),
            (rf"({'|'.join(_HLO_CALLED)})(=)(%?[\w.-]+)", bygroups(Name.Attribute, Operator, Name.Function)),
            (r"(\w+_computations)(=)(\{)", bygroups(Name.Attribute, Operator, Punctuation), "computations"),
            (_STRING, String.Double),
            (rf"({_HLO_DTYPE})(\[)", bygroups(Keyword.Type, Punctuation), ("layout", "dims")),
            (r"%[\w.-]+", Name.Variable),
            (r"([A-Za-z_][\w.-]*)(=)", bygroups(Name.Attribute, Operator)),
            (r"[a-z][\w-]*(?=\()", Name.Function),  # opcode, e.g. get-tuple-element(
            (r"([\w.-]+)(:)(?=\s)", bygroups(Name.Variable, Punctuation)),  # parameter in a header
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (r"k[A-Z]\w*|[A-Z][A-Z0-9_]+\b", Name.Constant),  # kLoop, GT, API_VERSION_TYPED_FFI
            (r"#[\w.]+", Name.Decorator),
            (r"0x[0-9A-Fa-f]+", Number.Hex),
            (r"-?inf\b|\bnan\b", Number.Float),
            (_FLOAT, Number.Float),
            (r"-?\d+", Number.Integer),
            (r"->|=", Operator),
            (r"[(){}\[\],:<>*]", Punctuation),
            (r"[\w.-]+", Name),
            (r".", Text),
        ],
        "dims": [
            (r"\]", Punctuation, "#pop"),
            (r"\d+", Number.Integer),
            (r",", Punctuation),
            (r"[^\]\n]", Operator),  # dynamic bounds: <=3, ?
        ],
        "layout": [
            (r"\{", Punctuation, ("#pop", "layout-body")),  # e.g. {1,0} or {0:T(8,128)}
            default("#pop"),
        ],
        "layout-body": [
            (r"\}", Punctuation, "#pop"),
            (r"\d+", Number.Integer),
            (r"[A-Za-z]+", Keyword.Pseudo),
            (r"[^}\n]", Punctuation),
        ],
        "computations": [
            (r"\}", Punctuation, "#pop"),
            (r"%?[\w.-]+", Name.Function),
            (r"\s+", Whitespace),
            (r".", Punctuation),
        ],
    }


LEXERS: dict[str, type[Lexer]] = {
    "jaxpr": JaxprLexer,
    "stablehlo": StableHLOLexer,
    "mlir": StableHLOLexer,
    "hlo": HLOLexer,
    "python": PythonLexer,
}


def get_lexer(language: str, **options: object) -> Lexer:
    """Return a lexer for `language` that keeps leading blank lines (so line numbers match)."""
    try:
        cls = LEXERS[language.lower()]
    except KeyError:
        raise ValueError(f"unknown language {language!r}; expected one of {sorted(LEXERS)}") from None
    return cls(**{"stripnl": False, **options})


def highlight_html(
    text: str,
    language: str,
    *,
    linenos: bool = False,
    style: str = "default",
    hl_lines: Sequence[int] = (),
) -> str:
    """Return `text` highlighted as HTML with inline styles; `hl_lines` are 1-based."""
    formatter = HtmlFormatter(
        noclasses=True, style=style, linenos="inline" if linenos else False, hl_lines=list(hl_lines)
    )
    return highlight(text, get_lexer(language), formatter)
