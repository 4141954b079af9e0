"""``SyncSandbox``: the blocking wrapper, with sessions, over the real local backend."""

from __future__ import annotations

from simpletir.sandbox import ExecStatus, SyncSandbox


def test_sync_wrapper() -> None:
    with SyncSandbox("local", max_workers=1) as sb:
        assert sb.run("print(sum(range(10)))").stdout == "45\n"
        assert sb.run("raise ValueError('bad')").status is ExecStatus.ERROR
        with sb.session() as session:
            session.run("total = 40")
            assert session.run("print(total + 2)").stdout == "42\n"
