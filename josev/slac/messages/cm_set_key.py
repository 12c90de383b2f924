"""CM_SET_KEY.REQ / .CNF: the host gives its local modem a new NMK (HomePlug AV 1.1 §11.5.4/5)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from josev.slac.messages._codec import NID_LEN, NMK_LEN, Reader, check_len
from josev.slac.messages.base import Message, MMType, Mode

KEY_TYPE_NMK = 0x01
PID_HLE = 0x04
NEW_EKS_NMK = 0x01


@dataclass(frozen=True, slots=True)
class CmSetKeyReq(Message):
    """Set the NMK (and the NID derived from it) of the local modem."""

    BASE = MMType.CM_SET_KEY
    MODE = Mode.REQ

    nid: bytes
    nmk: bytes
    key_type: int = KEY_TYPE_NMK
    my_nonce: int = 0
    your_nonce: int = 0
    pid: int = PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0
    new_eks: int = NEW_EKS_NMK

    def __post_init__(self) -> None:
        check_len(self.nid, NID_LEN, "NID")
        check_len(self.nmk, NMK_LEN, "NMK")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            struct.pack(
                "<BIIBHBB",
                self.key_type,
                self.my_nonce,
                self.your_nonce,
                self.pid,
                self.prn,
                self.pmn,
                self.cco_capability,
            )
            + self.nid
            + bytes([self.new_eks])
            + self.nmk
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_SET_KEY.REQ")
        key_type = r.u8("KeyType")
        my_nonce = r.u32le("MyNonce")
        your_nonce = r.u32le("YourNonce")
        pid = r.u8("PID")
        prn = r.u16le("PRN")
        pmn = r.u8("PMN")
        cco = r.u8("CCoCapability")
        nid = r.take(NID_LEN, "NID")
        eks = r.u8("NewEKS")
        nmk = r.take(NMK_LEN, "NewKey")
        return cls(nid, nmk, key_type, my_nonce, your_nonce, pid, prn, pmn, cco, eks)


@dataclass(frozen=True, slots=True)
class CmSetKeyCnf(Message):
    """The modem's answer; ``result`` 0 is success in the HomePlug spec (QCA firmware answers 1, see docs)."""

    BASE = MMType.CM_SET_KEY
    MODE = Mode.CNF

    result: int = 0
    my_nonce: int = 0
    your_nonce: int = 0
    pid: int = PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return struct.pack(
            "<BIIBHBB",
            self.result,
            self.my_nonce,
            self.your_nonce,
            self.pid,
            self.prn,
            self.pmn,
            self.cco_capability,
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_SET_KEY.CNF")
        return cls(
            r.u8("Result"),
            r.u32le("MyNonce"),
            r.u32le("YourNonce"),
            r.u8("PID"),
            r.u16le("PRN"),
            r.u8("PMN"),
            r.u8("CCoCapability"),
        )
