"""Helpers for coordinator tests: reach each state by a real path, check the safety invariants."""

from __future__ import annotations

from hal.types import CpState, PilotMode
from josev.coordinator import EvseConfig, EvseCore, St
from josev.coordinator.core import ContactorCmd, Out
from josev.coordinator.duty import current_to_duty
from josev.coordinator.states import CONTACTOR_CLOSED_STATES, SESSION_STATES


def reach(state: St, **cfg: object) -> tuple[EvseCore, float]:
    """A core brought into ``state`` through its public inputs; returns (core, now)."""
    hlc = state in (St.HLC_WAIT, St.HLC, St.HLC_CHARGING, St.EF_PAUSE)
    c = EvseCore(EvseConfig(hlc_offered=hlc, **cfg))  # type: ignore[arg-type]
    t = 0.0
    c.start(t)
    if state is St.IDLE:
        pass
    elif state is St.UNAVAILABLE:
        c.set_available(False, t)
    elif state is St.RESERVED:
        c.reserve("tok", 1000.0, t)
    elif state is St.FAULTED:
        c.cp(CpState.E, t)
    else:
        if state is St.SUSPENDED_EVSE:
            c.set_limit("ocpp", 0.0, t)
        c.cp(CpState.B, t)
        if state in (St.READY, St.CHARGING, St.STOPPING, St.SUSPENDED_EVSE, St.FINISHED):
            c.authorize(t, "tok")
        if state in (St.CHARGING, St.STOPPING):
            c.cp(CpState.C, t)
            c.contactor_feedback(True, t)
        if state is St.STOPPING:
            c.stop(t, "local")
        if state is St.FINISHED:
            c.stop(t, "local")
        if state in (St.HLC, St.HLC_CHARGING):
            c.slac(True, t)
        if state is St.HLC_CHARGING:
            c.hlc_power(True, t)
            c.cp(CpState.C, t)
            c.contactor_feedback(True, t)
        if state is St.EF_PAUSE:
            c.slac(False, t)
    assert c.state is state, (state, c.state, c.history)
    return c, t


def check_invariants(c: EvseCore, outs: list[Out] | None = None) -> None:
    """The safety rules that must hold after every input."""
    if c.contactor_closed:
        assert c.state in CONTACTOR_CLOSED_STATES, c.state
        assert c.cp_state in (CpState.C, CpState.D), (c.state, c.cp_state)
        assert not c.faults
        assert c.session is not None
        # outside STOPPING (the EV is being asked to stop) power needs an authorization or an HLC request
        assert c.state is St.STOPPING or c.session.authorized or c.session.power_on
    if c.state in (St.FAULTED, St.UNAVAILABLE):
        assert c.pilot.mode is PilotMode.F
        assert not c.contactor_closed
    if c.pilot.mode is PilotMode.PWM and c.pilot.duty_percent != 5.0:
        assert c.state in (St.READY, St.CHARGING)
        duty = current_to_duty(c.limits.effective())
        assert duty is not None and c.pilot.duty_percent <= duty
    assert (c.session is not None) == (c.state in SESSION_STATES), (c.state, c.session)
    if outs is not None:
        cmds = [o for o in outs if isinstance(o, ContactorCmd)]
        if cmds:
            assert cmds[-1].closed == c.contactor_closed
