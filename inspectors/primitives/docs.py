"""What each primitive computes: one row per primitive (sentence, formula, binding function, live example).

The words are this project's own. A row's example is a `jax.lax` (or `jax`) call on the small inputs of
`INPUTS`; it is run in the worker, so a card shows what the primitive really returns. "-" means none.
No JAX import here: the table is data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Doc:
    """One primitive's description: what it computes, its formula, the function that binds it, an example."""

    summary: str
    formula: str
    binds: str
    example: str = ""


# Inputs the examples may use, by name: each card shows the ones its call reads.
INPUTS: dict[str, str] = {
    "x": "jnp.array([0.5, 1.0, 2.0])",
    "y": "jnp.array([2.0, 0.5, 3.0])",
    "i": "jnp.array([1, 6, 12], dtype=jnp.int32)",
    "j": "jnp.array([2, 3, 5], dtype=jnp.int32)",
    "u": "jnp.array([1, 6, 12], dtype=jnp.uint32)",
    "p": "jnp.array([True, False, True])",
    "q": "jnp.array([True, True, False])",
    "m": "jnp.arange(6.0).reshape(2, 3)",
    "n": "jnp.arange(6.0).reshape(3, 2)",
    "idx": "jnp.array([[2], [0]])",
    "img": "jnp.arange(32.0).reshape(1, 2, 4, 4)",
    "ker": "jnp.ones((1, 2, 2, 2))",
    "key": "jax.random.key(0)",
    "mesh": "jax.make_mesh((1,), ('i',), axis_types=(jax.sharding.AxisType.Auto,))",
}

