"""Every sample through every stage, compared with JAX's own output in the same run."""

from __future__ import annotations

import re

import jax
import pytest

from inspectors import Request, inspect
from inspectors.catalog import STREAMS, list_samples
from inspectors.source import eval_args, read_defaults
from inspectors.transforms import apply_pipeline, parse_pipeline, static_argnums
from tests.jax_reference import exec_source, reference_texts
from tests.test_pipeline import assert_every_equation_placed, strip_locations, strip_stack_frames

SAMPLES = list_samples()
EXPECTED_ERRORS = {"control_flow_concretization_error": "TracerBoolConversionError"}
# Pipelines whose transform hands `f` other shapes than the inputs (per example).
PER_EXAMPLE = ("vmap", "jacfwd", "jacrev", "hessian")


def test_there_are_enough_samples_in_every_stream():
    assert len(SAMPLES) >= 15
    by_stream = {s.stream for s in SAMPLES}
    assert set(STREAMS) <= by_stream, set(STREAMS) - by_stream
    for sample in SAMPLES:
        assert sample.doc and sample.title and sample.entry, sample.name
        assert sample.args is not None, sample.name


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_sample_matches_jax_at_every_stage(sample):
    source = sample.source()
    result = inspect(Request(source=source, filename=sample.path), use_cache=False)
    if sample.name in EXPECTED_ERRORS:
        assert result.error.kind == EXPECTED_ERRORS[sample.name]
        assert result.error.location.code.strip().startswith("if ")
        return
    assert result.ok, result.error.format()
    defaults = read_defaults(source)
    module = exec_source(source, sample.path)
    f = getattr(module, defaults.entry)
    pipeline = parse_pipeline(defaults.transforms)
    g = apply_pipeline(f, pipeline)
    args = eval_args(defaults.args, module)
    static = static_argnums(pipeline)
    expected = reference_texts(g, f, args, static)
    assert result.jaxpr().text == expected["after"]
    # JAX reuses cached lowerings of library functions (threefry) in one process, with the
    # argument locations of whoever lowered them first: compare the text around them exactly.
    assert strip_locations(result.text_of("stablehlo")) == strip_locations(expected["stablehlo"])
    assert strip_locations(result.text_of("stablehlo-debug")) == strip_locations(expected["stablehlo_debug"])
    assert strip_stack_frames(result.text_of("hlo")) == strip_stack_frames(expected["hlo"])
    if not any(t.name in PER_EXAMPLE for t in pipeline):
        assert result.jaxpr(0).text == expected["before"]
    else:
        assert re.match(r"(let|\{ lambda)", result.jaxpr(0).text)
    assert result.equations() >= 1 and result.cost is not None
    for stage in result.jaxpr_stages():  # hoisted `let name = { lambda ... } in` sub-jaxprs included
        assert_every_equation_placed(stage.text, stage.model)


def test_parallel_samples_see_several_devices():
    assert len(jax.devices()) == 4


FRESH = """
import sys
sys.path.insert(0, {root!r})
from inspectors import jaxsetup
jax = jaxsetup.jax()
from inspectors import Request, inspect
from inspectors.source import eval_args, read_defaults
from tests.jax_reference import exec_source
source = open({path!r}).read()
result = inspect(Request(source=source, filename={path!r}))
d = read_defaults(source)
module = exec_source(source, {path!r})
f = getattr(module, d.entry)
args = eval_args(d.args, module)
lowered = jax.jit(f).lower(*args)
print(result.text_of("stablehlo") == lowered.as_text(), result.text_of("hlo") == lowered.compile().as_text())
"""


@pytest.mark.parametrize("name", ["randomness_keys_split", "randomness_fold_in"])
def test_in_a_fresh_process_the_text_is_byte_identical(root, name):
    import subprocess
    import sys

    path = str(root / "samples" / f"{name}.py")
    script = FRESH.format(root=str(root), path=path)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert proc.stdout.split() == ["True", "True"], proc.stderr[-2000:]
