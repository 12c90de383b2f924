"""The demo station: every service in this process (inside the station's network namespace), built from the demo's
configuration by the one station builder (:mod:`josev.services.builder`, as ``josev run`` would), a private
mosquitto, the simulated board, a V2G test PKI and a CSMS stand-in."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal.sim import SimBoard
from josev import config as config_mod
from josev.broker import PrivateBroker
from josev.bus import Bus, ServiceRunner
from josev.bus.service import Service
from josev.services.builder import build_station

AC_EVSE = 1
DC_EVSE = 2
CSMS_PATH = "/ocpp"


def demo_token(evse: int) -> str:
    """The RFID card of the demo driver at ``evse``."""
    return f"04DEMOCARD{evse:02d}"


def station_config(workdir: Path, evses: int, csms_port: int | None, pki_dir: Path) -> config_mod.JosevConfig:
    """Odd EVSEs are AC (22 kW), even ones DC (50 kW); each has its own PLC interface ``plc<N>``."""
    evse_list: list[dict[str, Any]] = []
    for i in range(1, evses + 1):
        if i % 2:
            evse_list.append(
                {"id": i, "kind": "ac", "phases": 3, "max_current_a": 32, "plc_interface": f"plc{i}"}
            )
        else:
            evse_list.append(
                {
                    "id": i,
                    "kind": "dc",
                    "max_current_a": 125,
                    "max_voltage_v": 500,
                    "max_power_w": 50000,
                    "plc_interface": f"plc{i}",
                    "connectors": [{"id": 1, "type": "cCCS2", "max_current_a": 125}],
                }
            )
    data: dict[str, Any] = {
        "station": {"id": "josev-demo", "vendor": "josev", "model": "demo", "max_current_a": 32.0 * evses},
        "evse": evse_list,
        "broker": {"manage": False, "directory": str(workdir / "broker")},
        "hal": {"board": "sim", "watchdog_timeout_s": 2.0, "sim_dc_discharge_a": 60.0},
        "coordinator": {
            "slac_init_timeout_s": 20.0,
            "t_step_ef_s": 4.0,
            "slac_retries": 0,
            "ac_max_discharge_current_a": 16.0,
            "dc": {"max_discharge_current_a": 60.0, "max_discharge_power_w": 20000.0},
        },
        "slac": {"timings": {"TT_EVSE_SLAC_init": 20.0}},
        # Plug & Charge next to the card: the contract chains are checked against the PKI's MO / V2G roots
        "secc": {
            "tls": "both",
            "pki_dir": str(pki_dir),
            "iso20": True,
            "bpt": True,
            "v2g_log": True,
            "v2g_log_dir": str(workdir / "v2g"),  # a pcapng per session: the conformance reports read them
            "pnc": csms_port is not None,
        },
        "services": {},
    }
    if csms_port is not None:
        data["ocpp"] = {
            "csms_url": f"ws://127.0.0.1:{csms_port}{CSMS_PATH}",
            "database": str(workdir / "ocpp.sqlite"),
            "workdir": str(workdir / "ocpp"),
            # Plug & Charge: contracts are authorized and certificates installed through the CSMS
            "variables": {"ISO15118Ctrlr/PnCEnabled": "true"},
        }
    else:  # no CSMS: the demo card is on the coordinator's local authorization list
        data["services"]["ocpp"] = {"enabled": False}
        data["coordinator"]["local_auth_list"] = [demo_token(i) for i in range(1, evses + 1)]
    return config_mod.parse(data)


def demo_services(cfg: config_mod.JosevConfig) -> list[Service]:
    """The demo station's services: what ``josev run`` would start for ``cfg`` (the one station builder)."""
    return build_station(cfg).services


@dataclass
class DemoStation:
    """The running station: use :meth:`start` / :meth:`stop`."""

    workdir: Path
    evses: int
    csms_port: int | None
    pki_dir: Path
    broker: PrivateBroker | None = None
    services: list[Service] = field(default_factory=list)
    board: SimBoard | None = None
    observer: Bus | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    runner: ServiceRunner | None = None

    async def start(self) -> None:
        """Start broker and services; returns when every service reported ready."""
        cfg = station_config(self.workdir, self.evses, self.csms_port, self.pki_dir)
        self.broker = PrivateBroker(self.workdir / "broker", unix_socket=True)
        self.broker.start()
        self.services = demo_services(cfg)
        hal = next(s for s in self.services if s.name == "hal")
        board = getattr(hal, "board", None)
        if not isinstance(board, SimBoard):
            raise RuntimeError("the demo needs the simulated board")
        self.board = board
        broker = self.broker
        self.runner = ServiceRunner(self.services, lambda name: broker.settings(name))
        self._task = asyncio.create_task(self.runner.run(self._stop))
        await asyncio.wait_for(self.runner.ready.wait(), 30)
        self.observer = Bus("cli", broker.settings("cli"))
        await self.observer.connect()

    async def stop(self) -> None:
        """Stop every service (EVSEs to the safe state) and the broker."""
        self._stop.set()
        if self.observer is not None:
            await self.observer.close(publish_status=False)
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 20)
        if self.broker is not None:
            self.broker.stop()
