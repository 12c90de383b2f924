"""Configuration of the Charge Control C driver: which PWM, ADC channels and GPIO line names to use.

Defaults describe one EVSE channel; the line and device names must match the board's device tree (check them
with ``gpioinfo`` and ``cat /sys/bus/iio/devices/*/name`` on the target).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CccChannelConfig:
    """Hardware resources of one EVSE channel."""

    pwm_chip: str = "pwm-cp"
    """The PWM controller, matched against the name of ``pwmchipN/device`` (its device node name) or of
    ``pwmchipN/device/of_node`` - never the chip index, which changes with probe order."""
    pwm_channel: int = 0
    """Channel on that chip."""
    pwm_period_ns: int = 1_000_000
    """1 kHz."""
    adc_device: str = "cp-adc"
    """IIO device ``name`` of the ADC."""
    cp_high_channel: str = "in_voltage0"
    """ADC channel of the positive-plateau (peak) detector."""
    cp_low_channel: str = "in_voltage1"
    """ADC channel of the negative-plateau detector."""
    pp_channel: str | None = None
    """ADC channel of the proximity contact (None: attached cable, no PP)."""
    cp_gain: float = 1.0
    """CP volts per ADC volt (the analog front end's divider/shift): cp = adc * gain + offset."""
    cp_offset: float = 0.0
    """See ``cp_gain``."""
    pp_pullup_ohm: float = 330.0
    """Pull-up of the PP contact to ``pp_supply_v``."""
    pp_supply_v: float = 5.0
    """PP pull-up supply."""
    relay_line: str = "RELAY_1_ENABLE"
    """GPIO line driving the contactor coil (active high)."""
    relay_sense_line: str | None = "RELAY_1_SENSE"
    """GPIO line of the contactor's mirror contact (high: closed); None without feedback."""
    rcd_line: str | None = "RCD_TRIP"
    """GPIO input of the residual-current monitor (high: tripped)."""
    rcd_reset_line: str | None = None
    """GPIO output pulsed to reset the residual-current monitor."""
    lock_in1_line: str | None = None
    """H-bridge input 1 of the lock motor (None: no lock)."""
    lock_in2_line: str | None = None
    """H-bridge input 2 of the lock motor."""
    lock_sense_line: str | None = None
    """Lock feedback (high: locked)."""
    lock_pulse_s: float = 0.6
    """How long the lock motor is driven."""
    max_current_a: float = 32.0
    """Rating of this channel."""
    phases: int = 3
    """Phases switched."""


@dataclass(frozen=True)
class CccConfig:
    """Board configuration: the file-system root (``/`` on the target, a temp dir in tests) and channels."""

    root: Path = Path("/")
    channels: tuple[CccChannelConfig, ...] = field(default_factory=lambda: (CccChannelConfig(),))
    hysteresis_v: float = 0.5
    debounce: int = 2
