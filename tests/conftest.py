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


# --- the browser tests: one Chromium and one app server per test module ---------------------------------


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, shared by the tests of a module."""
    from tests.browser_util import launch_chromium

    yield from launch_chromium()


@pytest.fixture(scope="module")
def server():
    """The app on a free 127.0.0.1 port, shared by the tests of a module."""
    from tests.browser_util import streamlit_server

    with streamlit_server() as url:
        yield url


# --- the quick subset: `pytest -m "not browser and not slow"` ------------------------------------------
# Whole modules that are slow by nature: every attack run in the sandbox (in both isolation modes), real
# models of thousands of equations, every sample through every stage, nginx, the load benchmark's check.
# Single slow tests elsewhere carry `@pytest.mark.slow` themselves.
SLOW_MODULES = {
    "test_hardening.py",
    "test_hardening_app.py",
    "test_isolation.py",
    "test_real_models.py",
    "test_samples.py",
    "test_deploy.py",
    "test_load.py",
    "test_browser_big_model.py",  # a model pasted in and compiled; a run that waits half a minute
    "test_bad_programs.py",  # each bad program runs to its limit in the sandbox, in both isolation modes
}


# Tests elsewhere whose fixtures build large programs (10 s to a minute on 2 cores).
SLOW_TESTS = {
    "test_graph.py::test_every_equation_is_drawn_once_when_expanded",
    "test_graph.py::test_a_transformer_shows_its_layers_as_clusters_with_attention_and_mlp_inside",
    "test_graph.py::test_unrolled_loop_folds_to_blocks_marked_x1500",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of slow modules, and the slow tests named above, `slow`: the quick subset leaves them out."""
    for item in items:
        name = getattr(item, "originalname", item.name)
        if item.path.name in SLOW_MODULES or f"{item.path.name}::{name}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
