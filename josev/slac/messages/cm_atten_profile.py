"""CM_ATTEN_PROFILE.IND: the local modem reports the attenuation (dB per carrier group) of one M-sound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from josev.slac.errors import BadField
from josev.slac.messages._codec import AAG_LEN, MAC_LEN, Reader, check_len
from josev.slac.messages.base import Message, MMType, Mode


@dataclass(frozen=True, slots=True)
class CmAttenProfileInd(Message):
    """Modem -> its host, one per received sound; ``aag`` holds ``len(aag)`` groups (58 for Green PHY)."""

    BASE = MMType.CM_ATTEN_PROFILE
    MODE = Mode.IND

    pev_mac: bytes
    aag: tuple[int, ...]

    def __post_init__(self) -> None:
        check_len(self.pev_mac, MAC_LEN, "PEV MAC")
        if not 1 <= len(self.aag) <= 255 or any(not 0 <= a <= 255 for a in self.aag):
            raise ValueError("AAG must hold 1..255 values of 0..255 dB")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return self.pev_mac + bytes([len(self.aag), 0]) + bytes(self.aag)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_ATTEN_PROFILE.IND")
        mac = r.take(MAC_LEN, "PEV MAC")
        groups = r.u8("NumGroups")
        if groups == 0:
            raise BadField("CM_ATTEN_PROFILE.IND: NumGroups is 0")
        r.u8("RSVD")
        return cls(mac, tuple(r.take(groups, "AAG")))


GREEN_PHY_GROUPS = AAG_LEN
