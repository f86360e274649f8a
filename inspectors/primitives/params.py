"""What each parameter of an equation means, for that equation: one explainer per (primitive, parameter).

An explainer reads the parameter's value and the equation's operands (real names and shapes from the
jaxpr model) and returns one sentence. Lookup order: `(primitive, param)`, then `(family rule, param)`,
then `param` alone; none found means no explanation yet. Pure Python: values arrive as JAX made them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inspectors.provenance import shape_of


@dataclass(frozen=True)
class Operand:
    """An equation's input or output: its printed name and type (`a`, `f32[2,3]`)."""

    name: str
    type: str

    @property
    def shape(self) -> tuple[int, ...]:
        """Its shape; () for a scalar or a type we cannot read."""
        parsed = shape_of(self.type)
        return parsed[1] if parsed else ()

    def dim(self, d: int) -> str:
        """Describe dimension `d` of it: `dimension 1 of `a` (size 3)`."""
        return f"dimension {d} of `{self.name}` (size {_size(self.shape, d)})"

    def dims(self, ds: Sequence[int]) -> str:
        """Describe several of its dimensions (one dimension reads as `dim`)."""
        ds = list(ds)
        if len(ds) == 1:
            return self.dim(ds[0])
        sizes = ", ".join(str(_size(self.shape, d)) for d in ds)
        return f"dimensions {_list(ds)} of `{self.name}` (sizes {sizes})"


@dataclass(frozen=True)
class EqnView:
    """What an explainer sees: the primitive, its operands and results, all its params."""

    primitive: str
    ins: list[Operand]
    outs: list[Operand]
    params: dict[str, Any]

    def inp(self, k: int) -> Operand:
        """Input `k` (a placeholder when the equation has fewer)."""
        return self.ins[k] if k < len(self.ins) else Operand(f"input {k}", "")

    def out(self, k: int = 0) -> Operand:
        """Output `k` (a placeholder when the equation has fewer)."""
        return self.outs[k] if k < len(self.outs) else Operand(f"output {k}", "")


Explainer = Callable[[Any, EqnView], str]


def _size(shape: tuple[int, ...], d: int) -> str:
    return str(shape[d]) if 0 <= d < len(shape) else "?"


def _list(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items)


def _ints(value: Any) -> list[int]:
    return [int(v) for v in (value or ())]


def _names(ops: Sequence[Operand]) -> str:
    return ", ".join(f"`{o.name}`" for o in ops) or "none"


# --- contractions ------------------------------------------------------------------------------


def dot_dimension_numbers(value: Any, e: EqnView) -> str:
    """dot_general's ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))."""
    (lc, rc), (lb, rb) = value
    a, c = e.inp(0), e.inp(1)
    parts = []
    if lc:
        parts.append(f"contracts {a.dims(lc)} with {c.dims(rc)}")
    else:
        parts.append("contracts nothing (an outer product)")
    if lb:
        parts.append(f"batch dimensions: {a.dims(lb)} pair with {c.dims(rb)}")
    else:
        parts.append("no batch dimensions")
    free_a = [d for d in range(len(a.shape)) if d not in list(lc) + list(lb)]
    free_c = [d for d in range(len(c.shape)) if d not in list(rc) + list(rb)]
    out = e.out()
    order = "batch, then " if lb else ""
    parts.append(
        f"`{out.name}` ({out.type}) holds {order}the free dimensions of `{a.name}` "
        f"({_list(free_a) or 'none'}), then of `{c.name}` ({_list(free_c) or 'none'})"
    )
    return "; ".join(parts)


def preferred_element_type(value: Any, e: EqnView) -> str:
    if value is None:
        return "accumulates and returns in the inputs' dtype"
    return f"accumulates and returns in {value} (the result `{e.out().name}` is {e.out().type})"


def precision(value: Any, e: EqnView) -> str:
    if value is None:
        return "the backend's default precision (on TPU/GPU that may use reduced-precision passes)"
    return f"precision {value} for the operands (more passes: closer to full float32)"


