"""Drive the real app: start `streamlit run app/main.py` on 127.0.0.1 and open it in headless Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IDLE = "[data-test-script-state='notRunning']"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(timeout_s: float = 60.0, script: str = "app/main.py") -> Iterator[str]:
    """Run the app (or another Streamlit script) on a free local port; yield its URL; stop it afterwards."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", script,
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    (ROOT / "artifacts").mkdir(exist_ok=True)  # a fresh clone has none
    log = open(ROOT / "artifacts" / f"streamlit-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start (see {log.name})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_idle(page, timeout_ms: int = 60_000) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the script has finished its current run."""
    page.wait_for_timeout(300)  # let a rerun that was just triggered start
    page.wait_for_selector(IDLE, timeout=timeout_ms, state="attached")
    page.wait_for_timeout(200)


def choose(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick `option` in the selectbox labelled `label`."""
    box = page.get_by_label(label, exact=True).first
    box.click()
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def open_app(page, url: str) -> None:  # noqa: ANN001
    """Open the app and wait for its first full run."""
    page.goto(url)
    page.wait_for_selector("text=Jaxpr Explorer", timeout=90_000)
    wait_idle(page)


def pick_sample(page, title: str) -> None:  # noqa: ANN001
    """Choose a sample in the sidebar picker by (part of) its title."""
    page.locator("[data-testid='stSelectbox']").filter(has_text="Sample").locator("input").first.click()
    page.keyboard.type(title)
    page.get_by_role("option").filter(has_text=title).first.click()
    wait_idle(page)


def add_transform(page, name: str, options: str = "") -> None:  # noqa: ANN001
    """Add a transform with the sidebar's add row."""
    page.locator("[data-testid='stSelectbox']").filter(has_text="Add").locator("input").first.click()
    page.keyboard.type(name)
    page.get_by_role("option", name=name, exact=True).first.click()
    wait_idle(page)
    if options:
        page.get_by_label("Options", exact=True).fill(options)
    page.get_by_role("button", name="Add transform").click()
    wait_idle(page)


def editor_frame(page, timeout_s: float = 60.0):  # noqa: ANN001, ANN201 - Playwright objects
    """The frame that holds the Ace editor (it is drawn after the first inspection)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.locator(".ace_gutter-cell").count():
                    return frame
            except Exception:  # noqa: BLE001 - frames come and go while Streamlit redraws
                continue
        page.wait_for_timeout(200)
    raise AssertionError("no editor frame")


def open_tab(page, label: str) -> None:  # noqa: ANN001
    """Switch to one of the stage tabs."""
    page.get_by_role("tab", name=label, exact=True).first.click()
    wait_idle(page)


def wait_for_svg_graph(page, timeout_s: float = 60.0):  # noqa: ANN001, ANN201
    """Wait until a Graphviz SVG with nodes is drawn (in the page or in a view's iframe); return its frame."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.locator("svg g.node").count() > 0:
                    return frame
            except Exception:  # noqa: BLE001 - a frame may go away while we look
                continue
        page.wait_for_timeout(250)
    raise TimeoutError("no graph SVG appeared")


def browser_marks() -> list:
    """The marks of a browser test module: `browser`, skipped where Chromium is missing."""
    import pytest

    return [
        pytest.mark.browser,
        pytest.mark.skipif(
            not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"
        ),
    ]


def launch_chromium() -> Iterator:
    """Yield headless Debian Chromium driven by Playwright (a module-scoped fixture's body)."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
