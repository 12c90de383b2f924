"""The sans-IO coordinator of one EVSE: inputs and the current time in, commands and reports out.

Feed it pilot readings (:meth:`EvseCore.cp`), authorization, limits, SLAC/HLC progress, faults and meter
samples; call :meth:`EvseCore.poll` at :meth:`EvseCore.next_deadline`. It returns a list of outputs
(:class:`PilotCmd`, :class:`ContactorCmd`, :class:`LockCmd`, :class:`StatusOut`, :class:`SessionOut`). The
decisions come from :data:`josev.coordinator.table.TABLE`; the pilot, contactor and lock follow from the
state (see :func:`pilot_for`), so the contactor can only be closed in the states that allow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hal.types import CpState, MeterReading, PilotMode, PilotOutput
from josev.coordinator.config import EvseConfig
from josev.coordinator.contactor import ContactorSupervisor, CSt
from josev.coordinator.duty import HLC_DUTY, MIN_CURRENT_A, current_to_duty
from josev.coordinator.limits import Limits
from josev.coordinator.outputs import ContactorCmd, LockCmd, Out, PilotCmd, Session, SessionOut, StatusOut
from josev.coordinator.states import CONTACTOR_CLOSED_STATES, LOCKED_STATES, In, St
from josev.coordinator.status import detailed_status, ocpp_status
from josev.coordinator.table import TABLE, Act, Choice, Target

__all__ = ["ContactorCmd", "EvseCore", "LockCmd", "Out", "PilotCmd", "Session", "SessionOut", "StatusOut"]

_OFF_MODES = (PilotMode.F, PilotMode.E)
RECOVERABLE_FAULTS = frozenset({"pilot_short", "pilot_fault", "diode_fault"})
"""Faults retried automatically after ``fault_retry_s``; all others stay until cleared."""
_CP_INPUT = {
    CpState.A: In.CP_A,
    CpState.B: In.CP_B,
    CpState.C: In.CP_C,
    CpState.D: In.CP_D,
    CpState.E: In.CP_E,
    CpState.F: In.CP_F,
}
_FAULT_OF_INPUT = {
    In.CP_E: "pilot_short",
    In.CP_F: "pilot_fault",
    In.DIODE_FAULT: "diode_fault",
    In.RCD_TRIP: "rcd_trip",
}


@dataclass
class _PreAuth:
    id_token: str | None
    source: str
    until: float


@dataclass
class EvseCore:
    """Coordinator of one EVSE."""

    cfg: EvseConfig = field(default_factory=EvseConfig)
    session_prefix: str = "s"
    state: St = St.IDLE
    session: Session | None = None
    faults: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    operative: bool = True
    reserved_for: str | None = None
    history: list[tuple[float, St, In, St]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.limits.set("evse", self.cfg.evse_max_a)
        self.limits.set("connector", self.cfg.connector_max_a)
        self._cp: CpState | None = None
        self._pilot = PilotOutput(PilotMode.X1)
        self._contactor = False
        self._locked = False
        self._deadline: float | None = None
        self._reservation_until: float | None = None
        self._preauth: _PreAuth | None = None
        self._limit_ok = self.limits.effective() >= MIN_CURRENT_A
        self._status: StatusOut | None = None
        self._n = 0
        self._sup = ContactorSupervisor(self.cfg.contactor_timeout_s)
        self._meter_lost = False
        self._energy: float | None = None
        self._export: float | None = None
        self._out: list[Out] = []
        self._pending_reason: str | None = None
        self._now = 0.0
        self._pending_auth: tuple[str | None, str] = (None, "ocpp")
        self._powered: Session | None = None
        """The session the contactor was last closed for (its final reading comes when it opens)."""

    # ---- inputs ----------------------------------------------------------------------------------

    def start(self, now: float) -> list[Out]:
        """Initial outputs (pilot, contactor open, status)."""
        self._out.append(ContactorCmd(False))
        self._out.append(PilotCmd(self._pilot))
        self._sync(now)
        return self._flush()

    def cp(self, state: CpState, now: float, diode_fault: bool = False) -> list[Out]:
        """A classified pilot reading (pass every change; repeats are harmless)."""
        self._cp = state
        if diode_fault:
            self._feed(In.DIODE_FAULT, now)
        else:
            self._feed(_CP_INPUT[state], now)
        return self._flush()

    def authorize(self, now: float, id_token: str | None = None, source: str = "ocpp") -> list[Out]:
        """The session (or the next plug-in) is authorized by ``source`` (ocpp, local, rfid, pnc, free)."""
        if self.reserved_for is not None and self.session is None and id_token != self.reserved_for:
            raise PermissionError(f"EVSE {self.cfg.evse} is reserved for another id token")
        if self.session is None:
            self._preauth = _PreAuth(id_token, source, now + self.cfg.preauth_timeout_s)
        self._pending_auth = (id_token, source)
        self._feed(In.AUTHORIZED, now)
        return self._flush()

    def deauthorize(self, now: float, reason: str = "deauthorized") -> list[Out]:
        """Authorization withdrawn (e.g. OCPP Invalid after an offline start)."""
        self._pending_reason = reason
        self._feed(In.DEAUTHORIZED, now)
        return self._flush()

    def stop(self, now: float, reason: str = "local") -> list[Out]:
        """Stop charging (station, operator, remote): the EV stays connected, the session is finished."""
        self._pending_reason = reason
        self._feed(In.STOP, now)
        return self._flush()

    def set_limit(self, source: str, amps: float | None, now: float) -> list[Out]:
        """Set one limit source (A per phase, None clears it); re-announces the PWM when it changes."""
        self.limits.set(source, amps)
        ok = self.limits.effective() >= MIN_CURRENT_A
        if ok != self._limit_ok:
            self._limit_ok = ok
            self._feed(In.LIMIT_OK if ok else In.LIMIT_ZERO, now)
        else:
            self._sync(now)
        return self._flush()

    def slac(self, matched: bool, now: float) -> list[Out]:
        """SLAC result: matched, or failed / link lost."""
        self._feed(In.SLAC_MATCHED if matched else In.SLAC_FAILED, now)
        return self._flush()

    def hlc_power(self, on: bool, now: float) -> list[Out]:
        """The SECC requests power delivery on/off (PowerDelivery start / stop)."""
        self._feed(In.HLC_POWER_ON if on else In.HLC_POWER_OFF, now)
        return self._flush()

    def hlc_failed(self, now: float, reason: str = "hlc_failed") -> list[Out]:
        """A V2G session ended abnormally (``reason``: the SECC's cause, e.g. a FAILED code, sequence_timeout,
        connection_lost); see the table for what follows (a retry on the same plug-in, or HLC has failed:
        the session stops with reason ``hlc_failed``)."""
        self._pending_reason = reason
        self._feed(In.HLC_FAILED, now)
        return self._flush()

    def rcd(self, tripped: bool, now: float) -> list[Out]:
        """Residual-current monitor state."""
        if tripped:
            self._feed(In.RCD_TRIP, now)
        else:
            self._clear("rcd_trip", now)
        return self._flush()

    def contactor_feedback(self, closed: bool | None, now: float) -> list[Out]:
        """Contactor feedback reading (None: no feedback contact)."""
        if closed is not None and self.cfg.contactor_feedback:
            self._contactor_fault(self._sup.feedback(closed, now), now)
        return self._flush()

    def hw_fault(self, reason: str, now: float) -> list[Out]:
        """A hardware fault reported by the HAL (lock, meter, board...)."""
        self._pending_reason = reason
        self._feed(In.HW_FAULT, now)
        return self._flush()

    def clear_fault(self, reason: str | None, now: float) -> list[Out]:
        """Clear one fault reason (None: all), e.g. an operator reset after an RCD trip."""
        if reason is None:
            self.faults.clear()
            self._feed(In.FAULT_CLEARED, now)
        else:
            self._clear(reason, now)
        return self._flush()

    def meter(self, reading: MeterReading | None, now: float) -> list[Out]:
        """A meter sample, or None when the meter did not answer."""
        if reading is None:
            if not self._meter_lost:
                self._meter_lost = True
                if self.session is not None:
                    self.session.unmetered = True
                if self.cfg.meter_loss == "stop" and self.session is not None:
                    self._pending_reason = "meter_lost"
                    self._feed(In.STOP, now)
                elif self.cfg.meter_loss == "fault":
                    self._pending_reason = "meter_lost"
                    self._feed(In.HW_FAULT, now)
            return self._flush()
        if self._meter_lost:
            self._meter_lost = False
            if "meter_lost" in self.faults:
                self._clear("meter_lost", now)
        self._energy = reading.energy_wh
        self._export = reading.energy_export_wh
        s = self.session
        # after the contactor opened, the reading taken then is final (a periodic sample read just before it
        # may still arrive): no energy flows until the contactor closes again
        if s is not None and (s.energy_at_open is None or self._powered is s):
            if s.energy_start is None:
                s.energy_start = reading.energy_wh
            s.energy_now = reading.energy_wh
            if reading.energy_export_wh is not None:
                if s.export_start is None:
                    s.export_start = reading.energy_export_wh
                s.export_now = reading.energy_export_wh
        return self._flush()

    def shutdown(self, now: float) -> list[Out]:
        """The station stops: open the contactor (its reading then is the session's final energy) and end the
        running session with reason ``station_stop``. The last outputs of this core."""
        s = self.session
        powered = self.state in CONTACTOR_CLOSED_STATES
        if s is not None:
            self._stop(s, "station_stop")
        self.session = None
        self.state = St.UNAVAILABLE
        self._sync(now)  # contactor open (first), pilot F, status Unavailable without a session
        if s is not None:
            if powered:
                self._out.append(self._session_out("charging_stopped", s, "station_stop"))
            self._out.append(self._session_out("ended", s, "station_stop"))
        return self._flush()

    def hal_confirmed(self, now: float) -> list[Out]:
        """The HAL of this run answered a command: contactor feedback is judged from now on (what came before
        may be retained history from before a restart)."""
        if self.cfg.contactor_feedback:
            self._sup.recheck(self._contactor, now)
        return self._flush()

    def contactor_opened(self, energy_wh: float, export_wh: float | None, now: float) -> list[Out]:
        """The meter reading the HAL took right after the contactor opened: the final energy of the session it
        was closed for (even when that session has already ended in the same step, e.g. by unplugging)."""
        self._energy = energy_wh
        if export_wh is not None:
            self._export = export_wh
        s, self._powered = self._powered, None
        if s is not None:
            if s.energy_start is None:
                s.energy_start = energy_wh
            s.energy_now = s.energy_at_open = energy_wh
            if export_wh is not None:
                if s.export_start is None:
                    s.export_start = export_wh
                s.export_now = export_wh
        return self._flush()

    def set_available(self, available: bool, now: float) -> list[Out]:
        """Operator availability (OCPP ChangeAvailability); takes effect after a running session."""
        self._feed(In.SET_AVAILABLE if available else In.SET_UNAVAILABLE, now)
        return self._flush()

    def reserve(self, id_token: str, until: float, now: float) -> list[Out]:
        """Reserve the EVSE for ``id_token`` until ``until``; PermissionError when not idle."""
        if self.state is not St.IDLE:
            raise PermissionError(f"EVSE {self.cfg.evse} is {self.state.value}, cannot reserve")
        self.reserved_for, self._reservation_until = id_token, until
        self._feed(In.RESERVE, now)
        return self._flush()

    def unlock(self, now: float) -> list[Out]:
        """Unlock on request (OCPP UnlockConnector): PermissionError while a session holds the connector locked."""
        if self.cfg.has_lock and self.want_locked():
            raise PermissionError(
                f"EVSE {self.cfg.evse}: a session holds the connector locked ({self.state.value})"
            )
        self._locked = False
        out = self._flush()
        return [*out, LockCmd(False)] if self.cfg.has_lock else out

    def cancel_reservation(self, now: float) -> list[Out]:
        """Cancel the reservation."""
        self._feed(In.CANCEL_RESERVATION, now)
        return self._flush()

    def feed(self, inp: In, now: float, reason: str | None = None) -> list[Out]:
        """Low-level: apply one table input directly (tests and tools; services use the typed methods)."""
        self._pending_reason = reason
        self._feed(inp, now)
        return self._flush()

    def poll(self, now: float) -> list[Out]:
        """Run timers that are due."""
        self._contactor_fault(self._sup.poll(now), now)
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._feed(In.TIMEOUT, now)
        return self._flush()

    def next_deadline(self) -> float | None:
        """When :meth:`poll` must be called next (None: no timer)."""
        ds = [d for d in (self._deadline, self._sup.deadline) if d is not None]
        return min(ds) if ds else None

    # ---- views -----------------------------------------------------------------------------------

    @property
    def contactor_closed(self) -> bool:
        """What the contactor is commanded to."""
        return self._contactor

    @property
    def pilot(self) -> PilotOutput:
        """What the pilot is driven with."""
        return self._pilot

    @property
    def cp_state(self) -> CpState | None:
        """Last pilot reading valid under the current pilot output."""
        return self._cp

    def powers(self, s: Session) -> bool:
        """The contactor was closed for ``s`` and its reading at opening has not come yet."""
        return self._powered is s

    def guard(self, name: str) -> bool:
        """Evaluate a guard of the table."""
        s = self.session
        if name == "hlc":
            return self.cfg.hlc_offered and not (s is not None and s.hlc_failed)
        if name == "authorized":
            pre = self._preauth
            return (
                self.cfg.free_charging
                or (s is not None and s.authorized)
                or (pre is not None and pre.until >= self._now)
            )
        if name == "limit_ok":
            return self._limit_ok
        if name == "retry_left":
            return s is not None and s.slac_tries < self.cfg.slac_retries
        if name == "fallback":
            return self.cfg.basic_fallback and self.cfg.dc is None
        if name == "v2g_retry":
            return s is not None and s.v2g_failures < self.cfg.v2g_retries
        if name == "dc":
            return self.cfg.dc is not None
        if name == "power_on":
            return s is not None and s.power_on
        if name == "ev_ready":
            return self._cp in (CpState.C, CpState.D)
        if name == "stop_requested":
            return s is not None and s.stop_reason is not None
        raise KeyError(name)

    # ---- machinery -------------------------------------------------------------------------------

    def _resolve(self, t: Target) -> St:
        while isinstance(t, Choice):
            t = t.then if self.guard(t.guard) else t.otherwise
        return t

    def _feed(self, inp: In, now: float) -> None:
        self._now = now
        rule = TABLE[(self.state, inp)]
        nxt = self._resolve(rule.next)
        prev = self.state
        self._act(rule.act, inp, now, nxt)
        self.state = nxt
        self.history.append((now, prev, inp, nxt))
        if nxt is not prev:
            self._enter(prev, nxt, now)
        self._sync(now)
        if nxt is not prev:
            self._resync(now)
        self._pending_reason = None

    def _resync(self, now: float) -> None:
        """After entering a state, apply conditions that already hold (operator, reservation, pilot)."""
        if self.state in (St.IDLE, St.RESERVED) and not self.operative:
            self._feed(In.SET_UNAVAILABLE, now)
        elif self.state is St.IDLE and self.reserved_for is not None and self._reservation_until is not None:
            self._feed(In.RESERVE, now)
        elif self._cp is not None and TABLE[(self.state, _CP_INPUT[self._cp])].next != self.state:
            self._feed(_CP_INPUT[self._cp], now)

    def _act(self, act: Act, inp: In, now: float, nxt: St) -> None:
        s = self.session
        reason = self._pending_reason
        if act is Act.SESSION_START:
            self._n += 1
            s = self.session = Session(id=f"{self.session_prefix}{self.cfg.evse}-{self._n}", started_at=now)
            s.energy_start = s.energy_now = self._energy
            s.export_start = s.export_now = self._export
            self._out.append(SessionOut("started", s.id))
            pre = self._preauth
            if pre is not None and pre.until >= now:
                self._authorize_session(pre.id_token, pre.source)
            elif self.cfg.free_charging:
                self._authorize_session(None, "free")
            self._preauth = None
            self.reserved_for = self._reservation_until = None
        elif act is Act.SESSION_END and s is not None:
            if s.stop_reason is None:
                s.stop_reason = "ev_disconnected"
            self._out.append(self._session_out("ended", s, s.stop_reason))
            self.session = None
        elif act is Act.FAULT:
            r = reason or _FAULT_OF_INPUT.get(inp, inp.value)
            if r not in self.faults:
                self.faults.append(r)
            if s is not None and s.stop_reason is None:
                s.stop_reason = r
                self._out.append(self._session_out("stopped", s, r))
        elif act is Act.FAULT_CLEAR:
            self.faults.clear()
            self._cp = None
        elif act is Act.AUTH:
            tok, src = self._pending_auth
            if s is not None:
                s.stop_reason = None
                self._authorize_session(tok, src)
        elif act is Act.DEAUTH:
            self._preauth = None
            if s is not None:
                s.authorized = False
                self._stop(s, reason or "deauthorized")
        elif act is Act.STOP and s is not None:
            self._stop(s, reason or "local")
        elif act is Act.SLAC_FAIL and s is not None:
            if self.guard("retry_left"):
                s.slac_tries += 1
            else:
                s.hlc_failed = True
                if not self.guard("fallback"):
                    self._stop(s, "slac_failed")
        elif act is Act.HLC_FAIL and s is not None and inp is In.HLC_FAILED and nxt is St.HLC:
            # the V2G session ended abnormally, the plug-in goes on: a new V2G session starts from scratch
            s.v2g_failures += 1
            s.power_on = False
        elif act is Act.HLC_FAIL and s is not None:
            s.hlc_failed = True
            if not self.guard("fallback") or self.state is St.HLC_CHARGING:
                # one word for the session's end (OCPP maps it); the SECC's cause is in its own report
                self._stop(s, "slac_failed" if inp is In.SLAC_FAILED else "hlc_failed")
        elif act is Act.POWER_ON and s is not None:
            s.power_on = True
        elif act is Act.POWER_OFF and s is not None:
            s.power_on = False
        elif act is Act.INOPERATIVE:
            self.operative = False
        elif act is Act.OPERATIVE:
            self.operative = True
        elif act is Act.UNRESERVE:
            self.reserved_for = self._reservation_until = None
        elif act is Act.FORCED_OPEN and s is not None:
            self._out.append(self._session_out("forced_open", s, "ev_did_not_stop"))

    def _authorize_session(self, tok: str | None, src: str) -> None:
        s = self.session
        assert s is not None
        s.authorized, s.id_token, s.auth_source = True, tok, src
        self._out.append(SessionOut("authorized", s.id, id_token=tok, auth_source=src))

    def _stop(self, s: Session, reason: str) -> None:
        if s.stop_reason is None:
            s.stop_reason = reason
            self._out.append(self._session_out("stopped", s, reason))

    def _session_out(self, kind: str, s: Session, reason: str = "") -> SessionOut:
        return SessionOut(
            kind,
            s.id,
            reason,
            s.id_token,
            s.auth_source,
            s.energy_wh(),
            s.unmetered,
            s.energy_export_wh(),
            session=s,
        )

    def _enter(self, prev: St, nxt: St, now: float) -> None:
        self._deadline = None
        if nxt is St.HLC_WAIT:
            self._deadline = now + self.cfg.slac_init_timeout_s
        elif nxt is St.EF_PAUSE:
            self._deadline = now + self.cfg.t_step_ef_s
        elif nxt is St.STOPPING:
            self._deadline = now + self.cfg.stop_timeout_s
        elif nxt is St.FAULTED and all(f in RECOVERABLE_FAULTS for f in self.faults):
            self._deadline = now + self.cfg.fault_retry_s
        elif nxt is St.RESERVED:
            self._deadline = self._reservation_until
        s = self.session
        if s is not None and nxt in CONTACTOR_CLOSED_STATES and prev not in CONTACTOR_CLOSED_STATES:
            s.charged = True
            self._out.append(self._session_out("charging_started", s))
        if s is not None and prev in CONTACTOR_CLOSED_STATES and nxt not in CONTACTOR_CLOSED_STATES:
            self._out.append(self._session_out("charging_stopped", s, s.stop_reason or ""))
        if nxt is St.FAULTED and s is not None:
            self._out.append(self._session_out("ended", s, s.stop_reason or "fault"))
            self.session = None

    def pilot_for(self, state: St) -> PilotOutput:
        """The pilot output a state demands."""
        if state in (St.UNAVAILABLE, St.FAULTED):
            return PilotOutput(PilotMode.F)
        if state in (St.HLC_WAIT, St.HLC, St.HLC_CHARGING):
            return PilotOutput(PilotMode.PWM, HLC_DUTY)
        if state is St.EF_PAUSE:
            return PilotOutput(PilotMode.E if self.cfg.can_drive_e else PilotMode.F)
        if state in (St.READY, St.CHARGING):
            duty = current_to_duty(self.limits.effective(), self.cfg.pwm_resolution)
            if duty is not None:
                return PilotOutput(PilotMode.PWM, duty)
        return PilotOutput(PilotMode.X1)

    def want_closed(self) -> bool:
        """Whether the contactor must be closed now (AC: exactly in the CONTACTOR_CLOSED_STATES)."""
        return self.state in CONTACTOR_CLOSED_STATES

    def want_locked(self) -> bool:
        """Whether a socket's lock must be engaged now (AC: exactly in the LOCKED_STATES)."""
        return self.state in LOCKED_STATES

    def contactor_confirmed(self, closed: bool) -> bool:
        """The contactor is commanded to ``closed`` and its feedback (when supervised) confirms it."""
        if self._contactor != closed or (not closed and "contactor_welded" in self.faults):
            return False
        if not self.cfg.contactor_feedback:
            return True
        return self._sup.state is (CSt.CLOSED if closed else CSt.OPEN)

    def _sync(self, now: float) -> None:
        """Emit pilot/contactor/lock/status changes the state demands (contactor opens before the pilot)."""
        pilot = self.pilot_for(self.state)
        closed = self.want_closed()
        locked = self.cfg.has_lock and self.want_locked()
        if locked and not self._locked:
            self._locked = True
            self._out.append(LockCmd(True))
        if self._contactor and not closed:
            self._contactor = False
            self._out.append(ContactorCmd(False))
            if self.cfg.contactor_feedback:
                self._contactor_fault(self._sup.command(False, now), now)
        if pilot != self._pilot:
            if self._pilot.mode in (PilotMode.F, PilotMode.E) and pilot.mode not in (
                PilotMode.F,
                PilotMode.E,
            ):
                self._cp = None  # readings under F/E say nothing about the vehicle
            self._pilot = pilot
            self._out.append(PilotCmd(pilot))
        if closed and not self._contactor:
            self._powered = self.session
            self._contactor = True
            self._out.append(ContactorCmd(True))
            if self.cfg.contactor_feedback:
                self._contactor_fault(self._sup.command(True, now), now)
        if self._locked and not locked:
            self._locked = False
            self._out.append(LockCmd(False))
        st = StatusOut(
            state=self.state,
            ocpp=ocpp_status(self.state),
            detailed=detailed_status(
                self.state, self.session.charged if self.session else False, self.guard("stop_requested")
            ),
            faults=tuple(self.faults),
            limit_a=self.limits.effective(),
            pilot=self._pilot,
            contactor_closed=self._contactor,
            session_id=self.session.id if self.session else None,
        )
        if st != self._status:
            self._status = st
            self._out.append(st)

    def _contactor_fault(self, reason: str | None, now: float) -> None:
        if reason is not None and self.cfg.contactor_feedback:
            self._pending_reason = reason
            self._feed(In.CONTACTOR_FAULT, now)

    def _clear(self, reason: str, now: float) -> None:
        if reason in self.faults:
            self.faults.remove(reason)
            if not self.faults:
                self._feed(In.FAULT_CLEARED, now)

    def _flush(self) -> list[Out]:
        out, self._out = self._out, []
        return out
