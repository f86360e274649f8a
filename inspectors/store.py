"""The stage store: every result's stages by (`Request.key()`, stage id) in one SQLite database.

A result is kept as an index (its own fields, and per stage a summary: id, kind, label, size, time,
counts) and one body per stage. `index(key)` returns an `InspectionResult` whose stages are the
summaries; a stage's body is fetched when something reads it (`find`, `stage`, `text_of`), so a view
costs only the stages it opens. Bodies beyond the byte budget are evicted least recently used first;
an index whose bodies were evicted is no longer `complete` (the caller runs the request again), while
a result already handed out keeps the bodies it fetched. A saved result is one file of this store
(`save`), reopened by `open_saved` (`python -m inspectors open FILE`, the app).

SQLite from the standard library: one file, transactions, safe across the server's threads with
the one lock here. Bodies are zlib-compressed JSON (level 1: a GPT-2-sized result's 45 MB is ~8 MB).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import tempfile
import threading
import time
import zlib
from typing import Any

from inspectors.results import InspectionResult, Stage, _decode, as_data

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, meta BLOB NOT NULL, used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS stages (
    key TEXT NOT NULL, id TEXT NOT NULL, pos INTEGER NOT NULL, summary BLOB NOT NULL,
    body BLOB, size INTEGER NOT NULL, used REAL NOT NULL, PRIMARY KEY (key, id)
);
CREATE INDEX IF NOT EXISTS stages_used ON stages (used) WHERE body IS NOT NULL;
"""
SQLITE_MAGIC = b"SQLite format 3\x00"


def _pack(data: Any) -> bytes:
    """JSON, zlib-compressed."""
    return zlib.compress(json.dumps(data).encode("utf-8", "replace"), 1)


def pack_body(stage_data: dict[str, Any]) -> bytes:
    """A stage's stored body from its JSON data (a worker's frame, checked): what `put` stores for it."""
    return _pack(stage_data)


def _unpack(blob: bytes) -> Any:
    """Invert `_pack`."""
    return json.loads(zlib.decompress(blob))


def summary_of(stage: Stage, size: int) -> Stage:
    """Return the stage without its body (text, model, delta, module): what an index holds.

    Its `size` is the stored body's bytes when it has a text, 0 when it has none (a note, an error).
    """
    has_text = stage.text is not None or stage.delta is not None
    return dataclasses.replace(stage, text=None, model=None, delta=None, module=None, size=size if has_text else 0)


