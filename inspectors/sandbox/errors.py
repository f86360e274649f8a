"""Every way a sandboxed request can fail, as a message that names the limit and its setting."""

from __future__ import annotations

from typing import Any

from inspectors.results import InspectError
from inspectors.sandbox.limits import Limits, env_name

CRASH_HINTS = {
    "SIGSEGV": "often a stack overflow from very deep recursion, or running out of memory inside JAX",
    "SIGABRT": "JAX or XLA aborted, often because an allocation failed under the memory limit",
    "SIGBUS": "a memory access failed, often because the private /tmp is full",
    "SIGKILL": "it was killed from outside the sandbox",
}
MEMORY_MARKERS = (
    "RESOURCE_EXHAUSTED",
    "Out of memory",
    "out of memory",
    "bad_alloc",
    "Cannot allocate memory",
)


class WorkerError(Exception):
    """A request that did not produce a result: a kind users see and a message."""

    def __init__(self, kind: str, message: str, stage: str = "worker") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.stage = stage

    def to_inspect_error(self) -> InspectError:
        """Return the error as the result model's `InspectError`."""
        return InspectError(stage=self.stage, kind=self.kind, message=self.message)


def timeout_message(limits: Limits) -> str:
    """Explain the wall-time limit."""
    return (
        f"The program ran longer than the {limits.timeout_s:g} s time limit per request and was stopped. "
        "Look for a loop that never ends: a Python `while`, or a `lax.while_loop` whose condition stays true. "
        f"The limit is set by {env_name('timeout_s')}."
    )


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
    """Explain the result-size limit."""
    return (
        f"The inspection result is larger than the {limits.output_mb:g} MB output limit per request: the program "
        f"is too big to show. Try smaller inputs or fewer unrolled steps; the limit is set by {env_name('output_mb')}."
    )


def from_status(meta: dict[str, Any], limits: Limits) -> WorkerError:
    """Map how the zygote says the child ended to an error."""
    status, sig = meta.get("status"), meta.get("signal")
    if status == "timeout" or sig == "SIGXCPU":
        return WorkerError("Timeout", timeout_message(limits))
    if status == "result_limit":
        return WorkerError("OutputLimit", result_message(limits))
    if sig == "SIGXFSZ":
        return WorkerError("OutputLimit", output_message(limits))
    output = meta.get("output", "")
    if any(m in output for m in MEMORY_MARKERS):
        return WorkerError("MemoryLimit", memory_message(limits))
    how = f"signal {sig}" if sig else f"exit code {meta.get('exit_code')}"
    hint = CRASH_HINTS.get(sig or "", "")
    last = "\n".join(line for line in output.strip().splitlines()[-5:])
    message = f"The worker running this program crashed ({how}{'; ' + hint if hint else ''}). It was replaced; other requests were not affected."
    if last:
        message += f"\nLast output:\n{last}"
    return WorkerError("WorkerCrashed", message)


def from_job_error(info: dict[str, Any], limits: Limits) -> WorkerError:
    """Map an exception that escaped the job (outside the inspection stages) to an error."""
    kind, message = str(info.get("kind", "Error")), str(info.get("message", ""))
    if kind == "Timeout":
        return WorkerError("Timeout", timeout_message(limits))
    if kind == "MemoryError" or any(m in message for m in MEMORY_MARKERS):
        return WorkerError("MemoryLimit", memory_message(limits, message))
    if kind == "OSError" and "[Errno 27]" in message:
        return WorkerError("OutputLimit", output_message(limits))
    return WorkerError("WorkerCrashed", f"The worker failed: {kind}: {message}")


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
        error.message = timeout_message(limits)
    elif error.kind == "MemoryError" or any(m in error.message for m in MEMORY_MARKERS):
        error.kind, error.message = "MemoryLimit", memory_message(limits, error.message)
    elif error.kind == "OSError" and "[Errno 27]" in error.message:
        error.kind, error.message = "OutputLimit", output_message(limits)
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


def queue_timeout(ahead: int, limits: Limits) -> WorkerError:
    """The caller waited too long for a worker."""
    return WorkerError(
        "ServerBusy",
        f"The server is busy: no worker became free within {limits.queue_wait_s:g} s "
        f"({ahead} requests still ahead of yours; {env_name('queue_wait_s')}). Try again in a few seconds.",
        stage="queue",
    )
