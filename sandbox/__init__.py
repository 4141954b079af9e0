"""Code execution sandboxes for tool-integrated reasoning: ``create_sandbox`` and ``ExecResult``."""

from simpletir.sandbox.base import ExecResult, ExecStatus, Sandbox, SandboxError
from simpletir.sandbox.factory import BACKENDS, create_sandbox
from simpletir.sandbox.sync import SyncSandbox, SyncSession

__all__ = [
    "BACKENDS",
    "ExecResult",
    "ExecStatus",
    "Sandbox",
    "SandboxError",
    "SyncSandbox",
    "SyncSession",
    "create_sandbox",
]
