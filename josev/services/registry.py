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


STOP_ORDER: tuple[tuple[str, ...], ...] = (("secc", "slac"), ("coordinator",), ("ocpp",), ("hal", "system"))
"""The order services stop in (each stage after the previous one has finished): the EV side first; the
coordinator ends its sessions (contactors open through the HAL, final readings) while OCPP still records
what it says; OCPP flushes and closes its database; the HAL leaves every channel in the safe state last."""


def stop_stage(name: str) -> int:
    """The stop stage of service ``name`` (see :data:`STOP_ORDER`)."""
    for i, names in enumerate(STOP_ORDER):
        if name in names:
            return i
    return len(STOP_ORDER)


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
