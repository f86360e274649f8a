"""A pool of warm zygotes with a fair, bounded queue; each death becomes a clear error.

The server side of the sandbox: it never imports JAX. Each worker slot holds
one zygote that runs one request at a time. Callers wait in one queue (at most
one request per session) ordered by weighted fair queueing: the next free
worker goes to the waiting request whose client (an address or cookie, else
the session) has used the least worker time recently. No client holds more
than its share of the workers at once (all but one, by default): however many
sessions one client opens, someone else arriving finds a worker free. When the
queue is full, a heavier client's newest waiter gives way to a lighter one.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inspectors.results import InspectError, InspectionResult, Request, SchemaError
from inspectors.sandbox import errors, uids, validate
from inspectors.sandbox.launcher import Launch, build_launch, choose_mode, describe
from inspectors.sandbox.limits import Limits, cap_bytes
from inspectors.sandbox.protocol import (
    HEADER,
    MAX_CONTROL_FRAME,
    PARTIAL,
    BadFrame,
    FrameTimeout,
    FrameTooLarge,
    encode_json,
    frame,
    parse_child_frame,
    recv_message,
    send_message,
)
from inspectors.source import source_problem
from inspectors.store import pack_body

log = logging.getLogger("inspectors.sandbox")

STARTUP_TIMEOUT_S = 120.0  # importing JAX on a loaded machine
PROTOCOL_SLACK_S = 10.0  # beyond the zygote's own hard deadline
KILL_GRACE_S = 3.0  # after the server's word to kill a child, its report
DRAIN_S = 1.0  # after the child ended, reading what it left in its socket (at most a socket buffer)
OUTPUT_TAIL = 8192  # the end of the user's printed output that comes back
LOG_TAIL = 4096  # the end of a zygote's own log kept for start-up failures
USAGE_HALF_LIFE_S = 120.0  # how long a client's worker time counts against it in the queue
TICK_S = 0.5  # how often a caller hears that a request is still running (while no frame comes)
FRAME_ENVELOPE = 1 << 20  # bytes a stage's frame may add around the stage (a closing frame's errors, times)


@dataclass
class JobOutcome:
    """What a job returned (`data`), or why it did not (`error`), plus its printed output."""

    data: dict[str, Any] | None
    error: errors.WorkerError | None = None
    output: str = ""
    elapsed_s: float = 0.0
    queued_s: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)


def _popen(launch: Launch, ctl_fd: int, uid: int) -> subprocess.Popen:
    """Start a zygote process on its end of the control socket; its log goes to a pipe of ours."""
    return subprocess.Popen(
        launch.argv + ["--ctl", str(ctl_fd), "--uid", str(uid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # never the server's own stderr
        env=launch.env,
        cwd=launch.cwd,
        start_new_session=True,
        close_fds=True,
        pass_fds=(ctl_fd,),
    )


# Every zygote is started from this one long-lived thread: bwrap's --die-with-parent
# (PR_SET_PDEATHSIG) fires when the *thread* that started it exits, not the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
_SERIALS = itertools.count()


@dataclass(eq=False)
class _Ticket:
    """One waiting or running request: who asked, and when."""

    session: str | None
    client: str
    seq: int
    arrived: float = field(default_factory=time.monotonic)
    started: float = 0.0
    evicted: bool = False
    capped: bool = False  # it waited because its client already held its share of the workers


@dataclass
class Reply:
    """What came back over one request's socket: the final frame, or why there is none."""

    final: tuple[str, dict[str, Any]] | None = None
    problem: str = ""  # "", "result_limit", "bad_frame: ...", "extra_data", "timeout"
    received: int = 0


