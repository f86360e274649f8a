"""Harden the forked child before it runs user code: privileges, rlimits, Landlock, seccomp.

Order: limits, then Landlock (filesystem, TCP and signals), then giving up
root's powers when the fallback runs as root, then seccomp last. Threads keep
working (JAX's CPU client needs them); new processes, exec and sockets do not.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import sys
from typing import Any

from inspectors.sandbox import landlock

NOBODY = 65534
CLONE_THREAD = 0x00010000
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4

# Syscalls that have no business in an inspection: new programs, other processes, kernel state.
DENIED_SYSCALLS = [
    "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "io_uring_setup", "open_by_handle_at", "name_to_handle_at", "fanotify_init", "mknod", "mknodat",
]  # fmt: skip


def prctl(option: int, arg: int) -> None:
    """Call prctl(2) with one argument."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def die_with_parent() -> None:
    """Be killed when the parent process dies."""
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def not_dumpable() -> None:
    """Keep same-user processes out of this one's memory and /proc files."""
    prctl(_PR_SET_DUMPABLE, 0)


def drop_privileges(paths_to_own: list[str], in_bwrap: bool, confined: bool) -> str:
    """Outside bwrap as root (the fallback), give up root's powers; return what was done.

    With Landlock confining the filesystem, drop every capability but stay uid 0, so
    Python's lazy imports from root-only directories (e.g. /root/.pyenv) still work;
    without Landlock, become `nobody`.
    """
    if os.geteuid() != 0 or in_bwrap:
        return "none"
    if confined:
        drop_capabilities()
        return "capabilities"
    for path in paths_to_own:
        os.chown(path, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return "nobody"


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    """Empty the bounding, effective, permitted and inheritable capability sets."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; fails harmlessly past the last capability
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def set_rlimits(limits: dict[str, Any], in_bwrap: bool) -> None:
    """Apply address space, CPU, file size, open files, core and (under bwrap) process limits."""
    mb = 1024 * 1024
    cpu = int(limits["timeout_s"] * 2 + 5)  # a backstop: the wall clock is enforced by the zygote
    wanted = {
        resource.RLIMIT_AS: limits["memory_mb"] * mb,
        resource.RLIMIT_CPU: cpu,
        resource.RLIMIT_FSIZE: int(limits["output_mb"] * mb),
        resource.RLIMIT_NOFILE: limits["open_files"],
        resource.RLIMIT_CORE: 0,
    }
    if in_bwrap:  # RLIMIT_NPROC counts every process of the user; only meaningful in a user namespace
        wanted[resource.RLIMIT_NPROC] = limits["max_procs"]
    for which, value in wanted.items():
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def read_paths() -> list[str]:
    """Paths the child may read: the system, Python, and the `inspectors` package."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    prefixes |= {os.path.realpath(p) for p in prefixes} | {os.path.dirname(os.path.realpath(sys.executable))}
    system = ["/usr", "/lib", "/lib64", "/bin", "/proc", "/sys/devices/system/cpu", "/sys/fs/cgroup"]
    files = ["/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random", "/dev/zero"]
    return system + files + sorted(prefixes) + [package]


def apply_landlock(tmp: str) -> int:
    """Confine the filesystem to read-only system paths plus `tmp`; return the ABI used."""
    try:
        return landlock.restrict(read_paths(), [tmp, "/dev/null"])
    except OSError:
        return 0


def apply_seccomp() -> None:
    """Deny exec, new processes, sockets and kernel-level syscalls; allow the rest."""
    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        except (OSError, RuntimeError, ValueError):
            continue  # not a syscall on this architecture
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc falls back to clone(), filtered above
    f.add_rule(sc.ERRNO(errno.EACCES), "socket")  # no network, and no Unix sockets of the host
    f.load()


def fresh_tmp(base: str, tmp_mb: int, uid: int) -> str:
    """Return an empty private temp directory for this request (inside `base`)."""
    import tempfile

    return tempfile.mkdtemp(prefix="job-", dir=base)


def apply(limits: dict[str, Any], tmp: str, uid: int, in_bwrap: bool) -> None:
    """Apply every limit to this process, in order: rlimits, Landlock, privileges, seccomp."""
    set_rlimits(limits, in_bwrap)
    confined = apply_landlock(tmp) > 0
    drop_privileges([tmp], in_bwrap, confined)
    apply_seccomp()


def wipe(base: str, tmp_mb: int) -> bool:
    """Remove everything a request left in `base`, never following a link; True when it is empty."""
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        _remove_all(fd)
        return not os.listdir(fd)
    except (OSError, RecursionError):
        return False
    finally:
        os.close(fd)


def _remove_all(dir_fd: int) -> None:
    """Remove the contents of the open directory `dir_fd`: unlink, or make a directory traversable and recurse."""
    for name in os.listdir(dir_fd):
        try:
            os.unlink(name, dir_fd=dir_fd)
            continue
        except IsADirectoryError:
            pass
        os.chmod(name, 0o700, dir_fd=dir_fd)  # a directory (unlink said so): a mode-000 tree is no obstacle
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            _remove_all(sub)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=dir_fd)


def seccomp_available() -> bool:
    """True when pyseccomp and libseccomp load here."""
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        return False
    return True
