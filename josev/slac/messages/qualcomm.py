"""Qualcomm Atheros (QCA700x) vendor-specific MMEs, OUI 00:B0:52, framed HomePlug AV 1.0 (no FMI).

Layouts follow the public QCA host-interface descriptions (as documented by open-plc-utils): every MMENTRY
starts with the OUI. Only the fields the SLAC stack needs are decoded; the rest is kept raw or ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Self

from josev.slac.messages._codec import MAC_LEN, NID_LEN, Reader, expect_oui
from josev.slac.messages.base import MMV_AV_1_0, QUALCOMM_OUI, Message, MMType, Mode

LINK_UP = 0x01


class _Qca(Message):
    MMV = MMV_AV_1_0


@dataclass(frozen=True, slots=True)
class VsSwVerReq(_Qca):
    """Ask the modem for its firmware version string."""

    BASE = MMType.VS_SW_VER
    MODE = Mode.REQ

    cookie: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI + struct.pack("<I", self.cookie)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse (the cookie is optional: old firmware sends only the OUI)."""
        r = Reader(data, "VS_SW_VER.REQ")
        expect_oui(r, QUALCOMM_OUI, "VS_SW_VER.REQ")
        return cls(r.u32le("Cookie") if r.remaining >= 4 else 0)


@dataclass(frozen=True, slots=True)
class VsSwVerCnf(_Qca):
    """Firmware version string of the modem."""

    BASE = MMType.VS_SW_VER
    MODE = Mode.CNF

    version: str
    status: int = 0
    device_id: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        raw = self.version.encode("latin-1", "replace")[:253] + b"\x00"
        return QUALCOMM_OUI + bytes([self.status, self.device_id, len(raw)]) + raw + b"\x00" + bytes(4)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_SW_VER.CNF")
        expect_oui(r, QUALCOMM_OUI, "VS_SW_VER.CNF")
        status = r.u8("MSTATUS")
        device = r.u8("MDEVICEID")
        n = r.u8("MVERLENGTH")
        ver = r.take(n, "MVERSION").split(b"\x00", 1)[0].decode("latin-1")
        return cls(ver, status, device)


@dataclass(frozen=True, slots=True)
class VsRsDevReq(_Qca):
    """Reset the modem."""

    BASE = MMType.VS_RS_DEV
    MODE = Mode.REQ

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_RS_DEV.REQ")
        expect_oui(r, QUALCOMM_OUI, "VS_RS_DEV.REQ")
        return cls()


@dataclass(frozen=True, slots=True)
class VsRsDevCnf(_Qca):
    """Reset acknowledged (status 0)."""

    BASE = MMType.VS_RS_DEV
    MODE = Mode.CNF

    status: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI + bytes([self.status])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_RS_DEV.CNF")
        expect_oui(r, QUALCOMM_OUI, "VS_RS_DEV.CNF")
        return cls(r.u8("MSTATUS"))


@dataclass(frozen=True, slots=True)
class VsOpAttributesReq(_Qca):
    """Ask for the operational attributes (binary report)."""

    BASE = MMType.VS_OP_ATTRIBUTES
    MODE = Mode.REQ

    cookie: int = 0x12345
    report_type: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI + struct.pack("<IB", self.cookie, self.report_type)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_OP_ATTRIBUTES.REQ")
        expect_oui(r, QUALCOMM_OUI, "VS_OP_ATTRIBUTES.REQ")
        return cls(r.u32le("Cookie"), r.u8("ReportType"))


