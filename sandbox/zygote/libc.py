"""The C library calls Python has no wrapper for (unshare, mount, pivot_root, prctl), with their constants."""

from __future__ import annotations

import ctypes
import functools
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}.get(
    os.uname().machine
)
# statvfs flags kept when a mount is remounted read-only (a bind remount replaces the per-mount flags)
_KEPT_MOUNT_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, 0x400), (os.ST_NODIRATIME, 0x800), (os.ST_RELATIME, 1 << 21),
)  # fmt: skip


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library of this process."""
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    """Raise OSError (with errno) naming ``what`` when a C call returned -1."""
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what} failed: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    """unshare(2); raises OSError."""
    _check(libc().unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2); raises OSError naming the target."""
    encoded = [s.encode() if s else None for s in (source, target, fstype, data)]
    _check(libc().mount(*encoded[:3], flags, encoded[3]), f"mount {source} on {target}")


def remount_readonly(target: str) -> bool:
    """Make the mount at ``target`` read-only, keeping its other per-mount flags; False if that failed."""
    try:
        kept = os.statvfs(target).f_flag
    except OSError:
        return False
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    for statvfs_flag, mount_flag in _KEPT_MOUNT_FLAGS:
        if kept & statvfs_flag:
            flags |= mount_flag
    return libc().mount(None, target.encode(), None, flags, None) == 0


def umount(target: str) -> None:
    """Detach the mount at ``target`` (lazily, as ``umount -l``); raises OSError."""
    _check(libc().umount2(target.encode(), MNT_DETACH), f"unmount {target}")


def pivot_root_here() -> None:
    """Make the current directory (a mount point) the root of this mount namespace and drop the old root."""
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root: unknown system call number on {os.uname().machine}")
    _check(libc().syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    umount(".")  # the old root, stacked on top of the new one by pivot_root(".", ".")
    os.chdir("/")


def prctl(option: int, value: int) -> bool:
    """prctl(2) with one argument; True on success."""
    return libc().prctl(option, value) == 0
