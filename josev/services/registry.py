"""Which code implements each service: name -> factory(config) -> Service, imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from josev.bus.service import Service
from josev.config import JosevConfig

Factory = Callable[[JosevConfig], Service]

FACTORIES: dict[str, str] = {
    "system": "josev.services.system:from_config",
    "hal": "josev.halsvc.service:from_config",
    "coordinator": "josev.coordinator.service:from_config",
    "slac": "josev.slac.service:from_config",
    "secc": "josev.secc.service:from_config",
    "ocpp": "josev.ocpp.service:from_config",
}
"""``module:function`` of each service's factory."""


class UnknownService(LookupError):
    """No such service, or its implementation is not installed."""


def factory(name: str) -> Factory:
    """The factory of service ``name``."""
    try:
        target = FACTORIES[name]
    except KeyError:
        raise UnknownService(f"unknown service {name!r}; known: {sorted(FACTORIES)}") from None
    module, _, func = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise UnknownService(f"service {name!r} is not available: {exc}") from exc
    if not hasattr(mod, func):
        raise UnknownService(f"service {name!r}: {module} has no {func}()")
    return cast(Factory, getattr(mod, func))


def build(name: str, cfg: JosevConfig) -> Service:
    """Create service ``name`` from the configuration."""
    return factory(name)(cfg)
