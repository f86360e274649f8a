"""The Walkthrough page: "how JAX works" in seven steps, for the function in the editor.

The walkthrough runs user code, so it comes from the sandboxed worker
(`app.backend.run_walkthrough`), cached on the request.
"""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import streamlit as st

from app import backend, inspection, safe, state
from app.components.embed import embed
from app.components.painted import (
    CODE_BOX,
    equation_lines,
    excerpt_html,
    jaxpr_colors,
    op_colors,
    scheme,
    show_painted,
)
from app.views import common, lecture, primitives
from app.views.graph import line_graph
from app.views.provenance import fusion_table
from app.views.run import timing_figures
from inspectors.mapping import line_color
from inspectors.results import (
    InspectionResult,
    Request,
    SourceMap,
    Walkthrough,
    request_from_dict,
    stage_label,
)

STEP_SHORT = ["Source", "Tracing", "Jaxpr", "Interpreter", "StableHLO", "XLA", "Run & time"]
STEP_TITLES = [
    "The Python source",
    "Tracing with abstract values",
    "The jaxpr",
    "jvp as a jaxpr interpreter",
    "Lowering to StableHLO",
    "XLA compilation and fusion",
    "Run and time",
]
# --- Walkthrough mode -------------------------------------------------------------------------------


@st.cache_data(max_entries=32, show_spinner=False)
def _walkthrough(request_json: str) -> Walkthrough:
    """Return the worker's walkthrough for a request given as JSON (the cache key)."""
    walk = backend.run_walkthrough(request_from_dict(json.loads(request_json)))
    return inspection.unless_transient(walk, walk.trace_error)


def walkthrough_of(request: Request) -> Walkthrough:
    """Return the (cached) walkthrough of a request."""
    return inspection.call_cached(_walkthrough, request)


def vmap_chosen(w: Walkthrough) -> bool:
    """True when step 4 shows the vmap interpreter (the pipeline has a vmap, and it is picked)."""
    return w.vmap is not None and st.session_state.get("wt_interp", "vmap") == "vmap"


def _jvp_total(w: Walkthrough) -> int:
    """Equations step 4 walks through, for the interpreter shown."""
    return len(w.vmap.steps) if vmap_chosen(w) else len(w.steps)


def _next() -> None:
    """Forward: the next equation inside step 4, else the next step."""
    s = st.session_state
    if s["step"] == 4 and s.get("jvp_step", 0) < s.get("_jvp_total", 0):
        s["jvp_step"] = s.get("jvp_step", 0) + 1
    else:
        s["step"] = min(s["step"] + 1, state.WALKTHROUGH_STEPS)


def _prev() -> None:
    """Back: the previous equation inside step 4, else the previous step."""
    s = st.session_state
    if s["step"] == 4 and s.get("jvp_step", 0) > 0:
        s["jvp_step"] -= 1
    else:
        s["step"] = max(s["step"] - 1, 1)


def _jump() -> None:
    """Go to the step picked in the step strip."""
    pick = st.session_state.get("wt_pick")
    if pick:
        st.session_state["step"] = int(pick)


def _jvp_jump(to: int) -> None:
    st.session_state["jvp_step"] = to


def walkthrough_page(expression_slot) -> None:  # noqa: ANN001 - a sidebar slot
    """The seven steps of "how JAX works" for the current function, one at a time."""
    request = state.request()
    with st.spinner("Tracing, interpreting, lowering, compiling and timing…", show_time=True):
        w = walkthrough_of(request)
    from app import sidebar  # the sidebar's expression slot shows the pipeline here too

    sidebar.show_expression(expression_slot, w.entry)
    lecture.title_bar()
    st.session_state["_jvp_total"] = _jvp_total(w)
    st.session_state["jvp_step"] = min(st.session_state.get("jvp_step", 0), _jvp_total(w))
    step = st.session_state["step"]
    stepper(step, w)
    embed(lecture.KEYS_JS, 0)
    state.sync_url()
    body = [step_source, step_tracing, step_jaxpr, step_jvp, step_lowering, step_compile, step_run][step - 1]
    common.guarded(lambda _r: body(w), w.inspection or InspectionResult(request=request))  # type: ignore[arg-type]


