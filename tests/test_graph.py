"""The jaxpr graph checked against the jaxpr itself: every equation drawn, every variable an edge.

Programs are the samples (through the whole pipeline) and small generated
programs for each higher-order primitive, plus the grad of a Python loop
unrolled 1,500 times (12,000+ equations) for folding, budgets and search.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from jax import lax
from jax.sharding import PartitionSpec as P

from inspectors import Request, inspect
from inspectors.graph import (
    Graph,
    GraphOptions,
    check_tree,
    eqn_count,
    equation_nodes,
    expanded_options,
    find_folds,
    jaxpr_graph,
    search_matches,
    walk,
)
from inspectors.jaxpr_model import build_model, count_primitives
from inspectors.render import to_dot, to_svg
from inspectors.results import JaxprModel

SAMPLES = sorted(p for p in (Path(__file__).parent.parent / "samples").glob("*.py") if "error" not in p.name)


def model_of(src: str, fn: str, *args, transform=lambda f: f) -> JaxprModel:
    """Return the jaxpr model of `transform(fn)` defined in `src`, with real source lines."""
    ns: dict = {}
    exec(compile(src, "prog.py", "exec"), ns)
    closed = jax.make_jaxpr(transform(ns[fn]))(*args)
    return build_model(closed, "prog.py", src)[1]


PROGRAMS = {
    "cond": (
        "from jax import lax\nimport jax.numpy as jnp\ndef f(x):\n    return lax.cond(x.sum() > 0, jnp.sin, jnp.cos, x)\n",
        jnp.ones(3),
    ),
    "while": (
        "from jax import lax\ndef f(x):\n    return lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] * 2.0), (0, x))\n",
        jnp.ones(3),
    ),
    "scan": (
        "from jax import lax\ndef f(xs):\n    return lax.scan(lambda c, x: (c + x, c * x), 0.0, xs)\n",
        jnp.ones(5),
    ),
    "custom_jvp": (
        "import jax, jax.numpy as jnp\n@jax.custom_jvp\ndef g(x):\n    return jnp.log1p(jnp.exp(x))\n"
        "@g.defjvp\ndef g_jvp(p, t):\n    return g(p[0]), t[0] * jax.nn.sigmoid(p[0])\n"
        "def f(x):\n    return g(x) * 2.0\n",
        jnp.ones(3),
    ),
    "custom_vjp": (
        "import jax, jax.numpy as jnp\n@jax.custom_vjp\ndef g(x):\n    return jnp.sin(x)\n"
        "def g_fwd(x):\n    return g(x), x\ndef g_bwd(x, ct):\n    return (ct * jnp.cos(x),)\ng.defvjp(g_fwd, g_bwd)\n"
        "def f(x):\n    return g(x) + 1.0\n",
        jnp.ones(3),
    ),
    "checkpoint": (
        "import jax, jax.numpy as jnp\ndef f(x):\n    h = jax.checkpoint(lambda y: jnp.sin(jnp.sin(y)))\n    return jnp.sum(h(h(x)))\n",
        jnp.ones(3),
    ),
    "nested": (
        "import jax, jax.numpy as jnp\nfrom jax import lax\n@jax.jit\ndef inner(c, x):\n    return c + jnp.tanh(x), c\n"
        "def f(xs, p):\n    return lax.cond(p > 0, lambda xs: lax.scan(inner, 0.0, xs)[0], lambda xs: xs.sum(), xs)\n",
        jnp.ones(4),
        1.0,
    ),
}


def generated(name: str, grad: bool = False) -> JaxprModel:
    """Return the model of a generated program (optionally its grad)."""
    src, *args = PROGRAMS[name]
    transform = (lambda f: jax.grad(lambda *a: jnp.sum(jax.tree.leaves(f(*a))[0]))) if grad else (lambda f: f)
    return model_of(src, "f", *args, transform=transform)


def shard_map_model() -> JaxprModel:
    """Return the model of a shard_map over the 4 host CPU devices."""
    mesh = jax.make_mesh((4,), ("i",))
    g = jax.shard_map(lambda x: lax.psum(jnp.sin(x), "i"), mesh=mesh, in_specs=P("i"), out_specs=P())
    x = jax.device_put(jnp.ones(8), jax.sharding.NamedSharding(mesh, P("i")))
    return build_model(jax.make_jaxpr(g)(x), "prog.py", "")[1]


@pytest.fixture(scope="module")
def sample_models() -> dict[str, JaxprModel]:
    """Models of every sample, before and after its transforms (through the whole pipeline)."""
    out = {}
    for path in SAMPLES:
        r = inspect(Request(source=path.read_text(), filename=f"samples/{path.name}"))
        for tag, m in (("before", r.jaxpr(0).model), ("after", r.jaxpr().model)):
            if m is not None:
                out[f"{path.stem}:{tag}"] = m
    return out


def all_models(sample_models: dict[str, JaxprModel]) -> dict[str, JaxprModel]:
    """Samples plus generated programs (and their grads where JAX allows)."""
    models = dict(sample_models)
    for name in PROGRAMS:
        models[name] = generated(name)
        if name not in ("while", "scan"):
            models[f"grad {name}"] = generated(name, grad=True)
    models["shard_map"] = shard_map_model()
    return models


def check_edges(model: JaxprModel, graph: Graph) -> None:
    """Assert every variable edge runs from its producer to each of its consumers."""
    edges = {(e.src, e.dst) for e in graph.edges}

    def scope(m: JaxprModel, prefix: str) -> None:
        env = {v.name: f"const_{prefix}{v.name}" for v in m.constvars}
        env.update({v.name: f"in_{prefix}{v.name}" for v in m.invars})
        for e in m.eqns:
            for v in e.invars:
                if not v.literal:
                    assert (env[v.name], f"eqn_{e.id}") in edges, (v.name, e.text)
            for sub in e.subjaxprs:
                scope(sub.jaxpr, f"{e.id}/{sub.role}:")
            for v in e.outvars:
                env[v.name] = f"ret_{e.id}" if e.subjaxprs else f"eqn_{e.id}"
        for i, v in enumerate(m.outvars):
            if not v.literal:
                assert (env[v.name], f"out_{prefix}{i}") in edges, v.name

    scope(model, "")


def test_every_equation_is_drawn_once_when_expanded(sample_models):
    for name, model in all_models(sample_models).items():
        graph = jaxpr_graph(model, expanded_options())
        drawn = Counter(n.primitive for n in equation_nodes(graph))
        assert dict(drawn) == count_primitives(model), name
        assert len(graph.nodes) >= sum(1 for _ in walk(model)), name


def test_every_variable_edge_connects_producer_to_consumers(sample_models):
    for model in all_models(sample_models).values():
        check_edges(model, jaxpr_graph(model, expanded_options()))


def test_higher_order_primitives_become_labelled_clusters():
    labels = {
        name: [g.label for g in jaxpr_graph(generated(name), expanded_options()).groups] for name in PROGRAMS
    }
    assert any(label.startswith("cond ·") for label in labels["cond"])
    assert {"branch 0 (index = 0)", "branch 1 (index = 1)"} <= set(labels["cond"])
    assert {"cond_jaxpr: loop condition", "body_jaxpr: loop body"} <= set(labels["while"])
    assert any(label.startswith("scan · length 5") for label in labels["scan"])
    assert any("jvp rule: g_jvp" in label for label in labels["custom_jvp"])
    assert any("fwd rule: g_fwd" in label and "bwd rule: g_bwd" in label for label in labels["custom_vjp"])
    assert any(label.startswith("checkpoint (remat) · policy") for label in labels["checkpoint"])
    assert any(label.startswith("jit: inner") for label in labels["nested"])
    assert any(
        g.label.startswith("shard_map") for g in jaxpr_graph(shard_map_model(), expanded_options()).groups
    )


def test_loop_carries_are_back_edges():
    for name in ("while", "scan"):
        graph = jaxpr_graph(generated(name), expanded_options())
        carries = [e for e in graph.edges if e.kind == "carry"]
        assert carries and all(e.back for e in carries), name


def test_scan_inputs_are_labelled_const_carry_xs():
    graph = jaxpr_graph(generated("scan"), expanded_options())
    roles = [n.sublabel for n in graph.nodes if n.kind == "input" and n.group]
    assert roles == ["carry", "xs"]


def test_depth_zero_collapses_every_sub_jaxpr_into_one_node():
    model = generated("nested")
    graph = jaxpr_graph(model, GraphOptions(depth=0))
    assert not graph.groups
    (cond,) = [n for n in graph.nodes if n.primitive == "cond"]
    cond_eqn = next(e for e in model.eqns if e.primitive == "cond")
    assert cond.kind == "collapsed" and cond.count == eqn_count(cond_eqn) > 3


def test_expand_and_collapse_sets_override_the_depth():
    model = generated("nested")
    cond_id = next(e.id for e in model.eqns if e.primitive == "cond")
    opened = jaxpr_graph(model, GraphOptions(depth=0, expand=frozenset({cond_id})))
    assert any(g.path == cond_id for g in opened.groups)
    closed = jaxpr_graph(model, GraphOptions(depth=9, collapse=frozenset({cond_id})))
    assert not closed.groups


def test_grad_equations_carry_their_provenance_for_colouring():
    graph = jaxpr_graph(generated("custom_vjp", grad=True), GraphOptions(colour_by="provenance"))
    provs = {n.provenance for n in equation_nodes(graph)}
    assert {"jvp", "transpose(jvp)"} <= provs
    legend = dict(graph.legend)
    assert legend["jvp"] != legend["transpose(jvp)"]  # forward and backward pass visibly different


def test_unknown_primitives_are_still_drawn_with_a_family(sample_models):
    model = sample_models["differentiability_grad:after"]
    model.eqns[1].primitive = "brand_new_primitive"
    graph = jaxpr_graph(model, expanded_options())
    assert "brand_new_primitive" in {n.primitive for n in equation_nodes(graph)}
    assert dict(Counter(n.primitive for n in equation_nodes(graph))) == count_primitives(model)


def test_find_folds_finds_back_to_back_repeats():
    assert find_folds([9, 1, 2, 3, 1, 2, 3, 1, 2, 3, 7]) == [(1, 3, 3)]
    assert find_folds([1, 2, 3, 4, 5, 6]) == []


# ---------------------------------------------------------------- scale: grad of a loop unrolled 1,500 times

UNROLLED = "import jax.numpy as jnp\ndef loss(x, w):\n    for _ in range(1500):\n        x = jnp.tanh(x * w) + x\n    return jnp.sum(x)\n"


@pytest.fixture(scope="module")
def unrolled() -> JaxprModel:
    """The grad of a Python loop unrolled 1,500 times: about 13,500 equations."""
    return model_of(UNROLLED, "loss", jnp.ones(8), jnp.ones(8), transform=jax.grad)


def test_unrolled_loop_folds_to_blocks_marked_x1500(unrolled):
    graph = jaxpr_graph(unrolled, GraphOptions())
    folds = [g.label for g in graph.groups if g.kind == "fold"]
    assert len(folds) == 2 and all("×1500" in f or "×1499" in f for f in folds)
    assert len(graph.nodes) < 40
    assert "<svg" in to_svg(graph)


def test_node_budget_is_respected_with_summary_nodes(unrolled):
    total = sum(1 for _ in walk(unrolled))
    for budget in (50, 100, 250):
        graph = jaxpr_graph(unrolled, GraphOptions(fold=False, budget=budget))
        assert len(graph.nodes) <= budget
        assert any(n.kind == "summary" and n.label.startswith("+") for n in graph.nodes)
        shown = sum(n.count for n in graph.nodes if n.kind in ("eqn", "collapsed", "summary"))
        assert shown == total  # nothing silently dropped: summaries account for every equation


def test_search_expands_the_path_to_a_match(unrolled):
    target = unrolled.eqns[6001]
    name = next(v.name for v in target.outvars if v.name != "_")
    assert target.id in search_matches(unrolled, name)
    graph = jaxpr_graph(unrolled, GraphOptions(fold=False, budget=250, search=name))
    matched = [n.id for n in graph.nodes if n.match]
    assert f"eqn_{target.id}" in matched
    assert len(graph.nodes) <= 400


def test_search_by_source_line_matches_the_loop_body(unrolled):
    assert len(search_matches(unrolled, "line 4", limit=10_000)) > 1500


def test_a_graph_never_has_fewer_equation_nodes_than_the_jaxpr(unrolled):
    graph = jaxpr_graph(unrolled, expanded_options())
    assert len(equation_nodes(graph)) == sum(1 for _ in walk(unrolled))
    assert len(to_dot(graph).splitlines()) > 2 * len(equation_nodes(graph))


# ---------------------------------------------------------------- real models: inputs grouped, scopes as clusters

SCOPED = "import jax\ndef f(p, x):\n    with jax.named_scope('block'):\n        y = x * p['a'] + p['b']\n    return y * 2.0\n"

SCOPED_DOT = """digraph jaxpr {
  graph [rankdir="TB" labelloc="b" fontname="Helvetica" fontsize="12" label="f" newrank="true" nslimit="1" nslimit1="1" mclimit="0.5" searchsize="20" remincross="false" ranksep="0.3" nodesep="0.25"]
  node [fontname="Helvetica" fontsize="10" height="0.3" margin="0.08,0.03"]
  edge [fontname="Helvetica" fontsize="8" arrowsize="0.6" color="#4b5563"]
  "inputs_p" [shape="invhouse" style="filled,bold" fillcolor="#fde68a" label="p\\n9 arrays · 18 values" tooltip="inputs: p['a']: a:f32[2]\\np['b']: b:f32[2]\\np['c']: c:f32[2]\\np['d']: d:f32[2]\\np['e']: e:f32[2]\\np['f']: f:f32[2]\\np['g']: g:f32[2]\\np['h']: h:f32[2]\\np['i']: i:f32[2]\\nid: inputs_p"]
  "in_j" [shape="invhouse" style="filled" fillcolor="#fef9c3" label="j:f32[2]\\nx" tooltip="input: j:f32[2]\\nrole: x"]
  "eqn_2" [shape="box" style="rounded,filled" fillcolor="#dbeafe" label="mul\\nlit 2.0" tooltip="m:f32[2] = mul l 2.0:f32[]"]
  "out_0" [shape="house" style="filled" fillcolor="#dcfce7" label="m:f32[2]\\nout" tooltip="output: m:f32[2]"]
  subgraph "cluster_module@0-2" {
    graph [label="block · 2 equations" tooltip="module@0-2" style="rounded,filled" fillcolor="#f5f3ff" color="#8b5cf6"]
    "eqn_0" [shape="box" style="rounded,filled" fillcolor="#dbeafe" label="mul" tooltip="k:f32[2] = mul j a"]
    "eqn_1" [shape="box" style="rounded,filled" fillcolor="#dbeafe" label="add" tooltip="l:f32[2] = add k b"]
  }
  "in_j" -> "eqn_0" [tooltip="j:f32[2]" label="j:f32[2]"]
  "inputs_p" -> "eqn_0"
  "eqn_0" -> "eqn_1" [tooltip="k:f32[2]" label="k:f32[2]"]
  "inputs_p" -> "eqn_1"
  "eqn_1" -> "eqn_2" [tooltip="l:f32[2]" label="l:f32[2]"]
  "eqn_2" -> "out_0" [tooltip="m:f32[2]" label="m:f32[2]"]
}
"""


def scoped_model() -> JaxprModel:
    """Nine parameters in one dict and an input; two equations in a named scope."""
    ns: dict = {}
    exec(compile(SCOPED, "prog.py", "exec"), ns)
    closed = jax.make_jaxpr(ns["f"])({k: jnp.ones(2) for k in "abcdefghi"}, jnp.ones(2))
    return build_model(closed, "prog.py", SCOPED, [f"p['{k}']" for k in "abcdefghi"] + ["x"])[1]


def test_many_inputs_group_by_pytree_prefix_and_scopes_become_clusters_exact_dot():
    assert to_dot(jaxpr_graph(scoped_model(), GraphOptions(legend=False), "f")) == SCOPED_DOT


def test_an_input_group_expands_by_its_id():
    graph = jaxpr_graph(scoped_model(), GraphOptions(legend=False, expand=frozenset({"inputs_p"})))
    assert [n.sublabel for n in graph.nodes if n.kind == "input"] == [f"p['{k}']" for k in "abcdefghi"] + [
        "x"
    ]


def test_group_paths_picks_the_deepest_prefix_with_few_groups():
    from inspectors.graph import group_paths, path_parts

    assert path_parts("params['params']['Dense_0'].kernel[3]") == [
        "params",
        "params",
        "Dense_0",
        "kernel",
        "[3]",
    ]
    paths = [f"params[{i}]['{w}']" for i in range(6) for w in ("wq", "wk")] + ["x"]
    groups = group_paths(paths)
    assert [name for name, _ in groups] == [f"params[{i}]" for i in range(6)] + ["x"]
    assert groups[0][1] == [0, 1]


TRANSFORMER = Path(__file__).parent.parent / "samples" / "real_models_transformer_block.py"
TRANSFORMER_LOSS = "\n\ndef loss(params, x):\n    return jnp.sum(transformer(params, x) ** 2)\n"


@pytest.fixture(scope="module")
def transformer() -> dict[str, JaxprModel]:
    """The six-layer transformer sample under jit, and the grad of its loss (about 1,000 equations)."""
    src = TRANSFORMER.read_text()
    fwd = inspect(Request(src, str(TRANSFORMER)))
    grad = inspect(Request(src + TRANSFORMER_LOSS, str(TRANSFORMER), "loss", None, ["grad", "jit"]))
    return {"forward": fwd.jaxpr().model, "grad": grad.jaxpr().model}


def test_a_transformer_shows_its_layers_as_clusters_with_attention_and_mlp_inside(transformer):
    graph = jaxpr_graph(transformer["forward"])
    layers = [g for g in graph.groups if g.kind == "module"]
    assert [g.label.split(" ·")[0] for g in layers] == [f"layer_{i}" for i in range(6)]
    for i, layer in enumerate(layers):
        inside = [n.label for n in graph.nodes if n.group == layer.path]
        # Each layer's own parameters sit at the top of its box (the first layer's at the top of
        # the graph already, beside the input), then attention and MLP.
        params = [f"params[{i}]\n6 arrays · 8.2 K values"] if i else []
        assert inside == [*params, "attention", "mlp"], inside
    (first,) = [n for n in graph.nodes if n.label.startswith("params[0]\n")]
    assert first.kind == "inputs" and first.group == ""
    assert not [n for n in graph.nodes if n.kind == "input" and "params" in n.sublabel]


def test_the_top_level_jit_of_a_large_program_is_open_and_readable(transformer):
    model = transformer["grad"]
    assert sum(1 for _ in walk(model)) > 800
    graph = jaxpr_graph(model)
    assert not any(n.kind == "collapsed" for n in graph.nodes)  # never one "jit ▸ N eqns" box
    assert len(graph.nodes) > 12
    backward = [g.label for g in graph.groups if g.kind == "module" and "transpose" in g.label]
    assert len(backward) == 6
    svg = to_svg(graph)
    width, height = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
    assert max(width / height, height / width) <= 4


def test_an_unscoped_large_jit_is_summarised_not_collapsed():
    loop = "import jax.numpy as jnp\ndef loss(x, w):\n    for _ in range(100):\n        x = jnp.tanh(x * w) + x\n    return jnp.sum(x)\n"
    model = model_of(loop, "loss", jnp.ones(8), jnp.ones(8), transform=lambda f: jax.jit(jax.grad(f)))
    assert sum(1 for _ in walk(model)) > 800
    graph = jaxpr_graph(model, GraphOptions(fold=False))
    assert not any(n.kind == "collapsed" for n in graph.nodes) and len(graph.nodes) > 12


def test_search_finds_model_scopes_and_opens_them(transformer):
    model = transformer["forward"]
    hits = search_matches(model, "layer_3/mlp")
    assert hits and all("layer_3/mlp" in e.name_stack for e in walk(model) if e.id in hits)
    graph = jaxpr_graph(model, GraphOptions(search="layer_3/mlp"))
    assert sum(n.match for n in graph.nodes) == len(hits)


STUB_DOT = """digraph jaxpr {
  graph [rankdir="TB" labelloc="b" fontname="Helvetica" fontsize="12" label="t" newrank="true" nslimit="1" nslimit1="1" mclimit="0.5" searchsize="20" remincross="false" ranksep="0.3" nodesep="0.25"]
  node [fontname="Helvetica" fontsize="10" height="0.3" margin="0.08,0.03"]
  edge [fontname="Helvetica" fontsize="8" arrowsize="0.6" color="#4b5563"]
  "a" [shape="box" style="rounded,filled" fillcolor="#ffffff" label="sin"]
  subgraph "cluster_g" {
    graph [label="jit: f" tooltip="g" style="rounded" color="#6366f1"]
    "b" [shape="box" style="rounded,filled" fillcolor="#ffffff" label="cos"]
    "stub_0" [shape="plaintext" fontsize="7" fontcolor="#6b7280" label="x:f32[]\\nfrom sin" tooltip="x:f32[] produced by a" height="0.1"]
  }
  "stub_0" -> "b" [style="dashed" color="#9ca3af" arrowsize="0.4" tooltip="x:f32[] produced by a"]
}
"""


def test_a_long_edge_stub_is_declared_inside_its_consumers_cluster():
    from inspectors.graph import Edge, Group, Node

    graph = Graph(
        title="t",
        nodes=[Node("a", "eqn", "sin"), Node("b", "eqn", "cos", group="g")],
        edges=[Edge("a", "b", "x", "f32[]", kind="long")],
        groups=[Group("g", "jit: f")],
    )
    assert to_dot(graph) == STUB_DOT


def test_one_source_line_in_a_loop_over_layers_splits_by_layer(transformer):
    from inspectors.graph import line_scopes

    model = transformer["forward"]
    src = TRANSFORMER.read_text().splitlines()
    line = next(i for i, code in enumerate(src, 1) if "x = x + attention(p, layer_norm(x))" in code)
    scopes = line_scopes(model, line)
    assert list(scopes) == [f"layer_{i}/attention" for i in range(6)]
    assert len({len(ids) for ids in scopes.values()}) == 1  # the same equations in every layer


# ---------------------------------------------------------------- real shapes that once ran away (issue 20)

MODELS = Path(__file__).parent / "models"


def model_file(name: str, transforms: list[str], args: str) -> JaxprModel:
    """Return the jaxpr model of a pipeline over `loss` from tests/models/NAME.py, imported as Python would."""
    import importlib.util

    from inspectors.source import eval_args
    from inspectors.transforms import apply_pipeline, keep_static, parse_pipeline

    path = MODELS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"graph_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    f, values, _ = keep_static(module.loss, tuple(eval_args(args, module)), {})  # Equinox's activations
    closed = jax.make_jaxpr(apply_pipeline(f, parse_pipeline(transforms)))(*values)
    return build_model(closed, str(path), path.read_text())[1]


@pytest.fixture(scope="module")
def linen_lm() -> JaxprModel:
    """A Flax linen LM under jit(value_and_grad(has_aux=True)): its `LM` scope holds only `LM/decoder`."""
    return model_file("linen_lm", ["value_and_grad(has_aux=True)", "jit"], "params, tokens")


@pytest.fixture(scope="module")
def eqx_cnn() -> JaxprModel:
    """An Equinox CNN under jit(value_and_grad): its pools' scopes nest two of the same extent."""
    return model_file("eqx_cnn", ["value_and_grad", "jit"], "model, images, labels")


