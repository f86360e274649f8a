"""Live functions: inspect a function object where it lives (a notebook, a project), reopen saved results.

    from inspectors import inspect_fn
    r = inspect_fn(loss, params, batch, transforms=["grad", "jit"])
    r                                  # in Jupyter: stage texts, graph and timing
    open("loss.json", "w").write(r.to_json())

`python -m inspectors open loss.json` (or `open_result` from the app) reads such a
result back, so a result made on a GPU machine can be explored anywhere.
"""

from __future__ import annotations

import functools
import html
import inspect as pyinspect
import linecache
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspectors.results import InspectionResult, Request
from inspectors.source import DTYPES

_SHORT_DTYPES = {name: short for short, name in DTYPES.items()}


class LiveResult(InspectionResult):
    """An inspection result that renders itself in Jupyter."""

    def _repr_html_(self) -> str:
        """Return the stage texts, the graph and the timing as HTML."""
        return result_html(self)


def inspect_fn(
    fn: Callable,
    *args: Any,
    transforms: Sequence[str] | str | None = None,
    device: str | None = None,
    time: bool = False,
    time_budget_s: float = 1.0,
    **kwargs: Any,
) -> LiveResult:
    """Inspect a live function on its inputs (arrays, pytrees, `jax.ShapeDtypeStruct`s), through a pipeline.

    Source lines come from the function's own file. Inputs are used as given;
    leaves JAX cannot trace are kept static as `eqx.filter_jit` keeps them.
    """
    from inspectors import jaxsetup

    jax = jaxsetup.jax()
    from inspectors import pipeline
    from inspectors import transforms as tr

    filename, source = source_of(fn)
    name = entry_name(fn)
    specs = tr.split_pipeline(transforms) if isinstance(transforms, str) else list(transforms or [])
    request = Request(
        source=source,
        filename=filename,
        fn=name,
        args=describe_inputs(args, kwargs),
        transforms=specs,
        device=device,
        time=time,
        time_budget_s=time_budget_s,
    )
    result = LiveResult(request=request, entry=name, functions=[name], jax_version=jax.__version__)
    emit = pipeline._Emitter(result, None)
    try:
        with pipeline._stage(result, "transform"):
            pipe = tr.parse_pipeline(specs)
            result.expression = tr.expression(name, pipe)
        with pipeline._stage(result, "inputs"):
            target = pipeline.resolve_device(device)
            f, args, kwargs = tr.keep_static(fn, args, kwargs)
        pipeline.run_callable(result, emit, f, args, kwargs, pipe, target, None)
    except pipeline._StageFailed:
        pass
    emit.flush()
    pipeline.map_and_trace_back(result)  # the source map and provenance come with the result
    return result


def open_result(path: str | Path) -> LiveResult:
    """Read a result saved with `to_json()` (by `inspect_fn`, the CLI's `--emit json`, or the app)."""
    return LiveResult.from_json(Path(path).read_text(encoding="utf-8"))


def _unwrap(fn: Any) -> Any:
    """Return the plain function behind partials, bound methods and decorators (jit, filter_jit)."""
    for _ in range(10):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif pyinspect.ismethod(fn):
            fn = fn.__func__
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        elif not pyinspect.isfunction(fn) and pyinspect.isfunction(vars(type(fn)).get("__call__")):
            fn = vars(type(fn))["__call__"]
        else:
            break
    return fn


