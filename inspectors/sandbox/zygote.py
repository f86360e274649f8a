"""The zygote: imports JAX once, then forks one hardened child per request.

Run as `python -m inspectors.sandbox.zygote --base DIR --ctl FD --uid UID`
(inside bwrap, or as a plain subprocess in the fallback). It never sees a
request or a result: per request the server sends, over the control socket
FD, two descriptors (the request's own socket and an output file with no
path); the zygote forks, the child reads its request from that socket after
the fork, writes its result frames straight back to the server and its prints
to the output file. The zygote only enforces the wall time, kills on the
server's word, and reports how the child ended. No earlier request was ever in
its memory, so none can be in a child's.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from typing import Any

from inspectors.sandbox import harden, landlock
from inspectors.sandbox.jobs import JOBS, preload
from inspectors.sandbox.protocol import (
    MAX_CONTROL_FRAME,
    clean_text,
    decode_json,
    encode_json,
    frame,
    read_frame,
    recv_message,
    send_message,
    write_all,
)

GRACE_S = 1.5  # after the soft deadline (an exception in user code), the hard kill
REPEAT_ALARM_S = 0.1
CHANNEL_FD = 3  # where the child keeps its end of the request's socket
EXIT_DONE = 0  # the child wrote its final frame
EXIT_CHANNEL_LOST = 71  # the child could not write its final frame
IN_BWRAP = os.environ.get("JAXPR_EXPLORER_IN_BWRAP") == "1"
_USER_FILES: set[str] = set()  # the user's file names, set in the child before the job runs


class Timeout(BaseException):  # noqa: N818 - the name is the error kind users see
    """Raised in the user's code when the request's wall-time limit passes."""


def main(argv: list[str] | None = None) -> int:
    """Serve requests until the control socket closes."""
    parser = argparse.ArgumentParser(prog="inspectors.sandbox.zygote")
    parser.add_argument("--base", required=True, help="the private temp directory the children use")
    parser.add_argument("--ctl", type=int, required=True, help="the control socket's descriptor")
    parser.add_argument("--uid", type=int, default=harden.NOBODY, help="the children's uid when root")
    ns = parser.parse_args(argv)
    ctl = socket.socket(fileno=ns.ctl)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray prints go to the zygote's own log pipe
    os.close(null)
    harden.not_dumpable()  # no PDEATHSIG here: it follows the server thread that started us; EOF ends us
    start = time.monotonic()
    preload()
    examples = _Examples()
    examples.start()
    info = {
        "ready": True,
        "pid": os.getpid(),
        "import_s": round(time.monotonic() - start, 3),
        "in_bwrap": IN_BWRAP,
        "landlock": landlock.abi_version(),
        "seccomp": harden.seccomp_available(),
        "jobs": sorted(JOBS),
    }
    send_message(ctl, info)
    while True:
        try:
            message, fds = recv_message(ctl, max_fds=2)
        except OSError:
            return 0
        if message is None:
            return 0
        if len(fds) != 2 or "limits" not in message:
            for fd in fds:
                os.close(fd)
            continue
        examples.collect()  # once they are ready, each child is forked with them
        report = serve(ctl, message["limits"], fds, ns.base, ns.uid)
        try:
            send_message(ctl, report)
        except OSError:
            return 0
        if report["retire"]:
            return 0


class _Examples:
    """The primitive cards' live examples, run once per zygote so that every request's child inherits them.

    They never depend on the program, but running them starts a JAX backend, which the zygote must not do
    (each request picks its CPU device count first). So a throwaway child of the zygote runs every example in
    one compile (about 1.6 s on the 2-core machine) and writes them to a pipe; the zygote takes them before the
    next fork. Until then a request runs the examples its cards need itself, as it always could.
    """

    PIPE_BYTES = 1 << 20  # the whole table fits the pipe (27 KB today): the child never waits on the zygote

    def __init__(self) -> None:
        self.pid: int | None = None
        self.fd: int | None = None

    def start(self) -> None:
        """Fork the child that runs the examples (our own table, never user code)."""
        read, write = os.pipe()
        try:
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, self.PIPE_BYTES)
        except OSError:  # a lower pipe-max-size: the default 64 KB still holds today's table
            pass
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(read)
                harden.die_with_parent()
                from inspectors import primitives

                data = encode_json(primitives.every_example())
                if len(data) <= fcntl.fcntl(write, fcntl.F_GETPIPE_SZ):
                    write_all(write, data)
                    code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.fd = pid, read

    def collect(self) -> int:
        """Take the examples if the child has finished (never waits); return how many were taken."""
        if self.pid is None or self.fd is None:
            return 0
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if not done:
            return 0
        os.set_blocking(self.fd, False)
        chunks = []
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self.fd)
        self.pid = self.fd = None
        if status != 0:
            return 0
        from inspectors import primitives

        try:
            return primitives.adopt_examples(decode_json(b"".join(chunks)))
        except ValueError:
            return 0


def serve(ctl: socket.socket, limits: dict[str, Any], fds: list[int], base: str, uid: int) -> dict[str, Any]:
    """Fork a child on the request's descriptors, wait for it, and report how it ended."""
    channel, output = fds
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(ctl, channel, output, base, uid)
    os.close(channel)
    os.close(output)
    status = _wait(ctl, pid, start + limits["timeout_s"] + GRACE_S)
    _, wait_status, usage = os.wait4(pid, 0)
    clean = harden.wipe(base, limits["tmp_mb"]) if status != "server_gone" else False
    return {
        "status": status,
        "elapsed_s": round(time.monotonic() - start, 4),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "retire": not clean,  # /tmp could not be made empty again: the pool starts a fresh worker
        **_exit_facts(wait_status),
    }


