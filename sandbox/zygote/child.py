"""The child side of a run: a forked copy of the warm worker turns itself into the program, then runs it.

:func:`become_program` sets up the process (session, working directory, limits, private uid, file
descriptors, ``sys.path``) and :func:`exec_program` runs the code as ``python`` would a script, in the
``__main__`` module the worker made once (:func:`prepare_main`).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import io
import os
import resource
import signal
import sys
import traceback
import types
from dataclasses import dataclass
from typing import Any

from .libc import PR_SET_PDEATHSIG, prctl

PROGRAM_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
}  # fmt: skip
MEMORY_EXIT = 0x7E  # exit code of a program that ended on an uncaught MemoryError
SETUP_FAILED_EXIT = 0x7D  # exit code of a child whose set-up failed (stderr starts "sandbox setup failed")
SESSION_CTL_FD = 3  # in a session child: cells arrive here
SESSION_STATUS_FD = 4  # in a session child: one reply per finished cell goes here


@dataclass(frozen=True)
class ProgramSetup:
    """What every child of one worker gets, made once in the worker."""

    parent: int | None
    """The pid (as the child sees it) of the process the child must die with; None when that is PID 1
    of the child's PID namespace, whose death kills every process in it anyway."""
    uid: int | None
    """The private uid programs run as; None: the worker's own."""
    namespaces: bool
    """Whether the worker is isolated by namespaces; without them, sockets are blocked inside Python."""
    path: list[str]
    """``sys.path`` after the working directory: the interpreter's entries only."""
    streams: tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]
    """sys.stdin, sys.stdout and sys.stderr of programs (see :func:`program_streams`)."""


def prepare_main() -> None:
    """Give this (worker) process the ``__main__`` module and ``sys.argv`` of a fresh program.

    Never used by the worker itself, so each child finds them pristine (its writes are its own copies).
    """
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    sys.argv = ["<code>"]


def program_streams() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    """UTF-8 (errors replaced) text streams over fds 0, 1 and 2, for programs to use as sys.stdin/stdout/stderr.

    Made once in the worker, never used by it: a child rebinds the fds and takes these as they are. They
    are opened while fds 0-2 are pipes, as they are in a program, so that nothing they cache (whether
    the stream is seekable, a tty) is stale there.
    """
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    read_end, write_end = os.pipe()
    try:
        os.dup2(read_end, 0)
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        return (
            open(0, encoding="utf-8", errors="replace", closefd=False),
            open(1, "w", encoding="utf-8", errors="replace", closefd=False),
            open(2, "w", encoding="utf-8", errors="replace", closefd=False),
        )
    finally:
        for fd, old in zip((0, 1, 2), saved, strict=True):
            os.dup2(old, fd)
            os.close(old)
        os.close(read_end)
        os.close(write_end)


def limits(req: dict[str, Any]) -> list[tuple[int, tuple[int, int]]]:
    """The program's resource limits: CPU, memory, file size, open files, processes, no core dumps."""
    cpu = max(1, int(req["timeout"]) + 1)
    cpu_hard = max(cpu + 1, int(req.get("session_cpu_s", 0)))
    mem = int(req["memory_mb"]) * 1024 * 1024
    chosen = [
        (resource.RLIMIT_CPU, (cpu, cpu_hard)),
        (resource.RLIMIT_FSIZE, (int(req["max_file_mb"]) * 1024 * 1024,) * 2),
        (resource.RLIMIT_NOFILE, (256, 256)),
        (resource.RLIMIT_NPROC, (int(req["max_processes"]),) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    if mem > 0:
        chosen.append((resource.RLIMIT_AS, (mem, mem)))
    return chosen


def become_program(
    setup: ProgramSetup,
    rlimits: list[tuple[int, tuple[int, int]]],
    fds: tuple[int, int, int],
    workdir: str,
    ctl: tuple[int, ...],
) -> dict[str, Any]:
    """In a fresh child: set up isolation, ``rlimits`` (see :func:`limits`) and stdio (``fds``: stdin
    read, stdout and stderr write).

    ``ctl`` are a session child's cell and status pipes (moved to SESSION_CTL_FD and SESSION_STATUS_FD).
    Returns the program's global namespace; exits with SETUP_FAILED_EXIT if anything fails. Kept to few
    Python steps: every page of the worker's heap it touches is copied.
    """
    in_r, out_w, err_w = fds
    try:
        os.setsid()
        if setup.uid is not None and not setup.namespaces:
            os.chown(workdir, setup.uid, setup.uid)
        os.chdir(workdir)
        for which, value in rlimits:
            resource.setrlimit(which, value)
        if setup.uid is not None:
            os.setgroups([])
            os.setgid(setup.uid)
            os.setuid(setup.uid)
        if setup.parent is not None:  # set after setuid, which clears it; the parent may already be gone
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != setup.parent:
                os._exit(SETUP_FAILED_EXIT)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in ctl]
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for target, fd in zip((SESSION_CTL_FD, SESSION_STATUS_FD)[: len(high)], high, strict=True):
            os.dup2(fd, target)
        os.closerange(3 + len(ctl), 65536)
        if not setup.namespaces:
            _block_sockets()
            os.environ["HOME"] = os.environ["TMPDIR"] = workdir
        sys.stdin, sys.stdout, sys.stderr = setup.streams
        sys.path = [workdir, *setup.path]
        return sys.modules["__main__"].__dict__
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(err_w, ("sandbox setup failed: " + traceback.format_exc()).encode())
        os._exit(SETUP_FAILED_EXIT)


def exec_program(code: str, namespace: dict[str, Any]) -> int:
    """Execute ``code`` in ``namespace`` as ``python`` would a script; its exit code (MEMORY_EXIT on MemoryError)."""
    exit_code = 0
    try:
        exec(compile(code, "<code>", "exec"), namespace)
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            with contextlib.suppress(BaseException):
                print(exc.code, file=sys.stderr)
    except MemoryError as exc:
        _print_program_traceback(exc)
        exit_code = MEMORY_EXIT
    except BaseException as exc:
        _print_program_traceback(exc)
        exit_code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return exit_code


def _print_program_traceback(exc: BaseException) -> None:
    """Print ``exc`` as Python would for the program alone (the sandbox's own frame left out)."""
    with contextlib.suppress(BaseException):
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)


def _block_sockets() -> None:
    """Weaker network fallback without namespaces: make socket creation fail inside Python."""
    import socket

    def _denied(*_args: object, **_kwargs: object) -> None:
        raise PermissionError("network access is disabled in the sandbox")

    socket.socket = _denied  # type: ignore[assignment,misc]
    socket.create_connection = _denied  # type: ignore[assignment]
    socket.socketpair = _denied  # type: ignore[assignment]
    sys.modules["_socket"].socket = _denied  # type: ignore[attr-defined]
