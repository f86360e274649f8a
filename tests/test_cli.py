"""`python -m inspectors`: prints exactly what JAX prints; errors go to stderr as data."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from inspectors.cli import main
from inspectors.results import walk
from tests.jax_reference import exec_source

SOURCE = "import jax.numpy as jnp\n\n\ndef f(x, y):\n    return jnp.sum(jnp.sin(x) * y)\n"
SAMPLE = "samples/slides_log2.py"


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user.py"
    path.write_text(SOURCE)
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_emit_jaxpr_prints_exactly_make_jaxpr(capsys, user_file):
    code, out, _ = run_cli(
        capsys, user_file, "--args", "f32[3], f32[3]", "--transform", "grad", "--emit", "jaxpr"
    )
    f = exec_source(SOURCE, str(user_file)).f
    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    assert code == 0
    assert out == str(jax.make_jaxpr(jax.grad(f))(spec, spec)) + "\n"


def test_emit_before_stablehlo_and_hlo(capsys, user_file):
    f = exec_source(SOURCE, str(user_file)).f
    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    common = [user_file, "--args", "f32[3], f32[3]", "--transform", "jit"]
    _, out, _ = run_cli(capsys, *common, "--emit", "jaxpr-before")
    assert out == str(jax.make_jaxpr(f)(spec, spec)) + "\n"
    _, out, _ = run_cli(capsys, *common, "--emit", "stablehlo")
    assert out == jax.jit(f).lower(spec, spec).as_text()
    _, out, _ = run_cli(capsys, *common, "--emit", "hlo")
    assert out.startswith("HloModule jit_f") and "ENTRY" in out


def test_sample_file_defaults_need_no_flags(capsys):
    code, out, _ = run_cli(capsys, SAMPLE, "--emit", "jaxpr")
    assert code == 0 and "log" in out and out.startswith("{ lambda")


def test_emit_json_is_the_whole_result(capsys, user_file):
    code, out, _ = run_cli(
        capsys, user_file, "--args", "f32[3], f32[3]", "--emit", "json", "--time", "--time-budget", "0.1"
    )
    data = json.loads(out)
    assert code == 0 and data["error"] is None
    assert data["timing"]["repeat"] >= 3
    stages = {s["id"]: s for s in data["stages"]}
    assert stages["jaxpr:0"]["model"]["eqns"][0]["primitive"] == "sin"
    assert [s["id"] for s in data["stages"]][:2] == ["source", "jaxpr:0"]


def test_emit_jaxpr_k_prints_each_partial_pipeline(capsys, user_file):
    f = exec_source(SOURCE, str(user_file)).f
    s3, s2x3 = jax.ShapeDtypeStruct((3,), jnp.float32), jax.ShapeDtypeStruct((2, 3), jnp.float32)
    common = [
        user_file,
        "--args",
        "f32[3], f32[2,3]",
        "--transform",
        "grad",
        "--transform",
        "vmap(in_axes=(None, 0))",
    ]
    expected = {
        "jaxpr:0": jax.make_jaxpr(f)(s3, s3),
        "jaxpr:1": jax.make_jaxpr(jax.grad(f))(s3, s3),
        "jaxpr:2": jax.make_jaxpr(jax.vmap(jax.grad(f), in_axes=(None, 0)))(s3, s2x3),
    }
    for emit, jaxpr in expected.items():
        code, out, _ = run_cli(capsys, *common, "--emit", emit)
        assert code == 0 and out == str(jaxpr) + "\n", emit
    _, before, _ = run_cli(capsys, *common, "--emit", "jaxpr-before")
    _, after, _ = run_cli(capsys, *common, "--emit", "jaxpr")
    assert before == str(expected["jaxpr:0"]) + "\n" and after == str(expected["jaxpr:2"]) + "\n"
    code, out, err = run_cli(capsys, *common, "--emit", "jaxpr:3")
    assert code == 2 and out == "" and "no stage 'jaxpr:3'" in err and "jaxpr:2" in err


def test_errors_exit_nonzero_with_structured_message(capsys, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import jax.numpy as jnp\n\ndef f(x):\n    if x > 0:\n        return x\n    return -x\n")
    code, out, err = run_cli(capsys, bad, "--args", "f32[]", "--transform", "jit")
    assert code == 1 and out == ""
    assert "TracerBoolConversionError" in err and "line 4" in err
    data = json.loads(err.strip().splitlines()[-1])
    assert data["error"]["kind"] == "TracerBoolConversionError"
    assert data["error"]["location"]["line"] == 4


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, tmp_path / "nope.py")
    assert code == 2 and "cannot read" in err


def test_list_devices(capsys):
    code, out, _ = run_cli(capsys, "x.py", "--list-devices")
    assert code == 0 and out.split() == [f"cpu:{i}" for i in range(4)]


def test_list_devices_alone_needs_no_file(capsys):
    code, out, _ = run_cli(capsys, "--list-devices")
    assert code == 0 and out.split() == [str(d).replace("TFRT_CPU_", "cpu:") for d in jax.devices("cpu")]


def test_no_file_is_a_usage_error_that_names_the_other_forms(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2 and "--list-devices, or open RESULT.json" in capsys.readouterr().err


def test_help_lists_open_profile_and_every_emit(capsys):
    from inspectors.cli import EMITTERS, GRAPH_EMITTERS, STAGE_EMITTERS, STAGE_HEADS

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "python -m inspectors open RESULT.json" in text and "--emit profile" in text
    for name in [*EMITTERS, *STAGE_EMITTERS, *GRAPH_EMITTERS, "json-stream", *(f"{h}:" for h in STAGE_HEADS)]:
        assert name in text, name


# --- a saved result: `open FILE` ------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The MLP sample inspected once (passes and kernels recorded), saved as JSON, and its result."""
    from inspectors import Request, inspect

    source = open("samples/slides_mlp.py").read()
    result = inspect(Request(source=source, filename="samples/slides_mlp.py"), use_cache=False)
    path = tmp_path_factory.mktemp("saved") / "mlp.json"
    path.write_text(result.to_json())
    return path, result


