"""The typed bus API: every message that crosses between josev services (see :mod:`josev.api.base`)."""

from josev.api.base import (
    SCHEMA_VERSION,
    Ack,
    Command,
    CommandError,
    CommandTimeout,
    ErrorReply,
    Event,
    Message,
    Reply,
    ServiceStatus,
    State,
)

__all__ = [
    "SCHEMA_VERSION",
    "Ack",
    "Command",
    "CommandError",
    "CommandTimeout",
    "ErrorReply",
    "Event",
    "Message",
    "Reply",
    "ServiceStatus",
    "State",
]