def stepper(step: int, w: Walkthrough) -> None:
    """Prev · the seven steps · Next."""
    st.session_state["wt_pick"] = str(step)
    back_inner = step == 4 and st.session_state["jvp_step"] > 0
    prev, strip, nxt = st.columns([1, 6, 1], vertical_alignment="center")
    prev.button("Prev", icon=":material/arrow_back:", key="wt_prev", on_click=_prev, disabled=step == 1 and not back_inner,
                width="stretch", help="Back (← or PageUp)")  # fmt: skip
    strip.segmented_control(
        "Step", [str(i) for i in range(1, state.WALKTHROUGH_STEPS + 1)], key="wt_pick", on_change=_jump,
        format_func=lambda i: f"{i} · {STEP_SHORT[int(i) - 1]}", required=True, label_visibility="collapsed",
    )  # fmt: skip
    nxt.button("Next", icon=":material/arrow_forward:", key="wt_next", on_click=_next,
               disabled=step == state.WALKTHROUGH_STEPS, type="primary", width="stretch",
               help="Forward (→ or PageDown); in step 4, one equation at a time")  # fmt: skip
    title = "vmap as a jaxpr interpreter" if step == 4 and vmap_chosen(w) else STEP_TITLES[step - 1]
    st.markdown(f"### Step {step} of {state.WALKTHROUGH_STEPS}: {title}")


def _no_stage(w: Walkthrough, what: str) -> None:
    """Say why a later step has nothing to show."""
    err = w.trace_error or w.error or (w.inspection.error if w.inspection else None)
    if err is not None:
        st.info(f"No {what}: **{safe.md(err.kind)}** during *{safe.md(err.stage)}* (see step 2).", icon=":material/block:")
    else:
        st.info(f"No {what}.")


def _source_colors(w: Walkthrough) -> tuple[dict[int, str], SourceMap | None]:
    """Colours of the source lines (from the inspection's source map, when it traced)."""
    if w.inspection is None or (w.inspection.jaxpr().model is None and w.inspection.jaxpr(0).model is None):
        return {}, None
    smap = common.smap_of(w.inspection)
    if smap is None:
        return {}, None
    return {i.line: line_color(i.line, scheme()) for i in smap.lines if i.status != "nothing"}, smap


def step_source(w: Walkthrough) -> None:
    """1. The function as written."""
    st.markdown(
        f"This is plain Python. We will look at {safe.code_span(w.entry or '?')} and then {safe.code_span(w.expression or w.entry)}: "
        "JAX never reads this text; it *runs* the function once with stand-ins for the inputs."
    )
    colors, smap = _source_colors(w)
    span = _entry_span(w, smap)
    show_painted(w.source, "python", colors, linenos=True, only=span, height=620 if state.lecture() else 520)
    if span:
        with st.expander("The whole module"):
            show_painted(w.source, "python", colors, linenos=True, height=480)
    if smap is not None:
        nothing = [i.line for i in smap.lines if i.status == "nothing"]
        st.caption("Each line's colour follows it through the jaxpr, StableHLO and HLO."
                   + (f" Lines {', '.join(map(str, nothing))} produce nothing (Python-only)." if nothing else ""))  # fmt: skip


def _entry_span(w: Walkthrough, smap: SourceMap | None) -> tuple[int, int] | None:
    """The entry function's lines (from the source map, else by its `def`)."""
    if smap is not None and smap.entry_span:
        return smap.entry_span[0], smap.entry_span[1]
    from inspectors.mapping import entry_statements

    span, _ = entry_statements(w.source, w.entry)
    return (span[0], span[1]) if span else None


