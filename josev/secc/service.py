"""The SECC bus service: one :class:`~josev.secc.server.EvseEndpoint` per EVSE (each on its own PLC
interface), bridged to the coordinator over the bus.

Session events become :mod:`josev.api.secc` messages and the coordinator's ``HlcPowerDelivery`` /
``HlcFailed`` commands; the coordinator's ``EvseStatus`` (limits, faults) and ``SessionEvent`` (authorized,
stopped) update the EVSE views the cores read. Without a DC power module on the bus the built-in
:class:`~josev.secc.simsupply.SimPowerSupply` answers for it (``sim_supply``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from josev.api import secc as api
from josev.api.base import Ack, CommandError
from josev.bus import Bus
from josev.secc import events as ev
from josev.secc.codec import make_codec
from josev.secc.evse import EvseView
from josev.secc.server import EvseEndpoint
from josev.secc.session import SessionConfig
from josev.secc.simsupply import SimPowerSupply

log = logging.getLogger("josev.secc")


@dataclass
class SeccEvseConfig:
    """One EVSE served by the SECC."""

    evse: int
    iface: str
    tcp_port: int = 0
    energy_modes: tuple[str, ...] = ("DC_extended",)
    evse_id: str = "DE*JSV*E0001"
    max_current_a: float | None = None
    max_voltage_v: float | None = None
    max_power_w: float | None = None
    phases: int = 3

    def view(self) -> EvseView:
        """The initial EVSE view (limits from the rating; the coordinator refines them at run time)."""
        v = EvseView(evse_id=self.evse_id, energy_modes=self.energy_modes)
        lim = v.limits
        if any(m.startswith("DC") for m in self.energy_modes):
            lim.max_current = self.max_current_a or lim.max_current
            lim.max_voltage = self.max_voltage_v or lim.max_voltage
            lim.max_power = self.max_power_w or lim.max_power
        else:
            lim.ac_max_current = self.max_current_a or lim.ac_max_current
            lim.ac_phases = self.phases
            lim.max_power = self.max_power_w or lim.max_power
        return v


class SeccOptions(BaseModel):
    """The ``[secc]`` section of the station configuration."""

    model_config = ConfigDict(extra="forbid")

    codec: Literal["exi", "json"] = "exi"
    """EXI (always, for vehicles); json is a debugging stand-in."""
    sim_supply: bool = True
    """Simulate the DC power module (no DC power module API exists on the bus yet)."""
    auto_authorize: bool = False
    """Grant EIM authorization at once (else the coordinator's ``authorized`` session event decides)."""
    tcp_port: int = Field(0, ge=0, le=65535)
    """Fixed TCP port (0: a free one in 49152..65535)."""
    evse_id_prefix: str = "DE*JSV*E"
    """ISO 15118-2 EVSEID = prefix + EVSE id (zero padded to 4 digits)."""
    sequence_timeout_s: float = Field(60.0, gt=0)
    """V2G_SECC_Sequence_Timeout."""
    communication_setup_timeout_s: float = Field(20.0, gt=0)
    """V2G_SECC_CommunicationSetup_Timeout."""


def from_config(cfg: Any) -> SeccService:
    """The SECC of a station configuration (``josev.config.JosevConfig``): every EVSE with ``hlc`` and a
    ``plc_interface``."""
    from josev.secc.timers import SeccTimers

    opts = SeccOptions.model_validate(cfg.secc)
    evses = []
    for e in cfg.evse:
        if not e.hlc or not e.plc_interface:
            continue
        if e.kind == "dc":
            modes: tuple[str, ...] = ("DC_extended",)
        else:
            modes = ("AC_three_phase_core",) if e.phases == 3 else ("AC_single_phase_core",)
        evses.append(
            SeccEvseConfig(
                evse=e.id,
                iface=e.plc_interface,
                tcp_port=opts.tcp_port,
                energy_modes=modes,
                evse_id=f"{opts.evse_id_prefix}{e.id:04d}",
                max_current_a=e.max_current_a,
                max_voltage_v=e.max_voltage_v,
                max_power_w=e.max_power_w,
                phases=e.phases,
            )
        )
    timers = SeccTimers(
        sequence=opts.sequence_timeout_s, communication_setup=opts.communication_setup_timeout_s
    )
    return SeccService(
        evses,
        codec=opts.codec,
        sim_supply=opts.sim_supply,
        auto_authorize=opts.auto_authorize,
        config=SessionConfig(timers=timers),
    )


class SeccService:
    """The ``secc`` service."""

    name = "secc"

    def __init__(
        self,
        evses: list[SeccEvseConfig],
        *,
        codec: str = "exi",
        sim_supply: bool = True,
        auto_authorize: bool = True,
        config: SessionConfig | None = None,
    ) -> None:
        self.evses = evses
        self.codec = codec
        self.config = config or SessionConfig()
        self.supply = SimPowerSupply(auto_authorize=auto_authorize) if sim_supply else None
        self.views: dict[int, EvseView] = {}
        self.endpoints: dict[int, EvseEndpoint] = {}
        self._bus: Bus | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ready = asyncio.Event()

    # --- bus -> views -----------------------------------------------------------------------------------

    def _on_evse_status(self, msg: Any, evse: int | None) -> None:
        view = self.views.get(evse or 0)
        if view is None:
            return
        lim = view.limits
        changed = False
        if msg.limit_a is not None and abs(msg.limit_a - lim.ac_max_current) > 1e-6:
            lim.ac_max_current = float(msg.limit_a)
            changed = True
        if msg.max_power_w is not None and abs(msg.max_power_w - lim.max_power) > 1e-6:
            lim.max_power = float(msg.max_power_w)
            changed = True
        if changed:
            view.limits_version += 1
        view.status_code = "EVSE_Shutdown" if msg.faults or msg.state == "faulted" else "EVSE_Ready"

    def _on_session_event(self, msg: Any, evse: int | None) -> None:
        view = self.views.get(evse or 0)
        if view is None:
            return
        if msg.step == "authorized":
            view.authorized = True
        elif msg.step == "stopped":
            view.stop_requested = True
        elif msg.step in ("started", "ended"):
            view.authorized = None
            view.stop_requested = False

    async def _set_dc_supply(self, cmd: api.SetDcSupply, evse: int | None) -> Ack:
        view = self.views.get(evse or 0)
        if view is None:
            raise CommandError("invalid_request", f"EVSE {evse} is not served by the SECC")
        if cmd.present_voltage_v is not None:
            view.present_voltage = cmd.present_voltage_v
        if cmd.present_current_a is not None:
            view.present_current = cmd.present_current_a
        if cmd.isolation is not None:
            view.isolation = cmd.isolation
        if cmd.max_voltage_v is not None or cmd.max_current_a is not None:
            view.limits.max_voltage = cmd.max_voltage_v or view.limits.max_voltage
            view.limits.max_current = cmd.max_current_a or view.limits.max_current
            view.limits_version += 1
        return Ack()

    async def _diagnostics(self, cmd: api.GetSeccDiagnostics, evse: int | None) -> api.EndpointDiagnostics:
        ep = self.endpoints.get(evse or 0)
        if ep is None:
            raise CommandError("invalid_request", f"EVSE {evse} is not served by the SECC")
        s = ep.stats
        return api.EndpointDiagnostics(
            interface=ep.iface,
            address=ep.address,
            tcp_port=ep.tcp_port,
            sdp_answered=s.sdp_answered,
            sdp_dropped=s.sdp_dropped,
            connections=s.connections,
            sessions_ended=dict(s.sessions_ended),
            errors=s.errors,
        )

    # --- session events -> bus --------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("secc: bus action failed: %s", exc)

    async def _command(self, cmd: Any, evse: int) -> None:
        assert self._bus is not None
        try:
            await self._bus.request(cmd, evse)
        except CommandError as e:  # coordinator absent or refusing: logged, the session goes on
            log.info("secc: %s for EVSE %d: %s", type(cmd).__name__, evse, e)

    def on_events(self, evse: int, events: list[ev.Event]) -> None:
        """Endpoint callback: update the simulated supply and publish."""
        view = self.views[evse]
        if self.supply is not None:
            self.supply.apply(view, events)
        bus = self._bus
        if bus is None:
            return
        from josev.api import coordinator as coord

        for e in events:
            if isinstance(e, ev.SessionStarted):
                self._spawn(
                    bus.publish(
                        api.SeccSessionState(
                            status="session", protocol=e.protocol, session_id=e.session_id, evcc_id=e.evcc_id
                        ),
                        evse,
                    )
                )
            elif isinstance(e, ev.SessionEnded):
                status = "paused" if e.paused else ("failed" if e.reason.startswith("FAILED") else "ended")
                self._spawn(bus.publish(api.SeccSessionState(status=status, reason=e.reason), evse))
                if status == "failed" or e.reason.endswith("timeout") or e.reason.endswith("_error"):
                    self._spawn(self._command(coord.HlcFailed(reason=e.reason[:100]), evse))
            elif isinstance(e, ev.EvChargeParameters):
                self._spawn(
                    bus.publish(
                        api.EvChargeParameters(
                            energy_mode=e.energy_mode,
                            max_voltage_v=e.max_voltage,
                            max_current_a=e.max_current,
                            min_current_a=e.min_current,
                            max_power_w=e.max_power,
                            soc_percent=e.soc,
                            energy_request_wh=e.energy_request,
                            departure_time_s=e.departure_time,
                        ),
                        evse,
                    )
                )
            elif isinstance(e, ev.EvTargets):
                self._spawn(
                    bus.publish(
                        api.EvTarget(
                            phase="charge" if e.phase == "charge" else "precharge",
                            voltage_v=e.voltage,
                            current_a=e.current,
                            soc_percent=e.soc,
                            charging_complete=e.charging_complete,
                        ),
                        evse,
                    )
                )
            elif isinstance(e, ev.PowerDeliveryRequested):
                self._spawn(bus.publish(api.HlcEvent(step="power_delivery", detail=e.progress), evse))
                if e.progress in ("Start", "Stop"):
                    self._spawn(self._command(coord.HlcPowerDelivery(on=e.progress == "Start"), evse))
            elif isinstance(e, ev.AuthorizationRequested):
                self._spawn(bus.publish(api.HlcEvent(step="authorization_requested", detail=e.payment), evse))
            elif isinstance(e, ev.CableCheckRequested):
                self._spawn(bus.publish(api.HlcEvent(step="cable_check"), evse))
            elif isinstance(e, ev.WeldingDetectionRequested):
                self._spawn(bus.publish(api.HlcEvent(step="welding_detection"), evse))
            elif isinstance(e, ev.ProtocolViolation):
                detail = f"{e.request}: {e.response_code} {e.detail}"[:300]
                self._spawn(bus.publish(api.HlcEvent(step="protocol_violation", detail=detail), evse))

    # --- lifecycle --------------------------------------------------------------------------------------

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve every configured EVSE until ``stop``."""
        from josev.api import coordinator as coord

        self._bus = bus
        codec = make_codec(self.codec)
        for cfg in self.evses:
            view = cfg.view()
            self.views[cfg.evse] = view
            self.endpoints[cfg.evse] = EvseEndpoint(
                cfg.evse,
                cfg.iface,
                view,
                codec,
                tcp_port=cfg.tcp_port,
                config=self.config,
                on_events=self.on_events,
            )
        bus.subscribe(coord.EvseStatus, self._on_evse_status)
        bus.subscribe(coord.SessionEvent, self._on_session_event)
        bus.serve(api.SetDcSupply, self._set_dc_supply)
        bus.serve(api.GetSeccDiagnostics, self._diagnostics)
        try:
            for no, ep in self.endpoints.items():
                await ep.start()
                await bus.publish(api.SeccSessionState(status="idle"), no)
            await bus.set_status("ready")
            self.ready.set()
            await stop.wait()
        finally:
            for ep in self.endpoints.values():
                await ep.close()
            for t in list(self._tasks):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
