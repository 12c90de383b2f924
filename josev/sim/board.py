"""The simulated car's pilot and plug on the HAL simulator board, for ``josev station --sim --stack real``.

A simulated EV on the network (``josev ev`` in its own namespace, or a foreign EV) cannot reach the station's
private bus, so the station plays its pilot and plug: :class:`SimEvBridge` keeps a car plugged into the board
(CP state B; a DC car with a ~400 V battery, see :func:`josev.halsvc.simcar.plug_car`), switches it to C when
the high-level session starts (a real EV closes S2 before CableCheck / PowerDelivery), connects its battery at
PowerDelivery Start (DC; the battery then sits :data:`~josev.halsvc.simcar.DC_HEADROOM_V` under the voltage the
EV precharged to, so the supply can drive the EV's target current into it and the meter counts what the SECC
reports), disconnects it and goes back to B after PowerDelivery Stop, and unplugs and replugs it
after every session the EV ended (SessionStop) so the coordinator sees the next car as a new session; after a
failed one (FAILED, timeout, TCP lost) it stays plugged in, as a car that tries again does. The HAL publishes the car's state
(:class:`josev.api.hal.SimCarState`) and takes manual commands for it (:class:`josev.api.hal.SimCarControl`).

:class:`SlacLinkUp` stands in for SLAC with ``--slac off``: it reports the link as matched as soon as the pilot
shows 5 % with a car connected, which is what "the link is taken as already matched" means to the coordinator.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from typing import Any, Literal

from josev.api import coordinator as coord
from josev.api import secc as api
from josev.api.slac import SlacState
from josev.bus import Bus

log = logging.getLogger("josev.sim.board")

CpChoice = Literal["B", "C", "D"]

LATE_C_ENV = "JOSEV_SIM_LATE_C"
"""Tests only: a car that closes S2 (CP C) late, this many seconds after its first CableCheckReq of a session
(``never``: it stays at B), instead of when the session starts."""


def late_c_from_env() -> float | None:
    """The ``JOSEV_SIM_LATE_C`` delay (s), ``math.inf`` for ``never``, None when unset; ValueError naming the
    variable when it is neither a non-negative number nor ``never``."""
    raw = os.environ.get(LATE_C_ENV, "").strip()
    if not raw:
        return None
    if raw == "never":
        return math.inf
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{LATE_C_ENV}={raw!r}: expected seconds >= 0 or 'never'")
    return value


class SimEvBridge:
    """The ``simev`` service: the car's side of the pilot on a :class:`hal.sim.SimBoard` (see the module doc)."""

    name = "simev"

    def __init__(
        self,
        board: Any,
        evses: list[int],
        *,
        replug_delay_s: float = 0.5,
        wait_for: asyncio.Event | None = None,
        late_c_s: float | None = None,
    ) -> None:
        self.board = board
        self.late_c_s = late_c_s if late_c_s is not None else late_c_from_env()
        """Close S2 this long after the first CableCheckReq instead of at the session start (None: at the
        start; ``math.inf``: never)."""
        self.wait_for = wait_for
        self.evses = evses
        self.replug_delay_s = replug_delay_s
        self.sessions: dict[int, int] = dict.fromkeys(evses, 0)
        self.in_session: dict[int, bool] = dict.fromkeys(evses, False)
        """The SECC reports a V2G session on the EVSE (the car has closed S2, or will when plugged in)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ready = asyncio.Event()

    def _channel(self, evse: int) -> Any:
        return self.board.channels[evse - 1]

    def plug(self, evse: int) -> None:
        """Plug a fresh car (state B)."""
        from josev.halsvc.simcar import plug_car

        ch = self._channel(evse)
        if ch.ev is None:
            # the bridge follows the SECC's PowerDelivery instead; an AC car draws 16 A per phase under HLC (5 %)
            plug_car(ch, auto_dc=False, hlc_current_a=16.0)
            self.sessions[evse] += 1
            if self.in_session.get(evse) and self.late_c_s is None:
                # the EV's next V2G session started while the car was being replugged (a fast station): this car
                # is in it, so it closes S2 now, not never
                log.info("simev: EVSE %d: car plugged into a V2G session already under way: CP C", evse)
                self.set_cp(evse, "C")

    def unplug(self, evse: int) -> None:
        """Pull the plug."""
        self._channel(evse).unplug()

    def set_cp(self, evse: int, cp: CpChoice) -> None:
        """Switch the car's pilot state (no-op when unplugged)."""
        from hal.types import CpState

        ev = self._channel(evse).ev
        if ev is not None:
            ev.requested = CpState(cp)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replug(self, evse: int) -> None:
        self.unplug(evse)
        await asyncio.sleep(self.replug_delay_s)
        self.plug(evse)

    def _on_session(self, msg: api.SeccSessionState, evse: int | None) -> None:
        if evse not in self.sessions:
            return
        self.in_session[evse] = msg.status == "session"
        if msg.status == "session":
            if self.late_c_s is None:
                self.set_cp(evse, "C")
        elif msg.status == "ended":
            self._spawn(self._replug(evse))
        elif msg.status == "failed":  # the car opens its battery contactor, stays plugged in and tries again
            ev = self._channel(evse).ev
            if ev is not None:
                ev.dc_contactor_closed = False
            self.set_cp(evse, "B")

    def _on_target(self, msg: api.EvTarget, evse: int | None) -> None:
        """PreCharge: the EV's battery is at the voltage it precharges to (``josev ev --voltage`` or a foreign
        EV's own); the car's battery follows it while not connected yet."""
        from josev.halsvc.simcar import dc_battery

        if evse not in self.sessions or msg.phase != "precharge" or msg.voltage_v <= 0:
            return
        ch = self._channel(evse)
        ev = ch.ev
        if ev is None or ev.battery is None or ev.dc_contactor_closed:
            return
        want = dc_battery(msg.voltage_v)
        if abs(ev.battery.ocv() - want.ocv()) > 0.5:
            ch.settle()
            ev.battery = want

    async def _late_c(self, evse: int, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        log.info("simev: EVSE %d: the car closes S2 (C) %.1f s after its CableCheckReq", evse, delay_s)
        self.set_cp(evse, "C")

    def _on_hlc(self, msg: api.HlcEvent, evse: int | None) -> None:
        if evse in self.sessions and msg.step == "cable_check" and self.late_c_s is not None:
            if math.isinf(self.late_c_s):
                log.info("simev: EVSE %d: the car stays at B (never closes S2)", evse)
            else:
                self._spawn(self._late_c(evse, self.late_c_s))
        if evse not in self.sessions or msg.step != "power_delivery":
            return
        ch = self._channel(evse)
        ev = ch.ev
        if ev is None:
            return
        if msg.detail == "Start":  # DC: the car connects its battery after PreCharge
            ch.settle()  # the energy up to now under the old state
            ev.dc_contactor_closed = True
        elif msg.detail == "Stop":
            ch.settle()
            ev.dc_contactor_closed = False
            self.set_cp(evse, "B")

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Plug the cars and follow the SECC until ``stop``."""
        bus.subscribe(api.SeccSessionState, self._on_session)
        bus.subscribe(api.HlcEvent, self._on_hlc)
        bus.subscribe(api.EvTarget, self._on_target)
        if self.wait_for is not None:  # plug in only once the SECC follows the coordinator's session events
            waiter = asyncio.ensure_future(self.wait_for.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            await asyncio.sleep(0.2)
        for evse in self.evses:
            self.plug(evse)
        await bus.set_status("ready")
        self.ready.set()
        try:
            await stop.wait()
        finally:
            for t in list(self._tasks):
                t.cancel()


class SlacLinkUp:
    """The ``slac`` service for ``--slac off``: the link counts as matched while the pilot is at 5 % with a car
    connected (B/C/D), unmatched otherwise."""

    name = "slac"

    def __init__(self, evses: list[int], interface: str = "") -> None:
        self.evses = evses
        self.interface = interface
        self.status: dict[int, str] = {}
        self._bus: Bus | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def _on_pilot(self, msg: coord.PilotState, evse: int | None) -> None:
        if evse not in self.evses or self._bus is None:
            return
        hlc = msg.pilot_mode == "pwm" and abs(msg.duty_percent - 5.0) < 0.5 and msg.cp in ("B", "C", "D")
        status = "matched" if hlc else ("unmatched" if msg.cp in ("A", "E", "F", None) else None)
        if status is None or self.status.get(evse) == status:
            return
        self.status[evse] = status
        reason = "link taken as matched (--slac off)" if status == "matched" else "no car"
        task = asyncio.ensure_future(
            self._bus.publish(SlacState(status=status, reason=reason, interface=self.interface), evse)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Follow the pilot until ``stop``."""
        self._bus = bus
        bus.subscribe(coord.PilotState, self._on_pilot)
        for evse in self.evses:
            self.status[evse] = "unmatched"
            await bus.publish(SlacState(status="unmatched", interface=self.interface), evse)
        await bus.set_status("ready")
        await stop.wait()
