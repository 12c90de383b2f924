"""The software board: N channels, each with pilot, PP, contactor, lock, RCD and meter, and a plug.

Everything is driven by a :class:`~hal.sim.clock.Clock`; energy is integrated exactly between changes, so a
test with a :class:`~hal.sim.clock.FakeClock` is deterministic. Faults are injected with plain methods:
:meth:`SimChannel.plug`, :meth:`SimChannel.unplug`, ``channel.ev.requested = CpState.C``, ``ev.diode_fault``,
:meth:`SimRcd.trip`, :meth:`SimContactor.weld`, ``meter.lost = True``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hal.cp import PP_TABLE, CpClassifier
from hal.interfaces import Channel
from hal.sim.clock import Clock, MonotonicClock
from hal.sim.dc import SimDcSupply, SimIsolationMonitor
from hal.sim.ev import SimEv
from hal.types import (
    BoardCapabilities,
    ChannelCapabilities,
    CpReading,
    CpState,
    LockState,
    MeterError,
    MeterReading,
    PilotMode,
    PilotOutput,
)

_display_log = logging.getLogger("hal.sim.display")


class SimControlPilot:
    """Simulated pilot: produces the voltages the EV's resistors give and classifies them."""

    def __init__(self, ch: SimChannel) -> None:
        self._ch = ch
        self._out = PilotOutput(PilotMode.X1)
        self._cls = CpClassifier(debounce=1)
        self.writes: list[PilotOutput] = []
        """Every output set, in order (for tests)."""

    def set_output(self, out: PilotOutput) -> None:
        """Drive the pilot."""
        ch = self._ch
        ch.settle()
        before = ch.current_a()
        self._out = out
        self.writes.append(out)
        if ch.ev is not None:
            ch.ev.react(out)
            if ch.ev.adapt_s > 0 and ch.current_a() < before:
                ch.slow = (ch.clock.now() + ch.ev.adapt_s, before)

    def output(self) -> PilotOutput:
        """Current output."""
        return self._out

    def voltages(self) -> tuple[float, float | None]:
        """(positive plateau, negative plateau or None) as the ADC would see them."""
        mode = self._out.mode
        if mode is PilotMode.F:
            return -12.0, None
        if mode is PilotMode.E:
            return 0.0, None
        ev = self._ch.ev
        high = 12.0 if ev is None else ev.pilot_level()
        if mode is PilotMode.X1:
            return high, None
        low = -12.0
        if ev is not None and (ev.diode_fault or ev.short_to_pe):
            low = -high
        return high, low

    def read(self) -> CpReading:
        """Classified reading. Also integrates the energy up to now: scripts change the car's fields directly
        (``ev.requested = CpState.B``), and the HAL polls the pilot every few ms, so the meter never counts
        the new state over the time before it."""
        self._ch.settle()
        high, low = self.voltages()
        return self._cls.feed(high, low, pwm=self._out.mode is PilotMode.PWM)


class SimProximity:
    """Simulated PP: the resistor of the inserted cable."""

    def __init__(self, ch: SimChannel) -> None:
        self._ch = ch

    def resistance_ohm(self) -> float | None:
        """Resistor of the inserted cable; None when no cable."""
        amps = self._ch.cable_a
        if amps is None:
            return None
        for lo, hi, a in PP_TABLE:
            if a == amps:
                return (lo + hi) / 2.0
        raise ValueError(f"no PP coding for a {amps} A cable")

    def cable_ampacity(self) -> float | None:
        """Cable current capability (A)."""
        return self._ch.cable_a


class SimContactor:
    """Simulated contactor with feedback; :meth:`weld` sticks the contacts where they are."""

    def __init__(self, ch: SimChannel) -> None:
        self._ch = ch
        self._cmd = False
        self._contacts = False
        self.welded = False
        self.stuck_open = False
        self.opens_under_load = 0
        """How often the contacts opened while current flowed."""

    def set_closed(self, closed: bool) -> None:
        """Command the contactor."""
        self._ch.settle()
        self._cmd = closed
        if self.welded or (closed and self.stuck_open):
            return
        if closed != self._contacts and not closed and self._ch.current_a() > 0.0:
            self.opens_under_load += 1
        self._contacts = closed

    def commanded(self) -> bool:
        """Last command."""
        return self._cmd

    def feedback(self) -> bool:
        """Contacts closed."""
        return self._contacts

    def weld(self) -> None:
        """Weld the contacts in their present position."""
        self.welded = True