def conv_dimension_numbers(value: Any, e: EqnView) -> str:
    """ConvDimensionNumbers(lhs_spec, rhs_spec, out_spec): which dimension is batch, feature, spatial."""
    x, w, out = e.inp(0), e.inp(1), e.out()
    lhs, rhs, o = value.lhs_spec, value.rhs_spec, value.out_spec
    return (
        f"input `{x.name}`: batch is {x.dim(lhs[0])}, features {x.dim(lhs[1])}, spatial {x.dims(lhs[2:])}; "
        f"kernel `{w.name}`: output features {w.dim(rhs[0])}, input features {w.dim(rhs[1])}, "
        f"spatial {w.dims(rhs[2:])}; result `{out.name}`: batch {out.dim(o[0])}, features {out.dim(o[1])}, "
        f"spatial {out.dims(o[2:])}"
    )


def _spatial(value: Any, what: str, identity: int, none_text: str) -> str:
    values = _ints(value)
    if all(v == identity for v in values):
        return none_text
    return f"{what} {tuple(values)} along the spatial dimensions, in order"


def window_strides(value: Any, e: EqnView) -> str:
    return _spatial(
        value, "steps of", 1, f"steps of 1: the kernel visits every position {tuple(_ints(value))}"
    )


def conv_padding(value: Any, e: EqnView) -> str:
    pads = [tuple(int(v) for v in p) for p in value]
    if all(p == (0, 0) for p in pads):
        return "no padding ('VALID'): the kernel stays inside the input"
    each = "; ".join(f"spatial dimension {k}: {lo} before, {hi} after" for k, (lo, hi) in enumerate(pads))
    return f"zeros added around the input: {each}"


def lhs_dilation(value: Any, e: EqnView) -> str:
    return _spatial(
        value, "input dilated by", 1, "no input dilation (a transposed convolution would have some)"
    )


def rhs_dilation(value: Any, e: EqnView) -> str:
    return _spatial(value, "kernel dilated by (atrous)", 1, "no kernel dilation: kernel taps are adjacent")


def feature_group_count(value: Any, e: EqnView) -> str:
    if value == 1:
        return "one group: every output feature sees every input feature"
    return f"{value} groups: each output feature sees 1/{value} of the input features (grouped / depthwise)"


def batch_group_count(value: Any, e: EqnView) -> str:
    if value == 1:
        return "1: no batch grouping"
    return f"{value} batch groups (the weight gradient of a grouped convolution uses this)"


# --- shape and indexing ------------------------------------------------------------------------


def broadcast_dimensions(value: Any, e: EqnView) -> str:
    """broadcast_in_dim's map from input dimensions to result dimensions."""
    x, out, dims = e.inp(0), e.out(), _ints(value)
    if not dims:
        return f"`{x.name}` is a scalar: its value fills every position of `{out.name}` ({out.type})"
    placed = "; ".join(f"{x.dim(k)} becomes {out.dim(d)}" for k, d in enumerate(dims))
    new = [d for d in range(len(out.shape)) if d not in dims]
    rest = f"; the values repeat along the new {out.dims(new)}" if new else ""
    return placed + rest


def result_shape(value: Any, e: EqnView) -> str:
    return f"the result's shape: {tuple(_ints(value))} (`{e.out().name}` is {e.out().type})"


def reduce_axes(value: Any, e: EqnView) -> str:
    """The dimensions a reduction removes."""
    x, out = e.inp(0), e.out()
    verb = {"reduce_sum": "adds up", "reduce_max": "takes the max over", "reduce_min": "takes the min over"}
    verb.update({"reduce_prod": "multiplies over", "argmax": "finds the largest along"})
    verb.update({"argmin": "finds the smallest along", "reduce_and": "ANDs over", "reduce_or": "ORs over"})
    act = verb.get(e.primitive, "reduces over")
    return f"{act} {x.dims(_ints(value))}, leaving `{out.name}` ({out.type})"


def reshape_sizes(value: Any, e: EqnView) -> str:
    return f"`{e.inp(0).name}` ({e.inp(0).type}) read in row-major order into shape {tuple(_ints(value))}"


