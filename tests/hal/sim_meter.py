"""A simulated Modbus RTU meter: a real pymodbus server on one end of a pseudo-terminal "cable"."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import tty
from typing import Any

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.meter.regmap import RegisterMap


class PtyCable:
    """Two pseudo-terminals joined back to back (a null-modem cable): ``a`` and ``b`` are tty paths."""

    def __init__(self) -> None:
        self._m1, s1 = os.openpty()
        self._m2, s2 = os.openpty()
        for fd in (s1, s2):
            tty.setraw(fd)
        self.a, self.b = os.ttyname(s1), os.ttyname(s2)
        self._slaves = (s1, s2)  # kept open so the masters never see EIO between opens
        self._stop = threading.Event()
        self.cut = False
        """Set to True to cut the cable (bytes are dropped)."""
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        peer = {self._m1: self._m2, self._m2: self._m1}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if not self.cut:
                    os.write(peer[fd], data)

    def close(self) -> None:
        self._stop.set()
        self._t.join(1)
        for fd in (self._m1, self._m2, *self._slaves):
            with contextlib.suppress(OSError):
                os.close(fd)


class SimMeter:
    """A Modbus RTU server answering like the meter ``regmap`` on tty ``port``."""

    def __init__(self, port: str, regmap: RegisterMap, unit: int = 1) -> None:
        self.map = regmap
        self.regs: dict[int, int] = {}
        self.requests = 0
        self.device = SimDevice(
            id=unit,
            simdata=[SimData(0, count=400, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        if not self._ready.wait(5):
            raise RuntimeError("simulated meter did not start")

    async def _main(self) -> None:
        self.server = ModbusSerialServer(
            self.device, framer=FramerType.RTU, port=self.port, baudrate=9600, timeout=0.2
        )
        self._ready.set()
        await self.server.serve_forever()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self._main())

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        self.requests += 1
        for i in range(len(current_registers)):
            current_registers[i] = self.regs.get(start_address + i, 0)

    def put(self, addr: int, value: float) -> None:
        regs = ModbusSerialClient.convert_to_registers(
            value, ModbusSerialClient.DATATYPE.FLOAT32, word_order=self.map.word_order
        )
        for i, r in enumerate(regs):
            self.regs[addr + i] = r

    def set(
        self,
        energy_kwh: float,
        power_w: float,
        volts: float,
        amps: float,
        hz: float = 50.0,
        export_kwh: float = 0.0,
    ) -> None:
        m = self.map
        self.put(m.energy_import_kwh, energy_kwh)
        if m.energy_export_kwh is not None:
            self.put(m.energy_export_kwh, export_kwh)
        self.put(m.power_w, power_w)
        for a in m.voltage_v:
            self.put(a, volts)
        for a in m.current_a:
            self.put(a, amps)
        if m.frequency_hz is not None:
            self.put(m.frequency_hz, hz)

    def close(self) -> None:
        server: Any = self.server
        fut: Any = asyncio.run_coroutine_threadsafe(server.shutdown(), self.loop)
        with contextlib.suppress(Exception):
            fut.result(2)
        self._t.join(2)
