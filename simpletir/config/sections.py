"""One way to read a ``simpletir.*`` config section into its typed settings object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


def plain(value: Any) -> Any:
    """OmegaConf containers as plain Python (resolved); other values unchanged."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def build_settings(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a config mapping, its defaults filling what is absent.

    An unknown key, a wrong type or a value out of range (pydantic constraints on the fields) raises
    ``ValueError`` with one line naming the key, e.g. ``simpletir.agent.max_turns='abc': …``.
    """
    data = dict(plain(data) or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ValueError(
            "; ".join(
                f"{where}.{'.'.join(map(str, e['loc']))}={e['input']!r}: {e['msg']}" for e in exc.errors()
            )
        ) from None
