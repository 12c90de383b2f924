"""Build the HAL service from the station configuration's ``[hal]`` section.

```toml
[hal]
board = "sim"              # or "ccc" (chargebyte Charge Control C)
poll_s = 0.01
meter_poll_s = 1.0
watchdog_timeout_s = 1.0
safe_pilot = "f"           # or "x1"
sim_dc_discharge_a = 0     # sim board: BPT current of DC channels ([[evse]] kind = "dc")

[hal.ccc]                  # board = "ccc" only
root = "/"
[[hal.ccc.channels]]       # one per EVSE, in EVSE order; keys of hal.ccc.CccChannelConfig
pwm_chip = "pwm-cp"
adc_device = "cp-adc"

[[hal.meters]]             # Modbus RTU meters
evse = 1
port = "/dev/ttymxc1"
model = "sdm630"           # sdm630, sdm72dm, sdm230 or a path to a JSON register map
unit = 1
baudrate = 9600
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hal.ccc import CccBoard, CccChannelConfig, CccConfig
from hal.interfaces import Board
from hal.meter import ModbusMeter, load_map
from hal.sim import SimBoard
from hal.types import BoardCapabilities, ChannelCapabilities
from josev.config import JosevConfig
from josev.halsvc.service import HalService, HalServiceConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeterSection(_Strict):
    """One Modbus RTU meter."""

    evse: int = Field(ge=1)
    port: str
    model: str = "sdm630"
    unit: int = Field(1, ge=1, le=247)
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    timeout_s: float = Field(0.5, gt=0)


class CccSection(_Strict):
    """Charge Control C settings."""

    root: Path = Path("/")
    channels: list[dict[str, Any]] = Field(default_factory=lambda: [dict[str, Any]()])


class HalSection(_Strict):
    """The ``[hal]`` section."""

    board: Literal["sim", "ccc"] = "sim"
    poll_s: float = Field(0.01, gt=0, le=1)
    meter_poll_s: float = Field(1.0, gt=0)
    watchdog_timeout_s: float = Field(1.0, gt=0)
    safe_pilot: Literal["f", "x1"] = "f"
    sim_dc_discharge_a: float = Field(0.0, ge=0)
    """Simulated DC power modules: current they can take back (BPT); 0: unidirectional."""
    ccc: CccSection = Field(default_factory=CccSection)
    meters: list[MeterSection] = Field(default_factory=list)


def board_channels(cfg: JosevConfig, section: HalSection) -> list[int]:
    """For each EVSE in id order, the index of its ``[[hal.ccc.channels]]`` entry (``[[evse]] board_channel``)."""
    out = []
    for e in sorted(cfg.evse, key=lambda e: e.id):
        index = e.board_channel if e.board_channel is not None else e.id - 1
        if index >= len(section.ccc.channels):
            raise ValueError(
                f"EVSE {e.id} uses board channel {index}, but [hal.ccc] configures "
                f"{len(section.ccc.channels)} channel(s)"
            )
        out.append(index)
    return out


def make_board(cfg: JosevConfig, section: HalSection) -> Board:
    """The board driver the configuration names."""
    if section.board == "ccc":
        chans = tuple(CccChannelConfig(**section.ccc.channels[i]) for i in board_channels(cfg, section))
        return CccBoard(CccConfig(root=section.ccc.root, channels=chans))
    metered = {m.evse for m in section.meters}
    caps = tuple(
        ChannelCapabilities(
            max_current_a=e.max_current_a,
            phases=e.phases,
            has_meter=e.id not in metered,
            dc=e.kind == "dc",
            dc_max_voltage_v=e.max_voltage_v,
            dc_max_current_a=e.max_current_a,
            dc_max_power_w=e.max_power_w,
            dc_max_discharge_current_a=section.sim_dc_discharge_a,
        )
        for e in cfg.evse
    )
    return SimBoard(BoardCapabilities(name="sim", channels=caps))


def from_config(cfg: JosevConfig) -> HalService:
    """The HAL service of a station configuration."""
    section = HalSection.model_validate(cfg.hal)
    svc = HalService(
        make_board(cfg, section),
        HalServiceConfig(
            poll_s=section.poll_s,
            meter_poll_s=section.meter_poll_s,
            watchdog_timeout_s=section.watchdog_timeout_s,
            safe_pilot=section.safe_pilot,
        ),
    )
    for m in section.meters:
        if m.evse not in svc.channels:
            raise ValueError(f"[[hal.meters]]: no EVSE {m.evse} on the board")
        svc.channels[m.evse].meter = ModbusMeter(
            m.port, load_map(m.model), unit=m.unit, baudrate=m.baudrate, parity=m.parity, timeout=m.timeout_s
        )
    return svc
