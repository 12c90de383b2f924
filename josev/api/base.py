"""Base classes of the typed bus API.

Every message that crosses between services is a subclass of one of:

* :class:`State` - retained, last value wins (e.g. the CP state of an EVSE);
* :class:`Event` - something happened (e.g. an RFID card was presented);
* :class:`Command` - a request to one service, answered by exactly one :class:`Reply` (or an error).

A concrete message declares the service that owns it (``service``), its name (``name``, lower snake case,
used in the topic) and whether it is per EVSE (``per_evse``). Commands also declare which services may issue
them (``callers``); the generated broker ACL enforces that. Concrete classes register themselves, so the bus
can decode any topic into its model, and ``josev api asyncapi`` can document all of them.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from josev.api import topics

SCHEMA_VERSION = 1
"""Version of the message schemas; carried in every MQTT message as the user property ``schema``."""

TOOLS = frozenset({"cli", "bench"})
"""The operator's CLI and the benchmarks: they may issue every command."""

VIEWERS = frozenset({"web"})
"""Read-only tools (the live view of ``josev station --web``): they read the bus and are granted no command
(no ``callers`` names them; tests/bus/test_least_privilege.py checks their code sends none)."""


def callers(*services: str) -> frozenset[str]:
    """The ``callers`` of a command: the services whose code really issues it, plus the tools.

    Grant only what a service's code calls: ``tests/bus/test_least_privilege.py`` scans every service's code for
    the commands it builds and fails on a call that is not granted and on a grant that is never used."""
    return TOOLS | frozenset(services)


