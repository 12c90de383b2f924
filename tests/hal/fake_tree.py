"""A fake sysfs/IIO tree in a temp dir, laid out as the Linux ABI documents it."""

from __future__ import annotations

from pathlib import Path


def make_tree(root: Path, pwm_device: str = "pwm-cp", adc_name: str = "cp-adc", export: bool = True) -> None:
    """Create a PWM chip (as pwmchip3, with a decoy pwmchip0) and an IIO ADC (as iio:device1, decoy device0)."""
    devs = root / "sys/devices/platform"
    for idx, name in ((0, "decoy-pwm"), (3, pwm_device)):
        dev = devs / name
        dev.mkdir(parents=True, exist_ok=True)
        chip = root / f"sys/class/pwm/pwmchip{idx}"
        chip.mkdir(parents=True, exist_ok=True)
        (chip / "device").symlink_to(dev)
        (chip / "npwm").write_text("2\n")
        (chip / "export").write_text("")
        if export:
            pwm = chip / "pwm0"
            pwm.mkdir()
            for attr, v in (("period", "0"), ("duty_cycle", "0"), ("enable", "0"), ("polarity", "normal")):
                (pwm / attr).write_text(v + "\n")
    iio = root / "sys/bus/iio/devices"
    for idx, name in ((0, "other-adc"), (1, adc_name)):
        d = iio / f"iio:device{idx}"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        for ch in range(3):
            (d / f"in_voltage{ch}_raw").write_text("0\n")
        (d / "in_voltage_scale").write_text("1.0\n")  # 1 mV per count (shared scale)


def set_adc(root: Path, chan: int, millivolts: float, dev: int = 1) -> None:
    """Put a value on an ADC channel (raw counts at 1 mV per count)."""
    (root / f"sys/bus/iio/devices/iio:device{dev}/in_voltage{chan}_raw").write_text(f"{round(millivolts)}\n")


def pwm_attr(root: Path, attr: str, chip: int = 3) -> str:
    """Read back what the driver wrote."""
    return (root / f"sys/class/pwm/pwmchip{chip}/pwm0/{attr}").read_text().strip()
