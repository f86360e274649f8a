"""`python -m inspectors`: prints exactly what JAX prints; errors go to stderr as data."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from inspectors.cli import main
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
    code, out, _ = run_cli(capsys, user_file, "--args", "f32[3], f32[3]", "--transform", "grad", "--emit", "jaxpr")
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
    code, out, _ = run_cli(capsys, user_file, "--args", "f32[3], f32[3]", "--emit", "json", "--time", "--time-budget", "0.1")
    data = json.loads(out)
    assert code == 0 and data["error"] is None
    assert data["timing"]["repeat"] >= 3
    stages = {s["id"]: s for s in data["stages"]}
    assert stages["jaxpr:0"]["model"]["eqns"][0]["primitive"] == "sin"
    assert [s["id"] for s in data["stages"]][:2] == ["source", "jaxpr:0"]


def test_emit_jaxpr_k_prints_each_partial_pipeline(capsys, user_file):
    f = exec_source(SOURCE, str(user_file)).f
    s3, s2x3 = jax.ShapeDtypeStruct((3,), jnp.float32), jax.ShapeDtypeStruct((2, 3), jnp.float32)
    common = [user_file, "--args", "f32[3], f32[2,3]", "--transform", "grad", "--transform", "vmap(in_axes=(None, 0))"]
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
    code = main([str(user_file), "--args", "f32[3], f32[3]", "--transform", "grad", "--transform", "jit", "--emit", "json-stream"])
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
