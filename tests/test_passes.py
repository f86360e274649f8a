"""XLA's passes and kernels: the chain's pass stages are XLA's own dump, in order, ending at Compiled.as_text()."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from inspectors import Request, hlo_text, inspect, passes, pipeline
from inspectors.cli import main
from tests.jax_reference import exec_source

SOURCE = """\
import jax.numpy as jnp


def f(x, w):
    for _ in range(3):
        x = jnp.tanh(x @ w) + x
    return jnp.sum(x)
"""
ARGS = "f32[8,8], f32[8,8]"
SPEC = jax.ShapeDtypeStruct((8, 8), jnp.float32)


@pytest.fixture(scope="module")
def result():
    request = Request(source=SOURCE, filename="passes.py", fn="f", args=ARGS, transforms=["grad", "jit"])
    out = inspect(request, use_cache=False)
    assert out.ok, out.error and out.error.format()
    return out


@pytest.fixture(scope="module")
def xla_dump(tmp_path_factory):
    """XLA's own dump of the same compile, made with JAX directly."""
    folder = tmp_path_factory.mktemp("xla")
    f = exec_source(SOURCE, "passes.py").f
    options = {"xla_dump_to": str(folder), "xla_dump_hlo_pass_re": ".*", "xla_dump_hlo_as_text": True}
    compiled = jax.jit(jax.grad(f)).lower(SPEC, SPEC).compile(options)
    return folder, compiled.as_text()


def _dump_texts(folder: Path) -> tuple[str, list[tuple[str, str, str]], str]:
    """(module XLA started from, [(pipeline, pass, module text)] for each dump that changed it, optimized module)."""
    files = sorted(folder.iterdir())
    before = next(p for p in files if p.name.endswith(".before_optimizations.txt"))
    prefix = before.name.removesuffix("before_optimizations.txt")
    state, changed = before.read_text(), []
    for path in files:
        m = re.match(re.escape(prefix) + r"\d{4}\.([^.]+)\.after_(.+?)(?:\.before_.+)?\.txt$", path.name)
        if m and path.read_text() != state:
            state = path.read_text()
            changed.append((m.group(1), m.group(2), state))
    return before.read_text(), changed, (folder / (prefix + "cpu_after_optimizations.txt")).read_text()


def _sorted_backend_configs(text: str) -> str:
    """XLA prints backend_config JSON keys in either order: compare them sorted."""
    out, pos, decoder = [], 0, json.JSONDecoder()
    while (start := text.find("backend_config=", pos)) >= 0:
        start += len("backend_config=")
        value, end = decoder.raw_decode(text, start)
        out += [text[pos:start], json.dumps(value, sort_keys=True)]
        pos = end
    return "".join(out) + text[pos:]


def _strip_frames(text: str) -> str:
    """Drop the source tables (they name each caller's line) and the ids into them."""
    text = re.sub(r"\n(FileNames|FunctionNames|FileLocations|StackFrames)\n(.+\n)*", "\n", text)
    return re.sub(r"stack_frame_id=\d+", "stack_frame_id=N", text)


def test_pass_stages_are_xla_dump_of_every_pass_that_changed_the_module(result, xla_dump):
    folder, _ = xla_dump
    before, changed, optimized = _dump_texts(folder)
    stages = result.of_kind("hlo-pass")
    assert [s.id for s in stages] == [f"hlo-pass:{i}" for i in range(len(changed) + 1)]
    names = [(s.pipeline, s.pass_name) for s in stages[1:]]
    expected = [(p, n if n != "pipeline-start" else f"(between pipelines, before {p})") for p, n, _ in changed]
    assert names == expected
    assert ("HLO_passes_after_layout_assignment", "fusion") in names
    assert _strip_frames(result.text_of("hlo-pass:0")) == _strip_frames(before)
    for stage, (_, _, text) in zip(stages[1:], changed, strict=True):
        assert _strip_frames(result.text_of(stage.id)) == _strip_frames(text), stage.id
    assert result.text_of(stages[-1].id) != result.text_of(stages[-2].id)
    assert _strip_frames(changed[-1][2]) == _strip_frames(optimized)


def test_last_pass_module_is_the_compiled_module(result, xla_dump):
    _, compiled_text = xla_dump
    last = result.of_kind("hlo-pass")[-1].id
    assert _sorted_backend_configs(_strip_frames(result.text_of(last))) == _sorted_backend_configs(_strip_frames(compiled_text))
    assert _sorted_backend_configs(result.text_of(last)) == _sorted_backend_configs(result.text_of("hlo"))