def test_a_scope_holding_only_one_scope_is_one_cluster_and_the_clusters_form_a_tree(linen_lm):
    # Before: `LM` and `LM/decoder` were two clusters with one id, the second its own parent; placing the
    # inputs then followed that parent forever (MemoryError).
    from inspectors.graph.bounded import BuildRequest, bounded_build

    for opts in (GraphOptions(group_inputs=False), GraphOptions(), GraphOptions(depth=9, budget=1000)):
        # Bounded, so that a regression fails this test instead of filling the machine's memory.
        graph, _ = bounded_build(BuildRequest("jaxpr", linen_lm, opts, "lm"), timeout=120, memory_mb=1024)
        check_tree(graph.groups)
        assert all(g.path != g.parent for g in graph.groups)
    labels = [g.label for g in jaxpr_graph(linen_lm).groups if g.kind == "module"]
    assert "LM/decoder · jvp · 292 equations" in labels
    assert sum(1 for label in labels if label.startswith("LM/decoder · transpose(jvp)")) == 1
    assert "<svg" in to_svg(jaxpr_graph(linen_lm))


def test_equinox_pools_are_one_cluster_each_and_the_graph_renders(eqx_cnn):
    # Before: the same self-parented cluster made to_dot recurse without end (RecursionError).
    graph = jaxpr_graph(eqx_cnn)
    check_tree(graph.groups)
    pools = [g.label for g in graph.groups if g.label.startswith("eqx.nn.MaxPool2d/eqx.nn.Pool")]
    assert len(pools) == 2  # the forward pass and the backward pass
    assert "<svg" in to_svg(graph)
    full = jaxpr_graph(eqx_cnn, expanded_options())
    assert dict(Counter(n.primitive for n in equation_nodes(full))) == count_primitives(eqx_cnn)
    check_edges(eqx_cnn, full)


