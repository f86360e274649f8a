"""How graph nodes look: primitive families, colours and the legends drawn from them.

One table per concern, autodidax-style: `FAMILY_OF` maps a primitive to its
family, `FAMILY_RULES` guesses the family of a primitive the table has never
seen (a renamed or new one still gets drawn, in a sensible colour), `FAMILIES`
holds each family's colour and legend text. The legend is drawn from the same
tables the nodes use, so the two cannot disagree. No JAX import here.
"""

from __future__ import annotations

import colorsys
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A primitive family: its legend label and fill colour."""

    name: str
    label: str
    fill: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("elementwise", "elementwise", "#dbeafe"),
        Family("contraction", "contraction (dot, conv)", "#fca5a5"),
        Family("reduction", "reduction", "#fde68a"),
        Family("shape", "shape / layout", "#e5e7eb"),
        Family("control", "control flow / call", "#c4b5fd"),
        Family("random", "random", "#a7f3d0"),
        Family("collective", "collective", "#f9a8d4"),
        Family("custom", "custom rule", "#fdba74"),
        Family("other", "other", "#ffffff"),
    ]
}

_GROUPS: dict[str, str] = {
    "elementwise": """add sub mul div neg exp exp2 log log1p expm1 sin cos tan tanh logistic max min abs
        sign pow integer_pow sqrt rsqrt cbrt square select_n eq ne lt gt le ge and or not xor add_any
        convert_element_type erf erfc erf_inv floor ceil round clamp nextafter rem atan2 is_finite asin
        acos atan sinh cosh asinh acosh atanh imag real conj complex shift_left shift_right_logical
        shift_right_arithmetic population_count stop_gradient copy copy_p reduce_precision lgamma digamma
        igamma bessel_i0e bessel_i1e polygamma zeta""",
    "contraction": "dot_general conv_general_dilated ragged_dot dot",
    "reduction": """reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax
        argmin cumsum cumprod cummax cummin cumlogsumexp reduce top_k sort reduce_window_sum""",
    "shape": """reshape broadcast_in_dim transpose squeeze expand_dims concatenate pad slice dynamic_slice
        dynamic_update_slice gather scatter scatter-add scatter_add scatter_mul scatter_min scatter_max
        rev iota bitcast_convert_type split select_and_scatter_add select_and_gather_add empty empty2
        device_put sharding_constraint""",
    "control": "jit pjit cond while scan closed_call core_call remat2 checkpoint for_loop run_state",
    "random": """random_bits random_seed random_wrap random_unwrap random_fold_in random_split
        threefry2x32 random_clone""",
    "collective": """psum pmax pmin pmean ppermute all_gather all_to_all reduce_scatter psum_scatter
        axis_index shard_map xla_pmap pmap pbroadcast""",
    "custom": """custom_jvp_call custom_vjp_call custom_vjp_call_jaxpr custom_lin pure_callback
        io_callback debug_callback custom_transpose_call""",
}

FAMILY_OF: dict[str, str] = {p: fam for fam, names in _GROUPS.items() for p in names.split()}

# Ordered guesses for primitives missing from FAMILY_OF: the first rule that fits wins.
FAMILY_RULES: list[tuple[Callable[[str], bool], str]] = [
    (lambda p: p.startswith("custom") or "callback" in p, "custom"),
    (lambda p: "random" in p or "threefry" in p, "random"),
    (lambda p: p.startswith(("reduce_", "cum", "arg")), "reduction"),
    (lambda p: p.startswith(("psum", "pmax", "pmin", "pmean", "ppermute", "pbroadcast")), "collective"),
    (lambda p: "pmap" in p or "shard" in p or p.startswith("all_"), "collective"),
    (lambda p: "dot" in p or "conv" in p, "contraction"),
    (lambda p: "jit" in p or "call" in p or "while" in p or "scan" in p, "control"),
]


def family(primitive: str, has_subjaxprs: bool = False) -> str:
    """Return the family of a primitive, guessing for unknown names."""
    if primitive in FAMILY_OF:
        return FAMILY_OF[primitive]
    for rule, fam in FAMILY_RULES:
        if rule(primitive):
            return fam
    return "control" if has_subjaxprs else "other"


def family_fill(fam: str) -> str:
    """Return the fill colour of a family."""
    return FAMILIES.get(fam, FAMILIES["other"]).fill


PROVENANCE_FILLS: dict[str, str] = {
    "primal": "#e5e7eb",
    "jvp": "#bfdbfe",
    "transpose(jvp)": "#fecaca",
    "vmap": "#bbf7d0",
    "vmap(jvp)": "#a5f3fc",
    "vmap(transpose(jvp))": "#fed7aa",
    "jvp(jvp)": "#c7d2fe",
    "transpose(jvp(jvp))": "#fbcfe8",
}
_EXTRA_FILLS = ["#ddd6fe", "#fef08a", "#99f6e4", "#f5d0fe", "#d9f99d", "#fecdd3", "#bae6fd", "#e7e5e4"]

GOLDEN = 0.618033988749895  # golden-ratio hue steps: neighbouring lines never look alike


def provenance_fill(prov: str) -> str:
    """Return the fill of a transform provenance (`""` is the primal program)."""
    prov = prov or "primal"
    if prov in PROVENANCE_FILLS:
        return PROVENANCE_FILLS[prov]
    return _EXTRA_FILLS[sum(map(ord, prov)) % len(_EXTRA_FILLS)]


@functools.cache
def line_color(line: int, scheme: str = "light") -> str:
    """Return a stable colour for a source line: pastel ("light") or saturated ("contrast").

    The one palette for source lines: text views, graphs and the source map all use it.
    """
    hue = (line * GOLDEN) % 1.0
    light, sat = (0.86, 0.75) if scheme == "light" else (0.45, 0.95)
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def line_fill(line: int | None) -> str:
    """Return the fill of a source line in graphs (the source map's colour)."""
    return "#ffffff" if line is None else line_color(line)


# Measured time ("time" colouring, from a profile): white for none to red, by share of the time.
HEAT_STOPS = [(0.0, "#ffffff"), (0.2, "#fef3c7"), (0.45, "#fdba74"), (0.7, "#f97316"), (1.0, "#dc2626")]
HEAT_FULL = 0.5  # the share of the measured time at which the colour saturates
NO_HEAT = "#e5e7eb"  # nothing measured: the equation left no op, or the graph has no profile


def heat_color(share: float | None) -> str:
    """Return the colour of a share of the measured time (square-root scale: small shares show)."""
    if share is None:
        return NO_HEAT
    t = math.sqrt(min(max(share, 0.0) / HEAT_FULL, 1.0))
    for (t0, c0), (t1, c1) in zip(HEAT_STOPS, HEAT_STOPS[1:], strict=False):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            rgb = [round(int(c0[i : i + 2], 16) * (1 - f) + int(c1[i : i + 2], 16) * f) for i in (1, 3, 5)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return HEAT_STOPS[-1][1]


HEAT_COLOURINGS = ("time", "collective", "memory")  # colourings by a share per node (`GraphOptions.heat`)


def fill_for(colour_by: str, fam: str, prov: str, line: int | None, heat: float | None = None) -> str:
    """Return a node's fill for the chosen colouring."""
    if colour_by in HEAT_COLOURINGS:  # "collective": the share of the bytes collectives move
        return heat_color(heat)
    if colour_by == "provenance":
        return provenance_fill(prov)
    if colour_by == "line":
        return line_fill(line)
    return family_fill(fam)


def legend(colour_by: str, provs: list[str], lines: list[tuple[int, str]]) -> list[tuple[str, str]]:
    """Return (label, fill) legend rows for the colouring, from the same tables as the nodes."""
    if colour_by == "provenance":
        return [(p or "primal", provenance_fill(p)) for p in provs]
    if colour_by == "line":
        return [(f"line {n}: {code.strip()[:40]}", line_fill(n)) for n, code in lines[:24]]
    if colour_by == "time":
        shares = [(f"{'≥ ' if s == HEAT_FULL else ''}{100 * s:g} % of the time", heat_color(s)) for s in (0.5, 0.2, 0.05, 0.01)]
        return [*shares, ("none", heat_color(0.0)), ("no op measured", NO_HEAT)]
    if colour_by == "collective":
        shares = [(f"{'≥ ' if s == HEAT_FULL else ''}{100 * s:g} % of the bytes moved", heat_color(s)) for s in (0.5, 0.2, 0.05)]
        return [*shares, ("no collective", NO_HEAT)]
    if colour_by == "memory":  # residual bytes (a jaxpr) or bytes live at the peak (compiled HLO)
        shares = [
            (f"{'≥ ' if s == HEAT_FULL else ''}{100 * s:g} % of the bytes", heat_color(s))
            for s in (0.5, 0.2, 0.05)
        ]
        return [*shares, ("holds none", NO_HEAT)]
    return [(f.label, f.fill) for f in FAMILIES.values()]


# Params worth showing on a node, per primitive; anything else falls back to a short generic summary.
_BORING = re.compile(
    r"^(out_sharding|sharding|precision|preferred_element_type|weak_type|accumulation_type|"
    r"in_shardings|out_shardings|in_layouts|out_layouts|donated_invars|ctx_mesh|keep_unused|inline|"
    r"compiler_options_kvs|algorithm|transpose_algorithm|unroll|_split_transpose|jvp_jaxpr_fun|"
    r"fwd_jaxpr_thunk|out_trees|bwd|num_consts|symbolic_zeros|prevent_cse|differentiated|"
    r"linear|jaxpr|mode|indices_are_sorted|unique_indices|fill_value|update_jaxpr|update_consts)$"
)


def _dims(text: str) -> str:
    """Return `(1,)` style tuples as `[1]`."""
    return text.replace("(", "[").replace(")", "]").replace(",]", "]").replace(" ", "")


def _dot_label(params: dict[str, str]) -> str:
    """Return `contract [1]·[0]` (plus batch dims) from dot_general's dimension_numbers."""
    m = re.match(
        r"\(\((\(.*?\)), (\(.*?\))\), \((\(.*?\)), (\(.*?\))\)\)", params.get("dimension_numbers", "")
    )
    if not m:
        return ""
    lc, rc, lb, rb = (_dims(g) for g in m.groups())
    batch = f" batch {lb}·{rb}" if lb != "[]" else ""
    return f"contract {lc}·{rc}{batch}"


PARAM_LABELS: dict[str, Callable[[dict[str, str]], str]] = {
    "dot_general": _dot_label,
    "integer_pow": lambda p: f"y={p.get('y', '?')}",
    "broadcast_in_dim": lambda p: f"shape {_dims(p.get('shape', ''))}",
    "reshape": lambda p: f"sizes {_dims(p.get('new_sizes', ''))}",
    "transpose": lambda p: f"perm {_dims(p.get('permutation', ''))}",
    "convert_element_type": lambda p: f"→ {p.get('new_dtype', '')}",
    "squeeze": lambda p: f"dims {_dims(p.get('dimensions', ''))}",
    "concatenate": lambda p: f"dim {p.get('dimension', '')}",
    "scan": lambda p: f"length {p.get('length', '?')}{' reverse' if p.get('reverse') == 'True' else ''}",
    "while": lambda p: "",
    "cond": lambda p: "",
    "remat2": lambda p: f"policy {p.get('policy', 'None')}",
    "jit": lambda p: p.get("name", ""),
    "pjit": lambda p: p.get("name", ""),
}


def _reduce_label(params: dict[str, str]) -> str:
    """Return `axes [0]` for reductions."""
    return f"axes {_dims(params['axes'])}" if "axes" in params else ""


def param_label(primitive: str, params: dict[str, str]) -> str:
    """Return the one-line summary of an equation's important params."""
    if primitive in PARAM_LABELS:
        return PARAM_LABELS[primitive](params)
    if primitive.startswith(("reduce_", "arg")):
        return _reduce_label(params)
    shown = [f"{k}={v}" for k, v in params.items() if not _BORING.match(k) and v not in ("None", "")]
    text = " ".join(s for s in shown if len(s) <= 28)[:40]
    return text