def step_tracing(w: Walkthrough) -> None:
    """2. Tracing: the inputs' abstract values, or the concretization error and its fix."""
    st.markdown(
        "JAX calls the function with **tracers**: abstract values that know a shape and a dtype "
        "(`ShapedArray`), not the numbers. Every `jnp` operation on a tracer is recorded as an equation."
    )
    if w.avals:
        st.dataframe(
            pd.DataFrame([{"input": a.path, "abstract value": a.aval, "short": a.short} for a in w.avals]),
            hide_index=True, width="stretch",
        )  # fmt: skip
    if w.static_args:
        st.caption(
            "Static (plain Python) arguments, not traced: "
            + ", ".join(safe.code_span(s) for s in w.static_args)
        )
    err = w.trace_error
    if err is None:
        if w.error is not None and w.jaxpr is None:
            st.error(f"**{safe.md(w.error.kind)}** during *{safe.md(w.error.stage)}*", icon=":material/error:")
            st.code(w.error.message, language="text", wrap_lines=True)
        else:
            st.success(
                "Tracing succeeded: every operation worked on abstract values.", icon=":material/check:"
            )
        return
    st.error(
        f"**{safe.md(err.kind)}** while tracing" + (f" at line {err.line}" if err.line else ""),
        icon=":material/error:",
    )
    st.code(err.message, language="text", wrap_lines=True)
    if err.line:
        st.html(CODE_BOX.format(height=260, body=excerpt_html(w.source, err.line)))
        st.markdown(
            f"Line {err.line} asks Python for a concrete `True`/`False`, but the value is a tracer: "
            "it has a shape and a dtype and no value yet."
        )
    if w.fix:
        st.markdown("**The fix**")
        for kind, text in fix_parts(w.fix):
            st.code(text, language="python") if kind == "code" else st.markdown(safe.prose(text))


CODE_LINE = re.compile(r"\s|[\w.]+ = |[\w.]+\(")  # indented, an assignment, or a call: code


def fix_parts(fix: str) -> list[tuple[str, str]]:
    """Split a suggested fix into prose and code: prose renders as prose, code in a code box."""
    parts: list[tuple[str, str]] = []
    for line in fix.split("\n"):
        prose, sep, code = line.partition(": ")
        if CODE_LINE.match(line):
            parts.append(("code", line))
        elif sep and CODE_LINE.match(code):
            parts += [("prose", f"{prose}:"), ("code", code)]
        else:
            parts.append(("prose", line))
    return parts


def step_jaxpr(w: Walkthrough) -> None:
    """3. The jaxpr: what tracing recorded."""
    if w.jaxpr is None:
        _no_stage(w, "jaxpr")
        return
    st.markdown("What tracing recorded: inputs with types, one equation per primitive operation, outputs.")
    text_col, graph_col = st.columns([2, 3], gap="medium")
    model = w.model
    colors, sources = jaxpr_colors(model, w.filename)
    with text_col:
        show_painted(w.jaxpr, "jaxpr", colors, sources=sources, height=600)
    with graph_col:
        line_graph(model, w.jaxpr, f"{w.entry}", None, key="wt_graph", height=600 if state.lecture() else 540)


def step_jvp(w: Walkthrough) -> None:
    """4. A transformation as an interpreter: jvp, or vmap when the pipeline has one."""
    if w.jaxpr is None:
        _no_stage(w, "interpreter run")
        return
    if w.vmap is not None:
        st.segmented_control(
            "Interpreter", ["vmap", "jvp"], key="wt_interp", default="vmap", required=True,
            on_change=_jvp_jump, args=(0,), help="Your pipeline has a vmap: step through it, or through jvp.",
        )  # fmt: skip
    if vmap_chosen(w):
        step_vmap(w)
        return
    st.markdown(
        f"`jax.jvp` is an interpreter over the jaxpr: it walks the equations of {safe.code_span(w.entry)} in order, "
        "carrying a **(primal, tangent)** pair for every variable. Inputs get tangent 1 (seeded random inputs)."
    )

    def start() -> None:
        st.markdown("**Start:** every input carries its value and a tangent of ones.")
        _values_table([a.path for a in w.avals], [], [], ["(seeded random)"] * len(w.avals), ["1"] * len(w.avals))

    _interpreter(w, w.steps, w.steps_truncated, start, _jvp_step_view, lambda: _jvp_result(w))