def test_a_cluster_is_added_only_once_and_only_under_a_cluster_already_added():
    from inspectors.graph import GraphError, Group, add_group

    groups: list = []
    known: set[str] = set()
    add_group(groups, known, Group("a", "a"))
    add_group(groups, known, Group("a/b", "b", "a"))
    with pytest.raises(GraphError, match="added twice"):
        add_group(groups, known, Group("a", "again", "a"))
    with pytest.raises(GraphError, match="before its parent"):
        add_group(groups, known, Group("c", "c", "nowhere"))
    assert [g.path for g in groups] == ["a", "a/b"]


def test_dot_of_clusters_nested_thousands_deep_is_a_loop_and_a_cycle_is_an_error():
    from inspectors.graph import GraphError, Group, Node

    deep = [Group(f"g{i}", f"level {i}", f"g{i - 1}" if i else "") for i in range(5000)]
    graph = Graph(title="t", nodes=[Node("n", "eqn", "sin", group="g4999")], groups=deep)
    dot = to_dot(graph)
    assert dot.count("subgraph ") == 5000 and '"n" [' in dot
    cyclic = Graph(title="t", groups=[Group("a", "a", "b"), Group("b", "b", "a")])
    with pytest.raises(GraphError, match="cycle"):
        to_dot(cyclic)
    with pytest.raises(GraphError, match="cycle"):
        to_dot(Graph(title="t", groups=[Group("a", "a", "a")]))  # the shape the Equinox CNN once had
    with pytest.raises(GraphError, match="listed twice"):
        to_dot(Graph(title="t", groups=[Group("a", "a"), Group("a", "again")]))