class Worker:
    """One zygote process, its control socket and its log pipe."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        # Its own uid, so its children's thread limit is theirs alone: leased for this host
        # (every replica's workers included) until the worker stops.
        try:
            self.uid_lease = uids.lease()
        except (uids.NoFreeUid, OSError) as exc:
            raise errors.WorkerError("WorkerCrashed", f"no sandbox uid is free: {exc}") from None
        self.uid = self.uid_lease.uid
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = _SPAWNER.submit(_popen, launch, theirs.fileno(), self.uid).result()
        except BaseException:
            self.uid_lease.release()
            raise
        finally:
            theirs.close()
        self.log = _LogDrain(self.proc.stderr)
        self.served = 0
        self.busy = False
        self._request: socket.socket | None = None  # the running request's socket (Stop shuts it)
        self._stopped = False
        try:
            info, _ = recv_message(self.ctl, time.monotonic() + STARTUP_TIMEOUT_S)
            if info is None:
                raise EOFError("the zygote exited")
            self.info: dict[str, Any] = info
        except (EOFError, FrameTimeout, OSError, ValueError) as exc:
            self.kill()
            tail = self.log.tail().strip().splitlines()[-3:]
            raise errors.WorkerError(
                "WorkerCrashed", f"the sandboxed worker failed to start ({exc!r}) {' / '.join(tail)}".strip()
            ) from None

    @property
    def alive(self) -> bool:
        """True while the zygote runs."""
        return self.proc.poll() is None

    def call(
        self,
        job: str,
        payload: dict[str, Any],
        limits: Limits,
        on_partial: Callable[[dict[str, Any]], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> tuple[dict[str, Any], Reply, str]:
        """Run one request; return the zygote's report, the child's reply and its printed output.

        The zygote's report on how the child ended is always read before this returns or
        raises (a caller's exception included), so the next request never reads this one's.
        """
        deadline = time.monotonic() + limits.timeout_s + PROTOCOL_SLACK_S
        mine, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output = os.memfd_create("jaxpr-explorer-output", os.MFD_CLOEXEC)
        self.busy, self._request, self._stopped = True, mine, False
        try:
            send_message(self.ctl, {"limits": limits.to_dict()}, [child.fileno(), output])
            child.close()
            channel = _Channel(mine, self.ctl, deadline)
            try:
                reply = _exchange(channel, job, payload, limits, on_partial, on_tick)
                if self._stopped:  # the user's Stop: what streamed so far stays, the child is killed
                    reply.final, reply.problem = None, "stopped"
            except BaseException:
                self._finish(channel, "cancelled")  # e.g. the page's script was stopped mid-stream
                raise
            return self._finish(channel, reply.problem), reply, _tail(output)
        finally:
            self.busy, self._request = False, None
            self.served += 1
            mine.close()
            child.close()
            os.close(output)

    def _finish(self, channel: _Channel, problem: str) -> dict[str, Any]:
        """Stop the child if the reply had a problem; return the zygote's report (killing the zygote if none comes)."""
        try:
            if channel.report is None and problem:
                send_message(self.ctl, {"kill": problem})
                return channel.wait_report(KILL_GRACE_S)
            return channel.wait_report()
        except BaseException:
            self.kill()  # no report: this zygote's state is unknown, so it is not reused
            raise

    def stop(self) -> bool:
        """Stop the running request (the user's Stop button): its reader sees the end at once."""
        sock = self._request
        if sock is None:
            return False
        self._stopped = True
        try:
            sock.shutdown(socket.SHUT_RD)  # wakes `_exchange`; `call` then asks the zygote to kill the child
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """Kill the zygote and everything it started; remove its temp directory."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.ctl.close()
        self.proc.wait()
        self.uid_lease.release()  # after the zygote (and so every child of it) is gone
        for path in self.launch.cleanup:
            shutil.rmtree(path, ignore_errors=True)


class _LogDrain:
    """Read a zygote's log pipe in a thread, keeping its last few KB (for start-up failures)."""

    def __init__(self, pipe: Any) -> None:
        self._tail = b""
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe: Any) -> None:
        for chunk in iter(lambda: pipe.read1(1 << 16), b""):
            self._tail = (self._tail + chunk)[-LOG_TAIL:]
        pipe.close()

    def tail(self) -> str:
        """The end of what the zygote logged."""
        return self._tail.decode("utf-8", errors="replace")


