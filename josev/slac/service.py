"""The ``slac`` bus service: one EVSE SLAC core per PLC interface, over AF_PACKET raw sockets.

Publishes :class:`~josev.api.slac.SlacState` per EVSE (retained) and
:class:`~josev.api.slac.ValidationWindow` events; takes the control-pilot state from the coordinator's
retained :class:`~josev.api.coordinator.PilotState` (or the :class:`~josev.api.slac.CpStateInput` command,
e.g. from a HAL or the CLI); answers :class:`~josev.api.slac.GetSlacDiagnostics`.
Opening the sockets needs CAP_NET_RAW; with ``drop_to_user`` set (only when SLAC runs in a process of its own)
the service then gives up its privileges.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from josev.api.base import Ack, CommandError
from josev.api.coordinator import PilotState
from josev.api.slac import CpStateInput, GetSlacDiagnostics, SlacDiagnostics, SlacState, ValidationWindow
from josev.bus.client import Bus
from josev.observability import oplog
from josev.slac import events as ev
from josev.slac.driver import CoreDriver
from josev.slac.evse import EvseSlac, EvseSlacConfig
from josev.slac.privileges import drop_privileges
from josev.slac.rawsocket import RawSocket
from josev.slac.timers import DEFAULT_TIMINGS, SlacTimings

log = logging.getLogger("josev.slac")


@dataclass(frozen=True)
class SlacEvseSettings:
    """One EVSE's PLC interface."""

    evse: int
    interface: str
    evse_id: str = ""
    """Up to 17 characters, sent in CM_ATTEN_CHAR / CM_SLAC_MATCH (zero padded)."""


@dataclass(frozen=True)
class SlacSettings:
    """Settings of the service."""

    evses: tuple[SlacEvseSettings, ...]
    timings: SlacTimings = DEFAULT_TIMINGS
    drop_to_user: str | None = None
    socket_factory: Callable[[str], RawSocket] = field(default=RawSocket)
    """How sockets are opened (tests open them inside a network namespace)."""


class _Evse:
    def __init__(self, cfg: SlacEvseSettings, core: EvseSlac, driver: CoreDriver) -> None:
        self.cfg = cfg
        self.core = core
        self.driver = driver
        self.ev_mac: bytes | None = None