class SimLock:
    """Simulated lock: moves at once unless jammed."""

    def __init__(self) -> None:
        self._state = LockState.UNLOCKED
        self.jammed = False

    def set_locked(self, locked: bool) -> None:
        """Move the lock."""
        self._state = LockState.FAULT if self.jammed else (LockState.LOCKED if locked else LockState.UNLOCKED)

    def state(self) -> LockState:
        """Position."""
        return self._state


class SimRcd:
    """Simulated residual-current monitor; :meth:`trip` latches a fault."""

    def __init__(self, ch: SimChannel) -> None:
        self._ch = ch
        self._tripped = False
        self.fault_persists = False

    def trip(self) -> None:
        """Latch a residual-current fault (cuts the supply to the EV)."""
        self._ch.settle()
        self._tripped = True

    def tripped(self) -> bool:
        """Latched trip."""
        return self._tripped

    def reset(self) -> None:
        """Clear the trip unless the fault persists."""
        if not self.fault_persists:
            self._tripped = False


class SimMeter:
    """Simulated meter integrating the channel's power; ``lost = True`` makes it stop answering."""

    def __init__(self, ch: SimChannel) -> None:
        self._ch = ch
        self.lost = False
        self.voltage_v: float | None = None
        """Grid voltage the meter measures (None: the channel's nominal voltage); set it to simulate a sag or
        an over-voltage."""

    def read(self) -> MeterReading:
        """Sample."""
        if self.lost:
            raise MeterError("simulated meter does not answer")
        self._ch.settle()
        dc = self._ch.dc
        if dc is not None:
            return MeterReading(
                energy_wh=self._ch.energy_wh,
                power_w=dc.v * dc.i,
                voltage_v=(dc.v,),
                current_a=(dc.i,),
                energy_export_wh=self._ch.energy_export_wh,
            )
        amps = self._ch.current_a()
        ph = self._ch.phases_in_use()
        volts = self._ch.caps.nominal_voltage_v if self.voltage_v is None else self.voltage_v
        cur = tuple(amps if i < ph else 0.0 for i in range(self._ch.caps.phases))
        return MeterReading(
            energy_wh=self._ch.energy_wh,
            power_w=amps * volts * ph,
            voltage_v=tuple(volts for _ in range(self._ch.caps.phases)),
            current_a=cur,
            frequency_hz=50.0,
            energy_export_wh=self._ch.energy_export_wh,
        )


class SimChannel:
    """One simulated EVSE channel with an optional EV plugged in."""

    def __init__(self, caps: ChannelCapabilities, clock: Clock) -> None:
        self.caps = caps
        self.clock = clock
        self.ev: SimEv | None = None
        self.cable_a: float | None = None
        self.energy_wh = 0.0
        self.energy_export_wh = 0.0
        """Energy the vehicle returned (DC discharge)."""
        self.slow: tuple[float, float] | None = None
        """(until, amps): the EV still draws ``amps`` until then while adapting to a lower duty cycle."""
        self._t = clock.now()
        self.cp = SimControlPilot(self)
        self.pp = SimProximity(self)
        self.contactor = SimContactor(self)
        self.lock = SimLock()
        self.rcd = SimRcd(self)
        self.meter = SimMeter(self)
        self.dc: SimDcSupply | None = None
        self.imd: SimIsolationMonitor | None = None
        if caps.dc:
            self.dc = SimDcSupply(
                self,
                caps.dc_max_voltage_v,
                caps.dc_max_current_a,
                caps.dc_max_power_w,
                caps.dc_max_discharge_current_a,
            )
            self.imd = SimIsolationMonitor(self) if caps.has_imd else None

    def plug(self, ev: SimEv | None = None, cable_a: float | None = 32.0) -> SimEv:
        """Plug an EV (a fresh default one when None) with a cable of ``cable_a`` amps."""
        self.settle()
        self.ev = ev if ev is not None else SimEv()
        self.cable_a = cable_a if self.caps.has_pp else None
        self.ev.react(self.cp.output())
        return self.ev

    def unplug(self) -> None:
        """Pull the plug."""
        self.settle()
        self.ev = None
        self.cable_a = None

    def phases_in_use(self) -> int:
        """Phases the EV draws on."""
        return 0 if self.ev is None else min(self.ev.phases, self.caps.phases)

    def current_a(self, at: float | None = None) -> float:
        """Per-phase current flowing now (or at time ``at`` under the present outputs)."""
        if self.ev is None or not self.contactor.feedback() or self.rcd.tripped() or self.dc is not None:
            return 0.0
        now = self.clock.now() if at is None else at
        draw = self.ev.draw(self.cp.output())
        if self.slow is not None and now < self.slow[0] and self.ev.requested is not CpState.B:
            return max(draw, self.slow[1])
        return draw

    def settle(self) -> None:
        """Integrate energy up to now (called before every change)."""
        now = self.clock.now()
        if self.dc is not None:
            wh = self.dc.advance(max(0.0, now - self._t))
            if wh >= 0:
                self.energy_wh += wh
            else:
                self.energy_export_wh -= wh
            self._t = now
            return
        if self.slow is not None and self._t < self.slow[0] <= now:
            until = self.slow[0]
            self._count(
                self.current_a(self._t) * self.caps.nominal_voltage_v * self.phases_in_use(), until - self._t
            )
            self._t = until
            self.slow = None
        dt = now - self._t
        if dt > 0:
            self._count(self.current_a() * self.caps.nominal_voltage_v * self.phases_in_use(), dt)
        self._t = now

    def _count(self, watts: float, seconds: float) -> None:
        """Add ``watts`` over ``seconds`` to the import register, or to the export register when negative
        (an AC car discharging: ``SimEv.hlc_current_a < 0``)."""
        if watts >= 0:
            self.energy_wh += watts * seconds / 3600
        else:
            self.energy_export_wh -= watts * seconds / 3600

    def as_channel(self) -> Channel:
        """The HAL view of this channel."""
        return Channel(
            cp=self.cp,
            contactor=self.contactor,
            pp=self.pp if self.caps.has_pp else None,
            lock=self.lock if self.caps.has_lock else None,
            rcd=self.rcd if self.caps.has_rcd else None,
            meter=self.meter if self.caps.has_meter else None,
            dc_supply=self.dc,
            isolation=self.imd,
        )