class _Channel:
    """A request's socket, read with its deadline while watching the zygote for the child's end.

    Once the zygote reports that the child ended, nothing more can be written: what is already
    in the socket is read within DRAIN_S, then the socket counts as closed, even if the child
    left a copy of its end open somewhere (sent over a socket pair to itself, say).
    """

    def __init__(self, sock: socket.socket, ctl: socket.socket, deadline: float) -> None:
        self.sock, self.ctl, self.deadline = sock, ctl, deadline
        self.report: dict[str, Any] | None = None

    def _note_report(self) -> None:
        """Read the zygote's report (it comes only after the child ended); shorten the deadline."""
        report, _ = recv_message(self.ctl)
        if report is None:
            raise EOFError("the zygote exited")
        self.report = report
        self.deadline = min(self.deadline, time.monotonic() + DRAIN_S)

    def read_exact(self, n: int) -> bytes:
        """Read exactly `n` bytes: EOFError when the child's end is closed (or the child is gone and it is drained)."""
        chunks, fd = [], self.sock.fileno()
        while n > 0:
            watched = [fd] if self.report is not None else [fd, self.ctl]
            left = self.deadline - time.monotonic()
            ready = select.select(watched, [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                if self.report is not None:
                    raise EOFError("the child ended; its socket was held open elsewhere")
                raise FrameTimeout()
            if self.ctl in ready and fd not in ready:
                self._note_report()
                continue
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise EOFError("pipe closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def ready(self, seconds: float) -> bool:
        """Wait up to `seconds` for the child's socket or the zygote to have something; FrameTimeout past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FrameTimeout()
        watched = [self.sock] if self.report is not None else [self.sock, self.ctl]
        return bool(select.select(watched, [], [], min(seconds, left))[0])

    def read_frame(self, cap: int) -> bytes:
        """Read one frame of at most `cap` bytes."""
        (size,) = HEADER.unpack(self.read_exact(HEADER.size))
        if size > cap:
            raise FrameTooLarge(f"frame of {size} bytes exceeds {cap}")
        return self.read_exact(size)

    def closed_after(self) -> bool:
        """Wait for the child's end to close (or the child to end); True if it sent anything more."""
        try:
            return bool(self.read_exact(1))
        except EOFError:
            return False

    def wait_report(self, grace: float = 0.0) -> dict[str, Any]:
        """Return the zygote's report, waiting for it until the request's deadline (or `grace` s from now)."""
        if self.report is None:
            report, _ = recv_message(self.ctl, max(self.deadline, time.monotonic() + grace))
            if report is None:
                raise EOFError("the zygote exited")
            self.report = report
        return self.report


def _exchange(
    channel: _Channel,
    job: str,
    payload: dict[str, Any],
    limits: Limits,
    on_partial: Callable[[dict[str, Any]], None] | None,
    on_tick: Callable[[], None] | None = None,
) -> Reply:
    """Send the request to the child; read its partial frames and its one final frame, each checked.

    `on_tick()` is called about every TICK_S while no frame comes (a long compile): the app's
    progress line and its Stop button live on it.
    """
    reply = Reply()
    # Each stage comes in a frame of its own: a frame may hold one stage (and its envelope); the
    # whole reply, the result cap. Locally neither is capped (the backstop is the protocol's).
    whole = cap_bytes(limits.result_mb) or MAX_CONTROL_FRAME * 64
    one = (cap_bytes(limits.stage_mb) or MAX_CONTROL_FRAME) + FRAME_ENVELOPE
    request = frame(encode_json({"job": job, "payload": payload, "limits": limits.to_dict()}))
    sock = channel.sock
    sock.settimeout(max(channel.deadline - time.monotonic(), 0.1))
    try:
        sock.sendall(request)
    except OSError:
        return reply  # the child died before reading it; the zygote's report says how
    sock.settimeout(None)  # reads below wait with select and the deadline
    try:
        while reply.final is None:
            while on_tick is not None and not channel.ready(TICK_S):
                on_tick()
            blob = channel.read_frame(min(one, whole - reply.received))
            reply.received += len(blob) + 4
            kind, data = parse_child_frame(blob)
            if kind == PARTIAL:
                if on_partial is not None:
                    _hear(on_partial, data)
            else:
                reply.final = (kind, data)
        if channel.closed_after():
            reply.final, reply.problem = None, "extra_data"
    except EOFError:
        pass
    except FrameTooLarge:
        reply.problem = "result_limit"
    except FrameTimeout:
        reply.problem = "timeout"
    except BadFrame as exc:
        reply.final, reply.problem = None, f"bad_frame: {exc}"
    return reply


def _hear(on_partial: Callable[[dict[str, Any]], None], data: dict[str, Any]) -> None:
    """Pass a partial frame on; anything it breaks (short of the caller being stopped) refuses the reply."""
    try:
        on_partial(data)
    except BadFrame:
        raise
    except Exception as exc:  # noqa: BLE001 - a frame no decoder foresaw is still only this request's fault
        raise BadFrame(f"a partial result could not be read ({type(exc).__name__})") from None


def _tail(fd: int) -> str:
    """Return the end of the user's printed output from the output file, as text."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, OUTPUT_TAIL, max(0, size - OUTPUT_TAIL))
    return data.decode("utf-8", errors="replace")


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
        self._waiting: list[_Ticket] = []
        self._running: list[_Ticket] = []
        self._spent: dict[str, tuple[float, float]] = {}  # client: (worker seconds, when counted)
        self._arrivals = itertools.count()
        self._sessions: set[str] = set()
        self._workers: list[Worker] = []
        self._active: dict[str, Worker] = {}  # session: the worker running its request
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
        client: str | None = None,
        on_wait: Callable[[int], None] | None = None,
        on_partial: Callable[[dict[str, Any]], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> JobOutcome:
        """Run `job` in a sandboxed worker; errors come back in the outcome, never raised.

        `client` (an address, a cookie; default the session) is who is billed for the
        worker time: waiting requests start in order of their client's recent use.
        `on_partial(data)` gets each partial result the job emits, before the final one
        (each a JSON object from untrusted code, checked for size and depth only).
        """
        ticket = _Ticket(session, client or session or f"anonymous-{next(_SERIALS)}", next(self._arrivals))
        try:
            worker = self._acquire(ticket, on_wait)
        except errors.WorkerError as exc:
            return JobOutcome(None, exc)
        waited = time.monotonic() - ticket.arrived
        if session is not None:
            with self._cond:
                self._active[session] = worker
        try:
            outcome = self._call(worker, job, payload, on_partial, on_tick)
            outcome.queued_s = waited
            return outcome
        finally:
            if session is not None:
                with self._cond:
                    self._active.pop(session, None)
            self._release(ticket, worker)

    def stop(self, session: str) -> bool:
        """Stop the request `session` is running (its Stop button); False if none runs."""
        with self._cond:
            worker = self._active.get(session)
        return worker.stop() if worker is not None else False

    call = run  # the name streaming callers use: `pool.call(job, payload, on_partial=...)`

    def usage(self, client: str) -> float:
        """Seconds of worker time `client` used recently (halving every USAGE_HALF_LIFE_S), running ones included."""
        with self._cond:
            return self._usage_locked(client, time.monotonic())

    def _usage_locked(self, client: str, now: float) -> float:
        spent, at = self._spent.get(client, (0.0, now))
        running = sum(now - t.started for t in self._running if t.client == client)
        return spent * 0.5 ** ((now - at) / USAGE_HALF_LIFE_S) + running

    def _order(self, now: float) -> list[_Ticket]:
        """The waiting tickets in the order they will start: least recent use first, then arrival."""
        return sorted(self._waiting, key=lambda t: (self._usage_locked(t.client, now), t.seq))

    def _acquire(self, ticket: _Ticket, on_wait: Callable[[int], None] | None) -> Worker:
        """Wait for this caller's turn and a free worker; return it (started if need be)."""
        with self._cond:
            if self._closed:
                raise errors.WorkerError("WorkerCrashed", "the worker pool is shut down")
            if ticket.session is not None and ticket.session in self._sessions:
                self.counts["busy"] += 1
                raise errors.session_busy()
            if len(self._waiting) >= self.limits.queue and not (self._idle and not self._waiting):
                self._make_room(ticket)
            if ticket.session is not None:
                self._sessions.add(ticket.session)
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
                self._sessions.discard(ticket.session)
                self._cond.notify_all()
            raise
        if slot is None or not slot.alive:
            self.counts["restarts"] += slot is not None
            try:
                slot = self._new_worker()
            except errors.WorkerError:
                with self._cond:
                    self._idle.append(None)
                    self._running.remove(ticket)
                    self._sessions.discard(ticket.session)
                    self._cond.notify_all()
                raise
        return slot

    def _make_room(self, ticket: _Ticket) -> None:
        """The queue is full: refuse `ticket`, unless a heavier client's newest waiter can give way."""
        now = time.monotonic()
        mine = self._usage_locked(ticket.client, now)
        heaviest = max(self._waiting, key=lambda t: (self._usage_locked(t.client, now), t.seq), default=None)
        if heaviest is None or self._usage_locked(heaviest.client, now) <= mine:
            self.counts["busy"] += 1
            raise errors.server_busy(len(self._waiting), self.limits)
        heaviest.evicted = True
        self._waiting.remove(heaviest)
        self._cond.notify_all()

    def _wait_turn(self, ticket: _Ticket, on_wait: Callable[[int], None] | None) -> Worker | None:
        """Block until `ticket` is next in fair order and a slot is idle; pop both."""
        deadline = time.monotonic() + self.limits.queue_wait_s
        reported = None
        while True:
            with self._cond:
                if self._closed:
                    raise errors.WorkerError("WorkerCrashed", "the worker pool is shut down")
                if ticket.evicted:
                    self.counts["busy"] += 1
                    raise errors.server_busy(len(self._waiting), self.limits)
                order = self._order(time.monotonic())
                cap = self._client_cap()
                turn = next((t for t in order if self._running_count(t.client) < cap), None)
                ticket.capped = self._running_count(ticket.client) >= cap  # its client holds its share
                if turn is ticket and self._idle:
                    self._waiting.remove(ticket)
                    ticket.started = time.monotonic()
                    self._running.append(ticket)
                    self._cond.notify_all()
                    return self._idle.pop()
                ahead = order.index(ticket)
                if time.monotonic() > deadline:
                    if ticket.capped:
                        raise errors.client_share_timeout(
                            self._running_count(ticket.client), cap, self.limits
                        )
                    raise errors.queue_timeout(ahead, self.limits)
                if ahead == reported or on_wait is None:
                    self._cond.wait(timeout=0.5)
                    continue
            reported = ahead
            on_wait(ahead)

    def _client_cap(self) -> int:
        """The most workers one client may hold at once: all but one by default, at least one."""
        workers = self.limits.workers
        share = getattr(self.limits, "client_workers", 0) or workers - 1
        return max(1, min(share, workers))

    def _running_count(self, client: str) -> int:
        """How many requests `client` runs now."""
        return sum(1 for t in self._running if t.client == client)

    def _release(self, ticket: _Ticket, worker: Worker) -> None:
        """Bill the client, give the worker back (restarting a dead one) and free the session."""
        dead = not worker.alive
        with self._cond:
            now = time.monotonic()
            if ticket in self._running:
                self._running.remove(ticket)
                spent, at = self._spent.get(ticket.client, (0.0, now))
                self._spent[ticket.client] = (
                    spent * 0.5 ** ((now - at) / USAGE_HALF_LIFE_S) + now - ticket.started,
                    now,
                )
            self._sessions.discard(ticket.session)
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

    def _call(
        self,
        worker: Worker,
        job: str,
        payload: dict[str, Any],
        on_partial: Callable[[dict[str, Any]], None] | None,
        on_tick: Callable[[], None] | None = None,
    ) -> JobOutcome:
        """Run one job on `worker`; map every way it can end to an outcome."""
        start = time.monotonic()
        try:
            meta, reply, output = worker.call(job, payload, self.limits, on_partial, on_tick)
        except (EOFError, FrameTimeout, OSError, ValueError) as exc:
            worker.kill()
            return JobOutcome(None, errors.zygote_lost(exc, self.limits), elapsed_s=time.monotonic() - start)
        if meta.get("retire"):
            worker.kill()  # its /tmp could not be emptied; the next request gets a fresh worker
        outcome = JobOutcome(None, output=output, elapsed_s=meta.get("elapsed_s", 0.0), facts=meta)
        if reply.problem.startswith("bad_frame") or reply.problem == "extra_data":
            outcome.error = errors.bad_result(reply.problem)
        elif reply.problem:
            outcome.error = errors.from_status(
                {**meta, "status": reply.problem, "output": output}, self.limits
            )
        elif reply.final is None:
            outcome.error = errors.from_status({**meta, "output": output}, self.limits)
        elif reply.final[0] == "ok":
            outcome.data = reply.final[1]
        else:
            outcome.error = errors.from_job_error(reply.final[1], self.limits)
        return outcome


def inspect_in(
    pool: Pool,
    request: Request,
    *,
    session: str | None = None,
    client: str | None = None,
    on_wait: Callable[[int], None] | None = None,
    on_partial: Callable[[InspectionResult], None] | None = None,
    on_tick: Callable[[], None] | None = None,
) -> InspectionResult:
    """Run one inspection in `pool`; every failure comes back as `result.error`.

    `on_partial(result)` gets each partial result the worker streams (stages so far),
    decoded and checked like the final one; a malformed one fails the request.
    Each frame carries only the stages finished since the last one; they are added
    to one growing result.
    """
    too_large = source_problem(request.source, pool.limits.source_kb)
    if too_large:
        return InspectionResult(request=request, error=InspectError("load", "SourceTooLarge", too_large))
    bad: list[str] = []
    so_far = InspectionResult(request=request)  # .running: the stage the worker said it started last
    measured = validate.ChainSizes()  # the stages so far, measured once each (a frame adds its own)

    def partial(data: dict[str, Any]) -> None:
        if bad:
            return
        try:
            result = _decode_result(data, request, "", measured=measured)
            so_far.absorb(result)
        except Exception as exc:  # noqa: BLE001 - whatever a forged frame breaks, it is that request's BadResult
            bad.append(str(exc) or type(exc).__name__)
            raise BadFrame(f"a partial result: {bad[0]}") from None
        # The stage's JSON as it came (checked by the decode above), packed now, while the worker goes on:
        # the stage store keeps it as is.
        bodies = so_far.__dict__.setdefault("_bodies", {})
        bodies.update((raw["id"], pack_body(raw)) for raw in data.get("stages", []))
        if on_partial is not None:
            on_partial(so_far)

    caps = {"stage": cap_bytes(pool.limits.stage_mb), "result": cap_bytes(pool.limits.result_mb)}
    outcome = pool.run(
        "inspect",
        {**dataclasses.asdict(request), "caps": caps},
        session=session,
        client=client,
        on_wait=on_wait,
        on_partial=partial,
        on_tick=on_tick,
    )
    if outcome.error is None and bad:
        outcome.error = errors.bad_result(f"a partial result: {bad[0]}")
    if outcome.error is not None and outcome.error.kind == "Timeout" and so_far.running:
        outcome.error = errors.timeout_in(so_far.running, outcome.error, pool.limits)
    if outcome.error is not None:
        # What the worker streamed before it was stopped (the jaxprs before a compile that ran
        # past the limit) stays: a slow or failing later stage never hides the earlier ones.
        kept = so_far if not bad else InspectionResult(request=request)
        kept.error, kept.output, kept.running = outcome.error.to_inspect_error(), outcome.output, ""
        return kept
    try:
        closing = _decode_result(outcome.data or {}, request, outcome.output)
    except ValueError as exc:
        return InspectionResult(request=request, error=errors.bad_result(str(exc)).to_inspect_error())
    # The stages came one by one; the closing frame adds what the worker knows at the end.
    result = so_far.absorb(closing)
    result.output, result.running = outcome.output, ""
    if result.error is not None:
        result.error = errors.refine(result.error, pool.limits)
    return result


def _decode_result(
    data: dict[str, Any], request: Request, output: str, measured: validate.ChainSizes | None = None
) -> InspectionResult:
    """Decode an untrusted result strictly, then check its chain (`validate`) on top of the stages `measured`.

    The request and output are the server's own, never the worker's.
    """
    try:
        result = InspectionResult.from_dict({**data, "request": dataclasses.asdict(request), "output": ""})
    except SchemaError as exc:
        raise ValueError(str(exc)) from None
    validate.check(result, sizes_so_far=measured)
    result.request = request
    result.output = output
    return result


def devices_in(pool: Pool, count: int | None = None) -> list[str]:
    """Return the devices the sandboxed workers see (`count`: with the CPU split into that many devices)."""
    outcome = pool.run("devices", {"count": count} if count else {})
    if outcome.error is not None or not outcome.data:
        raise outcome.error or errors.WorkerError("WorkerCrashed", "no devices reported")
    return [str(d) for d in outcome.data.get("devices", [])]
