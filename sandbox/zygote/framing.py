"""Message framing between the sandbox and its workers: a 4-byte big-endian length, then a JSON body.

The one definition of the wire format, used by the worker, its extras template and session children
(blocking file descriptors) and by ``simpletir.sandbox.local`` (asyncio streams, through
:data:`HEADER`, :func:`encode` and :func:`decode`).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!I")


def encode(message: dict[str, Any]) -> bytes:
    """One framed message: header and JSON body."""
    body = json.dumps(message).encode()
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    """The message in a JSON body (without its header)."""
    return json.loads(body)


def split(buffer: bytes | bytearray) -> tuple[bytes, int] | None:
    """The first complete message body in ``buffer`` and the bytes it took, or None while incomplete."""
    if len(buffer) < HEADER.size:
        return None
    end = HEADER.size + HEADER.unpack_from(buffer)[0]
    return (bytes(buffer[HEADER.size : end]), end) if len(buffer) >= end else None


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes | None:
    """Read exactly ``n`` bytes from ``fd``; None at EOF, or when ``deadline`` (monotonic) passes first."""
    data = bytearray()
    while len(data) < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_message(fd: int, deadline: float | None = None) -> dict[str, Any] | None:
    """One message from ``fd``; None at EOF or when ``deadline`` passes first."""
    header = read_exact(fd, HEADER.size, deadline)
    body = read_exact(fd, HEADER.unpack(header)[0], deadline) if header else None
    return None if body is None else decode(body)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_message(fd: int, message: dict[str, Any]) -> None:
    """Write one message to ``fd``."""
    write_all(fd, encode(message))


def serve(
    handle: Callable[[dict[str, Any]], dict[str, Any]],
    fd_in: int,
    fd_out: int,
    after_reply: Callable[[], None] | None = None,
) -> None:
    """Answer each message from ``fd_in`` with ``handle(message)`` on ``fd_out``, until EOF.

    ``after_reply`` runs after each reply is written, before the next message is read.
    """
    while (message := read_message(fd_in)) is not None:
        write_message(fd_out, handle(message))
        if after_reply is not None:
            after_reply()