def _wait(ctl: socket.socket, pid: int, deadline: float) -> str:
    """Wait for the child to exit; kill it at the deadline or when the server says so."""
    pidfd = os.pidfd_open(pid)
    status = "exited"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(pid)
                return "timeout"
            ready = select.select([pidfd, ctl], [], [], left)[0]
            if pidfd in ready:
                return status
            if ctl in ready:
                message, _ = recv_message(ctl)
                _kill(pid)
                if message is None:
                    return "server_gone"
                status = str(message.get("kill", "killed"))
                select.select([pidfd], [], [], 5.0)
                return status
    finally:
        os.close(pidfd)


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


def _child(ctl: socket.socket, channel: int, output: int, base: str, uid: int) -> None:
    """Read this child's own request, harden, run the job, send its result; never returns."""
    try:
        ctl.detach()  # the server's control socket is the zygote's, not ours
        os.dup2(output, 1)  # the user's prints and JAX's warnings go to the output file
        os.dup2(output, 2)
        if channel != CHANNEL_FD:
            os.dup2(channel, CHANNEL_FD)
        os.closerange(CHANNEL_FD + 1, 1 << 20)  # the zygote's control socket and log pipe included
        request = decode_json(read_frame(CHANNEL_FD, time.monotonic() + 30, MAX_CONTROL_FRAME))
        body = _run_hardened(request, base, uid)
    except BaseException as exc:  # noqa: BLE001 - everything becomes a reported job error
        body = _job_error(exc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - e.g. the output limit (EFBIG)
            pass
    try:
        write_all(CHANNEL_FD, frame(body))
    except BaseException:  # noqa: BLE001 - the server is gone or refused the result
        os._exit(EXIT_CHANNEL_LOST)
    os._exit(EXIT_DONE)


def _run_hardened(request: dict[str, Any], base: str, uid: int) -> bytes:
    """Apply every limit, then run the job; return its encoded final frame."""
    limits = request["limits"]
    harden.die_with_parent()
    tmp = harden.fresh_tmp(base, limits["tmp_mb"], uid)
    harden.apply(limits, tmp, uid, IN_BWRAP)
    os.chdir(tmp)  # after becoming its owner
    os.environ.clear()
    os.environ.update({"HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8"})
    tempfile.tempdir = tmp
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    job = JOBS[request["job"]]
    payload = request["payload"]
    _USER_FILES.update({payload.get("filename") or "main.py", "<inputs>"})
    _arm_soft_deadline(limits["timeout_s"], _USER_FILES)
    try:
        out = job(payload, _emit)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return encode_json({"ok": out})


def _emit(data: dict[str, Any]) -> None:
    """Send one partial result to the server now (the final one follows when the job returns)."""
    write_all(CHANNEL_FD, frame(encode_json({"partial": data})))


def _emit_json(encoded: bytes) -> None:
    """`_emit` of a partial result encoded already (`encode_json` of it): a big stage is not encoded twice."""
    write_all(CHANNEL_FD, frame(b'{"partial": ' + encoded + b"}"))


_emit.json = _emit_json  # type: ignore[attr-defined] - what a job that measures its frames sends them with


def _arm_soft_deadline(timeout_s: float, user_files: set[str]) -> None:
    """At the deadline, raise Timeout in the user's code, so the error can name its line.

    Only while a frame of the user's source is on the stack (not inside JAX's own
    bookkeeping); the alarm repeats, since the pipeline may call the user's code again.
    """

    def on_alarm(signum: int, frame: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, REPEAT_ALARM_S)
        if _in_user_code(frame, user_files):
            raise Timeout("the wall-time limit passed")
        _stop_helpers(user_files)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)


