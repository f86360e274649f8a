"""Graphs of jaxprs: a build, then passes over plain data (the way Model Explorer's adapters work).

`jaxpr_graph(model, options)` runs, in order:
1. `search_matches` (passes): the equations a search names; their enclosing calls open.
2. `fit_budget` (here): the most open view that fits the node budget — the build
   (`build.build_open`, the autodidax loop with sub-jaxprs as slash-path clusters, repeated
   blocks folded, model scopes grouped) once, most open; then the budget pass (`passes.fit_view`),
   one walk over its cluster tree choosing which calls and scopes to close; then, only when it
   closes something, the build of that view. When no view fits, long equation lists are summarised.
3. `passes.finish`: edge labels, input groups placed in their scopes, long edges as stubs, legend.
The model is in `graph.model`, the plans of equation lists (fold, group by scope, summaries) in
`graph.plan`, the build in `graph.build`, the passes over the built graph in `graph.passes`;
`inspectors.render` turns the result into DOT. Works on the JSON result alone: no JAX import.
`inspectors.graph.bounded` runs any of it in a child process under a time and memory limit.
"""

from __future__ import annotations

from inspectors.graph.build import (  # noqa: F401 - the public names, importable from here
    BINDINGS,
    Binding,
    binding,
    build_open,
    build_view,
    count_text,
    group_paths,
    is_wrapped,
    path_parts,
    prefix_name,
    text_param,
    type_size,
)
from inspectors.graph.model import *  # noqa: F403 - the graph model, importable from here
from inspectors.graph.model import MAX_SCOPE_LEVELS, Graph, GraphOptions, no_gc
from inspectors.graph.passes import (  # noqa: F401
    ViewChoice,
    ancestors,
    closes,
    find_folds,
    finish,
    fit_view,
    legend_rows,
    line_scopes,
    mark_long_edges,
    place_inputs,
    ranks,
    scope_path,
    search_matches,
    signature,
    subtree_nodes,
)
from inspectors.graph.plan import Item, chunk_items, fold_items, module_items, plan_items, scope_items  # noqa: F401
from inspectors.results import JaxprModel, walk  # noqa: F401 - `walk` re-exported for the tests


def jaxpr_graph(model: JaxprModel, options: GraphOptions | None = None, title: str = "jaxpr") -> Graph:
    """Return the visible graph of a jaxpr model under the options (depth, folds, budget, search)."""
    with no_gc():
        return _jaxpr_graph(model, options or GraphOptions(), title)


def _jaxpr_graph(model: JaxprModel, opts: GraphOptions, title: str) -> Graph:
    """Search, fit the budget, finish (see jaxpr_graph)."""
    matches = search_matches(model, opts.search)
    graph, notes = fit_budget(model, opts, matches)
    graph.title = title
    graph.total_equations = sum(1 for _ in walk(model))
    graph.notes = notes + ([f"search '{opts.search}': {len(matches)} match(es)"] if opts.search else [])
    return finish(graph, model, opts)


def candidate_views(model: JaxprModel, opts: GraphOptions) -> list[tuple[int, int | None]]:
    """Return the views to try, most open first: (depth, deepest model-scope level drawn open or None: all)."""
    levels = min(max((len(scope_path(e)) for e in walk(model)), default=0), MAX_SCOPE_LEVELS)
    opens: list[int | None] = [None, *range(levels - 1, -1, -1)]
    # A program wrapped in one call (the top-level jit of a model) is shown open: one box says nothing.
    lowest = 1 if opts.depth >= 1 and is_wrapped(model) else 0
    return [
        (depth, scope_open) for depth in range(max(opts.depth, 0), lowest - 1, -1) for scope_open in opens
    ]


def fit_budget(model: JaxprModel, opts: GraphOptions, matches: list[str]) -> tuple[Graph, list[str]]:
    """Return the most open view within the node budget, and notes saying what was closed to fit it.

    The build runs once, most open; the budget pass (`fit_view`) picks the view from its cluster tree;
    a second build draws that view only when it closes something. Nothing is built to be thrown away.
    """
    plans: dict = {}
    views = candidate_views(model, opts)
    graph, closable = build_open(model, opts, views[0][0], plans, matches)
    choice = fit_view(graph, closable, views, opts.budget)
    if choice.fits:
        return _view_of(model, opts, choice, graph, plans, matches), _budget_notes(opts, choice)
    lowest, opened = choice.view
    graph = build_view(model, opts, lowest, True, None, plans, matches, 0 if opened is not None else None)
    assert graph is not None  # no budget: never refused
    return graph, [
        f"long equation lists summarised to stay within the node budget ({opts.budget}); expand or search to see more"
    ]


def _view_of(
    model: JaxprModel,
    opts: GraphOptions,
    choice: ViewChoice,
    most_open: Graph,
    plans: dict,
    matches: list[str],
) -> Graph:
    """Return the chosen view: the most open one as built, or the build of the view that closes clusters."""
    if not choice.collapsed:
        return most_open
    depth, scope_open = choice.view
    graph = build_view(model, opts, depth, False, None, plans, matches, scope_open)
    assert graph is not None and len(graph.nodes) == choice.nodes, (
        "the budget pass counts what the build draws"
    )
    return graph


def _budget_notes(opts: GraphOptions, choice: ViewChoice) -> list[str]:
    """Return the notes saying what a view closed to stay within the budget."""
    depth, scope_open = choice.view
    notes = []
    if depth < opts.depth:
        notes.append(f"collapsed to depth {depth} to stay within the node budget ({opts.budget})")
    if scope_open is not None:
        notes.append(f"model scopes below level {scope_open} drawn closed; expand or search to open")
    return notes
