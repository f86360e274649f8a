"""Session state and its round trip through the URL.

Everything that determines a view lives in `st.session_state` under the keys
of `DEFAULTS`, initialised once per session: from `?s=` (the whole state,
zlib-compressed JSON in base64url), else from readable parameters
(`?sample=...&t=grad&t=jit`), else from the default sample. The code is a
plain state key (`code`), never a widget's key, so no rerun can drop it.

How the page is shown travels beside `?s=` as readable parameters, so a
lecturer can write a link by hand: `?mode=walkthrough&step=4&lecture=1`.
Links without them (all older links) open in Explore mode.
"""

from __future__ import annotations

import base64
import copy
import json
import zlib
from collections.abc import Callable
from difflib import SequenceMatcher
from itertools import count
from typing import Any

import streamlit as st

from app import safe
from inspectors.catalog import Sample, list_samples
from inspectors.results import InspectionResult, Request
from inspectors.source import read_defaults

DEFAULT_SAMPLE = "differentiability_grad"
FILENAME = "main.py"
URL_PARAM = "s"
URL_VERSION = 2  # 2 added the graph options; every older version still opens (see `decode`)
URL_VERSIONS = (1, 2)
SAME_PROGRAM = 0.5  # code at least this similar (by lines) to the code before it is an edit of the same program
TIME_BUDGETS = (0.25, 0.5, 1.0, 2.0, 5.0)  # seconds of timing the run panel offers
MAX_TIMINGS = 16  # timed results kept per session

# Keys that make up the shareable state, with their defaults.
DEFAULTS: dict[str, Any] = {
    "code": "",
    "sample": None,  # the sample the code came from (the picker's value)
    "entry": "",  # "" = the declared entry, else the last `def`
    "args": "",
    "pipeline": [],  # [{"id": 3, "spec": "vmap(in_axes=(None, 0))"}, ...], innermost first
    "device": "",  # "" = JAX's default device
    "debug_locations": False,
    "time_budget_s": 1.0,
    "graph": {},  # graph options that differ from their defaults, by widget key (`jaxpr_graph_depth`: 5)
    "stages": [],  # the stage ids the Stages view shows: one to read, two to compare (`jaxpr:1`, `jaxpr:2`)
    "devices": "",  # virtual CPU devices the worker splits the host into ("" = the worker's default)
}
DEVICE_COUNTS = (1, 2, 4, 8)  # the virtual CPU device counts the sidebar offers and a link may carry
# How the page is shown: readable URL parameters beside `?s=` (see `VIEW_PARAMS`).
MODES = ("explore", "walkthrough")
WALKTHROUGH_STEPS = 7
VIEW_DEFAULTS: dict[str, Any] = {"mode": "explore", "lecture": False, "step": 1}
VIEW_PARAMS = ("mode", "lecture", "step")
# Keys that only live in this browser session.
LOCAL_DEFAULTS: dict[str, Any] = {
    "plain_editor": False,
    # Draw every view in the first run, not the open one first and the rest once the browser has drawn
    # it (`app.views.tabs`): for headless drivers (AppTest), which run no browser-side code.
    "all_views_at_once": False,
    "last_good": None,  # (program, InspectionResult): the last result without an error, and its program
    "program": 0,  # bumped whenever the code is replaced by another program (not an edit of this one)
    "timings": {},  # view key -> timed InspectionResult
}
_ids = count(1)


@st.cache_data(show_spinner=False)
def samples() -> list[Sample]:
    """Return the sample catalogue (read once per server)."""
    return list_samples()


def sample_named(name: str | None) -> Sample | None:
    """Return the sample called `name`, or None."""
    return next((s for s in samples() if s.name == name), None)


def new_step(spec: str) -> dict[str, Any]:
    """Return a pipeline step with a fresh id (widget keys follow the id, not the position)."""
    return {"id": next(_ids), "spec": spec}


def specs() -> list[str]:
    """Return the pipeline as a list of transform specs, innermost first."""
    return [step["spec"] for step in st.session_state["pipeline"]]


def set_specs(spec_list: list[str]) -> None:
    """Replace the pipeline."""
    st.session_state["pipeline"] = [new_step(s) for s in spec_list]