def reshape_dimensions(value: Any, e: EqnView) -> str:
    if value is None:
        return "None: the input is read in its own order (no transpose first)"
    return f"the input is first transposed to dimension order {tuple(_ints(value))}"


def permutation(value: Any, e: EqnView) -> str:
    x, out, perm = e.inp(0), e.out(), _ints(value)
    moves = "; ".join(f"{out.dim(k)} is {x.dim(d)}" for k, d in enumerate(perm))
    return moves or "nothing to permute"


def squeeze_dimensions(value: Any, e: EqnView) -> str:
    return f"removes {e.inp(0).dims(_ints(value))}, leaving `{e.out().name}` ({e.out().type})"


def expand_dimensions(value: Any, e: EqnView) -> str:
    return f"adds size-1 dimensions at {_list(_ints(value))} of `{e.out().name}` ({e.out().type})"


def concat_dimension(value: Any, e: EqnView) -> str:
    sizes = ", ".join(f"`{o.name}` {_size(o.shape, value)}" for o in e.ins)
    return f"joins {_names(e.ins)} along dimension {value} (sizes {sizes}) into {e.out().dim(value)}"


def padding_config(value: Any, e: EqnView) -> str:
    x = e.inp(0)
    parts = [
        f"{x.dim(d)}: {int(lo)} before, {int(hi)} after, {int(inner)} between elements"
        for d, (lo, hi, inner) in enumerate(value)
    ]
    return "; ".join(parts) + f" — filled with `{e.inp(1).name}`"


def start_indices(value: Any, e: EqnView) -> str:
    return f"starts at {tuple(_ints(value))} in `{e.inp(0).name}` ({e.inp(0).type})"


def limit_indices(value: Any, e: EqnView) -> str:
    return f"stops before {tuple(_ints(value))}, giving `{e.out().name}` ({e.out().type})"


def strides(value: Any, e: EqnView) -> str:
    return (
        "None: every element (stride 1)" if value is None else f"takes every {tuple(_ints(value))}-th element"
    )


def slice_sizes(value: Any, e: EqnView) -> str:
    x, sizes = e.inp(0), _ints(value)
    each = ", ".join(f"{s} of {_size(x.shape, d)}" for d, s in enumerate(sizes))
    return f"the window taken from `{x.name}` at each index: {each} along its dimensions"


def split_sizes(value: Any, e: EqnView) -> str:
    return f"pieces of sizes {tuple(_ints(value))}: {_names(e.outs)}"


def gather_dimension_numbers(value: Any, e: EqnView) -> str:
    """GatherDimensionNumbers: where indices point, which slice dims drop, where the rest go."""
    x, idx, out = e.inp(0), e.inp(1), e.out()
    parts = [
        f"each index vector (the last dimension of `{idx.name}`, size {_size(idx.shape, len(idx.shape) - 1)}) "
        f"gives start positions along {x.dims(_ints(value.start_index_map))}"
    ]
    if value.collapsed_slice_dims:
        parts.append(f"the slice's {x.dims(_ints(value.collapsed_slice_dims))} has size 1 and is dropped")
    if value.offset_dims:
        parts.append(f"the rest of each slice lands in {out.dims(_ints(value.offset_dims))}")
    batch = [d for d in range(len(out.shape)) if d not in _ints(value.offset_dims)]
    if batch:
        parts.append(f"{out.dims(batch)} runs over the indices")
    if getattr(value, "operand_batching_dims", ()):
        parts.append(f"batched: {x.dims(_ints(value.operand_batching_dims))} pairs with the index batch dims")
    return "; ".join(parts)