class SlacService:
    """The SLAC service (name ``slac``)."""

    name = "slac"
    reports_ready = True

    def __init__(self, settings: SlacSettings) -> None:
        if not settings.evses:
            raise ValueError("SLAC needs at least one EVSE interface")
        ids = [e.evse for e in settings.evses]
        if len(set(ids)) != len(ids) or len({e.interface for e in settings.evses}) != len(ids):
            raise ValueError("EVSE ids and interfaces must be unique (one SLAC session per interface)")
        self.settings = settings
        self.evses: dict[int, _Evse] = {}

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Open the sockets, drop privileges, run one core per EVSE until ``stop``."""
        socks: dict[int, RawSocket] = {}
        try:
            for e in self.settings.evses:
                socks[e.evse] = self.settings.socket_factory(e.interface)
        except OSError as exc:
            for s in socks.values():
                s.close()
            await bus.set_status("degraded", f"cannot open raw socket: {exc} (CAP_NET_RAW needed)")
            raise
        if self.settings.drop_to_user is not None:
            log.info("privileges: %s", drop_privileges(self.settings.drop_to_user))
        for e in self.settings.evses:
            sock = socks[e.evse]
            evse_id = e.evse_id.encode("ascii", "replace")[:17].ljust(17, b"\x00")
            core = EvseSlac(EvseSlacConfig(mac=sock.mac, evse_id=evse_id, timings=self.settings.timings))
            driver = CoreDriver(core, sock, self._handler(bus, e.evse))
            self.evses[e.evse] = _Evse(e, core, driver)
        bus.subscribe(PilotState, self._on_pilot)
        bus.serve(CpStateInput, self._on_cp)
        bus.serve(GetSlacDiagnostics, self._on_diagnostics)
        tasks = [asyncio.create_task(x.driver.run(stop), name=f"slac-evse{n}") for n, x in self.evses.items()]
        for n, x in self.evses.items():
            await x.driver.apply(x.core.start(x.driver.now()))
            await self._publish(bus, n, "")
        await bus.set_status("ready")
        try:
            await stop.wait()
        finally:
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(t, 2.0)

    def _handler(self, bus: Bus, evse: int) -> Callable[[ev.SlacEvent], Awaitable[None]]:
        async def handle(event: ev.SlacEvent) -> None:
            if isinstance(event, ev.StatusChanged):
                self.evses[evse].ev_mac = event.ev_mac
                oplog.slac_status(log, evse, event.status.value, event.reason, event.ev_mac)
                await self._publish(bus, evse, event.reason)
            elif isinstance(event, ev.ValidationWindow):
                await bus.publish(
                    ValidationWindow(open=event.open, duration_s=event.duration, toggles=event.toggles), evse
                )
            elif isinstance(event, ev.ModemDetected):
                log.info("EVSE %d modem: %s %s", evse, event.vendor.value, event.info)
                await self._publish(bus, evse, "")
            elif isinstance(event, ev.AttemptFailed):
                log.warning("EVSE %d matching attempt %d failed: %s", evse, event.attempt, event.reason)

        return handle

    async def _publish(self, bus: Bus, evse: int, reason: str) -> None:
        x = self.evses[evse]
        core = x.core
        # the EV is only known for sure once matched (while matching, crosstalk EVs have sessions too)
        ev_mac = x.ev_mac.hex(":") if x.ev_mac is not None and core.status is ev.SlacStatus.MATCHED else None
        nid = core.nid.hex() if core.status is ev.SlacStatus.MATCHED else None
        vendor = core.modem.vendor.value if core.modem.vendor is not None else None
        await bus.publish(
            SlacState(
                status=core.status.value,
                ev_mac=ev_mac,
                nid=nid,
                reason=reason,
                interface=x.cfg.interface,
                modem=vendor,
            ),
            evse,
        )

    def _get(self, evse: int | None) -> _Evse:
        x = self.evses.get(evse) if evse is not None else None
        if x is None:
            raise CommandError("invalid_request", f"no SLAC interface for EVSE {evse}")
        return x

    async def _on_pilot(self, msg: PilotState, evse: int | None) -> None:
        x = self.evses.get(evse) if evse is not None else None
        if x is not None and msg.cp is not None:
            await x.driver.apply(x.core.cp_state(msg.cp, x.driver.now()))

    async def _on_cp(self, cmd: CpStateInput, evse: int | None) -> Ack:
        x = self._get(evse)
        await x.driver.apply(x.core.cp_state(cmd.state, x.driver.now()))
        return Ack()

    async def _on_diagnostics(self, cmd: GetSlacDiagnostics, evse: int | None) -> SlacDiagnostics:
        x = self._get(evse)
        c = x.core
        return SlacDiagnostics(
            state=c.state.value,
            status=c.status.value,
            interface=x.cfg.interface,
            modem=c.modem.vendor.value if c.modem.vendor is not None else None,
            modem_info=c.modem.info,
            counters=dict(c.counters),
        )


class SlacSection(BaseModel):
    """The ``[slac]`` section of the station configuration.

    ```toml
    [slac]
    drop_to_user = "josev"      # after opening the raw sockets (needs its own process: josev run --service slac)
    [slac.timings]              # ISO 15118-3 Table A.1 figures to override (ranges are checked)
    TT_EVSE_SLAC_init = 20.0
    ```
    """

    model_config = ConfigDict(extra="forbid")

    drop_to_user: str | None = None
    """Switch to this user once the sockets are open (None: keep the process's identity)."""
    timings: dict[str, float] = Field(default_factory=dict)
    """Overrides of :class:`josev.slac.timers.SlacTimings` fields."""
    evse_id_prefix: str = "JOSEV"
    """EVSE id sent in CM_ATTEN_CHAR / CM_SLAC_MATCH: prefix + EVSE number (at most 17 characters)."""


def from_config(cfg: Any) -> SlacService:
    """The SLAC service of a station configuration: every EVSE with ``hlc`` and a ``plc_interface``."""
    section = SlacSection.model_validate(cfg.slac)
    known = {f.name for f in dataclasses.fields(SlacTimings)}
    unknown = sorted(set(section.timings) - known)
    if unknown:
        raise ValueError(f"[slac.timings]: unknown timing(s) {unknown}; known: {sorted(known)}")
    overrides: dict[str, Any] = {
        k: (int(v) if isinstance(getattr(DEFAULT_TIMINGS, k), int) else v) for k, v in section.timings.items()
    }
    timings = dataclasses.replace(DEFAULT_TIMINGS, **overrides)
    evses = tuple(
        SlacEvseSettings(e.id, e.plc_interface, f"{section.evse_id_prefix}{e.id}"[:17])
        for e in cfg.evse
        if e.hlc and e.plc_interface
    )
    if not evses:
        raise ValueError("SLAC: no EVSE has hlc = true and a plc_interface")
    return SlacService(SlacSettings(evses, timings, drop_to_user=section.drop_to_user))
