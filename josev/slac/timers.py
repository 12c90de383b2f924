"""Timers and counters of ISO 15118-3:2015 Table A.1 (and Table 3 for validation), in seconds.

Where the standard gives a range the default is stated and the range kept for documentation; every core takes
a :class:`SlacTimings` so deployments (and tests) can choose within the range.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_A1: tuple[tuple[str, str, str], ...] = (
    ("C_EV_match_MNBC", "10", "number of M-sounds the EV sends"),
    ("C_EV_match_retry", "2", "retries of CM_SLAC_PARM.REQ / CM_VALIDATE.REQ / CM_SLAC_MATCH.REQ by the EV"),
    ("C_EV_start_atten_char_inds", "3", "repetitions of CM_START_ATTEN_CHAR.IND"),
    ("C_EV_vald_nb_toggles", "1..3", "BCB toggles the EV performs during validation"),
    ("C_sequ_retry", "2", "retries of CM_ATTEN_CHAR.IND by the EVSE (and of CM_SET_KEY here)"),
    ("C_conn_max_match", "3", "matching attempts before the EVSE reports 'failed' for good"),
    (
        "TP_EV_batch_msg_interval",
        "20..50 ms",
        "interval between the EV's START_ATTEN_CHAR / MNBC_SOUND frames",
    ),
    ("TT_EV_atten_results", "1200 ms", "EV waits this long for CM_ATTEN_CHAR.IND after sounding"),
    ("TT_EVSE_match_MNBC", "600 ms", "EVSE collects sounds/profiles this long (CM_SLAC_PARM.CNF Time_Out)"),
    ("TT_match_response", "200 ms", "response timeout of any request of the matching sequence"),
    ("TT_match_sequence", "400 ms", "EVSE timeout between two messages of the sequence"),
    ("TT_EVSE_match_session", "10 s", "EVSE waits this long for CM_VALIDATE.REQ / CM_SLAC_MATCH.REQ"),
    ("TT_EVSE_SLAC_init", "20..50 s", "EVSE waits this long after B/C/D for the first CM_SLAC_PARM.REQ"),
    ("TT_match_join", "12 s", "time to join the logical network after CM_SLAC_MATCH.CNF"),
    ("TT_EVSE_vald_toggle", "(Timer+1) x 100 ms", "EVSE BCB counting window requested by CM_VALIDATE.REQ"),
    ("TP_EV_vald_state_duration", "200..400 ms", "duration of each B or C state of a BCB toggle"),
    ("TP_EV_vald_toggle", "600..3500 ms", "duration of the whole BCB toggle sequence"),
    ("TP_link_ready_notification", "200..1000 ms", "link status is polled at this period until linked"),
    ("T_step_EF", ">= 4 s", "minimum E/F time (coordinator's rule, driven by SLAC status)"),
)
"""(name, figure, meaning) of every constant used; printed in docs/slac.md."""


@dataclass(frozen=True, slots=True)
class SlacTimings:
    """The figures the cores use (seconds / counts)."""

    C_EV_match_MNBC: int = 10
    C_EV_match_retry: int = 2
    C_EV_start_atten_char_inds: int = 3
    C_EV_vald_nb_toggles: int = 1
    C_sequ_retry: int = 2
    C_conn_max_match: int = 3
    TP_EV_batch_msg_interval: float = 0.02
    TT_EV_atten_results: float = 1.2
    TT_EVSE_match_MNBC: float = 0.6
    TT_match_response: float = 0.2
    TT_match_sequence: float = 0.4
    TT_EVSE_match_session: float = 10.0
    TT_EVSE_SLAC_init: float = 40.0
    TT_match_join: float = 12.0
    TP_EV_vald_state_duration: float = 0.3
    TP_link_ready_notification: float = 0.2
    TT_set_key: float = 1.0
    """Not in the standard: how long to wait for CM_SET_KEY.CNF from the local modem."""
    TT_modem_probe: float = 0.5
    """Not in the standard: how long to wait for a vendor answer when detecting the modem."""

    def __post_init__(self) -> None:
        if not 0.02 <= self.TP_EV_batch_msg_interval <= 0.05:
            raise ValueError("TP_EV_batch_msg_interval must be within 20..50 ms")
        if not 20.0 <= self.TT_EVSE_SLAC_init <= 50.0:
            raise ValueError("TT_EVSE_SLAC_init must be within 20..50 s")
        if not 0.2 <= self.TP_EV_vald_state_duration <= 0.4:
            raise ValueError("TP_EV_vald_state_duration must be within 200..400 ms")
        if not 1 <= self.C_EV_vald_nb_toggles <= 3:
            raise ValueError("C_EV_vald_nb_toggles must be 1..3")

    @property
    def mnbc_timeout_units(self) -> int:
        """TT_EVSE_match_MNBC in the 100 ms units of the Time_Out field."""
        return max(1, round(self.TT_EVSE_match_MNBC * 10))


DEFAULT_TIMINGS = SlacTimings()