# ---------------------------------------------------------------- every build bounded in time and memory


def test_a_bounded_build_gives_the_graph_and_dot_of_an_in_process_build(linen_lm):
    from inspectors.graph.bounded import BuildRequest, bounded_build

    graph, dot = bounded_build(BuildRequest("jaxpr", linen_lm, GraphOptions(), "lm"))
    assert graph == jaxpr_graph(linen_lm, GraphOptions(), "lm")
    assert dot == to_dot(graph)


def test_a_build_past_its_time_limit_says_so_and_names_what_to_collapse(linen_lm):
    from inspectors.graph.bounded import BuildRequest, GraphTooLarge, bounded_build, collapse_advice

    advice = collapse_advice(linen_lm)
    assert [a[0] for a in advice] == [
        "scope LM/decoder",
        "scope LM/decoder/block_0",
        "scope LM/decoder/block_1",
    ]
    from inspectors.graph import scope_path

    assert advice[0][2] == sum(1 for e in walk(linen_lm) if scope_path(e)[:2] == ("LM", "decoder"))
    with pytest.raises(
        GraphTooLarge,
        match=r"took longer than 0.01 s \(limits 0.01 s, \d+ MB\)\. Its largest parts: scope LM/decoder \(model scope",
    ):
        bounded_build(BuildRequest("jaxpr", linen_lm, GraphOptions(), "lm"), timeout=0.01)