def scatter_dimension_numbers(value: Any, e: EqnView) -> str:
    """ScatterDimensionNumbers: where indices point and how update windows map onto the operand."""
    x, idx, upd = e.inp(0), e.inp(1), e.inp(2)
    parts = [
        f"each index vector (the last dimension of `{idx.name}`, size {_size(idx.shape, len(idx.shape) - 1)}) "
        f"names a position along {x.dims(_ints(value.scatter_dims_to_operand_dims))}"
    ]
    if value.update_window_dims:
        parts.append(
            f"{upd.dims(_ints(value.update_window_dims))} of the updates is the window written there"
        )
    if value.inserted_window_dims:
        parts.append(f"the window has size 1 along {x.dims(_ints(value.inserted_window_dims))}")
    scatter = [d for d in range(len(upd.shape)) if d not in _ints(value.update_window_dims)]
    if scatter:
        parts.append(f"{upd.dims(scatter)} runs over the indices")
    return "; ".join(parts)


def gather_mode(value: Any, e: EqnView) -> str:
    name = getattr(value, "name", str(value))
    meaning = {
        "PROMISE_IN_BOUNDS": "indices are promised in bounds: no check (what jnp indexing uses once it has "
        "wrapped negative indices)",
        "FILL_OR_DROP": "an out-of-bounds index reads the fill value (gather) or is dropped (scatter)",
        "CLIP": "out-of-bounds indices are clamped into range",
        "ONE_HOT": "indices are used as one-hot selections",
    }
    return f"{name}: {meaning.get(name, 'how out-of-bounds indices behave')}"


def fill_value(value: Any, e: EqnView) -> str:
    if value is None:
        return "None: out-of-bounds reads give NaN (floats) or the dtype's minimum (integers)"
    return f"out-of-bounds reads give {value}"


def update_jaxpr(value: Any, e: EqnView) -> str:
    if value is None:
        return "None: the update replaces the old value"
    combine = {"scatter-add": "adds", "scatter-mul": "multiplies", "scatter-min": "min", "scatter-max": "max"}
    return f"how an update meets the old value: {combine.get(e.primitive, 'combines')} (a tiny jaxpr)"


def dynamic_slice_sizes(value: Any, e: EqnView) -> str:
    starts = _names(e.ins[1:])
    return f"a window of sizes {tuple(_ints(value))} of `{e.inp(0).name}`, starting at the traced {starts}"


def iota_dimension(value: Any, e: EqnView) -> str:
    return f"counts 0, 1, 2, … along {e.out().dim(value)}; constant along the others"


def one_axis(value: Any, e: EqnView) -> str:
    return f"along {e.inp(0).dim(value)}"


def sort_dimension(value: Any, e: EqnView) -> str:
    return f"sorts along {e.inp(0).dim(value)}"


def num_keys(value: Any, e: EqnView) -> str:
    keys, rest = e.ins[:value], e.ins[value:]
    return f"the first {value} operand(s) ({_names(keys)}) are compared; {_names(rest)} follow their order"


# --- control flow ------------------------------------------------------------------------------


def scan_length(value: Any, e: EqnView) -> str:
    return f"{value} iterations: the scanned inputs' leading dimension"


def scan_reverse(value: Any, e: EqnView) -> str:
    return "runs from the last slice to the first" if value else "runs from the first slice to the last"


def scan_num_consts(value: Any, e: EqnView) -> str:
    return f"the first {value} operand(s) ({_names(e.ins[:value])}) are the same at every iteration"


def scan_num_carry(value: Any, e: EqnView) -> str:
    n = e.params.get("num_consts", 0)
    carry, xs = e.ins[n : n + value], e.ins[n + value :]
    scanned = ", ".join(f"`{o.name}` ({o.type})" for o in xs) or "none"
    ys = e.outs[value:]
    stacked = ", ".join(f"`{o.name}` ({o.type})" for o in ys) or "none"
    return (
        f"{value} carry value(s) ({_names(carry)}, returned as {_names(e.outs[:value])}); scanned over their "
        f"leading dimension: {scanned}; stacked per-step outputs: {stacked}"
    )


def scan_jaxpr(value: Any, e: EqnView) -> str:
    n_in, n_out = len(value.jaxpr.invars), len(value.jaxpr.outvars)
    return f"the loop body: {n_in} inputs (consts, carry, one slice of each scanned input), {n_out} outputs"


