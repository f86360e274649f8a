"""Bad programs in the sandbox: each gets a clear error, and the pool keeps serving.

Runs every case in both isolation modes: bwrap (skipped where bwrap cannot run)
and the subprocess fallback. `JAXPR_EXPLORER_ISOLATION=subprocess` runs only
the fallback. Small limits keep the suite fast.
"""

from __future__ import annotations

import json
import os
import select
import socket
import textwrap
from dataclasses import dataclass

import pytest

from inspectors.results import InspectionResult, Request
from inspectors.sandbox import Limits, Pool, inspect_in
from tests.sandbox_util import modes

SECRET = "JAXPR_EXPLORER_SECRET_TEST"
TEST_LIMITS = dict(timeout_s=3.0, memory_mb=3072, output_mb=4.0, workers=1, queue=8)
GOOD = "def f(x):\n    return x * 2.0\n"


@pytest.fixture(scope="module", params=modes())
def pool(request: pytest.FixtureRequest):
    """A one-worker pool with small limits, shared by the module's tests (per mode)."""
    os.environ[SECRET] = "xyz"  # set in the server: must never be visible to user code
    with Pool(Limits(isolation=request.param, **TEST_LIMITS)) as p:
        p.start()
        yield p


def run(pool: Pool, source: str, args: str | None = "f32[3]", time: bool = False) -> InspectionResult:
    """Inspect `source` in the pool, then check the pool still serves a good request."""
    result = inspect_in(
        pool, Request(source=textwrap.dedent(source), args=args, time=time, time_budget_s=0.1)
    )
    produced = {k: v for k, v in result.to_dict().items() if k != "request"}
    json.dumps(produced, ensure_ascii=False).encode("utf-8")  # whatever the program did, valid UTF-8 JSON
    good = inspect_in(pool, Request(source=GOOD, args="f32[3]"))
    assert good.ok, good.error and good.error.format()
    return result


@dataclass
class Case:
    """A bad program and the error it must produce."""

    source: str
    kind: str | tuple[str, ...]
    line: int | tuple[int, ...] | None = None
    says: tuple[str, ...] = ()
    args: str | None = "f32[3]"
    time: bool = False


