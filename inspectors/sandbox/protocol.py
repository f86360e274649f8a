"""Length-prefixed frames and control messages, read with deadlines and size caps.

Two channels cross the sandbox's boundary. The control socket between the
server and a zygote carries small JSON messages (and descriptors, by
SCM_RIGHTS): "run a child on these descriptors", "kill it", "it ended so".
Each request's own socket carries frames between the server and the forked
child: 4 bytes of big-endian length, then UTF-8 JSON. The child sends zero or
more partial frames, then one final frame; the zygote never sees them. Text
from user code is sanitised first, so odd bytes or lone surrogates never break
a channel.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")
MAX_CONTROL_FRAME = 1 << 30
CONTROL_MESSAGE_BYTES = 1 << 16  # a control message is a few hundred bytes of JSON
MAX_JSON_DEPTH = 200  # containers inside containers; deeper data from a worker is refused
FINAL_KINDS = ("ok", "job_error")  # a child's last frame
PARTIAL = "partial"  # a child's intermediate frame


class FrameTimeout(Exception):
    """The deadline passed before a whole frame arrived."""


class FrameTooLarge(Exception):
    """A frame is larger than the reader's cap."""


class BadFrame(ValueError):
    """A frame from a worker is not what the protocol allows."""


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


def frame(payload: bytes) -> bytes:
    """Return `payload` as one frame."""
    return HEADER.pack(len(payload)) + payload


def write_frame(fd: int, payload: bytes) -> None:
    """Write one frame."""
    write_all(fd, frame(payload))


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


def send_message(sock: socket.socket, data: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one control message (a SOCK_SEQPACKET datagram), with descriptors if given."""
    socket.send_fds(sock, [encode_json(data)], list(fds or []))


def recv_message(
    sock: socket.socket, deadline: float | None = None, max_fds: int = 0
) -> tuple[dict[str, Any] | None, list[int]]:
    """Receive one control message and its descriptors; (None, []) when the peer closed."""
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            raise FrameTimeout()
    data, fds, _, _ = socket.recv_fds(sock, CONTROL_MESSAGE_BYTES, max(max_fds, 1))
    if len(fds) > max_fds:
        for fd in fds[max_fds:]:
            os.close(fd)
        fds = fds[:max_fds]
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return decode_json(data), fds


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise BadFrame when JSON data nests deeper than `limit` (no recursion: any depth is safe)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise BadFrame(f"the data nests deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def parse_child_frame(blob: bytes) -> tuple[str, dict[str, Any]]:
    """Return (kind, data) of one frame from a child: kind is "partial", "ok" or "job_error"."""
    try:
        message = decode_json(blob)
    except (ValueError, RecursionError) as exc:
        raise BadFrame(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(message, dict) or len(message) != 1:
        raise BadFrame("not a one-key JSON object")
    ((kind, data),) = message.items()
    if kind not in (PARTIAL, *FINAL_KINDS):
        raise BadFrame(f"unknown frame kind {kind[:40]!r}")
    if not isinstance(data, dict):
        raise BadFrame(f"a {kind} frame that is not an object")
    check_depth(data)
    return kind, data
