"""Diffs between stages: exact structural rows and summaries on small programs; line diffs of JAX's own text."""

from __future__ import annotations

import difflib
import itertools

import jax
import jax.numpy as jnp
import pytest

from inspectors import Request, inspect
from inspectors.cli import main
from inspectors.diff import DiffError, diff, format_diff, hlo_diff, line_changes, lines_of, match
from inspectors.results import Equation, SourceLoc, Stage
from tests.jax_reference import exec_source

SOURCE = "import jax.numpy as jnp\n\n\ndef two(x, y):\n    return jnp.sum(jnp.sin(x) * y)\n"
S3, S2x3 = jax.ShapeDtypeStruct((3,), jnp.float32), jax.ShapeDtypeStruct((2, 3), jnp.float32)


@pytest.fixture(scope="module")
def result():
    request = Request(source=SOURCE, filename="d.py", fn="two", args="f32[3], f32[2,3]", transforms=["grad", "vmap(in_axes=(None, 0))", "jit"])
    out = inspect(request, use_cache=False)
    assert out.ok, out.error and out.error.format()
    return out


def _rows(text: str) -> list[str]:
    """The summary and structural rows of a printed diff (everything before the line diff)."""
    return text.split("\n\n")[0].splitlines() + text.split("\n\n")[1].splitlines()


def test_grad_diff_names_forward_and_backward_equations_and_residuals(result):
    text = format_diff(diff(result, "jaxpr:0", "jaxpr:1"))
    assert _rows(text) == [
        "# jaxpr:0 → jaxpr:1 (grad): 3 → 7 equations",
        "# 4 added, 0 removed, 0 changed, 3 unchanged",
        "# added: 3 backward, 1 forward",
        "# by primitive: mul 1 → 3, broadcast_in_dim 0 → 1, cos 0 → 1",
        "# residuals: 1 value the forward pass saves for the backward pass",
        "+ cos                forward            line 5   d:f32[3] = cos a",
        "+ broadcast_in_dim   backward           line 5   f:f32[3] = broadcast_in_dim 1.0:f32[]",
        "+ mul                backward           line 5   g:f32[3] = mul f b",
        "+ mul                backward           line 5   h:f32[3] = mul g d",
    ]


def test_line_diff_is_difflib_over_jax_own_text(result):
    f = exec_source(SOURCE, "d.py").two
    before, after = str(jax.make_jaxpr(f)(S3, S3)), str(jax.make_jaxpr(jax.grad(f))(S3, S3))
    expected = difflib.unified_diff(before.splitlines(), after.splitlines(), "jaxpr:0", "jaxpr:1", n=2, lineterm="")
    assert diff(result, "jaxpr:0", "jaxpr:1").line_diff == list(expected)


def test_vmap_diff_shows_batched_types_and_params(result):
    d = diff(result, "jaxpr:1", "jaxpr:2")
    assert d.summary == [
        "jaxpr:1 → jaxpr:2 (vmap(in_axes=(None, 0))): 7 → 10 equations",
        "3 added, 0 removed, 4 changed, 3 unchanged",
        "added: 2 backward, batched, 1 forward, batched",
        "by primitive: broadcast_in_dim 1 → 4",
    ]
    reduce = next(r for r in d.rows if r.primitive == "reduce_sum")
    assert (reduce.status, reduce.origin, reduce.before, reduce.after) == ("changed", "forward, batched", "3", "4")
    assert reduce.changes == ["out: f32[] → f32[2]", "in: f32[3] → f32[2,3]", "axes: (0,) → (np.int64(1),)"]
    assert [r.status for r in d.rows if r.primitive in ("sin", "cos")] == ["same", "same"]


def test_jit_diff_is_one_new_equation_holding_the_same_program(result):
    d = diff(result, "jaxpr:2", "jaxpr:3")
    assert d.counts == {"added": 1, "removed": 0, "changed": 0, "same": 10}
    assert d.new_subjaxprs == ["jit: jaxpr"] and d.origins == {"jit": 1}
    (row,) = [r for r in d.rows if r.status == "added"]
    assert row.primitive == "jit" and row.after == "0"


def test_hlo_pass_diff_says_what_fusion_did(result):
    fusion = next(s for s in result.of_kind("hlo-pass") if s.pass_name == "fusion")
    d = diff(result, fusion.base, fusion.id)
    assert d.summary[0] == "fusion: 3 instructions → 1 fusion"
    assert d.opcodes == {"broadcast": [1, 0], "cosine": [1, 0], "fusion": [0, 1], "multiply": [1, 0]}
    assert any(ln.startswith("+  ROOT %broadcast_multiply_fusion = f32[2,3]{1,0} fusion(") for ln in d.line_diff)


HLO_BEFORE = """\
HloModule m

ENTRY %main (x: f32[4]) -> f32[4] {
  %x = f32[4]{0} parameter(0)
  %a = f32[4]{0} exponential(%x)
  %b = f32[4]{0} add(%a, %x)
  ROOT %c = f32[4]{0} multiply(%b, %b)
}
"""
HLO_AFTER = """\
HloModule m

%fused (p: f32[4]) -> f32[4] {
  %p = f32[4]{0} parameter(0)
  %a = f32[4]{0} exponential(%p)
  %b = f32[4]{0} add(%a, %p)
  ROOT %c = f32[4]{0} multiply(%b, %b)
}

ENTRY %main (x: f32[4]) -> f32[4] {
  %x = f32[4]{0} parameter(0)
  ROOT %f = f32[4]{0} fusion(%x), kind=kLoop, calls=%fused
}
"""


