"""CM_SLAC_MATCH.REQ / .CNF: the EV asks to join; the EVSE answers with its NID and NMK."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from josev.slac.errors import BadField
from josev.slac.messages._codec import (
    MAC_LEN,
    NID_LEN,
    NMK_LEN,
    RUN_ID_LEN,
    STATION_ID_LEN,
    Reader,
    check_len,
)
from josev.slac.messages.base import Message, MMType, Mode

REQ_MVF_LENGTH = 0x3E
CNF_MVF_LENGTH = 0x56


@dataclass(frozen=True, slots=True)
class CmSlacMatchReq(Message):
    """EV -> chosen EVSE (unicast)."""

    BASE = MMType.CM_SLAC_MATCH
    MODE = Mode.REQ

    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    pev_id: bytes = bytes(17)
    evse_id: bytes = bytes(17)
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.pev_mac, MAC_LEN, "PEV MAC")
        check_len(self.evse_mac, MAC_LEN, "EVSE MAC")
        check_len(self.run_id, RUN_ID_LEN, "RunID")
        check_len(self.pev_id, STATION_ID_LEN, "PEV ID")
        check_len(self.evse_id, STATION_ID_LEN, "EVSE ID")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            bytes([self.application_type, self.security_type])
            + struct.pack("<H", REQ_MVF_LENGTH)
            + self.pev_id
            + self.pev_mac
            + self.evse_id
            + self.evse_mac
            + self.run_id
            + bytes(8)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_SLAC_MATCH.REQ")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        mvf = r.u16le("MVFLength")
        if mvf != REQ_MVF_LENGTH:
            raise BadField(f"CM_SLAC_MATCH.REQ: MVFLength {mvf:#x} is not {REQ_MVF_LENGTH:#x}")
        pev_id = r.take(STATION_ID_LEN, "PEV ID")
        pev_mac = r.take(MAC_LEN, "PEV MAC")
        evse_id = r.take(STATION_ID_LEN, "EVSE ID")
        evse_mac = r.take(MAC_LEN, "EVSE MAC")
        run_id = r.take(RUN_ID_LEN, "RunID")
        r.take(8, "RSVD")
        return cls(pev_mac, evse_mac, run_id, pev_id, evse_id, app, sec)


@dataclass(frozen=True, slots=True)
class CmSlacMatchCnf(Message):
    """EVSE -> EV: the network to join."""

    BASE = MMType.CM_SLAC_MATCH
    MODE = Mode.CNF

    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes
    pev_id: bytes = bytes(17)
    evse_id: bytes = bytes(17)
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.pev_mac, MAC_LEN, "PEV MAC")
        check_len(self.evse_mac, MAC_LEN, "EVSE MAC")
        check_len(self.run_id, RUN_ID_LEN, "RunID")
        check_len(self.nid, NID_LEN, "NID")
        check_len(self.nmk, NMK_LEN, "NMK")
        check_len(self.pev_id, STATION_ID_LEN, "PEV ID")
        check_len(self.evse_id, STATION_ID_LEN, "EVSE ID")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            bytes([self.application_type, self.security_type])
            + struct.pack("<H", CNF_MVF_LENGTH)
            + self.pev_id
            + self.pev_mac
            + self.evse_id
            + self.evse_mac
            + self.run_id
            + bytes(8)
            + self.nid
            + b"\x00"
            + self.nmk
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_SLAC_MATCH.CNF")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        mvf = r.u16le("MVFLength")
        if mvf != CNF_MVF_LENGTH:
            raise BadField(f"CM_SLAC_MATCH.CNF: MVFLength {mvf:#x} is not {CNF_MVF_LENGTH:#x}")
        pev_id = r.take(STATION_ID_LEN, "PEV ID")
        pev_mac = r.take(MAC_LEN, "PEV MAC")
        evse_id = r.take(STATION_ID_LEN, "EVSE ID")
        evse_mac = r.take(MAC_LEN, "EVSE MAC")
        run_id = r.take(RUN_ID_LEN, "RunID")
        r.take(8, "RSVD")
        nid = r.take(NID_LEN, "NID")
        r.take(1, "RSVD")
        nmk = r.take(NMK_LEN, "NMK")
        return cls(pev_mac, evse_mac, run_id, nid, nmk, pev_id, evse_id, app, sec)
