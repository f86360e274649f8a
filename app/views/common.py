"""What every view shares: number formats, the header, the error box, staleness, guards, per-result memos.

None of it computes anything that needs JAX.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from app import backend, inspection, safe, state
from app.components.explorer import Pane, text_panes
from app.components.painted import CODE_BOX, excerpt_html
from inspectors.results import InspectError, InspectionResult, SourceMap, stage_label

STAGES = ["load", "transform", "inputs", "trace", "trace_transformed", "lower", "compile", "run"]


# --- formatting ---------------------------------------------------------------------------------------


def fmt_seconds(s: float | None) -> str:
    """`1.23 ms`, `45.6 µs`."""
    if s is None:
        return "not available"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_si(x: float | None, unit: str) -> str:
    """`3.2 GFLOP/s`, `1.5 kB`: SI prefixes, or "not available"."""
    if x is None:
        return "not available"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}".rstrip()
    return f"{x:.3g} {unit}".rstrip()


# --- header, errors, staleness ------------------------------------------------------------------------


PAGE_CSS = """
<style>
.block-container { padding-top: 1.6rem; padding-bottom: 2rem; }
.explorer-code pre { margin: 0; padding: 0.6rem 0.8rem; white-space: pre; font-size: 12.5px; }
</style>
"""


def header() -> None:
    """The title line (and the page's few style tweaks)."""
    st.html(PAGE_CSS)
    st.markdown(
        "### :material/biotech: Jaxpr Explorer\n"
        "<span style='color:#6b7280;font-size:0.9rem'>Every stage of a JAX function: "
        "jaxpr → StableHLO → compiled HLO → timing.</span>",
        unsafe_allow_html=True,
    )


def url_notice() -> None:
    """Say so when a shared link could not be restored."""
    problem = state.url_problem()
    if problem:
        st.warning(
            f"The shared link could not be restored ({safe.md(problem)}); showing the default sample.",
            icon=":material/link_off:",
        )


def stage_strip(result: InspectionResult) -> None:
    """One caption line: how long each stage took, and where it stopped."""
    parts = []
    for stage in STAGES:
        if stage in result.stage_times and stage not in ("load", "transform", "inputs"):
            label = stage_label(stage, detail=True)
            failed = result.error is not None and result.error.stage == stage
            took = fmt_seconds(result.stage_times[stage])
            parts.append(f":red[{label} failed after {took}]" if failed else f"{label} {took}")
    if result.jax_version:
        parts.append(f"JAX {result.jax_version}")
    st.caption(" · ".join(parts))
    # A hosted server's caps per stage and per result: what was not kept is named; the rest is shown.
    dropped = [s.note for s in result.stages if s.note.endswith("not kept") or "; the text is kept" in s.note]
    for note in [*dropped[:6], *result.notes]:
        st.caption(f":material/info: {safe.md(note)}")
    if len(dropped) > 6:
        st.caption(f":material/info: and {len(dropped) - 6} more stages over the caps (listed in Stages)")
    save_button(result)


def save_button(result: InspectionResult) -> None:
    """Download the whole result as one stage-store file; built only when clicked (a big model's is MBs)."""
    if result.error is not None and result.error.transient:
        return
    request = result.request
    st.download_button(
        "Save result",
        data=lambda: inspection.saved_result(request),
        file_name=f"{result.entry or 'result'}.jxe",
        mime="application/vnd.sqlite3",
        key="save_result",
        on_click="ignore",
        icon=":material/save:",
        help="One file with every stage: `python -m inspectors open FILE --emit ...` reads it",
    )


def error_box(error: InspectError, code: str) -> None:
    """The error: kind and stage, JAX's message verbatim, the user's line, the hint."""
    with st.container(border=True):
        where = f" at line {error.line}" if error.line else ""
        st.error(f"**{safe.md(error.kind)}** during *{safe.md(error.stage)}*{where}", icon=":material/error:")
        st.code(error.message, language="text", wrap_lines=True)
        if error.line and error.location and error.location.file == state.FILENAME:
            st.html(CODE_BOX.format(height=260, body=excerpt_html(code, error.line)))
        if error.hint:
            st.info(safe.prose(error.hint), icon=":material/lightbulb:")
        frames = [f for f in error.user_frames if f.line != error.line]
        if frames:
            with st.expander("Your frames in the traceback"):
                for f in error.user_frames:
                    st.markdown(
                        f"- line {f.line}, in {safe.code_span(f.function)}: {safe.code_span(f.code.strip())}"
                    )


def stale_banner(result: InspectionResult) -> None:
    """Say that the views show an older result."""
    st.warning(
        f"Showing the last good result (stale), for {safe.code_span(result.expression or result.entry)}. "
        "Fix the error above to update the views.",
        icon=":material/history:",
    )


# --- drawing a view -----------------------------------------------------------------------------------


def guarded(render: Callable[[InspectionResult], None], result: InspectionResult) -> None:
    """Draw one view; a failing view shows its exception instead of taking the page down."""
    try:
        render(result)
    except Exception as exc:  # noqa: BLE001 - a view bug must not lose the editor or the other views
        st.error(f"This view failed to draw: {type(exc).__name__}", icon=":material/bug_report:")
        if backend.limits().hosted:  # a hosted page never shows the server's traceback (its paths)
            logging.getLogger("app").exception("a view failed to draw")
        else:
            st.exception(exc)


def missing(what: str, result: InspectionResult) -> None:
    """Say why a stage has nothing to show."""
    stage = result.error.stage if result.error else "an earlier stage"
    st.info(f"No {what}: the inspection stopped at {safe.md(stage)}.")


def download(label: str, text: str, filename: str, key: str) -> None:
    """A small download button for a text artefact."""
    st.download_button(
        label,
        text,
        file_name=filename,
        mime="text/plain",
        key=key,
        type="tertiary",
        icon=":material/download:",
    )


def lesson(result: InspectionResult) -> None:
    """The sample's docstring (the lesson), folded."""
    sample = state.sample_named(st.session_state["sample"])
    if sample and sample.doc:
        with st.expander(f"About this sample: {safe.md(sample.title)}", icon=":material/school:"):
            st.markdown(sample.doc)



def queue_position(slot: Any, on_idle: Callable[[], object] | None = None) -> Callable[[int], None]:
    """Return an `on_wait` callback that shows the user their place in the shared queue (and calls `on_idle`)."""

    def show(ahead: int) -> None:
        if on_idle is not None:
            on_idle()
        slot.info(
            f"Waiting for a worker: {ahead} request{'s' if ahead != 1 else ''} ahead of yours.",
            icon=":material/hourglass_top:",
        )

    return show


STOP_KEY = inspection.STOP_KEY


class Progress:
    """An `on_partial` callback: the stages that have arrived, the one running, and the newest jaxpr, whole.

    The worker streams each group of stages as it is done (jaxprs right after tracing),
    so a slow compile never keeps the jaxpr off the screen: it is drawn in the same
    explorer pane as the Jaxpr view (searchable, virtualised), once per jaxpr that
    arrives. A rerun Streamlit asks for while this draws is held until the request is
    done (`finish`), so the worker's stream is always read to its end and the result cached.
    """

    def __init__(self, slot: Any, on_idle: Callable[[], object] | None = None) -> None:
        self.slot = slot
        self.on_idle = on_idle  # called at each tick: the page draws what can wait (its sidebar) while nothing comes
        self.held: BaseException | None = None
        self.box: Any = None
        self.shown = ""  # the jaxpr stage in the pane (drawn again only when a newer one arrives)
        self.started = time.monotonic()
        self.line = ""  # the caption's text, without the clock
        self.ticker: Any = None
        self.stop_slot: Any = None  # the placeholder Stop is drawn in, once the request has run a while

    def __call__(self, partial: InspectionResult) -> None:
        if self.held is not None:
            return
        try:
            self._draw(partial)
        except BaseException as exc:  # noqa: BLE001 - Streamlit's rerun/stop: raised again in finish()
            self._hold(exc)

    def tick(self) -> None:
        """The request still runs and no stage came (a long compile): the clock, and the Stop button's chance."""
        if self.held is not None:
            return
        try:
            if self.on_idle is not None:
                self.on_idle()
            if self.ticker is None:
                self.ticker = self.slot.container().empty()
                self._stop_button()
            self.ticker.caption(f"{self.line or 'Running'} · {time.monotonic() - self.started:.0f} s")
        except BaseException as exc:  # noqa: BLE001 - a click reruns the script: Stop, or held for finish()
            self._hold(exc)

    def _stop_button(self) -> None:
        """Draw Stop; a click comes back as the rerun Streamlit raises in this thread (the script is busy here).

        It sits in a placeholder of its own, emptied by `finish`: a finished inspection offers no Stop."""
        self.stop_slot = st.empty()
        self.stop_slot.button(
            "Stop", key=STOP_KEY, icon=":material/stop_circle:", help="Stop this inspection; keep what arrived"
        )

    def _hold(self, exc: BaseException) -> None:
        """Keep a rerun or stop for `finish` (a Stop click reaches the next run: `inspection.inspect`)."""
        self.held = exc

    def _draw(self, partial: InspectionResult) -> None:
        arrived = [s for s in partial.stages if s.text is not None and s.kind != "source"]
        if not arrived:
            return
        if self.box is None:
            with self.slot.container(border=True):
                self.box = (st.empty(), st.empty())
        caption, pane = self.box
        names = " · ".join(safe.md(s.name or s.id) for s in arrived[:8]) + (" · …" if len(arrived) > 8 else "")
        running = f" · now: **{safe.md(partial.running)}** …" if partial.running else ""
        self.line = f"Arrived: {names}{running}"
        caption.caption(self.line)
        jaxprs = partial.jaxpr_stages()
        newest = next((s for s in reversed(jaxprs) if s.text is not None), None)
        if newest is None or self.shown == f"{newest.id}:{len(newest.text or '')}":
            return
        self.shown = f"{newest.id}:{len(newest.text or '')}"
        # Stages arrive one per frame, so a newer jaxpr can replace the pane in the same run: a fresh key.
        self.draws = getattr(self, "draws", 0) + 1
        key = "jaxpr_preview" if self.draws == 1 else f"jaxpr_preview_{self.draws}"
        last = len(partial.request.transforms or [])
        side = "After" if newest.index == last else "Before" if newest.index == 0 else newest.id
        title = f"{side} · {newest.expression or newest.name or newest.id}"
        meta = f"{sum(newest.stats.values())} equations · compiling…" if newest.stats else "compiling…"
        with pane.container():
            text_panes([Pane(id="preview", title=title, text=newest.text or "", language="jaxpr", meta=meta)],
                       key=key, height=600, lecture=state.lecture())  # fmt: skip

    def finish(self) -> None:
        """Clear the preview and Stop; raise a rerun or stop that came while drawing."""
        self.slot.empty()
        if self.stop_slot is not None:
            self.stop_slot.empty()
        if self.held is not None:
            raise self.held


def rerun_views() -> None:
    """Rerun the views' fragment alone (the whole page when called during a full run)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def pick_view(result: InspectionResult) -> tuple[InspectionResult, bool]:
    """Return the result to draw and whether it is stale.

    A result that failed after tracing still has views of its own (the jaxprs, say, when
    lowering failed); one that failed before is replaced by the last good result, marked stale.
    """
    last = state.last_good()  # only ever the same program's: never another sample under this error
    has_views = result.jaxpr(0).text is not None or result.jaxpr().text is not None
    if result.ok or has_views or last is None:
        return result, False
    return last, True


# --- derived data, cached per result --------------------------------------------------------------


def _memo_key(kind: str, result: InspectionResult) -> tuple:
    """The key derived data of one kind is remembered under: the request and the sizes of its texts."""
    sizes = len(result.text_of("hlo") or ""), len(result.jaxpr().text or "")
    return (kind, state.request_key(result.request), *sizes)


def memo(kind: str, result: InspectionResult, build: Callable) -> object:
    """Return `build()`, remembered per session for this result's request."""
    cache = st.session_state.setdefault("_teaching_cache", {})
    key = _memo_key(kind, result)
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        cache[key] = build()
    return cache[key]


ON_DEMAND_EQUATIONS = 3000  # above this, views that map every equation wait for a click


def built(kind: str, result: InspectionResult) -> bool:
    """True when `memo(kind, result, ...)` has been computed, or the view asked for, for this result."""
    cache = st.session_state.get("_teaching_cache", {})
    key = _memo_key(kind, result)
    return key in cache or key in st.session_state.get("_asked_for", set())


def on_demand(kind: str, result: InspectionResult, what: str, key: str) -> bool:
    """Return True when a costly view may draw: a small program, already built, or asked for by a click."""
    total = result.equations() or 0
    if total <= ON_DEMAND_EQUATIONS or built(kind, result):
        return True
    st.info(f"{total:,} equations: {what} takes a while to build for a program this size.", icon=":material/hourglass_top:")
    if not st.button(f"Build {what}", key=key, icon=":material/play_arrow:"):
        return False
    asked = st.session_state.setdefault("_asked_for", set())  # later reruns (a click in it) keep it drawn
    asked.add(_memo_key(kind, result))
    return True


def smap_of(result: InspectionResult) -> SourceMap | None:
    """Return the source map the worker attached to the result (None for a result saved without one)."""
    return result.source_map