def test_a_build_past_its_memory_limit_says_so(unrolled):
    from inspectors.graph.bounded import BuildRequest, GraphTooLarge, bounded_build

    # Every one of 13,500 equations drawn needs far more than 40 MB above the interpreter's own.
    with pytest.raises(GraphTooLarge, match="memory limit") as err:
        bounded_build(BuildRequest("jaxpr", unrolled, expanded_options(), "unrolled"), memory_mb=40)
    assert "could not be drawn" in str(err.value)


# ---------------------------------------------------------------- the passes, one by one, on plain data


def chain_graph(n: int) -> Graph:
    """A graph of n equations in a row, each reading the one before; the last also reads the first."""
    from inspectors.graph import Edge, Node

    nodes = [Node(f"e{i}", "eqn", "sin") for i in range(n)]
    edges = [Edge(f"e{i}", f"e{i + 1}", f"v{i}", "f32[]") for i in range(n - 1)]
    return Graph(title="t", nodes=nodes, edges=[*edges, Edge("e0", f"e{n - 1}", "v0", "f32[]")])


def test_ranks_are_longest_paths_along_forward_edges():
    from inspectors.graph import ranks

    assert ranks(chain_graph(5)) == {f"e{i}": i for i in range(5)}


def test_mark_long_edges_turns_only_edges_spanning_more_than_span_into_stubs():
    from inspectors.graph import mark_long_edges

    graph = chain_graph(20)
    assert mark_long_edges(graph, 12) == 1
    assert [(e.src, e.dst) for e in graph.edges if e.kind == "long"] == [("e0", "e19")]
    assert graph.notes == ["1 long edges drawn as stubs at their consumer ('from ...')"]


