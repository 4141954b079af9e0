"""``create_sandbox``: build a sandbox backend by name, importing only the backend asked for."""

from __future__ import annotations

import importlib
from typing import Any

from simpletir.sandbox.base import Sandbox, SandboxError

BACKENDS: dict[str, str] = {
    "local": "simpletir.sandbox.local:LocalSandbox",
    "http": "simpletir.sandbox.http_client:HttpSandbox",
    "sandbox_fusion": "simpletir.sandbox.fusion:SandboxFusionSandbox",
    "ray": "simpletir.sandbox.ray_backend:RaySandbox",
}


def create_sandbox(backend: str = "local", **options: Any) -> Sandbox:
    """Return a new sandbox of ``backend`` configured by ``options``; raises ``SandboxError`` if unknown."""
    try:
        target = BACKENDS[backend]
    except KeyError:
        raise SandboxError(f"unknown sandbox backend {backend!r}; choose one of {sorted(BACKENDS)}") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)
