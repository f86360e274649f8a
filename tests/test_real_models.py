"""Real models in: Flax linen / struct / NNX and Equinox files load and trace exactly as JAX sees them."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import jax
import pytest

from inspectors import Request, inspect
from inspectors.source import eval_args, load_module
from inspectors.transforms import apply_pipeline, parse_pipeline

MODELS = Path(__file__).parent / "models"


def import_file(path: Path, name: str) -> types.ModuleType:
    """Import a file the way Python's own import does (the reference, not our loader)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def inspect_file(name: str, fn: str, args: str, transforms: list[str]):
    """Inspect a model file from tests/models."""
    path = MODELS / f"{name}.py"
    return inspect(Request(path.read_text(), str(path), fn, args, transforms), use_cache=False)


def reference_jaxpr(name: str, fn: str, args: str, transforms: list[str]) -> str:
    """JAX's own make_jaxpr of the same pipeline on the same file, imported by Python."""
    module = import_file(MODELS / f"{name}.py", f"reference_{name}")
    g = apply_pipeline(getattr(module, fn), parse_pipeline(transforms))
    return str(jax.make_jaxpr(g)(*eval_args(args, module)))


CASES = [
    ("linen_mlp", "loss", "params, f32[4,8]", ["grad", "jit"]),
    ("struct_state", "sgd_step", "state, f32[4,8]", ["jit"]),
    ("eqx_mlp", "loss", "model, f32[4,8]", ["grad", "jit"]),
    ("nnx_mlp", "loss", "model, f32[4,8]", ["grad", "jit"]),
]


@pytest.mark.parametrize(("name", "fn", "args", "transforms"), CASES, ids=[c[0] for c in CASES])
def test_dataclass_models_load_and_match_jax(name, fn, args, transforms):
    result = inspect_file(name, fn, args, transforms)
    assert result.ok, result.error.format()
    assert result.jaxpr().text == reference_jaxpr(name, fn, args, transforms)
    assert result.text_of("hlo") and "ENTRY" in result.text_of("hlo")


def test_user_code_does_not_inherit_our_future_flags():
    # inspectors/source.py has `from __future__ import annotations`; user code must not.
    module = load_module("def f(x: int) -> int:\n    return x\nHINT = f.__annotations__['x']\n", "flags.py")
    assert module.HINT is int


def test_module_is_registered_under_its_own_name_while_it_runs(tmp_path):
    path = tmp_path / "explorer_own_name.py"
    path.write_text("import sys\nSEEN = sys.modules[__name__] .__dict__ is globals()\n")
    module = load_module(path.read_text(), str(path))
    assert module.__name__ == "explorer_own_name" and module.SEEN


def test_a_file_named_like_a_library_never_replaces_it():
    module = load_module("X = 1\n", "/somewhere/jax.py")
    assert sys.modules["jax"] is jax and module.__name__ != "jax"


def test_sibling_modules_import_from_the_files_folder(tmp_path):
    (tmp_path / "explorer_sibling_helper.py").write_text("def scale(x):\n    return 3.0 * x\n")
    path = tmp_path / "main_model.py"
    path.write_text("from explorer_sibling_helper import scale\n\ndef f(x):\n    return scale(x)\n")
    result = inspect(Request(path.read_text(), str(path), "f", "f32[2]", []), use_cache=False)
    assert result.ok, result.error.format()
    assert "mul 3.0:f32[] a" in result.jaxpr().text


def test_a_failed_load_leaves_nothing_registered(tmp_path):
    path = tmp_path / "explorer_broken.py"
    with pytest.raises(ZeroDivisionError):
        load_module("1 / 0\n", str(path))
    assert "explorer_broken" not in sys.modules


# ---------------------------------------------------------------- entries and inputs as real code has them


def reference_module(name: str) -> types.ModuleType:
    """The model file imported by Python itself."""
    return import_file(MODELS / f"{name}.py", f"reference_{name}")


X = jax.ShapeDtypeStruct((4, 8), jax.numpy.float32)


def test_entry_can_be_a_partial_over_the_model():
    result = inspect_file("nnx_mlp", "partial(loss, model)", "f32[4,8]", ["grad", "jit"])
    assert result.ok, result.error.format()
    ref = reference_module("nnx_mlp")
    from functools import partial

    assert result.jaxpr().text == str(jax.make_jaxpr(jax.jit(jax.grad(partial(ref.loss, ref.model))))(X))
    assert result.expression == "jit(grad(partial(loss, model)))"


