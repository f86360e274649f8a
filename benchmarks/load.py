"""Load on the hosted demo: N concurrent sessions (N = 1, 10, 30) through the sandboxed worker pool.

    .venv/bin/python benchmarks/load.py [--sessions 1,10,30] [--duration 30] [--browsers 1] [--json]
    .venv/bin/python benchmarks/load.py --flood 30 [--duration 120]     # the fairness scenario

What it drives, exactly:
  * It starts the real server (`streamlit run app/main.py`, hosted mode where bwrap works) on
    127.0.0.1 and waits for /_stcore/health.
  * N simulated sessions are threads in this process, each with its own session id, calling
    `app.backend.run_inspection` -- the function the server's script threads call, with the same
    pool, limits and per-session fairness -- so they load a pool exactly like the server's.
    (Driving 30 sessions over Streamlit's websocket protocol, or 30 browsers on 2 cores, would
    measure the client more than the server.)
  * `--browsers K` real headless-Chromium sessions load the app from the server meanwhile and
    wait for its script run to finish: end-to-end latency while the machine is under load.
Each session repeats a realistic mix with think time (2-8 s: reading the result): a sample traced (45%), an edited sample
(25%), a program with an error (15%), a timing run (15%). Untimed results are cached by content
in app.backend, as in the server, so unchanged samples are cache hits. A failure is any result that differs
from the same request run alone (a limit hit, a crash, a busy error, a wrong outcome); a lost
result is a request that never returned. Stops by itself after the duration per N.

`--flood N`: N sessions run the longest allowed program (a busy loop just under the time
limit) back to back, with no think time, while one light user edits and traces a small program
every 2 s. By default the N sessions come from one client (sessions cost nothing: one person
opening tabs); `--flood-clients each` makes them N clients (N attendees), who are as entitled
to the workers as the light user until each has had a turn. It reports the light
user's wait for a worker (p50/p95; the design bound is one request's time limit), its
latency, what the flood got done, and the peak RSS of the process holding the pool and
of the real server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspectors.catalog import list_samples  # noqa: E402
from inspectors.results import InspectionResult, Request  # noqa: E402

ERROR_PROGRAMS = [
    ("def f(x):\n    return x +\n", "f32[3]", "SyntaxError"),
    ("import jax.numpy as jnp\ny = undefined_name\ndef f(x):\n    return x\n", "f32[3]", "NameError"),
    ("def f(x):\n    if x > 0:\n        return x\n    return -x\n", "f32[]", "TracerBoolConversionError"),
]
MIX = [("sample", 0.45), ("edit", 0.25), ("error", 0.15), ("timing", 0.15)]
WORKER_STAGES = ("worker", "queue")


@dataclass
class Record:
    """One request: what it was, how long it took, whether it failed."""

    action: str
    latency_s: float
    failed: str = ""


@dataclass
class Run:
    """Every record of one N."""

    sessions: int
    records: list[Record] = field(default_factory=list)
    lost: int = 0
    browser: list[Record] = field(default_factory=list)


def outcome(result: InspectionResult) -> str:
    """Summarise a result for comparison: ok, or the error's kind."""
    return "ok" if result.ok else result.error.kind


def make_request(action: str, rng: random.Random, samples: list, step: int) -> tuple[Request, str]:
    """Return a request for `action` and the sample (or the error kind) it must match."""
    if action == "error":
        source, args, kind = rng.choice(ERROR_PROGRAMS)
        return Request(source=source, args=args), kind
    sample = rng.choice(samples)
    source = sample.source()
    if action == "edit":
        source += f"\n\n# an attendee's edit {step}\ndef helper_{step}(x):\n    return x\n"
    timed = action == "timing"
    return Request(source=source, fn=sample.entry, time=timed, time_budget_s=1.0), sample.name + (
        "+time" if timed else ""
    )


def baseline(run_inspection, samples: list) -> dict[str, str]:
    """Return each sample's outcome when run alone, traced (`name`) and timed (`name+time`)."""
    jobs = [(s, timed) for s in samples for timed in (False, True)]

    def one(job: tuple) -> InspectionResult:
        s, timed = job
        request = Request(source=s.source(), fn=s.entry, time=timed, time_budget_s=0.05)
        return run_inspection(request, session=f"baseline-{s.name}-{timed}")

    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(one, jobs))
    return {
        s.name + ("+time" if timed else ""): outcome(r) for (s, timed), r in zip(jobs, results, strict=True)
    }


def session_loop(
    sid: str, stop: float, run_inspection, samples, expected, think, run: Run, seed: int
) -> None:
    """One simulated attendee: act, wait for the result, read it, repeat until `stop`."""
    rng = random.Random(seed)
    step = 0
    while time.monotonic() < stop:
        action = rng.choices([a for a, _ in MIX], [w for _, w in MIX])[0]
        request, want = make_request(action, rng, samples, step)
        want = expected.get(want, want)
        step += 1
        start = time.monotonic()
        result = run_inspection(request, session=sid)
        latency = time.monotonic() - start
        got = outcome(result)
        failed = ""
        if result.error and result.error.stage in WORKER_STAGES:
            failed = f"{result.error.kind}: {result.error.message[:120]}"
        elif got != want:
            failed = f"expected {want}, got {got}"
        elif action == "timing" and got == "ok" and result.timing is None:
            failed = "no timing"
        run.records.append(Record(action, latency, failed))
        time.sleep(rng.uniform(*think))


