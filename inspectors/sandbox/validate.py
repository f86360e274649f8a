"""Semantic checks of a decoded worker result, before the server reads any of it.

The strict decoder (`results._decode`) only proves that a worker's JSON has the
result model's types. A forged result can still be well typed and harmful: a
chain of pass deltas whose edits copy their base grows exponentially when the
server expands it, a stage id with a non-ASCII digit breaks sorting, a base that
names itself never ends. `check(result)` refuses all of that from the stored
form alone, without expanding a single text:

- stage ids and kinds come from a closed grammar (`STAGE_ID`, `KIND_OF`);
- a delta's edits are in order, inside their base, and add no line breaks;
- every base exists and no chain of bases returns to where it started;
- each expanded text and the whole expansion fit `MAX_TEXT_CHARS` and
  `MAX_EXPANDED_CHARS` (sizes computed from line lengths, never by expanding);
- stage names the server echoes (the running stage, an error's stage, a
  source line's status) come from small grammars too.

A violation raises `InvalidResult` (a ValueError) naming the field: the pool
turns it into that request's `BadResult`, never a worker restart.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable

from inspectors.results import InspectError, InspectionResult, LineEdit, Stage

# id                         kind        (see the chain in inspectors/results.py)
KIND_OF = {
    "source": "source",
    "jaxpr": "jaxpr",
    "stablehlo": "stablehlo",
    "stablehlo-debug": "stablehlo",
    "hlo-unoptimized": "hlo",
    "hlo-pass": "hlo-pass",
    "hlo": "hlo",
    "llvm": "llvm",
    "asm": "asm",
    "ptx": "ptx",
}
STAGE_ID = re.compile(
    r"(?P<head>source|stablehlo|stablehlo-debug|hlo-unoptimized|hlo)"
    r"|(?P<indexed>jaxpr|hlo-pass):(?:0|[1-9][0-9]{0,5})"
    r"|(?P<kernel>llvm|asm|ptx):[A-Za-z0-9_.\-]{1,200}"
)  # ASCII digits only: `int()` accepts other scripts' digits, sorting by them broke the chain
STAGE_NAME = re.compile(r"[a-z_\-]{1,40}(?::[0-9]{1,6})?")  # load, trace_transformed, trace:2, queue
LINE_STATUSES = frozenset({"traced", "lowered", "called", "nothing"})
LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # what str.splitlines splits on
MAX_TEXT_CHARS = 64 << 20  # one expanded text (a GPT-2-sized optimized HLO is 1.7 MB)
MAX_EXPANDED_CHARS = 512 << 20  # every text of a result, expanded (its 42 pass texts: about 70 MB)
MAX_EXPANDED_LINES = 16 << 20  # lines over all texts: bounds the line-length arrays below


class InvalidResult(ValueError):
    """A well-typed result that breaks the chain's rules."""


def check(result: InspectionResult, sizes_so_far: ChainSizes | None = None) -> None:
    """Raise InvalidResult unless `result` obeys the chain's rules.

    A stream passes its `ChainSizes` (`sizes_so_far`: the frames before this one): each frame's stages are
    measured once, on top of what those frames left, not the whole chain again per frame.
    """
    for i, stage in enumerate(result.stages):
        _check_stage(stage, f"$.stages[{i}]")
    ids = [s.id for s in result.stages]
    if len(set(ids)) != len(ids):
        raise InvalidResult("$.stages: a stage id appears twice")
    (ChainSizes() if sizes_so_far is None else sizes_so_far).add(result.stages)
    _check_names(result)


def _check_stage(stage: Stage, path: str) -> None:
    """One stage's id, kind, base and delta shape."""
    match = STAGE_ID.fullmatch(stage.id)
    if match is None:
        raise InvalidResult(f"{path}.id: {stage.id[:60]!r} is not a stage id")
    head = stage.id.partition(":")[0]
    if stage.kind != KIND_OF[head]:
        raise InvalidResult(f"{path}.kind: {stage.kind[:40]!r} where {KIND_OF[head]!r}")
    if stage.delta is None:
        if stage.base:
            raise InvalidResult(f"{path}.base: a base without a delta")
        return
    if stage.text is not None:
        raise InvalidResult(f"{path}: both a text and a delta")
    if not STAGE_ID.fullmatch(stage.base or ""):
        raise InvalidResult(f"{path}.base: {stage.base[:60]!r} is not a stage id")
    previous_end = 0
    for j, edit in enumerate(stage.delta):
        where = f"{path}.delta[{j}]"
        if not previous_end <= edit.start <= edit.end:
            raise InvalidResult(f"{where}: lines {edit.start}..{edit.end} out of order")
        previous_end = edit.end
        if any(LINE_BREAK.search(line) for line in edit.lines):
            raise InvalidResult(f"{where}.lines: a line with a line break in it")
    if stage.error is not None:
        _check_error(stage.error, f"{path}.error")


def sizes(chain: dict[str, Stage]) -> dict[str, int]:
    """Return each stage's expanded text size in characters, checking bases, ranges and caps."""
    measured = ChainSizes()
    measured.add(list(chain.values()))
    return measured.chars()


