"""The coordinator core of a DC EVSE: the IEC 61851-1 machine of :class:`EvseCore` plus the DC output machine
of :mod:`josev.coordinator.dc`.

The main table still decides the session (plug, authorization, SLAC, HLC, stop, faults); the DC machine
decides the output within it. Safety rules (checked by a property test):

* the contactor is closed only in HLC / HLC_CHARGING / STOPPING, with the pilot at C or D, an open session,
  no fault and the DC phase in :data:`~josev.coordinator.dc.CONTACTOR_PHASES`;
* the power module is enabled (or given a non-zero target) only in HLC / HLC_CHARGING with the DC phase in
  :data:`~josev.coordinator.dc.OUTPUT_PHASES`, and charging targets only in HLC_CHARGING;
* a DC fault (insulation, over-voltage, voltage persisting after opening) faults the EVSE (safe state).
"""

from __future__ import annotations

from hal.types import CpState
from josev.coordinator.config import DcConfig, EvseConfig
from josev.coordinator.core import EvseCore
from josev.coordinator.dc import CONTACTOR_PHASES, OUTPUT_PHASES, DcFlow, DcTargets, Di, Dp, accepts
from josev.coordinator.duty import MIN_CURRENT_A
from josev.coordinator.outputs import DcCmd, DcReport, ImdCmd, Out
from josev.coordinator.states import In, St
from josev.coordinator.table import Act

_HLC = (St.HLC, St.HLC_CHARGING)
_READY = (CpState.C, CpState.D)


