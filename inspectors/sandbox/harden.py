"""Harden the forked child before it runs user code: privileges, rlimits, Landlock, seccomp.

Order: a fresh private /tmp, limits, then Landlock (filesystem, TCP and
signals), then giving up root (an unprivileged uid, so the thread limit holds)
or any capability, then seccomp last. Threads keep working (JAX's CPU client
needs them); new processes, exec and sockets do not.
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
CLONE_NEWNS = 0x00020000
CAP_DAC_READ_SEARCH = 2
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_KEEPCAPS = 8
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18

# Default deny: the system calls JAX, XLA and Python make while inspecting, timing and walking
# through every sample (traced with `strace -f -c`, see the README), plus what the sandbox's own
# plumbing needs after the filter is loaded. Anything else fails with ENOSYS ("not implemented"),
# so libraries fall back as they do on older kernels; a call of another ABI (`int 0x80`) kills
# the process with SIGSYS.
ALLOWED_SYSCALLS = {
    "files": [
        "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "close_range",
        "open", "openat", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
        "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "chdir",
        "fchdir", "fcntl", "ioctl", "dup", "dup2", "dup3", "pipe2", "mkdir", "mkdirat", "unlink",
        "unlinkat", "rmdir", "rename", "renameat", "renameat2", "symlink", "symlinkat", "chmod",
        "fchmod", "fchmodat", "ftruncate", "fsync", "fdatasync", "flock", "umask", "utimensat",
        "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "eventfd2", "sendto", "recvfrom", "sendmsg", "recvmsg", "getsockname",
        "getsockopt", "shutdown", "socketpair",
    ],
    "memory": [
        "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "mbind", "get_mempolicy",
        "membarrier", "msync", "mincore",
    ],
    "threads and signals": [
        "clone", "futex", "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "gettid",
        "getpid", "getppid", "tgkill", "tkill", "kill", "rt_sigaction", "rt_sigprocmask",
        "rt_sigreturn", "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "sched_yield",
        "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler",
        "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
        "setitimer", "getitimer", "exit", "exit_group", "restart_syscall", "wait4",
    ],
    "process facts": [
        "prctl", "arch_prctl", "getrandom", "uname", "sysinfo", "prlimit64", "getrlimit",
        "getrusage", "times", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid",
        "getresgid", "capget", "getpriority",
    ],
}  # fmt: skip
# Named denials, with the errno Python turns into a clear message ("Operation not permitted").
DENIED_SYSCALLS = [
    "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "io_uring_setup", "open_by_handle_at", "name_to_handle_at", "fanotify_init", "mknod", "mknodat",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "capset",
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    # Memory the address-space limit does not count: a memfd's pages need not be mapped (a child
    # capped at 2 GB held 2.4 GB of host shared memory), nor SysV segments once detached.
    "memfd_create", "memfd_secret", "shmget", "shmat", "shmctl",
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


def drop_privileges(uid: int, in_bwrap: bool, confined: bool) -> str:
    """Give up root (become `uid`) or, when not root, every capability; return what was done.

    As root (either mode) the child becomes an unprivileged uid, so RLIMIT_NPROC binds
    (the kernel never applies it to uid 0). In the fallback with Landlock confining the
    filesystem, it keeps only CAP_DAC_READ_SEARCH, so Python's lazy imports from
    root-only directories (e.g. /root/.pyenv) still work; Landlock bounds what it reads.
    """
    if os.geteuid() != 0:
        drop_capabilities()  # e.g. CAP_SYS_ADMIN in bwrap's user namespace
        return "capabilities"
    keep = (1 << CAP_DAC_READ_SEARCH) if confined and not in_bwrap else 0
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        prctl(_PR_SET_KEEPCAPS, 1 if keep else 0)
        os.setresuid(uid, uid, uid)
    except PermissionError:
        drop_capabilities()
        return "capabilities (still uid 0: no CAP_SETUID)"
    set_capabilities(keep)
    return f"uid {uid}" + (" + CAP_DAC_READ_SEARCH" if keep else "")


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
    set_capabilities(0)


def set_capabilities(mask: int) -> None:
    """Set the effective and permitted capabilities to `mask` (low 32 capabilities), none inheritable."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = mask
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def set_rlimits(limits: dict[str, Any], threads: bool) -> None:
    """Apply address space, CPU, file size, open files, core and (with `threads`) process limits."""
    mb = 1024 * 1024
    cpu = int(limits["timeout_s"] * 2 + 5)  # a backstop: the wall clock is enforced by the zygote
    wanted = {
        resource.RLIMIT_AS: limits["memory_mb"] * mb,
        resource.RLIMIT_CPU: cpu,
        resource.RLIMIT_FSIZE: int(limits["output_mb"] * mb),
        resource.RLIMIT_NOFILE: limits["open_files"],
        resource.RLIMIT_CORE: 0,
    }
    if threads:  # RLIMIT_NPROC counts every thread of the uid: only the sandbox's own uid or user namespace
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
    """Allow only ALLOWED_SYSCALLS (threads, not processes); deny the rest; kill foreign-ABI calls."""
    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ERRNO(errno.ENOSYS))
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)  # int 0x80, x32: SIGSYS
    for name in (n for group in ALLOWED_SYSCALLS.values() for n in group if n != "clone"):
        _rule(f, sc.ALLOW, name)
    for name in DENIED_SYSCALLS:
        _rule(f, sc.ERRNO(errno.EPERM), name)
    f.add_rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, CLONE_THREAD))
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    # clone3 gets the default ENOSYS: glibc falls back to clone(), filtered above.
    f.add_rule(sc.ERRNO(errno.EACCES), "socket")  # no network, and no Unix sockets of the host
    f.load()


def _rule(f: Any, action: int, name: str) -> None:
    """Add one rule; skip a name this architecture does not have."""
    try:
        f.add_rule(action, name)
    except (OSError, RuntimeError, ValueError):
        pass


def fresh_tmp(base: str, tmp_mb: int, uid: int) -> str:
    """Return an empty, full-sized temp directory for this request, private to this process.

    Where this process may mount (root, or bwrap's user namespace), a new tmpfs over
    `base` in a mount namespace of its own: nothing an earlier request left can be
    seen or take space, and it vanishes with the process. Elsewhere, a new directory
    in `base`, which the zygote wipes afterwards (restarting itself when it cannot).
    """
    owner = uid if os.geteuid() == 0 else os.getuid()
    if _mount_tmpfs(base, tmp_mb, owner):
        return base
    import tempfile

    path = tempfile.mkdtemp(prefix="job-", dir=base)
    if os.geteuid() == 0:
        os.chown(path, owner, owner)
    return path


def _mount_tmpfs(path: str, size_mb: int, owner: int) -> bool:
    """Mount a fresh tmpfs over `path` in a new private mount namespace; False where not allowed."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    options = f"size={size_mb}m,nr_inodes=65536,mode=0700,uid={owner},gid={owner}".encode()
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    return libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, options) == 0


def apply(limits: dict[str, Any], tmp: str, uid: int, in_bwrap: bool) -> str:
    """Apply every limit to this process, in order: rlimits, Landlock, privileges, seccomp."""
    set_rlimits(limits, threads=in_bwrap or os.geteuid() == 0)
    confined = apply_landlock(tmp) > 0
    how = drop_privileges(uid, in_bwrap, confined)
    apply_seccomp()
    return how


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
