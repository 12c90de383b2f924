"""Lumissil (ISSI) CG5317 vendor-specific MMEs (NSCM), OUI 00:16:E8, framed HomePlug AV 1.0 (no FMI).

Every MMENTRY is the OUI, a 19-byte LMS header (version u16, reserved u32, request id u8, 12 reserved bytes)
and the body.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from josev.slac.messages._codec import Reader, expect_oui
from josev.slac.messages.base import LUMISSIL_OUI, MMV_AV_1_0, Message, MMType, Mode

LMS_HEADER_LEN = 19
D_LINK_LINKED = 0x01


def _header(request_id: int) -> bytes:
    return LUMISSIL_OUI + struct.pack("<HIB", 0, 0, request_id) + bytes(12)


def _read_header(r: Reader, what: str) -> int:
    expect_oui(r, LUMISSIL_OUI, what)
    hdr = r.take(LMS_HEADER_LEN, "LMS header")
    return hdr[6]


class _Lms(Message):
    MMV = MMV_AV_1_0


@dataclass(frozen=True, slots=True)
class NscmGetVersionReq(_Lms):
    """Ask for the firmware version."""

    BASE = MMType.NSCM_GET_VERSION
    MODE = Mode.REQ

    request_id: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return _header(self.request_id)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        return cls(_read_header(Reader(data, "NSCM_GET_VERSION.REQ"), "NSCM_GET_VERSION.REQ"))


@dataclass(frozen=True, slots=True)
class NscmGetVersionCnf(_Lms):
    """Firmware version major.minor.patch.build."""

    BASE = MMType.NSCM_GET_VERSION
    MODE = Mode.CNF

    version: tuple[int, int, int, int]
    request_id: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return _header(self.request_id) + struct.pack("<HHHHH", *self.version, 0)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "NSCM_GET_VERSION.CNF")
        rid = _read_header(r, "NSCM_GET_VERSION.CNF")
        ver = (r.u16le("major"), r.u16le("minor"), r.u16le("patch"), r.u16le("build"))
        return cls(ver, rid)


@dataclass(frozen=True, slots=True)
class NscmGetDLinkStatusReq(_Lms):
    """Ask for the data-link status."""

    BASE = MMType.NSCM_GET_D_LINK_STATUS
    MODE = Mode.REQ

    request_id: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return _header(self.request_id)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        return cls(_read_header(Reader(data, "NSCM_GET_D_LINK_STATUS.REQ"), "NSCM_GET_D_LINK_STATUS.REQ"))


@dataclass(frozen=True, slots=True)
class NscmGetDLinkStatusCnf(_Lms):
    """``link_status`` 1 = linked."""

    BASE = MMType.NSCM_GET_D_LINK_STATUS
    MODE = Mode.CNF

    link_status: int
    request_id: int = 0

    @property
    def up(self) -> bool:
        """The link is up."""
        return self.link_status == D_LINK_LINKED

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return _header(self.request_id) + bytes([self.link_status])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "NSCM_GET_D_LINK_STATUS.CNF")
        rid = _read_header(r, "NSCM_GET_D_LINK_STATUS.CNF")
        return cls(r.u8("LinkStatus"), rid)


@dataclass(frozen=True, slots=True)
class NscmResetDeviceReq(_Lms):
    """Reset the modem (there is no confirmation)."""

    BASE = MMType.NSCM_RESET_DEVICE
    MODE = Mode.REQ

    mode: int = 0
    request_id: int = 0

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return _header(self.request_id) + bytes([self.mode])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "NSCM_RESET_DEVICE.REQ")
        rid = _read_header(r, "NSCM_RESET_DEVICE.REQ")
        return cls(r.u8("Mode"), rid)
