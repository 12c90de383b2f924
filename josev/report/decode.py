"""Decode a session's frames (from a pcapng capture or from the V2G log) into :class:`ReportMessage` objects.

The schema of each TCP connection follows its supportedAppProtocol exchange (the namespace the station
accepted), ISO 15118-20 messages are told apart by their V2GTP payload type. ``codec``: an object with
``decode(schema, payload) -> dict`` (:func:`josev.v2g.codec.make_codec` ``("exi")``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from josev.report.model import ReportMessage
from josev.v2g import v2gtp

SCHEMA_OF_NAMESPACE = {
    "urn:din:70121:2012:MsgDef": "din",
    "urn:iso:15118:2:2013:MsgDef": "iso2",
    "urn:iso:15118:2:2010:MsgDef": "iso2",
}
TLS_RECORD_TYPES = (b"\x14", b"\x15", b"\x16", b"\x17")


@dataclass(frozen=True, slots=True)
class Frame:
    """One logged frame: ``kind`` ``tcp`` (a V2GTP frame or raw bytes), ``sdp`` or ``slac``."""

    t: float
    from_ev: bool
    kind: str
    data: bytes
    connection: int = 0


@dataclass
class _Conn:
    schema: str = "sap"
    offered: dict[int, str] = field(default_factory=dict)


def _split(msg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(message name, its element with the V2G header under ``Header``)."""
    if "V2G_Message" in msg:
        v2g = msg["V2G_Message"]
        body = v2g.get("Body") or {}
        name = next(iter(body), "?")
        content = body.get(name)
        out = dict(content) if isinstance(content, Mapping) else {}
        if isinstance(v2g.get("Header"), Mapping):
            out["Header"] = dict(v2g["Header"])
        return str(name), out
    name = next(iter(msg), "?")
    content = msg.get(name)
    return str(name), dict(content) if isinstance(content, Mapping) else {}


def _sdp(data: bytes) -> str:
    if len(data) < 8:
        return "SDP (short)"
    ptype = struct.unpack_from("!H", data, 2)[0]
    return {0x9000: "SECCDiscoveryReq", 0x9001: "SECCDiscoveryRes"}.get(ptype, f"SDP 0x{ptype:04x}")


def decode_frames(frames: Iterable[Frame], codec: Any) -> list[ReportMessage]:
    """The report messages of the frames (broken ones become ``raw`` / ``undecodable`` messages)."""
    out: list[ReportMessage] = []
    conns: dict[int, _Conn] = {}
    for f in frames:
        if f.kind == "slac":
            out.append(ReportMessage(f.t, f.from_ev, "SLAC", "HomePlug AV", size=len(f.data)))
            continue
        if f.kind == "sdp":
            out.append(ReportMessage(f.t, f.from_ev, "SDP", _sdp(f.data), size=len(f.data)))
            continue
        c = conns.setdefault(f.connection, _Conn())
        data = f.data
        if len(data) < 8 or data[:2] != b"\x01\xfe":
            if data[:1] in TLS_RECORD_TYPES and len(data) >= 5 and data[1] == 3:
                out.append(ReportMessage(f.t, f.from_ev, "TLS", f"TLS record ({len(data)} bytes)", {}, f.connection,
                                         len(data)))  # fmt: skip
                continue
            head = data[:8].hex(" ")
            out.append(
                ReportMessage(f.t, f.from_ev, "raw", f"{len(data)} bytes", {}, f.connection, len(data),
                              f"starts with {head}; a V2GTP header starts with 01 fe")
            )  # fmt: skip
            continue
        _version, _inverse, ptype, length = v2gtp.HEADER.unpack_from(data)
        schema = v2gtp.PAYLOAD_SCHEMAS.get(ptype) or (c.schema if ptype == v2gtp.PayloadType.EXI else "")
        if not schema or length != len(data) - 8:
            why = f"payload type 0x{ptype:04x}" if not schema else f"length field {length} != {len(data) - 8}"
            out.append(ReportMessage(f.t, f.from_ev, "raw", f"V2GTP {why}", {}, f.connection, len(data), why))
            continue
        try:
            decoded = codec.decode(schema, data[8:])
        except Exception as e:  # a broken message is reported, not fatal
            out.append(
                ReportMessage(f.t, f.from_ev, "undecodable", f"{schema} payload", {}, f.connection, len(data),
                              str(e)[:200])
            )  # fmt: skip
            continue
        name, body = _split(decoded)
        if schema == "sap":
            _follow_sap(c, name, body)
        out.append(ReportMessage(f.t, f.from_ev, schema, name, body, f.connection, len(data)))
    return out


def _follow_sap(c: _Conn, name: str, body: Mapping[str, Any]) -> None:
    if name == "supportedAppProtocolReq":
        entries = body.get("AppProtocol") or []
        entries = entries if isinstance(entries, list) else [entries]
        c.offered = {
            int(e.get("SchemaID", -1)): str(e.get("ProtocolNamespace", ""))
            for e in entries
            if isinstance(e, Mapping)
        }
        return
    try:
        ns = c.offered.get(int(body.get("SchemaID", -1)), "")
    except (TypeError, ValueError):
        return
    if ns in SCHEMA_OF_NAMESPACE:
        c.schema = SCHEMA_OF_NAMESPACE[ns]
    elif "-20" in ns:
        c.schema = "iso20-cm"


def frames_from_capture(data: bytes) -> list[Frame]:
    """The frames of a pcapng / pcap capture (raises :class:`josev.observability.pcapread.CaptureError`)."""
    from josev.observability.pcapread import read_packets, v2g_frames

    return [
        Frame(f.timestamp, f.from_ev if f.kind != "slac" else False, f.kind, f.data, f.connection)
        for f in v2g_frames(read_packets(data))
    ]


def messages_from_capture(path: Path, codec: Any) -> list[ReportMessage]:
    """Read a capture file and decode its messages."""
    return decode_frames(frames_from_capture(path.read_bytes()), codec)
