"""Sans-IO SLAC core of the EV (the other side), for the EV simulator and for tests.

:meth:`EvSlac.start` begins matching (the EV saw state B); frames, the current time and timer calls go in,
an :class:`~josev.slac.events.Output` comes out. The EV collects every CM_SLAC_PARM.CNF within
TT_match_response, sounds, collects CM_ATTEN_CHAR.IND within TT_EV_atten_results, picks the EVSE with the
lowest average attenuation, optionally validates it with CM_VALIDATE (BCB toggles, emitted as
:class:`~josev.slac.events.ToggleRequest`), sends CM_SLAC_MATCH.REQ, installs the received NMK in its own
modem with CM_SET_KEY and reports matched once the modem's link is up.
"""

from __future__ import annotations

import enum
import math
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from josev.slac.errors import FrameError
from josev.slac.events import (
    AttemptFailed,
    EvMatched,
    LinkStatus,
    Output,
    SlacEvent,
    SlacStatus,
    StatusChanged,
    ToggleRequest,
)
from josev.slac.frame import encode_frame, parse_frame
from josev.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
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
from josev.slac.modem import QCA_LOCAL_MANAGEMENT_MAC, ModemSupervisor
from josev.slac.timers import DEFAULT_TIMINGS, SlacTimings


class E(enum.StrEnum):
    """EV SLAC states."""

    IDLE = "idle"
    WAIT_PARM_CNF = "wait_parm_cnf"
    SOUNDING = "sounding"
    WAIT_ATTEN_CHAR = "wait_atten_char"
    VALIDATE_READY = "validate_ready"
    VALIDATE_TOGGLE = "validate_toggle"
    WAIT_MATCH_CNF = "wait_match_cnf"
    JOINING = "joining"
    MATCHED = "matched"
    FAILED = "failed"


class Validate(enum.StrEnum):
    """When the EV validates its choice with CM_VALIDATE."""

    NEVER = "never"
    ALWAYS = "always"
    AMBIGUOUS = "ambiguous"
    """Only when two EVSEs are within ``ambiguity_db`` of each other."""


@dataclass(frozen=True, slots=True)
class EvSlacConfig:
    """Configuration of the EV side."""

    mac: bytes
    pev_id: bytes = bytes(17)
    modem_mac: bytes = QCA_LOCAL_MANAGEMENT_MAC
    timings: SlacTimings = DEFAULT_TIMINGS
    validate: Validate = Validate.AMBIGUOUS
    ambiguity_db: float = 3.0


@dataclass(slots=True)
class Candidate:
    """One EVSE that answered CM_SLAC_PARM.REQ."""

    mac: bytes
    average: float | None = None
    evse_id: bytes = bytes(17)


