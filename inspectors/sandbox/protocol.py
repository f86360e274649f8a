"""Length-prefixed frames over pipes, read with deadlines and size caps.

Everything that crosses a process boundary is a frame: 4 bytes of big-endian
length, then bytes (JSON encoded as UTF-8 for control messages). Text from user
code is sanitised first, so odd bytes or lone surrogates never break a pipe.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")
MAX_CONTROL_FRAME = 1 << 30


class FrameTimeout(Exception):
    """The deadline passed before a whole frame arrived."""


class FrameTooLarge(Exception):
    """A frame is larger than the reader's cap."""


def encode_json(data: Any) -> bytes:
    """Return `data` as UTF-8 JSON; characters UTF-8 cannot hold become `?`."""
    return json.dumps(data, ensure_ascii=False).encode("utf-8", errors="replace")


def decode_json(blob: bytes) -> Any:
    """Parse UTF-8 JSON, replacing invalid bytes rather than failing on them."""
    return json.loads(blob.decode("utf-8", errors="replace"))


def clean_text(text: str) -> str:
    """Return `text` with anything UTF-8 cannot encode (lone surrogates) replaced."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd`."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_frame(fd: int, payload: bytes) -> None:
    """Write one frame."""
    write_all(fd, HEADER.pack(len(payload)) + payload)


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    """Read exactly `n` bytes; EOFError on a closed pipe, FrameTimeout past `deadline`."""
    chunks = []
    while n > 0:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise FrameTimeout()
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None, cap: int = MAX_CONTROL_FRAME) -> bytes:
    """Read one frame from `fd`."""
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size, deadline))
    if size > cap:
        raise FrameTooLarge(f"frame of {size} bytes exceeds {cap}")
    return read_exact(fd, size, deadline)
