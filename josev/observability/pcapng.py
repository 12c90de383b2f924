"""pcapng writing (the PCAP Next Generation capture format, IETF draft-ietf-opsawg-pcapng), sans-IO.

A file is a Section Header Block, one Interface Description Block per interface (here LINKTYPE_ETHERNET,
microsecond timestamps) and one Enhanced Packet Block per packet. Every block is built as bytes; the caller
writes them wherever it wants (:func:`write_file` does it for a list of packets).

:func:`v2g_capture` is the V2G log export: it rebuilds V2GTP messages as the Ethernet/IPv6/TCP (and UDP for
SDP) packets that carried them - handshake, data segments split at the MSS, the peer's ACKs, FIN exchange -
with consistent sequence/acknowledgement numbers and checksums, so Wireshark follows the TCP stream and a V2G
dissector decodes the messages.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from josev.observability.packets import Endpoint, mac_bytes, multicast_mac, udp_frame
from josev.observability.tcpflow import TcpConversation

BYTE_ORDER_MAGIC = 0x1A2B3C4D
SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
LINKTYPE_ETHERNET = 1
SNAPLEN = 0x40000

# option codes
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_USERAPPL = 4
IF_NAME = 2
IF_TSRESOL = 9
EPB_FLAGS = 2

INBOUND = 1
"""epb_flags direction: received (EV -> SECC, seen from the SECC)."""
OUTBOUND = 2
"""epb_flags direction: sent (SECC -> EV)."""


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _options(opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    return b"".join(_option(c, v) for c, v in opts) + struct.pack("<HH", OPT_ENDOFOPT, 0)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def section_header(application: str = "josev") -> bytes:
    """A Section Header Block (little endian, version 1.0, section length unknown)."""
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    return _block(SHB_TYPE, body + _options([(SHB_USERAPPL, application.encode())]))


def interface_description(name: str = "", linktype: int = LINKTYPE_ETHERNET, snaplen: int = SNAPLEN) -> bytes:
    """An Interface Description Block with microsecond timestamps (``if_tsresol`` = 6)."""
    opts = [(IF_TSRESOL, bytes([6]))]
    if name:
        opts.insert(0, (IF_NAME, name.encode()))
    body = struct.pack("<HHI", linktype, 0, snaplen)
    return _block(IDB_TYPE, body + _options(opts))


def enhanced_packet(
    data: bytes, timestamp: float, *, interface: int = 0, direction: int | None = None, comment: str = ""
) -> bytes:
    """An Enhanced Packet Block for ``data`` captured at ``timestamp`` (seconds since the epoch)."""
    micros = round(timestamp * 1_000_000)
    if micros < 0:
        raise ValueError(f"negative timestamp {timestamp}")
    body = struct.pack("<IIIII", interface, micros >> 32, micros & 0xFFFFFFFF, len(data), len(data))
    opts: list[tuple[int, bytes]] = []
    if comment:
        opts.append((OPT_COMMENT, comment.encode()))
    if direction is not None:
        opts.append((EPB_FLAGS, struct.pack("<I", direction & 0x3)))
    return _block(EPB_TYPE, body + _pad4(data) + _options(opts))


@dataclass(frozen=True, slots=True)
class Packet:
    """A link-layer frame with its capture time and optional direction / comment."""

    timestamp: float
    data: bytes
    direction: int | None = None
    comment: str = ""


def capture_bytes(packets: Iterable[Packet], interface_name: str = "", application: str = "josev") -> bytes:
    """A whole pcapng file (one section, one Ethernet interface) as bytes."""
    out = [section_header(application), interface_description(interface_name)]
    out.extend(
        enhanced_packet(p.data, p.timestamp, direction=p.direction, comment=p.comment) for p in packets
    )
    return b"".join(out)


def write_file(path: Path, packets: Iterable[Packet], interface_name: str = "", mode: int = 0o600) -> Path:
    """Write ``packets`` as a pcapng file (atomically: a temporary file renamed into place), readable by its
    owner only by default (V2G logs may hold decrypted TLS traffic)."""
    data = capture_bytes(packets, interface_name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask; an old tmp file keeps its own
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    tmp.replace(path)
    return path


@dataclass(frozen=True, slots=True)
class V2gMessage:
    """One V2GTP message as logged: ``from_ev`` gives the direction; ``udp`` marks SDP datagrams."""

    timestamp: float
    from_ev: bool
    data: bytes
    udp: bool = False
    comment: str = ""
    link: bool = False
    """``data`` is a whole Ethernet frame as captured (SLAC on the PLC interface): written as it is."""


SDP_PORT = 15118
SDP_MULTICAST = "ff02::1"


def v2g_capture(
    messages: Iterable[V2gMessage],
    ev: Endpoint,
    secc: Endpoint,
    *,
    close: bool = True,
    ev_sdp_port: int | None = None,
) -> list[Packet]:
    """Rebuild the packets of one V2G session: SDP (UDP) and one TCP connection carrying the V2GTP stream.

    ``ev`` / ``secc`` give MAC, IPv6 address and TCP port of each side. SDP requests go from ``ev``'s address
    (UDP source port ``ev_sdp_port``, default ``ev.port``) to ``ff02::1`` port 15118, responses come back from the SECC's port 15118.
    Every packet is marked inbound (sent by the EV) or outbound (sent by the SECC), as the SECC sees it.
    ``close``: end the TCP connection with a FIN exchange after the last message.
    """
    conv = TcpConversation(ev, secc)
    multicast = Endpoint(multicast_mac(SDP_MULTICAST), SDP_MULTICAST, SDP_PORT)
    sdp_secc = Endpoint(secc.mac, secc.ip, SDP_PORT)
    sdp_ev = Endpoint(ev.mac, ev.ip, ev.port if ev_sdp_port is None else ev_sdp_port)
    ev_mac = mac_bytes(ev.mac)
    out: list[Packet] = []
    last = 0.0

    def add(timestamp: float, frames: list[bytes], comment: str) -> None:
        for i, frame in enumerate(frames):
            direction = INBOUND if frame[6:12] == ev_mac else OUTBOUND
            out.append(Packet(timestamp, frame, direction, comment if i == 0 else ""))

    for msg in messages:
        last = max(last, msg.timestamp)  # time never goes back within a session (clock steps are clamped)
        if msg.link:
            if len(msg.data) >= 14:
                out.append(Packet(last, msg.data, INBOUND if msg.from_ev else OUTBOUND, msg.comment))
        elif msg.udp:
            frame = (
                udp_frame(sdp_ev, multicast, msg.data)
                if msg.from_ev
                else udp_frame(sdp_secc, sdp_ev, msg.data)
            )
            add(last, [frame], msg.comment)
        else:
            add(last, conv.send(msg.from_ev, msg.data), msg.comment)
    if close:
        add(last, conv.close(), "")
    return out