class DcEvseCore(EvseCore):
    """Coordinator of one DC EVSE (``cfg.dc`` must be set)."""

    def __init__(self, cfg: EvseConfig, session_prefix: str = "s") -> None:
        if cfg.dc is None:
            raise ValueError("DcEvseCore needs an EvseConfig with dc settings")
        self.dc = DcFlow(cfg.dc)
        self._dc_cmd = DcCmd(False, 0.0, 0.0)
        self._imd = False
        self._dc_report: DcReport | None = None
        self._dc_targets = DcTargets()
        super().__init__(cfg, session_prefix=session_prefix)
        # a DC EVSE's current limits are kept as the AC-side equivalent of its power (phases x voltage), so load
        # balancing, OCPP and operator limits (in A or W) apply to it like to an AC EVSE
        self.limits.set("evse", cfg.dc.max_power_w / (cfg.phases * cfg.voltage_v))
        self.limits.set("connector", None)
        self._limit_ok = self.limits.effective() >= MIN_CURRENT_A

    @property
    def dccfg(self) -> DcConfig:
        """The DC settings."""
        assert self.cfg.dc is not None
        return self.cfg.dc

    # ---- inputs ----------------------------------------------------------------------------------

    def start(self, now: float) -> list[Out]:
        """Initial outputs: module off, monitor stopped, then the AC-side defaults."""
        self._out += [DcCmd(False, 0.0, 0.0), ImdCmd(False)]
        return super().start(now)

    def cp(self, state: CpState, now: float, diode_fault: bool = False) -> list[Out]:
        """A pilot reading; leaving C/D while the output is energised shuts the output down; reaching C/D while
        a cable check waits for it (EV_WAIT) starts the isolation test."""
        out = super().cp(state, now, diode_fault)
        if state not in _READY and self.dc.phase in CONTACTOR_PHASES and self.dc.phase is not Dp.STOPPING:
            self._dc_feed(Di.SHUTDOWN, now)
        elif state in _READY and self.dc.phase is Dp.EV_WAIT and self.state in _HLC:
            self._ev_ready(now)
        return out + self._flush()

    def ev_parameters(
        self, max_voltage_v: float | None, max_current_a: float | None, max_power_w: float | None, now: float
    ) -> list[Out]:
        """The EV's maxima (ChargeParameterDiscovery)."""
        self.dc.ev_max_voltage_v = max_voltage_v
        self.dc.ev_max_current_a = max_current_a
        self.dc.ev_max_power_w = max_power_w
        self._sync(now)
        return self._flush()

    def cable_check(self, now: float, voltage_v: float | None = None) -> list[Out]:
        """Ask for the isolation test; PermissionError when the EVSE is not ready for it.

        With the pilot at C/D the test starts at once (CABLE_CHECK); at B the DC machine waits for the EV to
        close S2 (EV_WAIT, output off, contactor open) for at most ``ev_ready_timeout_s``, then ends the request
        (``dc.refused == "ev_not_ready"``, back to OFF, no fault)."""
        self._require(Di.CABLE_CHECK, need_authorized=True)
        c = self.dccfg
        v = voltage_v if voltage_v is not None else c.cable_check_voltage_v
        self.dc.test_voltage_v = min(v, self.dc.max_voltage())
        if self.dc.phase is Dp.CABLE_CHECK:
            self._dc_feed(Di.CABLE_CHECK, now)
        elif self._cp in _READY:
            # OFF/CHECKED -> EV_WAIT -> CABLE_CHECK in one step: the contactor is not opened in between
            self.dc.feed(Di.CABLE_CHECK, now)
            self._ev_ready(now)
        else:
            self._dc_feed(Di.CABLE_CHECK, now)
        return self._flush()

    def ev_target(self, phase: str, voltage_v: float, current_a: float, now: float) -> list[Out]:
        """A PreCharge (``precharge``) or CurrentDemand (``charge``) target of the EV.

        A precharge target outside CHECKED / PRECHARGE, or a charge target outside CHARGING, is ignored
        (stale retained messages, or the EV running ahead); PermissionError is never raised here."""
        inp = Di.PRECHARGE if phase == "precharge" else Di.CHARGE_TARGET
        if self.state in _HLC and accepts(self.dc.phase, inp):
            if inp is Di.CHARGE_TARGET and self.state is not St.HLC_CHARGING:
                return self._flush()
            self.dc.request = (voltage_v, current_a)
            self._dc_feed(inp, now)
        return self._flush()

    def hlc_power(self, on: bool, now: float) -> list[Out]:
        """PowerDelivery start (needs a precharge) / stop (ramps down, opens, then welding detection)."""
        if on:
            self._require(Di.POWER_ON, need_authorized=True)
            if self._cp not in _READY:
                raise PermissionError(f"EVSE {self.cfg.evse}: EV not ready (pilot {self._cp})")
        out = super().hlc_power(on, now)
        if on and self.state is St.HLC_CHARGING:
            self._dc_feed(Di.POWER_ON, now)
        elif not on:
            self._dc_feed(Di.POWER_OFF, now)
        return out + self._flush()

    def dc_measurement(
        self, voltage_v: float, current_a: float, resistance_ohm: float | None, now: float
    ) -> list[Out]:
        """A reading of the output (HAL DcOutputState)."""
        self._now = now
        for inp in self.dc.measure(voltage_v, current_a, resistance_ohm, not self._contactor, now):
            self._dc_feed(inp, now)
        self._sync(now)
        return self._flush()

    def poll(self, now: float) -> list[Out]:
        """Run the main and the DC timers."""
        out = super().poll(now)
        if self.dc.deadline is not None and now >= self.dc.deadline:
            self._dc_fault(self.dc.poll(now), now)
            self._sync(now)
        return out + self._flush()

    def next_deadline(self) -> float | None:
        """Earliest of the main and the DC timers."""
        ds = [d for d in (super().next_deadline(), self.dc.deadline) if d is not None]
        return min(ds) if ds else None

    # ---- views -----------------------------------------------------------------------------------

    @property
    def dc_targets(self) -> DcTargets:
        """What the power module is commanded to now."""
        return self._dc_targets

    def balanced_power_w(self) -> float:
        """The effective AC-side current limit as power (load balancing, OCPP, operator, EVSE rating)."""
        return self.limits.effective() * self.cfg.phases * self.cfg.voltage_v

    def want_closed(self) -> bool:
        """DC: closed while the output needs the cable (cable check .. ramp-down), EV ready, no fault."""
        return (
            self.state in (*_HLC, St.STOPPING)
            and self.dc.phase in CONTACTOR_PHASES
            and self._cp in _READY
            and not self.faults
            and self.session is not None
        )

    def want_locked(self) -> bool:
        """DC: also locked while the output is energised or its voltage is still at or above
        ``welding_voltage_v`` (60 V), whatever the session state (IEC 61851-23: no unlocking under voltage)."""
        return (
            super().want_locked()
            or self.dc.phase in CONTACTOR_PHASES
            or self.dc.present_v >= self.dccfg.welding_voltage_v
        )

    # ---- machinery -------------------------------------------------------------------------------

    def _ev_ready(self, now: float) -> None:
        """EV_WAIT -> CABLE_CHECK (without an insulation monitor the test passes at once as ``no_imd``)."""
        self._dc_feed(Di.EV_READY, now)
        if self.dc.phase is Dp.CABLE_CHECK and not self.dccfg.has_imd:
            self.dc.isolation = "no_imd"
            self._dc_feed(Di.ISO_OK, now)

    def _require(self, inp: Di, need_authorized: bool) -> None:
        if self.state is St.FAULTED or self.state is St.UNAVAILABLE:
            raise PermissionError(f"EVSE {self.cfg.evse} is {self.state.value}")
        if self.state not in _HLC:
            raise PermissionError(f"EVSE {self.cfg.evse}: no HLC session ({self.state.value})")
        if need_authorized and not self.guard("authorized"):
            raise PermissionError(f"EVSE {self.cfg.evse}: not authorized")
        if not accepts(self.dc.phase, inp):
            raise PermissionError(
                f"EVSE {self.cfg.evse}: {inp.value} not allowed in DC phase {self.dc.phase.value}"
            )

    def _dc_running(self) -> bool:
        """The output is energised (or a cable check waits for the EV): a stop must shut it down."""
        phase = self.dc.phase
        return phase is Dp.EV_WAIT or (phase in CONTACTOR_PHASES and phase is not Dp.STOPPING)

    def _dc_feed(self, inp: Di, now: float) -> None:
        self._dc_fault(self.dc.feed(inp, now), now)
        self._sync(now)

    def _dc_fault(self, reason: str | None, now: float) -> None:
        if reason is not None:
            self._pending_reason = reason
            self._feed(In.HW_FAULT, now)

    def _act(self, act: Act, inp: In, now: float, nxt: St) -> None:
        super()._act(act, inp, now, nxt)
        # the V2G session ended abnormally and the EVSE stays in HLC for the EV's next one: ramp the output down
        # and open (then welding detection) as a PowerDelivery stop would, so the next session starts from OFF
        # with a new cable check
        retry = act is Act.HLC_FAIL and nxt is St.HLC and self.state is St.HLC
        if retry and self._dc_running():
            self.dc.feed(Di.SHUTDOWN, now)

    def _enter(self, prev: St, nxt: St, now: float) -> None:
        super()._enter(prev, nxt, now)
        leaving = nxt not in _HLC or (prev is St.HLC_CHARGING and nxt is St.HLC)
        if leaving and self._dc_running():
            self.dc.feed(Di.SHUTDOWN, now)
        if nxt in (St.IDLE, St.FAULTED) or self.session is None:
            if self.dc.phase is Dp.FAULT and nxt is St.IDLE:
                self.dc.feed(Di.RESET, now)
            if self.dc.phase is Dp.OFF:
                self.dc.isolation, self.dc.resistance_ohm = "invalid", None
                self.dc.ev_max_voltage_v = self.dc.ev_max_current_a = self.dc.ev_max_power_w = None

    def _sync(self, now: float) -> None:
        # the DC output first: switching off before the contactor opens (never open under load)
        tg = self.dc.targets(self.balanced_power_w())
        allowed = self.state in _HLC and self.dc.phase in OUTPUT_PHASES and not self.faults
        if self.dc.phase is Dp.CHARGING and self.state is not St.HLC_CHARGING:
            allowed = False
        if not allowed:
            tg = DcTargets(False, 0.0, 0.0)
        self._dc_targets = tg
        cmd = DcCmd(tg.enabled, round(tg.voltage_v, 3), round(tg.current_a, 3))
        if cmd != self._dc_cmd:
            self._dc_cmd = cmd
            self._out.append(cmd)
        imd = self.dccfg.has_imd and self.dc.phase in (Dp.CABLE_CHECK, Dp.CHECKED, Dp.PRECHARGE, Dp.CHARGING)
        if imd != self._imd:
            self._imd = imd
            self._out.append(ImdCmd(imd))
        super()._sync(now)
        rep = DcReport(
            self.dc.phase.value,
            self.dc.isolation,
            cmd.enabled,
            cmd.voltage_v,
            cmd.current_a,
            (tg.current_limit_achieved, tg.voltage_limit_achieved, tg.power_limit_achieved),
            round(self.dc.max_power(self.balanced_power_w()), 1),
            self.dc.fault,
        )
        if rep != self._dc_report:
            self._dc_report = rep
            self._out.append(rep)