def unroll(value: Any, e: EqnView) -> str:
    if value in (1, True) and value is not True:
        return "1: one body per loop iteration (not unrolled)"
    return (
        f"{value}: the compiled loop does {value} steps per iteration"
        if value is not True
        else "fully unrolled"
    )


def linear(value: Any, e: EqnView) -> str:
    flags = [bool(v) for v in value]
    lin = [o.name for o, f in zip(e.ins, flags, strict=False) if f]
    return f"operands known to be linear (from a transpose): {', '.join(lin) or 'none'}"


def branches(value: Any, e: EqnView) -> str:
    idx = e.inp(0)
    n = len(value)
    return (
        f"{n} branches; `{idx.name}` ({idx.type}) picks one (clamped to 0…{n - 1}); "
        f"{_names(e.ins[1:])} are passed to it, and it returns {_names(e.outs)}"
    )


def while_cond_jaxpr(value: Any, e: EqnView) -> str:
    return "the loop's condition: carry → a boolean; the loop stops when it is false"


def while_body_jaxpr(value: Any, e: EqnView) -> str:
    return f"the loop's body: carry → next carry ({_names(e.outs)} at the end)"


def nconsts(which: str) -> Explainer:
    def explain(value: Any, e: EqnView) -> str:
        return f"{value} loop-invariant operand(s) passed to the {which} before the carry"

    return explain


def call_jaxpr(value: Any, e: EqnView) -> str:
    inner = getattr(value, "jaxpr", value)
    eqns = len(getattr(inner, "eqns", ()))
    return f"the nested program: {eqns} equations, called on {_names(e.ins)}"


def jit_name(value: Any, e: EqnView) -> str:
    return f"`{value}`: the Python function jit traced (its StableHLO function is named after it)"


def shardings(value: Any, e: EqnView) -> str:
    if all(type(v).__name__ == "UnspecifiedValue" for v in value):
        return "unspecified: the compiler chooses (nothing was asked for)"
    return f"requested shardings: {_list(value)}"


def layouts(value: Any, e: EqnView) -> str:
    return "default layouts" if all(v is None for v in value) else f"requested layouts: {_list(value)}"


def donated_invars(value: Any, e: EqnView) -> str:
    donated = [o.name for o, d in zip(e.ins, value, strict=False) if d]
    return f"donated input buffers (reused for outputs): {', '.join(donated) or 'none'}"


def ctx_mesh(value: Any, e: EqnView) -> str:
    names = getattr(value, "axis_names", ())
    return "no mesh in context" if not names else f"the mesh in context: axes {names}"


def keep_unused(value: Any, e: EqnView) -> str:
    return "unused inputs are kept as arguments" if value else "unused inputs may be pruned"


def inline(value: Any, e: EqnView) -> str:
    return "inlined into the caller when lowered" if value else "lowered as a separate function (func.call)"


def compiler_options(value: Any, e: EqnView) -> str:
    return "no XLA options" if not value else f"XLA options: {value}"


def prevent_cse(value: Any, e: EqnView) -> str:
    return "recomputation is protected from common-subexpression elimination" if value else "CSE allowed"


def differentiated(value: Any, e: EqnView) -> str:
    return "this copy is inside a derivative" if value else "not differentiated yet (the primal program)"


def remat_policy(value: Any, e: EqnView) -> str:
    if value is None:
        return "None: save nothing, recompute everything in the backward pass"
    return f"{getattr(value, '__name__', value)}: decides which intermediates are saved"


def num_consts(value: Any, e: EqnView) -> str:
    return f"the first {value} operand(s) are constants closed over by the function"


def symbolic_zeros(value: Any, e: EqnView) -> str:
    return "the rule sees symbolic zero tangents" if value else "zero tangents are materialised for the rule"


def custom_rule(what: str) -> Explainer:
    def explain(value: Any, e: EqnView) -> str:
        return f"the user's {what} (JAX calls it instead of differentiating the body)"

    return explain


def mesh(value: Any, e: EqnView) -> str:
    names, shape = getattr(value, "axis_names", ()), getattr(value, "axis_sizes", ())
    return f"device mesh with axes {tuple(names)} of sizes {tuple(shape)}"


