"""A pool of warm zygotes with a fair, bounded queue; each death becomes a clear error.

The server side of the sandbox: it never imports JAX. Each worker slot holds
one zygote that runs one request at a time. Callers wait in one FIFO queue (at
most one request per session), so a session that floods is told it is busy
while the others keep their turn.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inspectors.results import InspectionResult, Request
from inspectors.sandbox import errors
from inspectors.sandbox.launcher import Launch, build_launch, choose_mode, describe
from inspectors.sandbox.limits import Limits
from inspectors.sandbox.protocol import FrameTimeout, decode_json, encode_json, read_frame, write_frame

log = logging.getLogger("inspectors.sandbox")

STARTUP_TIMEOUT_S = 120.0  # importing JAX on a loaded machine
PROTOCOL_SLACK_S = 10.0  # beyond the zygote's own hard deadline


@dataclass
class JobOutcome:
    """What a job returned (`data`), or why it did not (`error`), plus its printed output."""

    data: dict[str, Any] | None
    error: errors.WorkerError | None = None
    output: str = ""
    elapsed_s: float = 0.0
    queued_s: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)


def _popen(launch: Launch) -> subprocess.Popen:
    """Start a zygote process."""
    return subprocess.Popen(
        launch.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=launch.env,
        cwd=launch.cwd,
        start_new_session=True,
        close_fds=True,
    )


# Every zygote is started from this one long-lived thread: bwrap's --die-with-parent
# (PR_SET_PDEATHSIG) fires when the *thread* that started it exits, not the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")


class Worker:
    """One zygote process and its two pipes."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.proc = _SPAWNER.submit(_popen, launch).result()
        self.served = 0
        self.busy = False
        try:
            frame = read_frame(self.proc.stdout.fileno(), time.monotonic() + STARTUP_TIMEOUT_S)
            self.info: dict[str, Any] = decode_json(frame)
        except (EOFError, FrameTimeout, ValueError) as exc:
            self.kill()
            raise errors.WorkerError(
                "WorkerCrashed", f"the sandboxed worker failed to start ({exc!r})"
            ) from None

    @property
    def alive(self) -> bool:
        """True while the zygote runs."""
        return self.proc.poll() is None

    def call(self, job: str, payload: dict[str, Any], limits: Limits) -> tuple[dict[str, Any], bytes]:
        """Send one request; return the zygote's report and the result bytes."""
        request = {"job": job, "payload": payload, "limits": limits.to_dict()}
        deadline = time.monotonic() + limits.timeout_s + PROTOCOL_SLACK_S
        out = self.proc.stdout.fileno()
        self.busy = True
        try:
            write_frame(self.proc.stdin.fileno(), encode_json(request))
            meta = decode_json(read_frame(out, deadline))
            body = read_frame(out, deadline)
        finally:
            self.busy = False
        self.served += 1
        return meta, body

    def kill(self) -> None:
        """Kill the zygote and everything it started; remove its temp directory."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.proc.wait()
        for path in self.launch.cleanup:
            shutil.rmtree(path, ignore_errors=True)


class Pool:
    """Warm sandboxed workers behind a fair, bounded queue."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits.from_env()
        self.mode, self.note = choose_mode(self.limits)  # raises IsolationUnavailable in hosted mode
        self.status = describe(self.mode, self.note)
        if self.mode != "bwrap":
            log.warning("Jaxpr Explorer: %s", self.status)
        self._cond = threading.Condition()
        self._idle: list[Worker | None] = []
        self._slots = 0
        self._waiting: deque[object] = deque()
        self._sessions: set[str] = set()
        self._workers: list[Worker] = []
        self._closed = False
        self.counts = {"served": 0, "restarts": 0, "busy": 0}

    def start(self, wait: bool = True) -> None:
        """Start every worker now (in parallel) rather than on first use."""
        threads = []
        with self._cond:
            missing = self.limits.workers - self._slots
            self._slots += missing
        for _ in range(missing):
            t = threading.Thread(target=self._start_slot, daemon=True)
            t.start()
            threads.append(t)
        if wait:
            for t in threads:
                t.join()

    def _start_slot(self) -> None:
        """Start one worker (None if it fails) and make its slot available."""
        try:
            worker: Worker | None = self._new_worker()
        except Exception as exc:  # noqa: BLE001 - retried on first use, reported then
            log.error("Jaxpr Explorer: a worker failed to start: %s", exc)
            worker = None
        with self._cond:
            if self._closed:
                if worker:
                    worker.kill()
                return
            self._idle.append(worker)
            self._cond.notify_all()

    def _new_worker(self) -> Worker:
        """Start a zygote and remember it."""
        worker = Worker(build_launch(self.mode, self.limits))
        with self._cond:
            self._workers = [w for w in self._workers if w.alive] + [worker]
        return worker

    def workers(self) -> list[Worker]:
        """The live workers, idle or busy."""
        with self._cond:
            return [w for w in self._workers if w.alive]

    def close(self) -> None:
        """Stop every idle worker; busy ones stop when their request ends."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            if worker:
                worker.kill()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def queue_length(self) -> int:
        """Requests waiting for a worker right now."""
        with self._cond:
            return len(self._waiting)

    def run(
        self,
        job: str,
        payload: dict[str, Any],
        *,
        session: str | None = None,
        on_wait: Callable[[int], None] | None = None,
    ) -> JobOutcome:
        """Run `job` in a sandboxed worker; errors come back in the outcome, never raised."""
        queued = time.monotonic()
        try:
            worker = self._acquire(session, on_wait)
        except errors.WorkerError as exc:
            return JobOutcome(None, exc)
        waited = time.monotonic() - queued
        try:
            outcome = self._call(worker, job, payload)
            outcome.queued_s = waited
            return outcome
        finally:
            self._release(session, worker)

    def _acquire(self, session: str | None, on_wait: Callable[[int], None] | None) -> Worker:
        """Wait for this caller's turn and a free worker; return it (started if need be)."""
        ticket = object()
        with self._cond:
            if self._closed:
                raise errors.WorkerError("WorkerCrashed", "the worker pool is shut down")
            if session is not None and session in self._sessions:
                self.counts["busy"] += 1
                raise errors.session_busy()
            if len(self._waiting) >= self.limits.queue and not (self._idle and not self._waiting):
                self.counts["busy"] += 1
                raise errors.server_busy(len(self._waiting), self.limits)
            if session is not None:
                self._sessions.add(session)
            self._waiting.append(ticket)
            grow = self._slots < self.limits.workers
            if grow:
                self._slots += 1
        if grow:
            threading.Thread(target=self._start_slot, daemon=True).start()
        try:
            slot = self._wait_turn(ticket, on_wait)
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._sessions.discard(session)
                self._cond.notify_all()
            raise
        if slot is None or not slot.alive:
            self.counts["restarts"] += slot is not None
            try:
                slot = self._new_worker()
            except errors.WorkerError:
                with self._cond:
                    self._idle.append(None)
                    self._sessions.discard(session)
                    self._cond.notify_all()
                raise
        return slot

    def _wait_turn(self, ticket: object, on_wait: Callable[[int], None] | None) -> Worker | None:
        """Block until `ticket` is first in line and a slot is idle; pop both."""
        deadline = time.monotonic() + self.limits.queue_wait_s
        reported = None
        while True:
            with self._cond:
                if self._closed:
                    raise errors.WorkerError("WorkerCrashed", "the worker pool is shut down")
                if self._waiting[0] is ticket and self._idle:
                    self._waiting.popleft()
                    self._cond.notify_all()
                    return self._idle.pop()
                ahead = self._waiting.index(ticket)
                if time.monotonic() > deadline:
                    raise errors.queue_timeout(ahead, self.limits)
                if ahead == reported or on_wait is None:
                    self._cond.wait(timeout=0.5)
                    continue
            reported = ahead
            on_wait(ahead)

    def _release(self, session: str | None, worker: Worker) -> None:
        """Give the worker back (restarting a dead one in the background) and free the session."""
        dead = not worker.alive
        with self._cond:
            self._sessions.discard(session)
            self.counts["served"] += 1
            if self._closed:
                worker.kill()
            elif not dead:
                self._idle.append(worker)
            self._cond.notify_all()
        if dead and not self._closed:
            self.counts["restarts"] += 1
            worker.kill()
            threading.Thread(target=self._start_slot, daemon=True).start()

    def _call(self, worker: Worker, job: str, payload: dict[str, Any]) -> JobOutcome:
        """Run one job on `worker`; map every way it can end to an outcome."""
        start = time.monotonic()
        try:
            meta, body = worker.call(job, payload, self.limits)
        except (EOFError, FrameTimeout, OSError, ValueError) as exc:
            worker.kill()
            return JobOutcome(None, errors.zygote_lost(exc, self.limits), elapsed_s=time.monotonic() - start)
        outcome = JobOutcome(
            None, output=meta.get("output", ""), elapsed_s=meta.get("elapsed_s", 0.0), facts=meta
        )
        status = meta.get("status")
        if status != "done":
            outcome.error = errors.from_status(meta, self.limits)
            return outcome
        try:
            reply = decode_json(body) if body else None
        except ValueError:
            reply = None
        if isinstance(reply, dict) and isinstance(reply.get("ok"), dict):
            outcome.data = reply["ok"]
        elif isinstance(reply, dict) and isinstance(reply.get("job_error"), dict):
            outcome.error = errors.from_job_error(reply["job_error"], self.limits)
        else:
            outcome.error = errors.from_status({**meta, "status": "crashed"}, self.limits)
        return outcome


def inspect_in(
    pool: Pool,
    request: Request,
    *,
    session: str | None = None,
    on_wait: Callable[[int], None] | None = None,
) -> InspectionResult:
    """Run one inspection in `pool`; every failure comes back as `result.error`."""
    outcome = pool.run("inspect", dataclasses.asdict(request), session=session, on_wait=on_wait)
    if outcome.error is not None:
        return InspectionResult(request=request, error=outcome.error.to_inspect_error())
    try:
        result = InspectionResult.from_dict(outcome.data or {})
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        bad = errors.WorkerError("WorkerCrashed", f"The worker sent back a malformed result ({exc!r}).")
        return InspectionResult(request=request, error=bad.to_inspect_error())
    result.request = request
    result.output = outcome.output
    if result.error is not None:
        result.error = errors.refine(result.error, pool.limits)
    return result


def devices_in(pool: Pool) -> list[str]:
    """Return the devices the sandboxed workers see."""
    outcome = pool.run("devices", {})
    if outcome.error is not None or not outcome.data:
        raise outcome.error or errors.WorkerError("WorkerCrashed", "no devices reported")
    return [str(d) for d in outcome.data.get("devices", [])]
