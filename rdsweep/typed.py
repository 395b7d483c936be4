"""A type check for config dataclasses built from untrusted mappings (a model file's config): OmegaConf checks
the types of what Hydra composes, but a dataclass constructor does not."""
from __future__ import annotations

import dataclasses
import typing


def _ok(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(kind) in (list, typing.List):
        (item,) = typing.get_args(kind)
        return isinstance(value, (list, tuple)) and all(_ok(v, item) for v in value)
    return isinstance(value, kind) if isinstance(kind, type) else True


def check_fields(obj, group: str) -> None:
    """Raise ValueError unless every field holds its annotated type (int: not a bool or a float); the message
    names the key as ``<group>.<field>``."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        kind = hints[f.name]
        if not _ok(value, kind):
            args = typing.get_args(kind)
            name = f"a list of {args[0].__name__}" if args else getattr(kind, "__name__", str(kind))
            raise ValueError(f"{group}.{f.name} must be {name}, not {value!r}")
