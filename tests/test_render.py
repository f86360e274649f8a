"""DOT output as exact strings, and SVG through graphviz-pure (pip-installed, no system Graphviz)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from inspectors.graph import Edge, Graph, GraphOptions, Node, jaxpr_graph
from inspectors.jaxpr_model import build_model
from inspectors.render import LayoutError, LayoutTimeout, dot_to_svg, graphviz_command, quote, to_dot, to_svg

TINY = "import jax.numpy as jnp\n\ndef f(x):\n    return jnp.sin(x) * 2.0\n"

TINY_DOT = r"""digraph jaxpr {
  graph [rankdir="TB" labelloc="b" fontname="Helvetica" fontsize="12" label="f" newrank="true" nslimit="1" nslimit1="1" mclimit="0.5" searchsize="20" remincross="false" ranksep="0.3" nodesep="0.25"]
  node [fontname="Helvetica" fontsize="10" height="0.3" margin="0.08,0.03"]
  edge [fontname="Helvetica" fontsize="8" arrowsize="0.6" color="#4b5563"]
  "in_a" [shape="invhouse" style="filled" fillcolor="#fef9c3" label="a:f32[3]" tooltip="input: a:f32[3]"]
  "eqn_0" [shape="box" style="rounded,filled" fillcolor="#dbeafe" label="sin" tooltip="b:f32[3] = sin a"]
  "eqn_1" [shape="box" style="rounded,filled" fillcolor="#dbeafe" label="mul\nlit 2.0" tooltip="c:f32[3] = mul b 2.0:f32[]"]
  "out_0" [shape="house" style="filled" fillcolor="#dcfce7" label="c:f32[3]\nout" tooltip="output: c:f32[3]"]
  "in_a" -> "eqn_0" [tooltip="a:f32[3]" label="a:f32[3]"]
  "eqn_0" -> "eqn_1" [tooltip="b:f32[3]" label="b:f32[3]"]
  "eqn_1" -> "out_0" [tooltip="c:f32[3]" label="c:f32[3]"]
}
"""


def tiny_model():
    """Return the model of `sin(x) * 2.0`."""
    ns: dict = {}
    exec(compile(TINY, "tiny.py", "exec"), ns)
    return build_model(jax.make_jaxpr(ns["f"])(jnp.ones(3)), "tiny.py", TINY)[1]


def test_tiny_jaxpr_gives_exact_dot():
    assert to_dot(jaxpr_graph(tiny_model(), GraphOptions(legend=False), "f")) == TINY_DOT


def test_cluster_and_back_edge_dot():
    g = Graph(title="t", legend=[])
    g.nodes = [Node("a", "eqn", "sin", "0"), Node("b", "eqn", "cos", "0")]
    g.edges = [Edge("a", "b", "x", "f32[]"), Edge("b", "a", "y", "f32[]", "carry", back=True)]
    from inspectors.graph import Group

    g.groups = [Group("0", "jit: f", "", "jit")]
    dot = to_dot(g)
    assert (
        '  subgraph "cluster_0" {\n    graph [label="jit: f" tooltip="0" style="rounded" color="#6366f1"]\n    "a" ['
        in dot
    )
    assert (
        '"b" -> "a" [color="#7c3aed" penwidth="1.6" fontcolor="#7c3aed" constraint="false" tooltip="y:f32[]" label="carry y"]'
        in dot
    )


def test_quote_escapes_quotes_backslashes_and_newlines():
    assert quote('a "b"\\c\nd') == '"a \\"b\\"\\\\c\\nd"'


def test_graphviz_pure_is_found_and_renders_svg():
    assert "graphviz-pure" in graphviz_command() or graphviz_command().endswith("dot")
    svg = to_svg(jaxpr_graph(tiny_model()))
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and ">eqn_1</title>" in svg


def test_bad_dot_raises_layout_error():
    with pytest.raises(LayoutError, match="Graphviz failed"):
        dot_to_svg("digraph { a -> }")


def test_slow_layout_raises_layout_timeout_with_advice():
    edges = "\n".join(f'n{i} -> n{(i * 7919) % 3000} [label="e{i}"]' for i in range(3000))
    with pytest.raises(LayoutTimeout, match="collapse more"):
        dot_to_svg(f"digraph {{ {edges} }}", timeout=0.2)


APP = """
import sys
sys.path.insert(0, {root!r})
import streamlit as st
from app.views import graph as graph_view
from inspectors.results import InspectionResult
r = InspectionResult.from_json(open({path!r}).read())
graph_view.jaxpr_graphs(r, key="g")
graph_view.hlo_graph(r, "stablehlo", key="s")
graph_view.hlo_graph(r, "hlo", key="h")
"""


@pytest.mark.parametrize("sample", ["control_flow_while_loop", "control_flow_concretization_error"])
def test_app_graph_views_render_and_survive_errors(tmp_path, root, sample):
    from streamlit.testing.v1 import AppTest

    from inspectors import Request, inspect

    src = (root / "samples" / f"{sample}.py").read_text()
    result = inspect(Request(source=src, filename=f"samples/{sample}.py"))
    (tmp_path / "r.json").write_text(result.to_json())
    script = tmp_path / "app.py"
    script.write_text(APP.format(root=str(root), path=str(tmp_path / "r.json")))
    at = AppTest.from_file(str(script), default_timeout=60).run()
    assert not at.exception
    if result.ok:
        assert len(at.get("download_button")) == 2 * 4  # DOT and SVG for before, after, StableHLO, HLO
        at.text_input("g_search").input("mul").run()
        assert not at.exception and any("search 'mul'" in c.value for c in at.caption)
    else:
        assert any("No jaxpr" in i.value for i in at.info)


def test_cli_emits_dot_and_svg_with_graph_options(root, capsys):
    from inspectors.cli import main

    sample = str(root / "samples" / "control_flow_while_loop.py")
    assert main([sample, "--emit", "dot", "--graph-depth", "0", "--color-by", "provenance"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph jaxpr {") and 'shape="box3d"' in dot and "transform provenance" in dot
    assert main([sample, "--emit", "svg", "--graph-of", "hlo"]) == 0
    assert "<svg" in capsys.readouterr().out
    assert main([sample, "--emit", "dot", "--graph-of", "stablehlo", "--graph-search", "while"]) == 0
    assert 'penwidth="3"' in capsys.readouterr().out  # the match is highlighted


def test_layout_past_its_memory_limit_is_a_layout_error_not_a_dead_machine():
    edges = "\n".join(f"n{i} -> n{(i * 7919) % 3000}" for i in range(3000))
    with pytest.raises(LayoutError, match="memory limit \\(30 MB\\)"):
        dot_to_svg(f"digraph {{ {edges} }}", timeout=30, memory_mb=30)
    assert "<svg" in dot_to_svg("digraph { a -> b }", memory_mb=200)


def test_app_graph_view_says_a_graph_cannot_be_drawn_and_what_to_collapse(tmp_path, root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from inspectors import Request, inspect
    from inspectors.graph import bounded

    src = (root / "samples" / "control_flow_while_loop.py").read_text()
    (tmp_path / "r.json").write_text(inspect(Request(source=src, filename="samples/w.py")).to_json())
    script = tmp_path / "app.py"
    script.write_text(APP.format(root=str(root), path=str(tmp_path / "r.json")))
    monkeypatch.setattr(bounded, "BUILD_TIMEOUT_S", 0.001)  # no build can finish
    at = AppTest.from_file(str(script), default_timeout=60).run()
    assert not at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]  # as drawn: markdown escapes removed
    assert len(warnings) == 4 and all(
        "could not be drawn: building it took longer than 0.001 s" in w for w in warnings
    )
    assert "Its largest parts: call 0 (while, 13 equations)" in warnings[0]  # the loop, by its equation id
    assert "Its largest parts: call 0/jaxpr/0 (while, 13 equations)" in warnings[1]