def test_open_takes_every_emit_of_the_file_form_and_prints_the_same_text(capsys, saved):
    path, result = saved
    passes = [s.id for s in result.of_kind("hlo-pass")]
    assert len(passes) > 11
    for emit in ["jaxpr", "jaxpr:1", "hlo-pass:11", "stablehlo", "hlo", "hlo-unoptimized", passes[-1]]:
        code, out, err = run_cli(capsys, "open", path, "--emit", emit)
        assert code == 0, err
        text = result.text_of(emit if emit != "jaxpr" else result.jaxpr_stages()[-1].id)
        assert out == (text if text.endswith("\n") else text + "\n")  # as printed for the file form
    others = ["passes", "stages", "llvm", f"diff:{passes[10]}..{passes[11]}", "diff:jaxpr:0..jaxpr:1", "dot"]
    for emit in others:
        code, out, err = run_cli(capsys, "open", path, "--emit", emit)
        assert code == 0 and out.strip(), (emit, err)
    code, _, err = run_cli(capsys, "open", path, "--emit", "jaxpr:9")
    assert code == 2 and "no stage 'jaxpr:9'" in err and "jaxpr:2" in err


def test_open_summary_names_the_inputs_and_every_stage(capsys, saved):
    path, result = saved
    code, out, _ = run_cli(capsys, "open", path)
    lines = out.splitlines()
    inputs = next(line for line in lines if line.startswith("inputs:"))
    first = result.jaxpr_stages()[0].text.split("\n", 1)[0]  # `{ lambda ; a:f32[8,16] ... . let`
    assert code == 0 and inputs.removeprefix("inputs: ").split(" (")[0] in first
    assert f"{len(result.stages)} stages" in out
    listed = [line.split()[0] for line in lines[lines.index(next(x for x in lines if " stages " in x)) + 1 :]]
    assert listed == [s.id for s in result.stages]


