"""Sans-IO emulator of HomePlug Green PHY modems on a shared powerline, for tests and the demo.

Each *port* is one host interface with its own emulated modem behind it (an EVSE's or an EV's). Frames a host
sends are handled by its modem:

* CM_SET_KEY.REQ and vendor MMEs (of the port's emulated vendor) are answered locally, never forwarded;
  the other vendor's MMEs get no answer (so vendor detection works as with real chips);
* SLAC management messages are carried to every other port whose attenuation to the sender is below
  ``cutoff_db`` (unicast ones only to the port whose host owns the destination MAC);
* each CM_MNBC_SOUND.IND reaching a port is turned into a CM_ATTEN_PROFILE.IND to that port's host, with the
  attenuation of the path (plus a deterministic per-group ripple);
* any other frame (IPv6, ...) is only carried between ports whose modems hold the same NMK and have joined
  (``join_delay`` after the later CM_SET_KEY), like a real AVLN.

:meth:`PlcEmulator.from_host` returns ``(port, frame)`` pairs to deliver; the asyncio shell in
:mod:`josev.sim.modem_shell` moves them over raw sockets (veth pairs), tests can wire cores directly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from josev.slac.errors import FrameError
from josev.slac.events import ModemVendor
from josev.slac.frame import ETH_P_HOMEPLUG, encode_frame, parse_frame
from josev.slac.messages import (
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    Message,
    NscmGetDLinkStatusCnf,
    NscmGetDLinkStatusReq,
    NscmGetVersionCnf,
    NscmGetVersionReq,
    NscmResetDeviceReq,
    VsNwInfoCnf,
    VsNwInfoReq,
    VsOpAttributesCnf,
    VsOpAttributesReq,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
    VsRsDevCnf,
    VsRsDevReq,
    VsSwVerCnf,
    VsSwVerReq,
)
from josev.slac.messages._codec import BROADCAST
from josev.slac.messages.cm_atten_profile import GREEN_PHY_GROUPS
from josev.slac.messages.qualcomm import NwNetwork, NwStation
from josev.slac.modem import QCA_LOCAL_MANAGEMENT_MAC
from josev.slac.nid import nid_from_nmk


@dataclass(slots=True)
class EmulatedModem:
    """The modem behind one port."""

    mac: bytes
    vendor: ModemVendor = ModemVendor.QUALCOMM
    nmk: bytes | None = None
    nid: bytes | None = None
    key_time: float = 0.0
    host_mac: bytes | None = None
    """Learned from the frames the host sends."""
    answer_set_key: bool = True
    """False emulates a modem that never confirms CM_SET_KEY."""
    counters: Counter[str] = field(default_factory=Counter)


class PlcEmulator:
    """Modems on a shared line.

    ``attenuation[(a, b)]`` in dB (symmetric); pairs left out do not hear each other.
    """

    def __init__(
        self,
        modems: dict[str, EmulatedModem],
        attenuation: dict[tuple[str, str], int],
        join_delay: float = 0.05,
        cutoff_db: int = 90,
    ) -> None:
        self.modems = modems
        self.join_delay = join_delay
        self.cutoff_db = cutoff_db
        self._att: dict[tuple[str, str], int] = {}
        for (a, b), db in attenuation.items():
            self._att[(a, b)] = self._att[(b, a)] = db
        self.counters: Counter[str] = Counter()

    def attenuation(self, a: str, b: str) -> int | None:
        """Attenuation between two ports (None: they do not hear each other)."""
        db = self._att.get((a, b))
        return db if db is not None and db < self.cutoff_db else None

    def linked(self, a: str, b: str, now: float) -> bool:
        """The two modems are members of the same AVLN and hear each other."""
        ma, mb = self.modems[a], self.modems[b]
        return (
            ma.nmk is not None
            and ma.nmk == mb.nmk
            and self.attenuation(a, b) is not None
            and now >= max(ma.key_time, mb.key_time) + self.join_delay
        )

    def link_up(self, port: str, now: float) -> bool:
        """The port's modem has joined an AVLN with at least one other modem."""
        return any(self.linked(port, other, now) for other in self.modems if other != port)

    # ------------------------------------------------------------------ data path

    def from_host(self, port: str, raw: bytes, now: float) -> list[tuple[str, bytes]]:
        """A frame the host on ``port`` sent; returns the frames to deliver to hosts."""
        modem = self.modems[port]
        if len(raw) < 14:
            self.counters["runt"] += 1
            return []
        modem.host_mac = raw[6:12]
        if int.from_bytes(raw[12:14], "big") != ETH_P_HOMEPLUG:
            return [(p, raw) for p in self._peers(port) if self.linked(port, p, now) and self._wants(p, raw)]
        try:
            frame = parse_frame(raw)
        except FrameError as exc:
            # Unknown or malformed management messages still travel on the wire (tests inject them).
            self.counters["forwarded_unparsed_" + exc.counter] += 1
            return [(p, raw) for p in self._peers(port) if self._wants(p, raw)]
        msg = frame.message
        local = frame.dst in (modem.mac, QCA_LOCAL_MANAGEMENT_MAC, BROADCAST)
        if isinstance(msg, CmSetKeyReq):
            return self._set_key(port, msg, now) if local else []
        if msg.BASE >= 0xA000:
            return self._vendor(port, msg, now) if local else []
        out: list[tuple[str, bytes]] = []
        for p in self._peers(port):
            if not self._wants(p, raw):
                continue
            if isinstance(msg, CmMnbcSoundInd):
                out.append((p, self._profile(port, p, frame.src, msg)))
            else:
                out.append((p, raw))
        return out

    def _peers(self, port: str) -> list[str]:
        return [p for p in self.modems if p != port and self.attenuation(port, p) is not None]

    def _wants(self, port: str, raw: bytes) -> bool:
        dst = raw[0:6]
        host = self.modems[port].host_mac
        return host is None or dst[0] & 1 == 1 or dst == host

    def _reply(self, port: str, msg: Message) -> list[tuple[str, bytes]]:
        modem = self.modems[port]
        dst = modem.host_mac or BROADCAST
        return [(port, encode_frame(dst, modem.mac, msg))]

    def _set_key(self, port: str, msg: CmSetKeyReq, now: float) -> list[tuple[str, bytes]]:
        modem = self.modems[port]
        modem.counters["set_key"] += 1
        ok = nid_from_nmk(msg.nmk, msg.nid[6] >> 4 & 3) == msg.nid
        if ok:
            modem.nmk, modem.nid, modem.key_time = msg.nmk, msg.nid, now
        if not modem.answer_set_key:
            return []
        return self._reply(port, CmSetKeyCnf(result=0 if ok else 1))

    def _profile(self, src_port: str, port: str, pev_mac: bytes, msg: CmMnbcSoundInd) -> bytes:
        base = self.attenuation(src_port, port) or 0
        aag = tuple(min(255, base + (g * 7 + msg.count) % 5) for g in range(GREEN_PHY_GROUPS))
        return encode_frame(
            self.modems[port].host_mac or BROADCAST,
            self.modems[port].mac,
            CmAttenProfileInd(pev_mac=pev_mac, aag=aag),
        )

    def _vendor(self, port: str, msg: Message, now: float) -> list[tuple[str, bytes]]:
        modem = self.modems[port]
        if modem.vendor is ModemVendor.QUALCOMM:
            if isinstance(msg, VsOpAttributesReq):
                return self._reply(port, VsOpAttributesCnf("QCA7000", "EMULATED", (1, 1, 0, 1), msg.cookie))
            if isinstance(msg, VsSwVerReq):
                return self._reply(port, VsSwVerCnf("MAC-QCA7000-1.1.0.1-emulated"))
            if isinstance(msg, VsPlLnkStatusReq):
                return self._reply(port, VsPlLnkStatusCnf(1 if self.link_up(port, now) else 0))
            if isinstance(msg, VsNwInfoReq):
                return self._reply(port, VsNwInfoCnf(self._networks(port, now)))
            if isinstance(msg, VsRsDevReq):
                modem.nmk = modem.nid = None
                return self._reply(port, VsRsDevCnf(0))
        elif modem.vendor is ModemVendor.LUMISSIL:
            if isinstance(msg, NscmGetVersionReq):
                return self._reply(port, NscmGetVersionCnf((1, 2, 3, 4), msg.request_id))
            if isinstance(msg, NscmGetDLinkStatusReq):
                return self._reply(
                    port, NscmGetDLinkStatusCnf(1 if self.link_up(port, now) else 0, msg.request_id)
                )
            if isinstance(msg, NscmResetDeviceReq):
                modem.nmk = modem.nid = None
                return []
        modem.counters["vendor_ignored"] += 1
        return []

    def _networks(self, port: str, now: float) -> tuple[NwNetwork, ...]:
        modem = self.modems[port]
        if modem.nid is None:
            return ()
        stations = tuple(
            NwStation(self.modems[p].mac, tei=i + 2)
            for i, p in enumerate(p for p in self.modems if p != port and self.linked(port, p, now))
        )
        return (NwNetwork(modem.nid, modem.mac, tei=1, stations=stations),)