def load_sample(name: str) -> None:
    """Load a sample's code, entry, inputs and transforms into the state."""
    sample = sample_named(name)
    if sample is None:
        return
    state = st.session_state
    state["sample"] = sample.name
    replace_code(sample.source())
    state["entry"] = sample.entry or ""
    state["args"] = sample.args or ""
    set_specs(sample.transforms)


def similar(a: str, b: str) -> bool:
    """True when `b` is an edit of `a` (most lines kept), False when it is another program."""
    if not a.strip() or not b.strip():
        return False
    return SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False).ratio() >= SAME_PROGRAM


def replace_code(code: str) -> None:
    """Put new code in the state; if it is another program, stale views and the sample no longer apply."""
    state = st.session_state
    if not similar(state.get("code", ""), code):
        state["program"] = state.get("program", 0) + 1
    state["code"] = code


def edit_code(code: str) -> None:
    """Take code from the editor; code that no longer resembles its sample is the user's own."""
    replace_code(code)
    sample = sample_named(st.session_state["sample"])
    if sample is not None and not similar(sample.source(), code):
        st.session_state["sample"] = None  # the picker and "About" follow the code


def init() -> None:
    """Initialise the session state once: from the URL, else the default sample."""
    state = st.session_state
    for key, value in {**LOCAL_DEFAULTS, **VIEW_DEFAULTS, **DEFAULTS}.items():
        if key not in state:
            state[key] = copy.deepcopy(value)
    if state.get("_initialised"):
        return
    restore_view(st.query_params)
    if not restore_from_url():
        load_sample(DEFAULT_SAMPLE if sample_named(DEFAULT_SAMPLE) else samples()[0].name)
    state["_initialised"] = True


# --- URL round trip -------------------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Return the shareable state as plain data."""
    state = st.session_state
    data = {key: state[key] for key in DEFAULTS if key != "pipeline"}
    data["transforms"] = specs()
    return {"v": URL_VERSION, **data}


MAX_STATE_BYTES = 512 * 1024  # a shared link's decompressed state: the code (256 KB cap) and settings
MAX_LINK_CHARS = 512 * 1024  # the `?s=` text itself


def encode(data: dict[str, Any]) -> str:
    """Return `data` as compact JSON, zlib-compressed, base64url without padding."""
    blob = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(blob, 9)).decode().rstrip("=")


def decode(text: str) -> dict[str, Any]:
    """Invert `encode`; raise ValueError on anything that is not our payload."""
    try:
        if len(text) > MAX_LINK_CHARS:
            raise ValueError(f"the link is longer than {MAX_LINK_CHARS:,} characters")
        inflate = zlib.decompressobj()
        blob = inflate.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), MAX_STATE_BYTES)
        if inflate.unconsumed_tail:
            raise ValueError(f"it expands to more than {MAX_STATE_BYTES // 1024:,} KB")
        data = json.loads(blob)
    except Exception as exc:  # noqa: BLE001 - any corruption is the same to the user
        raise ValueError(f"cannot read the shared state: {exc}") from None
    if not isinstance(data, dict) or data.get("v") not in URL_VERSIONS:
        raise ValueError("the shared state comes from a newer version of the explorer")
    for name, value in data.items():
        problem = field_problem(name, value)
        if problem:
            raise ValueError(f"its field `{name[:40]}` {problem}")
    return data


SCALAR = (str, int, float, bool)
MAX_LINK_TRANSFORMS = 32  # steps in a shared pipeline
MAX_LINK_FIELD_CHARS = 300  # a transform spec, an input spec, a stage id, a device name


def _text(value: Any) -> str | None:
    """Why `value` is not a short string, or None."""
    if not isinstance(value, str):
        return f"is {_kind(value)}, not text"
    return f"is longer than {MAX_LINK_FIELD_CHARS} characters" if len(value) > MAX_LINK_FIELD_CHARS else None


def _texts(most: int) -> Callable[[Any], str | None]:
    """A check for a list of at most `most` short strings."""

    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"is {_kind(value)}, not a list"
        if len(value) > most:
            return f"has more than {most} entries"
        return next((f"has an entry that {p}" for p in map(_text, value) if p), None)

    return check


