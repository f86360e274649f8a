"""How fast the app answers, measured in a real browser: page load, tab switches, search, source-line picks.

    .venv/bin/python benchmarks/app_latency.py [--big 1500] [--repeat 3] [--skip-big]

Starts `streamlit run app/main.py` on a free port and drives it with Playwright
over Debian's Chromium (headless), as a user would. Each figure is the time from
the action (navigation, click, keystroke) until what it asked for is on screen
and the script has finished its run; medians of `--repeat` tries (the first page
load of a program is measured once per program: later loads hit the caches).
Programs: the default sample (small), and the grad of a Python loop unrolled
`--big` times (8N+2 equations after grad: 12,002 for N=1,500), next to raw
`jax.make_jaxpr` of the same grad in this process. The floor is `benchmarks/floor_app.py`, a plain
ten-line Streamlit script that shows the same small program's `make_jaxpr` text with `st.code` and reruns
on a radio to show its StableHLO: the app's first jaxpr is held to the floor's + 0.3 s, its switch from the
Jaxpr tab to StableHLO to the floor's radio rerun + 0.1 s. Prints one table with the issue's targets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import state  # noqa: E402
from tests.browser_util import launch_chromium, streamlit_server  # noqa: E402

FLOOR = Path(__file__).resolve().parent / "floor_app.py"  # the framework floor: make_jaxpr + st.code + a radio
BIG = """import jax.numpy as jnp


def loss(x, w):
    for _ in range({n}):
        x = jnp.tanh(x * w) + x
    return jnp.sum(x)
"""
# A JS query under some roots, shadow roots included (the explorer component mounts in one).
UNDER = """(roots, sel) => {
  roots = [...roots];
  for (let i = 0; i < roots.length; i++)
    for (const e of roots[i].querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
  return roots.flatMap(r => [...r.querySelectorAll(sel)]);
}"""
# With a view open, only inside that view's panel: scanning a page holding 12,000 equations many times a
# second would measure the benchmark, not the app.
DEEP = f"""(sel) => {{
  const main = document.querySelector('.st-key-views [role=tablist]');
  const panels = main ? [...document.querySelectorAll('.st-key-views [role=tabpanel]')]
    .filter(p => !p.parentElement.closest('[role=tabpanel]') && p.checkVisibility()) : [];
  return ({UNDER})(panels.length ? [panels[0]] : [document], sel);
}}"""
# The whole page (for what is not inside a view).
EVERYWHERE = f"(sel) => ({UNDER})([document], sel)"
IDLE = "document.querySelector(\"[data-test-script-state='notRunning']\") !== null"


def deep_count(page, selector: str) -> int:  # noqa: ANN001 - a Playwright page
    """Return how many elements match `selector` anywhere in the page (shadow roots included)."""
    return page.evaluate(f"(sel) => ({DEEP})(sel).length", selector)


def until(page, condition: str, timeout_s: float = 300.0, idle: bool = True) -> None:  # noqa: ANN001
    """Wait until a JS condition (over `deep(sel)`) holds (and, with `idle`, the script has finished)."""
    page.wait_for_function(
        f"() => {{ const deep = {DEEP}; const everywhere = {EVERYWHERE}; const seen = {SEEN}; "
        f"return ({condition}) && {IDLE if idle else 'true'}; }}",
        timeout=timeout_s * 1000,
        polling=25,
    )


def timed(action, page, condition: str, timeout_s: float = 300.0) -> float:  # noqa: ANN001
    """Run `action()`, wait for `condition`; return the seconds in between."""
    start = time.perf_counter()
    action()
    page.wait_for_timeout(30)  # let the click's rerun start before testing for idle
    until(page, condition, timeout_s)
    return time.perf_counter() - start


# What "on screen" means for each view: a few of its elements drawn and visible (tabs switch in the
# browser, so the other tabs' elements exist too, hidden).
SEEN = "(sel, test = () => true) => deep(sel).some(e => e.checkVisibility() && test(e))"
VIEWS = {
    "Jaxpr": "seen('.pane .title', t => t.textContent.startsWith('After')) && seen('.ln-row')",
    "Stages": "seen('.pane .title', t => t.textContent.startsWith('jaxpr:'))",
    "Graph": "seen('.graph g.node')",
    "StableHLO": "seen('.pane .title', t => t.textContent.startsWith('StableHLO'))",
    "Compiled HLO": "seen('.pane .title', t => t.textContent.startsWith('Compiled HLO'))",
    "Source map": "seen('.source-table') || seen('.st-key-build_smap')",
    "Provenance": "seen('h4', h => h.textContent.includes('grad'))",
    "Stats": "seen('[data-testid=stMetric]')",
}


# Every view drawn (the views after the open one are drawn once the browser asks for them).
EVERY_VIEW = "everywhere('.graph g.node').length > 0 && everywhere('[data-testid=stMetric]').length > 0"


def tab(page, name: str) -> None:  # noqa: ANN001
    """Click a stage tab (found by a plain DOM query: Playwright's role engine walks the whole page,
    seconds on a page holding a 12,000-equation program)."""
    page.evaluate(
        """(name) => {
          const list = document.querySelector('.st-key-views [role=tablist]') || document.querySelector('[role=tablist]');
          [...list.querySelectorAll('[role=tab]')].find(t => t.innerText.trim() === name).click();
        }""",
        name,
    )


def link(code: str, fn: str, args: str, transforms: list[str]) -> str:
    """Return the `?s=` link that opens this program."""
    data = {"v": state.URL_VERSION, "code": code, "sample": None, "entry": fn, "args": args, "device": "",
            "debug_locations": False, "time_budget_s": 1.0, "transforms": transforms, "graph": {}, "stages": []}  # fmt: skip
    return "/?s=" + state.encode(data)


def first_jaxpr(browser, url: str) -> tuple[float, float, float, object]:  # noqa: ANN001
    """Open `url` in a fresh page; return (s from navigation, s from the load event, s until every view is drawn,
    the page): the jaxpr is on screen while the other views are still being drawn."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    start = time.perf_counter()
    page.goto(url, wait_until="load")
    loaded = time.perf_counter()
    until(page, VIEWS["Jaxpr"], 900, idle=False)
    shown = time.perf_counter()
    until(page, EVERY_VIEW, 900)
    return shown - start, shown - loaded, time.perf_counter() - loaded, page


def switches(page, names: list[str], repeat: int) -> dict[str, list[float]]:  # noqa: ANN001
    """Visit each view `repeat` times in turn; return the seconds per visit, by view (inf: timed out)."""
    out: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeat):
        for name in names:
            out[name].append(attempt(lambda n=name: timed(lambda: tab(page, n), page, VIEWS[n], 120)))
    return out


