"""GPIO lines by name through the Linux GPIO character device (uAPI v2), with an in-memory stand-in.

:class:`GpiodBackend` uses the ``gpiod`` package (libgpiod's official Python bindings, v2 API) and finds each
line by its name across ``<root>/dev/gpiochip*``. :class:`MemoryGpio` is the stand-in for tests and for
running the driver without hardware: a dict of named lines that records every write.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from hal.types import HardwareError


class GpioBackend(Protocol):
    """Named GPIO lines."""

    def request(self, outputs: dict[str, bool], inputs: list[str]) -> None:
        """Claim output lines (with initial values) and input lines; raises when a name is unknown."""

    def set(self, name: str, value: bool) -> None:
        """Drive an output line (True: active)."""

    def get(self, name: str) -> bool:
        """Read a line (True: active)."""

    def close(self) -> None:
        """Release every line."""


class MemoryGpio:
    """In-memory GPIO: a fixed set of line names; tests set inputs with :meth:`drive`."""

    def __init__(self, names: list[str]) -> None:
        self.values: dict[str, bool] = dict.fromkeys(names, False)
        self.outputs: set[str] = set()
        self.inputs: set[str] = set()
        self.writes: list[tuple[str, bool]] = []
        self.closed = False

    def request(self, outputs: dict[str, bool], inputs: list[str]) -> None:
        """Claim lines."""
        for name in [*outputs, *inputs]:
            if name not in self.values:
                raise OSError(f"no GPIO line named {name!r}")
            if name in self.outputs or name in self.inputs:
                raise OSError(f"GPIO line {name!r} is busy")
        for name, v in outputs.items():
            self.outputs.add(name)
            self.set(name, v)
        self.inputs.update(inputs)

    def set(self, name: str, value: bool) -> None:
        """Drive an output."""
        if name not in self.outputs:
            raise OSError(f"GPIO line {name!r} is not requested as output")
        self.values[name] = value
        self.writes.append((name, value))

    def get(self, name: str) -> bool:
        """Read a line."""
        if name not in self.outputs and name not in self.inputs:
            raise OSError(f"GPIO line {name!r} is not requested")
        return self.values[name]

    def drive(self, name: str, value: bool) -> None:
        """Test hook: what the outside world puts on an input line."""
        self.values[name] = value

    def close(self) -> None:
        """Release."""
        self.closed = True
        self.outputs.clear()
        self.inputs.clear()


class GpiodBackend:
    """GPIO through ``/dev/gpiochip*`` with the ``gpiod`` package (install ``gpiod>=2.1`` on the target)."""

    def __init__(self, root: Path = Path("/"), consumer: str = "josev-hal") -> None:
        try:
            self._gpiod: Any = importlib.import_module("gpiod")
        except ModuleNotFoundError as exc:
            raise HardwareError("GPIO needs the 'gpiod' package (libgpiod Python bindings >= 2.1)") from exc
        self._root = root
        self._consumer = consumer
        self._where: dict[str, Any] = {}
        self._requests: list[Any] = []

    def _chip_of(self, name: str) -> str:
        for path in sorted((self._root / "dev").glob("gpiochip*")):
            with self._gpiod.Chip(str(path)) as chip:
                try:
                    chip.line_offset_from_id(name)
                except (OSError, ValueError):
                    continue
                return str(path)
        raise OSError(f"no GPIO line named {name!r} under {self._root / 'dev'}")

    def request(self, outputs: dict[str, bool], inputs: list[str]) -> None:
        """Claim lines, one request per chip."""
        g = self._gpiod
        per_chip: dict[str, dict[str, Any]] = {}
        values: dict[str, dict[str, Any]] = {}
        for name, v in outputs.items():
            chip = self._chip_of(name)
            per_chip.setdefault(chip, {})[name] = g.LineSettings(direction=g.line.Direction.OUTPUT)
            values.setdefault(chip, {})[name] = g.line.Value.ACTIVE if v else g.line.Value.INACTIVE
        for name in inputs:
            chip = self._chip_of(name)
            per_chip.setdefault(chip, {})[name] = g.LineSettings(direction=g.line.Direction.INPUT)
        for chip, cfg in per_chip.items():
            req = g.request_lines(chip, consumer=self._consumer, config=cfg, output_values=values.get(chip))
            self._requests.append(req)
            for name in cfg:
                self._where[name] = req

    def set(self, name: str, value: bool) -> None:
        """Drive an output."""
        g = self._gpiod
        self._where[name].set_value(name, g.line.Value.ACTIVE if value else g.line.Value.INACTIVE)

    def get(self, name: str) -> bool:
        """Read a line."""
        return bool(self._where[name].get_value(name) == self._gpiod.line.Value.ACTIVE)

    def close(self) -> None:
        """Release every request."""
        for req in self._requests:
            req.release()
        self._requests.clear()
        self._where.clear()
