"""CM_ATTEN_CHAR.IND / .RSP: the EVSE reports the averaged attenuation profile; the EV acknowledges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from josev.slac.errors import BadField
from josev.slac.messages._codec import MAC_LEN, RUN_ID_LEN, STATION_ID_LEN, Reader, check_len
from josev.slac.messages.base import Message, MMType, Mode


@dataclass(frozen=True, slots=True)
class CmAttenCharInd(Message):
    """EVSE -> EV (unicast to the EV host MAC)."""

    BASE = MMType.CM_ATTEN_CHAR
    MODE = Mode.IND

    source_address: bytes
    run_id: bytes
    num_sounds: int
    aag: tuple[int, ...]
    source_id: bytes = bytes(17)
    resp_id: bytes = bytes(17)
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.source_address, MAC_LEN, "SOURCE_ADDRESS")
        check_len(self.run_id, RUN_ID_LEN, "RunID")
        check_len(self.source_id, STATION_ID_LEN, "SOURCE_ID")
        check_len(self.resp_id, STATION_ID_LEN, "RESP_ID")
        if not 1 <= len(self.aag) <= 255 or any(not 0 <= a <= 255 for a in self.aag):
            raise ValueError("AAG must hold 1..255 values of 0..255 dB")

    @property
    def average(self) -> float:
        """Mean attenuation over all groups in dB (what the EV compares between EVSEs)."""
        return sum(self.aag) / len(self.aag)

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            bytes([self.application_type, self.security_type])
            + self.source_address
            + self.run_id
            + self.source_id
            + self.resp_id
            + bytes([self.num_sounds, len(self.aag)])
            + bytes(self.aag)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_ATTEN_CHAR.IND")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        src = r.take(MAC_LEN, "SOURCE_ADDRESS")
        run_id = r.take(RUN_ID_LEN, "RunID")
        source_id = r.take(STATION_ID_LEN, "SOURCE_ID")
        resp_id = r.take(STATION_ID_LEN, "RESP_ID")
        num = r.u8("NumSounds")
        groups = r.u8("NumGroups")
        if groups == 0:
            raise BadField("CM_ATTEN_CHAR.IND: NumGroups is 0")
        aag = tuple(r.take(groups, "AAG"))
        return cls(src, run_id, num, aag, source_id, resp_id, app, sec)


@dataclass(frozen=True, slots=True)
class CmAttenCharRsp(Message):
    """EV -> EVSE; ``result`` 0 = success."""

    BASE = MMType.CM_ATTEN_CHAR
    MODE = Mode.RSP

    source_address: bytes
    run_id: bytes
    result: int = 0
    source_id: bytes = bytes(17)
    resp_id: bytes = bytes(17)
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.source_address, MAC_LEN, "SOURCE_ADDRESS")
        check_len(self.run_id, RUN_ID_LEN, "RunID")
        check_len(self.source_id, STATION_ID_LEN, "SOURCE_ID")
        check_len(self.resp_id, STATION_ID_LEN, "RESP_ID")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            bytes([self.application_type, self.security_type])
            + self.source_address
            + self.run_id
            + self.source_id
            + self.resp_id
            + bytes([self.result])
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_ATTEN_CHAR.RSP")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        src = r.take(MAC_LEN, "SOURCE_ADDRESS")
        run_id = r.take(RUN_ID_LEN, "RunID")
        source_id = r.take(STATION_ID_LEN, "SOURCE_ID")
        resp_id = r.take(STATION_ID_LEN, "RESP_ID")
        result = r.u8("Result")
        return cls(src, run_id, result, source_id, resp_id, app, sec)