def specs(which: str) -> Explainer:
    def explain(value: Any, e: EqnView) -> str:
        ops = e.ins if which == "in" else e.outs
        parts = [f"`{o.name}` split as {s}" for o, s in zip(ops, value, strict=False)]
        return "; ".join(parts) or "no operands"

    return explain


def collective_axes(value: Any, e: EqnView) -> str:
    names = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return f"over mesh axis/axes {names}: every device of them takes part"


def axis_index_groups(value: Any, e: EqnView) -> str:
    return "None: all devices of the axis form one group" if value is None else f"device groups: {value}"


def perm(value: Any, e: EqnView) -> str:
    return "sends " + ", ".join(f"{s}→{d}" for s, d in value)


# --- elementwise and others --------------------------------------------------------------------


def sharding(value: Any, e: EqnView) -> str:
    return (
        "None: no sharding asked for (the input's or the compiler's)"
        if value is None
        else f"sharding {value}"
    )


def new_dtype(value: Any, e: EqnView) -> str:
    return f"converts `{e.inp(0).name}` ({e.inp(0).type}) to {value}"


def weak_type(value: Any, e: EqnView) -> str:
    if value:
        return "the result is weakly typed: it takes the dtype of whatever it meets (a Python scalar's type)"
    return "the result has a fixed dtype (not weakly typed)"


def integer_power(value: Any, e: EqnView) -> str:
    return f"raises `{e.inp(0).name}` to the power {value} (repeated multiplication, no log/exp)"


def accuracy(value: Any, e: EqnView) -> str:
    return "None: the backend's default accuracy" if value is None else f"accuracy requested: {value}"


def rounding_method(value: Any, e: EqnView) -> str:
    name = getattr(value, "name", str(value))
    return f"{name}: " + ("halves round away from zero" if "AWAY" in name else "halves round to even")


def out_dtype(value: Any, e: EqnView) -> str:
    return "None: the inputs' dtype" if value is None else f"result dtype {value}"


def index_dtype(value: Any, e: EqnView) -> str:
    return f"indices are returned as {value}"


def cum_reverse(value: Any, e: EqnView) -> str:
    return "runs from the end towards the start" if value else "runs from the start towards the end"


def is_stable(value: Any, e: EqnView) -> str:
    return "equal keys keep their order" if value else "equal keys may be reordered"


def hints(what: str) -> Explainer:
    def explain(value: Any, e: EqnView) -> str:
        return (
            f"the caller {'promises' if value else 'does not promise'} the indices are {what} (a speed hint)"
        )

    return explain


def bit_width(value: Any, e: EqnView) -> str:
    return f"{value}-bit random words"


def key_shape(value: Any, e: EqnView) -> str:
    return f"the shape of what it makes: {tuple(_ints(value))}"


def prng_impl(value: Any, e: EqnView) -> str:
    return f"the PRNG implementation: {getattr(value, 'name', value)}"


def pvary_axes(value: Any, e: EqnView) -> str:
    return f"marks the value as varying over mesh axes {tuple(value)}"


def static_args(value: Any, e: EqnView) -> str:
    return f"{value}"