def test_entry_can_be_a_bound_method():
    result = inspect_file("eqx_mlp", "model.__call__", "f32[8]", ["jit"])
    assert result.ok, result.error.format()
    ref = reference_module("eqx_mlp")
    assert result.jaxpr().text == str(jax.make_jaxpr(jax.jit(ref.model.__call__))(X.update(shape=(8,))))


def test_entry_expression_errors_name_the_entry():
    result = inspect_file("eqx_mlp", "model.nonexistent", "f32[8]", [])
    assert result.error.stage == "load" and "nonexistent" in result.error.message
    result = inspect_file("eqx_mlp", "model.first.weight", "f32[8]", [])
    assert result.error.stage == "load" and "not a function" in result.error.message


KW_SOURCE = """import jax.numpy as jnp


def f(x, *, scale, train=True):
    y = jnp.sin(x) * scale
    return jnp.sum(y if train else 2 * y)
"""


def test_inputs_take_keyword_arguments_traced_like_jax(tmp_path):
    path = tmp_path / "explorer_kw.py"
    path.write_text(KW_SOURCE)
    request = Request(KW_SOURCE, str(path), "f", "f32[3], scale=f32[3], train=False", ["grad", "jit"], time=True)
    result = inspect(request, use_cache=False)
    assert result.ok, result.error.format()
    f = import_file(path, "reference_kw").f

    def f_static(x, *, scale, train=None):  # `train=False` kept static, as eqx.filter_jit keeps it
        return f(x, scale=scale, train=False)

    f_static.__name__ = "f"
    spec = jax.ShapeDtypeStruct((3,), jax.numpy.float32)
    expected = jax.make_jaxpr(jax.jit(jax.grad(f_static)))(spec, scale=spec, train=None)
    assert result.jaxpr().text == str(expected)
    assert "2.0" in result.jaxpr().text  # the `train=False` branch was taken
    assert "scale" in result.jaxpr().model.arg_paths and result.timing is not None


def test_non_array_leaves_are_kept_static_like_filter_jit():
    # eqx.nn.MLP holds `jax.nn.relu` as a leaf: plain jax.jit rejects it, eqx.filter_jit keeps it static.
    import equinox as eqx

    result = inspect_file("eqx_mlp", "loss", "mlp, f32[4,8]", ["grad", "jit"])
    assert result.ok, result.error.format()
    ref = reference_module("eqx_mlp")
    dynamic, static = eqx.partition(ref.mlp, eqx.is_array)

    def loss(dyn, x):
        return ref.loss(eqx.combine(dyn, static), x)

    assert result.jaxpr().text == str(jax.make_jaxpr(jax.jit(jax.grad(loss)))(dynamic, X))
    assert result.jaxpr().model.arg_paths[0] == "model.layers[0].weight"


LIBRARY_PIPELINES = [
    ("nnx_mlp", "model", ["nnx.grad", "nnx.jit"]),
    ("nnx_mlp", "drop_model", ["nnx.grad", "nnx.jit"]),
    ("nnx_mlp", "model", ["nnx.vmap(in_axes=(None, 0))", "nnx.jit"]),
    ("eqx_mlp", "model", ["eqx.filter_grad", "eqx.filter_jit"]),
    ("eqx_mlp", "model", ["eqx.filter_vmap(in_axes=(None, 0))", "eqx.filter_jit"], (3, 4, 8)),
    ("eqx_mlp", "mlp", ["eqx.filter_value_and_grad", "eqx.filter_jit"]),
]


@pytest.mark.parametrize("case", LIBRARY_PIPELINES, ids=lambda c: f"{c[0]}-{c[1]}-{'-'.join(c[2])}")
def test_library_transforms_show_the_jaxpr_jax_traces(case):
    import equinox as eqx

    name, model, pipeline, *shape = case
    shape = shape[0] if shape else (4, 8)
    result = inspect_file(name, "loss", f"{model}, f32[{','.join(map(str, shape))}]", pipeline)
    assert result.ok, result.error.format()
    ref = reference_module(name)
    dynamic, static = eqx.partition(getattr(ref, model), eqx.is_array)

    def loss(dyn, x):
        return ref.loss(eqx.combine(dyn, static), x)

    if name == "nnx_mlp":  # NNX modules are pytrees of arrays: nothing to keep static
        loss, dynamic = ref.loss, getattr(ref, model)
    g = apply_pipeline(loss, parse_pipeline(pipeline))
    assert result.jaxpr().text == str(jax.make_jaxpr(g)(dynamic, X.update(shape=shape)))
    assert result.expression.startswith(pipeline[-1].split("(")[0] + "(")


# ---------------------------------------------------------------- dead programs are called out, not timed

