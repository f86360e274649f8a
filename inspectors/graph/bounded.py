"""Every graph build under a bound: a child process with a time limit and a memory limit.

The app's server and the CLI build graphs of programs they did not write. A build
that would run away (a bug, or a graph too large to draw) must not take the
server down with it: it runs in a fresh Python (`python -m inspectors.graph.bounded`,
no JAX import) capped by `RLIMIT_AS` and killed at its deadline. The model goes in
as a pickle (ours, from this process); the graph and its DOT come back as JSON,
rebuilt by the results' strict decoder. A build that fails says so, and names the
sub-graphs to collapse (the largest calls and model scopes).

    python -m inspectors.graph.bounded < request.pickle > graph.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

from inspectors.graph import Graph, GraphOptions, eqn_count, scope_path
from inspectors.results import JaxprModel, _decode, walk

BUILD_TIMEOUT_S = float(os.environ.get("JAXPR_EXPLORER_GRAPH_TIMEOUT", "30"))
BUILD_MEMORY_MB = int(os.environ.get("JAXPR_EXPLORER_GRAPH_MEMORY_MB", "2048"))
ADVICE = 3  # sub-graphs named in a failed build's message
WRAPPERS = ("jit", "pjit", "closed_call")  # calls that may wrap a whole program


class GraphTooLarge(RuntimeError):
    """A graph build ran past its time or memory limit; the message names what to collapse."""


@dataclass(frozen=True)
class BuildRequest:
    """What a child process builds: a jaxpr model or StableHLO/HLO text, under options."""

    kind: str  # jaxpr, stablehlo, hlo
    source: JaxprModel | str
    options: GraphOptions
    title: str


def build(req: BuildRequest) -> tuple[Graph, str]:
    """Return the graph of a request and its DOT (in this process: the child's work)."""
    from inspectors import hlo_graph, render
    from inspectors.graph import jaxpr_graph

    builders = {"jaxpr": jaxpr_graph, "stablehlo": hlo_graph.stablehlo_graph, "hlo": hlo_graph.hlo_graph}
    graph = builders[req.kind](req.source, req.options, req.title)
    return graph, render.to_dot(graph)


def _limit_memory(mb: int) -> None:
    """Cap this (child) process's address space; no core file when it is hit."""
    try:
        import resource
    except ImportError:  # Windows: the time limit still holds
        return
    resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def bounded_build(
    req: BuildRequest, timeout: float | None = None, memory_mb: int | None = None
) -> tuple[Graph, str]:
    """Build a graph in a child process under a time and memory limit; raise GraphTooLarge past either.

    The limits default to BUILD_TIMEOUT_S and BUILD_MEMORY_MB (read at each call).
    """
    timeout = BUILD_TIMEOUT_S if timeout is None else timeout
    memory_mb = BUILD_MEMORY_MB if memory_mb is None else memory_mb
    # The child caps itself: a preexec_fn would make subprocess fork this (threaded, JAX-holding) process.
    cmd = [sys.executable, "-m", "inspectors.graph.bounded", str(memory_mb)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run(cmd, input=pickle.dumps(req), capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise GraphTooLarge(failure(req, f"took longer than {timeout:g} s", timeout, memory_mb)) from None
    reply = _reply(proc)
    if "error" in reply:
        raise GraphTooLarge(failure(req, reply["error"], timeout, memory_mb))
    return _decode(Graph, reply["graph"]), reply["dot"]


def _reply(proc: subprocess.CompletedProcess) -> dict:
    """Return the child's JSON reply, or an error naming how it died."""
    try:
        return json.loads(proc.stdout)
    except ValueError:
        if proc.returncode < 0:
            return {"error": f"was killed (signal {-proc.returncode}), most likely past its memory limit"}
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": f"failed: {tail[0][:300]}"}


def failure(req: BuildRequest, why: str, timeout: float, memory_mb: int) -> str:
    """Return the message of a failed build: what failed, under which limits, and what to collapse."""
    head = f"The graph of {req.title} could not be drawn: building it {why} (limits {timeout:g} s, {memory_mb} MB)."
    if not isinstance(req.source, JaxprModel):
        return (
            f"{head} Lower the depth (fusions, loops and calls drawn closed) or the node budget, or search."
        )
    parts = [f"{what} ({label}, {n} equations)" for what, label, n in collapse_advice(req.source)]
    if not parts:
        return f"{head} Lower the depth or the node budget, or search for what you need."
    return (
        f"{head} Its largest parts: {'; '.join(parts)}. Collapse them (a call by its id; a model scope by its"
        " block once drawn), lower the depth or the node budget, or search for what you need."
    )


def collapse_advice(model: JaxprModel, limit: int = ADVICE) -> list[tuple[str, str, int]]:
    """Return the largest sub-graphs that collapse: (expand/collapse id, label, equations), largest first.

    Calls and loops are named by their equation id (what `--graph-collapse` and the app's Collapse take);
    model scopes by their name, to search for or collapse once drawn.
    """
    calls = [(f"call {e.id}", e.primitive + (f" {e.params['name']}" if "name" in e.params else ""), eqn_count(e))
             for e in walk(model) if e.subjaxprs]  # fmt: skip
    # The outermost jit of a model holds everything: naming it says nothing (a loop that does is named).
    total = sum(1 for _ in walk(model))
    calls = [c for c in calls if c[2] < 0.9 * total or c[1].split()[0] not in WRAPPERS]
    scopes = Counter(
        "/".join(p[:k]) for e in walk(model) for p in [scope_path(e)] for k in range(1, min(len(p), 3) + 1)
    )
    # A scope holding only one scope (`LM` around `LM/decoder`) is named once, by the inner name.
    same = {s.rsplit("/", 1)[0] for s, n in scopes.items() if "/" in s and scopes[s.rsplit("/", 1)[0]] == n}
    named = [(f"scope {s}", "model scope", n) for s, n in scopes.items() if n < 0.9 * total and s not in same]
    return sorted(calls + named, key=lambda c: -c[2])[:limit]


def main() -> None:
    """Child: read a pickled BuildRequest on stdin, write the graph and its DOT as JSON on stdout."""
    data = sys.stdin.buffer.read()
    sys.setrecursionlimit(20_000)  # nesting as deep as JAX itself traces (the memory limit still holds)
    _limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else BUILD_MEMORY_MB)
    try:
        req = pickle.loads(data)
        graph, dot = build(req)
        reply = {"graph": dataclasses.asdict(graph), "dot": dot}
    except MemoryError:
        reply = {"error": "ran past its memory limit"}
    except RecursionError:
        reply = {"error": "nested past Python's recursion limit"}
    except Exception as exc:  # noqa: BLE001 - any failure of the build is reported, never a traceback
        reply = {"error": f"failed: {type(exc).__name__}: {str(exc)[:300]}"}
    try:
        text = json.dumps(reply)
    except MemoryError:
        text = json.dumps({"error": "ran past its memory limit"})
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