def attempt(measure) -> float:  # noqa: ANN001
    """Return `measure()`, or infinity when what it waits for never came."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - a timeout is a result here, not a crash
        print(f"  (gave up: {type(exc).__name__})", file=sys.stderr)
        return float("inf")


def search(page, text: str) -> float:  # noqa: ANN001
    """Type in the after-jaxpr pane's search box; return seconds until the first match is marked."""
    box = page.locator(".pane .search >> visible=true").last
    return timed(lambda: box.fill(text), page, "seen('.ln-row.hit.cur')")


PICKABLE = """() => {
  const current = document.querySelector('.src-row.sel')?.dataset.src;
  const rows = deep('.ln-row[data-src]').filter(r => r.checkVisibility() && r.dataset.src !== current);
  if (rows.length) { rows[0].setAttribute('data-bench-pick', '1'); return rows[0].dataset.src; }
  for (const s of deep('.scroll')) if (s.checkVisibility()) s.scrollTop = s.scrollHeight; // look further down
  return null;
}"""


def source_pick(page) -> float:  # noqa: ANN001
    """Click a painted line in the source map's jaxpr from another source line than the selected one;
    return seconds until that source line is the selection (found and clicked with plain DOM queries)."""
    src = None
    for _ in range(20):
        src = page.evaluate(f"() => {{ const deep = {DEEP}; return ({PICKABLE})(); }}")
        if src:
            break
        page.wait_for_timeout(250)
    if not src:
        raise RuntimeError("no painted line of another source line")
    click = f"() => {{ const deep = {DEEP}; deep('[data-bench-pick]')[0].click(); }}"
    return timed(lambda: page.evaluate(click), page, f"seen('.src-row.sel[data-src=\"{src}\"]')")


def raw_make_jaxpr(n: int) -> float:
    """Seconds for `jax.make_jaxpr(jax.grad(loss))` of the unrolled loop, in this process."""
    import jax
    import jax.numpy as jnp

    namespace: dict = {}
    exec(compile(BIG.format(n=n), "big.py", "exec"), namespace)  # noqa: S102 - our own benchmark program
    x = jnp.ones(8, jnp.float32)
    start = time.perf_counter()
    jax.make_jaxpr(jax.grad(namespace["loss"]))(x, x)
    return time.perf_counter() - start


