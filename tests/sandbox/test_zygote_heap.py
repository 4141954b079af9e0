"""The worker's heap preparation: after plugging, glibc has no free chunk left outside the heap's top."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes
from simpletir.sandbox.zygote.heap import MallInfo2, plug_heap_holes
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
holes = [bytearray(200) for _ in range(20000)]  # make free chunks all over the heap
del holes[::2]
before = libc.mallinfo2()
taken = plug_heap_holes()
after = libc.mallinfo2()
print(before.fordblks - before.keepcost, taken, after.fordblks - after.keepcost, after.fsmblks)
"""


@pytest.mark.skipif(
    not hasattr(os, "confstr") or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""),
    reason="glibc only",
)
def test_plugging_takes_every_free_chunk() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONMALLOC": "malloc"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout
    free_before, taken, free_after, _ = map(int, out.split())
    assert free_before > 1_000_000  # the probe did fragment the heap
    assert taken >= free_before
    assert free_after < 4096  # what the interpreter itself freed since (returning, reading the stats)
