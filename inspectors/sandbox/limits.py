"""Per-request limits of the sandbox, read from `JAXPR_EXPLORER_*` environment variables.

Two sets of defaults: a hosted server (`JAXPR_EXPLORER_HOSTED=1`) is shared by strangers and keeps strict
limits, with caps per stage so that one huge XLA pass never hides the others; a local run is the user's own
machine and gets limits no real model hits (`LOCAL`). The dataclass defaults are the strict ones.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "JAXPR_EXPLORER_"
MIN_MEMORY_MB = 2048  # JAX segfaults below about 2 GiB of address space


@dataclass(frozen=True)
class Limits:
    """What one request may use, and how the pool is sized; each field has an env var."""

    timeout_s: float = 20.0  # JAXPR_EXPLORER_TIMEOUT_S: wall time per request
    memory_mb: int = 4096  # JAXPR_EXPLORER_MEMORY_MB: address space per request
    output_mb: float = 16.0  # JAXPR_EXPLORER_OUTPUT_MB: printed output and each file written
    max_procs: int = 256  # JAXPR_EXPLORER_MAX_PROCS: threads per sandbox (RLIMIT_NPROC, with bwrap)
    open_files: int = 256  # JAXPR_EXPLORER_OPEN_FILES: RLIMIT_NOFILE
    tmp_mb: int = 64  # JAXPR_EXPLORER_TMP_MB: size of each request's private /tmp
    source_kb: int = 256  # JAXPR_EXPLORER_SOURCE_KB: largest program accepted (link, editor, CLI, library)
    workers: int = 2  # JAXPR_EXPLORER_WORKERS: requests that run at the same time
    queue: int = 64  # JAXPR_EXPLORER_QUEUE: requests that may wait for a worker
    queue_wait_s: float = 120.0  # JAXPR_EXPLORER_QUEUE_WAIT_S: longest wait for a worker
    hosted: bool = False  # JAXPR_EXPLORER_HOSTED=1: refuse to run without bwrap
    isolation: str = "auto"  # JAXPR_EXPLORER_ISOLATION: auto, bwrap or subprocess
    stage_mb: float = 8.0  # JAXPR_EXPLORER_STAGE_MB: largest stage (or analysis) kept; 0 = no cap
    result_mb: float = 64.0  # JAXPR_EXPLORER_RESULT_MB: the whole result; 0 = no cap
    # JAXPR_EXPLORER_CLIENT_WORKERS: the most workers one client (an address) holds at once;
    # 0 = all but one, so someone else arriving always finds a worker free.
    client_workers: int = 0

    def __post_init__(self) -> None:
        if self.memory_mb < MIN_MEMORY_MB:
            raise ValueError(
                f"memory_mb={self.memory_mb}: JAX needs at least {MIN_MEMORY_MB} MB of address space"
            )
        if self.isolation not in ("auto", "bwrap", "subprocess"):
            raise ValueError(f"isolation={self.isolation!r}: use auto, bwrap or subprocess")
        if self.timeout_s <= 0 or self.workers < 1 or self.queue < 0:
            raise ValueError("timeout_s and workers must be positive, queue non-negative")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Limits:
        """Return limits from `JAXPR_EXPLORER_*` variables, then `overrides`."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f.type, raw.strip(), ENV_PREFIX + f.name.upper())
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values.get("hosted"):
            values = {**local_defaults(), **values}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the limits as plain data (sent to the worker with each request)."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """Return a one-line summary for logs and the app's footer."""
        return (
            f"{self.timeout_s:g} s, {self.memory_mb} MB, output {self.output_mb:g} MB, "
            f"{_cap(self.stage_mb)} per stage, {_cap(self.result_mb)} per result, "
            f"{self.workers} workers, queue {self.queue}"
        )


# A local run: the machine is the user's. A GPT-2-sized model's result is about 45 MB (pass texts 25 MB),
# its compile a minute on a loaded laptop: no cap per result or stage, a long time limit (a Stop button
# ends a run sooner), memory as the machine has it, room in /tmp for XLA's pass dump.
LOCAL: dict[str, Any] = {
    "timeout_s": 1800.0,
    "output_mb": 1024.0,
    "tmp_mb": 2048,
    "stage_mb": 0.0,
    "result_mb": 0.0,
}


def local_defaults() -> dict[str, Any]:
    """Return the local run's defaults: `LOCAL`, and the machine's physical memory per request."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):  # not on Linux: the strict default
        memory = Limits.memory_mb
    return {**LOCAL, "memory_mb": max(int(memory), MIN_MEMORY_MB)}


def cap_bytes(mb: float) -> int | None:
    """Return a cap in MB as bytes (None: no cap)."""
    return int(mb * 1024 * 1024) if mb > 0 else None


def _cap(mb: float) -> str:
    """A cap for messages: `8 MB` or `no cap`."""
    return f"{mb:g} MB" if mb > 0 else "no cap"


def _parse(tp: Any, raw: str, name: str) -> Any:
    """Convert an environment value to the field's type."""
    kind = tp if isinstance(tp, str) else tp.__name__
    try:
        if kind == "bool":
            return raw.lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(float(raw))
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    return raw


def env_name(field_name: str) -> str:
    """Return the environment variable that sets a field: `timeout_s` → `JAXPR_EXPLORER_TIMEOUT_S`."""
    return ENV_PREFIX + field_name.upper()