JSON_KINDS = {bool: "true or false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}


def _kind(value: Any) -> str:
    """`value`'s JSON kind, for a notice: a number, a list, null."""
    return JSON_KINDS.get(type(value), "null")


def _device_count(value: Any) -> str | None:
    """Why `value` is not a device count a link may carry ("" is the default), or None."""
    if value == "" or (type(value) is int and value in DEVICE_COUNTS):
        return None
    shown = repr(value[:20]) if isinstance(value, str) else str(value) if type(value) is int else _kind(value)
    counts = ", ".join(map(str, DEVICE_COUNTS[:-1]))
    return f"is {shown}, not a number of devices ({counts} or {DEVICE_COUNTS[-1]})"


# Each field of a shared link (any version) and the check its value must pass; others are ignored.
LINK_FIELDS: dict[str, Callable[[Any], str | None]] = {
    "v": lambda v: None if type(v) is int else f"is {_kind(v)}, not a version number",
    "code": lambda v: None if isinstance(v, str) else f"is {_kind(v)}, not text",
    "sample": lambda v: None if v is None else _text(v),
    "entry": _text,
    "args": lambda v: None if isinstance(v, str) and len(v) <= 4 * MAX_LINK_FIELD_CHARS else "is not input specs",
    "device": _text,
    "debug_locations": lambda v: None if isinstance(v, bool) else f"is {_kind(v)}, not true or false",
    "time_budget_s": lambda v: None if type(v) in (int, float) else f"is {_kind(v)}, not a number",
    "graph": lambda v: (
        None
        if isinstance(v, dict) and len(v) <= 64 and all(isinstance(x, SCALAR) for x in v.values())
        else "is not an object of graph options"
    ),
    "stages": _texts(2),
    "transforms": _texts(MAX_LINK_TRANSFORMS),
    "devices": _device_count,
}


def field_problem(name: str, value: Any) -> str | None:
    """Why one decoded link field cannot be used, or None."""
    check = LINK_FIELDS.get(name)
    return check(value) if check is not None else None


def apply(data: dict[str, Any]) -> None:
    """Put decoded URL state into the session."""
    state = st.session_state
    entry = data.get("entry")
    if isinstance(entry, str) and entry and safe.expression_problem(entry):
        state["_url_error"] = safe.expression_problem(entry)
        data = {k: v for k, v in data.items() if k != "entry"}
    if isinstance(data.get("code"), str):
        replace_code(data["code"])
    for key in ("entry", "args", "device"):
        if isinstance(data.get(key), str):
            state[key] = data[key]
    graph = data.get("graph")  # version 2 on; version 1 links open with the default options
    state["graph"] = {str(k): v for k, v in graph.items()} if isinstance(graph, dict) else {}
    stages = data.get("stages")
    state["stages"] = [str(s) for s in stages][:2] if isinstance(stages, list) else []
    state["sample"] = data.get("sample") if isinstance(data.get("sample"), str) else None
    state["debug_locations"] = bool(data.get("debug_locations", False))
    if isinstance(data.get("time_budget_s"), (int, float)):
        state["time_budget_s"] = min(TIME_BUDGETS, key=lambda b: abs(b - data["time_budget_s"]))
    set_specs([str(s) for s in data.get("transforms", [])])
    state["devices"] = data.get("devices", "")  # checked in `decode`; links without it: the default


def short_devices(text: str) -> int | str:
    """`&devices=4` as the count it names (4), else the text as given, for `_device_count` to refuse."""
    return int(text) if text.isdigit() and len(text) < 4 else text


def restore_from_url() -> bool:
    """Restore the state from the query parameters; return False if there were none."""
    params = st.query_params
    if URL_PARAM in params:
        try:
            apply(decode(params[URL_PARAM]))
            return True
        except ValueError as exc:
            st.session_state["_url_error"] = str(exc)
            return False
    if "sample" not in params:
        return False
    if sample_named(params["sample"]) is None:
        st.session_state["_url_error"] = f"no sample named {params['sample'][:80]!r}"
        return False
    devices = short_devices(params.get("devices", ""))
    if _device_count(devices):
        st.session_state["_url_error"] = f"its field `devices` {_device_count(devices)}"
        return False
    load_sample(params["sample"])
    st.session_state["devices"] = devices
    if "t" in params:
        set_specs(params.get_all("t"))
    for key, param in (("entry", "fn"), ("args", "args"), ("device", "device")):
        if param in params:
            st.session_state[key] = params[param]
    if st.session_state["entry"] and safe.expression_problem(st.session_state["entry"]):
        st.session_state["_url_error"] = safe.expression_problem(st.session_state["entry"])
        st.session_state["entry"] = ""
    return True


def restore_view(params: Any) -> None:
    """Read `?mode=`, `?lecture=` and `?step=`; anything unreadable keeps its default."""
    state = st.session_state
    if params.get("mode") in MODES:
        state["mode"] = params["mode"]
    if "lecture" in params:
        state["lecture"] = params["lecture"].lower() in ("1", "true", "yes", "on")
    step = params.get("step", "")
    if step.isdigit():
        state["step"] = min(max(int(step), 1), WALKTHROUGH_STEPS)


def view_params() -> dict[str, str]:
    """Return the readable view parameters that differ from the defaults."""
    state = st.session_state
    out = {}
    if state["mode"] != "explore":
        out["mode"] = state["mode"]
        out["step"] = str(state["step"])
    if state["lecture"]:
        out["lecture"] = "1"
    return out


def sync_url() -> None:
    """Write the current state into `?s=` (only when it changed), and the view parameters."""
    encoded = encode(snapshot())
    params = st.query_params
    if params.get(URL_PARAM) != encoded:
        params[URL_PARAM] = encoded
    for readable in ("sample", "t", "fn", "args", "device", "devices"):
        if readable in params:
            del params[readable]
    wanted = view_params()
    for name in VIEW_PARAMS:
        if name in wanted and params.get(name) != wanted[name]:
            params[name] = wanted[name]
        elif name not in wanted and name in params:
            del params[name]


def walkthrough_mode() -> bool:
    """Return whether the page shows the walkthrough (else Explore)."""
    return st.session_state.get("mode") == "walkthrough"


def lecture() -> bool:
    """Return whether lecture mode is on (large fonts, high contrast, fewer panels)."""
    return bool(st.session_state.get("lecture"))


def sidebar_state() -> str | int:
    """Return the sidebar's initial state: collapsed for a lecture link (read before `init`)."""
    if "lecture" in st.session_state:
        return "collapsed" if st.session_state["lecture"] else 360
    return "collapsed" if st.query_params.get("lecture", "") in ("1", "true", "yes", "on") else 360


# --- requests and results -------------------------------------------------------------------------


def request(*, timed: bool = False) -> Request:
    """Return the inspection request the current state describes."""
    state = st.session_state
    return Request(
        source=state["code"],
        filename=FILENAME,
        fn=state["entry"] or None,
        args=state["args"] if state["args"].strip() else None,
        transforms=specs(),
        device=state["device"] or None,
        time=timed,
        time_budget_s=float(state["time_budget_s"]) if timed else 1.0,
        devices=state.get("devices") or None,  # the sidebar's virtual CPU devices (sharding)
    )


def request_key(req: Request) -> str:
    """Return a short form of `Request.key()` (the one key every cache uses)."""
    return req.key()[:16]


def declared_entry() -> str | None:
    """Return the entry the code declares in `__explorer__`, if any."""
    return read_defaults(st.session_state["code"]).entry


def keep_timing(key: str, result: InspectionResult) -> None:
    """Keep a timed result for the view `key` (the most recent few only)."""
    timings = st.session_state["timings"]
    timings.pop(key, None)
    timings[key] = result
    while len(timings) > MAX_TIMINGS:
        timings.pop(next(iter(timings)))


def url_problem() -> str | None:
    """Return (once) why the shared link could not be restored, if it could not."""
    return st.session_state.pop("_url_error", None)


def remember(result: InspectionResult) -> None:
    """Keep the result if it is good: stale views of the same program fall back to it."""
    if result.ok:
        st.session_state["last_good"] = (st.session_state["program"], result)


def last_good() -> InspectionResult | None:
    """Return the last good result of the program in the editor (never another program's)."""
    kept = st.session_state.get("last_good")
    if kept is None or kept[0] != st.session_state["program"]:
        return None
    return kept[1]
