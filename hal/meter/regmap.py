"""Register maps of Modbus energy meters, loaded from the JSON files in ``hal/meter/maps``.

A map names the register address (0-based PDU address) of each quantity; per-phase quantities list one
address per phase. Adding a meter is adding a JSON file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MAPS_DIR = Path(__file__).with_name("maps")
_WIDTH = {"float32": 2, "int32": 2, "uint32": 2, "int16": 1, "uint16": 1}


@dataclass(frozen=True)
class RegisterMap:
    """Where a meter keeps each quantity."""

    model: str
    function: Literal["input", "holding"]
    data_type: str
    word_order: Literal["big", "little"]
    phases: int
    voltage_v: tuple[int, ...]
    current_a: tuple[int, ...]
    power_w: int
    energy_import_kwh: int
    frequency_hz: int | None = None
    energy_export_kwh: int | None = None
    """Exported active energy (bidirectional charging); None when the meter has no such register."""

    @property
    def width(self) -> int:
        """Registers per value."""
        return _WIDTH[self.data_type]

    def addresses(self) -> list[int]:
        """Every register address the map uses."""
        out = [*self.voltage_v, *self.current_a, self.power_w, self.energy_import_kwh]
        if self.frequency_hz is not None:
            out.append(self.frequency_hz)
        if self.energy_export_kwh is not None:
            out.append(self.energy_export_kwh)
        return out

    def span(self) -> tuple[int, int]:
        """(first address, register count) covering every value - read in one request when small enough."""
        addrs = self.addresses()
        return min(addrs), max(addrs) + self.width - min(addrs)


def _parse(data: dict[str, object], source: str) -> RegisterMap:
    try:
        regs = data["registers"]
        assert isinstance(regs, dict)
        dt = str(data.get("data_type", "float32"))
        if dt not in _WIDTH:
            raise ValueError(f"unknown data_type {dt!r}")
        fn = data.get("function", "input")
        wo = data.get("word_order", "big")
        if fn not in ("input", "holding") or wo not in ("big", "little"):
            raise ValueError("function must be input/holding, word_order big/little")
        phases = int(str(data.get("phases", 3)))
        m = RegisterMap(
            model=str(data["model"]),
            function=fn,
            data_type=dt,
            word_order=wo,
            phases=phases,
            voltage_v=tuple(int(x) for x in regs["voltage_v"]),
            current_a=tuple(int(x) for x in regs["current_a"]),
            power_w=int(regs["power_w"]),
            energy_import_kwh=int(regs["energy_import_kwh"]),
            frequency_hz=int(regs["frequency_hz"]) if regs.get("frequency_hz") is not None else None,
            energy_export_kwh=(
                int(regs["energy_export_kwh"]) if regs.get("energy_export_kwh") is not None else None
            ),
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"bad register map {source}: {exc!r}") from exc
    if len(m.voltage_v) != phases or len(m.current_a) != phases:
        raise ValueError(f"bad register map {source}: one voltage and current address per phase needed")
    return m


def load_map(name_or_path: str | Path) -> RegisterMap:
    """A map by model file name (``sdm630``, ``sdm72dm``, ``sdm230``) or by path to a JSON file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = MAPS_DIR / f"{str(name_or_path).lower().replace('-', '')}.json"
    if not path.is_file():
        raise ValueError(f"no register map {name_or_path!r} (known: {', '.join(available_maps())})")
    return _parse(json.loads(path.read_text()), str(path))


def available_maps() -> list[str]:
    """Names of the bundled maps."""
    return sorted(p.stem for p in MAPS_DIR.glob("*.json"))