class ChainSizes:
    """The line lengths of a chain's expanded texts, grown a frame at a time, within the caps.

    Works on line lengths only: a delta's lengths follow from its base's line lengths and its own
    added lines, so a forged chain is refused before any text is built. A frame's stages are
    measured once each; a stage sent again replaces its earlier self (and, should a kept stage edit
    it, the whole chain is measured again).
    """

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self.lengths: dict[str, array] = {}
        self.total_chars = self.total_lines = 0

    def chars(self) -> dict[str, int]:
        """Each stage's expanded size in characters (line breaks included)."""
        return {stage_id: sum(v) + len(v) for stage_id, v in self.lengths.items()}

    def add(self, stages: Iterable[Stage]) -> None:
        """Measure `stages` on top of the chain so far; raise InvalidResult (and keep nothing) if they break it."""
        new = {s.id: s for s in stages}
        chain = {**self.stages, **new}
        again = new.keys() & self.stages.keys()
        kept = (s for sid, s in self.stages.items() if sid not in again)
        if any(s.delta is not None and s.base in again for s in kept):  # a base sent again: measure it all
            fresh = ChainSizes()
            fresh._measure(chain, list(chain))
            self.__dict__.update(fresh.__dict__)
            return
        lengths, chars, lines = dict(self.lengths), self.total_chars, self.total_lines
        for stage_id in again:
            old = self.lengths.pop(stage_id)
            self.total_chars -= sum(old) + len(old)
            self.total_lines -= len(old)
        try:
            self._measure(chain, list(new))
        except InvalidResult:
            self.lengths, self.total_chars, self.total_lines = lengths, chars, lines
            raise

    def _measure(self, chain: dict[str, Stage], todo: list[str]) -> None:
        """Measure the stages `todo` of `chain` (with their unmeasured bases), every base first."""
        for stage_id in _base_order(chain, todo, placed=self.lengths.keys()):
            stage = chain[stage_id]
            if stage.delta is None:
                line_lengths = array("q", map(len, (stage.text or "").splitlines()))
            else:
                line_lengths = _apply_lengths(self.lengths[stage.base], stage.delta, stage_id)
            self.total_lines += len(line_lengths)
            if self.total_lines > MAX_EXPANDED_LINES:
                raise InvalidResult(f"$.stages: more than {MAX_EXPANDED_LINES} lines once expanded")
            chars = sum(line_lengths) + len(line_lengths)
            if chars > MAX_TEXT_CHARS:
                raise InvalidResult(
                    f"stage {stage_id}: its text would be {chars} characters (cap {MAX_TEXT_CHARS})"
                )
            self.total_chars += chars
            if self.total_chars > MAX_EXPANDED_CHARS:
                raise InvalidResult(
                    f"$.stages: the texts would be over {MAX_EXPANDED_CHARS} characters expanded"
                )
            self.lengths[stage_id] = line_lengths
        self.stages = chain


def _base_order(chain: dict[str, Stage], starts: Iterable[str], placed: Iterable[str] = ()) -> list[str]:
    """The ids `starts` (and the bases they need) with every base before the stages that edit it, leaving
    out those `placed` already; a missing base or a cycle raises."""
    order: list[str] = []
    state: dict[str, int] = dict.fromkeys(placed, 2)  # 1: on the current path, 2: placed
    for start in starts:
        path: list[str] = []
        node: str | None = start
        while node is not None and state.get(node) != 2:
            if state.get(node) == 1:
                raise InvalidResult(f"stage {node}: its chain of bases returns to itself")
            state[node] = 1
            path.append(node)
            stage = chain[node]
            if stage.delta is None:
                node = None
            elif stage.base not in chain:
                raise InvalidResult(f"stage {node}: its base {stage.base[:60]!r} is not in the result")
            else:
                node = stage.base
        for placed in reversed(path):
            state[placed] = 2
            order.append(placed)
    return order


def _apply_lengths(base: array, delta: list[LineEdit], stage_id: str) -> array:
    """The line lengths of `base`'s text with `delta` applied (as `results.apply_delta` would)."""
    out, pos = array("q"), 0
    for edit in delta:
        if edit.end > len(base):
            raise InvalidResult(
                f"stage {stage_id}: an edit of lines {edit.start}..{edit.end} past its base's end"
            )
        out.extend(base[pos : edit.start])
        out.extend(map(len, edit.lines))
        pos = edit.end
    out.extend(base[pos:])
    return out


def _check_error(error: InspectError, path: str) -> None:
    """An error's stage is a pipeline stage's name."""
    if not STAGE_NAME.fullmatch(error.stage):
        raise InvalidResult(f"{path}.stage: {error.stage[:40]!r} is not a stage name")


def _check_names(result: InspectionResult) -> None:
    """The short names the server shows or routes by: running stage, errors' stages, times, line statuses."""
    if result.running and not STAGE_NAME.fullmatch(result.running):
        raise InvalidResult(f"$.running: {result.running[:40]!r} is not a stage name")
    if result.error is not None:
        _check_error(result.error, "$.error")
    for name in result.stage_times:
        if not STAGE_NAME.fullmatch(name):
            raise InvalidResult(f"$.stage_times: {name[:40]!r} is not a stage name")
    if result.source_map is not None:
        for i, info in enumerate(result.source_map.lines):
            if info.status not in LINE_STATUSES:
                raise InvalidResult(
                    f"$.source_map.lines[{i}].status: {info.status[:40]!r} is not a line status"
                )
