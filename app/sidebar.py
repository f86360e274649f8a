"""The sidebar: sample picker, transformation pipeline, function and inputs, device, options."""

from __future__ import annotations

import ast
from typing import Any

import streamlit as st

from app import editor, inspection, state
from app.components.painted import code_block_html
from inspectors.catalog import STREAM_TITLES
from inspectors.source import top_level_functions
from inspectors.transforms import TRANSFORMS, TransformSpecError, expression, parse_pipeline, parse_transform

# Example options per transform: the placeholder of the options field.
OPTION_EXAMPLES = {
    "grad": "argnums=1",
    "value_and_grad": "argnums=(0, 1)",
    "vmap": "in_axes=(None, 0)",
    "jit": "static_argnums=1",
    "jvp": "has_aux=False",
    "vjp": "has_aux=False",
    "jacfwd": "argnums=0",
    "jacrev": "argnums=0",
    "hessian": "argnums=0",
    "checkpoint": "policy='dots_saveable'",
    "remat": "policy='nothing_saveable'",
}
TRANSFORM_NAMES = list(TRANSFORMS)


def settle() -> None:
    """Correct what the request reads from the sidebar's widgets before it is made (the Explore page draws the
    sidebar after its views): a function the code no longer defines, a device the chosen split lacks."""
    functions = top_level_functions(st.session_state["code"])
    chosen = st.session_state["entry"]
    if functions and chosen not in functions and chosen.isidentifier():
        st.session_state["entry"] = ""  # back to the default; while the code does not parse, it stays chosen
    if st.session_state["device"] not in inspection.devices(st.session_state.get("devices") or None):
        st.session_state["device"] = ""


DRAWN_KEY = "_sidebar_drawn"  # True once this session's sidebar has been drawn: every later run draws it


class Later:
    """The Explore page's sidebar, drawn once per run: while its request waits (a queue place, a long compile),
    else after the views. On a fresh page whose result came at once it waits for the next run, which the page
    asks for once its jaxpr is drawn (`editor.ask_to_mount`): the browser draws the sidebar's two dozen widgets
    in about half a second, and the page's first jaxpr would wait for them."""

    def __init__(self) -> None:
        self.slot: st.delta_generator.DeltaGenerator | None = None

    def draw(self) -> st.delta_generator.DeltaGenerator:
        """Draw the sidebar unless drawn; return its expression slot."""
        if self.slot is None:
            self.slot = sidebar()
            show_expression(self.slot, "")  # the chosen or default function until the result names it
        return self.slot

    def finish(self, entry: str, rows: bool) -> None:
        """After the views: the sidebar with the pipeline of `entry`, unless a fresh page's next run draws it
        (`rows`: the open view's first paint is an explorer pane's rows or a graph)."""
        # Only before its first drawing: a widget left out of a run loses its state (Streamlit drops it).
        first_page = not st.session_state.get(DRAWN_KEY) and editor.deferred()
        if self.slot is not None or not first_page or st.session_state.get("all_views_at_once"):  # AppTest: no JS
            show_expression(self.draw(), entry)
        with st.sidebar:
            editor.ask_to_mount(rows)


def sidebar() -> st.delta_generator.DeltaGenerator:
    """Draw the sidebar (after `settle`); return the slot where the pipeline's expression goes."""
    st.session_state[DRAWN_KEY] = True
    with st.sidebar:
        sample_picker()
        st.divider()
        slot = pipeline_builder()
        st.divider()
        function_and_inputs()
        device_picker()
        devices_picker()
        options()
    return slot


# --- samples ------------------------------------------------------------------------------------------


def _sample_label(name: str | None) -> str:
    """`grad of a least-squares loss` (its stream is the caption under the picker: labels fit the box)."""
    sample = state.sample_named(name)
    return "Your own code" if sample is None else sample.title


def _on_pick() -> None:
    """Load the picked sample."""
    name = st.session_state["sample_pick"]
    if name:
        state.load_sample(name)


def _reload() -> None:
    """Discard edits: load the current sample again."""
    state.load_sample(st.session_state["sample"])


def sample_picker() -> None:
    """A searchable list of samples, grouped by stream."""
    names: list[Any] = [s.name for s in state.samples()]
    current = st.session_state["sample"]
    if current not in names:
        names.insert(0, "")  # "Your own code"
    st.session_state["sample_pick"] = current or ""
    st.selectbox(
        "Sample",
        names,
        key="sample_pick",
        format_func=_sample_label,
        on_change=_on_pick,
        help="Teaching samples, in order of their streams (randomness, control flow, differentiability, …); "
        "picking one loads its code, inputs and transforms.",
    )
    sample = state.sample_named(current)
    if sample:
        st.caption(f"Stream: {STREAM_TITLES.get(sample.stream, sample.stream)}")
    if sample and st.session_state["code"] != sample.source():
        left, right = st.columns([3, 2], vertical_alignment="center")
        left.caption(":material/edit: edited")
        right.button(
            "Reload",
            icon=":material/undo:",
            key="reload_sample",
            on_click=_reload,
            help="Discard your edits.",
            type="tertiary",
        )