# The pipeline's own threads that run user code (`inspectors.memory.Residuals`: the residual trace
# while XLA compiles). A signal reaches only the main thread, which then waits for them outside the
# user's code: the deadline raises Timeout in them instead, and the pipeline raises it again.
HELPER_THREADS = ("jaxpr-explorer-residuals",)


def _in_user_code(frame: Any, user_files: set[str]) -> bool:
    """True when a frame of the user's source is on the stack that ends at `frame`."""
    while frame is not None:
        if frame.f_code.co_filename in user_files:
            return True
        frame = frame.f_back
    return False


def _stop_helpers(user_files: set[str]) -> None:
    """Raise Timeout in each helper thread that is running the user's code now."""
    frames = sys._current_frames()
    for thread in threading.enumerate():
        if thread.name in HELPER_THREADS and _in_user_code(frames.get(thread.ident), user_files):
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(Timeout))


def _safe_str(exc: BaseException) -> str:
    """`str(exc)`, or a note when the exception's own `__str__` fails."""
    try:
        return clean_text(str(exc))
    except BaseException as inner:  # noqa: BLE001 - user code decides what __str__ does
        return f"(its message could not be shown: its __str__ raised {type(inner).__name__})"


def _job_error(exc: BaseException) -> bytes:
    """Encode an exception that escaped the job, with the user's last line when there is one."""
    shown = _unshowable(exc)
    message = f"(its message could not be shown: its __str__ raised {type(exc).__name__})" if shown else None
    exc = shown or exc
    try:
        text = "".join(traceback.format_exception(exc))[-4000:]
    except BaseException:  # noqa: BLE001 - a hostile __str__ can break the formatter too
        text = ""
    line, file = None, None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in _USER_FILES:
            line, file = tb.tb_lineno, name
        tb = tb.tb_next
    info = {"kind": type(exc).__name__, "message": message or _safe_str(exc), "traceback": clean_text(text)}
    info.update(line=line, file=file)
    return encode_json({"job_error": info})


def _unshowable(exc: BaseException) -> BaseException | None:
    """The exception whose own `__str__` raised `exc` while something showed it, if that is what happened."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if (
        tb is not None
        and tb.tb_frame.f_code.co_name in ("__str__", "__repr__")
        and exc.__context__ is not None
    ):
        return exc.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