def test_pass_stages_store_deltas_and_count_opcodes(result):
    stored = result.of_kind("hlo-pass")
    assert stored[0].text is not None and all(s.text is None and s.delta and not s.stats for s in stored[1:])
    stages = [result.stage(s.id) for s in stored]
    fusion = next(s for s in stages if s.pass_name == "fusion")
    assert result.stage(fusion.base).stats.get("fusion", 0) < fusion.stats["fusion"]
    for stage in stages:  # counted on demand by the quick regex scan, which agrees with the full parse
        assert stage.stats == hlo_text.opcode_counts(hlo_text.parse(stage.text))


def test_kernels_have_llvm_ir_and_assembly(result):
    llvm, asm = result.of_kind("llvm"), result.of_kind("asm")
    assert llvm and {s.name for s in llvm} == {s.name for s in asm}
    assert all("define " in s.text for s in llvm)
    if shutil.which("objdump"):
        assert all("Disassembly of section" in s.text and s.name + ".o" in s.text for s in asm)


def test_assembly_says_it_is_unavailable_without_objdump(monkeypatch):
    monkeypatch.setattr(passes.shutil, "which", lambda name: None)
    request = Request(source=SOURCE, filename="passes.py", fn="f", args="f32[2,2], f32[2,2]", transforms=["jit"])
    out = inspect(request, use_cache=False)
    asm = out.of_kind("asm")
    assert asm and all(s.text is None and "objdump (binutils) is not installed" in s.note for s in asm)


def test_a_module_too_large_to_record_says_so_and_still_compiles(monkeypatch):
    monkeypatch.setattr(passes, "MAX_MODULE_BYTES", 100)
    request = Request(source=SOURCE, filename="passes.py", fn="f", args=ARGS, transforms=["jit"])
    out = inspect(request, use_cache=False)
    assert out.ok and out.text_of("hlo")
    (stage,) = out.of_kind("hlo-pass")
    assert stage.text is None and "passes were not recorded" in stage.note


def test_recording_passes_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(pipeline, "RECORD_PASSES", False)
    request = Request(source=SOURCE, filename="passes.py", fn="f", args=ARGS, transforms=["jit"])
    out = inspect(request, use_cache=False)
    assert out.ok and out.text_of("hlo") and not out.of_kind("hlo-pass") and not out.of_kind("llvm")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_emits_passes_and_the_module_after_a_pass(capsys, tmp_path, result):
    path = tmp_path / "passes.py"
    path.write_text(SOURCE)
    common = [path, "--fn", "f", "--args", ARGS, "--transform", "grad", "--transform", "jit"]
    code, out, _ = run_cli(capsys, *common, "--emit", "passes")
    rows = out.splitlines()
    stages = result.of_kind("hlo-pass")
    assert code == 0 and len(rows) == len(stages)
    assert [r.split()[0] for r in rows] == [str(i) for i in range(len(stages))]
    fusion = next(s for s in stages if s.pass_name == "fusion")
    assert rows[fusion.index].split() == [str(fusion.index), "HLO_passes_after_layout_assignment", "fusion"]
    code, out, _ = run_cli(capsys, *common, "--emit", f"hlo-pass:{fusion.index}")
    assert code == 0 and _strip_frames(out) == _strip_frames(result.text_of(fusion.id))
    code, out, _ = run_cli(capsys, *common, "--emit", "llvm")
    assert code == 0 and all(f"; kernel {s.name}\n" in out for s in result.of_kind("llvm"))


def test_a_gpu_dump_folder_gives_ptx_stages(tmp_path):
    """The PTX a GPU backend dumps (one file per module) becomes a `ptx:` stage (no GPU needed to read it)."""
    module = "module_0007.jit_f"
    (tmp_path / f"{module}.before_optimizations.txt").write_text(HLO_A)
    (tmp_path / f"{module}.0003.fusion.after_fusion.before_dce.txt").write_text(HLO_B)
    (tmp_path / f"{module}.ptx").write_text("//\n// Generated by LLVM NVPTX Back-End\n.version 8.0\n")
    (tmp_path / "module_0006.jit_helper.before_optimizations.txt").write_text("HloModule h\n")
    dump = passes.read_dump(str(tmp_path))
    assert [(p.pipeline, p.pass_name) for p in dump.passes] == [("fusion", "fusion")]
    stages = passes.pass_stages(dump) + passes.kernel_stages(dump)
    assert [s.id for s in stages] == ["hlo-pass:0", "hlo-pass:1", "ptx:module"]
    assert stages[-1].text.startswith("//\n// Generated by LLVM NVPTX")


HLO_A = "HloModule jit_f\n\nENTRY %main (x: f32[4]) -> f32[4] {\n  ROOT %x = f32[4]{0} parameter(0)\n}\n"
HLO_B = "HloModule jit_f, is_scheduled=true\n\nENTRY %main (x: f32[4]) -> f32[4] {\n  ROOT %x = f32[4]{0} parameter(0)\n}\n"
