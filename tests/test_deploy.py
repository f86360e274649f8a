"""Deployment files: the nginx config parses, the start-up script is valid and refuses to run unsandboxed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_config_passes_nginx_t(root, tmp_path) -> None:
    conf = tmp_path / "nginx.conf"
    shutil.copy(root / "deploy" / "nginx.conf", conf)
    done = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_nginx_config_is_sticky_and_proxies_websockets(root) -> None:
    text = (root / "deploy" / "nginx.conf").read_text()
    assert re.search(r"hash \$jxe_route consistent;", text)
    assert "location /_stcore/stream" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    ports = [int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+);", text)]
    script = (root / "deploy" / "run_hosted.sh").read_text()
    base = int(re.search(r"BASE_PORT=\$\{BASE_PORT:-(\d+)\}", script).group(1))
    assert ports == list(range(base, base + len(ports)))  # REPLICAS=len(ports) fills the upstream


def test_run_hosted_script_is_valid_bash(root) -> None:
    assert subprocess.run(["bash", "-n", str(root / "deploy" / "run_hosted.sh")], timeout=30).returncode == 0
    assert os.access(root / "deploy" / "run_hosted.sh", os.X_OK)


def test_start_up_check_refuses_hosting_without_bwrap(root) -> None:
    env = {**os.environ, "JAXPR_EXPLORER_ISOLATION": "subprocess"}
    done = subprocess.run(
        [sys.executable, "-m", "inspectors.sandbox", "--check", "--hosted"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "needs bwrap" in done.stderr
