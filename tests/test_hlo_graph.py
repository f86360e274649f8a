"""StableHLO and compiled-HLO graphs checked against the printed text they come from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inspectors import Request, inspect
from inspectors.graph import GraphOptions
from inspectors.hlo_graph import hlo_graph, parse_hlo, short_type, stablehlo_graph
from inspectors.render import to_svg

SAMPLES = Path(__file__).parent.parent / "samples"


@pytest.fixture(scope="module")
def results():
    """Inspection results of a few samples, by name."""
    names = ["differentiability_grad", "control_flow_while_loop", "control_flow_cond", "control_flow_scan_rnn"]
    return {n: inspect(Request(source=(SAMPLES / f"{n}.py").read_text(), filename=f"samples/{n}.py")) for n in names}


def test_short_type_reads_like_a_jaxpr_type():
    assert short_type("tensor<8x3xf32>") == "f32[8,3]"
    assert short_type("tensor<i1>") == "bool[]"


def private_funcs(text: str) -> frozenset[str]:
    """Expand ids of every private func of a StableHLO module (`func@name`)."""
    return frozenset(f"func@{n}" for n in re.findall(r"func\.func private @([\w.$-]+)", text))


def test_stablehlo_has_one_node_per_op_with_its_result_type(results):
    for name, r in results.items():
        text = r.text_of("stablehlo")
        graph = stablehlo_graph(text, GraphOptions(expand=private_funcs(text)))
        ops = [ln for ln in text.splitlines() if re.match(r'\s*%[\w#:.-]+\s*=\s*"?[\w.]+', ln)]
        assert sum(1 for n in graph.nodes if n.kind == "op") == len(ops), name
        dots = [n for n in graph.nodes if n.primitive == "dot_general"]
        assert all("f32[" in n.sublabel for n in dots)


def test_stablehlo_regions_are_clusters(results):
    labels = {g.label for g in stablehlo_graph(results["control_flow_while_loop"].text_of("stablehlo")).groups}
    assert {"func @main", "cond", "body (do)"} <= labels
    labels = {g.label for g in stablehlo_graph(results["control_flow_cond"].text_of("stablehlo")).groups}
    assert {"branch 0", "branch 1"} <= labels


def test_compiled_hlo_shows_each_fusion_as_a_cluster_of_its_ops(results):
    text = results["differentiability_grad"].text_of("hlo")
    comps, entry = parse_hlo(text)
    graph = hlo_graph(text)
    fusions = [g for g in graph.groups if g.kind == "fusion"]
    assert fusions and all(re.search(r"\(k\w+, \d+ ops\)", g.label) for g in fusions)
    for g in fusions:
        inside = [n for n in graph.nodes if n.group == g.path]
        fused = re.search(r"fusion (\S+)", g.label).group(1)
        calls = next(i for i in comps[entry] if i.name == fused)
        comp = re.search(r"calls=%([\w.\-]+)", calls.attrs).group(1)
        assert len(inside) == sum(1 for i in comps[comp] if i.opcode != "parameter")


def test_collapsed_fusion_is_one_node_with_kind_and_op_count(results):
    graph = hlo_graph(results["differentiability_grad"].text_of("hlo"), GraphOptions(depth=0))
    (fusion,) = [n for n in graph.nodes if n.primitive == "fusion"]
    assert fusion.kind == "collapsed" and re.search(r"kLoop · \d+ ops", fusion.sublabel)
    assert not [g for g in graph.groups if g.kind == "fusion"]


def test_while_loop_hlo_nests_condition_and_body(results):
    labels = [g.label for g in hlo_graph(results["control_flow_while_loop"].text_of("hlo")).groups]
    assert any(label.startswith("condition:") for label in labels)
    assert any(label.startswith("body:") for label in labels)


def test_hlo_graphs_render_to_svg(results):
    r = results["control_flow_scan_rnn"]
    assert "<svg" in to_svg(stablehlo_graph(r.text_of("stablehlo")))
    assert "<svg" in to_svg(hlo_graph(r.text_of("hlo")))


def test_large_hlo_is_summarised_within_the_node_budget():
    src = "import jax.numpy as jnp\ndef loss(x, w):\n    for _ in range(100):\n        x = jnp.tanh(x * w) + x\n    return jnp.sum(x)\n"
    r = inspect(Request(source=src, filename="unrolled.py", fn="loss", args="f32[8], f32[8]", transforms=["grad"]))
    budget = GraphOptions(budget=60)
    for graph in (stablehlo_graph(r.text_of("stablehlo"), budget), hlo_graph(r.text_of("hlo"), budget)):
        assert len(graph.nodes) <= 60
        assert any(n.kind == "summary" and n.label.startswith("+") for n in graph.nodes)
        assert "<svg" in to_svg(graph)


CALLS = "import jax\nimport jax.numpy as jnp\n\n@jax.jit\ndef inner(x):\n    return jnp.sin(x) * 2\n\ndef f(x):\n    return inner(x) + inner(x * 3)\n"


def test_private_funcs_are_call_nodes_that_open_on_demand():
    r = inspect(Request(CALLS, "calls.py", "f", "f32[3]", ["jit"]))
    assert private_funcs(r.text_of("stablehlo")) == {"func@inner"}
    graph = stablehlo_graph(r.text_of("stablehlo"))
    assert [g.path for g in graph.groups] == ["func@main"]
    calls = [n for n in graph.nodes if n.primitive == "call"]
    assert len(calls) == 2 and all(n.kind == "collapsed" and n.details["expand"] == "func@inner" for n in calls)
    opened = stablehlo_graph(r.text_of("stablehlo"), GraphOptions(expand=frozenset({"func@inner"})))
    assert [g.path for g in opened.groups] == ["func@main", "func@inner"]
    assert [n.primitive for n in opened.nodes if n.group == "func@inner" and n.kind == "op"] == [
        "sine", "constant", "broadcast_in_dim", "multiply"
    ]
