"""CM_VALIDATE.REQ / .CNF: optional validation by BCB toggles of the EV's S2 switch (ISO 15118-3 A.9.x)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Self

from josev.slac.messages._codec import Reader
from josev.slac.messages.base import Message, MMType, Mode

SIGNAL_TYPE_PEV_S2_TOGGLES = 0x00


class ValidateResult(enum.IntEnum):
    """The Result field of CM_VALIDATE."""

    NOT_READY = 0
    READY = 1
    SUCCESS = 2
    FAILURE = 3
    NOT_REQUIRED = 4


def toggle_window_s(timer: int) -> float:
    """TT_EVSE_vald_toggle in seconds for a Timer field value: (Timer + 1) x 100 ms."""
    return (timer + 1) * 0.1


@dataclass(frozen=True, slots=True)
class CmValidateReq(Message):
    """EV -> EVSE. First exchange: timer 0, result READY; second: timer = window, result READY."""

    BASE = MMType.CM_VALIDATE
    MODE = Mode.REQ

    timer: int
    result: int = ValidateResult.READY
    signal_type: int = SIGNAL_TYPE_PEV_S2_TOGGLES

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return bytes([self.signal_type, self.timer, self.result])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_VALIDATE.REQ")
        sig = r.u8("SignalType")
        timer = r.u8("Timer")
        return cls(timer, r.u8("Result"), sig)


@dataclass(frozen=True, slots=True)
class CmValidateCnf(Message):
    """EVSE -> EV: ``toggle_num`` = BCB toggles counted in the window (second exchange)."""

    BASE = MMType.CM_VALIDATE
    MODE = Mode.CNF

    toggle_num: int
    result: int
    signal_type: int = SIGNAL_TYPE_PEV_S2_TOGGLES

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return bytes([self.signal_type, self.toggle_num, self.result])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_VALIDATE.CNF")
        sig = r.u8("SignalType")
        num = r.u8("ToggleNum")
        return cls(num, r.u8("Result"), sig)
