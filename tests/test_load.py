"""A small run of the load benchmark (N = 5): correctness under concurrency, not timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_five_sessions_lose_nothing_and_nothing_fails(root) -> None:
    cmd = [
        sys.executable,
        "benchmarks/load.py",
        "--sessions",
        "5",
        "--duration",
        "8",
        "--samples",
        "6",
        "--think",
        "0.2,1",
    ]
    done = subprocess.run(cmd + ["--json"], cwd=root, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    (run,) = report["runs"]
    assert report["server"] and "healthy" in report["server"]  # the real server started
    assert run["sessions"] == 5 and run["requests"] >= 10
    assert run["lost"] == 0
    assert run["failures"] == 0, run["failure_examples"]
    assert done.returncode == 0
