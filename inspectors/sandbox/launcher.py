"""How a zygote is started: inside bubblewrap when it works here, else as a plain subprocess."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from inspectors.sandbox import harden, landlock
from inspectors.sandbox.limits import Limits

log = logging.getLogger("inspectors.sandbox")

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../inspectors
PROJECT_ROOT = os.path.dirname(PACKAGE_DIR)
PASSED_ENV_PREFIXES = ("JAX_", "XLA_")  # JAX configuration, never secrets
PASSED_ENV = ("JAXPR_EXPLORER_CPU_DEVICES",)


class IsolationUnavailable(RuntimeError):
    """Hosted mode asked for bwrap, and bwrap cannot run here."""


@dataclass
class Launch:
    """The command, environment and working directory that start one zygote."""

    mode: str  # "bwrap" or "subprocess"
    argv: list[str]
    env: dict[str, str]
    cwd: str
    base: str  # the zygote's private temp directory, as the zygote sees it
    cleanup: list[str] = field(default_factory=list)  # host directories to remove afterwards


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Return why bwrap cannot sandbox here, or None when it works."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bwrap (bubblewrap) is not installed"
    probe = [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if done.returncode != 0:
        return "bwrap cannot create namespaces here: " + done.stderr.decode(errors="replace").strip()[:200]
    return None


def choose_mode(limits: Limits) -> tuple[str, str]:
    """Return (mode, note): bwrap when possible; hosted mode without bwrap raises."""
    if limits.isolation == "subprocess" and limits.hosted:
        raise IsolationUnavailable(
            "hosted mode needs bwrap; JAXPR_EXPLORER_ISOLATION=subprocess turns it off"
        )
    problem = (
        "bwrap disabled by JAXPR_EXPLORER_ISOLATION=subprocess"
        if limits.isolation == "subprocess"
        else bwrap_problem()
    )
    if problem is None:
        return "bwrap", ""
    if limits.hosted or limits.isolation == "bwrap":
        raise IsolationUnavailable(
            f"strict isolation required but unavailable: {problem}. Install bubblewrap (apt-get install bubblewrap)."
        )
    return "subprocess", problem


def describe(mode: str, note: str = "") -> str:
    """Return a short description of the isolation in force, for logs and the app's footer."""
    parts = ["rlimits"]
    if harden.seccomp_available():
        parts.append("seccomp")
    abi = landlock.abi_version()
    if abi:
        parts.append(f"Landlock v{abi}")
    if mode == "bwrap":
        return "sandboxed workers: bwrap namespaces, " + ", ".join(parts)
    return f"fallback workers (not for hosting: {note}): subprocess with " + ", ".join(parts)


def _python_paths() -> list[str]:
    """Directories Python and its packages live in (venv and base install)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {os.path.realpath(p) for p in list(paths)}
    paths.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(p for p in paths if p and p != "/" and not p.startswith("/usr"))


MOVED_FROM_TMP = "/run/jaxpr-explorer"  # where code that lives under the host's /tmp is bound in the sandbox


def inside(path: str) -> str:
    """Return where a host path is bound in the sandbox.

    Each request mounts a fresh tmpfs over the sandbox's `/tmp`, which would hide a
    checkout or a venv under the host's `/tmp` (a CI clone, say): those move aside.
    """
    return MOVED_FROM_TMP + path if path == "/tmp" or path.startswith("/tmp/") else path


def _parents(paths: list[str]) -> list[str]:
    """Every ancestor directory of `paths` (not `/`), parents first."""
    found: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted((p for p in found if p not in ("/", "")), key=lambda p: (p.count("/"), p))


def _zygote_env(extra: dict[str, str]) -> dict[str, str]:
    """The zygote's whole environment: nothing of the server's but JAX settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES) or k in PASSED_ENV}
    env.update(
        PYTHONPATH=PROJECT_ROOT,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONIOENCODING="utf-8:backslashreplace",
        OPENBLAS_NUM_THREADS="1",  # no BLAS thread pool in the zygote: it forks
        LANG="C.UTF-8",
    )
    env.update(extra)
    return env


def _system_binds() -> list[str]:
    """Read-only binds of the system: /usr and the merged-/usr links, the loader cache."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "bin", "sbin"):
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        args += ["--ro-bind-try", path, path]
    return args


def build_launch(mode: str, limits: Limits) -> Launch:
    """Return how to start one zygote in `mode`."""
    zygote = [sys.executable, "-m", "inspectors.sandbox.zygote"]
    if mode == "subprocess":
        base = tempfile.mkdtemp(prefix="jaxpr-explorer-")
        os.chmod(base, 0o711)
        env = _zygote_env({"HOME": base, "TMPDIR": base})
        return Launch(mode, zygote + ["--base", base], env, base, base, cleanup=[base])
    env = _zygote_env({"HOME": "/tmp", "TMPDIR": "/tmp", "JAXPR_EXPLORER_IN_BWRAP": "1"})
    env["PYTHONPATH"] = inside(PROJECT_ROOT)
    zygote[0] = inside(sys.executable)  # a venv is found from the path it is started by
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    argv += _namespaces_and_capabilities()
    argv += _system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]  # before any bind under /tmp
    binds = _python_paths() + [PACKAGE_DIR]
    for parent in _parents([inside(p) for p in binds]):  # searchable by the children's uid (bwrap makes 0700)
        argv += ["--perms", "0755", "--dir", parent]
    for path in binds:
        argv += ["--ro-bind", path, inside(path)]
    for key, value in sorted(env.items()):
        argv += ["--setenv", key, value]
    argv += ["--chdir", "/tmp", "--"] + zygote + ["--base", "/tmp"]
    return Launch(mode, argv, {}, "/", "/tmp")


ZYGOTE_CAPS_AS_ROOT = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL")  # mount, switch uid, kill it
ZYGOTE_CAPS = ("CAP_SYS_ADMIN",)  # in bwrap's own user namespace only: mount a /tmp


def _namespaces_and_capabilities() -> list[str]:
    """bwrap's namespace and capability options.

    Run by root, no user namespace: its single uid mapping (0 to 0) would leave no
    unprivileged uid to become, and uid 0 ignores RLIMIT_NPROC. The zygote keeps only
    what it needs to give each child a fresh /tmp and an unprivileged uid; every child
    drops all of it before user code runs. Run by anyone else, a user namespace, in
    which the zygote may mount (and nothing more).
    """
    if os.geteuid() == 0:
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        caps = ZYGOTE_CAPS_AS_ROOT
    else:
        args = ["--unshare-all"] + (["--disable-userns"] if _supports_disable_userns() else [])
        caps = ZYGOTE_CAPS
    return args + ["--cap-drop", "ALL"] + [x for cap in caps for x in ("--cap-add", cap)]


@functools.lru_cache(maxsize=1)
def _supports_disable_userns() -> bool:
    """True when this bwrap knows --disable-userns (0.8+) and it works here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    probe = [exe, "--unshare-all", "--disable-userns", "--ro-bind", "/", "/", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