# --- pipeline -----------------------------------------------------------------------------------------


def _find(step_id: int) -> int | None:
    """Return the position of the step with this id (None once a sample or link replaced the pipeline:
    a step's field can report its last edit in the same run that replaced it)."""
    return next((i for i, s in enumerate(st.session_state["pipeline"]) if s["id"] == step_id), None)


def _move(step_id: int, delta: int) -> None:
    """Move a step up (-1, more inner) or down (+1, more outer)."""
    steps = st.session_state["pipeline"]
    i = _find(step_id)
    if i is not None and 0 <= i + delta < len(steps):
        steps[i], steps[i + delta] = steps[i + delta], steps[i]


def _remove(step_id: int) -> None:
    """Remove a step."""
    i = _find(step_id)
    if i is not None:
        st.session_state["pipeline"].pop(i)


def _edit(step_id: int) -> None:
    """Apply an edited spec if it parses; otherwise keep the old one and say why."""
    position = _find(step_id)
    if position is None:
        return
    text = st.session_state[f"step_{step_id}"].strip()
    errors = st.session_state.setdefault("step_errors", {})
    try:
        parse_transform(text)
    except TransformSpecError as exc:
        errors[step_id] = str(exc)
        return
    errors.pop(step_id, None)
    st.session_state["pipeline"][position]["spec"] = text


def _add() -> None:
    """Append the transform chosen in the add row."""
    name = st.session_state["add_name"]
    opts = st.session_state["add_options"].strip()
    spec = f"{name}({opts})" if opts else name
    try:
        parse_transform(spec)
    except TransformSpecError as exc:
        st.session_state["add_error"] = str(exc)
        return
    st.session_state["add_error"] = ""
    st.session_state["add_options"] = ""
    st.session_state["pipeline"].append(state.new_step(spec))


def pipeline_builder() -> st.delta_generator.DeltaGenerator:
    """Rows of transforms (innermost first) with reorder/remove, an add row, the expression."""
    st.markdown("**Transformations** <small>(innermost first)</small>", unsafe_allow_html=True)
    steps = st.session_state["pipeline"]
    errors = st.session_state.get("step_errors", {})
    if not steps:
        st.caption("None: the function as written. Add one below.")
    for i, step in enumerate(steps):
        sid = step["id"]
        st.session_state.setdefault(f"step_{sid}", step["spec"])
        spec_col, up, down, rm = st.columns([6, 1, 1, 1], gap="small", vertical_alignment="center")
        spec_col.text_input(
            f"Transform {i + 1}",
            key=f"step_{sid}",
            on_change=_edit,
            args=(sid,),
            label_visibility="collapsed",
        )
        up.button(
            "", icon=":material/arrow_upward:", key=f"up_{sid}", on_click=_move, args=(sid, -1),
            disabled=i == 0, help="Apply earlier (inner)", type="tertiary",
        )  # fmt: skip
        down.button(
            "", icon=":material/arrow_downward:", key=f"down_{sid}", on_click=_move, args=(sid, 1),
            disabled=i == len(steps) - 1, help="Apply later (outer)", type="tertiary",
        )  # fmt: skip
        rm.button(
            "",
            icon=":material/close:",
            key=f"rm_{sid}",
            on_click=_remove,
            args=(sid,),
            help="Remove",
            type="tertiary",
        )
        if sid in errors:
            st.error(errors[sid], icon=":material/warning:")
    name_col, opts_col = st.columns([2, 3], gap="small")
    name = name_col.selectbox("Add", TRANSFORM_NAMES, key="add_name")
    opts_col.text_input("Options", key="add_options", placeholder=OPTION_EXAMPLES.get(name, ""))
    st.button("Add transform", icon=":material/add:", key="add_transform", on_click=_add, width="stretch")
    if st.session_state.get("add_error"):
        st.error(st.session_state["add_error"], icon=":material/warning:")
    return st.empty()


def default_entry() -> str | None:
    """The function inspected when none is chosen: the declared entry, else the last `def`."""
    functions = top_level_functions(st.session_state["code"])
    declared = state.declared_entry()
    return declared if declared in functions else (functions[-1] if functions else None)