def test_place_inputs_moves_a_group_read_by_one_scope_into_that_scopes_cluster():
    from inspectors.graph import Edge, Group, Node, place_inputs

    graph = Graph(
        title="t",
        nodes=[
            Node("x", "input", "x"),
            Node("a", "eqn", "sin"),
            Node("p1", "inputs", "params[1]"),
            Node("b", "eqn", "mul", group="layer_1"),
        ],
        edges=[Edge("x", "a"), Edge("a", "b"), Edge("p1", "b")],
        groups=[Group("layer_1", "layer_1", "", "module")],
    )
    assert place_inputs(graph) == 1
    assert next(n for n in graph.nodes if n.id == "p1").group == "layer_1"
    assert graph.edges[-1] == Edge("a", "p1", kind="anchor")  # hung under what precedes the layer


def test_candidate_views_go_from_most_open_to_least():
    from inspectors.graph import candidate_views

    model = scoped_model()  # one scope level, not wrapped in a call
    assert candidate_views(model, GraphOptions(depth=2)) == [
        (2, None),
        (2, 0),
        (1, None),
        (1, 0),
        (0, None),
        (0, 0),
    ]


def test_fit_budget_says_what_it_closed_to_fit(linen_lm):
    from inspectors.graph import build_view, fit_budget

    graph, notes = fit_budget(linen_lm, GraphOptions(), [])
    assert len(graph.nodes) <= 250 and notes == [
        "model scopes below level 3 drawn closed; expand or search to open"
    ]
    assert build_view(linen_lm, GraphOptions(), 3, False, 250, {}, [], None) is None  # all open: too many
    fitted = build_view(linen_lm, GraphOptions(), 3, False, 250, {}, [], 3)
    assert fitted is not None and [n.id for n in fitted.nodes] == [n.id for n in graph.nodes]


