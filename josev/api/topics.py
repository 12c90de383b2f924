"""The bus topic scheme: the one place that knows how topics are spelled.

Topics (``v1`` is the bus schema version, bumped on incompatible changes)::

    josev/v1/<service>/status                         retained ServiceStatus (liveness, last will)
    josev/v1/<service>/<scope>/state/<name>           retained state, last value wins
    josev/v1/<service>/<scope>/event/<name>           events
    josev/v1/<service>/<scope>/cmd/<name>             commands addressed to <service>
    josev/v1/<caller>/reply/<client>/<responder>      replies of <responder> to commands issued by <caller>

``<scope>`` is ``station`` for station-wide messages or ``evse<N>`` (N >= 1) for per-EVSE ones.

The broker's ACL lets a service write only topics that name it in the ``<service>`` level, and reply topics
that name it in the ``<responder>`` level: a reply is known to come from the service it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PREFIX = "josev"
VERSION = "v1"
ROOT = f"{PREFIX}/{VERSION}"
STATION_SCOPE = "station"

Kind = Literal["state", "event", "cmd"]
KINDS: tuple[Kind, ...] = ("state", "event", "cmd")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_name(name: str, what: str = "name") -> str:
    """Raise ValueError unless ``name`` is a valid topic level (lower snake case)."""
    if not _NAME.match(name):
        raise ValueError(f"invalid {what} {name!r}: must match {_NAME.pattern}")
    return name


def scope(evse: int | None) -> str:
    """The scope level for an EVSE id, or the station scope for None."""
    if evse is None:
        return STATION_SCOPE
    if evse < 1:
        raise ValueError(f"EVSE ids start at 1, got {evse}")
    return f"evse{evse}"


def message_topic(service: str, kind: Kind, name: str, evse: int | None) -> str:
    """Topic of a state, event or command message."""
    return f"{ROOT}/{service}/{scope(evse)}/{kind}/{name}"


def message_filter(service: str, kind: Kind, name: str, evse: int | Literal["+"] | None = "+") -> str:
    """Subscription filter for one message type, for one EVSE, the station scope, or every scope (``+``)."""
    level = "+" if evse == "+" else scope(evse)
    return f"{ROOT}/{service}/{level}/{kind}/{name}"


def status_topic(service: str) -> str:
    """Retained liveness topic of a service."""
    return f"{ROOT}/{service}/status"


def reply_topic(caller: str, client: str, responder: str) -> str:
    """Topic a caller receives ``responder``'s replies on (only ``responder`` may write it)."""
    return f"{ROOT}/{caller}/reply/{client}/{responder}"


def reply_filter(caller: str, client: str) -> str:
    """Subscription filter for every reply to one client."""
    return f"{ROOT}/{caller}/reply/{client}/+"


ALL = f"{ROOT}/#"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic taken apart. ``kind`` is one of state/event/cmd/status/reply (for a reply, ``name`` is the
    caller's client and ``responder`` the answering service)."""

    service: str
    kind: str
    name: str | None
    evse: int | None
    responder: str | None = None


def parse(topic: str) -> ParsedTopic | None:
    """Split a josev topic into its parts; None if it is not a josev v1 topic."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != PREFIX or parts[1] != VERSION:
        return None
    service = parts[2]
    if len(parts) == 4 and parts[3] == "status":
        return ParsedTopic(service, "status", None, None)
    if len(parts) == 6 and parts[3] == "reply":
        return ParsedTopic(service, "reply", parts[4], None, parts[5])
    if len(parts) != 6 or parts[4] not in KINDS:
        return None
    level = parts[3]
    evse: int | None
    if level == STATION_SCOPE:
        evse = None
    elif level.startswith("evse") and level[4:].isdigit():
        evse = int(level[4:])
    else:
        return None
    return ParsedTopic(service, parts[4], parts[5], evse)