def step_vmap(w: Walkthrough) -> None:
    """4, under vmap: the batching interpreter, one equation at a time, with each value's batch axis."""
    run = w.vmap
    pairs = zip(w.avals, run.input_axes, strict=False)
    axes = ", ".join(f"{safe.code_span(a.path)}: {safe.md(ax)}" for a, ax in pairs)
    st.markdown(
        f"`jax.vmap` is an interpreter too: it walks the **per-example** jaxpr of {safe.code_span(w.entry)}, carrying each "
        f"value with its **batch axis** (or *not batched*), and applies each primitive's batching rule. "
        f"A batch of {run.batch_size} seeded random examples; in_axes = ({safe.md(', '.join(run.in_axes))})."
    )
    if axes:
        st.caption(f"Batch axis of each input: {axes}")
    _interpreter(
        w,
        run.steps,
        run.steps_truncated,
        lambda: st.markdown("**Start:** every input carries the whole batch and its batch axis."),
        _vmap_step_view,
        lambda: _vmap_result(run),
    )


def _interpreter(w: Walkthrough, steps: list, truncated: bool, start, view, result) -> None:  # noqa: ANN001
    """The stepper both interpreters share: navigation, the jaxpr so far, the current step, the result."""
    k = _equation_nav(len(steps), truncated)
    left, right = st.columns([1, 1], gap="medium")
    with left:
        _interpreted_so_far(w, [s.eqn_id for s in steps], k)
    with right:
        if k == 0:
            start()
        else:
            view(steps[k - 1])
            primitives.card_popover(w.inspection, steps[k - 1].primitive, key="wt_card")  # its card
    if k == len(steps):
        result()


def _equation_nav(total: int, truncated: bool) -> int:
    """Start · previous equation · End, and a progress bar; return the equations done."""
    k = st.session_state["jvp_step"]
    nav, progress = st.columns([2, 3], vertical_alignment="center")
    with nav:
        a, b, c = st.columns(3)
        a.button("Start", key="jvp_first", on_click=_jvp_jump, args=(0,), disabled=k == 0, width="stretch")
        b.button("Equation", key="jvp_prev", icon=":material/chevron_left:", on_click=_jvp_jump, args=(max(k - 1, 0),),
                 disabled=k == 0, width="stretch")  # fmt: skip
        c.button("End", key="jvp_last", on_click=_jvp_jump, args=(total,), disabled=k == total, width="stretch")
    progress.progress(k / max(total, 1), text=f"{k} of {total} equations interpreted"
                      + (" (recording stopped early)" if truncated else ""))  # fmt: skip
    return k


def _interpreted_so_far(w: Walkthrough, eqn_ids: list[str], k: int) -> None:
    """The jaxpr with the equations done so far shaded and the current one outlined."""
    st.markdown("**The jaxpr, interpreted so far**")
    lines = equation_lines(w.model)
    colors = {n: "#dcfce7" for e in eqn_ids[:k] for n in lines.get(e, [])}
    current = eqn_ids[k - 1] if k else None
    show_painted(w.jaxpr, "jaxpr", colors, selected=set(lines.get(current, [])) if current else set(), height=520)


def _vmap_step_view(s) -> None:  # noqa: ANN001 - a VmapStep
    """One vmap step: the equation, batched values with their axes, the batching rule's jaxpr."""
    st.markdown(f"**Equation {s.index + 1}** · {safe.code_span(s.primitive)}")
    st.code(s.text, language="text")
    st.markdown("**In** (value · batch axis)")
    _values_table([f"in {i}" for i in range(len(s.in_values))], [], [], s.in_values, s.in_axes, ("value", "batch axis"))
    st.markdown("**Out** (value · batch axis)")
    _values_table([f"out {i}" for i in range(len(s.out_values))], [], [], s.out_values, s.out_axes, ("value", "batch axis"))
    if s.batched_text:
        st.markdown("**What the batching rule makes of it** "
                    + (f"({', '.join(map(safe.code_span, s.added_primitives))})" if s.added_primitives else ""))  # fmt: skip
        st.code(s.batched_text, language="text")
    else:
        st.caption("Nothing batched flows in: the equation runs once, as it is.")


