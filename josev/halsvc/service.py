"""HAL service: board inputs -> retained bus states; HAL commands -> board outputs; watchdog -> safe state.

One poll loop reads every channel's pilot (every ``poll_s``), contactor feedback, RCD, lock and PP; changes
are published at once. Meters are read in a worker thread every ``meter_poll_s``. The watchdog expects the
coordinator's :class:`~josev.api.coordinator.Heartbeat`; when it stays away longer than
``watchdog_timeout_s`` every channel is put in the safe state (contactor open, pilot ``safe_pilot``) and
commands that would energise an output are refused until the heartbeat returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hal.interfaces import Board, Channel, Display, safe_state
from hal.sim import SimBoard
from hal.types import HardwareError, MeterError, PilotMode, PilotOutput
from josev.api import hal as api
from josev.api.base import Ack, CommandError
from josev.api.coordinator import Heartbeat
from josev.api.display import DisplayState
from josev.bus import Bus
from josev.halsvc.dc import DcPublisher, read_dc, set_dc_output, set_isolation
from josev.halsvc.simcar import SimCars
from josev.halsvc.watchdog import Watchdog

log = logging.getLogger("josev.hal")


@dataclass(frozen=True)
class HalServiceConfig:
    """Settings of the HAL service."""

    poll_s: float = 0.01
    """Pilot / input polling period."""
    meter_poll_s: float = 1.0
    """Meter polling period."""
    watchdog_timeout_s: float = 1.0
    """Coordinator silence that forces the safe state."""
    safe_pilot: Literal["f", "x1"] = "f"
    """Pilot in the safe state: F (-12 V, EVSE not available) or X1 (+12 V, no PWM)."""
    dc_deadband_v: float = 1.0
    """DC: publish a new DcOutputState when the measured voltage moved more than this."""
    dc_deadband_a: float = 0.5
    """DC: ... or the measured current moved more than this."""
    dc_min_interval_s: float = 0.02
    """DC: at most this often for measurement-only changes."""
    open_reading_s: float = 0.25
    """How long opening a contactor waits for the meter reading it returns (the final reading of a session);
    a slower meter leaves the reply without it (the next periodic sample follows)."""


class HalService:
    """The ``hal`` service for one board."""

    name = "hal"

    def __init__(
        self,
        board: Board,
        cfg: HalServiceConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.board = board
        self.cfg = cfg or HalServiceConfig()
        self.clock = clock
        self.n = len(board.capabilities().channels)
        self.channels: dict[int, Channel] = {e: board.channel(e) for e in range(1, self.n + 1)}
        self.watchdog = Watchdog(self.cfg.watchdog_timeout_s, clock())
        self.safe: dict[int, str] = {}
        self._cp: dict[int, api.CpReadingState] = {}
        self._ch: dict[int, api.ChannelState] = {}
        self._seq = 0
        self._dc = DcPublisher(self.cfg.dc_deadband_v, self.cfg.dc_deadband_a, self.cfg.dc_min_interval_s)
        self.on_cp: Callable[[int, api.CpReadingState], None] | None = None
        """Hook for benchmarks: called when a CP change is published."""
        self.on_command: Callable[[int, object], None] | None = None
        """Hook for benchmarks: called when a command was executed."""
        self._meter_now = asyncio.Event()
        """Set to read the meters at once (the contactor switched: the register at that moment is what a
        session's energy ends or starts with)."""
        self.cars = SimCars(board, list(self.channels)) if isinstance(board, SimBoard) else None
        """The simulated cars (simulator board only)."""
        self._meter_locks = {e: threading.Lock() for e in self.channels}
        """One meter read at a time per channel (the periodic poll and the reading at contactor open share
        the meter's serial line)."""
        self._bus: Bus | None = None

    # ---- commands ---------------------------------------------------------------------------------

    def _channel(self, evse: int | None) -> Channel:
        if evse is None or evse not in self.channels:
            raise CommandError("invalid_request", f"no EVSE {evse} on this board")
        return self.channels[evse]

    def _hw(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except (OSError, ValueError, HardwareError) as exc:
            raise CommandError("internal", f"{what} failed: {exc}") from exc

    async def _set_pilot(self, cmd: api.SetPilot, evse: int | None) -> Ack:
        ch = self._channel(evse)
        assert evse is not None
        out = PilotOutput(PilotMode(cmd.mode), cmd.duty_percent)
        if evse in self.safe and out.mode is not PilotMode(self.cfg.safe_pilot):
            raise CommandError("unavailable", f"EVSE {evse} held in safe state: {self.safe[evse]}")
        if out.mode is PilotMode.E and not self.board.capabilities().channels[evse - 1].can_drive_e:
            out = PilotOutput(PilotMode.F)
        self._hw("pilot", lambda: ch.cp.set_output(out))
        self._done(evse, cmd)
        return Ack()

    async def _set_contactor(self, cmd: api.SetContactor, evse: int | None) -> api.ContactorReply:
        ch = self._channel(evse)
        assert evse is not None
        if cmd.closed and evse in self.safe:
            raise CommandError("unavailable", f"EVSE {evse} held in safe state: {self.safe[evse]}")
        self._hw("contactor", lambda: ch.contactor.set_closed(cmd.closed))
        self._done(evse, cmd)
        self._meter_now.set()
        if cmd.closed or ch.meter is None:
            return api.ContactorReply()
        # the register right after the contactor opened is the session's final energy: read it now, publish
        # it, and hand it back (bounded: a slow meter must not turn a contactor command into a timeout)
        try:
            msg = await asyncio.wait_for(
                asyncio.to_thread(self._read_meter, evse, ch), self.cfg.open_reading_s
            )
        except TimeoutError:
            log.warning("EVSE %d: meter slower than %.2f s at contactor open", evse, self.cfg.open_reading_s)
            return api.ContactorReply()
        if self._bus is not None:
            await self._bus.publish(msg, evse)
        if not msg.ok:
            return api.ContactorReply()
        return api.ContactorReply(energy_wh=msg.energy_wh, energy_export_wh=msg.energy_export_wh)

    async def _set_lock(self, cmd: api.SetLock, evse: int | None) -> Ack:
        ch = self._channel(evse)
        lock = ch.lock
        if lock is None:
            raise CommandError("invalid_request", f"EVSE {evse} has no lock")
        self._hw("lock", lambda: lock.set_locked(cmd.locked))
        return Ack()

    async def _reset_rcd(self, cmd: api.ResetRcd, evse: int | None) -> Ack:
        ch = self._channel(evse)
        rcd = ch.rcd
        if rcd is None:
            raise CommandError("invalid_request", f"EVSE {evse} has no RCD input")
        self._hw("rcd reset", rcd.reset)
        return Ack()

    async def _set_dc_output(self, cmd: api.SetDcOutput, evse: int | None) -> Ack:
        ch = self._channel(evse)
        assert evse is not None
        self._hw("dc output", lambda: set_dc_output(ch, evse, cmd, self.safe.get(evse)))
        self._done(evse, cmd)
        return Ack()

    async def _set_isolation(self, cmd: api.SetIsolationMonitor, evse: int | None) -> Ack:
        ch = self._channel(evse)
        assert evse is not None
        self._hw("isolation monitor", lambda: set_isolation(ch, evse, cmd))
        return Ack()

    def _done(self, evse: int, cmd: object) -> None:
        if self.on_command is not None:
            self.on_command(evse, cmd)

    # ---- watchdog ---------------------------------------------------------------------------------

    def _heartbeat(self, msg: Heartbeat, evse: int | None) -> None:
        if self.watchdog.kick(self.clock()):
            log.warning("coordinator heartbeat back: safe state released (outputs stay safe until commanded)")
            self.safe.clear()

    def _display(self, msg: DisplayState, evse: int | None) -> None:
        display = getattr(self.board, "display", None)
        if evse is not None and isinstance(display, Display):
            try:
                display.show(evse, [line.text for line in msg.lines])
            except (OSError, ValueError, HardwareError) as exc:
                log.warning("display of EVSE %d failed: %s", evse, exc)

    def enter_safe_state(self, reason: str) -> None:
        """Put every channel in the safe state (contactor first, then the pilot)."""
        pilot = PilotOutput(PilotMode(self.cfg.safe_pilot))
        for evse, ch in self.channels.items():
            self.safe[evse] = reason
            try:
                safe_state(ch, pilot)
            except Exception:  # keep going with the other channels
                log.exception("EVSE %d: safe state incomplete", evse)

    async def _sim_car(self, cmd: api.SimCarControl, evse: int | None) -> Ack:
        if self.cars is None:
            raise CommandError("unavailable", "not a simulator board: there is no simulated car to control")
        return await self.cars.control(cmd, evse)

    # ---- polling ----------------------------------------------------------------------------------

    def _read_cp(self, evse: int, ch: Channel) -> api.CpReadingState | None:
        r = ch.cp.read()
        mode = ch.cp.output().mode.value
        prev = self._cp.get(evse)
        if (
            prev is not None
            and prev.state == r.state.value
            and prev.diode_fault == r.diode_fault
            and prev.pilot_mode == mode
        ):
            return None
        self._seq += 1
        msg = api.CpReadingState(
            state=r.state.value,
            diode_fault=r.diode_fault,
            high_v=r.high_v,
            low_v=r.low_v,
            pilot_mode=mode,
            seq=self._seq,
            t_mono=self.clock(),
        )
        self._cp[evse] = msg
        return msg

    def _read_channel(self, evse: int, ch: Channel) -> api.ChannelState | None:
        out = ch.cp.output()
        msg = api.ChannelState(
            pilot_mode=out.mode.value,
            duty_percent=out.duty_percent,
            contactor_commanded=ch.contactor.commanded(),
            contactor_feedback=ch.contactor.feedback(),
            rcd_tripped=ch.rcd.tripped() if ch.rcd is not None else None,
            lock=ch.lock.state().value if ch.lock is not None else None,
            cable_ampacity_a=ch.pp.cable_ampacity() if ch.pp is not None else None,
            safe_state=evse in self.safe,
            safe_reason=self.safe.get(evse, ""),
        )
        if self._ch.get(evse) == msg:
            return None
        self._ch[evse] = msg
        return msg

    async def _poll_once(self, bus: Bus) -> None:
        if self.watchdog.check(self.clock()):
            log.error("coordinator silent for %.2f s: safe state", self.cfg.watchdog_timeout_s)
            self.enter_safe_state("coordinator_timeout")
        for evse, ch in self.channels.items():
            try:
                cp = self._read_cp(evse, ch)
                if cp is not None:
                    await bus.publish(cp, evse)
                    if self.on_cp is not None:
                        self.on_cp(evse, cp)
                st = self._read_channel(evse, ch)
                if st is not None:
                    await bus.publish(st, evse)
                car = self.cars.changed(evse) if self.cars is not None else None
                if car is not None:
                    await bus.publish(car, evse)
                now = self.clock()
                dc = read_dc(ch, now)
                if dc is not None and self._dc.offer(evse, dc, now):
                    await bus.publish(dc, evse)
            except (OSError, ValueError, HardwareError) as exc:
                log.error("EVSE %d: read failed: %s", evse, exc)

    def _read_meter(self, evse: int, ch: Channel) -> api.MeterState:
        """One meter reading (in a worker thread), or the error."""
        meter = ch.meter
        assert meter is not None
        with self._meter_locks[evse]:
            try:
                r = meter.read()
            except (MeterError, OSError, HardwareError) as exc:
                return api.MeterState(ok=False, error=str(exc))
        return api.MeterState(
            ok=True,
            energy_wh=r.energy_wh,
            power_w=r.power_w,
            voltage_v=list(r.voltage_v),
            current_a=list(r.current_a),
            frequency_hz=r.frequency_hz,
            energy_export_wh=r.energy_export_wh,
        )

    async def _meters(self, bus: Bus, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for evse, ch in self.channels.items():
                if ch.meter is None:
                    continue
                msg = await asyncio.to_thread(self._read_meter, evse, ch)
                await bus.publish(msg, evse)
            self._meter_now.clear()
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._meter_now.wait())}
            await asyncio.wait(waits, timeout=self.cfg.meter_poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

    def board_info(self) -> api.BoardInfo:
        """The BoardInfo message."""
        caps = self.board.capabilities()
        return api.BoardInfo(
            board=caps.name,
            channels=[
                api.ChannelInfo(
                    max_current_a=c.max_current_a,
                    phases=c.phases,
                    can_drive_e=c.can_drive_e,
                    has_pp=c.has_pp,
                    has_lock=c.has_lock,
                    has_rcd=c.has_rcd,
                    has_contactor_feedback=c.has_contactor_feedback,
                    has_meter=c.has_meter,
                    dc=c.dc,
                    dc_max_voltage_v=c.dc_max_voltage_v if c.dc else None,
                    dc_max_current_a=c.dc_max_current_a if c.dc else None,
                    dc_max_power_w=c.dc_max_power_w if c.dc else None,
                    dc_max_discharge_current_a=c.dc_max_discharge_current_a if c.dc else None,
                    has_imd=c.dc and c.has_imd,
                )
                for c in caps.channels
            ],
            watchdog_timeout_s=self.cfg.watchdog_timeout_s,
        )

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve until ``stop``; leaves every channel in the safe state."""
        self.enter_safe_state("starting")
        self.safe.clear()
        self._bus = bus
        # what the hardware reports now goes out before any command is answered: a coordinator takes HAL
        # inputs as present truth once we answered it (what the broker kept may be from before a power cut)
        self.watchdog.kick(self.clock())
        await self._poll_once(bus)
        bus.serve(api.SetPilot, self._set_pilot)
        bus.serve(api.SetContactor, self._set_contactor)
        bus.serve(api.SetLock, self._set_lock)
        bus.serve(api.ResetRcd, self._reset_rcd)
        bus.serve(api.SetDcOutput, self._set_dc_output)
        bus.serve(api.SetIsolationMonitor, self._set_isolation)
        bus.serve(api.SimCarControl, self._sim_car)
        bus.subscribe(Heartbeat, self._heartbeat, None)
        bus.subscribe(DisplayState, self._display)
        await bus.publish(self.board_info())
        self.watchdog.kick(self.clock())
        meters = asyncio.create_task(self._meters(bus, stop))
        await bus.set_status("ready")
        try:
            while not stop.is_set():
                await self._poll_once(bus)
                await _wait(stop, self.cfg.poll_s)
        finally:
            meters.cancel()
            self.enter_safe_state("stopped")
            # the last word on the bus: every channel's retained state shows the safe state it is left in
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._poll_once(bus), 1.0)
            self.board.close()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def from_config(cfg: Any) -> HalService:
    """Factory for the service registry (see :mod:`josev.halsvc.factory`)."""
    from josev.halsvc.factory import from_config as build

    return build(cfg)
