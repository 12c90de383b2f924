"""The SECC bus service: one :class:`~josev.secc.server.EvseEndpoint` per EVSE (each on its own PLC
interface), bridged to the coordinator over the bus.

Session events become :mod:`josev.api.secc` messages and the coordinator's ``HlcPowerDelivery`` /
``HlcFailed`` commands; the coordinator's ``EvseStatus`` (limits, faults, discharge limits) and
``SessionEvent`` (authorized, stopped) update the EVSE views the cores read. Without a DC power module on the
bus the built-in :class:`~josev.sim.supply.SimPowerSupply` answers for it (``sim_supply``).

With ``iso20`` an EVSE also offers ISO 15118-20 (BPT when ``bpt``); with ``tls`` a TLS listener (TLS 1.2 for
-2, TLS 1.3 for -20) is announced by SDP. A PowerDelivery Start/Stop response leaves only once the
coordinator confirmed the contactor (``await_contactor``); a refusal or timeout answers FAILED_ContactorError.
``v2g_log``: every V2GTP frame is recorded per EVSE and connection (pcapng per session with a directory).
``messages`` (``[secc] publish_messages``): every decoded message is also published as a rate-limited
:class:`~josev.api.secc.V2gMessage` for live views (:mod:`josev.secc.msgstream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev.api import ocpp as ocpp_api
from josev.api import secc as api
from josev.api.base import Ack, CommandError
from josev.bus import Bus
from josev.secc import events as ev
from josev.secc.evse import EvseView
from josev.secc.iso20 import events as ev20
from josev.secc.iso20.context import BptLimits, Iso20Config, Iso20Evse
from josev.secc.iso20.pnc import ContractVerifier
from josev.secc.limits import ConnectionLimits
from josev.secc.messages import hlc_failed, message_for
from josev.secc.msgstream import MessageStream
from josev.secc.pncshell import PncShell
from josev.secc.server import EvseEndpoint
from josev.secc.session import SessionConfig
from josev.secc.settings import SeccEvseConfig, SeccOptions
from josev.secc.smartshell import SmartShell, tariff_and_key
from josev.secc.tlsconfig import SeccTls
from josev.sim.supply import SimPowerSupply
from josev.v2g.codec import make_codec

if TYPE_CHECKING:
    from josev.observability.v2glog import V2gRecorder
    from josev.secc.scenario import ScenarioRunner

__all__ = ["ISOLATION", "SeccEvseConfig", "SeccOptions", "SeccService", "from_config"]

log = logging.getLogger("josev.secc")

#: The coordinator's isolation status -> the ISO 15118 isolationLevelType the cores use.
ISOLATION = {
    "invalid": "Invalid",
    "valid": "Valid",
    "warning": "Warning",
    "fault": "Fault",
    "no_imd": "No_IMD",
}


def from_config(cfg: Any, *, scenario: ScenarioRunner | None = None) -> SeccService:
    """The SECC of a station configuration (``josev.config.JosevConfig``): every EVSE with ``hlc`` and a
    ``plc_interface``; an AC EVSE with three phases also serves single-phase cars. ``scenario``: scripted
    station behaviour for testing EVs (``josev station --scenario``)."""
    from josev.secc.timers import SeccTimers

    opts = SeccOptions.model_validate(cfg.secc)
    evses = []
    for e in cfg.evse:
        if not e.hlc or not e.plc_interface:
            continue
        if e.kind == "dc":
            modes: tuple[str, ...] = ("DC_extended",)
        else:
            modes = (
                ("AC_three_phase_core", "AC_single_phase_core")
                if e.phases == 3
                else ("AC_single_phase_core",)
            )
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
                iso20=opts.iso20,
                bpt=opts.bpt,
            )
        )
    timers = SeccTimers(
        sequence=opts.sequence_timeout_s, communication_setup=opts.communication_setup_timeout_s
    )
    tls = None
    if opts.tls != "off":
        if not opts.pki_dir:
            raise ValueError("[secc] tls needs pki_dir (a folder made by `josev pki create`)")
        tls = SeccTls(
            opts.tls,
            Path(opts.pki_dir),
            enforce=opts.enforce_tls,
            keylog=Path(opts.tls_keylog) if opts.tls_keylog else None,
        )
    recorder: V2gRecorder | None = None
    if opts.v2g_log or opts.v2g_log_dir:
        from josev.observability.v2glog import V2gRecorder

        log_opts: dict[str, Any] = {
            "directory": Path(opts.v2g_log_dir) if opts.v2g_log_dir else None,
            "max_files": opts.v2g_log_max_files,
            "max_dir_bytes": int(opts.v2g_log_max_mb * 1024 * 1024),
        }
        if opts.v2g_log_dir and opts.v2g_log_reports:
            from josev.report.files import ReportingRecorder

            actions = scenario.report_actions if scenario is not None else None
            recorder = ReportingRecorder(codec=opts.codec, actions=actions, **log_opts)
        else:
            recorder = V2gRecorder(**log_opts)
    limits = ConnectionLimits(
        max_connections=opts.max_connections,
        max_per_peer=opts.max_connections_per_peer,
        peer_rate=opts.peer_connect_rate,
        peer_burst=opts.peer_connect_burst,
        frame_rate=opts.frame_rate,
        frame_burst=max(1, int(2 * opts.frame_rate)),
        tls_handshake_timeout=opts.tls_handshake_timeout_s,
    )
    return SeccService(
        evses,
        limits=limits,
        capture_slac=opts.v2g_log_slac,
        codec=opts.codec,
        sim_supply=opts.sim_supply if opts.sim_supply is not None else not cfg.service("coordinator").enabled,
        auto_authorize=opts.auto_authorize,
        config=SessionConfig(timers=timers),
        tls=tls,
        recorder=recorder,
        await_contactor=opts.await_contactor,
        contactor_timeout=opts.contactor_timeout_s,
        clamp_targets=opts.clamp_targets,
        pnc=PncShell(
            Path(opts.pki_dir) if opts.pki_dir else None,
            metering_receipt_interval=opts.metering_receipt_interval_s if opts.metering_receipt else None,
            ocsp=opts.ocsp,
        )
        if opts.pnc
        else None,
        metering_interval=opts.metering_confirmation_s,
        messages=MessageStream(opts.publish_messages_rate) if opts.publish_messages else None,
        csms_wait=opts.csms_schedule_wait_s if (cfg.ocpp or {}).get("csms_url") else 0.0,
        sales_tariff=tariff_and_key(opts),
        max_schedule_entries=opts.max_schedule_entries,
        scenario=scenario,
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
        tls: SeccTls | None = None,
        recorder: V2gRecorder | None = None,
        await_contactor: bool = True,
        contactor_timeout: float = 3.0,
        clamp_targets: bool = False,
        pnc: PncShell | None = None,
        limits: ConnectionLimits | None = None,
        capture_slac: bool = True,
        metering_interval: float = 0.0,
        messages: MessageStream | None = None,
        scenario: ScenarioRunner | None = None,
        csms_wait: float = 0.0,
        sales_tariff: tuple[Any, Any] | None = None,
        max_schedule_entries: int = 1024,
    ) -> None:
        self.evses = evses
        #: -20 PnC: seconds between MeteringConfirmation requests (0: none)
        self.metering_interval = metering_interval
        self.messages = messages
        #: scripted station behaviours for testing EVs (``josev station --scenario``)
        self.scenario = scenario
        self.pnc = pnc
        self.limits = limits
        self.capture_slac = capture_slac
        self.codec = codec
        self.config = config or SessionConfig()
        self.supply = SimPowerSupply(auto_authorize=auto_authorize) if sim_supply else None
        self.tls = tls
        self.recorder = recorder
        self.await_contactor = await_contactor
        self.contactor_timeout = contactor_timeout
        self.clamp_targets = clamp_targets
        self.cable_check_retry_s = 3.0
        self.views: dict[int, EvseView] = {}
        self.iso20: dict[int, Iso20Evse] = {}
        self.endpoints: dict[int, EvseEndpoint] = {}
        self._selected: dict[int, api.Iso20Service] = {}
        self._dc_bus: set[int] = set()  # EVSEs whose DcSupplyState comes from the coordinator
        self._dc_coordinator: set[int] = set()  # EVSEs the coordinator runs as DC (cable check on the bus)
        self._cc_done: set[int] = set()
        self._v2g_running: set[int] = set()  # EVSEs with a V2G session (SessionSetup done) not yet ended
        self._bpt_wanted: set[int] = (
            set()
        )  # EVSEs configured with BPT (offered while the coordinator allows)  # EVSEs whose cable check of the running session is over
        self._bus: Bus | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ready = asyncio.Event()
        self.smart = SmartShell(
            self.views,
            self._spawn,
            csms_wait=csms_wait,
            sales_tariff=sales_tariff,
            max_schedule_entries=max_schedule_entries,
        )
        """Schedules for the car, OCPP K15/K17, the SalesTariff."""

    # --- bus -> views -----------------------------------------------------------------------------------

    def _on_evse_status(self, msg: Any, evse: int | None) -> None:
        view = self.views.get(evse or 0)
        if view is None:
            return
        lim = view.limits
        changed = False
        dc = bool(getattr(msg, "dc", False))  # DC limits come with DcSupplyState, not as AC amps x phases
        if not dc and msg.limit_a is not None and abs(msg.limit_a - lim.ac_max_current) > 1e-6:
            lim.ac_max_current = float(msg.limit_a)
            changed = True
        if not dc and msg.max_power_w is not None and abs(msg.max_power_w - lim.max_power) > 1e-6:
            lim.max_power = float(msg.max_power_w)
            changed = True
        st20 = self.iso20.get(evse or 0)
        if st20 is not None and self._update_bpt(evse or 0, st20, msg):
            changed = True
        if changed:
            view.limits_version += 1
        if getattr(msg, "dc", False):
            self._dc_coordinator.add(evse or 0)
        view.status_code = "EVSE_Shutdown" if msg.faults or msg.state == "faulted" else "EVSE_Ready"

    def _update_bpt(self, evse: int, st20: Iso20Evse, msg: Any) -> bool:
        """Discharge limits and the dynamic-mode setpoint from the coordinator (``EvseStatus``,
        ``DcSupplyState``). The coordinator is the authority: both discharge limits None means the EVSE cannot
        discharge, and BPT is no longer offered (until it reports limits again, if BPT is configured)."""
        changed = False
        if hasattr(msg, "max_discharge_power_w"):
            dis_p = msg.max_discharge_power_w
            dis_i = getattr(msg, "max_discharge_current_a", None)
            new: BptLimits | None = None
            if evse in self._bpt_wanted and (dis_p is not None or dis_i is not None):
                base = st20.bpt or BptLimits()
                new = BptLimits(
                    max_discharge_power=float(dis_p) if dis_p is not None else base.max_discharge_power,
                    max_discharge_current=float(dis_i) if dis_i is not None else base.max_discharge_current,
                )
            if new != st20.bpt:
                st20.bpt = new
                changed = True
        setpoint = getattr(msg, "power_setpoint_w", None)
        if setpoint is not None and setpoint != st20.power_setpoint:
            st20.power_setpoint = float(setpoint)
            changed = True
        return changed

    def _on_dc_supply(self, msg: Any, evse: int | None) -> None:
        """The coordinator's DC output (``DcSupplyState``) replaces the simulated supply for this EVSE."""
        no = evse or 0
        view = self.views.get(no)
        if view is None:
            return
        self._dc_bus.add(no)
        view.present_voltage = float(msg.present_voltage_v)
        view.present_current = float(msg.present_current_a)
        if no in self._cc_done:  # before this session's cable check the result is ours to wait for
            view.isolation = ISOLATION.get(msg.isolation, "Invalid")
        lim = view.limits
        new = (float(msg.max_voltage_v), float(msg.max_power_w))
        old = (lim.max_voltage, lim.max_power)
        # a real change of the power or voltage limit makes the EV renegotiate (not jitter); the current limit
        # follows the present voltage (power / V) and reaches the EV in every CurrentDemand / ChargeLoop answer
        changed = any(abs(n - o) > max(0.01 * abs(o), 0.1) for n, o in zip(new, old, strict=True))
        lim.max_current = float(msg.max_current_a)
        if changed:
            lim.max_voltage, lim.max_power = new
        st20 = self.iso20.get(no)
        if st20 is not None and self._update_bpt(evse or 0, st20, msg):
            changed = True
        if changed:
            view.limits_version += 1

    async def _cable_check(self, evse: int) -> None:
        """DC CableCheck on the real supply: the cores answer Ongoing until the isolation is known."""
        from josev.api import coordinator as coord

        assert self._bus is not None
        view = self.views[evse]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.cable_check_retry_s
        while True:
            try:
                res = await self._bus.request(coord.StartCableCheck(), evse)
                break
            except CommandError as e:
                # the EV may close S2 (CP C) a moment after its first CableCheckReq: retry while it is Ongoing
                if e.code == "rejected" and loop.time() < give_up:
                    await asyncio.sleep(0.1)
                    continue
                log.warning("secc: EVSE %d cable check refused: %s", evse, e)
                view.isolation = "Fault"
                return
        view.isolation = ISOLATION.get(res.isolation, "Fault")
        self._cc_done.add(evse)

    def _on_meter(self, msg: Any, evse: int | None) -> None:
        view = self.views.get(evse or 0)
        if view is not None:  # the reading an ISO 15118-2 metering receipt signs for
            view.meter_wh = float(msg.energy_register_wh) if msg.ok else None
        st20 = self.iso20.get(evse or 0)
        if st20 is not None and msg.ok:
            st20.present_power = float(msg.power_w)
            st20.charged_wh = float(msg.energy_register_wh)
            st20.discharged_wh = float(msg.energy_export_register_wh or 0.0)

    async def _power_gate(self, evse: int, on: bool) -> bool:
        """PowerDelivery: the coordinator confirms the contactor closed (``on``) / open, or the answer is a
        failure; without ``await_contactor`` the command is sent and the response leaves at once."""
        from josev.api import coordinator as coord

        bus = self._bus
        if bus is None:
            return True
        if not self.await_contactor:
            self._spawn(self._command(coord.HlcPowerDelivery(on=on), evse))
            return True
        try:
            await bus.request(coord.HlcPowerDelivery(on=on), evse, timeout=self.contactor_timeout)
        except CommandError as e:
            log.warning("secc: EVSE %d contactor %s not confirmed: %s", evse, "close" if on else "open", e)
            return False
        return True

    def _on_ocpp_connection(self, msg: Any, evse: int | None) -> None:
        online = bool(msg.connected) and msg.registration == "Accepted"
        changed = False
        for st20 in self.iso20.values():
            changed = changed or st20.csms_online != online
            st20.csms_online = online
        if changed and self.iso20:
            log.info(
                "secc: CSMS %s: -20 CertificateInstallation %s",
                *(("reachable", "offered") if online else ("unreachable", "not offered")),
            )

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
            tls_port=ep.tls_port,
            tls_accepted=ep.tls_stats.accepted,
            tls_refused=dict(ep.tls_stats.refused),
            iso20=ep.iso20 is not None,
            v2g_messages=self.recorder.size[0] if self.recorder is not None else 0,
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

    def on_events(self, evse: int, events: list[ev20.Iso20Event]) -> None:
        """Endpoint callback: update the simulated supply and publish."""
        view = self.views[evse]
        if self.supply is not None:
            shared = ev20.shared_events(events)
            if evse in self._dc_bus:  # the real DC supply answers: keep only the authorization stand-in
                shared = [e for e in shared if isinstance(e, ev.AuthorizationRequested | ev.SessionEnded)]
            self.supply.apply(view, shared)
        if evse in self._dc_coordinator and any(isinstance(e, ev.SessionStarted) for e in events):
            self._cc_done.discard(evse)  # a new session: no isolation result until its own cable check
            view.isolation = "Invalid"
        bus = self._bus
        if bus is None:
            return
        from josev.api import coordinator as coord

        for e in events:
            if isinstance(e, ev20.ServiceSelected):
                self._selected[evse] = api.Iso20Service(
                    energy_service=e.service,
                    control_mode="dynamic" if e.control_mode == "dynamic" else "scheduled",
                    parameter_set_id=e.parameter_set_id,
                )
                self._spawn(bus.publish(self._selected[evse], evse))
            elif isinstance(e, ev20.MeteringConfirmed):
                log.info(
                    "secc: EVSE %d metering confirmation %d Wh (meter %s) signed by the EV",
                    evse,
                    e.wh,
                    e.meter_id,
                )
            elif isinstance(e, ev20.StandbyChanged):
                sel = self._selected.get(evse)
                if sel is not None:
                    self._selected[evse] = sel.model_copy(update={"standby": e.standby})
                    self._spawn(bus.publish(self._selected[evse], evse))
            elif not self.smart.on_event(evse, e) and (msg := message_for(e)) is not None:
                # (PowerDelivery: the contactor command itself is awaited by the endpoint's power gate)
                self._spawn(bus.publish(msg, evse))
            if isinstance(e, ev.ContractAuthorizationRequested) and self.pnc is not None:
                self._spawn(self.pnc.authorize(bus, evse, e))
            elif isinstance(e, ev.CertificateRequested) and self.pnc is not None:
                self._spawn(self.pnc.certificate(bus, evse, e))
            elif isinstance(e, ev.SecurityIssue) and self.pnc is not None:
                self._spawn(self.pnc.security_event(bus, evse, e))
            elif isinstance(e, ev.OcspStatusRequested) and self.pnc is not None:
                self._spawn(self.pnc.ocsp_status(bus, evse, e))
            elif isinstance(e, ev.MeterReceipted) and self.pnc is not None:
                self.pnc.receipted(evse, e)
            if isinstance(e, ev.SessionStarted):
                self._v2g_running.add(evse)
            elif isinstance(e, ev.SessionEnded):
                # only the end of a V2G session (SessionSetup done) is the car's: a peer that never got that far
                # (garbage, an idle connection timing out) must not use up the plug-in's V2G retries
                running = evse in self._v2g_running
                self._v2g_running.discard(evse)
                if running and hlc_failed(e):
                    self._spawn(self._command(coord.HlcFailed(reason=e.reason[:100]), evse))
            elif isinstance(e, ev.CableCheckRequested) and evse in self._dc_coordinator:
                self._cc_done.discard(evse)
                view.isolation = "Invalid"  # Ongoing until the coordinator's test result
                self._spawn(self._cable_check(evse))

    def on_trace(self, evse: int, connection: str, trace: list[tuple[str, dict[str, Any]]]) -> None:
        """Endpoint callback: publish the decoded messages (rate-limited) when the message stream is on."""
        bus = self._bus
        if self.messages is None or bus is None:
            return
        for msg in self.messages.messages(evse, connection, trace, time.monotonic()):
            self._spawn(bus.publish(msg, evse, qos=msg.qos))  # QoS 0: a live view; the window is for commands

    # --- lifecycle --------------------------------------------------------------------------------------

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve every configured EVSE until ``stop``."""
        from josev.api import coordinator as coord

        self._bus = bus
        codec = make_codec(self.codec)
        ctx = self.tls.context() if self.tls is not None else None
        for cfg in self.evses:
            view = cfg.view()
            self.smart.attach(view)
            self.views[cfg.evse] = view
            if self.pnc is not None:
                self.pnc.attach(cfg.evse, view)
            st20 = None
            if cfg.iso20:
                st20 = Iso20Evse(view, bpt=BptLimits() if cfg.bpt else None)
                self.iso20[cfg.evse] = st20
                if cfg.bpt:
                    self._bpt_wanted.add(cfg.evse)
            self.endpoints[cfg.evse] = EvseEndpoint(
                cfg.evse,
                cfg.iface,
                view,
                codec,
                tcp_port=cfg.tcp_port,
                config=self.config,
                on_events=self.on_events,
                iso20=st20,
                tls=ctx,
                tls_mode=self.tls.mode if self.tls is not None else "both",
                enforce_tls=self.tls.enforce if self.tls is not None else False,
                recorder=self.recorder,
                power_gate=self._power_gate,
                limits=self.limits,
                capture_slac=self.capture_slac,
                on_trace=self.on_trace if self.messages is not None else None,
                scenario=self.scenario,
                iso20_config=Iso20Config(
                    wall_offset=time.time() - time.monotonic(),
                    clamp_targets=self.clamp_targets,
                    pnc=ContractVerifier() if self.pnc is not None else None,
                    certificate_installation=self.pnc is not None,
                    metering_interval=self.metering_interval if self.pnc is not None else 0.0,
                ),
            )
        bus.subscribe(coord.EvseStatus, self._on_evse_status)
        bus.subscribe(coord.SessionMeter, self._on_meter)
        bus.subscribe(coord.DcSupplyState, self._on_dc_supply)
        bus.subscribe(coord.SessionEvent, self._on_session_event)
        self.smart.register(bus)
        if self.pnc is not None:
            from josev.api import iso15118 as iso

            bus.subscribe(iso.V2GCertificates, self.pnc.on_v2g_certificates)
            for st20_ in self.iso20.values():
                st20_.csms_online = False  # -20 CertificateInstallation only while the CSMS is reachable
            bus.subscribe(ocpp_api.OcppConnection, self._on_ocpp_connection)
        bus.serve(api.SetDcSupply, self._set_dc_supply)
        bus.serve(api.GetSeccDiagnostics, self._diagnostics)
        try:
            for no, ep in self.endpoints.items():
                await ep.start()
                await bus.publish(api.SeccSessionState(status="idle"), no)
            if self.tls is not None:
                from josev.secc import certwatch

                self._tasks.add(asyncio.create_task(certwatch.run(bus, self.tls.pki_dir, stop)))
            await bus.set_status("ready")
            self.ready.set()
            await stop.wait()
        finally:
            for ep in self.endpoints.values():
                await ep.close()
            if self.recorder is not None:  # the last sessions' pcapng files
                await asyncio.to_thread(self.recorder.flush, 5.0)
            for t in list(self._tasks):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