def budget_tree() -> tuple[Graph, dict[str, tuple[str, int]]]:
    """A built graph: a call `0` (2 nodes of its own) around scope `A` (3) around scope `A/B` (4), plus 1 outside."""
    from inspectors.graph import Group, Node

    groups = [Group("0", "jit", "", "jit"), Group("A", "A", "0", "module"), Group("A/B", "B", "A", "module")]
    nodes = [Node("x", "input", "x")]
    nodes += [
        Node(f"{g}{i}", "eqn", "sin", group=g) for g, n in (("0", 2), ("A", 3), ("A/B", 4)) for i in range(n)
    ]
    return Graph(title="t", nodes=nodes, groups=groups), {
        "0": ("depth", 0),
        "A": ("scope", 0),
        "A/B": ("scope", 1),
    }


BUDGET_VIEWS = [(1, None), (1, 1), (1, 0), (0, None)]  # most open first, as candidate_views lists them


@pytest.mark.parametrize(
    "budget, view, nodes, collapsed",
    [
        (10, (1, None), 10, ()),  # all open: 1 + 2 + 3 + 4 nodes, exactly the budget
        (9, (1, 1), 7, ("A/B",)),  # one over: the deepest scope closes to one node
        (7, (1, 1), 7, ("A/B",)),
        (6, (1, 0), 4, ("A",)),  # `A` closed holds `A/B`: only the outermost closed cluster is named
        (4, (1, 0), 4, ("A",)),
        (3, (0, None), 2, ("0",)),  # the call itself closes
        (2, (0, None), 2, ("0",)),
    ],
)
def test_the_budget_pass_picks_the_most_open_view_that_fits_exactly(budget, view, nodes, collapsed):
    from inspectors.graph import fit_view

    graph, closable = budget_tree()
    choice = fit_view(graph, closable, BUDGET_VIEWS, budget)
    assert (choice.view, choice.nodes, choice.collapsed, choice.fits) == (view, nodes, collapsed, True)
    assert choice == fit_view(graph, closable, BUDGET_VIEWS, budget)  # deterministic: plain data in, out


