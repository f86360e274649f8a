"""Every way a sandboxed request can fail, as a message that names the limit and its setting."""

from __future__ import annotations

from typing import Any

from inspectors.results import InspectError, SourceLoc, stage_label
from inspectors.sandbox.limits import Limits, env_name

CRASH_HINTS = {
    "SIGSEGV": "often a stack overflow from very deep recursion, or running out of memory inside JAX",
    "SIGABRT": "JAX or XLA aborted, often because an allocation failed under the memory limit",
    "SIGBUS": "a memory access failed, often because the private /tmp is full",
    "SIGKILL": "it was killed from outside the sandbox",
}
THREAD_MARKERS = (
    "can't start new thread",
    "pthread_create",
    "Resource temporarily unavailable",
    "Thread creation failed",
)
NOT_AFFECTED = "Only this request's process ended; other requests were not affected."
MEMORY_MARKERS = (
    "RESOURCE_EXHAUSTED",
    "Out of memory",
    "out of memory",
    "bad_alloc",
    "Cannot allocate memory",
)


class WorkerError(Exception):
    """A request that did not produce a result: a kind users see and a message."""

    def __init__(
        self, kind: str, message: str, stage: str = "worker", location: SourceLoc | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.stage = stage
        self.location = location

    def to_inspect_error(self) -> InspectError:
        """Return the error as the result model's `InspectError`."""
        return InspectError(stage=self.stage, kind=self.kind, message=self.message, location=self.location)


def timeout_message(limits: Limits) -> str:
    """Explain the wall-time limit."""
    return (
        f"The program ran longer than the {limits.timeout_s:g} s time limit per request and was stopped. "
        "Look for a loop that never ends: a Python `while`, or a `lax.while_loop` whose condition stays true. "
        f"The limit is set by {env_name('timeout_s')}."
    )


# What usually keeps each stage busy past the limit (the stage comes from the worker's own stream).
TIMEOUT_CAUSES = {
    "import": "running the file's top-level code (a slow import, or work done at import time)",
    "inputs": "evaluating the inputs expression",
    "transform": "building the pipeline",
    "trace": "tracing: a Python loop that never ends, or a very long unrolled loop",
    "lower": "lowering a very large jaxpr to StableHLO",
    "compile": "XLA compiling the program: a very large or deeply unrolled program",
    "run": "running the compiled program: a `lax.while_loop` whose condition stays true, or a very large computation",
}


def timeout_in(stage: str, error: WorkerError, limits: Limits) -> WorkerError:
    """Return a timeout error that names the stage the worker was in when the limit passed."""
    cause = TIMEOUT_CAUSES.get(stage, "")
    message = (
        f"The program ran longer than the {limits.timeout_s:g} s time limit per request and was stopped "
        f"during the {stage} stage" + (f" ({cause})" if cause else "") + ". "
        f"The limit is set by {env_name('timeout_s')}."
    )
    return WorkerError("Timeout", message, stage=stage, location=error.location)


def memory_message(limits: Limits, detail: str = "") -> str:
    """Explain the memory limit."""
    tail = f" ({detail.strip().splitlines()[0][:300]})" if detail.strip() else ""
    return (
        f"The program needed more memory than the {limits.memory_mb} MB limit per request{tail}. "
        f"Use smaller arrays; the limit is set by {env_name('memory_mb')}."
    )


def output_message(limits: Limits) -> str:
    """Explain the output limit."""
    return (
        f"The program printed or wrote more than the {limits.output_mb:g} MB output limit per request and was "
        f"stopped. Print less; the limit is set by {env_name('output_mb')}."
    )


def result_message(limits: Limits) -> str:
    """Explain the result-size limits (a frame over the cap per stage, or a reply over the cap per result)."""
    caps = [f"{mb:g} MB {what} ({env_name(name)})" for mb, what, name in (
        (limits.stage_mb, "per stage", "stage_mb"), (limits.result_mb, "per result", "result_mb")) if mb > 0]  # fmt: skip
    return (
        f"The worker sent more than this server's caps allow: {' and '.join(caps) or 'no cap'}. The "
        "inspection keeps to them by itself, so this reply came from the program's own code, not the pipeline."
    )


def thread_message(limits: Limits) -> str:
    """Explain the thread limit."""
    return (
        f"The program could not start another thread: a request may run at most {limits.max_procs} threads "
        f"({env_name('max_procs')}), and each thread's stack counts against the {limits.memory_mb} MB memory "
        f"limit ({env_name('memory_mb')}). Start fewer threads."
    )


def syscall_message() -> str:
    """Explain a system call the seccomp filter killed."""
    return (
        "The program made a system call the sandbox forbids (for example a raw `syscall`, or `int 0x80` from "
        "machine code), so the kernel stopped it with SIGSYS. The call was blocked and had no effect. "
        + NOT_AFFECTED
    )


def from_status(meta: dict[str, Any], limits: Limits) -> WorkerError:
    """Map how the zygote says the child ended (and what it printed) to an error."""
    status, sig, output = meta.get("status"), meta.get("signal"), meta.get("output", "")
    if status == "timeout" or sig == "SIGXCPU":
        return WorkerError("Timeout", timeout_message(limits))
    if status == "result_limit":
        return WorkerError("OutputLimit", result_message(limits))
    if status == "stopped":
        return WorkerError("Stopped", "You stopped the inspection. The stages that arrived before it are shown.")
    if sig == "SIGXFSZ":
        return WorkerError("OutputLimit", output_message(limits))
    if sig == "SIGSYS":
        return WorkerError("ForbiddenSyscall", syscall_message())
    if any(m in output for m in THREAD_MARKERS):
        return WorkerError("ThreadLimit", thread_message(limits))
    if any(m in output for m in MEMORY_MARKERS):
        return WorkerError("MemoryLimit", memory_message(limits))
    last = "\n".join(line for line in output.strip().splitlines()[-5:])
    tail = f"\nLast output:\n{last}" if last else ""
    if sig is None:
        code = meta.get("exit_code")
        return WorkerError(
            "ProgramExited",
            f"The program ended its own process (exit code {code}, e.g. with `os._exit`) before the "
            f"inspection finished, so there is no result. {NOT_AFFECTED}{tail}",
        )
    hint = CRASH_HINTS.get(sig, "")
    message = f"The process running this program crashed (signal {sig}{'; ' + hint if hint else ''}). {NOT_AFFECTED}"
    return WorkerError("WorkerCrashed", message + tail)


def from_job_error(info: dict[str, Any], limits: Limits) -> WorkerError:
    """Map an exception that escaped the job (outside the inspection stages) to an error."""
    kind, message = str(info.get("kind", "Error")), str(info.get("message", ""))
    line, file = info.get("line"), info.get("file")
    where = SourceLoc(str(file), line) if isinstance(line, int) and isinstance(file, str) else None
    if kind == "Timeout":
        return WorkerError("Timeout", timeout_message(limits), location=where)
    if kind == "MemoryError" or any(m in message for m in MEMORY_MARKERS):
        return WorkerError("MemoryLimit", memory_message(limits, message), location=where)
    if kind == "OSError" and "[Errno 27]" in message:
        return WorkerError("OutputLimit", output_message(limits), location=where)
    if any(m in message for m in THREAD_MARKERS):
        return WorkerError("ThreadLimit", thread_message(limits), location=where)
    at = f" at line {line}" if where else ""
    return WorkerError(
        kind[:80],
        f"The program raised {kind[:80]}{at}, which stopped the inspection: it is a BaseException that "
        f"inspections do not catch, or it escaped the job. Its message: {message[:2000]}",
        location=where,
    )


def bad_result(problem: str) -> WorkerError:
    """The worker's reply broke the protocol or the result model: refused, never shown or cached."""
    return WorkerError(
        "BadResult",
        f"The worker's reply was refused ({problem[:300]}). The program may have written to the worker's "
        "result channel itself; nothing from that reply was shown or cached.",
    )


def zygote_lost(exc: BaseException, limits: Limits) -> WorkerError:
    """The zygote itself died or stopped answering."""
    return WorkerError(
        "WorkerCrashed",
        f"The sandboxed worker stopped answering ({type(exc).__name__}) and was replaced; "
        "please run the request again.",
    )


def refine(error: InspectError, limits: Limits) -> InspectError:
    """Turn an inspection's resource errors into the limit that caused them, keeping the user's line."""
    if error.kind == "Timeout":
        stage = stage_label(error.stage)
        error.message = timeout_in(stage, WorkerError("Timeout", ""), limits).message
        error.stage = stage
    elif error.kind == "MemoryError" or any(m in error.message for m in MEMORY_MARKERS):
        error.kind, error.message = "MemoryLimit", memory_message(limits, error.message)
    elif error.kind == "OSError" and "[Errno 27]" in error.message:
        error.kind, error.message = "OutputLimit", output_message(limits)
    elif any(m in error.message for m in THREAD_MARKERS):
        error.kind, error.message = "ThreadLimit", thread_message(limits)
    else:
        return error
    error.hint = ""
    return error


def session_busy() -> WorkerError:
    """This browser session already has a request running or waiting."""
    return WorkerError(
        "SessionBusy",
        "Your previous request is still running; this one was not started. Wait for it to finish.",
        stage="queue",
    )


def server_busy(ahead: int, limits: Limits) -> WorkerError:
    """The queue is full."""
    return WorkerError(
        "ServerBusy",
        f"The server is busy: {ahead} requests are waiting ahead of yours and the queue is full "
        f"({limits.queue}, {env_name('queue')}). Try again in a few seconds.",
        stage="queue",
    )


def client_share_timeout(running: int, share: int, limits: Limits) -> WorkerError:
    """A caller waited too long because its own client already held its share of the workers."""
    return WorkerError(
        "ServerBusy",
        f"This request was not started: your other requests (same address) hold {running} of the "
        f"{limits.workers} workers, the most one user may hold at once ({share}, "
        f"{env_name('client_workers')}), so that others always find one free; none of yours finished "
        f"within {limits.queue_wait_s:g} s ({env_name('queue_wait_s')}). Run fewer at a time.",
        stage="queue",
    )


def queue_timeout(ahead: int, limits: Limits) -> WorkerError:
    """The caller waited too long for a worker."""
    return WorkerError(
        "ServerBusy",
        f"The server is busy: no worker became free within {limits.queue_wait_s:g} s "
        f"({ahead} requests still ahead of yours; {env_name('queue_wait_s')}). Try again in a few seconds.",
        stage="queue",
    )
