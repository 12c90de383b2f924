"""Linux sysfs PWM and IIO ADC access, relative to a root directory (``/`` on the target).

PWM (Documentation/ABI/testing/sysfs-class-pwm): ``/sys/class/pwm/pwmchipN/{npwm,export}`` and, once a channel
is exported, ``pwmchipN/pwmM/{period,duty_cycle,enable,polarity}`` with times in nanoseconds. IIO
(Documentation/ABI/testing/sysfs-bus-iio): ``/sys/bus/iio/devices/iio:deviceN/name`` and per channel
``<chan>_raw`` with ``<chan>_scale`` / ``<chan>_offset`` or their shared forms (``in_voltage_scale``); the
value in millivolts is ``(raw + offset) * scale``.
"""

from __future__ import annotations

import re
from pathlib import Path

from hal.types import HardwareError


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise HardwareError(f"cannot read {path}: {exc}") from exc


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise HardwareError(f"cannot write {value!r} to {path}: {exc}") from exc


def find_pwm_chip(root: Path, device: str) -> Path:
    """The ``pwmchipN`` directory whose device (or its device-tree node) is named ``device``."""
    base = root / "sys/class/pwm"
    seen = []
    for chip in sorted(base.glob("pwmchip*")):
        dev = chip / "device"
        names = {dev.resolve().name, (dev / "of_node").resolve().name}
        of_name = dev / "of_node" / "name"
        if of_name.is_file():
            names.add(of_name.read_text().strip("\x00\n "))
        seen.append(f"{chip.name}: {sorted(names)}")
        if device in names:
            return chip
    raise HardwareError(f"no PWM chip for device {device!r} under {base} (found {seen or 'none'})")


class SysfsPwm:
    """One PWM channel through sysfs."""

    def __init__(self, chip: Path, channel: int, period_ns: int) -> None:
        self.chip = chip
        self.channel = channel
        self.period_ns = period_ns
        npwm = int(_read(chip / "npwm"))
        if not 0 <= channel < npwm:
            raise HardwareError(f"{chip.name} has {npwm} channels, no channel {channel}")
        self.dir = chip / f"pwm{channel}"
        if not self.dir.is_dir():
            _write(chip / "export", str(channel))
            if not self.dir.is_dir():
                raise HardwareError(f"exporting channel {channel} of {chip} did not create {self.dir}")
        # duty must never exceed the period: shrink duty first, then set the period
        _write(self.dir / "duty_cycle", "0")
        _write(self.dir / "period", str(period_ns))
        self._duty_ns = 0

    def set_duty(self, fraction: float) -> None:
        """Set the duty cycle (0..1) and enable the output."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"duty fraction must be within 0..1, got {fraction}")
        ns = round(self.period_ns * fraction)
        if ns != self._duty_ns:
            _write(self.dir / "duty_cycle", str(ns))
            self._duty_ns = ns
        if _read(self.dir / "enable") != "1":
            _write(self.dir / "enable", "1")

    def disable(self) -> None:
        """Stop the output."""
        _write(self.dir / "enable", "0")


_CHAN = re.compile(r"^(in_[a-z]+)(\d+)$")


class IioAdc:
    """An IIO ADC found by its ``name``."""

    def __init__(self, root: Path, name: str) -> None:
        base = root / "sys/bus/iio/devices"
        found = []
        for dev in sorted(base.glob("iio:device*")):
            dev_name = (dev / "name").read_text().strip() if (dev / "name").is_file() else ""
            found.append(dev_name)
            if dev_name == name:
                self.dir = dev
                break
        else:
            raise HardwareError(f"no IIO device named {name!r} under {base} (found {found or 'none'})")

    def _attr(self, chan: str, attr: str, default: float) -> float:
        own = self.dir / f"{chan}_{attr}"
        if own.is_file():
            return float(_read(own))
        m = _CHAN.match(chan)
        if m:
            shared = self.dir / f"{m.group(1)}_{attr}"
            if shared.is_file():
                return float(_read(shared))
        return default

    def millivolts(self, chan: str) -> float:
        """Read channel ``chan`` (e.g. ``in_voltage0``) in millivolts."""
        raw = float(_read(self.dir / f"{chan}_raw"))
        return (raw + self._attr(chan, "offset", 0.0)) * self._attr(chan, "scale", 1.0)