class EvSlac:
    """The EV SLAC state machine."""

    def __init__(self, config: EvSlacConfig, rng: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.cfg = config
        self.t = config.timings
        self._rng = rng
        self.state = E.IDLE
        self.counters: Counter[str] = Counter()
        self.modem = ModemSupervisor(config.mac, config.modem_mac, self.t.TT_modem_probe)
        self.run_id = bytes(8)
        self.candidates: dict[bytes, Candidate] = {}
        self.ranking: list[Candidate] = []
        self.chosen: Candidate | None = None
        self.nmk: bytes | None = None
        self.nid: bytes | None = None
        self.attempt = 0
        self._retries = 0
        self._sent = 0
        self._deadline: float | None = None
        self._join_deadline = 0.0
        self._validated_run = False
        self._out = Output()

    # ------------------------------------------------------------------ inputs

    def probe_modem(self, now: float) -> Output:
        """Detect the local modem's vendor (before :meth:`start`, optional)."""
        self._out = Output()
        self._out.frames += self.modem.probe(now)
        return self._finish()

    def start(self, now: float) -> Output:
        """Begin a matching run (the EV is plugged: CP state B)."""
        self._out = Output()
        self.attempt = 0
        self._new_run(now)
        self._emit(StatusChanged(SlacStatus.MATCHING))
        return self._finish()

    def stop(self, now: float) -> Output:
        """Unplugged: forget everything."""
        self._out = Output()
        if self.state is not E.IDLE:
            self._emit(StatusChanged(SlacStatus.UNMATCHED, reason="stopped"))
        self.state = E.IDLE
        self._deadline = None
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
        """Call at (or after) the last returned deadline."""
        self._out = Output()
        self._out.events += self.modem.on_timer(now)
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._timeout(now)
        return self._finish()

    # ------------------------------------------------------------------ plumbing

    def _finish(self) -> Output:
        out = self._out
        times = [t for t in (self._deadline, self.modem.probe_deadline) if t is not None]
        out.deadline = min(times) if times else None
        self._out = Output()
        return out

    def _send(self, dst: bytes, msg: Message) -> None:
        self._out.frames.append(encode_frame(dst, self.cfg.mac, msg))

    def _emit(self, event: SlacEvent) -> None:
        self._out.events.append(event)

    def _new_run(self, now: float) -> None:
        self.run_id = self._rng(8)
        self.candidates = {}
        self.chosen = None
        self._validated_run = False
        self._retries = 0
        self.state = E.WAIT_PARM_CNF
        self._send(BROADCAST, CmSlacParmReq(self.run_id))
        self._deadline = now + self.t.TT_match_response

    def _fail_attempt(self, now: float, reason: str) -> None:
        self.attempt += 1
        self._emit(AttemptFailed(self.attempt, reason))
        if self.attempt >= self.t.C_conn_max_match:
            self.state = E.FAILED
            self._deadline = None
            self._emit(StatusChanged(SlacStatus.FAILED, reason=reason))
        else:
            self._new_run(now)

    def _timeout(self, now: float) -> None:
        st = self.state
        if st is E.WAIT_PARM_CNF:
            if self.candidates:
                self._sent = 0
                self.state = E.SOUNDING
                self._sound(now)
            elif self._retries < self.t.C_EV_match_retry:
                self._retries += 1
                self._send(BROADCAST, CmSlacParmReq(self.run_id))
                self._deadline = now + self.t.TT_match_response
            else:
                self._fail_attempt(now, "no CM_SLAC_PARM.CNF")
        elif st is E.SOUNDING:
            self._sound(now)
        elif st is E.WAIT_ATTEN_CHAR:
            self._choose(now)
        elif st in (E.VALIDATE_READY, E.VALIDATE_TOGGLE, E.WAIT_MATCH_CNF):
            if st is not E.VALIDATE_TOGGLE and self._retries < self.t.C_EV_match_retry:
                self._retries += 1
                self._request_again(now)
            else:
                self._next_candidate(now, f"no answer in {st.value}")
        elif st is E.JOINING:
            if now >= self._join_deadline:
                self._fail_attempt(now, "link not up within TT_match_join")
            else:
                self._out.frames += self.modem.link_request()
                self._deadline = min(now + self.t.TP_link_ready_notification, self._join_deadline)

    def _sound(self, now: float) -> None:
        n_start = self.t.C_EV_start_atten_char_inds
        n_sounds = self.t.C_EV_match_MNBC
        units = max(1, round(self.t.TT_EVSE_match_MNBC * 10))
        if self._sent < n_start:
            self._send(
                BROADCAST,
                CmStartAttenCharInd(
                    forwarding_sta=self.cfg.mac, run_id=self.run_id, num_sounds=n_sounds, timeout=units
                ),
            )
        else:
            remaining = n_start + n_sounds - self._sent - 1
            self._send(
                BROADCAST,
                CmMnbcSoundInd(
                    sender_id=self.cfg.pev_id, count=remaining, run_id=self.run_id, rnd=self._rng(16)
                ),
            )
        self._sent += 1
        if self._sent >= n_start + n_sounds:
            self.state = E.WAIT_ATTEN_CHAR
            self._deadline = now + self.t.TT_EV_atten_results
        else:
            self._deadline = now + self.t.TP_EV_batch_msg_interval

    def _choose(self, now: float) -> None:
        measured = [c for c in self.candidates.values() if c.average is not None]
        if not measured:
            self._fail_attempt(now, "no CM_ATTEN_CHAR.IND")
            return
        self.ranking = sorted(measured, key=lambda c: c.average if c.average is not None else math.inf)
        self._try_candidate(now)

    def _needs_validation(self) -> bool:
        if self.cfg.validate is Validate.ALWAYS or self._validated_run:
            return True
        if self.cfg.validate is Validate.NEVER or len(self.ranking) < 2:
            return False
        a, b = self.ranking[0].average, self.ranking[1].average
        return a is not None and b is not None and b - a < self.cfg.ambiguity_db

    def _try_candidate(self, now: float) -> None:
        self.chosen = self.ranking[0]
        self._retries = 0
        if self._needs_validation():
            self._validated_run = True  # once ambiguous, every candidate of this run is validated
            self.state = E.VALIDATE_READY
        else:
            self.state = E.WAIT_MATCH_CNF
        self._request_again(now)

    def _next_candidate(self, now: float, reason: str) -> None:
        if self.ranking:
            self.ranking.pop(0)
        if self.ranking:
            self._try_candidate(now)
        else:
            self._fail_attempt(now, reason)

    def _toggle_timer(self) -> int:
        """Timer field: the window must hold all BCB toggles plus one state of margin."""
        needed = (2 * self.t.C_EV_vald_nb_toggles + 1) * self.t.TP_EV_vald_state_duration
        return max(0, math.ceil(round(needed * 10, 6)) - 1)

    def _request_again(self, now: float) -> None:
        assert self.chosen is not None
        dst = self.chosen.mac
        if self.state is E.VALIDATE_READY:
            self._send(dst, CmValidateReq(timer=0, result=ValidateResult.READY))
            self._deadline = now + self.t.TT_match_response
        elif self.state is E.WAIT_MATCH_CNF:
            self._send(
                dst,
                CmSlacMatchReq(
                    pev_mac=self.cfg.mac,
                    evse_mac=dst,
                    run_id=self.run_id,
                    pev_id=self.cfg.pev_id,
                    evse_id=self.chosen.evse_id,
                ),
            )
            self._deadline = now + self.t.TT_match_response

    # ------------------------------------------------------------------ received messages

    def _dispatch(self, src: bytes, msg: Message, now: float) -> None:
        if msg.BASE >= 0xA000:
            for ev in self.modem.on_message(msg):
                self._emit(ev)
                if isinstance(ev, LinkStatus) and ev.up and self.state is E.JOINING:
                    self._link_up(now)
            return
        if isinstance(msg, CmSetKeyCnf):
            if self.state is E.JOINING and not self.modem.can_poll:
                self._link_up(now)
            return
        run_id = getattr(msg, "run_id", None)
        if run_id is not None and run_id != self.run_id:
            self.counters["foreign_run_id"] += 1
            return
        if isinstance(msg, CmSlacParmCnf):
            if self.state is not E.WAIT_PARM_CNF:
                self.counters["unexpected"] += 1
            elif msg.forwarding_sta != self.cfg.mac:
                self.counters["foreign_ev"] += 1
            else:
                self.candidates.setdefault(src, Candidate(src))
            return
        if isinstance(msg, CmAttenCharInd):
            cand = self.candidates.get(src)
            if cand is None or msg.source_address != self.cfg.mac:
                self.counters["foreign_evse"] += 1
                return
            if self.state not in (E.SOUNDING, E.WAIT_ATTEN_CHAR):
                self.counters["unexpected"] += 1
                return
            cand.average = msg.average
            cand.evse_id = msg.resp_id
            self._send(
                src,
                CmAttenCharRsp(
                    source_address=self.cfg.mac,
                    run_id=self.run_id,
                    source_id=self.cfg.pev_id,
                    resp_id=msg.resp_id,
                ),
            )
            if self.state is E.WAIT_ATTEN_CHAR and all(
                c.average is not None for c in self.candidates.values()
            ):
                self._deadline = None
                self._choose(now)
            return
        if self.chosen is None or src != self.chosen.mac:
            self.counters["unexpected"] += 1
            return
        if isinstance(msg, CmValidateCnf):
            self._on_validate_cnf(msg, now)
        elif isinstance(msg, CmSlacMatchCnf) and self.state is E.WAIT_MATCH_CNF:
            if msg.pev_mac != self.cfg.mac:
                self.counters["foreign_ev"] += 1
                return
            self.nmk, self.nid = msg.nmk, msg.nid
            self._emit(EvMatched(src, msg.nid, msg.nmk, msg.evse_id))
            self._send(self.cfg.modem_mac, CmSetKeyReq(nid=msg.nid, nmk=msg.nmk))
            self.state = E.JOINING
            self._join_deadline = now + self.t.TT_match_join
            self._deadline = now + self.t.TP_link_ready_notification
        else:
            self.counters["unexpected"] += 1

    def _on_validate_cnf(self, msg: CmValidateCnf, now: float) -> None:
        assert self.chosen is not None
        if self.state is E.VALIDATE_READY:
            if msg.result == ValidateResult.NOT_REQUIRED:
                self.state, self._retries = E.WAIT_MATCH_CNF, 0
                self._request_again(now)
            elif msg.result == ValidateResult.READY:
                timer = self._toggle_timer()
                self._send(self.chosen.mac, CmValidateReq(timer=timer, result=ValidateResult.READY))
                self._emit(ToggleRequest(self.t.C_EV_vald_nb_toggles, self.t.TP_EV_vald_state_duration))
                self.state = E.VALIDATE_TOGGLE
                self._deadline = now + (timer + 1) * 0.1 + self.t.TT_match_response
            else:
                self._next_candidate(now, f"CM_VALIDATE.CNF result {msg.result}")
        elif self.state is E.VALIDATE_TOGGLE:
            if msg.result == ValidateResult.SUCCESS and msg.toggle_num == self.t.C_EV_vald_nb_toggles:
                self.state, self._retries = E.WAIT_MATCH_CNF, 0
                self._request_again(now)
            else:
                self.counters["validation_mismatch"] += 1
                self._next_candidate(now, f"validation: {msg.toggle_num} toggles counted")
        else:
            self.counters["unexpected"] += 1

    def _link_up(self, now: float) -> None:
        assert self.chosen is not None
        self.state = E.MATCHED
        self._deadline = None
        self._emit(StatusChanged(SlacStatus.MATCHED, self.cfg.mac, self.nid))