def entry_name(fn: Any) -> str:
    """Return how the function is called in the expression: `loss`, `MLP.__call__`, `partial(loss)`."""
    if isinstance(fn, functools.partial):
        return f"partial({entry_name(fn.func)})"
    name = getattr(fn, "__qualname__", None) or getattr(_unwrap(fn), "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__name__


def source_of(fn: Any) -> tuple[str, str]:
    """Return (file name, text) of the file that defines the function; notebook cells included."""
    target = _unwrap(fn)
    code = getattr(target, "__code__", None)
    filename = code.co_filename if code else None
    if filename is None:
        try:
            filename = pyinspect.getsourcefile(target)
        except TypeError:
            filename = None
    if not filename:
        return "<live>", ""
    return filename, "".join(linecache.getlines(filename))


def describe_inputs(args: tuple, kwargs: dict[str, Any]) -> str:
    """Write the inputs as an inputs expression: arrays as their specs (`f32[8,3]`), other leaves by repr."""
    import jax

    def spec(tree: Any) -> str:
        return repr(jax.tree_util.tree_map(_Spec, tree))

    parts = [spec(a) for a in args] + [f"{k}={spec(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


class _Spec:
    """A leaf printed as its shape: `f32[8,3]` for an array, its repr otherwise."""

    def __init__(self, leaf: Any) -> None:
        self.leaf = leaf

    def __repr__(self) -> str:
        shape, dtype = getattr(self.leaf, "shape", None), getattr(self.leaf, "dtype", None)
        if shape is None or dtype is None:
            text = repr(self.leaf)
            return text if len(text) <= 60 else text[:59] + "…"
        short = _SHORT_DTYPES.get(str(dtype), str(dtype))
        return f"{short}[{','.join(str(d) for d in shape)}]"


# ---------------------------------------------------------------- HTML (Jupyter, `open --emit html`)

_STYLE = (
    "<style>.jxe{font-family:system-ui,sans-serif;font-size:13px}.jxe pre{background:#f8fafc;padding:6px;"
    "max-height:420px;overflow:auto;font-size:12px}.jxe table{border-collapse:collapse}.jxe td,.jxe th"
    "{border:1px solid #e5e7eb;padding:2px 8px;text-align:left}.jxe .graph{max-height:640px;overflow:auto;"
    "border:1px solid #e5e7eb}.jxe .error{color:#b91c1c}</style>"
)
# Stage texts shown, in order: title, stage text; the pipeline's jaxpr opens by default.
TEXTS: tuple[tuple[str, Callable[[InspectionResult], str | None]], ...] = (
    ("jaxpr (before)", lambda r: r.jaxpr(0).text),
    ("jaxpr (after the pipeline)", lambda r: r.jaxpr().text),
    ("StableHLO", lambda r: r.text_of("stablehlo")),
    ("compiled HLO", lambda r: r.text_of("hlo")),
)
OPEN_TEXT = "jaxpr (after the pipeline)"


def result_html(result: InspectionResult, graph: bool = True, graph_timeout_s: float = 20.0) -> str:
    """Return a result as one HTML block: summary, error, timing, graph, then each stage's text."""
    parts = [_STYLE, '<div class="jxe">', _summary_html(result)]
    if result.error:
        parts.append(f'<pre class="error">{html.escape(result.error.format())}</pre>')
    if result.timing:
        parts.append(_timing_html(result))
    if graph and result.jaxpr().model is not None:
        parts.append(_graph_html(result, graph_timeout_s))
    for title, text_of in TEXTS:
        text = text_of(result)
        if text:
            is_open = " open" if title == OPEN_TEXT else ""
            parts.append(f"<details{is_open}><summary>{title}</summary><pre>{html.escape(text)}</pre></details>")
    parts.append("</div>")
    return "".join(parts)


def _summary_html(result: InspectionResult) -> str:
    """The expression, inputs, equation counts and stage times."""
    before, after = result.equations(0), result.equations()
    counts = f"{before or 0} → {after or 0} equations" if before is not None or after is not None else ""
    times = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in result.stage_times.items())
    rows = [
        ("function", f"<code>{html.escape(result.expression or result.entry)}</code>"),
        ("inputs", f"<code>{html.escape(result.request.args or '')}</code>"),
        ("file", html.escape(result.request.filename)),
        ("program", html.escape(counts)),
        ("stages", html.escape(times)),
        ("JAX", html.escape(result.jax_version)),
    ]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows if v) + "</table>"


def _timing_html(result: InspectionResult) -> str:
    """Min, median and p90 run time on the device."""
    t = result.timing
    flops = f", {t.flops_per_s / 1e9:.2f} GFLOP/s" if t.flops_per_s else ""
    return (
        f"<p><b>run</b> on {html.escape(t.device)}: median {t.median_s * 1e6:.1f} µs, min {t.min_s * 1e6:.1f} µs, "
        f"p90 {t.p90_s * 1e6:.1f} µs ({t.repeat}×{t.number} calls){flops}</p>"
    )


def _graph_html(result: InspectionResult, timeout: float) -> str:
    """The default graph of the transformed jaxpr as inline SVG (or why there is none)."""
    from inspectors import render
    from inspectors.graph import GraphOptions
    from inspectors.graph.bounded import BuildRequest, GraphTooLarge, bounded_build

    title = result.expression or result.entry
    try:  # built in a child process under a time and memory limit, like the app's and the CLI's graphs
        _, dot = bounded_build(BuildRequest("jaxpr", result.jaxpr().model, GraphOptions(), title))
        svg = render.dot_to_svg(dot, timeout=timeout)
    except (GraphTooLarge, render.LayoutError) as exc:  # the message names what to collapse
        return f"<p>graph: {html.escape(str(exc))}</p>"
    return f'<details open><summary>graph</summary><div class="graph">{svg[svg.find("<svg"):]}</div></details>'
