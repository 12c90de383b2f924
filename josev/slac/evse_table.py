"""States, inputs and the transition table of the EVSE SLAC core (``python -m josev.slac.evse_table``).

Rows whose state is IDLE, WAIT_PARM or FAILED are the station's (one per interface); the other rows apply to
each matching session (one per EV host that sent CM_SLAC_PARM.REQ, up to C_EVSE_match_parallel at once, so
that an EV heard by crosstalk does not block the EV plugged into this EVSE). A session entering WAIT_PARM or
FAILED ends. Pairs not in the table are ignored and counted under ``unexpected``.
"""

from __future__ import annotations

import enum


class S(enum.StrEnum):
    """EVSE SLAC states (station: IDLE, WAIT_PARM, FAILED; the others are session states)."""

    IDLE = "idle"
    WAIT_PARM = "wait_parm"
    WAIT_START_ATTEN = "wait_start_atten"
    SOUNDING = "sounding"
    WAIT_ATTEN_RSP = "wait_atten_rsp"
    WAIT_MATCH = "wait_match"
    VALIDATING = "validating"
    JOINING = "joining"
    MATCHED = "matched"
    FAILED = "failed"


STATION_STATES = frozenset({S.IDLE, S.WAIT_PARM, S.FAILED})
PROGRESS = list(S)
"""Order used to report the most advanced session as the core's state."""


class I(enum.StrEnum):  # noqa: E742 - a short name keeps the table readable
    """Inputs of the EVSE state machine."""

    CP_BCD = "cp_bcd"
    CP_AEF = "cp_aef"
    PARM_REQ = "CM_SLAC_PARM.REQ"
    START_ATTEN = "CM_START_ATTEN_CHAR.IND"
    SOUND = "CM_MNBC_SOUND.IND"
    PROFILE = "CM_ATTEN_PROFILE.IND"
    ATTEN_RSP = "CM_ATTEN_CHAR.RSP"
    VALIDATE_REQ = "CM_VALIDATE.REQ"
    MATCH_REQ = "CM_SLAC_MATCH.REQ"
    LINK_UP = "link_up"
    LINK_DOWN = "link_down"
    TIMEOUT = "timeout"


_RESTARTABLE = (S.WAIT_START_ATTEN, S.SOUNDING, S.WAIT_ATTEN_RSP, S.WAIT_MATCH, S.JOINING, S.MATCHED)

TRANSITIONS: dict[tuple[S, I], tuple[S, str]] = {
    # station
    (S.IDLE, I.CP_BCD): (S.WAIT_PARM, "start_matching"),
    (S.IDLE, I.CP_AEF): (S.IDLE, "nothing"),
    (S.WAIT_PARM, I.CP_AEF): (S.IDLE, "stop_matching"),
    (S.WAIT_PARM, I.TIMEOUT): (S.FAILED, "init_timeout"),
    (S.FAILED, I.CP_AEF): (S.IDLE, "stop_matching"),
    # session (created by the first CM_SLAC_PARM.REQ of an EV host while the station waits)
    (S.WAIT_PARM, I.PARM_REQ): (S.WAIT_START_ATTEN, "answer_parm"),
    (S.WAIT_START_ATTEN, I.START_ATTEN): (S.SOUNDING, "start_sounding"),
    (S.WAIT_START_ATTEN, I.SOUND): (S.SOUNDING, "start_sounding"),
    (S.WAIT_START_ATTEN, I.PROFILE): (S.SOUNDING, "start_sounding"),
    (S.WAIT_START_ATTEN, I.TIMEOUT): (S.WAIT_PARM, "attempt_failed"),
    (S.SOUNDING, I.START_ATTEN): (S.SOUNDING, "nothing"),
    (S.SOUNDING, I.SOUND): (S.SOUNDING, "nothing"),
    (S.SOUNDING, I.PROFILE): (S.SOUNDING, "record_profile"),
    (S.SOUNDING, I.TIMEOUT): (S.WAIT_ATTEN_RSP, "send_atten_char"),
    (S.WAIT_ATTEN_RSP, I.START_ATTEN): (S.WAIT_ATTEN_RSP, "nothing"),
    (S.WAIT_ATTEN_RSP, I.SOUND): (S.WAIT_ATTEN_RSP, "nothing"),
    (S.WAIT_ATTEN_RSP, I.PROFILE): (S.WAIT_ATTEN_RSP, "nothing"),
    (S.WAIT_ATTEN_RSP, I.ATTEN_RSP): (S.WAIT_MATCH, "atten_acknowledged"),
    (S.WAIT_ATTEN_RSP, I.TIMEOUT): (S.WAIT_ATTEN_RSP, "resend_atten_char"),
    (S.WAIT_ATTEN_RSP, I.VALIDATE_REQ): (S.WAIT_MATCH, "validate"),
    (S.WAIT_ATTEN_RSP, I.MATCH_REQ): (S.JOINING, "answer_match"),
    (S.WAIT_MATCH, I.ATTEN_RSP): (S.WAIT_MATCH, "nothing"),
    (S.WAIT_MATCH, I.VALIDATE_REQ): (S.WAIT_MATCH, "validate"),
    (S.WAIT_MATCH, I.MATCH_REQ): (S.JOINING, "answer_match"),
    (S.WAIT_MATCH, I.TIMEOUT): (S.WAIT_PARM, "not_chosen"),
    (S.VALIDATING, I.TIMEOUT): (S.WAIT_MATCH, "close_validation"),
    (S.JOINING, I.MATCH_REQ): (S.JOINING, "answer_match"),
    (S.JOINING, I.LINK_UP): (S.MATCHED, "link_ready"),
    (S.JOINING, I.LINK_DOWN): (S.JOINING, "nothing"),
    (S.JOINING, I.TIMEOUT): (S.JOINING, "poll_link"),
    (S.MATCHED, I.MATCH_REQ): (S.MATCHED, "answer_match"),
    (S.MATCHED, I.LINK_DOWN): (S.WAIT_PARM, "link_lost"),
    (S.MATCHED, I.LINK_UP): (S.MATCHED, "nothing"),
    (S.MATCHED, I.TIMEOUT): (S.MATCHED, "poll_link"),
    **{(s, I.PARM_REQ): (S.WAIT_START_ATTEN, "answer_parm") for s in _RESTARTABLE},
}
"""(state, input) -> (next state, action); an action may redirect (e.g. after the last retry)."""


def table() -> str:
    """The transition table, printable."""
    return "\n".join(
        f"{s.value:<18} {i.value:<26} -> {n.value:<18} {a}" for (s, i), (n, a) in TRANSITIONS.items()
    )


if __name__ == "__main__":  # pragma: no cover
    print(table())