def test_the_budget_pass_says_when_no_view_fits_and_leaves_pinned_clusters_open():
    from inspectors.graph import fit_view, subtree_nodes

    graph, closable = budget_tree()
    assert subtree_nodes(graph) == {"0": 9, "A": 7, "A/B": 4}
    none = fit_view(graph, closable, BUDGET_VIEWS, 1)  # even the root level is 2 nodes
    assert (none.view, none.nodes, none.collapsed, none.fits) == ((0, None), 2, ("0",), False)
    del closable["A"]  # opened by a search match: no budget closes it, its scope inside still may
    assert fit_view(graph, closable, BUDGET_VIEWS, 7).collapsed == ("A/B",)
    assert fit_view(graph, closable, BUDGET_VIEWS, 6).collapsed == ("0",)  # closing `A/B` alone leaves 7


def previous_fit(model: JaxprModel, opts: GraphOptions) -> Graph | None:
    """The view the budget used to find by building each candidate until one fitted (the oracle)."""
    from inspectors.graph import build_view, candidate_views

    views = candidate_views(model, opts)
    return next(
        (g for d, s in views if (g := build_view(model, opts, d, False, opts.budget, {}, [], s))), None
    )


@pytest.mark.parametrize("budget", [30, 80, 250])
def test_one_budget_pass_draws_what_building_every_candidate_drew(sample_models, linen_lm, eqx_cnn, budget):
    from inspectors.graph import fit_budget

    models = {**sample_models, "linen_lm": linen_lm, "eqx_cnn": eqx_cnn}
    for name, model in models.items():
        opts = GraphOptions(budget=budget)
        graph, _ = fit_budget(model, opts, [])
        old = previous_fit(model, opts)
        if old is None:  # nothing fits: both summarise long lists
            assert len(graph.nodes) <= max(budget, len(graph.nodes)), name
            continue
        assert len(graph.nodes) <= budget, name
        assert [(n.id, n.group, n.label) for n in graph.nodes] == [
            (n.id, n.group, n.label) for n in old.nodes
        ], name
        assert graph.edges == old.edges and graph.groups == old.groups, name


def test_finish_labels_edges_only_on_graphs_small_enough():
    from inspectors.graph import finish

    small, big = finish(chain_graph(5), scoped_model(), GraphOptions()), chain_graph(400)
    assert small.edge_labels and small.legend
    assert not finish(big, scoped_model(), GraphOptions(legend=False)).edge_labels and not big.legend


def test_plan_folds_groups_by_scope_and_merges_a_scope_holding_only_one(eqx_cnn):
    from inspectors.graph import fold_items, module_items, plan_items

    body = eqx_cnn.eqns[0].subjaxprs[0].jaxpr.eqns  # inside the top-level jit
    items = module_items(body, fold_items(GraphOptions(), body, ""), "", 0)
    pools = [it for it in items if it.scope == "eqx.nn.MaxPool2d/eqx.nn.Pool"]
    assert len(pools) == 2 and all(all(i.kind != "block" for i in p.items) for p in pools)
    ids = [it.id for it in items if it.kind == "block"]
    assert len(ids) == len(set(ids))  # one id per block: the clusters they become form a tree
    covered = [k for it in items for k in range(it.start, it.end)]
    assert covered == list(range(len(body)))  # every equation in exactly one item, in order
    assert plan_items(body, "", GraphOptions(), False) == items


def test_plan_chunks_a_long_list_into_summaries_under_the_budget(unrolled):
    from inspectors.graph import plan_items

    items = plan_items(unrolled.eqns, "", GraphOptions(fold=False, budget=100), True)
    assert len(items) <= 50 and any(it.kind == "block" for it in items)
    assert items[0].start == 0 and items[-1].end == len(unrolled.eqns)
    assert all(a.end == b.start for a, b in zip(items, items[1:], strict=False))
