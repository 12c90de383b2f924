"""Sans-IO SLAC core of the EVSE (ISO 15118-3 Annex A), one instance per PLC interface.

Inputs: :meth:`EvseSlac.receive` (a raw Ethernet frame), :meth:`EvseSlac.cp_state` (the control-pilot state
letter) and :meth:`EvseSlac.on_timer`, each with the current time. Every call returns an
:class:`~josev.slac.events.Output`: frames to send, events, and the next deadline. The transitions are the
table in :mod:`josev.slac.evse_table`. Up to ``max_sessions`` EVs can be in the matching sequence at once
(an EV next door heard by crosstalk must not block ours); the first CM_SLAC_MATCH.REQ wins.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable

from josev.slac.errors import FrameError
from josev.slac.events import (
    AttemptFailed,
    KeyInstalled,
    LinkStatus,
    Output,
    SlacEvent,
    SlacStatus,
    StatusChanged,
    ValidationWindow,
)
from josev.slac.evse_session import MATCHED_POLL_PERIOD, EvseSlacConfig, Session
from josev.slac.evse_table import PROGRESS, STATION_STATES, TRANSITIONS, I, S, table
from josev.slac.frame import encode_frame, parse_frame
from josev.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateCnf,
    CmValidateReq,
    Message,
    ValidateResult,
)
from josev.slac.messages._codec import BROADCAST
from josev.slac.modem import ModemSupervisor
from josev.slac.nid import nid_from_nmk

__all__ = ["TRANSITIONS", "EvseSlac", "EvseSlacConfig", "I", "S", "Session", "table"]

CP_BCD = frozenset("BCD")
CP_AEF = frozenset("AEF")


class EvseSlac:
    """The EVSE SLAC state machine of one interface."""

    def __init__(self, config: EvseSlacConfig, rng: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.cfg = config
        self.t = config.timings
        self._rng = rng
        self.top = S.IDLE
        """Station state (IDLE, WAIT_PARM or FAILED)."""
        self.sessions: dict[bytes, Session] = {}
        self.status = SlacStatus.UNMATCHED
        self.counters: Counter[str] = Counter()
        self.modem = ModemSupervisor(config.mac, config.modem_mac, self.t.TT_modem_probe)
        self.nmk = rng(16)
        self.nid = nid_from_nmk(self.nmk, config.security_level)
        self.key_confirmed = False
        self.attempt = 0
        """Failed matching attempts of the EV host with the most (per plug-in)."""
        self.attempts: Counter[bytes] = Counter()
        """Failed matching attempts per EV host MAC: a foreign or stale host uses up its own, not the car's."""
        self.blocked: set[bytes] = set()
        """Hosts that used up C_conn_max_match attempts without ever sounding (ignored until unplug)."""
        self._sounded: set[bytes] = set()
        self._key_deadline: float | None = None
        self._key_retries = 0
        self._deadline: float | None = None
        self._cp: str | None = None
        self._s = Session(bytes(6))
        self._msg: Message | None = None
        self._out = Output()

    # ------------------------------------------------------------------ views

    @property
    def primary(self) -> Session | None:
        """The most advanced session."""
        if not self.sessions:
            return None
        return max(self.sessions.values(), key=lambda s: PROGRESS.index(s.state))

    @property
    def state(self) -> S:
        """The state of the most advanced session, else the station's."""
        p = self.primary
        return p.state if p is not None else self.top

    @property
    def ev_mac(self) -> bytes | None:
        """MAC of the EV host of the most advanced session."""
        p = self.primary
        return p.ev_mac if p is not None else None

    @property
    def run_id(self) -> bytes | None:
        """Run id of the most advanced session."""
        p = self.primary
        return p.run_id if p is not None else None

    @property
    def profiles(self) -> list[tuple[int, ...]]:
        """Attenuation profiles collected by the most advanced session."""
        p = self.primary
        return p.profiles if p is not None else []

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> Output:
        """Power-up: probe the modem and install a fresh key."""
        self._out = Output()
        self._out.frames += self.modem.probe(now)
        self._install_new_key(now)
        return self._finish()

    def cp_state(self, letter: str, now: float) -> Output:
        """The control pilot is now in state ``letter`` (A..F)."""
        self._out = Output()
        letter = letter.upper()[:1]
        prev, self._cp = self._cp, letter
        for s in self.sessions.values():
            if s.state is S.VALIDATING and prev == "B" and letter == "C":
                s.seen_c = True
            elif s.state is S.VALIDATING and prev == "C" and letter == "B" and s.seen_c:
                s.toggles += 1
                s.seen_c = False
        if letter in CP_BCD and (prev is None or prev not in CP_BCD):
            self._station(I.CP_BCD, now)
        elif letter in CP_AEF and (prev is None or prev not in CP_AEF):
            self._station(I.CP_AEF, now)
        return self._finish()

    def receive(self, raw: bytes, now: float) -> Output:
        """One received Ethernet frame; bad or foreign frames are counted and dropped."""
        self._out = Output()
        self.counters["rx"] += 1
        try:
            frame = parse_frame(raw)
        except FrameError as exc:
            self.counters[exc.counter] += 1
            return self._finish()
        if frame.dst not in (self.cfg.mac, BROADCAST):
            self.counters["not_for_us"] += 1
            return self._finish()
        self._dispatch(frame.src, frame.message, now)
        return self._finish()

    def on_timer(self, now: float) -> Output:
        """Call when ``now`` reached the last returned deadline (calling early is harmless)."""
        self._out = Output()
        self._out.events += self.modem.on_timer(now)
        if self._key_deadline is not None and now >= self._key_deadline:
            if self._key_retries < self.t.C_sequ_retry:
                self._key_retries += 1
                self._send_set_key(now)
            else:
                self._key_deadline = None
                self.counters["set_key_timeout"] += 1
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._station(I.TIMEOUT, now)
        for s in list(self.sessions.values()):
            if s.deadline is not None and now >= s.deadline and self.sessions.get(s.ev_mac) is s:
                s.deadline = None
                self._session(s, I.TIMEOUT, now)
        return self._finish()

    # ------------------------------------------------------------------ plumbing

    def _finish(self) -> Output:
        out = self._out
        times = [self._deadline, self._key_deadline, self.modem.probe_deadline]
        times += [s.deadline for s in self.sessions.values()]
        valid = [t for t in times if t is not None]
        out.deadline = min(valid) if valid else None
        self._out = Output()
        return out

    def _send(self, dst: bytes, msg: Message) -> None:
        self._out.frames.append(encode_frame(dst, self.cfg.mac, msg))

    def _emit(self, event: SlacEvent) -> None:
        self._out.events.append(event)

    def _set_status(self, status: SlacStatus, reason: str = "", ev_mac: bytes | None = None) -> None:
        if status is not self.status:
            self.status = status
            nid = self.nid if status is SlacStatus.MATCHED else None
            self._emit(StatusChanged(status, ev_mac, nid, reason))

    def _station(self, inp: I, now: float) -> None:
        entry = TRANSITIONS.get((self.top, inp))
        if entry is None:
            self.counters["unexpected"] += 1
            return
        nxt, action = entry
        redirect: S | None = getattr(self, "_a_" + action)(now)
        self.top = redirect if redirect is not None else nxt

    def _session(self, s: Session, inp: I, now: float) -> None:
        entry = TRANSITIONS.get((s.state, inp))
        if entry is None:
            self.counters["unexpected"] += 1
            return
        nxt, action = entry
        self._s = s
        redirect: S | None = getattr(self, "_a_" + action)(now)
        s.state = redirect if redirect is not None else nxt
        if s.state in STATION_STATES and self.sessions.get(s.ev_mac) is s:
            del self.sessions[s.ev_mac]

    def _dispatch(self, src: bytes, msg: Message, now: float) -> None:
        if isinstance(msg, CmSetKeyCnf):
            if self._key_deadline is not None:
                self._key_deadline = None
                self.key_confirmed = True
                self._emit(KeyInstalled(self.nid, msg.result))
            return
        if msg.BASE >= 0xA000:
            for ev in self.modem.on_message(msg):
                self._emit(ev)
                if isinstance(ev, LinkStatus):
                    for s in list(self.sessions.values()):
                        if s.state in (S.JOINING, S.MATCHED):
                            self._session(s, I.LINK_UP if ev.up else I.LINK_DOWN, now)
            return
        if getattr(msg, "application_type", 0) != 0 or getattr(msg, "security_type", 0) != 0:
            self.counters["unsupported"] += 1
            return
        if isinstance(msg, CmSlacParmReq):
            self._parm_req(src, msg, now)
            return
        inp = _INPUTS.get(type(msg))
        if inp is None:
            self.counters["wrong_mmtype"] += 1
            return
        sess = self.sessions.get(msg.pev_mac if isinstance(msg, CmAttenProfileInd) else src)
        if sess is None:
            self.counters["foreign_ev"] += 1
            return
        run_id = getattr(msg, "run_id", None)
        if run_id is not None and run_id != sess.run_id:
            self.counters["foreign_run_id"] += 1
            return
        self._msg = msg
        self._session(sess, inp, now)

    def _parm_req(self, src: bytes, msg: CmSlacParmReq, now: float) -> None:
        self._msg = msg
        if src in self.blocked:
            self.counters["blocked_ev"] += 1
            return
        s = self.sessions.get(src)
        if s is not None:
            self._session(s, I.PARM_REQ, now)
            return
        if self.top is not S.WAIT_PARM:
            self.counters["unexpected"] += 1
        elif any(x.state in (S.VALIDATING, S.JOINING, S.MATCHED) for x in self.sessions.values()):
            self.counters["foreign_ev"] += 1
        elif len(self.sessions) >= self.cfg.max_sessions:
            self.counters["too_many_sessions"] += 1
        else:
            new = self.sessions[src] = Session(src)
            self._deadline = None  # TT_EVSE_SLAC_init stops with the first CM_SLAC_PARM.REQ
            self._session(new, I.PARM_REQ, now)

    # ------------------------------------------------------------------ key handling

    def _install_new_key(self, now: float) -> None:
        self.nmk = self._rng(16)
        self.nid = nid_from_nmk(self.nmk, self.cfg.security_level)
        self.key_confirmed = False
        self._key_retries = 0
        self._send_set_key(now)

    def _send_set_key(self, now: float) -> None:
        self._key_deadline = now + self.t.TT_set_key
        self._send(self.cfg.modem_mac, CmSetKeyReq(nid=self.nid, nmk=self.nmk))

    # ------------------------------------------------------------------ station actions

    def _a_nothing(self, now: float) -> S | None:
        return None

    def _a_start_matching(self, now: float) -> S | None:
        self.sessions.clear()
        self.attempt = 0
        self.attempts.clear()
        self.blocked.clear()
        self._sounded.clear()
        self._install_new_key(now)  # a fresh NMK/NID for every session
        self._deadline = now + self.t.TT_EVSE_SLAC_init
        self._set_status(SlacStatus.MATCHING)
        return None

    def _a_stop_matching(self, now: float) -> S | None:
        self._deadline = None
        if any(s.state in (S.JOINING, S.MATCHED) for s in self.sessions.values()):
            self._install_new_key(now)  # leave the EV's network at once
        self.sessions.clear()
        self._set_status(SlacStatus.UNMATCHED, "control pilot left B/C/D")
        return None

    def _a_init_timeout(self, now: float) -> S | None:
        self._set_status(SlacStatus.FAILED, "no CM_SLAC_PARM.REQ within TT_EVSE_SLAC_init")
        return None

    # ------------------------------------------------------------------ session actions

    def _a_answer_parm(self, now: float) -> S | None:
        s, msg = self._s, self._msg
        assert isinstance(msg, CmSlacParmReq)
        if s.state in (S.JOINING, S.MATCHED):
            self._install_new_key(now)
            self._set_status(SlacStatus.MATCHING, "EV restarted matching")
        s.run_id, s.profiles, s.validate_step = msg.run_id, [], 0
        self._send(
            s.ev_mac,
            CmSlacParmCnf(
                forwarding_sta=s.ev_mac,
                run_id=s.run_id,
                num_sounds=self.cfg.num_sounds,
                timeout=self.t.mnbc_timeout_units,
            ),
        )
        s.deadline = now + self.t.TT_match_sequence
        return None

    def _a_start_sounding(self, now: float) -> S | None:
        self._sounded.add(self._s.ev_mac)
        self._s.deadline = now + self.t.mnbc_timeout_units / 10
        if isinstance(self._msg, CmAttenProfileInd):
            return self._a_record_profile(now)
        return None

    def _a_record_profile(self, now: float) -> S | None:
        assert isinstance(self._msg, CmAttenProfileInd)
        self._s.profiles.append(self._msg.aag)
        if len(self._s.profiles) >= self.cfg.num_sounds:
            return self._a_send_atten_char(now)
        return None

    def _atten_char(self, s: Session) -> CmAttenCharInd:
        groups = min(len(p) for p in s.profiles)
        n = len(s.profiles)
        aag = tuple(round(sum(p[g] for p in s.profiles) / n) for g in range(groups))
        return CmAttenCharInd(
            source_address=s.ev_mac, run_id=s.run_id, num_sounds=n, aag=aag, resp_id=self.cfg.evse_id
        )

    def _a_send_atten_char(self, now: float) -> S | None:
        s = self._s
        if not s.profiles:
            return self._a_attempt_failed(now, "no attenuation profile within TT_EVSE_match_MNBC")
        s.retries = 0
        self._send(s.ev_mac, self._atten_char(s))
        s.deadline = now + self.t.TT_match_response
        return S.WAIT_ATTEN_RSP

    def _a_resend_atten_char(self, now: float) -> S | None:
        s = self._s
        if s.retries >= self.t.C_sequ_retry:
            return self._a_attempt_failed(now, "no CM_ATTEN_CHAR.RSP")
        s.retries += 1
        self._send(s.ev_mac, self._atten_char(s))
        s.deadline = now + self.t.TT_match_response
        return None

    def _a_atten_acknowledged(self, now: float) -> S | None:
        assert isinstance(self._msg, CmAttenCharRsp)
        if self._msg.result != 0:
            return self._a_attempt_failed(now, f"CM_ATTEN_CHAR.RSP result {self._msg.result}")
        self._s.deadline = now + self.t.TT_EVSE_match_session
        return None

    def _a_validate(self, now: float) -> S | None:
        s, req = self._s, self._msg
        assert isinstance(req, CmValidateReq)
        s.deadline = now + self.t.TT_EVSE_match_session
        busy = any(x.state is S.VALIDATING for x in self.sessions.values())
        if req.signal_type != 0 or req.result != ValidateResult.READY or busy:
            self._send(s.ev_mac, CmValidateCnf(0, ValidateResult.FAILURE))
            return S.WAIT_MATCH
        if s.validate_step == 0 and req.timer == 0:
            s.validate_step = 1
            self._send(s.ev_mac, CmValidateCnf(0, ValidateResult.READY))
            return S.WAIT_MATCH
        duration = (req.timer + 1) * 0.1
        s.validate_step, s.toggles, s.seen_c = 2, 0, False
        s.window = (now, duration)
        s.deadline = now + duration
        self._emit(ValidationWindow(True, now, duration))
        return S.VALIDATING

    def _a_close_validation(self, now: float) -> S | None:
        s = self._s
        start, duration = s.window
        self._emit(ValidationWindow(False, start, duration, s.toggles))
        self._send(s.ev_mac, CmValidateCnf(s.toggles, ValidateResult.SUCCESS))
        s.validate_step = 0
        s.deadline = now + self.t.TT_EVSE_match_session
        return None

    def _a_answer_match(self, now: float) -> S | None:
        s, req = self._s, self._msg
        assert isinstance(req, CmSlacMatchReq)
        if req.pev_mac != s.ev_mac or req.evse_mac != self.cfg.mac:
            self.counters["foreign_ev"] += 1
            return s.state
        self._send(
            s.ev_mac,
            CmSlacMatchCnf(
                pev_mac=req.pev_mac,
                evse_mac=self.cfg.mac,
                run_id=s.run_id,
                nid=self.nid,
                nmk=self.nmk,
                pev_id=req.pev_id,
                evse_id=self.cfg.evse_id,
            ),
        )
        if s.state in (S.JOINING, S.MATCHED):
            return None
        for other in [x for x in self.sessions if x != s.ev_mac]:  # the first match wins
            del self.sessions[other]
        s.join_deadline = now + self.t.TT_match_join
        if not self.modem.can_poll:
            s.deadline = None
            return self._a_link_ready(now)
        s.deadline = now + self.t.TP_link_ready_notification
        return None

    def _a_poll_link(self, now: float) -> S | None:
        s = self._s
        if s.state is S.JOINING and now >= s.join_deadline:
            return self._a_attempt_failed(now, "link not up within TT_match_join")
        self._out.frames += self.modem.link_request()
        if s.state is S.JOINING:
            s.deadline = min(now + self.t.TP_link_ready_notification, s.join_deadline)
        else:
            s.deadline = now + MATCHED_POLL_PERIOD
        return None

    def _a_link_ready(self, now: float) -> S | None:
        s = self._s
        s.deadline = now + MATCHED_POLL_PERIOD if self.modem.can_poll else None
        self._set_status(SlacStatus.MATCHED, ev_mac=s.ev_mac)
        return S.MATCHED

    def _a_link_lost(self, now: float) -> S | None:
        self._set_status(SlacStatus.MATCHING, "PLC link lost", self._s.ev_mac)
        self._install_new_key(now)
        self._deadline = now + self.t.TT_EVSE_SLAC_init
        return S.WAIT_PARM

    def _a_not_chosen(self, now: float) -> S | None:
        self.counters["session_expired"] += 1
        if len(self.sessions) == 1:
            self._deadline = now + self.t.TT_EVSE_SLAC_init
        return S.WAIT_PARM

    def _a_attempt_failed(self, now: float, reason: str = "") -> S | None:
        s = self._s
        reason = reason or f"timeout in {s.state.value}"
        self.attempts[s.ev_mac] += 1
        n = self.attempts[s.ev_mac]
        self.attempt = max(self.attempts.values())
        self._emit(AttemptFailed(n, reason))
        if n >= self.t.C_conn_max_match and s.ev_mac not in self._sounded:
            # a host that asks (CM_SLAC_PARM.REQ) and never sounds: foreign or stale; it must not use up the
            # attempts of the car on this cable, which may still be about to start
            self.blocked.add(s.ev_mac)
            self.counters["blocked_ev"] += 1
            if len(self.sessions) <= 1:
                self._deadline = now + self.t.TT_EVSE_SLAC_init
            return S.WAIT_PARM
        if n >= self.t.C_conn_max_match:
            self.sessions.clear()
            self._deadline = None
            self.top = S.FAILED
            self._set_status(SlacStatus.FAILED, reason, s.ev_mac)
            return S.FAILED
        if len(self.sessions) <= 1:
            self._deadline = now + self.t.TT_EVSE_SLAC_init
        return S.WAIT_PARM


_INPUTS: dict[type[Message], I] = {
    CmStartAttenCharInd: I.START_ATTEN,
    CmMnbcSoundInd: I.SOUND,
    CmAttenProfileInd: I.PROFILE,
    CmAttenCharRsp: I.ATTEN_RSP,
    CmValidateReq: I.VALIDATE_REQ,
    CmSlacMatchReq: I.MATCH_REQ,
}
"""Messages the EVSE acts on (besides CM_SLAC_PARM.REQ); any other SLAC MMTYPE counts as ``wrong_mmtype``."""
