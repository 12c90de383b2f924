"""A :class:`hal.interfaces.PowerMeter` over Modbus RTU (pyserial underneath, pymodbus for the protocol).

One :meth:`ModbusMeter.read` is one request when the map's registers fit in one block (all bundled maps do);
at 9600 baud that is about 0.2 s, so the HAL service reads meters from a worker thread.
"""

from __future__ import annotations

import threading
from typing import Any

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException

from hal.meter.regmap import RegisterMap
from hal.types import MeterError, MeterReading

MAX_BLOCK = 100
"""Largest block read in one request (Modbus allows 125 registers)."""


class ModbusMeter:
    """An energy meter on an RS-485 bus."""

    def __init__(
        self,
        port: str,
        regmap: RegisterMap,
        unit: int = 1,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        timeout: float = 0.5,
        retries: int = 1,
    ) -> None:
        if not 1 <= unit <= 247:
            raise ValueError(f"Modbus unit id must be 1..247, got {unit}")
        self.map = regmap
        self.unit = unit
        self._lock = threading.Lock()
        self._client: Any = ModbusSerialClient(
            port, baudrate=baudrate, parity=parity, stopbits=stopbits, timeout=timeout, retries=retries
        )
        self._dtype = getattr(ModbusSerialClient.DATATYPE, regmap.data_type.upper())

    def _read_block(self, start: int, count: int) -> list[int]:
        fn = (
            self._client.read_input_registers
            if self.map.function == "input"
            else self._client.read_holding_registers
        )
        rr: Any = fn(start, count=count, device_id=self.unit)
        if rr.isError():
            raise MeterError(f"{self.map.model} unit {self.unit}: Modbus error {rr}")
        regs: list[int] = list(rr.registers)
        if len(regs) != count:
            raise MeterError(f"{self.map.model}: short answer ({len(regs)} of {count} registers)")
        return regs

    def _registers(self) -> dict[int, list[int]]:
        start, count = self.map.span()
        w = self.map.width
        if count <= MAX_BLOCK:
            block = self._read_block(start, count)
            return {a: block[a - start : a - start + w] for a in self.map.addresses()}
        return {a: self._read_block(a, w) for a in self.map.addresses()}

    def _value(self, regs: dict[int, list[int]], addr: int) -> float:
        v = ModbusSerialClient.convert_from_registers(regs[addr], self._dtype, word_order=self.map.word_order)
        return float(v)  # type: ignore[arg-type]

    def read(self) -> MeterReading:
        """One sample; :class:`MeterError` when the meter does not answer or answers garbage."""
        with self._lock:
            try:
                if not self._client.connected and not self._client.connect():
                    raise MeterError(f"cannot open {self._client.comm_params.host}")
                regs = self._registers()
            except ModbusException as exc:
                self._client.close()
                raise MeterError(f"{self.map.model} unit {self.unit}: {exc}") from exc
            except OSError as exc:
                self._client.close()
                raise MeterError(f"{self.map.model} unit {self.unit}: serial port: {exc}") from exc
        m = self.map
        energy = self._value(regs, m.energy_import_kwh) * 1000.0
        if energy != energy or energy < 0:
            raise MeterError(f"{m.model}: implausible energy register {energy}")
        export = None
        if m.energy_export_kwh is not None:
            export = self._value(regs, m.energy_export_kwh) * 1000.0
            if export != export or export < 0:
                raise MeterError(f"{m.model}: implausible export energy register {export}")
        return MeterReading(
            energy_wh=energy,
            power_w=self._value(regs, m.power_w),
            voltage_v=tuple(self._value(regs, a) for a in m.voltage_v),
            current_a=tuple(self._value(regs, a) for a in m.current_a),
            frequency_hz=self._value(regs, m.frequency_hz) if m.frequency_hz is not None else None,
            energy_export_wh=export,
        )

    def close(self) -> None:
        """Close the serial port."""
        self._client.close()
