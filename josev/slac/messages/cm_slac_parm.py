"""CM_SLAC_PARM.REQ / .CNF: the EV starts a matching run; the EVSE answers with the sounding parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from josev.slac.messages._codec import BROADCAST, MAC_LEN, RUN_ID_LEN, Reader, check_len
from josev.slac.messages.base import Message, MMType, Mode

RESP_TYPE_OTHER_GP_STATION = 0x01


@dataclass(frozen=True, slots=True)
class CmSlacParmReq(Message):
    """Broadcast by the EV host; ``run_id`` identifies the matching run."""

    BASE = MMType.CM_SLAC_PARM
    MODE = Mode.REQ

    run_id: bytes
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.run_id, RUN_ID_LEN, "RunID")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return bytes([self.application_type, self.security_type]) + self.run_id

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_SLAC_PARM.REQ")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        return cls(r.take(RUN_ID_LEN, "RunID"), app, sec)


@dataclass(frozen=True, slots=True)
class CmSlacParmCnf(Message):
    """EVSE -> EV: number of sounds, timeout (units of 100 ms), the EV host MAC (forwarding STA)."""

    BASE = MMType.CM_SLAC_PARM
    MODE = Mode.CNF

    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = 10
    timeout: int = 6
    resp_type: int = RESP_TYPE_OTHER_GP_STATION
    m_sound_target: bytes = BROADCAST
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.forwarding_sta, MAC_LEN, "FORWARDING_STA")
        check_len(self.run_id, RUN_ID_LEN, "RunID")
        check_len(self.m_sound_target, MAC_LEN, "M-SOUND_TARGET")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            self.m_sound_target
            + bytes([self.num_sounds, self.timeout, self.resp_type])
            + self.forwarding_sta
            + bytes([self.application_type, self.security_type])
            + self.run_id
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_SLAC_PARM.CNF")
        target = r.take(MAC_LEN, "M-SOUND_TARGET")
        num = r.u8("NUM_SOUNDS")
        timeout = r.u8("Time_Out")
        resp = r.u8("RESP_TYPE")
        fwd = r.take(MAC_LEN, "FORWARDING_STA")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        run_id = r.take(RUN_ID_LEN, "RunID")
        return cls(fwd, run_id, num, timeout, resp, target, app, sec)