@dataclass(frozen=True, slots=True)
class VsOpAttributesCnf(_Qca):
    """Operational attributes: hardware / software platform and firmware version."""

    BASE = MMType.VS_OP_ATTRIBUTES
    MODE = Mode.CNF

    hw_platform: str
    sw_platform: str
    version: tuple[int, int, int, int]
    cookie: int = 0x12345
    status: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes (the 118-byte binary report)."""
        body = (
            self.hw_platform.encode("latin-1", "replace")[:16].ljust(16, b"\x00")
            + self.sw_platform.encode("latin-1", "replace")[:16].ljust(16, b"\x00")
            + struct.pack("<IIIII", *self.version, 0)
            + bytes(8 + 12 + 1 + 1 + 1 + 4 + 1)
        )
        body = body.ljust(118, b"\x00")
        return QUALCOMM_OUI + struct.pack("<HIBH", self.status, self.cookie, 0, len(body)) + body

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_OP_ATTRIBUTES.CNF")
        expect_oui(r, QUALCOMM_OUI, "VS_OP_ATTRIBUTES.CNF")
        status = r.u16le("MSTATUS")
        cookie = r.u32le("Cookie")
        r.u8("ReportType")
        r.u16le("Size")
        hw = r.take(16, "HW platform").split(b"\x00", 1)[0].decode("latin-1")
        sw = r.take(16, "SW platform").split(b"\x00", 1)[0].decode("latin-1")
        ver = (r.u32le("major"), r.u32le("minor"), r.u32le("PIB"), r.u32le("build"))
        return cls(hw, sw, ver, cookie, status)


@dataclass(frozen=True, slots=True)
class VsPlLnkStatusReq(_Qca):
    """Ask whether the powerline link (membership of an AVLN) is up."""

    BASE = MMType.VS_PL_LNK_STATUS
    MODE = Mode.REQ

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_PL_LNK_STATUS.REQ")
        expect_oui(r, QUALCOMM_OUI, "VS_PL_LNK_STATUS.REQ")
        return cls()


@dataclass(frozen=True, slots=True)
class VsPlLnkStatusCnf(_Qca):
    """``link_status`` 1 = linked."""

    BASE = MMType.VS_PL_LNK_STATUS
    MODE = Mode.CNF

    link_status: int
    status: int = 0

    @property
    def up(self) -> bool:
        """The link is up."""
        return self.link_status == LINK_UP

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI + bytes([self.status, self.link_status])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_PL_LNK_STATUS.CNF")
        expect_oui(r, QUALCOMM_OUI, "VS_PL_LNK_STATUS.CNF")
        status = r.u8("MSTATUS")
        return cls(r.u8("LinkStatus"), status)


@dataclass(frozen=True, slots=True)
class VsNwInfoReq(_Qca):
    """Ask for the networks (AVLNs) the modem is a member of, and their stations."""

    BASE = MMType.VS_NW_INFO
    MODE = Mode.REQ

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return QUALCOMM_OUI

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_NW_INFO.REQ")
        expect_oui(r, QUALCOMM_OUI, "VS_NW_INFO.REQ")
        return cls()


@dataclass(frozen=True, slots=True)
class NwStation:
    """One remote station of an AVLN."""

    mac: bytes
    tei: int = 0
    bridged_mac: bytes = bytes(6)
    avg_tx_rate: int = 0
    avg_rx_rate: int = 0


@dataclass(frozen=True, slots=True)
class NwNetwork:
    """One AVLN the modem is a member of."""

    nid: bytes
    cco_mac: bytes
    snid: int = 0
    tei: int = 0
    role: int = 0
    cco_tei: int = 0
    stations: tuple[NwStation, ...] = ()


@dataclass(frozen=True, slots=True)
class VsNwInfoCnf(_Qca):
    """Network information (AV 1.0 layout)."""

    BASE = MMType.VS_NW_INFO
    MODE = Mode.CNF

    networks: tuple[NwNetwork, ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        out = bytearray(QUALCOMM_OUI + bytes([len(self.networks)]))
        for n in self.networks:
            out += n.nid + bytes([n.snid, n.tei, n.role]) + n.cco_mac + bytes([n.cco_tei, len(n.stations)])
            for s in n.stations:
                out += s.mac + bytes([s.tei]) + s.bridged_mac + bytes([s.avg_tx_rate, s.avg_rx_rate])
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "VS_NW_INFO.CNF")
        expect_oui(r, QUALCOMM_OUI, "VS_NW_INFO.CNF")
        nets = []
        for _ in range(r.u8("NUMAVLNS")):
            nid = r.take(NID_LEN, "NID")
            snid, tei, role = r.u8("SNID"), r.u8("TEI"), r.u8("ROLE")
            cco = r.take(MAC_LEN, "CCO_MAC")
            cco_tei = r.u8("CCO_TEI")
            stas = []
            for _ in range(r.u8("NUMSTAS")):
                mac = r.take(MAC_LEN, "DA")
                stei = r.u8("TEI")
                bda = r.take(MAC_LEN, "BDA")
                stas.append(NwStation(mac, stei, bda, r.u8("AVGTX"), r.u8("AVGRX")))
            nets.append(NwNetwork(nid, cco, snid, tei, role, cco_tei, tuple(stas)))
        return cls(tuple(nets))