CASES = {
    "syntax error": Case("def f(x):\n    return x +\n", "SyntaxError", 2),
    "exception at import": Case(
        "import jax.numpy as jnp\nraise ValueError('boom at import')\ndef f(x):\n    return x\n",
        "ValueError",
        2,
        ("boom at import",),
    ),
    "NameError in the inputs": Case(
        "def f(x):\n    return x\n", "NameError", None, ("undefined_thing",), args="undefined_thing"
    ),
    "infinite Python loop": Case(
        "def f(x):\n    return x\nwhile True:\n    pass\n",
        "Timeout",
        (3, 4),
        ("3 s", "JAXPR_EXPLORER_TIMEOUT_S"),
    ),
    "infinite loop in the traced function": Case(
        "def f(x):\n    while True:\n        x = x + 1\n",
        "Timeout",
        (2, 3),
        ("3 s", "JAXPR_EXPLORER_TIMEOUT_S"),
    ),
    "infinite lax.while_loop at run time": Case(
        "import jax.numpy as jnp\nfrom jax import lax\n\ndef f(x):\n    return lax.while_loop(lambda c: jnp.all(c == c), lambda c: c + 1.0, x)\n",
        "Timeout",
        None,
        ("3 s", "JAXPR_EXPLORER_TIMEOUT_S"),
        time=True,
    ),
    "allocation far beyond memory at import": Case(
        "import numpy as np\nbig = np.ones((1024, 1024, 1024))\ndef f(x):\n    return x\n",
        "MemoryLimit",
        2,
        ("3072 MB", "JAXPR_EXPLORER_MEMORY_MB"),
    ),
    "allocation far beyond memory at run time": Case(
        "import jax.numpy as jnp\ndef f(x):\n    return jnp.ones((1 << 31,)) + x\n",
        "MemoryLimit",
        None,
        ("3072 MB", "JAXPR_EXPLORER_MEMORY_MB"),
        args="f32[]",
        time=True,
    ),
    "deep recursion": Case(
        "def down(n):\n    return down(n + 1)\ndown(0)\ndef f(x):\n    return x\n", "RecursionError", 2
    ),
    "fork bomb": Case("import os\nwhile True:\n    os.fork()\n", "PermissionError", 3, ("not permitted",)),
    "subprocess": Case(
        "import subprocess\nsubprocess.run(['id'])\ndef f(x):\n    return x\n",
        "PermissionError",
        2,
        ("not permitted",),
    ),
    "crash in native code": Case(
        "import ctypes\nctypes.string_at(0)\ndef f(x):\n    return x\n",
        "WorkerCrashed",
        None,
        ("SIGSEGV", "not affected"),
    ),
    "printing 100 MB": Case(
        "for i in range(100_000):\n    print('x' * 1000)\ndef f(x):\n    return x\n",
        "OutputLimit",
        2,
        ("4 MB", "JAXPR_EXPLORER_OUTPUT_MB"),
    ),
    "a jaxpr with a million equations": Case(
        "def f(x):\n    for i in range(1_000_000):\n        x = x + 1.0\n    return x\n",
        "Timeout",
        None,
        ("3 s", "JAXPR_EXPLORER_TIMEOUT_S"),
        args="f32[]",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_program_gives_a_clear_error_and_the_pool_keeps_serving(pool: Pool, name: str) -> None:
    case = CASES[name]
    result = run(pool, case.source, case.args, case.time)
    err = result.error
    assert err is not None, f"{name}: no error"
    kinds = case.kind if isinstance(case.kind, tuple) else (case.kind,)
    assert err.kind in kinds, err.format()
    if case.line is not None:
        assert err.line in (case.line if isinstance(case.line, tuple) else (case.line,)), err.format()
    for text in case.says:
        assert text in err.message, err.format()


def test_os_system_cannot_run_a_command(pool: Pool, tmp_path) -> None:
    marker = tmp_path / "pwned"
    result = run(pool, f"import os\nrc = os.system('touch {marker}')\nraise RuntimeError(f'rc={{rc}}')\n")
    assert result.error.kind == "RuntimeError" and result.error.line == 3
    assert result.error.message != "rc=0"
    assert not marker.exists()


def test_reading_etc_passwd_fails(pool: Pool) -> None:
    result = run(pool, "data = open('/etc/passwd').read()\nraise RuntimeError('read ' + data[:40])\n")
    assert result.error.kind in ("FileNotFoundError", "PermissionError"), result.error.format()
    assert result.error.line == 1
    assert "root:" not in result.error.message


def test_server_environment_is_not_visible(pool: Pool) -> None:
    assert os.environ[SECRET] == "xyz"
    source = f"""
        import os
        seen = repr(sorted(os.environ.items()))
        try:
            seen += open('/proc/{os.getpid()}/environ', 'rb').read().decode('latin-1')
        except OSError as exc:
            seen += repr(exc)
        raise RuntimeError(seen)
    """
    result = run(pool, source)
    assert result.error.kind == "RuntimeError"
    assert "xyz" not in result.error.message and SECRET not in result.error.message


def test_writing_outside_the_temp_dir_fails(pool: Pool, tmp_path, root) -> None:
    targets = [tmp_path / "pwned.txt", root / "pwned.txt", root / "inspectors" / "pwned.py"]
    source = "import os\nerrors = []\n"
    for target in targets:
        source += f"try:\n    open({str(target)!r}, 'w').write('x')\nexcept OSError as exc:\n    errors.append(type(exc).__name__)\n"
    source += "open('inside.txt', 'w').write('a private temp dir is writable')\nraise RuntimeError(','.join(errors))\n"
    result = run(pool, source)
    assert result.error.kind == "RuntimeError", result.error.format()
    assert len(result.error.message.split(",")) == len(targets), result.error.message
    assert not any(t.exists() for t in targets)


def test_socket_to_localhost_never_connects(pool: Pool) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        source = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nraise RuntimeError('connected')\n"
        result = run(pool, source)
        assert result.error.kind in ("PermissionError", "ConnectionRefusedError", "OSError"), (
            result.error.format()
        )
        assert result.error.line == 2
        assert not select.select([listener], [], [], 0.2)[0], "the sandbox reached the listener"
    finally:
        listener.close()


def test_non_utf8_text_in_source_output_and_messages(pool: Pool) -> None:
    source = (
        "s = '\\udcff\\ufffd'\nprint(s)\nimport sys\nsys.stdout.flush()\n"
        "sys.stdout.buffer.write(b'\\xff\\xfe')\nraise ValueError('bad ' + s)\n# \udcff lone surrogate in a comment\n"
    )
    result = run(pool, source)
    assert result.error.kind == "ValueError" and result.error.line == 6, result.error.format()
    assert result.error.message.startswith("bad ")
    result.to_json().encode("utf-8")
