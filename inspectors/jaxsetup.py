"""Import JAX once, configured for the explorer (several host CPU devices)."""

from __future__ import annotations

import os
from types import ModuleType

CPU_DEVICES_ENV = "JAXPR_EXPLORER_CPU_DEVICES"
DEFAULT_CPU_DEVICES = 4


def jax() -> ModuleType:
    """Return the `jax` module, asking for N host CPU devices if no backend started yet."""
    import jax as _jax

    count = int(os.environ.get(CPU_DEVICES_ENV, DEFAULT_CPU_DEVICES))
    try:
        _jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        pass  # a backend already started (e.g. in a test process): keep what it has
    # Locations in StableHLO/HLO name the user's line only, not the call stack through
    # this package: the text is then the same whoever calls JAX, and reads better.
    _jax.config.update("jax_include_full_tracebacks_in_locations", False)
    # Frames of this package are never "the user's frame": an op with no user line
    # (the outer jit's constants) says unknown rather than naming pipeline.py.
    from jax.extend import source_info_util

    source_info_util.register_exclusion(os.path.dirname(os.path.abspath(__file__)))
    return _jax