def test_a_file_saved_with_the_retired_stats_opens_and_counts_equations_from_its_stages(capsys, saved, tmp_path):
    path, result = saved
    first, last = result.jaxpr(0).model, result.jaxpr().model
    before = sum(1 for _ in walk(first))
    after = sum(1 for _ in walk(last))
    data = json.loads(path.read_text())
    data["stats"] = {"before": {"dot_general": 1}, "after": {}, "total_before": 1, "total_after": 0}  # ignored
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    code, out, _ = run_cli(capsys, "open", old)
    assert code == 0 and f"equations: {before} before, {after} after" in out.splitlines()
    data["stats"] = {"total_after": "many"}
    old.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "open", old)
    assert code != 0 and "$.stats.total_after: str where int" in err


def test_stage_listing_is_in_aligned_columns_and_passes_have_no_time_of_their_own(capsys, saved):
    path, result = saved
    _, out, _ = run_cli(capsys, "open", path, "--emit", "stages")
    rows = out.rstrip("\n").split("\n")
    assert len(rows) == len(result.stages) and any(s.id.startswith(("llvm:", "asm:")) for s in result.stages)
    kind_at = {row.index(stage.kind, len(stage.id)) for row, stage in zip(rows, result.stages, strict=True)}
    assert len(kind_at) == 1  # every kind starts in the same column, long kernel ids included
    for row, stage in zip(rows, result.stages, strict=True):
        if stage.kind in ("hlo-pass", "llvm", "asm"):
            assert stage.time_s is None and " ms " not in row  # XLA does not say how long each pass took
        if stage.kind == "jaxpr":
            assert stage.time_s is not None and f"{stage.time_s * 1000:.1f} ms" in row


def test_module_entry_point_runs_as_a_process(user_file):
    proc = subprocess.run(
        [sys.executable, "-m", "inspectors", str(user_file), "--args", "f32[2], f32[2]", "--emit", "jaxpr"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("{ lambda ; a:f32[2] b:f32[2]. let")


PRINTING = """import os
import jax.numpy as jnp

print("hello from import")
os.write(1, b"raw fd write\\n")


def f(x):
    print("tracing f")
    return jnp.sin(x)
"""


def test_user_prints_go_to_stderr_never_into_emitted_text(tmp_path):
    path = tmp_path / "printing.py"
    path.write_text(PRINTING)
    cmd = [sys.executable, "-m", "inspectors", str(path), "--args", "f32[3]", "--emit", "jaxpr"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    f = exec_source(PRINTING.replace("print(", "(").replace("os.write(1,", "(1,"), str(path)).f
    assert done.returncode == 0, done.stderr
    assert done.stdout == str(jax.make_jaxpr(f)(jax.ShapeDtypeStruct((3,), jnp.float32))) + "\n"
    for text in ("hello from import", "raw fd write", "tracing f"):
        assert text in done.stderr


def test_emit_json_stream_prints_each_stage_as_it_completes(capfd, user_file):
    code = main(
        [
            str(user_file),
            "--args",
            "f32[3], f32[3]",
            "--transform",
            "grad",
            "--transform",
            "jit",
            "--emit",
            "json-stream",
        ]
    )
    out, _ = capfd.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["event"] for e in events[:-1]] == ["stage"] * (len(events) - 1)
    ids = [e["stage"]["id"] for e in events[:-1]]
    assert ids[:7] == ["source", "jaxpr:2", "jaxpr:0", "jaxpr:1", "jaxpr:0", "jaxpr:1", "jaxpr:2"]
    assert [e["stage"]["model"] is None for e in events[1:7]] == [True] * 3 + [False] * 3
    assert ids.index("stablehlo") < ids.index("hlo") < ids.index("hlo-pass:0")
    assert events[-1]["event"] == "done" and events[-1]["ok"] is True and events[-1]["error"] is None
    f = exec_source(SOURCE, str(user_file)).f
    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    assert events[3]["stage"]["text"] == str(jax.make_jaxpr(jax.grad(f))(spec, spec))