def test_hlo_diff_of_hand_written_modules_is_exact():
    a = Stage(id="hlo-pass:1", kind="hlo-pass", text=HLO_BEFORE)
    b = Stage(id="hlo-pass:2", kind="hlo-pass", text=HLO_AFTER, pass_name="fusion")
    d = hlo_diff(a, b)
    assert d.summary == [
        "fusion: 3 instructions → 1 fusion",
        "hlo-pass:1 → hlo-pass:2: 8 lines added, 3 removed",
        "by opcode: add 1 → 0, exponential 1 → 0, fusion 0 → 1, multiply 1 → 0",
    ]


def _difflib_changes(a: str, b: str) -> tuple[list[str], list[int], list[int]]:
    """difflib's own unified diff of two texts, and the lines its opcodes mark as not equal (1-based)."""
    left, right = lines_of(a), lines_of(b)
    unified = list(difflib.unified_diff(left, right, "a", "b", n=2, lineterm=""))
    opcodes = [op for op in difflib.SequenceMatcher(None, left, right).get_opcodes() if op[0] != "equal"]
    removed = [i + 1 for _, i1, i2, _, _ in opcodes for i in range(i1, i2)]
    added = [j + 1 for _, _, _, j1, j2 in opcodes for j in range(j1, j2)]
    return unified, removed, added


TEXT = "\n".join(f"line {i}" for i in range(1, 21))
TEXT_PAIRS = {
    "identical": (TEXT, TEXT),
    "empty before": ("", TEXT),
    "empty after": (TEXT, ""),
    "first line changed": (TEXT.replace("line 1\n", "one\n"), TEXT),
    "last line dropped": (TEXT, TEXT.rsplit("\n", 1)[0]),
    "two far-apart hunks": (TEXT, TEXT.replace("line 3\n", "").replace("line 17", "seventeen\nand more")),
    "adjacent changes share a hunk": (TEXT, TEXT.replace("line 9", "nine").replace("line 12", "twelve")),
    "trailing newline is no line": (TEXT + "\n", TEXT + "\nline 21\n"),
    "hlo fusion": (HLO_BEFORE, HLO_AFTER),
}


@pytest.mark.parametrize("a, b", list(TEXT_PAIRS.values()), ids=list(TEXT_PAIRS))
def test_line_changes_are_difflib_unified_diff_and_its_changed_lines(a, b):
    assert line_changes(a, b, "a", "b") == _difflib_changes(a, b)


def test_line_changes_of_every_stage_pair_match_difflib(result):
    stages = [s for s in result.stages if s.text is not None]
    pairs = [*itertools.pairwise(stages), (stages[0], stages[-1])]
    for a, b in pairs:
        unified, removed, added = line_changes(a.text, b.text, "a", "b")
        assert (unified, removed, added) == _difflib_changes(a.text, b.text), (a.id, b.id)
        left, right = lines_of(a.text), lines_of(b.text)
        assert [ln[1:] for ln in unified if ln[:1] == "-" and not ln.startswith("---")] == [left[i - 1] for i in removed]
        assert [ln[1:] for ln in unified if ln[:1] == "+" and not ln.startswith("+++")] == [right[j - 1] for j in added]


def test_a_diff_carries_its_changed_lines_and_its_summary_counts_them(result):
    d = diff(result, "jaxpr:0", "jaxpr:1")
    _, removed, added = _difflib_changes(result.stage("jaxpr:0").text, result.stage("jaxpr:1").text)
    assert (d.removed, d.added) == (removed, added) and added
    a = Stage(id="hlo-pass:1", kind="hlo-pass", text=HLO_BEFORE)
    b = Stage(id="hlo-pass:2", kind="hlo-pass", text=HLO_AFTER, pass_name="fusion")
    t = hlo_diff(a, b)
    assert f"{len(t.added)} lines added, {len(t.removed)} removed" in t.summary[1]


def _eqn(i: int, primitive: str, line: int) -> Equation:
    return Equation(str(i), primitive, {}, [], [], primitive, SourceLoc("f.py", line))


def test_match_pairs_equations_in_order_by_primitive_and_line():
    before = [_eqn(0, "sin", 1), _eqn(1, "mul", 2), _eqn(2, "exp", 3), _eqn(3, "sum", 4)]
    after = [_eqn(0, "sin", 1), _eqn(1, "cos", 1), _eqn(2, "mul", 2), _eqn(3, "sum", 4), _eqn(4, "mul", 2)]
    assert match(before, after) == [(0, 0), (None, 1), (1, 2), (2, None), (3, 3), (None, 4)]


def test_diff_of_missing_or_textless_stages_is_a_clear_error(result):
    with pytest.raises(DiffError, match="no stage 'jaxpr:9'"):
        diff(result, "jaxpr:0", "jaxpr:9")


def test_cli_emits_a_diff_and_rejects_a_malformed_one(capsys, tmp_path, result):
    path = tmp_path / "d.py"
    path.write_text(SOURCE)
    common = [str(path), "--fn", "two", "--args", "f32[3], f32[2,3]", "--transform", "grad", "--transform", "vmap(in_axes=(None, 0))", "--transform", "jit"]
    assert main([*common, "--emit", "diff:jaxpr:1..jaxpr:2"]) == 0
    out, _ = capsys.readouterr()
    assert out.rstrip("\n").replace(str(path), "d.py") == format_diff(diff(result, "jaxpr:1", "jaxpr:2"))
    with pytest.raises(SystemExit):
        main([*common, "--emit", "diff:jaxpr:1-jaxpr:2"])
    assert "unknown --emit" in capsys.readouterr().err