def _checked_against(error, diff: float | None, what: str, What: str, reference: str) -> None:  # noqa: ANN001, N803
    """Say whether the interpreter stopped, or how close it came to JAX's own transform."""
    if error is not None:
        st.error(f"The interpreter stopped: **{safe.md(error.kind)}**: {safe.md(error.message)}", icon=":material/error:")
    elif diff is not None:
        ok = diff <= 1e-4
        (st.success if ok else st.warning)(
            f"Same {what} as `{reference}`: largest difference {diff:.3g}."
            if ok else f"{What} differ from `{reference}` by up to {diff:.3g}.",
            icon=":material/check:" if ok else ":material/warning:",
        )  # fmt: skip


def _vmap_result(run) -> None:  # noqa: ANN001 - a VmapRun
    """The interpreter's batched outputs, checked against `jax.vmap`."""
    st.markdown("#### The vectorized function")
    st.code("\n".join(run.outputs) or "—", language="text")
    _checked_against(run.error, run.max_abs_diff_vs_jax, "outputs", "Outputs", "jax.vmap")
    if run.batched_jaxpr:
        with st.expander("The complete batched jaxpr, as `jax.make_jaxpr(jax.vmap(...))` prints it",
                         expanded=not state.lecture()):  # fmt: skip
            st.code(run.batched_jaxpr, language="text")


def _values_table(
    names: list[str],
    in_p: list[str],
    in_t: list[str],
    p: list[str],
    t: list[str],
    headers: tuple[str, str] = ("primal", "tangent"),
) -> None:
    """Two previews per value (primal · tangent, or value · batch axis), one row each, never cut off."""
    cell = "padding:0.2rem 0.5rem;border-top:1px solid #e5e7eb;font-family:monospace;white-space:normal;word-break:break-word"
    rows = "".join(
        f'<tr><td style="{cell};color:#6b7280;white-space:nowrap">{html.escape(n)}</td>'
        f'<td style="{cell}">{html.escape(a)}</td><td style="{cell};background:#f0fdf4">{html.escape(b)}</td></tr>'
        for n, a, b in zip(names, p, t, strict=False)
    )
    st.html(
        '<table class="jvp-values" style="border-collapse:collapse;width:100%;font-size:0.85em;table-layout:fixed">'
        '<colgroup><col style="width:4.5em"><col><col></colgroup>'
        f"<tr><th></th><th style='text-align:left'>{headers[0]}</th><th style='text-align:left'>{headers[1]}</th></tr>"
        + rows
        + "</table>"
    )


def _jvp_step_view(s) -> None:  # noqa: ANN001 - a JvpStep
    """One interpreter step: the equation, values in and out, the tangent equations it adds."""
    st.markdown(
        f"**Equation {s.index + 1}** · {safe.code_span(s.primitive)}"
        + (" (evaluated whole by `jax.jvp`)" if s.opaque else "")
    )
    st.code(s.text, language="text")
    st.markdown("**In** (primal · tangent)")
    _values_table([f"in {i}" for i in range(len(s.in_primals))], [], [], s.in_primals, s.in_tangents)
    st.markdown("**Out** (primal · tangent)")
    _values_table([f"out {i}" for i in range(len(s.out_primals))], [], [], s.out_primals, s.out_tangents)
    if s.jvp_text:
        st.markdown("**What this equation adds to the transformed jaxpr** "
                    + (f"({', '.join(map(safe.code_span, s.added_primitives))})" if s.added_primitives else ""))  # fmt: skip
        st.code(s.jvp_text, language="text")


