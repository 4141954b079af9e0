"""Entry point of one grader worker process (``python -m simpletir.reward.worker [MEMORY_LIMIT_MB]``).

Protocol: after its imports it writes ``{"ready": true}``; then for each JSON line
``{"given": …, "truth": …}`` on stdin it writes ``{"equal": bool}`` or ``{"error": str}`` on its own
copy of stdout (fd 1 itself is pointed at stderr, so stray prints cannot corrupt the protocol). It
exits when stdin closes, so it never outlives the process that started it.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys


def _limit_memory(limit_mb: int) -> None:
    """Cap this process's address space at ``limit_mb`` MiB (0 = no cap)."""
    if limit_mb > 0:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    """Serve comparison requests on stdin until it closes; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    _limit_memory(int(args[0]) if args else 0)
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    logging.disable(logging.CRITICAL)
    from simpletir.reward.equivalence import symbolic_equal

    symbolic_equal("\\frac{1}{2}", "0.5")
    protocol.write(b'{"ready": true}\n')
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            reply: dict[str, object] = {"equal": symbolic_equal(request["given"], request["truth"])}
        except (Exception, RecursionError, MemoryError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        protocol.write(json.dumps(reply).encode() + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
