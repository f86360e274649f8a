"""Attack (issue 9, item 1): look for an earlier request's secret in this process: frames, objects, raw memory."""

import ctypes
import gc
import sys

# Two needles built the same way, each held once as bytes and once as text. The earlier
# user's secret (...4711) would show up as extra copies of the first one only.
needles = {name: ("JXE" + "SECRET_").encode() + name.encode() for name in ("4711", "0815")}
texts = {name: needle.decode() for name, needle in needles.items()}


def in_frames(text):
    frame, hits = sys._getframe(), 0
    while frame is not None:
        hits += sum(isinstance(v, str) and text in v and v is not text for v in frame.f_locals.values())
        frame = frame.f_back
    return hits


def in_heap(text):
    """Strings held by any object the garbage collector knows (strings themselves are untracked)."""
    return sum(
        1
        for o in gc.get_objects()
        for r in gc.get_referents(o)
        if isinstance(r, str) and text in r and r is not text
    )


def in_memory():
    """Count the needles in every anonymous mapping and the heap, read in place (no /proc/self/mem needed)."""
    counts = dict.fromkeys(needles, 0)
    # Each copy read below is freed before the next: without this, malloc may serve a copy from the heap and
    # then trim the heap, so a later read of the `[heap]` line (listed before the trim) would fault. A fixed
    # mmap threshold keeps every large copy in a mapping of its own; no trimming keeps the heap as listed.
    libc = ctypes.CDLL(None)
    libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (a fixed one: no dynamic raise after a free)
    libc.mallopt(-1, -1)  # M_TRIM_THRESHOLD: never give heap back
    with open("/proc/self/maps") as maps:
        lines = maps.read().splitlines()
    for line in lines:
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        anonymous = len(parts) < 6 or parts[5] in ("[heap]", "[stack]")
        if "r" not in parts[1] or not anonymous:
            continue
        data = ctypes.string_at(lo, hi - lo)
        for name, needle in needles.items():
            counts[name] += data.count(needle)
    return counts


found = {name: (in_frames(text), in_heap(text)) for name, text in texts.items()}
raise RuntimeError(f"frames/heap={found} memory={in_memory()}")
