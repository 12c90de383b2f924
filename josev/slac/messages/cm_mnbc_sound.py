"""CM_MNBC_SOUND.IND: one M-sound of the EV (its RunID field is 16 bytes: 8 of run id, 8 reserved)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from josev.slac.messages._codec import RUN_ID_LEN, STATION_ID_LEN, Reader, check_len
from josev.slac.messages.base import Message, MMType, Mode


@dataclass(frozen=True, slots=True)
class CmMnbcSoundInd(Message):
    """Broadcast by the EV; ``count`` is the number of sounds still to come."""

    BASE = MMType.CM_MNBC_SOUND
    MODE = Mode.IND

    sender_id: bytes
    count: int
    run_id: bytes
    rnd: bytes = bytes(16)
    application_type: int = 0
    security_type: int = 0

    def __post_init__(self) -> None:
        check_len(self.sender_id, STATION_ID_LEN, "SenderID")
        check_len(self.run_id, RUN_ID_LEN, "RunID")
        check_len(self.rnd, 16, "Rnd")

    def encode(self) -> bytes:
        """MMENTRY bytes."""
        return (
            bytes([self.application_type, self.security_type])
            + self.sender_id
            + bytes([self.count])
            + self.run_id
            + bytes(8)
            + self.rnd
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse."""
        r = Reader(data, "CM_MNBC_SOUND.IND")
        app = r.u8("ApplicationType")
        sec = r.u8("SecurityType")
        sender = r.take(STATION_ID_LEN, "SenderID")
        cnt = r.u8("Cnt")
        run_id = r.take(RUN_ID_LEN, "RunID")
        r.take(8, "RSVD")
        rnd = r.take(16, "Rnd")
        return cls(sender, cnt, run_id, rnd, app, sec)
