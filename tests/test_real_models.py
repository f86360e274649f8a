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
    assert result.jaxpr_after == reference_jaxpr(name, fn, args, transforms)
    assert result.hlo and "ENTRY" in result.hlo


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
    assert "mul 3.0:f32[] a" in result.jaxpr_after


def test_a_failed_load_leaves_nothing_registered(tmp_path):
    path = tmp_path / "explorer_broken.py"
    with pytest.raises(ZeroDivisionError):
        load_module("1 / 0\n", str(path))
    assert "explorer_broken" not in sys.modules
