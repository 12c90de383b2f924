"""CM_START_ATTEN_CHAR.IND: the EV announces its sounds (sent C_EV_start_atten_char_inds times)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from josev.slac.messages._codec import MAC_LEN, RUN_ID_LEN, Reader, check_len
from josev.slac.messages.base import Message, MMType, Mode


@dataclass(frozen=True, slots=True)
class CmStartAttenCharInd(Message):
    """Broadcast by the EV host."""

    BASE = MMType.CM_START_ATTEN_CHAR
    MODE = Mode.IND

    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = 10
    timeout: int = 6
    resp_type: int = 1
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.forwarding_sta, MAC_LEN, "FORWARDING_STA")
        check_len(self.run_id, RUN_ID_LEN, "RunID")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            bytes([self.application_type, self.security_type, self.num_sounds, self.timeout, self.resp_type])
            + self.forwarding_sta
            + self.run_id
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_START_ATTEN_CHAR.IND")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        num = r.u8("NUM_SOUNDS")
        timeout = r.u8("Time_Out")
        resp = r.u8("RESP_TYPE")
        fwd = r.take(MAC_LEN, "FORWARDING_STA")
        run_id = r.take(RUN_ID_LEN, "RunID")
        return cls(fwd, run_id, num, timeout, resp, app, sec)
