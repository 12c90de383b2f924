"""The Charge Control C board: HAL roles over sysfs PWM, IIO and named GPIO lines."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from hal.ccc.config import CccChannelConfig, CccConfig
from hal.ccc.gpio import GpioBackend, GpiodBackend
from hal.ccc.sysfs import IioAdc, SysfsPwm, find_pwm_chip
from hal.cp import CpClassifier, pp_ampacity
from hal.interfaces import Channel
from hal.types import (
    BoardCapabilities,
    ChannelCapabilities,
    CpReading,
    HardwareError,
    LockState,
    PilotMode,
    PilotOutput,
)


class CccControlPilot:
    """CP through the PWM (X1 = 100 % duty: constant +12 V; F = 0 %: constant -12 V) and two ADC channels."""

    def __init__(self, pwm: SysfsPwm, adc: IioAdc, cfg: CccChannelConfig, classifier: CpClassifier) -> None:
        self._pwm, self._adc, self._cfg, self._cls = pwm, adc, cfg, classifier
        self._out = PilotOutput(PilotMode.F)
        self.set_output(PilotOutput(PilotMode.X1))

    def set_output(self, out: PilotOutput) -> None:
        """Drive the pilot (state E cannot be produced by this front end: F is used instead)."""
        if out.mode is PilotMode.X1:
            self._pwm.set_duty(1.0)
        elif out.mode is PilotMode.PWM:
            self._pwm.set_duty(out.duty_percent / 100.0)
        else:
            self._pwm.set_duty(0.0)
        self._out = out

    def output(self) -> PilotOutput:
        """Current output."""
        return self._out

    def _volts(self, chan: str) -> float:
        return self._adc.millivolts(chan) / 1000.0 * self._cfg.cp_gain + self._cfg.cp_offset

    def read(self) -> CpReading:
        """Sample both plateaus and classify."""
        high = self._volts(self._cfg.cp_high_channel)
        pwm = self._out.mode is PilotMode.PWM
        low = self._volts(self._cfg.cp_low_channel) if pwm else None
        return self._cls.feed(high, low, pwm=pwm)


class CccProximity:
    """PP resistor from the voltage of a pull-up divider."""

    def __init__(self, adc: IioAdc, cfg: CccChannelConfig) -> None:
        self._adc, self._cfg = adc, cfg

    def resistance_ohm(self) -> float | None:
        """Coding resistor (None: open)."""
        assert self._cfg.pp_channel is not None
        v = self._adc.millivolts(self._cfg.pp_channel) / 1000.0
        if v >= self._cfg.pp_supply_v * 0.98:
            return None
        return self._cfg.pp_pullup_ohm * v / (self._cfg.pp_supply_v - v)

    def cable_ampacity(self) -> float | None:
        """Cable capability (A)."""
        return pp_ampacity(self.resistance_ohm())


class CccContactor:
    """Relay output plus optional mirror-contact input."""

    def __init__(self, gpio: GpioBackend, cfg: CccChannelConfig) -> None:
        self._gpio, self._cfg = gpio, cfg
        self._cmd = False

    def set_closed(self, closed: bool) -> None:
        """Drive the relay."""
        self._gpio.set(self._cfg.relay_line, closed)
        self._cmd = closed

    def commanded(self) -> bool:
        """Last command."""
        return self._cmd

    def feedback(self) -> bool | None:
        """Mirror contact."""
        line = self._cfg.relay_sense_line
        return None if line is None else self._gpio.get(line)


class CccRcd:
    """Residual-current monitor input (and optional reset output)."""

    def __init__(self, gpio: GpioBackend, cfg: CccChannelConfig, sleep: Callable[[float], None]) -> None:
        self._gpio, self._cfg, self._sleep = gpio, cfg, sleep

    def tripped(self) -> bool:
        """Trip input."""
        assert self._cfg.rcd_line is not None
        return self._gpio.get(self._cfg.rcd_line)

    def reset(self) -> None:
        """Pulse the reset line, if there is one."""
        line = self._cfg.rcd_reset_line
        if line is not None:
            self._gpio.set(line, True)
            self._sleep(0.05)
            self._gpio.set(line, False)


class CccLock:
    """Lock motor on an H-bridge, driven for ``lock_pulse_s`` (stopped on the next :meth:`state` call)."""

    def __init__(self, gpio: GpioBackend, cfg: CccChannelConfig, clock: Callable[[], float]) -> None:
        self._gpio, self._cfg, self._clock = gpio, cfg, clock
        self._want: bool | None = None
        self._until = 0.0

    def set_locked(self, locked: bool) -> None:
        """Start the motor in the wanted direction."""
        in1, in2 = self._cfg.lock_in1_line, self._cfg.lock_in2_line
        assert in1 is not None and in2 is not None
        self._gpio.set(in2 if locked else in1, False)
        self._gpio.set(in1 if locked else in2, True)
        self._want, self._until = locked, self._clock() + self._cfg.lock_pulse_s

    def state(self) -> LockState:
        """Position from the sense line once the pulse is over."""
        in1, in2 = self._cfg.lock_in1_line, self._cfg.lock_in2_line
        assert in1 is not None and in2 is not None
        if self._want is not None and self._clock() < self._until:
            return LockState.MOVING
        if self._want is not None:
            self._gpio.set(in1, False)
            self._gpio.set(in2, False)
        sense = self._cfg.lock_sense_line
        if sense is None:
            return LockState.LOCKED if self._want else LockState.UNLOCKED
        locked = self._gpio.get(sense)
        if self._want is not None and locked != self._want:
            return LockState.FAULT
        return LockState.LOCKED if locked else LockState.UNLOCKED


class CccBoard:
    """Charge Control C: one :class:`Channel` per configured EVSE channel."""

    def __init__(
        self,
        cfg: CccConfig,
        gpio: GpioBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cfg = cfg
        self.gpio: GpioBackend = gpio if gpio is not None else GpiodBackend(cfg.root)
        outputs: dict[str, bool] = {}
        inputs: list[str] = []
        for ch in cfg.channels:
            outputs[ch.relay_line] = False
            for line in (ch.rcd_reset_line, ch.lock_in1_line, ch.lock_in2_line):
                if line is not None:
                    outputs[line] = False
            inputs += [x for x in (ch.relay_sense_line, ch.rcd_line, ch.lock_sense_line) if x is not None]
        self.gpio.request(outputs, inputs)
        self._channels: list[Channel] = []
        caps = []
        try:
            for ch in cfg.channels:
                pwm = SysfsPwm(find_pwm_chip(cfg.root, ch.pwm_chip), ch.pwm_channel, ch.pwm_period_ns)
                adc = IioAdc(cfg.root, ch.adc_device)
                cp = CccControlPilot(pwm, adc, ch, CpClassifier(cfg.hysteresis_v, cfg.debounce))
                self._channels.append(
                    Channel(
                        cp=cp,
                        contactor=CccContactor(self.gpio, ch),
                        pp=CccProximity(adc, ch) if ch.pp_channel else None,
                        lock=CccLock(self.gpio, ch, clock) if ch.lock_in1_line and ch.lock_in2_line else None,
                        rcd=CccRcd(self.gpio, ch, sleep) if ch.rcd_line else None,
                    )
                )
                caps.append(
                    ChannelCapabilities(
                        max_current_a=ch.max_current_a,
                        phases=ch.phases,
                        can_drive_e=False,
                        has_pp=ch.pp_channel is not None,
                        has_lock=ch.lock_in1_line is not None,
                        has_rcd=ch.rcd_line is not None,
                        has_contactor_feedback=ch.relay_sense_line is not None,
                    )
                )
        except HardwareError:
            self.gpio.close()
            raise
        self._caps = BoardCapabilities(name="chargebyte-charge-control-c", channels=tuple(caps))

    def capabilities(self) -> BoardCapabilities:
        """Capabilities from the configuration."""
        return self._caps

    def channel(self, evse: int) -> Channel:
        """Roles of EVSE ``evse``."""
        if not 1 <= evse <= len(self._channels):
            raise KeyError(f"no EVSE {evse} on this board")
        return self._channels[evse - 1]

    def close(self) -> None:
        """Open every relay, release GPIO lines."""
        for ch in self._channels:
            with contextlib.suppress(OSError):
                ch.contactor.set_closed(False)
        self.gpio.close()