def row(what: str, seconds: list[float] | float, target: str, limit: float | None) -> str:
    """One table row (also printed at once): median seconds, the target, met or not."""
    values = seconds if isinstance(seconds, list) else [seconds]
    median = statistics.median(values)
    verdict = "" if limit is None else ("met" if median <= limit else f"missed by {median - limit:.2f} s")
    line = f"| {what} | {median:.2f} | {target} | {verdict} |"
    print(line, file=sys.stderr, flush=True)
    return line


FLOOR_JAXPR = "seen('[data-testid=stCode]', e => e.textContent.includes('lambda'))"
FLOOR_STABLEHLO = "seen('[data-testid=stCode]', e => e.textContent.includes('module @'))"
# The app's StableHLO view with its text drawn (not just the pane's title).
APP_STABLEHLO = f"{VIEWS['StableHLO']} && seen('.ln-row', r => r.textContent.includes('module @'))"


def radio(page, name: str) -> None:  # noqa: ANN001
    """Click an option of the floor's radio (a plain DOM query, as `tab`)."""
    page.evaluate(
        "(name) => [...document.querySelectorAll('[data-testid=stRadio] label')]"
        ".find(l => l.innerText.trim() === name).click()",
        name,
    )


def fresh_page(browser, url: str, condition: str) -> tuple[float, float, object]:  # noqa: ANN001
    """Open `url` in a fresh page; return (s from navigation, s from the load event) until `condition`, the page."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    start = time.perf_counter()
    page.goto(url, wait_until="load")
    loaded = time.perf_counter()
    until(page, condition, 300)
    shown = time.perf_counter()
    return shown - start, shown - loaded, page


def floor(browser, repeat: int) -> tuple[list[float], list[float], list[float]]:  # noqa: ANN001
    """The floor script from fresh pages (its server warm: JAX imported), and its radio rerun to StableHLO:
    (first jaxpr from navigation, after the load event, radio switches), `repeat` of each."""
    with streamlit_server(timeout_s=120, script=str(FLOOR)) as url:
        fresh_page(browser, url, FLOOR_JAXPR)[2].close()  # the first run imports JAX in the server
        navigation, loaded, switch = [], [], []
        for _ in range(repeat):
            total, after_load, page = fresh_page(browser, url, FLOOR_JAXPR)
            navigation.append(total)
            loaded.append(after_load)
            for _ in range(repeat):
                switch.append(timed(lambda p=page: radio(p, "StableHLO"), page, FLOOR_STABLEHLO))
                timed(lambda p=page: radio(p, "Jaxpr"), page, FLOOR_JAXPR)
            page.close()
    return navigation, loaded, switch


def app_stablehlo_switches(page, repeat: int) -> list[float]:  # noqa: ANN001
    """From the Jaxpr tab to StableHLO, `repeat` times: seconds until its text is drawn."""
    times = []
    for _ in range(repeat):
        tab(page, "Jaxpr")
        until(page, VIEWS["Jaxpr"])
        times.append(attempt(lambda: timed(lambda: tab(page, "StableHLO"), page, APP_STABLEHLO, 120)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--big", type=int, default=1500, help="unrolled iterations (8N+2 equations after grad)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="the sandbox's time limit per request (s)"
    )
    parser.add_argument("--output-mb", type=float, default=512.0, help="the sandbox's result size limit (MB)")
    args = parser.parse_args()
    # The big program's whole inspection (trace, every partial trace, lower, a 10-20 s XLA compile, the
    # pass record) passes the hosted 20 s and 16 MB limits on a loaded 2-core machine; the benchmark
    # measures the app, so it lifts them.
    os.environ["JAXPR_EXPLORER_TIMEOUT_S"] = str(args.timeout)
    os.environ["JAXPR_EXPLORER_OUTPUT_MB"] = str(args.output_mb)
    (Path(__file__).resolve().parents[1] / "artifacts").mkdir(exist_ok=True)
    rows = ["| measurement | seconds (median) | target | |", "|---|---|---|---|"]
    browser_gen = launch_chromium()
    browser = next(browser_gen)
    floor_nav, floor_load, floor_switch = floor(browser, args.repeat)
    with streamlit_server(timeout_s=120) as url:
        *_, page = first_jaxpr(browser, url)  # starts the worker pool (imports JAX)
        page.close()
        navigation, loaded, every = [], [], []
        for _ in range(args.repeat):  # fresh pages, as the floor's
            total, after_load, drawn, page = first_jaxpr(browser, url)
            navigation.append(total)
            loaded.append(after_load)
            every.append(drawn)
            page.close()
        total, after_load, drawn, page = first_jaxpr(browser, url)  # the page the switches are timed on
        app_switch = app_stablehlo_switches(page, args.repeat)
        nav, load, switch = (statistics.median(v) for v in (floor_nav, floor_load, floor_switch))
        rows += [
            row("floor (benchmarks/floor_app.py): first jaxpr, from navigation (warm server)", floor_nav, "", None),
            row("small: first jaxpr, from navigation (warm server)", navigation, f"≤ floor + 0.3 = {nav + 0.3:.2f} s", nav + 0.3),
            row("floor: first jaxpr after page load", floor_load, "", None),
            row("small: first jaxpr after page load", loaded, f"≤ floor + 0.3 = {load + 0.3:.2f} s", load + 0.3),
            row("floor: radio rerun to StableHLO (text drawn)", floor_switch, "", None),
            row("small: tab switch Jaxpr → StableHLO (text drawn)", app_switch, f"≤ floor + 0.1 = {switch + 0.1:.2f} s", switch + 0.1),
            row("small: first jaxpr after page load (the earlier absolute target)", loaded, "≤ 1.2 s", 1.2),
            row("small: every view drawn, after page load", every, "", None),
        ]  # fmt: skip
        views = [n for n in VIEWS if n != "Jaxpr"] + ["Jaxpr"]
        for name, times in switches(page, views, args.repeat).items():
            rows.append(row(f"small: switch to {name}", times, "≤ 0.4 s", 0.4))
        tab(page, "Jaxpr")
        until(page, VIEWS["Jaxpr"])
        rows.append(
            row("small: search in a text", attempt(lambda: search(page, "dot_general")), "≤ 0.4 s", 0.4)
        )
        tab(page, "Source map")
        until(page, VIEWS["Source map"])
        rows.append(
            row(
                "small: source-line pick (click a painted line)",
                attempt(lambda: source_pick(page)),
                "≤ 0.4 s",
                0.4,
            )
        )
        page.close()
        if not args.skip_big:
            raw = raw_make_jaxpr(args.big)
            rows.append(row(f"big ({8 * args.big + 2} eqns): raw make_jaxpr in this process", raw, "", None))
            big = link(BIG.format(n=args.big), "loss", "f32[8], f32[8]", ["grad"])
            total, after_load, every, page = first_jaxpr(browser, url + big)
            rows.append(
                row("big: first jaxpr after page load", after_load, f"≤ raw + 3 = {raw + 3:.1f} s", raw + 3)
            )
            rows.append(row("big: every view drawn, after page load", every, "", None))
            first = switches(page, ["Graph"], 1)["Graph"]
            rows.append(row("big: switch to Graph (first visit)", first, "≤ 3 s", 3.0))
            others = [n for n in VIEWS if n not in ("Graph", "Jaxpr")] + ["Jaxpr"]
            for name, times in switches(page, others, 1).items():
                rows.append(row(f"big: switch to {name} (first visit)", times, "≤ 1 s", 1.0))
            for name, times in switches(page, ["Graph", *others], args.repeat).items():
                rows.append(row(f"big: switch to {name} (seen before)", times, "≤ 1 s", 1.0))
            tab(page, "Jaxpr")
            until(page, VIEWS["Jaxpr"])
            rows.append(row("big: search in a text", attempt(lambda: search(page, "tanh")), "≤ 1 s", 1.0))
            tab(page, "Source map")
            until(page, VIEWS["Source map"])
            build = page.locator(".st-key-build_smap button")
            if build.count():
                rows.append(row("big: build the source map (on demand, once)", attempt(lambda: timed(
                    build.click, page, "seen('.source-table')", 600)), "", None))  # fmt: skip
            rows.append(
                row(
                    "big: source-line pick (click a painted line)",
                    attempt(lambda: source_pick(page)),
                    "≤ 1 s",
                    1.0,
                )
            )
            page.close()
    print("\n".join(rows))
    print(
        f"\nload average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    try:
        next(browser_gen)
    except StopIteration:
        pass


if __name__ == "__main__":
    main()
