"""Modbus RTU meters against a simulated meter (a real pymodbus server) across a pseudo-terminal pair."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hal.interfaces import PowerMeter
from hal.meter import ModbusMeter, available_maps, load_map
from hal.types import MeterError
from tests.hal.sim_meter import PtyCable, SimMeter


@pytest.fixture
def cable() -> Iterator[PtyCable]:
    c = PtyCable()
    yield c
    c.close()


def test_bundled_maps() -> None:
    assert available_maps() == ["sdm230", "sdm630", "sdm72dm"]
    m = load_map("SDM72D-M")
    assert m.phases == 3 and m.span() == (0, 76)
    assert all(load_map(n).energy_export_kwh == 74 for n in available_maps())
    assert load_map("sdm230").voltage_v == (0,)
    with pytest.raises(ValueError, match="no register map"):
        load_map("nosuch")


def test_bad_map_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text(
        json.dumps(
            {
                "model": "X",
                "phases": 3,
                "registers": {"voltage_v": [0], "current_a": [6], "power_w": 1, "energy_import_kwh": 2},
            }
        )
    )
    with pytest.raises(ValueError, match="one voltage and current address per phase"):
        load_map(p)


@pytest.mark.parametrize("model", ["sdm630", "sdm72dm", "sdm230"])
def test_read_over_rtu(cable: PtyCable, model: str) -> None:
    regmap = load_map(model)
    sim = SimMeter(cable.b, regmap, unit=7)
    meter = ModbusMeter(cable.a, regmap, unit=7, timeout=0.5)
    try:
        assert isinstance(meter, PowerMeter)
        sim.set(energy_kwh=1234.5, power_w=7360.0, volts=230.5, amps=10.5, export_kwh=56.25)
        r = meter.read()
        assert r.energy_wh == pytest.approx(1234500.0)
        assert r.energy_export_wh == pytest.approx(56250.0)
        assert r.power_w == pytest.approx(7360.0)
        assert r.voltage_v == (pytest.approx(230.5),) * regmap.phases
        assert r.current_a == (pytest.approx(10.5),) * regmap.phases
        assert r.frequency_hz == pytest.approx(50.0)
        sim.set(energy_kwh=1234.75, power_w=0.0, volts=230.0, amps=0.0)
        assert meter.read().energy_wh == pytest.approx(1234750.0)
    finally:
        meter.close()
        sim.close()


def _read_within(meter: ModbusMeter, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return meter.read()
        except MeterError:
            if time.monotonic() > deadline:
                raise


def test_meter_lost_and_back(cable: PtyCable) -> None:
    regmap = load_map("sdm630")
    sim = SimMeter(cable.b, regmap)
    meter = ModbusMeter(cable.a, regmap, timeout=0.5, retries=0)
    try:
        sim.set(1.0, 0.0, 230.0, 0.0)
        assert _read_within(meter, 5.0).energy_wh == pytest.approx(1000.0)  # a busy CI machine may miss 0.5 s
        cable.cut = True
        t0 = time.monotonic()
        with pytest.raises(MeterError):
            meter.read()
        assert time.monotonic() - t0 < 2.0
        cable.cut = False
        time.sleep(0.1)
        deadline = time.monotonic() + 5
        while True:
            try:
                assert meter.read().energy_wh == pytest.approx(1000.0)
                break
            except MeterError:
                if time.monotonic() > deadline:
                    raise
    finally:
        meter.close()
        sim.close()


def test_wrong_unit_id_times_out(cable: PtyCable) -> None:
    regmap = load_map("sdm230")
    sim = SimMeter(cable.b, regmap, unit=1)
    meter = ModbusMeter(cable.a, regmap, unit=2, timeout=0.2, retries=0)
    try:
        with pytest.raises(MeterError):
            meter.read()
    finally:
        meter.close()
        sim.close()
    with pytest.raises(ValueError):
        ModbusMeter(cable.a, regmap, unit=0)
