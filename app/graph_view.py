"""The graph views' earlier home: kept so `from app import graph_view` keeps working (see `app.views.graph`)."""

from app.views.graph import *  # noqa: F403
from app.views.graph import hlo_graph, jaxpr_graphs, layout, show_graph  # noqa: F401
