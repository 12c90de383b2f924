"""The coordinator bus service: one :class:`~josev.coordinator.core.EvseCore` per EVSE, wired to the bus.

Inputs: the HAL's :class:`~josev.api.hal.CpReadingState`, :class:`~josev.api.hal.ChannelState` and
:class:`~josev.api.hal.MeterState`; SLAC's :class:`~josev.api.slac.SlacState`; the commands of
:mod:`josev.api.coordinator`. Outputs: HAL commands (in order, per EVSE, each awaited: the contactor opens
before the pilot changes), status/session/meter messages and a heartbeat for the HAL's watchdog. The station
limit is shared between the EVSEs whose sessions want power
(:class:`~josev.coordinator.limits.StationBalancer`: reductions at once, increases only from capacity
that EVs still adapting to a lower duty cycle cannot be drawing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as _dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hal.types import CpState, MeterReading
from josev.api import coordinator as api
from josev.api import hal as halapi
from josev.api import topics
from josev.api.base import Ack, Command, CommandError
from josev.api.slac import SlacState
from josev.bus import Bus
from josev.coordinator.config import EvseConfig
from josev.coordinator.core import ContactorCmd, EvseCore, LockCmd, Out, PilotCmd, SessionOut, StatusOut
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.dcservice import DcSide
from josev.coordinator.hallink import HalLink
from josev.coordinator.limits import Demand, StationBalancer
from josev.coordinator.outputs import DcCmd, DcReport, ImdCmd
from josev.coordinator.states import POWER_STATES, St
from josev.coordinator.status import connector_statuses
from josev.observability import oplog

log = logging.getLogger("josev.coordinator")
_HW = PilotCmd | ContactorCmd | LockCmd | DcCmd | ImdCmd

_CHARGING_STATE: dict[St, str] = {
    St.CHARGING: "Charging",
    St.HLC_CHARGING: "Charging",
    St.STOPPING: "SuspendedEVSE",
    St.SUSPENDED_EVSE: "SuspendedEVSE",
}


@dataclass(frozen=True)
class StationConfig:
    """Station-wide settings of the coordinator."""

    station_limit_a: float | None = None
    """Current per phase shared by all EVSEs (None: each EVSE only by its own limits)."""
    heartbeat_s: float = 0.2
    """Heartbeat period (keep well below the HAL's watchdog timeout)."""
    local_auth_list: frozenset[str] = field(default_factory=frozenset)
    """Tokens accepted without asking OCPP."""
    ev_adapt_s: float = 5.0
    """Time an EV may take to follow a lower duty cycle (IEC 61851-1: 5 s); load balancing counts it."""


class CoordinatorService:
    """The ``coordinator`` service."""

    name = "coordinator"

    def __init__(
        self,
        evses: list[EvseConfig],
        station: StationConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.station = station or StationConfig()
        self.clock = clock
        prefix = f"{int(time.time()):x}-"
        self.cores: dict[int, EvseCore] = {
            c.evse: DcEvseCore(c, session_prefix=prefix)
            if c.dc is not None
            else EvseCore(c, session_prefix=prefix)
            for c in evses
        }
        self.dc = DcSide(self)
        self._queues: dict[int, asyncio.Queue[Out | api.PilotState]] = {}
        self._wake = asyncio.Event()
        self._bus: Bus | None = None
        self._since: dict[int, float] = {}
        self._last_meter: dict[int, halapi.MeterState] = {}
        self._pilot_info: dict[int, api.PilotState] = {}
        self.balancer = StationBalancer(self.station.ev_adapt_s)
        self.hal_errors = 0
        self.hal_retries = 0
        self.hal = HalLink()
        self._stopping = False
        self._held_cp: dict[int, halapi.CpReadingState] = {}
        self._held_channel: dict[int, halapi.ChannelState] = {}

    # ---- plumbing ---------------------------------------------------------------------------------

    def _emit(self, evse: int, outs: list[Out]) -> None:
        # hardware commands first (their relative order kept: contactor-open before pilot), reports after
        hw_types = PilotCmd | ContactorCmd | LockCmd | DcCmd | ImdCmd
        hw = [o for o in outs if isinstance(o, hw_types)]
        for o in hw + [o for o in outs if not isinstance(o, hw_types)]:
            self._queues[evse].put_nowait(o)
        self._balance()
        for e, core in self.cores.items():
            info = api.PilotState(
                cp=core.cp_state.value if core.cp_state else None,
                pilot_mode=core.pilot.mode.value,
                duty_percent=core.pilot.duty_percent,
            )
            if self._pilot_info.get(e) != info:
                self._pilot_info[e] = info
                self._queues[e].put_nowait(info)
        self._wake.set()
        self.dc.check()

    def _balance(self) -> None:
        limit = self.station.station_limit_a
        if limit is None:
            for evse, core in self.cores.items():
                if core.limits.values.get("station") is not None:
                    self._queue_direct(evse, core.set_limit("station", None, self.clock()))
            return
        demands: dict[int, Demand] = {}
        for evse, core in self.cores.items():
            if core.state in POWER_STATES:
                self._since.setdefault(evse, self.clock())
                cap = min(v for k, v in core.limits.values.items() if k != "station" and v is not None)
                demands[evse] = Demand(cap, self._since[evse])
            else:
                self._since.pop(evse, None)
        shares = self.balancer.update(limit, demands, self.clock())
        for evse, core in self.cores.items():
            share = shares.get(evse, 0.0)
            if core.limits.values.get("station") != share:
                self._queue_direct(evse, core.set_limit("station", share, self.clock()))

    def _queue_direct(self, evse: int, outs: list[Out]) -> None:
        for o in outs:
            self._queues[evse].put_nowait(o)

    async def _worker(self, bus: Bus, evse: int) -> None:
        q = self._queues[evse]
        while True:
            out = await q.get()
            try:
                await self._run_one(bus, evse, out)
            finally:
                q.task_done()

    async def _run_one(self, bus: Bus, evse: int, out: Out | api.PilotState) -> None:
        """Execute one output; a HAL command that times out is sent again (bounded) before it faults."""
        attempt = 0
        while True:
            hal_was_up = self.hal.ready
            try:
                await self._execute(bus, evse, out)
            except CommandError as exc:
                if hal_was_up and isinstance(out, _HW) and self.hal.retry(exc, attempt):
                    attempt += 1
                    self.hal_retries += 1
                    log.warning(
                        "EVSE %d: no reply from the HAL to %s, sending it again (%d)", evse, out, attempt
                    )
                    continue
                if self.hal.excused(exc, hal_was_up, evse):
                    log.warning("EVSE %d: HAL not up yet, %s sent again when it is", evse, out)
                    return
                self.hal_errors += 1
                log.error("EVSE %d: HAL refused %s: %s", evse, out, exc)
                if isinstance(out, ContactorCmd | PilotCmd | DcCmd) and exc.code != "unavailable":
                    self._emit(evse, self.cores[evse].hw_fault(f"hal_{exc.code}", self.clock()))
                return
            except Exception:
                self.hal_errors += 1
                log.exception("EVSE %d: executing %s failed", evse, out)
                return
            if isinstance(out, _HW) and self.hal.confirm(evse):
                self._hal_confirmed(evse)
            return

    def _hal_confirmed(self, evse: int) -> None:
        """The HAL of this run answered for ``evse``: its inputs count from now on (the latest held ones
        first)."""
        self._emit(evse, self.cores[evse].hal_confirmed(self.clock()))
        ch = self._held_channel.pop(evse, None)
        if ch is not None:
            self._on_channel(ch, evse)
        cp = self._held_cp.pop(evse, None)
        if cp is not None:
            self._on_cp(cp, evse)

    async def _execute(self, bus: Bus, evse: int, out: Out | api.PilotState) -> None:
        core = self.cores[evse]
        self.hal.record(evse, out)
        if isinstance(out, PilotCmd):
            mode = out.out.mode.value
            await bus.request(halapi.SetPilot(mode=mode, duty_percent=out.out.duty_percent), evse)
        elif isinstance(out, api.PilotState):
            await bus.publish(out, evse)
        elif isinstance(out, ContactorCmd):
            reply = await bus.request(halapi.SetContactor(closed=out.closed), evse)
            if not out.closed and isinstance(reply, halapi.ContactorReply) and reply.energy_wh is not None:
                self._emit(evse, core.contactor_opened(reply.energy_wh, reply.energy_export_wh, self.clock()))
        elif isinstance(out, LockCmd):
            await bus.request(halapi.SetLock(locked=out.locked), evse)
        elif isinstance(out, DcCmd):
            cmd = halapi.SetDcOutput(enabled=out.enabled, voltage_v=out.voltage_v, current_a=out.current_a)
            await bus.request(cmd, evse)
        elif isinstance(out, ImdCmd):
            await bus.request(halapi.SetIsolationMonitor(running=out.running), evse)
        elif isinstance(out, DcReport) and isinstance(core, DcEvseCore):
            supply = self.dc.supply_state(core)
            log.debug("EVSE %d: published DcSupplyState %s", evse, supply.model_dump_json())
            await bus.publish(supply, evse)
        elif isinstance(out, StatusOut):
            oplog.faults(log, evse, list(out.faults), str(out.state.value))
            status = self._status(core, out)
            log.debug("EVSE %d: published EvseStatus %s", evse, status.model_dump_json())
            await bus.publish(status, evse)
        elif isinstance(out, SessionOut):
            oplog.session_step(log, evse, out)
            await bus.publish(self._session_event(core, out), evse)

    @staticmethod
    def _session_event(core: EvseCore, out: SessionOut) -> api.SessionEvent:
        """The bus event of a session step. Steps at or after the end of energy transfer carry the energy as it
        is when they leave: the contactor-open command queued before them has brought the final reading."""
        energy, export, register = out.energy_wh, out.energy_export_wh, None
        s = out.session
        if s is not None and out.kind in ("charging_stopped", "stopped", "ended", "forced_open"):
            energy, export = s.energy_wh(), s.energy_export_wh()
            if not core.powers(s):
                register = s.energy_at_open
        return api.SessionEvent(
            step=out.kind,
            session_id=out.session_id,
            reason=out.reason,
            id_token=out.id_token,
            auth_source=out.auth_source,
            energy_wh=energy,
            energy_export_wh=export,
            unmetered=out.unmetered,
            energy_register_wh=register,
        )

    def _status(self, core: EvseCore, st: StatusOut) -> api.EvseStatus:
        cfg = core.cfg
        limit = None if st.limit_a == float("inf") else st.limit_a
        dis_i: float | None
        dis_p: float | None
        if isinstance(core, DcEvseCore):
            dis_i, dis_p = core.dc.discharge_limits(core.balanced_power_w())
        elif cfg.ac_max_discharge_a is not None:
            dis_i = min(cfg.ac_max_discharge_a, cfg.evse_max_a, cfg.connector_max_a)
            dis_p = dis_i * cfg.phases * cfg.voltage_v
        else:
            dis_i, dis_p = None, None
        if st.state in _CHARGING_STATE:
            charging = _CHARGING_STATE[st.state]
        elif st.state in (St.READY, St.HLC) and core.session is not None and core.session.charged:
            charging = "SuspendedEV"
        elif core.session is not None:
            charging = "EVConnected"
        else:
            charging = "Idle"
        return api.EvseStatus(
            state=st.state.value,
            ocpp_status=st.ocpp,
            detailed_status=st.detailed,
            charging_state=charging,
            faults=list(st.faults),
            limit_a=limit,
            limit_source=core.limits.binding(),
            max_power_w=None if limit is None else limit * cfg.phases * cfg.voltage_v,
            pilot_mode=st.pilot.mode.value,
            duty_percent=st.pilot.duty_percent,
            contactor_closed=st.contactor_closed,
            session_id=st.session_id,
            hlc=core.guard("hlc") and core.session is not None,
            dc=isinstance(core, DcEvseCore),
            max_discharge_current_a=dis_i,
            max_discharge_power_w=dis_p,
            connectors=[
                api.ConnectorStatus(
                    connector_id=c, ocpp_status=o, detailed_status=d, in_use=c == cfg.connectors[0]
                )
                for c, o, d in connector_statuses(cfg.connectors, cfg.connectors[0], st.ocpp, st.detailed)
            ],
        )

    def _core(self, evse: int | None) -> EvseCore:
        if evse is None or evse not in self.cores:
            raise CommandError("invalid_request", f"no EVSE {evse}")
        return self.cores[evse]

    # ---- inputs from the HAL and SLAC ---------------------------------------------------------------

    def _on_cp(self, msg: halapi.CpReadingState, evse: int | None) -> None:
        if evse in self.cores and not self._stopping:
            assert evse is not None
            if evse not in self.hal.confirmed:
                self._held_cp[evse] = msg  # maybe history from before a restart: see HalLink
                return
            core = self.cores[evse]
            if msg.pilot_mode in ("e", "f") and msg.state in ("E", "F"):
                return  # our own E/F output read back: says nothing about the vehicle
            self._emit(evse, core.cp(CpState(msg.state), self.clock(), diode_fault=msg.diode_fault))

    def _on_hal_status(self, topic: str, obj: object, msg: object) -> None:
        state = obj.get("state") if isinstance(obj, dict) else None
        if self.hal.on_status(str(state)):
            for evse in self.cores:
                self._emit(evse, self.hal.resend(evse))

    def _on_channel(self, msg: halapi.ChannelState, evse: int | None) -> None:
        if evse not in self.cores or self._stopping:
            return
        assert evse is not None
        if evse not in self.hal.confirmed:
            self._held_channel[evse] = msg  # maybe history from before a restart: see HalLink
            return
        core, now = self.cores[evse], self.clock()
        outs: list[Out] = []
        # the HAL holds the safe state (its watchdog fired): mirror it first, so the open contactor it reports
        # is what we commanded too (not a dropped contactor)
        if msg.safe_state and "hal_safe_state" not in core.faults:
            outs += core.hw_fault("hal_safe_state", now)
        outs += core.contactor_feedback(msg.contactor_feedback, now)
        if msg.rcd_tripped is not None and (msg.rcd_tripped or "rcd_trip" in core.faults):
            outs += core.rcd(msg.rcd_tripped, now)
        if msg.cable_ampacity_a is not None or core.limits.values.get("cable") is not None:
            outs += core.set_limit("cable", msg.cable_ampacity_a, now)
        if msg.lock == "fault" and "lock_failed" not in core.faults:
            outs += core.hw_fault("lock_failed", now)
        if not msg.safe_state and "hal_safe_state" in core.faults:
            outs += core.clear_fault("hal_safe_state", now)
        self._emit(evse, outs)

    async def _on_meter(self, msg: halapi.MeterState, evse: int | None) -> None:
        if evse not in self.cores or self._bus is None:
            return
        assert evse is not None
        core = self.cores[evse]
        reading = (
            MeterReading(
                msg.energy_wh,
                msg.power_w,
                tuple(msg.voltage_v),
                tuple(msg.current_a),
                energy_export_wh=msg.energy_export_wh,
            )
            if msg.ok
            else None
        )
        self._emit(evse, core.meter(reading, self.clock()))
        s = core.session
        await self._bus.publish(
            api.SessionMeter(
                ok=msg.ok,
                session_id=s.id if s else None,
                session_energy_wh=s.energy_wh() if s else 0.0,
                energy_register_wh=msg.energy_wh,
                session_energy_export_wh=s.energy_export_wh() if s else 0.0,
                energy_export_register_wh=msg.energy_export_wh,
                power_w=msg.power_w,
                current_a=msg.current_a,
                voltage_v=msg.voltage_v,
            ),
            evse,
        )

    def _on_slac(self, msg: SlacState, evse: int | None) -> None:
        if evse in self.cores and msg.status in ("matched", "failed"):
            assert evse is not None
            self._emit(evse, self.cores[evse].slac(msg.status == "matched", self.clock()))

    # ---- commands -----------------------------------------------------------------------------------

    def _ok(self, evse: int, outs: list[Out]) -> Ack:
        self._emit(evse, outs)
        return Ack()

    def _authorize(self, cmd: api.Authorize, evse: int | None) -> Ack:
        core = self._core(evse)
        if core.state in (St.FAULTED, St.UNAVAILABLE):
            raise CommandError("rejected", f"EVSE {evse} is {core.state.value}")
        try:
            return self._ok(core.cfg.evse, core.authorize(self.clock(), cmd.id_token, cmd.source))
        except PermissionError as exc:
            raise CommandError("rejected", str(exc)) from exc

    async def _present_token(self, cmd: api.PresentToken, evse: int | None) -> Ack:
        core = self._core(evse)
        if cmd.id_token in self.station.local_auth_list:
            try:
                return self._ok(core.cfg.evse, core.authorize(self.clock(), cmd.id_token, "local"))
            except PermissionError as exc:
                raise CommandError("rejected", str(exc)) from exc
        assert self._bus is not None
        await self._bus.publish(
            api.AuthorizationRequest(id_token=cmd.id_token, token_type=cmd.token_type), evse
        )
        return Ack()

    def _limit(self, cmd: api.SetLimit, evse: int | None) -> Ack:
        core = self._core(evse)
        amps = cmd.amps
        if cmd.watts is not None:
            amps = cmd.watts / (core.cfg.phases * core.cfg.voltage_v)
        return self._ok(core.cfg.evse, core.set_limit(cmd.source, amps, self.clock()))

    def _station_limit(self, cmd: api.SetStationLimit, evse: int | None) -> Ack:
        self.station = dataclasses.replace(self.station, station_limit_a=cmd.amps)
        self._balance()
        self._wake.set()
        return Ack()

    def _reserve(self, cmd: api.Reserve, evse: int | None) -> Ack:
        core = self._core(evse)
        if cmd.expires_at.tzinfo is None:
            raise CommandError("invalid_request", "expires_at must carry a time zone")
        remaining = (cmd.expires_at - _dt.datetime.now(_dt.UTC)).total_seconds()
        if remaining <= 0:
            raise CommandError("rejected", "reservation already expired")
        try:
            return self._ok(core.cfg.evse, core.reserve(cmd.id_token, self.clock() + remaining, self.clock()))
        except PermissionError as exc:
            raise CommandError("rejected", str(exc)) from exc

    def _unlock(self, cmd: api.UnlockConnector, evse: int | None) -> Ack:
        core = self._core(evse)
        try:
            return self._ok(core.cfg.evse, core.unlock(self.clock()))
        except PermissionError as exc:
            raise CommandError("rejected", str(exc)) from exc

    @staticmethod
    def _hlc_failed(cmd: api.HlcFailed, core: EvseCore, now: float) -> list[Out]:
        outs = core.hlc_failed(now, cmd.reason)
        s = core.session
        log.info(
            "EVSE %d: V2G session ended abnormally (%s): %s%s",
            core.cfg.evse,
            cmd.reason,
            core.state.value,
            f", {s.v2g_failures} of {core.cfg.v2g_retries} retries used" if s is not None else "",
        )
        return outs

    def _serve(self, bus: Bus) -> None:
        bus.serve(api.Authorize, self._authorize)
        bus.serve(api.UnlockConnector, self._unlock)
        bus.serve(api.PresentToken, self._present_token)
        bus.serve(api.SetLimit, self._limit)
        bus.serve(api.SetStationLimit, self._station_limit)
        bus.serve(api.Reserve, self._reserve)
        handlers: list[tuple[type[Command[Ack]], Callable[[Any, EvseCore, float], list[Out]]]] = [
            (api.Deauthorize, lambda c, core, t: core.deauthorize(t, c.reason)),
            (api.StopCharging, lambda c, core, t: core.stop(t, c.reason)),
            (api.HlcFailed, self._hlc_failed),
            (api.SetAvailability, lambda c, core, t: core.set_available(c.available, t)),
            (api.CancelReservation, lambda c, core, t: core.cancel_reservation(t)),
            (api.ClearFault, lambda c, core, t: core.clear_fault(c.reason, t)),
        ]
        for cls, fn in handlers:

            def handler(cmd: object, evse: int | None, fn: Callable[..., list[Out]] = fn) -> Ack:
                core = self._core(evse)
                return self._ok(core.cfg.evse, fn(cmd, core, self.clock()))

            bus.serve(cls, handler)

    # ---- main loop ----------------------------------------------------------------------------------

    async def _heartbeat(self, bus: Bus, stop: asyncio.Event) -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            await bus.publish(api.Heartbeat(seq=seq, interval_s=self.station.heartbeat_s))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.station.heartbeat_s)

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve until ``stop``: opens every contactor on the way out."""
        self._bus = bus
        self._queues = {e: asyncio.Queue() for e in self.cores}
        workers = [asyncio.create_task(self._worker(bus, e)) for e in self.cores]
        hb = asyncio.create_task(self._heartbeat(bus, stop))
        for evse, core in self.cores.items():
            self._emit(evse, core.start(self.clock()))
        self._serve(bus)
        self.dc.attach(bus)
        dcpub = asyncio.create_task(self.dc.publisher(bus, stop))
        bus.subscribe_raw(topics.status_topic("hal"), self._on_hal_status)
        bus.subscribe(halapi.CpReadingState, self._on_cp)
        bus.subscribe(halapi.ChannelState, self._on_channel)
        bus.subscribe(halapi.MeterState, self._on_meter)
        bus.subscribe(SlacState, self._on_slac)
        await bus.set_status("ready")
        rebalance_at: float | None = None
        try:
            while not stop.is_set():
                now = self.clock()
                for evse, core in self.cores.items():
                    d = core.next_deadline()
                    if d is not None and d <= now:
                        self._emit(evse, core.poll(now))
                if rebalance_at is not None and now >= rebalance_at:
                    self._balance()
                deadlines = [d for c in self.cores.values() if (d := c.next_deadline()) is not None]
                rebalance_at = self.balancer.next_change(self.clock())
                if rebalance_at is not None:
                    deadlines.append(rebalance_at)
                wait = max(0.0, min(deadlines) - self.clock()) if deadlines else 1.0
                self._wake.clear()
                waiters: list[asyncio.Task[Any]] = [
                    asyncio.create_task(stop.wait()),
                    asyncio.create_task(self._wake.wait()),
                ]
                await asyncio.wait(waiters, timeout=min(wait, 1.0), return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
        finally:
            # the last word: end running sessions (contactor open with its reading, session events) while the
            # HAL and OCPP still run (they stop after us); HAL inputs no longer count
            self._stopping = True
            for evse, core in self.cores.items():
                self._emit(evse, core.shutdown(self.clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3.0):
                    for q in self._queues.values():
                        await q.join()
            hb.cancel()
            dcpub.cancel()
            for evse, core in self.cores.items():
                if isinstance(core, DcEvseCore):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(bus.request(halapi.SetDcOutput(enabled=False), evse), 0.5)
            for evse in self.cores:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bus.request(halapi.SetContactor(closed=False), evse), 0.5)
            for w in workers:
                w.cancel()


def from_config(cfg: Any) -> CoordinatorService:
    """Factory for the service registry (see :mod:`josev.coordinator.factory`)."""
    from josev.coordinator.factory import from_config as build

    return build(cfg)
