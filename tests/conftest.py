"""Shared test setup: JAX with 4 host CPU devices, as the explorer runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspectors import jaxsetup  # noqa: E402

jaxsetup.jax()  # before any backend starts, so the parallelization samples see 4 devices


@pytest.fixture(scope="session")
def root() -> Path:
    """The project root."""
    return ROOT