def drive(n: int, duration: float, run_inspection, samples, expected, think, seed: int) -> Run:
    """Run N sessions concurrently for `duration` seconds."""
    run = Run(n)
    stop = time.monotonic() + duration
    threads = [
        threading.Thread(
            target=session_loop,
            args=(f"load-{n}-{i}", stop, run_inspection, samples, expected, think, run, seed + i),
            daemon=True,
        )
        for i in range(n)
    ]
    for t in threads:
        t.start()
        time.sleep(duration / 20 / max(n, 1))  # attendees arrive over the first few seconds
    grace = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, grace - time.monotonic()))
    run.lost = sum(t.is_alive() for t in threads)
    return run


BUSY_LOOP = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n" + (
    "def f(x):\n    return x\n"
)
LIGHT = "def f(x):\n    return x * 2.0 + {i}.0\n"


def flood(n: int, duration: float, pool, limits, clients: str = "one") -> dict:
    """N flooding sessions and one light user on `pool`; return the light user's waits and the flood's count."""
    from dataclasses import asdict

    stop = time.monotonic() + duration
    busy_s = max(limits.timeout_s - 1.5, 0.5)
    heavy: list[str] = []
    waits: list[float] = []
    latencies: list[float] = []
    failures: list[str] = []

    def flooder(i: int) -> None:
        while time.monotonic() < stop:
            payload = asdict(Request(source=BUSY_LOOP.format(s=busy_s), args="f32[3]"))
            client = "flooder" if clients == "one" else f"flooder {i}"
            out = pool.run("inspect", payload, session=f"flood-{i}", client=client)
            heavy.append(out.error.kind if out.error else "ok")

    def light() -> None:
        i = 0
        time.sleep(min(5.0, duration / 4))  # the flood is on before the light user arrives
        while time.monotonic() < stop:
            start = time.monotonic()
            out = pool.run(
                "inspect", asdict(Request(source=LIGHT.format(i=i), args="f32[3]")), client="light"
            )
            latencies.append(time.monotonic() - start)
            waits.append(out.queued_s)
            if out.error is not None:
                failures.append(f"{out.error.kind}: {out.error.message[:100]}")
            i += 1
            time.sleep(2.0)

    threads = [threading.Thread(target=flooder, args=(i,), daemon=True) for i in range(n)]
    threads.append(threading.Thread(target=light, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + limits.timeout_s * 3 + 60)
    return {
        "flood_sessions": n,
        "flood_clients": 1 if clients == "one" else n,
        "busy_loop_s": busy_s,
        "time_limit_s": limits.timeout_s,
        "flood_requests": len(heavy),
        "flood_outcomes": {k: heavy.count(k) for k in sorted(set(heavy))},
        "light_requests": len(waits),
        "light_wait_p50_s": round(percentile(waits, 50), 2),
        "light_wait_p95_s": round(percentile(waits, 95), 2),
        "light_wait_max_s": round(max(waits, default=float("nan")), 2),
        "light_latency_p95_s": round(percentile(latencies, 95), 2),
        "light_failures": failures[:5],
    }


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process, in MB; this one by default."""
    with open(f"/proc/{pid or 'self'}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen:
    """Start the real Streamlit server on 127.0.0.1:port and wait until it is healthy."""
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app/main.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not become healthy in 90 s")


def browser_loop(url: str, stop_event: threading.Event, out: list[Record]) -> None:
    """One real browser session: load the app, wait for its script run, repeat."""
    from playwright.sync_api import sync_playwright

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        while not stop_event.is_set():
            start = time.monotonic()
            failed = ""
            try:
                page.goto(url, timeout=60_000)
                page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
                page.wait_for_timeout(300)
                page.wait_for_selector("[data-test-script-state='notRunning']", timeout=60_000)
                if page.query_selector("[data-testid='stException']"):
                    failed = "exception shown"
            except Exception as exc:  # noqa: BLE001 - any browser failure counts
                failed = type(exc).__name__
            out.append(Record("browser", time.monotonic() - start, failed))
            stop_event.wait(2.0)
        browser.close()


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of `values`."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(run: Run) -> dict:
    """Return the run's latency percentiles and failures, per action and overall."""
    by_action: dict[str, list[Record]] = defaultdict(list)
    for r in run.records + run.browser:
        by_action[r.action].append(r)
    rows = {}
    for action, recs in sorted(by_action.items()):
        lat = [r.latency_s for r in recs]
        rows[action] = {
            "requests": len(recs),
            "p50_s": round(percentile(lat, 50), 3),
            "p95_s": round(percentile(lat, 95), 3),
            "failures": sum(bool(r.failed) for r in recs),
        }
    lat = [r.latency_s for r in run.records]
    traces = [r.latency_s for r in run.records if r.action in ("sample", "edit")]
    return {
        "sessions": run.sessions,
        "requests": len(run.records),
        "p50_s": round(percentile(lat, 50), 3),
        "p95_s": round(percentile(lat, 95), 3),
        "trace_p95_s": round(percentile(traces, 95), 3),
        "failures": sum(bool(r.failed) for r in run.records),
        "lost": run.lost,
        "failure_examples": sorted({r.failed for r in run.records + run.browser if r.failed})[:5],
        "by_action": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when no request failed or was lost."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", default="1,10,30", help="comma-separated N")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per N")
    p.add_argument("--think", default="2,8", help="think time between requests, min,max seconds")
    p.add_argument("--browsers", type=int, default=0, help="real headless-Chromium sessions on the server")
    p.add_argument("--samples", type=int, default=0, help="use only the first K samples (0: all)")
    p.add_argument("--no-server", action="store_true", help="do not start the Streamlit server")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--flood", type=int, default=0, help="run the fairness scenario with N flooding sessions")
    p.add_argument("--flood-clients", choices=("one", "each"), default="one", help="the flood's clients")
    ns = p.parse_args(argv)
    think = tuple(float(x) for x in ns.think.split(","))

    from app import backend  # the server's door: the same pool code, limits and fairness

    samples = list_samples()
    samples = samples[: ns.samples] if ns.samples else samples
    pool = backend.pool()
    pool.start()
    env = {**os.environ}
    if "bwrap" in backend.isolation_status():
        env["JAXPR_EXPLORER_HOSTED"] = "1"
    port = 8600 + os.getpid() % 300
    server = None if ns.no_server else start_server(port, env)
    report = {
        "drives": f"{ns.sessions} simulated sessions (threads) on app.backend's pool in this process; "
        f"{ns.browsers} headless-Chromium sessions on the real server",
        "server": None if server is None else f"http://127.0.0.1:{port} (healthy)",
        "isolation": backend.isolation_status(),
        "limits": backend.limits().describe(),
        "think_s": list(think),
        "cores": os.cpu_count(),
        "runs": [],
    }
    try:
        if ns.flood:
            report["flood"] = flood(ns.flood, ns.duration, pool, backend.limits(), ns.flood_clients)
            report["peak_rss_mb"] = {
                "pool_process": peak_rss_mb(),
                "server": None if server is None else peak_rss_mb(server.pid),
            }
            print(json.dumps(report, indent=1))
            return 1 if report["flood"]["light_failures"] else 0
        start = time.monotonic()
        expected = baseline(backend.run_inspection, samples)
        report["baseline_s"] = round(time.monotonic() - start, 2)
        for n in [int(x) for x in ns.sessions.split(",")]:
            stop_event = threading.Event()
            browser_records: list[Record] = []
            browsers = [
                threading.Thread(
                    target=browser_loop, args=(f"http://127.0.0.1:{port}", stop_event, browser_records)
                )
                for _ in range(ns.browsers if server else 0)
            ]
            for b in browsers:
                b.start()
            run = drive(n, ns.duration, backend.run_inspection, samples, expected, think, ns.seed)
            stop_event.set()
            for b in browsers:
                b.join(120)
            run.browser = browser_records
            report["runs"].append(summary(run))
            if not ns.json:
                print_run(report["runs"][-1], first=n == int(ns.sessions.split(",")[0]), header=report)
        report["pool"] = dict(pool.counts)
        report["result_cache"] = dict(backend.cache_stats)
        if not ns.json:
            print(
                f"# pool: {report['pool']}; app.backend result cache (untimed requests): {report['result_cache']}"
            )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        pool.close()
    if ns.json:
        print(json.dumps(report, indent=1))
    bad = sum(r["failures"] + r["lost"] for r in report["runs"])
    return 1 if bad else 0


def print_run(row: dict, first: bool, header: dict) -> None:
    """Print one N's results as table rows."""
    if first:
        for key in ("drives", "server", "isolation", "limits", "think_s", "cores", "baseline_s"):
            print(f"# {key}: {header.get(key)}")
        print(f"{'N':>3} {'action':<8} {'requests':>8} {'p50 s':>7} {'p95 s':>7} {'failures':>8} {'lost':>4}")
    print(
        f"{row['sessions']:>3} {'all':<8} {row['requests']:>8} {row['p50_s']:>7} {row['p95_s']:>7} {row['failures']:>8} {row['lost']:>4}"
    )
    for action, r in row["by_action"].items():
        print(f"{'':>3} {action:<8} {r['requests']:>8} {r['p50_s']:>7} {r['p95_s']:>7} {r['failures']:>8}")
    for example in row["failure_examples"]:
        print(f"    failure: {example}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
