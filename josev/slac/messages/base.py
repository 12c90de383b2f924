"""Base class of HomePlug AV / Green PHY management message entries (MMENTRY)."""

from __future__ import annotations

import enum
from typing import ClassVar, Self


class MMType(enum.IntEnum):
    """Base MMTYPEs (the two low bits, the mode, are zero)."""

    CM_SET_KEY = 0x6008
    CM_SLAC_PARM = 0x6064
    CM_START_ATTEN_CHAR = 0x6068
    CM_ATTEN_CHAR = 0x606C
    CM_MNBC_SOUND = 0x6074
    CM_VALIDATE = 0x6078
    CM_SLAC_MATCH = 0x607C
    CM_ATTEN_PROFILE = 0x6084
    # Qualcomm Atheros vendor MMEs (QCA700x)
    VS_SW_VER = 0xA000
    VS_RS_DEV = 0xA01C
    VS_NW_INFO = 0xA038
    VS_OP_ATTRIBUTES = 0xA068
    VS_PL_LNK_STATUS = 0xA0B8
    # Lumissil (ISSI) CG5317 vendor MMEs
    NSCM_GET_VERSION = 0xAC6C
    NSCM_RESET_DEVICE = 0xAC70
    NSCM_GET_D_LINK_STATUS = 0xAC9C


class Mode(enum.IntEnum):
    """The two low bits of an MMTYPE."""

    REQ = 0
    CNF = 1
    IND = 2
    RSP = 3


MMV_AV_1_0 = 0x00
MMV_AV_1_1 = 0x01
MMV_AV_2_0 = 0x02
QUALCOMM_OUI = b"\x00\xb0\x52"
LUMISSIL_OUI = b"\x00\x16\xe8"


class Message:
    """One management message entry. Subclasses are frozen dataclasses with a base and a mode."""

    BASE: ClassVar[MMType]
    MODE: ClassVar[Mode]
    MMV: ClassVar[int] = MMV_AV_1_1
    """HomePlug AV 1.1 header (with FMI) by default; vendor MMEs use AV 1.0 (no FMI)."""

    @classmethod
    def mmtype(cls) -> int:
        """The full 16-bit MMTYPE (base | mode)."""
        return int(cls.BASE) | int(cls.MODE)

    def encode(self) -> bytes:
        """The MMENTRY bytes (without Ethernet or HomePlug header)."""
        raise NotImplementedError

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse an MMENTRY; trailing bytes (Ethernet padding) are ignored."""
        raise NotImplementedError