# name | what it computes | formula | binding function | example call
_TABLE = r"""
abs | Takes the absolute value of every element. | y = |x| | jax.lax.abs | lax.abs(y - 1.0)
neg | Flips the sign of every element. | y = -x | jax.lax.neg | lax.neg(x)
sign | Gives -1, 0 or 1 by the sign of every element. | y = sign(x) | jax.lax.sign | lax.sign(x - 1.0)
exp | Raises e to every element. | y = eˣ | jax.lax.exp | lax.exp(x)
exp2 | Raises 2 to every element. | y = 2ˣ | jax.lax.exp2 | lax.exp2(x)
expm1 | Computes eˣ − 1 accurately near zero, element by element. | y = eˣ − 1 | jax.lax.expm1 | lax.expm1(x)
log | Takes the natural logarithm of every element. | y = ln x | jax.lax.log | lax.log(x)
log1p | Computes ln(1 + x) accurately near zero, element by element. | y = ln(1 + x) | jax.lax.log1p | lax.log1p(x)
sqrt | Takes the square root of every element. | y = √x | jax.lax.sqrt | lax.sqrt(x)
rsqrt | Takes one over the square root of every element. | y = 1/√x | jax.lax.rsqrt | lax.rsqrt(x)
cbrt | Takes the cube root of every element. | y = ∛x | jax.lax.cbrt | lax.cbrt(x)
square | Squares every element. | y = x² | jax.lax.square | lax.square(x)
integer_pow | Raises every element to a fixed integer power (the power is a parameter, not an input). | y = xⁿ | jax.lax.integer_pow | lax.integer_pow(x, 3)
pow | Raises every element of the first input to the power in the second. | z = xʸ | jax.lax.pow | lax.pow(x, y)
sin | Takes the sine of every element (radians). | y = sin x | jax.lax.sin | lax.sin(x)
cos | Takes the cosine of every element (radians). | y = cos x | jax.lax.cos | lax.cos(x)
tan | Takes the tangent of every element. | y = tan x | jax.lax.tan | lax.tan(x)
asin | Takes the arcsine of every element. | y = sin⁻¹ x | jax.lax.asin | lax.asin(x / 2)
acos | Takes the arccosine of every element. | y = cos⁻¹ x | jax.lax.acos | lax.acos(x / 2)
atan | Takes the arctangent of every element. | y = tan⁻¹ x | jax.lax.atan | lax.atan(x)
atan2 | Takes the angle of the point (x, y) for every pair of elements. | z = atan2(y, x) | jax.lax.atan2 | lax.atan2(x, y)
sinh | Takes the hyperbolic sine of every element. | y = sinh x | jax.lax.sinh | lax.sinh(x)
cosh | Takes the hyperbolic cosine of every element. | y = cosh x | jax.lax.cosh | lax.cosh(x)
tanh | Takes the hyperbolic tangent of every element: a smooth squash into (−1, 1). | y = tanh x | jax.lax.tanh | lax.tanh(x)
asinh | Takes the inverse hyperbolic sine of every element. | y = sinh⁻¹ x | jax.lax.asinh | lax.asinh(x)
acosh | Takes the inverse hyperbolic cosine of every element. | y = cosh⁻¹ x | jax.lax.acosh | lax.acosh(y + 1.0)
atanh | Takes the inverse hyperbolic tangent of every element. | y = tanh⁻¹ x | jax.lax.atanh | lax.atanh(x / 4)
logistic | Applies the sigmoid to every element. | y = 1 / (1 + e⁻ˣ) | jax.lax.logistic | lax.logistic(x)
erf | Applies the error function to every element. | y = erf x | jax.lax.erf | lax.erf(x)
erfc | Applies the complementary error function to every element. | y = 1 − erf x | jax.lax.erfc | lax.erfc(x)
erf_inv | Applies the inverse error function to every element (normal samples are made with it). | y = erf⁻¹ x | jax.lax.erf_inv | lax.erf_inv(x / 4)
lgamma | Takes the log of the absolute gamma function of every element. | y = ln|Γ(x)| | jax.lax.lgamma | lax.lgamma(x)
digamma | Takes the derivative of lgamma at every element. | y = ψ(x) | jax.lax.digamma | lax.digamma(x)
floor | Rounds every element down to an integer value. | y = ⌊x⌋ | jax.lax.floor | lax.floor(x * 1.5)
ceil | Rounds every element up to an integer value. | y = ⌈x⌉ | jax.lax.ceil | lax.ceil(x * 1.5)
round | Rounds every element to the nearest integer value (the rounding method is a parameter). | y = round(x) | jax.lax.round | lax.round(x * 1.5)
is_finite | Tells, element by element, whether a value is neither infinite nor NaN. | y = isfinite(x) | jax.lax.is_finite | lax.is_finite(x / (x - 1.0))
add | Adds two arrays element by element. | z = x + y | jax.lax.add | lax.add(x, y)
add_any | Adds two tangents or cotangents (a grad's accumulation of contributions to one value). | z = x + y | jax.lax.add (via autodiff) | -
sub | Subtracts the second array from the first, element by element. | z = x − y | jax.lax.sub | lax.sub(x, y)
mul | Multiplies two arrays element by element. | z = x · y | jax.lax.mul | lax.mul(x, y)
div | Divides the first array by the second, element by element (integer division rounds towards zero). | z = x / y | jax.lax.div | lax.div(x, y)
rem | Takes the remainder of dividing the first array by the second (sign of the dividend). | z = x − y·trunc(x/y) | jax.lax.rem | lax.rem(i, j)
max | Takes the larger of two elements, pair by pair. | z = max(x, y) | jax.lax.max | lax.max(x, y)
min | Takes the smaller of two elements, pair by pair. | z = min(x, y) | jax.lax.min | lax.min(x, y)
nextafter | Steps each element of x by one representable value towards y. | z = nextafter(x, y) | jax.lax.nextafter | lax.nextafter(x, y)
clamp | Limits every element of x to the range [lo, hi]. | y = min(max(x, lo), hi) | jax.lax.clamp | lax.clamp(0.8, x, 1.5)
eq | Compares two arrays element by element: true where equal. | z = (x = y) | jax.lax.eq | lax.eq(i, j)
ne | Compares two arrays element by element: true where different. | z = (x ≠ y) | jax.lax.ne | lax.ne(i, j)
lt | Compares two arrays element by element: true where the first is smaller. | z = (x < y) | jax.lax.lt | lax.lt(x, y)
le | Compares two arrays element by element: true where the first is smaller or equal. | z = (x ≤ y) | jax.lax.le | lax.le(x, y)
gt | Compares two arrays element by element: true where the first is larger. | z = (x > y) | jax.lax.gt | lax.gt(x, y)
ge | Compares two arrays element by element: true where the first is larger or equal. | z = (x ≥ y) | jax.lax.ge | lax.ge(x, y)
and | Takes logical (booleans) or bitwise (integers) AND, element by element. | z = x ∧ y | jax.lax.bitwise_and | lax.bitwise_and(p, q)
or | Takes logical (booleans) or bitwise (integers) OR, element by element. | z = x ∨ y | jax.lax.bitwise_or | lax.bitwise_or(p, q)
xor | Takes logical (booleans) or bitwise (integers) exclusive OR, element by element. | z = x ⊕ y | jax.lax.bitwise_xor | lax.bitwise_xor(p, q)
not | Takes logical (booleans) or bitwise (integers) NOT, element by element. | y = ¬x | jax.lax.bitwise_not | lax.bitwise_not(p)
shift_left | Shifts the bits of every integer left. | z = x << y | jax.lax.shift_left | lax.shift_left(u, jnp.uint32(2))
shift_right_logical | Shifts the bits of every integer right, filling with zeros (random bits become floats this way). | z = x >> y (zero fill) | jax.lax.shift_right_logical | lax.shift_right_logical(u, jnp.uint32(1))
shift_right_arithmetic | Shifts the bits of every integer right, copying the sign bit. | z = x >> y (sign fill) | jax.lax.shift_right_arithmetic | lax.shift_right_arithmetic(i, 1)
population_count | Counts the one bits of every integer. | y = popcount(x) | jax.lax.population_count | lax.population_count(i)
clz | Counts the leading zero bits of every integer. | y = clz(x) | jax.lax.clz | lax.clz(i)
select_n | Picks, element by element, from one of its cases by the index in the first input (false: the first case). | z = cases[which] | jax.lax.select_n | lax.select_n(p, x, y)
convert_element_type | Converts every element to another dtype (what `.astype` and weak-type promotion bind). | y = T(x) | jax.lax.convert_element_type | lax.convert_element_type(x * 3, jnp.int32)
bitcast_convert_type | Reinterprets the bits of every element as another dtype of the same width, without converting. | y = bits(x) as T | jax.lax.bitcast_convert_type | lax.bitcast_convert_type(x, jnp.int32)
reduce_precision | Rounds every element to fewer exponent and mantissa bits, keeping the dtype. | y = round(x, e, m) | jax.lax.reduce_precision | lax.reduce_precision(x / 3, 5, 2)
stop_gradient | Passes its input through unchanged; autodiff treats the result as a constant. | y = x, ∂y/∂x = 0 | jax.lax.stop_gradient | lax.stop_gradient(x)
copy | Makes a copy of an array (same values, a new buffer). | y = x | jax.numpy.array(x, copy=True) | jnp.array(x, copy=True)
copy_p | Makes a copy of an array (same values, a new buffer). | y = x | jax.numpy.array(x, copy=True) | -
real | Takes the real part of every complex element. | y = Re z | jax.lax.real | lax.real(x + 2j)
imag | Takes the imaginary part of every complex element. | y = Im z | jax.lax.imag | lax.imag(x + 2j)
conj | Takes the complex conjugate of every element. | y = z̄ | jax.lax.conj | lax.conj(x + 2j)
complex | Builds complex numbers from real and imaginary parts, element by element. | z = x + iy | jax.lax.complex | lax.complex(x, y)
dot_general | Multiplies and sums over the contracting dimensions, independently for each batch index: matmul, dot, einsum and batched matmul are all this one primitive. | out[b, i, j] = Σₖ a[b, i, k] · c[b, k, j] | jax.lax.dot_general | lax.dot_general(m, n, (([1], [0]), ([], [])))
conv_general_dilated | Slides a kernel over the spatial dimensions of the input and takes a dot product at every position (strides, padding, dilation and groups are parameters). | out[n, o, y, x] = Σ_{c,i,j} in[n, c, y·s+i, x·s+j] · w[o, c, i, j] | jax.lax.conv_general_dilated | lax.conv_general_dilated(img, ker, (1, 1), 'VALID')
ragged_dot | Multiplies row groups of different sizes, each by its own matrix. | out[rows of g] = lhs[rows of g] @ rhs[g] | jax.lax.ragged_dot | -
reduce_sum | Adds up the elements along some dimensions, removing them. | y = Σ_axes x | jax.lax.reduce_sum (jnp.sum) | jnp.sum(m, axis=0)
reduce_max | Takes the largest element along some dimensions, removing them. | y = max_axes x | jax.lax.reduce_max (jnp.max) | jnp.max(m, axis=1)
reduce_min | Takes the smallest element along some dimensions, removing them. | y = min_axes x | jax.lax.reduce_min (jnp.min) | jnp.min(m, axis=1)
reduce_prod | Multiplies the elements along some dimensions, removing them. | y = Π_axes x | jax.lax.reduce_prod (jnp.prod) | jnp.prod(m + 1, axis=0)
reduce_and | Is true along some dimensions where all elements are true. | y = ∀_axes x | jax.lax.reduce_and (jnp.all) | jnp.all(p)
reduce_or | Is true along some dimensions where any element is true. | y = ∃_axes x | jax.lax.reduce_or (jnp.any) | jnp.any(p)
reduce_xor | Takes exclusive OR along some dimensions. | y = ⊕_axes x | jax.lax.reduce_xor | lax.reduce_xor(p, (0,))
reduce_precision_p | Rounds to fewer bits. | y = round(x) | jax.lax.reduce_precision | -
argmax | Gives the index of the largest element along one dimension. | y = argmax_axis x | jax.lax.argmax (jnp.argmax) | jnp.argmax(m, axis=1)
argmin | Gives the index of the smallest element along one dimension. | y = argmin_axis x | jax.lax.argmin (jnp.argmin) | jnp.argmin(m, axis=1)
reduce | Folds the elements along some dimensions with a function of its own (its `jaxpr`). | y = fold(f, init, x) | jax.lax.reduce | lax.reduce(m, 0.0, lambda s, v: s + 2.0 * v, (0,))
reduce_window_sum | Adds up every window that slides over the input. | y[i] = Σ_{w} x[i·s + w] | jax.lax.reduce_window | -
reduce_window_max | Takes the largest element of every window that slides over the input (max pooling). | y[i] = max_{w} x[i·s + w] | jax.lax.reduce_window | -
reduce_window | Folds every sliding window with a function of its own. | y[i] = fold(f, x[window i]) | jax.lax.reduce_window | -
cumsum | Takes running sums along one dimension. | yᵢ = Σ_{k≤i} xₖ | jax.lax.cumsum (jnp.cumsum) | lax.cumsum(x)
cumprod | Takes running products along one dimension. | yᵢ = Π_{k≤i} xₖ | jax.lax.cumprod (jnp.cumprod) | lax.cumprod(x)
cummax | Takes the running maximum along one dimension. | yᵢ = max_{k≤i} xₖ | jax.lax.cummax | lax.cummax(y)
cummin | Takes the running minimum along one dimension. | yᵢ = min_{k≤i} xₖ | jax.lax.cummin | lax.cummin(y)
cumlogsumexp | Takes the running log-sum-exp along one dimension. | yᵢ = ln Σ_{k≤i} e^{xₖ} | jax.lax.cumlogsumexp | lax.cumlogsumexp(x)
sort | Sorts along one dimension; with several operands, the first ones are the keys and the rest follow them. | y = sort(x) | jax.lax.sort (jnp.sort) | lax.sort(y)
top_k | Gives the k largest elements of the last dimension and their indices. | (v, i) = top_k(x, k) | jax.lax.top_k | lax.top_k(y, 2)
broadcast_in_dim | Makes a larger array by placing the input's dimensions at chosen result dimensions and repeating it along the rest. | out[…] = x[dims mapped by broadcast_dimensions] | jax.lax.broadcast_in_dim | lax.broadcast_in_dim(x, (2, 3), (1,))
reshape | Gives the same elements, in row-major order, another shape. | out = x viewed as new_sizes | jax.lax.reshape | lax.reshape(m, (3, 2))
transpose | Permutes the dimensions. | out[…, i_{perm[k]}, …] = x[…, i_k, …] | jax.lax.transpose | lax.transpose(m, (1, 0))
squeeze | Removes dimensions of size 1. | out = x without its size-1 dims | jax.lax.squeeze | lax.squeeze(m[None], (0,))
expand_dims | Adds dimensions of size 1. | out = x with new size-1 dims | jax.lax.expand_dims | -
rev | Reverses the order of elements along some dimensions. | out[i] = x[n − 1 − i] | jax.lax.rev | lax.rev(x, (0,))
concatenate | Joins arrays end to end along one dimension. | out = [x₁; x₂; …] | jax.lax.concatenate | lax.concatenate([x, y], 0)
split | Cuts an array into consecutive pieces along one dimension. | [x₁, x₂, …] = x | jax.lax.split | lax.split(jnp.arange(5.0), (2, 3))
pad | Adds elements before, after and between the elements of every dimension (negative padding crops). | out = x with padding_value around | jax.lax.pad | lax.pad(x, 0.0, ((1, 2, 1),))
slice | Takes a fixed rectangular piece, with static start, end and stride. | out = x[start:limit:stride] | jax.lax.slice | lax.slice(m, (0, 1), (2, 3))
dynamic_slice | Takes a piece of a fixed size at start indices that are traced values. | out = x[s : s + size] | jax.lax.dynamic_slice | lax.dynamic_slice(x, (jnp.int32(1),), (2,))
dynamic_update_slice | Writes an update into a copy of the array at start indices that are traced values. | out = x; out[s : s + size] = u | jax.lax.dynamic_update_slice | lax.dynamic_update_slice(x, y[:2], (jnp.int32(1),))
gather | Collects slices of the operand at positions read from an index array: indexing with arrays (`x[idx]`, `take`) binds it. | out[b, …] = x[idx[b] + window] | jax.lax.gather (x[idx], jnp.take) | m.T[idx[:, 0]]
scatter | Writes updates into a copy of the operand at positions read from an index array (`x.at[idx].set`). | out = x; out[idx[b] + window] = u[b] | jax.lax.scatter (x.at[idx].set) | m.T.at[idx[:, 0]].set(-1.0)
scatter-add | Adds updates into a copy of the operand at positions read from an index array; repeated positions add up (`x.at[idx].add`, and the grad of gather). | out = x; out[idx[b] + window] += u[b] | jax.lax.scatter_add (x.at[idx].add) | m.T.at[idx[:, 0]].add(10.0)
scatter_add | Adds updates into a copy of the operand at positions read from an index array. | out[idx[b]] += u[b] | jax.lax.scatter_add | -
scatter-mul | Multiplies a copy of the operand by updates at positions read from an index array (`x.at[idx].multiply`). | out = x; out[idx[b] + window] *= u[b] | jax.lax.scatter_mul (x.at[idx].multiply) | m.T.at[idx[:, 0]].multiply(10.0)
scatter-min | Keeps the smaller of operand and update at positions read from an index array. | out[idx[b]] = min(out, u[b]) | jax.lax.scatter_min (x.at[idx].min) | m.T.at[idx[:, 0]].min(1.0)
scatter-max | Keeps the larger of operand and update at positions read from an index array. | out[idx[b]] = max(out, u[b]) | jax.lax.scatter_max (x.at[idx].max) | m.T.at[idx[:, 0]].max(1.0)
select_and_scatter_add | Sends each window's update to the position its selection (the max) picked: the grad of max pooling. | out[argmax of window] += u | jax.lax internals (grad of reduce_window_max) | -
select_and_gather_add | Picks, per window, the tangent at the position of the window's max: the jvp of max pooling. | out = t[argmax of window] | jax.lax internals (jvp of reduce_window_max) | -
iota | Makes an array of 0, 1, 2, … along one dimension. | out[…, i, …] = i | jax.lax.iota (jnp.arange) | lax.iota(jnp.int32, 4)
empty | Makes an array whose values are never read (a placeholder buffer). | out = uninitialised | jax.lax.empty | -
empty2 | Makes an array whose values are never read (a placeholder buffer for a loop's outputs). | out = uninitialised | jax.lax internals | -
stack | Stacks arrays along a new leading dimension. | out[k] = xₖ | jax.numpy.stack (inside transforms) | -
unstack | Splits an array along its leading dimension into separate arrays. | xₖ = x[k] | jax.lax internals | -
device_put | Moves or copies an array to a device or sharding. | y = x (placed) | jax.device_put | jax.device_put(x)
sharding_constraint | Asks the compiler for a sharding of the value at this point (values unchanged). | y = x | jax.lax.with_sharding_constraint | -
reshard | Changes the sharding of a value between explicit-sharding layouts (values unchanged). | y = x (resharded) | jax.sharding.reshard | -
random_seed | Makes a PRNG key from an integer seed. | key = seed(n) | jax.random.key | jax.random.key(42)
random_bits | Draws uniformly random bits of a given shape from a key. | bits = threefry(key, counter) | jax.random.bits | jax.random.bits(key, (3,))
random_split | Splits a key into several independent keys. | keys = split(key) | jax.random.split | jax.random.split(key, 2)
random_fold_in | Mixes an integer into a key, giving a new key. | key′ = fold_in(key, n) | jax.random.fold_in | jax.random.fold_in(key, 7)
random_wrap | Turns raw key data (uint32 words) into a typed key. | key = wrap(data) | jax.random.wrap_key_data | jax.random.wrap_key_data(jnp.array([0, 7], dtype=jnp.uint32))
random_unwrap | Turns a typed key into its raw uint32 data. | data = unwrap(key) | jax.random.key_data | jax.random.key_data(key)
random_clone | Marks a key as a copy, for programs that reuse keys on purpose. | key′ = key | jax.random.clone | jax.random.clone(key)
threefry2x32 | Runs the Threefry-2x32 block cipher on pairs of uint32 words: the hash under JAX's default random numbers. | (y₀, y₁) = threefry(k₀, k₁, x₀, x₁) | jax.extend.random.threefry_2x32 | jax.extend.random.threefry_2x32(jnp.array([0, 1], dtype=jnp.uint32), jnp.arange(4, dtype=jnp.uint32))
jit | Calls a nested jaxpr as one function (every `jax.jit`-decorated call, and library helpers like `_where`). | outs = jaxpr(*ins) | jax.jit | jax.jit(jnp.sin)(x)
pjit | Calls a nested jaxpr as one function (the older name of `jit`). | outs = jaxpr(*ins) | jax.jit | -
closed_call | Calls a nested jaxpr as one function. | outs = jaxpr(*ins) | jax.extend.core (internal calls) | -
core_call | Calls a nested jaxpr as one function. | outs = jaxpr(*ins) | jax.extend.core (internal calls) | -
cond | Runs one of its branches, chosen by an integer index (a boolean predicate becomes 0 or 1); only that branch runs. | outs = branches[index](*ops) | jax.lax.cond / jax.lax.switch | lax.cond(x[0] > 1.0, jnp.sin, jnp.cos, x)
while | Runs its body on a carry again and again as long as its condition on the carry is true. | while cond(c): c = body(c) | jax.lax.while_loop (and fori_loop) | lax.while_loop(lambda c: c < 10.0, lambda c: c * 2.0, 1.0)
scan | Runs its body once per slice of the scanned inputs, threading a carry and stacking the per-step outputs. | c, ys[t] = body(c, xs[t]) | jax.lax.scan | lax.scan(lambda c, a: (c + a, c * a), 0.0, x)
custom_jvp_call | Calls a function whose derivative is given by a rule of its own (`jax.custom_jvp`, e.g. jax.nn.relu) instead of being traced through. | outs = f(*ins), with a custom jvp | jax.custom_jvp | jax.nn.relu(x - 1.0)
custom_vjp_call | Calls a function whose backward pass is given by a rule of its own (`jax.custom_vjp`). | outs = f(*ins), with custom fwd/bwd | jax.custom_vjp | clip_gradient(x)
custom_vjp_call_jaxpr | Calls a function whose backward pass is given by a rule of its own (`jax.custom_vjp`). | outs = f(*ins), with custom fwd/bwd | jax.custom_vjp | -
custom_lin | Stands for a custom_vjp's backward rule in a linearized program, until transposition runs it. | ct_in = bwd(res, ct_out) | jax.custom_vjp (internal) | -
checkpoint | Runs its jaxpr and, under grad, recomputes it in the backward pass instead of saving its intermediates. | outs = jaxpr(*ins); backward recomputes | jax.checkpoint (jax.remat) | -
remat2 | Runs its jaxpr and, under grad, recomputes it in the backward pass instead of saving its intermediates (the `checkpoint` primitive). | outs = jaxpr(*ins); backward recomputes | jax.checkpoint (jax.remat) | jax.checkpoint(jnp.sin)(x)
shard_map | Runs its jaxpr once per device on that device's shard of the inputs (per-device code; collectives talk between them). | out shards = jaxpr(in shards) per device | jax.shard_map | jax.shard_map(lambda a: a * 2.0, mesh=mesh, in_specs=P('i'), out_specs=P('i'))(x)
xla_pmap | Runs its jaxpr once per device, mapped over the leading dimension (`jax.pmap`). | outs[d] = jaxpr(ins[d]) | jax.pmap | -
psum | Sums a value over the devices (or vmapped instances) of a named mesh axis: every one gets the total. | y = Σ_devices x | jax.lax.psum | jax.shard_map(lambda a: lax.psum(a, 'i'), mesh=mesh, in_specs=P('i'), out_specs=P(), check_vma=False)(x)
psum_invariant | Sums a value over a mesh axis when the result is known to be the same on every device. | y = Σ_devices x | jax.lax.psum (under shard_map) | -
pmax | Takes the maximum of a value over the devices of a named axis. | y = max_devices x | jax.lax.pmax | jax.shard_map(lambda a: lax.pmax(a, 'i'), mesh=mesh, in_specs=P('i'), out_specs=P())(x)
pmin | Takes the minimum of a value over the devices of a named axis. | y = min_devices x | jax.lax.pmin | jax.shard_map(lambda a: lax.pmin(a, 'i'), mesh=mesh, in_specs=P('i'), out_specs=P())(x)
pmean | Averages a value over the devices of a named axis. | y = mean_devices x | jax.lax.pmean | -
ppermute | Sends each device's value to another device, by a fixed list of (source, destination) pairs. | y[dst] = x[src] | jax.lax.ppermute | jax.shard_map(lambda a: lax.ppermute(a, 'i', [(0, 0)]), mesh=mesh, in_specs=P('i'), out_specs=P('i'))(x)
all_gather | Gives every device the values of all devices along a named axis, stacked or concatenated. | y = [x₀, x₁, …] | jax.lax.all_gather | jax.shard_map(lambda a: lax.all_gather(a, 'i'), mesh=mesh, in_specs=P('i'), out_specs=P(), check_vma=False)(x)
all_to_all | Splits each device's value into pieces and sends piece k to device k. | y[d][k] = x[k][d] | jax.lax.all_to_all | -
reduce_scatter | Sums over the devices of an axis and leaves each device one piece of the total. | y[d] = (Σ x)[piece d] | jax.lax.psum_scatter | -
psum_scatter | Sums over the devices of an axis and leaves each device one piece of the total. | y[d] = (Σ x)[piece d] | jax.lax.psum_scatter | -
axis_index | Gives the index of this device along a named mesh axis. | y = index on axis | jax.lax.axis_index | jax.shard_map(lambda a: a + lax.axis_index('i'), mesh=mesh, in_specs=P('i'), out_specs=P('i'))(x)
pvary | Marks a value as varying across a mesh axis (a type change only: every device keeps its value). | y = x (varying over axes) | jax.lax.pcast | -
pbroadcast | Marks a value as varying across a mesh axis (a type change only). | y = x | jax.lax internals (shard_map) | -
pure_callback | Calls back into Python on the host with concrete values; the result's shape is declared in advance. | outs = callback(*ins) | jax.pure_callback | -
io_callback | Calls back into Python on the host, with side effects kept in order. | outs = callback(*ins) | jax.experimental.io_callback | -
debug_callback | Calls back into Python for `jax.debug.print` and friends; returns nothing. | callback(*ins) | jax.debug.callback | -
optimization_barrier | Passes values through unchanged while stopping the compiler from moving work across it. | ys = xs | jax.lax.optimization_barrier | lax.optimization_barrier(x)
name | Passes a value through unchanged, attaching a name to it (for tools). | y = x | jax.ad_checkpoint.checkpoint_name | -
"""


def _rows(table: str) -> dict[str, Doc]:
    """Parse `_TABLE`: one `name | summary | formula | binds | example` row per primitive."""
    docs = {}
    for line in table.strip().splitlines():
        name, summary, formula, binds, example = (part.strip() for part in line.split(" | "))
        docs[name] = Doc(summary, formula, binds, "" if example == "-" else example)
    return docs


DOCS: dict[str, Doc] = _rows(_TABLE)