def show_expression(slot: st.delta_generator.DeltaGenerator, entry: str) -> None:
    """Write the pipeline as code into the sidebar slot: `jit(vmap(grad(loss), in_axes=(None, 0)))`."""
    last = state.last_good()
    entry = entry or st.session_state["entry"] or default_entry() or (last.entry if last else "") or "f"
    try:
        text = expression(entry, parse_pipeline(state.specs()))
    except TransformSpecError:
        text = " ∘ ".join(state.specs())
    slot.html(code_block_html(break_expression(text)))  # not st.code: see painted.CODE_BLOCK


EXPRESSION_WIDTH = 32  # characters that fit the sidebar's code box on one line


def break_expression(text: str, width: int = EXPRESSION_WIDTH, indent: int = 0) -> str:
    """Break a long call expression between its arguments, never inside one (Black's style):
    `jit(vmap(grad(loss), in_axes=(None, 0)))` → `jit(\n    vmap(grad(loss), in_axes=(None, 0))\n)`."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return text
    return _broken(node, width, indent)


def _broken(node: ast.expr, width: int, indent: int) -> str:
    """One call, on one line if it fits, else one argument per line, each broken the same way."""
    flat = ast.unparse(node)
    if indent + len(flat) <= width or not isinstance(node, ast.Call):
        return flat
    pad = " " * (indent + 4)
    args = [_broken(a, width, indent + 4) for a in node.args]
    args += [f"{k.arg}={_broken(k.value, width, indent + 4 + len(k.arg) + 1)}" for k in node.keywords]
    return f"{ast.unparse(node.func)}(\n" + ",\n".join(pad + a for a in args) + "\n" + " " * indent + ")"


# --- function, inputs, device, options ----------------------------------------------------------------


def function_and_inputs() -> None:
    """The entry function (from the code's top-level defs) and the inputs expression."""
    functions = top_level_functions(st.session_state["code"])
    chosen = st.session_state["entry"]  # `settle` dropped a function the code no longer defines
    # While the code does not parse, the chosen function stays chosen.
    extra = [chosen] if chosen and chosen not in functions else []
    default = default_entry() or "—"
    st.selectbox(
        "Function",
        ["", *functions, *extra],
        key="entry",
        format_func=lambda f: f or f"{default} (default)",
        accept_new_options=True,
        help=(
            "The top-level function to inspect; by default the one the code declares, else the last `def`. "
            "Or type an expression: `partial(loss, model)`, `model.__call__`, an `nnx.jit`-wrapped function."
        ),
    )
    st.text_input(
        "Inputs",
        key="args",
        placeholder="f32[3], f32[8,3], f32[8]",
        help=(
            "Arguments as a Python expression, evaluated in your module: shapes like `f32[8,3]` or "
            "`i32[]`, `key` for a PRNG key, or any values (`2.0`, `True`, `init_params()`)."
        ),
    )


def device_label(device: str, devices: list[str]) -> str:
    """`cpu:3 (virtual CPU device)` when the host is split into several CPU devices; else the name."""
    cpus = [d for d in devices if d.startswith("cpu:")]
    return f"{device} (virtual CPU device)" if device.startswith("cpu:") and len(cpus) > 1 else device


def device_picker() -> None:
    """Every device of every available backend, with the CPU split as `devices_picker` chose; empty: the default."""
    # Asked of a worker that splits the CPU as an inspection's worker will (`sharding.use_devices`).
    devices = inspection.devices(st.session_state.get("devices") or None)
    default = device_label(devices[0], devices) if devices else "default"
    st.selectbox(
        "Device",
        ["", *devices],
        key="device",
        format_func=lambda d: device_label(d, devices) if d else f"default ({default})",
        help="Where to lower, compile and time: every device of every backend JAX found, with the CPU split "
        "into as many devices as *Virtual CPU devices* below says.",
    )


# --- sharding: how many virtual CPU devices (the Sharding view) ---
DEVICE_COUNTS = ["", *state.DEVICE_COUNTS]  # "" = the worker's default


def devices_picker() -> None:
    """How many virtual CPU devices the worker splits the host into (a fresh worker per request can)."""
    st.selectbox(
        "Virtual CPU devices",
        DEVICE_COUNTS,
        key="devices",
        format_func=lambda n: f"{n}" if n else "default",
        help="Split the CPU into N devices for meshes and collectives (the Sharding view); default: the worker's.",
    )


def options() -> None:
    """Display options that never change the inspection."""
    with st.expander("Options"):
        st.toggle(
            "Plain text editor",
            key="plain_editor",
            help="A simple text box instead of the code editor (edits apply when it loses focus).",
        )
    footer = inspection.isolation()
    if footer:
        st.caption(footer)
