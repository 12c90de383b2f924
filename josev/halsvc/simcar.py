"""The simulated car on the HAL simulator board: the ``hal`` service's :class:`~josev.api.hal.SimCarControl`
and :class:`~josev.api.hal.SimCarState` (see :mod:`josev.api.hal`).

With ``[hal] board = "sim"`` a station started by ``josev run`` can be driven end to end from the bus: plug a
car, let it charge, pull the plug. :func:`plug_car` is also what the reference station's car bridge
(:mod:`josev.sim.board`) plugs in, so both make the same car.
"""

from __future__ import annotations

from typing import Any

from hal.sim import SimBoard
from hal.sim.dc import SimBattery
from hal.sim.ev import SimEv
from hal.types import CpState
from josev.api import hal as api
from josev.api.base import Ack, CommandError

DC_HEADROOM_V = 15.0
"""How far the DC car's battery (open-circuit) sits under the voltage its EV asks for. The simulated supply is a
voltage-limited source: into a battery at ``ocv`` with internal resistance ``r`` it drives at most
``(target - ocv) / r`` amperes, so a battery at the EV's own target voltage takes no current at all (every DC
session of the real stack metered 0 Wh that way). 15 V leaves room for 300 A through the 0.05 ohm battery and is
within the 20 V an EV accepts between the precharge voltage and its battery."""


def dc_battery(target_v: float) -> SimBattery:
    """The battery of a DC car whose EV targets ``target_v`` (PreCharge / CurrentDemand): half full, its
    open-circuit voltage :data:`DC_HEADROOM_V` under ``target_v`` (a 40 V span between empty and full)."""
    ocv = target_v - DC_HEADROOM_V
    return SimBattery(soc=0.5, v_empty=ocv - 20.0, v_full=ocv + 20.0)


def plug_car(
    channel: Any,
    *,
    ready: bool = False,
    auto_ready: bool = False,
    max_current_a: float = 16.0,
    phases: int = 3,
    hlc_current_a: float = 0.0,
    cable_a: float | None = 32.0,
    auto_dc: bool = True,
) -> SimEv:
    """Plug a fresh car into a :class:`hal.sim.board.SimChannel`. A DC channel's car has a battery whose
    open-circuit voltage sits :data:`DC_HEADROOM_V` under 400 V (the default target voltage of the network EV
    simulator ``josev ev --voltage``) and, with ``auto_dc``, drives its own DC contactors (closed after
    precharge, open when the output goes off)."""
    ev = SimEv(
        requested=CpState.C if ready else CpState.B,
        auto_ready=auto_ready,
        max_current_a=max_current_a,
        phases=phases,
        hlc_current_a=hlc_current_a,
    )
    if getattr(channel.caps, "dc", False):
        ev.battery = dc_battery(400.0)
        ev.auto_dc = auto_dc
    channel.plug(ev, cable_a=cable_a)
    return ev


class SimCars:
    """The cars of a :class:`hal.sim.SimBoard`, for the HAL service."""

    def __init__(self, board: SimBoard, evses: list[int]) -> None:
        self.board = board
        self.plug_ins: dict[int, int] = dict.fromkeys(evses, 0)
        self._seen: dict[int, tuple[bool, str | None]] = {}

    def _cp(self, evse: int) -> api.SimCarPilot | None:
        ev = self.board.sim(evse).ev
        if ev is None:
            return None
        letter = ev.requested.value
        return letter if letter in ("B", "C", "D") else None  # type: ignore[return-value]

    async def control(self, cmd: api.SimCarControl, evse: int | None) -> Ack:
        """Execute :class:`~josev.api.hal.SimCarControl`."""
        if evse is None or evse not in self.plug_ins:
            raise CommandError("invalid_request", f"no EVSE {evse} on this board")
        ch = self.board.sim(evse)
        if cmd.action == "plug":
            if ch.ev is not None:
                raise CommandError("invalid_request", f"EVSE {evse}: a car is already plugged in")
            plug_car(
                ch,
                ready=cmd.ready,
                auto_ready=cmd.auto_ready and not cmd.ready,
                max_current_a=cmd.max_current_a,
                phases=cmd.phases,
                hlc_current_a=cmd.hlc_current_a,
                cable_a=cmd.cable_a,
            )
        elif cmd.action == "unplug":
            ch.unplug()
        else:
            if ch.ev is None:
                raise CommandError("invalid_request", f"EVSE {evse}: no car plugged in")
            ch.settle()
            ch.ev.auto_ready = False  # scripted from now on
            ch.ev.requested = CpState(cmd.cp)
        return Ack()

    def changed(self, evse: int) -> api.SimCarState | None:
        """The car's state if it changed since the last call (plugging in counts as a plug-in)."""
        cp = self._cp(evse)
        plugged = self.board.sim(evse).ev is not None
        prev = self._seen.get(evse)
        if prev == (plugged, cp):
            return None
        if plugged and (prev is None or not prev[0]):
            self.plug_ins[evse] += 1
        self._seen[evse] = (plugged, cp)
        return api.SimCarState(plugged=plugged, cp=cp, plug_ins=self.plug_ins[evse])
