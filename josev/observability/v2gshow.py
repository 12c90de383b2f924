"""``josev v2g show``: the decoded message sequence of a capture (a V2G log export or a PLC capture), with
timings.

One line per message: time since the first frame, time since the request it answers (responses), the
direction, the protocol and the message with its response code, e.g.::

    +0.000s            EV   -> SECC  SDP   SECCDiscoveryReq security=no-TLS transport=TCP
    +0.010s  (10.0 ms) SECC -> EV    SDP   SECCDiscoveryRes [fe80::2]:55118 security=no-TLS
    +0.052s            EV   -> SECC  c1 sap  supportedAppProtocolReq urn:iso:15118:2:2013:MsgDef
    ...

The protocol of each TCP connection is followed from its supportedAppProtocol exchange (the namespace the
SECC accepted); -20 messages are decoded by their V2GTP payload type. TLS streams cannot be decoded without
their keys and show as ``TLS``. Sans-IO apart from :func:`show_file`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from josev.observability.pcapread import V2gFrame, read_packets, v2g_frames
from josev.v2g import v2gtp

SCHEMA_OF_NAMESPACE = {
    "urn:din:70121:2012:MsgDef": "din",
    "urn:iso:15118:2:2013:MsgDef": "iso2",
    "urn:iso:15118:2:2010:MsgDef": "iso2",
}
SID = re.compile(r"SessionID ([0-9A-Fa-f]+)")


@dataclass(frozen=True, slots=True)
class ShownMessage:
    """One decoded message of the sequence."""

    timestamp: float
    from_ev: bool
    kind: str
    """``SDP``, ``SLAC``, ``TLS`` or the schema (``sap``, ``din``, ``iso2``, ``iso20-dc``...)."""
    name: str
    detail: str = ""
    connection: int = 0
    response_time: float | None = None
    session_id: str = ""


@dataclass
class _Conn:
    schema: str = "sap"
    offered: dict[int, str] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)


def _slac_name(cls: str) -> str:
    parts: list[str] = re.findall(r"[A-Z][a-z0-9]*", cls)
    if len(parts) >= 2 and parts[-1] in ("Req", "Cnf", "Ind", "Rsp"):
        return "_".join(p.upper() for p in parts[:-1]) + "." + parts[-1].upper()
    return cls


def _name_of(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if "V2G_Message" in msg:
        body = msg["V2G_Message"].get("Body") or {}
        name = next(iter(body), "?")
        content = body.get(name)
        return name, content if isinstance(content, dict) else {}
    name = next(iter(msg), "?")
    content = msg.get(name)
    return name, content if isinstance(content, dict) else {}


def _sdp(frame: V2gFrame) -> tuple[str, str]:
    data = frame.data
    if len(data) < 8:
        return "SDP?", f"{len(data)} bytes"
    ptype = struct.unpack_from("!H", data, 2)[0]
    payload = data[8:]
    sec = {0x00: "TLS", 0x10: "no-TLS"}
    if ptype == 0x9000 and len(payload) == 2:
        return "SECCDiscoveryReq", f"security={sec.get(payload[0], hex(payload[0]))} transport=TCP"
    if ptype == 0x9001 and len(payload) == 20:
        import ipaddress

        port = struct.unpack_from("!H", payload, 16)[0]
        addr = ipaddress.IPv6Address(payload[:16])
        return "SECCDiscoveryRes", f"[{addr}]:{port} security={sec.get(payload[18], hex(payload[18]))}"
    return f"SDP type 0x{ptype:04x}", f"{len(payload)} bytes"


def decode_sequence(frames: list[V2gFrame], codec: Any) -> list[ShownMessage]:
    """Decode the frames (``codec``: :func:`josev.v2g.codec.make_codec` ``("exi")``)."""
    out: list[ShownMessage] = []
    conns: dict[int, _Conn] = {}
    sdp_sent: float | None = None
    for f in frames:
        sid = m.group(1) if (m := SID.search(f.comment)) else ""
        if f.kind == "slac":
            out.append(ShownMessage(f.timestamp, False, "SLAC", *_slac(f)))
            continue
        if f.kind == "sdp":
            name, detail = _sdp(f)
            rt = None
            if name.endswith("Req"):
                sdp_sent = f.timestamp
            elif sdp_sent is not None:
                rt, sdp_sent = f.timestamp - sdp_sent, None
            out.append(ShownMessage(f.timestamp, f.from_ev, "SDP", name, detail, 0, rt, sid))
            continue
        c = conns.setdefault(f.connection, _Conn())
        data = f.data
        if len(data) < 8 or data[:2] != b"\x01\xfe":
            kind = "TLS" if data[:1] in (b"\x14", b"\x15", b"\x16", b"\x17") else "raw"
            out.append(ShownMessage(f.timestamp, f.from_ev, kind, f"{len(data)} bytes", "", f.connection))
            continue
        ptype = struct.unpack_from("!H", data, 2)[0]
        schema = v2gtp.PAYLOAD_SCHEMAS.get(ptype) or (c.schema if ptype == v2gtp.PayloadType.EXI else "")
        if not schema:
            out.append(
                ShownMessage(f.timestamp, f.from_ev, "V2GTP", f"payload type 0x{ptype:04x}", "", f.connection)
            )
            continue
        try:
            msg = codec.decode(schema, data[8:])
        except Exception as e:  # a broken message is shown, not fatal
            out.append(ShownMessage(f.timestamp, f.from_ev, schema, "undecodable", str(e)[:80], f.connection))
            continue
        name, body = _name_of(msg)
        detail = ""
        if schema == "sap":
            detail = _sap(c, name, body)
        elif isinstance(body.get("ResponseCode"), str):
            detail = body["ResponseCode"]
        if not sid and "V2G_Message" in msg:
            sid = str(msg["V2G_Message"].get("Header", {}).get("SessionID", ""))
        elif not sid and isinstance(body.get("Header"), dict):
            sid = str(body["Header"].get("SessionID", ""))
        rt = None
        if name.endswith("Req"):
            c.pending[name[:-3]] = f.timestamp
        elif name.endswith("Res") and name[:-3] in c.pending:
            rt = f.timestamp - c.pending.pop(name[:-3])
        out.append(ShownMessage(f.timestamp, f.from_ev, schema, name, detail, f.connection, rt, sid))
    return out


def _sap(c: _Conn, name: str, body: dict[str, Any]) -> str:
    if name == "supportedAppProtocolReq":
        entries = body.get("AppProtocol") or []
        entries = entries if isinstance(entries, list) else [entries]
        c.offered = {int(e.get("SchemaID", -1)): str(e.get("ProtocolNamespace", "")) for e in entries}
        return " ".join(c.offered.values())
    code = str(body.get("ResponseCode", ""))
    ns = c.offered.get(int(body.get("SchemaID", -1)), "")
    if ns in SCHEMA_OF_NAMESPACE:
        c.schema = SCHEMA_OF_NAMESPACE[ns]
    elif "-20" in ns:
        c.schema = "iso20-cm"
    return f"{code} {ns}".strip()


def _slac(f: V2gFrame) -> tuple[str, str]:
    from josev.slac.errors import FrameError
    from josev.slac.frame import parse_frame

    try:
        fr = parse_frame(f.data)
    except FrameError as e:
        return "HomePlug AV", str(e)[:60]
    return _slac_name(type(fr.message).__name__), f"{f.src} -> {f.dst}"


def format_sequence(msgs: list[ShownMessage]) -> str:
    """The printable sequence (one line per message, session ids announced when they appear)."""
    if not msgs:
        return "no V2G messages in this capture"
    t0 = msgs[0].timestamp
    lines: list[str] = []
    seen: set[str] = set()
    for m in msgs:
        if m.session_id and m.session_id.strip("0") and m.session_id not in seen:
            seen.add(m.session_id)
            lines.append(f"# SessionID {m.session_id}")
        rt = f"({m.response_time * 1e3:7.1f} ms)" if m.response_time is not None else " " * 12
        who = "PLC         " if m.kind == "SLAC" else "EV   -> SECC" if m.from_ev else "SECC -> EV  "
        conn = f"c{m.connection} " if m.connection else ""
        lines.append(f"+{m.timestamp - t0:9.3f}s {rt} {who}  {conn}{m.kind:<8} {m.name} {m.detail}".rstrip())
    return "\n".join(lines)


def show_file(path: Path, codec: Any) -> str:
    """Read a capture and return its printable message sequence (raises CaptureError, OSError)."""
    return format_sequence(decode_sequence(v2g_frames(read_packets(path.read_bytes())), codec))