DEAD_STEP = """import jax.numpy as jnp
import optax
from flax import nnx


class Linear(nnx.Module):
    def __init__(self, rngs):
        self.layer = nnx.Linear(4, 1, rngs=rngs)

    def __call__(self, x):
        return self.layer(x)


model = Linear(nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)


def loss_fn(model, x):
    return jnp.mean(model(x) ** 2)


def train_step(model, optimizer, x):
    grads = nnx.grad(loss_fn)(model, x)
    optimizer.update(model, grads)


def passthrough(x):
    return x
"""


def test_a_train_step_that_returns_nothing_is_called_out_and_not_timed(tmp_path):
    path = tmp_path / "explorer_dead.py"
    path.write_text(DEAD_STEP)
    request = Request(DEAD_STEP, str(path), "train_step", "model, optimizer, f32[8,4]", ["jit"], time=True)
    result = inspect(request, use_cache=False)
    assert result.ok, result.error.format()
    assert result.jaxpr().model.outvars == [] and result.equations() > 5  # traced work, all dead
    assert "ENTRY" in result.text_of("hlo") and "() -> ()" in result.text_of("hlo")
    assert result.find("hlo").note.startswith("the function returns nothing")
    assert result.timing is None


def test_a_program_xla_reduced_to_nothing_is_called_out(tmp_path):
    path = tmp_path / "explorer_dead2.py"
    path.write_text(DEAD_STEP)
    result = inspect(Request(DEAD_STEP, str(path), "passthrough", "f32[3]", ["jit"], time=True), use_cache=False)
    assert result.find("hlo").note.startswith("XLA removed all work") and result.timing is None
    live = inspect(Request(DEAD_STEP, str(path), "loss_fn", "model, f32[8,4]", ["jit"], time=True), use_cache=False)
    assert not live.find("hlo").note and live.timing is not None


def test_the_entry_opcodes_read_alone_equal_the_parsed_modules(tmp_path):
    from inspectors import dead, hlo_text

    path = tmp_path / "explorer_dead4.py"
    path.write_text(DEAD_STEP)
    result = inspect(Request(DEAD_STEP, str(path), "loss_fn", "model, f32[8,4]", ["grad", "jit"]), use_cache=False)
    hlo = result.text_of("hlo")
    module = hlo_text.parse(hlo)
    assert len(module.computations) > 1 and not module.entry.startswith("fused")  # fusions come before ENTRY
    assert dead.entry_opcodes(hlo) == [i.opcode for i in module.computations[module.entry].instructions]


def test_the_cli_says_why_a_dead_program_was_not_timed(tmp_path):
    import subprocess

    path = tmp_path / "explorer_dead3.py"
    path.write_text(DEAD_STEP)
    cmd = [sys.executable, "-m", "inspectors", str(path), "--fn", "train_step", "--args", "model, optimizer, f32[8,4]",
           "--transform", "jit", "--time", "--emit", "hlo"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "# not timed: the function returns nothing" in done.stderr and "median" not in done.stderr


# ---------------------------------------------------------------- the hosted sandbox serves real code

STAGE_SPY = """from inspectors import pipeline

SEEN = [pipeline.running_stage()]


def f(x):
    SEEN.append(pipeline.running_stage())
    return (x * 2.0).sum()
"""


def test_the_running_stage_is_visible_to_a_watchdog(tmp_path):
    path = tmp_path / "explorer_stage_spy.py"
    path.write_text(STAGE_SPY)
    result = inspect(Request(STAGE_SPY, str(path), "f", "f32[3]", ["grad", "jit"]), use_cache=False)
    assert result.ok, result.error.format()
    seen = sys.modules["explorer_stage_spy"].SEEN
    assert seen[0] == "import" and set(seen[1:]) == {"trace"}
    from inspectors import pipeline

    assert pipeline.running_stage() == ""  # nothing runs between requests


def test_workers_preload_the_model_libraries_without_starting_a_backend():
    import subprocess

    script = (
        "import sys\nfrom inspectors.sandbox import jobs\njobs.preload()\n"
        "from jax._src import xla_bridge\n"
        "print(all(m in sys.modules for m in jobs.PRELOAD_LIBRARIES), bool(xla_bridge._backends))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                          cwd=Path(__file__).parent.parent)  # fmt: skip
    assert done.stdout.split() == ["True", "False"], done.stderr[-2000:]


def test_the_walkthrough_takes_an_expression_entry():
    from inspectors.walkthrough import walkthrough

    path = MODELS / "eqx_mlp.py"
    request = Request(path.read_text(), str(path), "model.__call__", "f32[8]", ["jit"])
    out = walkthrough(request, inspect_stages=False)
    assert out.error is None, out.error and out.error.format()
    assert out.entry == "model.__call__" and out.expression == "jit(model.__call__)"