def _jvp_result(w: Walkthrough) -> None:
    """The interpreter's outputs, checked against `jax.jvp`."""
    st.markdown("#### The transformed function")
    a, b = st.columns(2)
    a.markdown("**Primal outputs**")
    a.code("\n".join(w.primals_out) or "—", language="text")
    b.markdown("**Tangent outputs** (the directional derivative along ones)")
    b.code("\n".join(w.tangents_out) or "—", language="text")
    _checked_against(w.error, w.max_abs_diff_vs_jax, "tangents", "Tangents", "jax.jvp")
    if w.jvp_jaxpr:
        with st.expander(
            "The complete jvp jaxpr, as `jax.make_jaxpr(jax.jvp(...))` prints it",
            expanded=not state.lecture(),
        ):
            st.code(w.jvp_jaxpr, language="text")


def step_lowering(w: Walkthrough) -> None:
    """5. Lowering: the jaxpr becomes a StableHLO module (MLIR); each op keeps its source line."""
    r = w.inspection
    if r is None or not r.text_of("stablehlo-debug"):
        _no_stage(w, "StableHLO")
        return
    st.markdown(f"{safe.code_span(r.expression)} lowered to **StableHLO**, the input language of XLA. "
                "Each op's `loc(...)` records the line it came from: the colours match steps 1 and 3.")  # fmt: skip
    smap = common.smap_of(r)
    if smap is None:
        _no_stage(w, "StableHLO source map")
        return
    colors, sources = op_colors(smap, "stablehlo", plain=True)
    text = r.text_of("stablehlo") or r.text_of("stablehlo-debug")
    show_painted(text, "stablehlo", colors, sources=sources, height=620)
    st.caption(
        f"{len(smap.stablehlo_ops)} ops · lowering took {common.fmt_seconds(r.stage_times.get('lower'))}"
    )


def step_compile(w: Walkthrough) -> None:
    """6. XLA compiles: optimises, fuses, folds constants."""
    r = w.inspection
    if r is None or not r.text_of("hlo"):
        _no_stage(w, "compiled HLO")
        return
    jit = r.provenance.jit if r.provenance else None  # computed in the worker; never here
    smap = common.smap_of(r)
    if jit is None or smap is None:
        _no_stage(w, "jit provenance")
        return
    st.markdown("XLA optimises the module for the device: it **fuses** elementwise work into single kernels, "
                "folds constants and drops what is not needed.")  # fmt: skip
    a, b, c, d = st.columns(4)
    a.metric("StableHLO ops", jit.stablehlo_ops)
    b.metric("HLO instructions", jit.hlo_instructions)
    c.metric("Fusions", len(jit.fusions))
    d.metric("Compile time", common.fmt_seconds(r.stage_times.get("compile")))
    text_col, fusion_col = st.columns([3, 2], gap="medium")
    with text_col:
        colors, sources = op_colors(smap, "hlo")
        fused = {f.text_line for f in jit.fusions}
        show_painted(r.text_of("hlo"), "hlo", colors, selected=fused, sources=sources, height=560)
    with fusion_col:
        fusion_table(jit)
        if jit.folded_constants:
            st.caption(f"{len(jit.folded_constants)} constant(s) folded away.")
        if jit.eqns_without_hlo:
            st.caption(f"{len(jit.eqns_without_hlo)} equation(s) left no HLO instruction.")


def step_run(w: Walkthrough) -> None:
    """7. Run the compiled executable and time it."""
    r = w.inspection
    if r is None or r.timing is None:
        _no_stage(w, "timing")
        return
    st.markdown("The compiled executable runs on the device; the first call includes dispatch set-up, "
                "then repeated calls are timed.")  # fmt: skip
    times = " → ".join(
        f"{stage_label(k, detail=True)} {common.fmt_seconds(r.stage_times[k])}"
        for k in common.STAGES
        if k in r.stage_times
    )  # pipeline order, with the names the page uses
    st.caption(times)
    timing_figures(r)
