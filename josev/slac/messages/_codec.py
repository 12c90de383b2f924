"""Bounds-checked reading and writing helpers shared by the message modules."""

from __future__ import annotations

import struct

from josev.slac.errors import BadField, TruncatedFrame

MAC_LEN = 6
RUN_ID_LEN = 8
STATION_ID_LEN = 17
NID_LEN = 7
NMK_LEN = 16
AAG_LEN = 58
BROADCAST = b"\xff" * 6


class Reader:
    """Reads fields from a payload; every read past the end raises :class:`TruncatedFrame`."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def take(self, n: int, field: str) -> bytes:
        """The next ``n`` bytes."""
        end = self._pos + n
        if n < 0 or end > len(self._data):
            raise TruncatedFrame(
                f"{self._what}: {field} needs {n} bytes at offset {self._pos}, "
                f"only {len(self._data) - self._pos} left"
            )
        out = self._data[self._pos : end]
        self._pos = end
        return bytes(out)

    def u8(self, field: str) -> int:
        """One unsigned byte."""
        return self.take(1, field)[0]

    def u16le(self, field: str) -> int:
        """A little-endian 16-bit unsigned integer."""
        return int(struct.unpack("<H", self.take(2, field))[0])

    def u32le(self, field: str) -> int:
        """A little-endian 32-bit unsigned integer."""
        return int(struct.unpack("<I", self.take(4, field))[0])

    @property
    def remaining(self) -> int:
        """Bytes not read yet (incl. Ethernet padding)."""
        return len(self._data) - self._pos


def check_len(value: bytes, n: int, field: str) -> bytes:
    """Raise :class:`ValueError` when ``value`` has not exactly ``n`` bytes (for building messages)."""
    if len(value) != n:
        raise ValueError(f"{field} must be {n} bytes, got {len(value)}")
    return value


def expect_oui(r: Reader, oui: bytes, what: str) -> None:
    """Read a vendor OUI and raise :class:`BadField` when it is not ``oui``."""
    got = r.take(3, "OUI")
    if got != oui:
        raise BadField(f"{what}: OUI {got.hex(':')} is not {oui.hex(':')}")


def mac_str(mac: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return mac.hex(":")


def mac_bytes(mac: str) -> bytes:
    """Parse ``aa:bb:cc:dd:ee:ff`` (or ``-`` separated) into 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    return check_len(raw, MAC_LEN, "MAC address")