class SimDisplay:
    """The simulator's display: records what each EVSE shows and prints every change (to the ``hal.sim.display``
    log, so a live terminal view is not disturbed; ``echo=print`` prints to stdout)."""

    def __init__(self, echo: Callable[[str], object] | None = _display_log.info) -> None:
        self.shown: dict[int, list[str]] = {}
        self.history: list[tuple[int, list[str]]] = []
        self.echo = echo

    def show(self, evse: int, lines: list[str]) -> None:
        """Record (and print) the lines of EVSE ``evse``."""
        self.shown[evse] = list(lines)
        self.history.append((evse, list(lines)))
        if self.echo is not None:
            self.echo(f"[display evse{evse}] " + (" | ".join(lines) if lines else "(blank)"))


class SimBoard:
    """A simulated board with ``len(caps.channels)`` EVSE channels and a small event scheduler."""

    def __init__(self, caps: BoardCapabilities | None = None, clock: Clock | None = None) -> None:
        self.caps = caps or BoardCapabilities(name="sim", channels=(ChannelCapabilities(has_meter=True),))
        self.clock: Clock = clock or MonotonicClock()
        self.channels = [SimChannel(c, self.clock) for c in self.caps.channels]
        self.display = SimDisplay()
        self._script: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = 0

    @classmethod
    def with_channels(cls, n: int, clock: Clock | None = None, **caps: object) -> SimBoard:
        """A board of ``n`` identical channels (keyword arguments go to ChannelCapabilities)."""
        ch = ChannelCapabilities(has_meter=True, **caps)  # type: ignore[arg-type]
        return cls(BoardCapabilities(name="sim", channels=tuple(ch for _ in range(n))), clock)

    def capabilities(self) -> BoardCapabilities:
        """Board capabilities."""
        return self.caps

    def sim(self, evse: int) -> SimChannel:
        """The simulation handle of EVSE ``evse`` (1-based)."""
        if not 1 <= evse <= len(self.channels):
            raise KeyError(f"no EVSE {evse} on this board")
        return self.channels[evse - 1]

    def channel(self, evse: int) -> Channel:
        """HAL view of EVSE ``evse``."""
        return self.sim(evse).as_channel()

    def close(self) -> None:
        """Nothing to release."""

    def at(self, t: float, action: Callable[[], object]) -> None:
        """Script ``action`` to run when :meth:`run_until` passes time ``t``."""
        self._seq += 1
        self._script.append((t, self._seq, action))
        self._script.sort(key=lambda e: (e[0], e[1]))

    def due(self) -> float | None:
        """Time of the next scripted action."""
        return self._script[0][0] if self._script else None

    def run_due(self) -> int:
        """Run every scripted action whose time has come; returns how many ran."""
        n = 0
        while self._script and self._script[0][0] <= self.clock.now():
            _, _, action = self._script.pop(0)
            action()
            n += 1
        return n
