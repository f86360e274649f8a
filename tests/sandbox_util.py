"""Shared by the sandbox test modules: the isolation modes to run each attack in."""

from __future__ import annotations

import os

import pytest

from inspectors.sandbox.launcher import bwrap_problem


def modes() -> list:
    """The isolation modes to test here: bwrap (skipped where it cannot run) and the subprocess fallback."""
    forced = os.environ.get("JAXPR_EXPLORER_ISOLATION")
    bwrap = pytest.param(
        "bwrap", marks=pytest.mark.skipif(bwrap_problem() is not None, reason=str(bwrap_problem()))
    )
    return ["subprocess"] if forced == "subprocess" else [bwrap, "subprocess"]
