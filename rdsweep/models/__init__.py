"""The models: each module here defines one (config, training graph, coding chain) and registers it."""
import importlib
import pkgutil

from rdsweep.errors import RdsweepError
from rdsweep.models.base import MODELS, CodingModel, ModelSpec, register

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("base", "layers"):
        importlib.import_module(f"{__name__}.{_m.name}")


def get(name: str) -> type[CodingModel]:
    if name not in MODELS:
        raise RdsweepError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


__all__ = ["MODELS", "CodingModel", "ModelSpec", "get", "register"]