class Message(BaseModel):
    """Base of every bus message."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    service: ClassVar[str]
    name: ClassVar[str]
    kind: ClassVar[topics.Kind]
    per_evse: ClassVar[bool] = False
    qos: ClassVar[int] = 1
    """MQTT QoS its publisher uses (0 only for best-effort streams such as the live view's messages)."""

    @classmethod
    def topic(cls, evse: int | None = None) -> str:
        """The topic this message is published on for ``evse`` (None: station scope)."""
        cls._check_scope(evse)
        return topics.message_topic(cls.service, cls.kind, cls.name, evse)

    @classmethod
    def topic_filter(cls, evse: int | Literal["+"] | None = "+") -> str:
        """Subscription filter for this message (default: every scope)."""
        return topics.message_filter(cls.service, cls.kind, cls.name, evse)

    @classmethod
    def _check_scope(cls, evse: int | None) -> None:
        if cls.per_evse and evse is None:
            raise ValueError(f"{cls.__name__} is per EVSE: an evse id is required")
        if not cls.per_evse and evse is not None:
            raise ValueError(f"{cls.__name__} is station-wide: no evse id allowed")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not cls.__pydantic_generic_metadata__["origin"]:
            _register(cls)


class State(Message):
    """A retained state message: subscribers get the last value at once."""

    kind: ClassVar[topics.Kind] = "state"


class Event(Message):
    """A non-retained event."""

    kind: ClassVar[topics.Kind] = "event"


class Reply(BaseModel):
    """Base of command replies."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Ack(Reply):
    """A reply that carries nothing but success."""


R = TypeVar("R", bound=Reply)


class Command(Message, Generic[R]):
    """A command addressed to ``service``; subclass as ``class X(Command[XReply])``."""

    kind: ClassVar[topics.Kind] = "cmd"
    callers: ClassVar[frozenset[str]] = frozenset()
    """Services allowed to issue this command (enforced by the broker ACL)."""
    grantable: ClassVar[bool] = True
    """Whether ``josev broker add-service --call`` may grant it to an integrator's service; False for the
    commands that move the contactor, the pilot, the lock or the power electronics."""
    reply: ClassVar[type[Reply]]
    timeout_s: ClassVar[float] = 2.0
    """Default time the caller waits for the reply."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        for base in cls.__mro__:
            meta = getattr(base, "__pydantic_generic_metadata__", None)
            if meta and meta["origin"] is Command and meta["args"]:
                cls.reply = meta["args"][0]
                break
        super().__pydantic_init_subclass__(**kwargs)


ErrorCode = Literal[
    "invalid_request",
    "rejected",
    "unavailable",
    "internal",
    "timeout",
    "unknown_command",
    "invalid_scope",
    "unsupported_schema",
    "forbidden",
]
"""``invalid_request``: the payload is empty, undecodable or invalid; ``unknown_command``: the service has no
such command; ``invalid_scope``: station-wide vs per-EVSE mismatch, or an EVSE the service does not serve;
``unsupported_schema``: the ``schema`` user property names another schema version; ``forbidden``: the broker
refused to deliver the command (the caller is not granted it); ``timeout``: no reply in time (raised by the
caller). Commands dropped by a service's rate limit are not answered (answering a flood would amplify it)."""


class ErrorReply(BaseModel):
    """The reply a service sends when it cannot carry out a command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: ErrorCode
    """Machine-readable reason."""
    message: str
    """Human-readable explanation."""


class CommandError(Exception):
    """Raised by a command handler to refuse it, and by ``Bus.request`` when the reply is an error."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message


class CommandTimeout(CommandError):
    """No reply arrived in time."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


ServiceState = Literal["starting", "ready", "degraded", "stopped"]


class BusCounters(BaseModel):
    """What a service's bus client dropped (published in its :class:`ServiceStatus`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    received: int = 0
    """Messages received."""
    invalid: int = 0
    """Undecodable or invalid payloads (dropped)."""
    oversize: int = 0
    """Payloads larger than the service's ``max_payload`` (dropped unread)."""
    rate_limited: int = 0
    """Messages over the per-publisher rate limit (dropped)."""
    forged_replies: int = 0
    """Replies that came from another service than the one asked (dropped)."""
    commands_refused: int = 0
    """Commands answered with an error before reaching a handler (unknown, wrong scope, schema, invalid)."""
    taken_over: int = 0
    """Times another connection took this service's session over."""

    @property
    def bad(self) -> int:
        """Every dropped message."""
        return self.invalid + self.oversize + self.rate_limited + self.forged_replies + self.commands_refused


class ServiceStatus(BaseModel):
    """Retained liveness of a service on ``josev/v1/<service>/status``; the broker publishes
    ``stopped`` (the MQTT last will) when the service's connection dies."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    service: str
    """Service name."""
    state: ServiceState
    """Lifecycle state."""
    detail: str = ""
    """Why the service is in this state (e.g. the reason it is degraded)."""
    since: _dt.datetime = Field(default_factory=lambda: _dt.datetime.now(_dt.UTC))
    """When the state was entered (UTC)."""
    pid: int | None = None
    """Process id, when known."""
    version: str = ""
    """josev version of the service."""
    bus: BusCounters | None = None
    """What the service's bus client dropped so far (refreshed every few seconds while it changes)."""


REGISTRY: dict[tuple[str, str, str], type[Message]] = {}
"""Every concrete message class, by (service, kind, name)."""


def _register(cls: type[Message]) -> None:
    topics.check_name(cls.service, "service")
    topics.check_name(cls.name, "message name")
    key = (cls.service, cls.kind, cls.name)
    old = REGISTRY.get(key)
    if old is not None and old.__qualname__ != cls.__qualname__:
        raise TypeError(f"{cls.__qualname__}: {key} is already taken by {old.__qualname__}")
    REGISTRY[key] = cls


def lookup(service: str, kind: str, name: str) -> type[Message] | None:
    """The registered message class for a topic's parts, if any."""
    return REGISTRY.get((service, kind, name))


def all_messages() -> list[type[Message]]:
    """Every registered message class, sorted by topic."""
    load_all()
    return sorted(REGISTRY.values(), key=lambda c: (c.service, c.kind, c.name))


API_MODULES = ("system", "hal", "coordinator", "slac", "secc", "ocpp", "iso15118", "display")
"""Modules of ``josev.api`` that define messages; imported by :func:`load_all`."""


def load_all() -> None:
    """Import every message module so the registry is complete."""
    import importlib

    for mod in API_MODULES:
        try:
            importlib.import_module(f"josev.api.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"josev.api.{mod}":
                raise
