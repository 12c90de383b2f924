"""Helpers for DC coordinator tests: a DC core driven to each DC phase, and the DC safety invariants."""

from __future__ import annotations

from typing import Any

from hal.types import CpState
from josev.coordinator.config import DcConfig, EvseConfig
from josev.coordinator.dc import CONTACTOR_PHASES, OUTPUT_PHASES, Dp
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.outputs import ContactorCmd, DcCmd, Out
from josev.coordinator.states import St


def dc_core(evse: dict[str, Any] | None = None, **dc: Any) -> DcEvseCore:
    """A started DC core (HLC offered, feedback supervised)."""
    c = DcEvseCore(EvseConfig(hlc_offered=True, dc=DcConfig(**dc), **(evse or {})))
    c.start(0.0)
    return c


def to_phase(c: DcEvseCore, phase: Dp, t: float = 0.0) -> float:
    """Drive ``c`` (fresh) through a real DC session into ``phase``; returns the time reached."""
    c.cp(CpState.B, t)
    c.slac(True, t)
    c.authorize(t, "tok", "eim")
    c.cp(CpState.C, t)
    c.ev_parameters(450.0, 150.0, 60000.0, t)
    if phase is Dp.OFF:
        return t
    c.cable_check(t)
    c.contactor_feedback(True, t)
    if phase is Dp.CABLE_CHECK:
        return t
    t += 0.5
    c.dc_measurement(450.0, 0.0, 10e6, t)
    if phase is Dp.CHECKED:
        return t
    c.ev_target("precharge", 380.0, 2.0, t)
    c.dc_measurement(380.0, 0.0, 10e6, t)
    if phase is Dp.PRECHARGE:
        return t
    c.hlc_power(True, t)
    c.ev_target("charge", 400.0, 100.0, t)
    if phase is Dp.CHARGING:
        return t
    if phase is Dp.FAULT:
        c.dc_measurement(470.0, 100.0, 10e6, t)  # above min(EV 450, EVSE 500) + 10 V margin
        return t
    c.dc_measurement(400.0, 100.0, 10e6, t)
    c.hlc_power(False, t)
    if phase is Dp.STOPPING:
        return t
    c.dc_measurement(400.0, 0.0, 10e6, t)
    c.contactor_feedback(False, t)
    assert phase is Dp.WELDING, phase
    return t


def check_dc_invariants(c: DcEvseCore, outs: list[Out] | None = None) -> None:
    """Safety rules of a DC EVSE that must hold after every input."""
    tg = c.dc_targets
    if c.contactor_closed:
        assert c.state in (St.HLC, St.HLC_CHARGING, St.STOPPING), c.state
        assert c.dc.phase in CONTACTOR_PHASES, c.dc.phase
        assert c.cp_state in (CpState.C, CpState.D)
        assert not c.faults and c.session is not None
    if tg.enabled or tg.voltage_v > 0 or tg.current_a != 0:
        assert c.state in (St.HLC, St.HLC_CHARGING), c.state
        assert c.dc.phase in OUTPUT_PHASES, c.dc.phase
        assert not c.faults
        assert c.session is not None and c.guard("authorized")
    if tg.current_a > c.dccfg.precharge_current_a:
        assert c.state is St.HLC_CHARGING and c.dc.phase is Dp.CHARGING
    if tg.current_a < 0:
        assert c.dccfg.bpt and c.dccfg.max_discharge_current_a is not None
        assert -tg.current_a <= c.dccfg.max_discharge_current_a + 1e-9
    assert tg.current_a <= c.dccfg.max_current_a + 1e-9
    assert tg.voltage_v <= c.dccfg.max_voltage_v + 1e-9
    if c.state in (St.FAULTED, St.UNAVAILABLE):
        assert not c.contactor_closed and not tg.enabled
    if c.cfg.has_lock and (c.dc.present_v >= c.dccfg.welding_voltage_v or c.contactor_closed or tg.enabled):
        assert c._locked, "connector unlocked with voltage on the output"
    if outs is not None:
        dcs = [o for o in outs if isinstance(o, DcCmd)]
        if dcs:
            assert (dcs[-1].enabled, dcs[-1].voltage_v, dcs[-1].current_a) == (
                tg.enabled,
                round(tg.voltage_v, 3),
                round(tg.current_a, 3),
            )
        cmds = [o for o in outs if isinstance(o, ContactorCmd)]
        if cmds:
            assert cmds[-1].closed == c.contactor_closed
            # never open with the module still on
            idx_open = [i for i, o in enumerate(outs) if isinstance(o, ContactorCmd) and not o.closed]
            for i in idx_open:
                later_on = [o for o in outs[i:] if isinstance(o, DcCmd) and o.enabled]
                assert not later_on or c.contactor_closed
