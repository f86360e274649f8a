"""The zygote: imports JAX once, then forks one hardened child per request.

Run as `python -m inspectors.sandbox.zygote --base DIR` (inside bwrap, or as a
plain subprocess in the fallback). It reads request frames on stdin and
answers each with two frames on stdout: what happened (JSON) and the job's
result bytes. It never runs user code itself; the child does, and the zygote
enforces the child's wall time and result size and reports how it ended.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

from inspectors.sandbox import harden, landlock
from inspectors.sandbox.jobs import JOBS, preload
from inspectors.sandbox.protocol import (
    clean_text,
    decode_json,
    encode_json,
    read_frame,
    write_all,
    write_frame,
)

GRACE_S = 1.5  # after the soft deadline (an exception in user code), the hard kill
OUTPUT_TAIL = 8192
REPEAT_ALARM_S = 0.1
RESULT_FD = 3  # where the child keeps its end of the result pipe
IN_BWRAP = os.environ.get("JAXPR_EXPLORER_IN_BWRAP") == "1"


class Timeout(BaseException):  # noqa: N818 - the name is the error kind users see
    """Raised in the user's code when the request's wall-time limit passes."""


def main(argv: list[str] | None = None) -> int:
    """Serve requests until stdin closes."""
    parser = argparse.ArgumentParser(prog="inspectors.sandbox.zygote")
    parser.add_argument("--base", required=True, help="private directory for per-request temp dirs")
    base = parser.parse_args(argv).base
    ctl_in, ctl_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    harden.not_dumpable()  # no PDEATHSIG here: it follows the server thread that started us; stdin EOF ends us
    start = time.monotonic()
    preload()
    info = {
        "ready": True,
        "pid": os.getpid(),
        "import_s": round(time.monotonic() - start, 3),
        "in_bwrap": IN_BWRAP,
        "landlock": landlock.abi_version(),
        "seccomp": harden.seccomp_available(),
        "jobs": sorted(JOBS),
    }
    write_frame(ctl_out, encode_json(info))
    while True:
        try:
            request = decode_json(read_frame(ctl_in))
        except EOFError:
            return 0
        meta, body = serve(request, base)
        write_frame(ctl_out, encode_json(meta))
        write_frame(ctl_out, body)


def serve(request: dict[str, Any], base: str) -> tuple[dict[str, Any], bytes]:
    """Run one request in a forked child; return (what happened, result bytes)."""
    limits = request["limits"]
    job_dir = tempfile.mkdtemp(prefix="job-", dir=base)
    out_fd = os.open(os.path.join(job_dir, ".output"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(request, write_fd, out_fd, job_dir)
    os.close(write_fd)
    os.close(out_fd)
    try:
        status, body = _collect(pid, read_fd, start, limits)
    finally:
        os.close(read_fd)
    _, wait_status, usage = os.wait4(pid, 0)
    meta = {
        "status": status,
        "elapsed_s": round(time.monotonic() - start, 4),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "output": _tail(os.path.join(job_dir, ".output")),
        **_exit_facts(wait_status),
    }
    _wipe(base)
    return meta, body


def _collect(pid: int, read_fd: int, start: float, limits: dict[str, Any]) -> tuple[str, bytes]:
    """Read the child's result until it exits; kill it past the deadline or the size cap."""
    deadline = start + limits["timeout_s"] + GRACE_S
    cap = int(limits["output_mb"] * 1024 * 1024)
    pidfd = os.pidfd_open(pid)
    chunks: list[bytes] = []
    size, eof, exited = 0, False, False
    try:
        while not (eof and exited):
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(pid)
                return "timeout", b""
            watch = ([] if eof else [read_fd]) + ([] if exited else [pidfd])
            ready = select.select(watch, [], [], left)[0]
            if read_fd in ready:
                chunk = os.read(read_fd, 1 << 20)
                eof = not chunk
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    _kill(pid)
                    return "result_limit", b""
            exited = exited or pidfd in ready
    finally:
        os.close(pidfd)
    return "done", b"".join(chunks)


def _kill(pid: int) -> None:
    """SIGKILL the child (it cannot fork, so its threads die with it)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _exit_facts(wait_status: int) -> dict[str, Any]:
    """Return how the child ended: an exit code or a signal name."""
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        return {
            "signal": signal.Signals(sig).name if sig in signal.valid_signals() else str(sig),
            "exit_code": None,
        }
    return {"signal": None, "exit_code": os.WEXITSTATUS(wait_status)}


def _tail(path: str) -> str:
    """Return the end of the user's printed output, as text."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - OUTPUT_TAIL))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _wipe(base: str) -> None:
    """Remove everything a request left in the private temp directory."""
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def _child(request: dict[str, Any], result_fd: int, out_fd: int, job_dir: str) -> None:
    """Harden this process, run the job, write its result; never returns."""
    try:
        os.dup2(out_fd, 1)  # the user's prints and JAX's warnings go to the output file
        os.dup2(out_fd, 2)
        os.close(out_fd)
        if result_fd != RESULT_FD:
            os.dup2(result_fd, RESULT_FD)
            os.close(result_fd)
        os.closerange(RESULT_FD + 1, 1 << 30)  # above all the zygote's control pipes
        body = _run_hardened(request, job_dir)
    except BaseException as exc:  # noqa: BLE001 - everything becomes a reported job error
        body = _job_error(exc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - e.g. the output limit (EFBIG)
            pass
    try:
        write_all(RESULT_FD, body)
    except OSError:
        os._exit(71)
    os._exit(0)


def _run_hardened(request: dict[str, Any], job_dir: str) -> bytes:
    """Apply every limit, then run the job; return its encoded result."""
    limits = request["limits"]
    harden.die_with_parent()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(job_dir)
    os.environ.clear()
    os.environ.update({"HOME": job_dir, "TMPDIR": job_dir, "LANG": "C.UTF-8"})
    tempfile.tempdir = job_dir
    harden.set_rlimits(limits, IN_BWRAP)
    confined = harden.apply_landlock(job_dir) > 0
    harden.drop_privileges([job_dir], IN_BWRAP, confined)
    harden.apply_seccomp()
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    job = JOBS[request["job"]]
    payload = request["payload"]
    _arm_soft_deadline(limits["timeout_s"], {payload.get("filename") or "main.py", "<inputs>"})
    try:
        out = job(payload)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return encode_json({"ok": out})


def _arm_soft_deadline(timeout_s: float, user_files: set[str]) -> None:
    """At the deadline, raise Timeout in the user's code, so the error can name its line.

    Only while a frame of the user's source is on the stack (not inside JAX's own
    bookkeeping); the alarm repeats, since the pipeline may call the user's code again.
    """

    def on_alarm(signum: int, frame: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, REPEAT_ALARM_S)
        while frame is not None:
            if frame.f_code.co_filename in user_files:
                raise Timeout("the wall-time limit passed")
            frame = frame.f_back

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)


def _job_error(exc: BaseException) -> bytes:
    """Encode an exception that escaped the job."""
    text = "".join(traceback.format_exception(exc))[-4000:]
    return encode_json(
        {"job_error": {"kind": type(exc).__name__, "message": clean_text(str(exc)), "traceback": text}}
    )


if __name__ == "__main__":
    sys.exit(main())
