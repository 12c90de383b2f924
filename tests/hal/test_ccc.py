"""Charge Control C driver against a fake sysfs/IIO tree and the in-memory GPIO stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.ccc import CccBoard, CccChannelConfig, CccConfig, MemoryGpio
from hal.types import CpState, HardwareError, LockState, PilotMode, PilotOutput
from tests.hal.fake_tree import make_tree, pwm_attr, set_adc

LINES = ["RELAY_1_ENABLE", "RELAY_1_SENSE", "RCD_TRIP", "RCD_RESET", "LOCK_IN1", "LOCK_IN2", "LOCK_SENSE"]
# front end: cp = adc_V * 8 - 16 (so 0..3.5 V ADC covers -16..+12 V)
CH = CccChannelConfig(
    cp_gain=8.0,
    cp_offset=-16.0,
    pp_channel="in_voltage2",
    rcd_reset_line="RCD_RESET",
    lock_in1_line="LOCK_IN1",
    lock_in2_line="LOCK_IN2",
    lock_sense_line="LOCK_SENSE",
)


def adc_mv(cp_volts: float) -> float:
    return (cp_volts + 16.0) / 8.0 * 1000.0


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig(tmp_path: Path) -> tuple[CccBoard, MemoryGpio, Path, Clock]:
    make_tree(tmp_path)
    gpio = MemoryGpio(LINES)
    clk = Clock()
    board = CccBoard(CccConfig(root=tmp_path, channels=(CH,)), gpio=gpio, clock=clk, sleep=lambda s: None)
    return board, gpio, tmp_path, clk


def test_pwm_values_written(rig: tuple[CccBoard, MemoryGpio, Path, Clock]) -> None:
    board, _, root, _ = rig
    cp = board.channel(1).cp
    assert pwm_attr(root, "period") == "1000000"
    assert pwm_attr(root, "duty_cycle") == "1000000" and pwm_attr(root, "enable") == "1"  # X1
    cp.set_output(PilotOutput(PilotMode.PWM, 53.3))
    assert pwm_attr(root, "duty_cycle") == "533000"
    cp.set_output(PilotOutput(PilotMode.PWM, 5.0))
    assert pwm_attr(root, "duty_cycle") == "50000"
    cp.set_output(PilotOutput(PilotMode.F))
    assert pwm_attr(root, "duty_cycle") == "0"
    assert pwm_attr(root, "duty_cycle", chip=0) == "0"  # the decoy chip is untouched
    assert board.capabilities().channels[0].can_drive_e is False


def test_states_read_with_hysteresis_and_debounce(rig: tuple[CccBoard, MemoryGpio, Path, Clock]) -> None:
    board, _, root, _ = rig
    cp = board.channel(1).cp
    set_adc(root, 0, adc_mv(12.0))
    assert cp.read().state is CpState.A
    set_adc(root, 0, adc_mv(9.0))
    assert cp.read().state is CpState.A  # debounce: 2 samples
    assert cp.read().state is CpState.B
    set_adc(root, 0, adc_mv(10.4))  # above B's band but within hysteresis
    assert cp.read().state is CpState.B and cp.read().state is CpState.B
    cp.set_output(PilotOutput(PilotMode.PWM, 26.6))
    set_adc(root, 0, adc_mv(6.0))
    set_adc(root, 1, adc_mv(-12.0))
    cp.read()
    r = cp.read()
    assert r.state is CpState.C and r.low_v == pytest.approx(-12.0, abs=0.01) and not r.diode_fault
    set_adc(root, 1, adc_mv(-6.0))
    assert cp.read().diode_fault


def test_relays_rcd_lock_pp(rig: tuple[CccBoard, MemoryGpio, Path, Clock]) -> None:
    board, gpio, root, clk = rig
    ch = board.channel(1)
    ch.contactor.set_closed(True)
    assert gpio.values["RELAY_1_ENABLE"] is True and ch.contactor.feedback() is False
    gpio.drive("RELAY_1_SENSE", True)
    assert ch.contactor.feedback() is True
    assert ch.rcd is not None and not ch.rcd.tripped()
    gpio.drive("RCD_TRIP", True)
    assert ch.rcd.tripped()
    ch.rcd.reset()
    assert ("RCD_RESET", True) in gpio.writes and gpio.values["RCD_RESET"] is False
    lock = ch.lock
    assert lock is not None
    lock.set_locked(True)
    assert gpio.values["LOCK_IN1"] and not gpio.values["LOCK_IN2"]
    assert lock.state() is LockState.MOVING
    clk.t = 1.0
    assert lock.state() is LockState.FAULT  # sense line never confirmed
    assert not gpio.values["LOCK_IN1"]  # motor stopped
    gpio.drive("LOCK_SENSE", True)
    assert lock.state() is LockState.LOCKED
    pp = ch.pp
    assert pp is not None
    set_adc(root, 2, 5000.0)
    assert pp.cable_ampacity() is None
    v = 5.0 * 220 / (220 + 330)
    set_adc(root, 2, v * 1000)
    assert pp.cable_ampacity() == 32.0
    board.close()
    assert gpio.closed and gpio.values["RELAY_1_ENABLE"] is False


def test_missing_devices_give_clear_errors(tmp_path: Path) -> None:
    make_tree(tmp_path)
    gpio = MemoryGpio(LINES)
    with pytest.raises(HardwareError, match="no PWM chip for device 'nope'"):
        CccBoard(CccConfig(root=tmp_path, channels=(CccChannelConfig(pwm_chip="nope"),)), gpio=gpio)
    assert gpio.closed
    with pytest.raises(HardwareError, match="no IIO device named 'nope'"):
        CccBoard(
            CccConfig(root=tmp_path, channels=(CccChannelConfig(adc_device="nope"),)), gpio=MemoryGpio(LINES)
        )
    with pytest.raises(OSError, match="no GPIO line named 'X'"):
        CccBoard(
            CccConfig(root=tmp_path, channels=(CccChannelConfig(relay_line="X"),)), gpio=MemoryGpio(LINES)
        )


def test_unexported_channel_is_exported(tmp_path: Path) -> None:
    make_tree(tmp_path, export=False)
    with pytest.raises(HardwareError, match="did not create"):
        CccBoard(CccConfig(root=tmp_path), gpio=MemoryGpio(LINES))
    assert (tmp_path / "sys/class/pwm/pwmchip3/export").read_text() == "0"
