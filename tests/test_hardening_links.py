"""Issue 19, item 3: a shared link with a field of the wrong type is a notice naming the field, never a crash."""

from __future__ import annotations

import pytest

from app import state
from tests.test_hardening_app import app_with, link

GOOD = "def f(x):\n    return x * 2.0\n"
BAD_FIELDS = {
    "transforms": (5, "is a number, not a list"),
    "transforms ": ("grad", "is text, not a list"),  # a trailing space: a second case of the same field
    "stages": ({"a": 1}, "is an object, not a list"),
    "graph": ([1], "is not an object of graph options"),
    "time_budget_s": ("1", "is text, not a number"),
    "debug_locations": ("yes", "is text, not true or false"),
    "code": (5, "is a number, not text"),
    "sample": (["x"], "is a list, not text"),
    "entry": ({"x": 1}, "is an object, not text"),
    "device": (None, "is null, not text"),
    "devices": (3, "is 3, not a number of devices (1, 2, 4 or 8)"),
    "devices ": ("4", "is '4', not a number of devices (1, 2, 4 or 8)"),
    "devices  ": (True, "is true or false, not a number of devices (1, 2, 4 or 8)"),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_a_link_field_of_the_wrong_type_is_a_notice_naming_it(case: str) -> None:
    field = case.strip()
    value, says = BAD_FIELDS[case]
    at = app_with({"s": link(**{"code": GOOD, field: value})})
    notices = [
        w.value.replace("\\", "") for w in at.warning if "could not be restored" in w.value
    ]  # unescaped
    assert notices and f"its field `{field}` {says}" in notices[0], notices
    assert at.session_state["sample"] == state.DEFAULT_SAMPLE  # the page opened on the default sample
    assert not at.error, [e.value for e in at.error]


def test_a_good_link_still_opens() -> None:
    at = app_with(
        {"s": link(code=GOOD, transforms=["grad"], stages=["jaxpr:0"], graph={"jaxpr_graph_depth": 3})}
    )
    assert not [w.value for w in at.warning if "could not be restored" in w.value]
    assert at.session_state["code"] == GOOD and at.session_state["stages"] == ["jaxpr:0"]


def test_each_field_a_link_writes_has_a_check() -> None:
    written = set(state.DEFAULTS) - {"pipeline"} | {"v", "transforms"}
    assert written <= set(state.LINK_FIELDS)


@pytest.mark.parametrize(("value", "says"), [("3", "is 3"), ("four", "is 'four'"), ("-2", "is '-2'")])
def test_a_short_link_with_a_bad_device_count_is_a_notice_naming_it(value: str, says: str) -> None:
    at = app_with({"sample": "parallelization_reshard", "devices": value})
    notices = [w.value.replace("\\", "") for w in at.warning if "could not be restored" in w.value]
    assert notices and f"its field `devices` {says}, not a number of devices" in notices[0], notices
    assert at.session_state["sample"] == state.DEFAULT_SAMPLE and at.session_state["devices"] == ""
    assert not at.error, [e.value for e in at.error]
