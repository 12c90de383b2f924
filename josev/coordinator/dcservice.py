"""The DC part of the coordinator service: SECC targets in, HAL DC output readings in, DcSupplyState out, and the
commands that wait for the hardware (StartCableCheck, HlcPowerDelivery).

Waiting is done with predicates over the cores, re-checked after every input the service applies
(:meth:`DcSide.check`), each bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from josev.api import coordinator as api
from josev.api import hal as halapi
from josev.api import secc as seccapi
from josev.api.base import Ack, CommandError
from josev.bus import Bus
from josev.coordinator.dc import ACTIVE_PHASES, Dp
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.states import St

if TYPE_CHECKING:
    from josev.coordinator.service import CoordinatorService

log = logging.getLogger("josev.coordinator")


class DcSide:
    """DC handling of a :class:`~josev.coordinator.service.CoordinatorService`."""

    def __init__(self, svc: CoordinatorService) -> None:
        self.svc = svc
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # ---- waiting ----------------------------------------------------------------------------------

    def check(self) -> None:
        """Resolve every waiter whose condition now holds (called after each applied input)."""
        for pred, fut in list(self._waiters):
            if not fut.done() and pred():
                fut.set_result(None)

    async def wait_for(self, pred: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``pred()`` holds (True) or ``timeout`` passes (False)."""
        if pred():
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return pred()
        finally:
            self._waiters.remove(entry)

    # ---- views ------------------------------------------------------------------------------------

    def supply_state(self, core: DcEvseCore) -> api.DcSupplyState:
        """The DcSupplyState of a DC core now."""
        dc, c, tg = core.dc, core.dccfg, core.dc_targets
        balanced = core.balanced_power_w()
        dis_i, dis_p = dc.discharge_limits(balanced)
        ready = (
            not core.faults
            and dc.phase is not Dp.FAULT
            and core.state not in (St.FAULTED, St.UNAVAILABLE)
            and core.contactor_confirmed(core.contactor_closed)
        )
        return api.DcSupplyState(
            # EV_WAIT is part of the cable check for the SECC and the EV (CableCheckRes Ongoing)
            phase="cable_check" if dc.phase is Dp.EV_WAIT else dc.phase.value,
            present_voltage_v=dc.present_v,
            present_current_a=dc.present_a,
            target_voltage_v=tg.voltage_v,
            target_current_a=tg.current_a,
            isolation=dc.isolation,
            max_voltage_v=dc.max_voltage(),
            min_voltage_v=c.min_voltage_v,
            max_current_a=dc.max_current(balanced),
            min_current_a=c.min_current_a,
            max_power_w=dc.max_power(balanced),
            current_limit_achieved=tg.current_limit_achieved,
            voltage_limit_achieved=tg.voltage_limit_achieved,
            power_limit_achieved=tg.power_limit_achieved,
            ready=ready,
            output_enabled=tg.enabled,
            contactor_closed=core.contactor_closed,
            max_discharge_current_a=dis_i,
            max_discharge_power_w=dis_p,
            fault=dc.fault,
        )

    # ---- inputs -----------------------------------------------------------------------------------

    def _dc_core(self, evse: int | None) -> DcEvseCore | None:
        core = self.svc.cores.get(evse) if evse is not None else None
        return core if isinstance(core, DcEvseCore) else None

    def on_output(self, msg: halapi.DcOutputState, evse: int | None) -> None:
        """A reading of the HAL's DC output."""
        core = self._dc_core(evse)
        if core is not None:
            assert evse is not None
            outs = core.dc_measurement(
                msg.present_voltage_v, msg.present_current_a, msg.isolation_resistance_ohm, self.svc.clock()
            )
            self.svc._emit(evse, outs)

    def on_target(self, msg: seccapi.EvTarget, evse: int | None) -> None:
        """The EV's PreCharge / CurrentDemand target."""
        core = self._dc_core(evse)
        if core is not None:
            assert evse is not None
            self.svc._emit(evse, core.ev_target(msg.phase, msg.voltage_v, msg.current_a, self.svc.clock()))

    def on_parameters(self, msg: seccapi.EvChargeParameters, evse: int | None) -> None:
        """The EV's maxima from ChargeParameterDiscovery."""
        core = self._dc_core(evse)
        if core is not None:
            assert evse is not None
            outs = core.ev_parameters(msg.max_voltage_v, msg.max_current_a, msg.max_power_w, self.svc.clock())
            self.svc._emit(evse, outs)

    # ---- commands ---------------------------------------------------------------------------------

    async def cable_check(self, cmd: api.StartCableCheck, evse: int | None) -> api.CableCheckResult:
        """Run the isolation test and answer with its result."""
        core = self.svc._core(evse)
        if not isinstance(core, DcEvseCore):
            raise CommandError("rejected", f"EVSE {evse} is not a DC EVSE")
        if core.state in (St.FAULTED, St.UNAVAILABLE):
            raise CommandError("unavailable", f"EVSE {evse} is {core.state.value}")
        if core.dc.phase in (Dp.STOPPING, Dp.WELDING):
            # the output of the EV's previous V2G session (ended abnormally) is still ramping down / being
            # checked for welding: the new session's cable check starts once it is off
            c = core.dccfg
            await self.wait_for(
                lambda: core.dc.phase not in (Dp.STOPPING, Dp.WELDING),
                c.ramp_down_timeout_s + c.welding_timeout_s + 0.5,
            )
        try:
            outs = core.cable_check(self.svc.clock(), cmd.voltage_v)
        except PermissionError as exc:
            raise CommandError("rejected", str(exc)) from exc
        self.svc._emit(core.cfg.evse, outs)
        # EV_WAIT (pilot still B: the SECC answers Ongoing) then CABLE_CHECK, each bounded by its DC timer
        c = core.dccfg
        await self.wait_for(
            lambda: core.dc.phase not in (Dp.EV_WAIT, Dp.CABLE_CHECK),
            c.ev_ready_timeout_s + c.cable_check_timeout_s + 1.0,
        )
        dc = core.dc
        if dc.phase is Dp.CHECKED or (dc.phase is Dp.FAULT and dc.isolation == "fault"):
            return api.CableCheckResult(
                isolation=dc.isolation,
                resistance_ohm=dc.resistance_ohm,
                voltage_v=dc.test_voltage_v,
            )
        if dc.refused == "ev_not_ready":
            why = (
                f"EVSE {evse}: EV did not close S2 (pilot {core.cp_state.value if core.cp_state else None}) "
                f"within {c.ev_ready_timeout_s:g} s of its CableCheckReq"
            )
            log.warning("%s: cable check refused", why)
            raise CommandError("rejected", why)
        why = dc.fault or f"cable check aborted (DC phase {dc.phase.value})"
        raise CommandError("unavailable" if dc.phase is Dp.FAULT else "rejected", why)

    async def power_delivery(self, cmd: api.HlcPowerDelivery, evse: int | None) -> Ack:
        """PowerDelivery start/stop: answered once the contactor confirms (see HlcPowerDelivery)."""
        core = self.svc._core(evse)
        if core.state in (St.FAULTED, St.UNAVAILABLE):
            raise CommandError("unavailable", f"EVSE {evse} is {core.state.value}")
        try:
            outs = core.hlc_power(cmd.on, self.svc.clock())
        except PermissionError as exc:
            raise CommandError("rejected", str(exc)) from exc
        self.svc._emit(core.cfg.evse, outs)
        if cmd.on and core.state is not St.HLC_CHARGING:
            if not isinstance(core, DcEvseCore) and not core.guard("ev_ready"):
                return Ack()  # AC: the EV switches to C after the response; the contactor closes then
            raise CommandError("rejected", f"EVSE {evse}: power delivery not possible ({core.state.value})")
        want = cmd.on

        def settled() -> bool:
            return core.contactor_confirmed(want) or core.state in (St.FAULTED, St.UNAVAILABLE)

        await self.wait_for(settled, core.cfg.power_delivery_timeout_s)
        if core.contactor_confirmed(want):
            return Ack()
        what = "close" if want else "open"
        timeout = core.cfg.power_delivery_timeout_s
        if core.faults:
            raise CommandError("unavailable", f"contactor did not {what}: {', '.join(core.faults)}")
        log.error("EVSE %s: contactor did not %s within %.1f s", evse, what, timeout)
        raise CommandError("rejected", f"contactor did not {what} within {timeout} s")

    # ---- output -----------------------------------------------------------------------------------

    async def publisher(self, bus: Bus, stop: asyncio.Event) -> None:
        """DcSupplyState of every DC EVSE at its ``publish_hz`` while its output is active."""
        cores = [(e, c) for e, c in self.svc.cores.items() if isinstance(c, DcEvseCore)]
        if not cores:
            return
        period = min(1.0 / c.dccfg.publish_hz for _, c in cores)
        while not stop.is_set():
            for evse, core in cores:
                if core.dc.phase in ACTIVE_PHASES:
                    try:
                        await bus.publish(self.supply_state(core), evse)
                    except Exception:
                        log.exception("EVSE %d: publishing DcSupplyState failed", evse)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)

    def attach(self, bus: Bus) -> None:
        """Subscribe and serve."""
        bus.subscribe(halapi.DcOutputState, self.on_output)
        bus.subscribe(seccapi.EvTarget, self.on_target)
        bus.subscribe(seccapi.EvChargeParameters, self.on_parameters)
        bus.serve(api.StartCableCheck, self.cable_check)
        bus.serve(api.HlcPowerDelivery, self.power_delivery)
