"""Unprivileged uids for sandboxed workers, leased per host with file locks, never derived from a pid.

When the server runs as root, each worker's children run as a uid of their own,
so the thread limit (RLIMIT_NPROC, counted per uid) is theirs alone. Several
server replicas on one host must never share one: a worker leases a uid by
holding an exclusive `flock` on that uid's file in one directory every replica
uses, and gives it back when it stops (the kernel drops the lock if the server
dies). The first uid whose lock is free is taken.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile

SANDBOX_UID_BASE, SANDBOX_UIDS = 61000, 4000  # the range leased from
LOCK_DIR_ENV = "JAXPR_EXPLORER_UID_LOCKS"  # where the per-uid lock files live (one directory per host)


def lock_dir() -> str:
    """The directory of per-uid lock files every replica on this host shares."""
    if os.environ.get(LOCK_DIR_ENV):
        return os.environ[LOCK_DIR_ENV]
    if os.access("/run/lock", os.W_OK):
        return "/run/lock/jaxpr-explorer-uids"
    return os.path.join(tempfile.gettempdir(), f"jaxpr-explorer-uids-{os.geteuid()}")


class UidLease:
    """One leased uid; `release()` (or the process ending) gives it back."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        """Give the uid back."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the lock file's only descriptor drops the lock
            self._fd = -1


class NoFreeUid(RuntimeError):
    """Every uid of the range is leased."""


def lease(directory: str | None = None) -> UidLease:
    """Lease the first free uid of the range (its lock file held exclusively until released)."""
    directory = directory or lock_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():  # planted by someone else (a link, say)
        raise OSError(f"{directory} is not a directory of this server's user")
    for uid in range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + SANDBOX_UIDS):
        fd = os.open(
            os.path.join(directory, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise NoFreeUid(
        f"all {SANDBOX_UIDS} sandbox uids from {SANDBOX_UID_BASE} are leased (locks in {directory})"
    )