# (primitive, param) → explainer: the most specific rules.
BY_PRIMITIVE: dict[tuple[str, str], Explainer] = {
    ("dot_general", "dimension_numbers"): dot_dimension_numbers,
    ("conv_general_dilated", "dimension_numbers"): conv_dimension_numbers,
    ("conv_general_dilated", "padding"): conv_padding,
    ("gather", "dimension_numbers"): gather_dimension_numbers,
    ("gather", "slice_sizes"): slice_sizes,
    ("dynamic_slice", "slice_sizes"): dynamic_slice_sizes,
    ("broadcast_in_dim", "shape"): result_shape,
    ("iota", "shape"): result_shape,
    ("iota", "dimension"): iota_dimension,
    ("iota", "dtype"): lambda v, e: f"the counts are {v}",
    ("reshape", "dimensions"): reshape_dimensions,
    ("squeeze", "dimensions"): squeeze_dimensions,
    ("expand_dims", "dimensions"): expand_dimensions,
    ("rev", "dimensions"): lambda v, e: f"reverses {e.inp(0).dims(_ints(v))}",
    ("concatenate", "dimension"): concat_dimension,
    ("sort", "dimension"): sort_dimension,
    ("split", "axis"): one_axis,
    ("scan", "jaxpr"): scan_jaxpr,
    ("scan", "length"): scan_length,
    ("scan", "reverse"): scan_reverse,
    ("scan", "num_consts"): scan_num_consts,
    ("round", "rounding_method"): rounding_method,
    ("random_bits", "shape"): key_shape,
    ("random_split", "shape"): key_shape,
    ("empty2", "dtype"): lambda v, e: f"of dtype {v}",
    **{
        (p, "axes"): collective_axes
        for p in ("psum", "psum_invariant", "pmax", "pmin", "pmean", "pbroadcast")
    },
    ("pvary", "axes"): pvary_axes,
    ("sharding_constraint", "layout"): lambda v, e: "the default layout" if v is None else f"layout {v}",
    ("sharding_constraint", "context_mesh"): lambda v, e: f"the mesh in scope where it was asked for: {mesh(v, e)}",
    ("sharding_constraint", "unconstrained_dims"): lambda v, e: (
        f"{e.inp(0).dims(sorted(v))} left to the compiler" if v else "every dimension constrained"
    ),
    ("while", "cond_nconsts"): nconsts("condition"),
    ("while", "body_nconsts"): nconsts("body"),
}

