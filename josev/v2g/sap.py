"""supportedAppProtocol negotiation (ISO 15118-2 clause 8.2 / DIN SPEC 70121 clause 9.1).

The EV lists the protocols it speaks with a priority (1 = preferred). The SECC picks the EV's most preferred
entry among the namespaces it supports and enables, ignoring unknown ones (real cars offer vendor namespaces
such as ``urn:tesla:din:2018:MsgDef``). A matching major version with a different minor version is accepted
with ``OK_SuccessfulNegotiationWithMinorDeviation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AppProtocol(StrEnum):
    """The protocols the SECC can run; value = the schema name used by the codec."""

    DIN = "din"
    ISO2 = "iso2"
    ISO20 = "iso20"  # seam for issue 7; not negotiated unless enabled


@dataclass(frozen=True, slots=True)
class Namespace:
    """A namespace the SECC supports."""

    uri: str
    major: int
    minor: int
    protocol: AppProtocol


SUPPORTED: tuple[Namespace, ...] = (
    Namespace("urn:iso:15118:2:2013:MsgDef", 2, 0, AppProtocol.ISO2),
    Namespace("urn:din:70121:2012:MsgDef", 2, 0, AppProtocol.DIN),
)

OK = "OK_SuccessfulNegotiation"
OK_MINOR = "OK_SuccessfulNegotiationWithMinorDeviation"
FAILED = "Failed_NoNegotiation"


class SapError(ValueError):
    """The request is not a well-formed supportedAppProtocolReq."""


@dataclass(frozen=True, slots=True)
class Negotiation:
    """Outcome: the response dict and, when successful, the chosen protocol."""

    response: dict[str, Any]
    protocol: AppProtocol | None
    schema_id: int | None


def _entries(req: dict[str, Any]) -> list[dict[str, Any]]:
    body = req.get("supportedAppProtocolReq")
    if not isinstance(body, dict):
        raise SapError("not a supportedAppProtocolReq")
    entries = body.get("AppProtocol")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not 1 <= len(entries) <= 20:
        raise SapError("AppProtocol must be a list of 1..20 entries")
    for e in entries:
        if not isinstance(e, dict):
            raise SapError("AppProtocol entry is not an object")
        for key, typ in (
            ("ProtocolNamespace", str),
            ("VersionNumberMajor", int),
            ("VersionNumberMinor", int),
            ("SchemaID", int),
            ("Priority", int),
        ):
            if not isinstance(e.get(key), typ) or isinstance(e.get(key), bool):
                raise SapError(f"AppProtocol entry lacks a valid {key}")
    return entries


def negotiate(
    req: dict[str, Any],
    enabled: tuple[AppProtocol, ...] = (AppProtocol.ISO2, AppProtocol.DIN),
    supported: tuple[Namespace, ...] = SUPPORTED,
) -> Negotiation:
    """Choose a protocol for a decoded supportedAppProtocolReq (raises :class:`SapError` if malformed)."""
    entries = sorted(_entries(req), key=lambda e: e["Priority"])
    for e in entries:
        for ns in supported:
            if ns.protocol not in enabled or ns.uri != e["ProtocolNamespace"]:
                continue
            if e["VersionNumberMajor"] != ns.major:
                continue
            code = OK if e["VersionNumberMinor"] == ns.minor else OK_MINOR
            sid = int(e["SchemaID"])
            return Negotiation(
                {"supportedAppProtocolRes": {"ResponseCode": code, "SchemaID": sid}}, ns.protocol, sid
            )
    return Negotiation({"supportedAppProtocolRes": {"ResponseCode": FAILED}}, None, None)