class StageStore:
    """Stages by (request key, stage id) in one SQLite file, within a byte budget (None: no budget)."""

    def __init__(self, path: str = ":memory:", budget_bytes: int | None = None) -> None:
        self.path, self.budget = path, budget_bytes
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.fetches = 0  # stage bodies read (tests count them)
        self.evictions = 0

    # --- writing --------------------------------------------------------------------------

    def put(self, key: str, result: InspectionResult) -> InspectionResult:
        """Store a whole result (replacing one of the same key), keep to the budget; return its index.

        The index is built here from what was stored (equal to `index(key)`, without reading it back).
        A result streamed from a worker brings its stage bodies packed already (`_bodies`, by stage id:
        `pack_body` of each stage's JSON as it came), so storing it packs only the summaries.
        """
        rows, summaries = [], []
        bodies = result.__dict__.get("_bodies", {})
        for pos, stage in enumerate(result.stages):
            body = bodies.get(stage.id) or _pack(as_data(stage))
            summary = summary_of(stage, len(body))
            summaries.append(summary)
            rows.append((key, stage.id, pos, _pack(as_data(summary)), body, len(body)))
        lean = dataclasses.replace(result, stages=[])
        meta = _pack(lean.to_dict())
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM stages WHERE key = ?", (key,))
            self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?)", (key, meta, now))
            self._db.executemany("INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, ?)", [(*r, now) for r in rows])
            self._db.execute("COMMIT")
            self._keep_to_budget()
        lean.stages = summaries
        lean.attach_fetch(lambda stage_id: self.fetch(key, stage_id), {s.id for s in summaries})
        return lean

    def _keep_to_budget(self) -> None:
        """Evict the least recently used bodies until the stored bodies fit the budget (lock held)."""
        if self.budget is None:
            return
        (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM stages WHERE body IS NOT NULL").fetchone()
        if total <= self.budget:
            return
        victims = []
        for key, sid, size in self._db.execute(
            "SELECT key, id, size FROM stages WHERE body IS NOT NULL ORDER BY used, key, pos"
        ):
            victims.append((key, sid))
            total -= size
            if total <= self.budget:
                break
        self._db.executemany("UPDATE stages SET body = NULL WHERE key = ? AND id = ?", victims)
        self.evictions += len(victims)

    # --- reading --------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        """True if a result is stored under `key` (complete or not)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM results WHERE key = ?", (key,)).fetchone() is not None

    def complete(self, key: str) -> bool:
        """True if a result is stored under `key` with every stage's body."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM results WHERE key = ?", (key,)).fetchone() is None:
                return False
            gone = self._db.execute("SELECT 1 FROM stages WHERE key = ? AND body IS NULL", (key,)).fetchone()
            return gone is None

    def keys(self) -> list[str]:
        """Every stored result's key, most recently used first."""
        with self._lock:
            return [k for (k,) in self._db.execute("SELECT key FROM results ORDER BY used DESC")]

    def index(self, key: str) -> InspectionResult | None:
        """Return the stored result as an index: stage summaries whose bodies are fetched when read."""
        with self._lock:
            row = self._db.execute("SELECT meta FROM results WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE results SET used = ? WHERE key = ?", (time.time(), key))
            summaries = self._db.execute("SELECT summary FROM stages WHERE key = ? ORDER BY pos", (key,)).fetchall()
        result = InspectionResult.from_dict(_unpack(row[0]))
        result.stages = [_decode(Stage, _unpack(s)) for (s,) in summaries]
        result.attach_fetch(lambda stage_id: self.fetch(key, stage_id), {s.id for s in result.stages})
        return result

    def fetch(self, key: str, stage_id: str) -> Stage | None:
        """Return one stage with its body (None if it was evicted or never stored)."""
        with self._lock:
            row = self._db.execute("SELECT body FROM stages WHERE key = ? AND id = ?", (key, stage_id)).fetchone()
            if row is None or row[0] is None:
                return None
            self._db.execute("UPDATE stages SET used = ? WHERE key = ? AND id = ?", (time.time(), key, stage_id))
            self.fetches += 1
        return _decode(Stage, _unpack(row[0]))

    def stored_bytes(self) -> int:
        """Bytes of stage bodies held now."""
        with self._lock:
            (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM stages WHERE body IS NOT NULL").fetchone()
        return int(total)

    # --- saved results --------------------------------------------------------------------

    def save(self, key: str, path: str) -> None:
        """Write the result `key` (every body) as a store file of its own at `path`."""
        if not self.complete(key):
            raise ValueError("the result is not stored whole (its stages were evicted): inspect it again to save it")
        if os.path.exists(path):
            os.remove(path)
        out = StageStore(path)
        with self._lock:
            meta = self._db.execute("SELECT meta, used FROM results WHERE key = ?", (key,)).fetchone()
            rows = self._db.execute("SELECT * FROM stages WHERE key = ? ORDER BY pos", (key,)).fetchall()
        with out._lock:
            out._db.execute("BEGIN")
            out._db.execute("INSERT INTO results VALUES (?, ?, ?)", (key, *meta))
            out._db.executemany("INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            out._db.execute("COMMIT")
        out.close()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def is_store_file(path: str) -> bool:
    """True if `path` is an SQLite file (a saved result), not JSON."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def save_result(result: InspectionResult, path: str) -> None:
    """Save a result (all its stages) as one store file."""
    store = StageStore()
    key = result.request.key()
    store.put(key, result.fetched())
    store.save(key, path)
    store.close()


def open_saved(path: str) -> InspectionResult:
    """Open a saved result file: its index, stages fetched from the file when read."""
    if not is_store_file(path):
        raise ValueError("not a saved result (an SQLite file written by `save_result`)")
    store = StageStore(path)
    keys = store.keys()
    if len(keys) != 1:
        raise ValueError(f"a saved result holds one result; this file holds {len(keys)}")
    result = store.index(keys[0])
    result.__dict__["_store"] = store  # the file stays open while the result is read
    return result


def server_store(budget_mb: float) -> StageStore:
    """Return a store in a fresh file under the temp folder, removed when the process exits."""
    fd, path = tempfile.mkstemp(prefix="jaxpr-explorer-stages-", suffix=".sqlite")
    os.close(fd)
    store = StageStore(path, int(budget_mb * 1024 * 1024) if budget_mb > 0 else None)
    import atexit

    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return store