# param → explainer, for every primitive that has it.
BY_PARAM: dict[str, Explainer] = {
    "preferred_element_type": preferred_element_type,
    "precision": precision,
    "out_sharding": sharding,
    "sharding": sharding,
    "window_strides": window_strides,
    "lhs_dilation": lhs_dilation,
    "rhs_dilation": rhs_dilation,
    "feature_group_count": feature_group_count,
    "batch_group_count": batch_group_count,
    "broadcast_dimensions": broadcast_dimensions,
    "axes": reduce_axes,
    "new_sizes": reshape_sizes,
    "permutation": permutation,
    "padding_config": padding_config,
    "start_indices": start_indices,
    "limit_indices": limit_indices,
    "strides": strides,
    "sizes": split_sizes,
    "mode": gather_mode,
    "fill_value": fill_value,
    "update_jaxpr": update_jaxpr,
    "update_consts": lambda v, e: f"{len(v)} constant(s) the update function closes over",
    "dimension_numbers": scatter_dimension_numbers,  # the scatter family (gather, dot, conv have their own)
    "indices_are_sorted": hints("sorted"),
    "unique_indices": hints("unique"),
    "axis": one_axis,
    "reverse": cum_reverse,
    "is_stable": is_stable,
    "num_keys": num_keys,
    "num_carry": scan_num_carry,
    "unroll": unroll,
    "linear": linear,
    "_split_transpose": lambda v, e: "splits the transposed loop in two (experimental)" if v else "off",
    "branches": branches,
    "cond_jaxpr": while_cond_jaxpr,
    "body_jaxpr": while_body_jaxpr,
    "jaxpr": call_jaxpr,
    "call_jaxpr": call_jaxpr,
    "fun_jaxpr": call_jaxpr,
    "name": jit_name,
    "in_shardings": shardings,
    "out_shardings": shardings,
    "in_layouts": layouts,
    "out_layouts": layouts,
    "donated_invars": donated_invars,
    "ctx_mesh": ctx_mesh,
    "keep_unused": keep_unused,
    "inline": inline,
    "compiler_options_kvs": compiler_options,
    "prevent_cse": prevent_cse,
    "differentiated": differentiated,
    "policy": remat_policy,
    "num_consts": num_consts,
    "symbolic_zeros": symbolic_zeros,
    "jvp_jaxpr_fun": custom_rule("jvp rule"),
    "jvp_jaxpr_thunk": custom_rule("jvp rule"),
    "fwd_jaxpr_thunk": custom_rule("forward rule (what it saves for the backward pass)"),
    "bwd": custom_rule("backward rule"),
    "out_trees": lambda v, e: "the output structure of the forward rule (bookkeeping)",
    "mesh": mesh,
    "in_specs": specs("in"),
    "out_specs": specs("out"),
    "check_vma": lambda v, e: "checks which values vary across devices" if v else "no varying-value checks",
    "check_rep": lambda v, e: "checks replication" if v else "no replication checks",
    "manual_axes": lambda v, e: f"mesh axes handled by hand inside: {tuple(v)}",
    "auto": lambda v, e: f"mesh axes left to the compiler: {tuple(v) or 'none'}",
    "axis_name": collective_axes,
    "axis_index_groups": axis_index_groups,
    "perm": perm,
    "new_dtype": new_dtype,
    "weak_type": weak_type,
    "y": integer_power,
    "accuracy": accuracy,
    "out_dtype": out_dtype,
    "index_dtype": index_dtype,
    "bit_width": bit_width,
    "impl": prng_impl,
    "shape": key_shape,
    "dtype": lambda v, e: f"dtype {v}",
    "exponent_bits": lambda v, e: f"{v} exponent bits kept",
    "mantissa_bits": lambda v, e: f"{v} mantissa bits kept",
    "k": lambda v, e: f"the {v} largest",
    "dimension": lambda v, e: f"along {e.inp(0).dim(v)}",
    "dimensions": squeeze_dimensions,
    "src": lambda v, e: f"source: {v}",
    "devices": lambda v, e: f"target devices: {_list(v)}",
    "srcs": lambda v, e: "where the inputs come from",
    "copy_semantics": lambda v, e: "copy behaviour of device_put",
    "dst_sharding": sharding,
    "all_gather_dimension": lambda v, e: f"the gathered pieces go along result dimension {v}",
    "axis_size": lambda v, e: f"{v} devices along the axis",
    "tiled": lambda v, e: (
        "concatenated along an existing dimension" if v else "stacked along a new dimension"
    ),
    "split_axis": lambda v, e: f"splits {e.inp(0).dim(v)} into pieces",
    "concat_axis": lambda v, e: f"joins the received pieces along dimension {v}",
    "scatter_dimension": lambda v, e: f"each device keeps one piece along dimension {v}",
    "varying_axes": pvary_axes,
    "axes_": pvary_axes,
    "to": lambda v, e: f"the value's new type: {v}",
    "single_axis_name": collective_axes,
    "acc_sharding": sharding,
    "callback": lambda v, e: f"the Python function called back: {getattr(v, '__name__', v)}",
    "result_avals": lambda v, e: f"declared results: {_list(v)}",
    "vectorized": lambda v, e: f"{v}",
    "vmap_method": lambda v, e: f"how vmap treats the callback: {v}",
    "ordered": lambda v, e: "effects stay in program order" if v else "unordered effects",
    "effect": lambda v, e: f"effect {v}",
    "partitioned": lambda v, e: f"{v}",
    "debug_info": lambda v, e: "where the function was defined (for messages)",
    "memory_space": lambda v, e: f"where the buffer lives: {v}",
    "concrete_mesh": lambda v, e: f"the devices behind the mesh: {mesh(v, e)}",
    "newly_manual_axes": lambda v, e: f"mesh axes this shard_map makes manual: {tuple(v)}",
    "implicit_broadcast": lambda v, e: "broadcasts from a scalar" if v else "no implicit broadcast",
}

# Parameters whose names other primitives reuse with another meaning: handled by BY_PRIMITIVE first.
NO_EXPLANATION = ""


def explain(primitive: str, param: str, value: Any, eqn: EqnView) -> str:
    """Return what `param=value` means in `eqn`, or "" when there is no explanation for it yet."""
    rule = BY_PRIMITIVE.get((primitive, param)) or BY_PARAM.get(param)
    if rule is None:
        return NO_EXPLANATION
    try:
        return rule(value, eqn)
    except Exception:  # noqa: BLE001 - a value shaped unlike the rule expects (a newer JAX): say nothing
        return NO_EXPLANATION
