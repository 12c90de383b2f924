"""The OCPP bus service: runs :class:`~josev.ocpp.connection.OcppClient` and maps between the coordinator's
typed messages and the core's station-side inputs / requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from josev import logs
from josev.api import coordinator as co
from josev.api import display as dapi
from josev.api import ocpp as api
from josev.api.base import CommandError
from josev.bus import Bus
from josev.observability import oplog
from josev.ocpp import pnc_bus, security
from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import OcppClient
from josev.ocpp.effects import StationRequest
from josev.ocpp.smartcharging import bus as smart_bus

log = logging.getLogger(__name__)

SETTLE_S = 3.0
"""How long a stopping OCPP service waits for the coordinator's last session events."""
STOP_TRIGGER = {
    "local": "StopAuthorized",
    "deauthorized": "Deauthorized",
    "remote": "RemoteStop",
    "hlc_failed": "EVCommunicationLost",  # stoppedReason Other (transactions.STOP_REASON)
    "slac_failed": "EVCommunicationLost",
}
"""SessionEvent ``stopped`` reasons -> OCPP triggerReason (other reasons: StopAuthorized)."""


def readings(meter: co.SessionMeter) -> dict[str, float]:
    """OCPP measurands from a coordinator meter state."""
    out = {"Energy.Active.Import.Register": meter.energy_register_wh, "Power.Active.Import": meter.power_w}
    if meter.current_a:
        out["Current.Import"] = max(meter.current_a)
    if meter.voltage_v:
        out["Voltage"] = sum(meter.voltage_v) / len(meter.voltage_v)
    if meter.energy_export_register_wh is not None:
        out["Energy.Active.Export.Register"] = meter.energy_export_register_wh
    return out


class OcppService:
    """Bus service ``ocpp``."""

    name = "ocpp"

    def __init__(self, cfg: OcppConfig) -> None:
        self.cfg = cfg
        self.bus: Bus | None = None
        self.client: OcppClient | None = None
        self.sessions: dict[int, str | None] = {}
        self._published: dict[str, Any] = {}
        self.pnc: pnc_bus.PncBridge | None = None
        self._status_seen = asyncio.Event()
        self.smart: smart_bus.SmartBus | None = None

    # -- coordinator -> core --------------------------------------------------------------------------
    async def _on_status(self, msg: co.EvseStatus, evse: int | None) -> None:
        if self.client is None or evse is None or evse not in self.cfg.evses:
            return
        st = self.client.station
        await self.client.feed(lambda e, sid, now: _session_seen(st, e, sid, now), evse, msg.session_id)
        known = self.cfg.evses[evse]
        conns = [c for c in msg.connectors if c.connector_id <= known] or [
            co.ConnectorStatus(
                connector_id=1, ocpp_status=msg.ocpp_status, detailed_status=msg.detailed_status, in_use=True
            )
        ]
        for c in conns:  # one StatusNotification per connector (the core sends only changes)
            await self.client.feed(st.connector_status, evse, c.connector_id, c.ocpp_status)
        in_use = next((c.connector_id for c in conns if c.in_use), conns[0].connector_id)
        # a session runs from plug-in to unplug: after a restart the retained status tells whether the EV is
        # still there (plug() ignores repeats)
        await self.client.feed(st.plug, evse, in_use, msg.session_id is not None)
        await self.client.feed(st.charging_state, evse, msg.charging_state)
        self.sessions[evse] = msg.session_id
        self._status_seen.set()

    async def _on_session(self, msg: co.SessionEvent, evse: int | None) -> None:
        if self.client is None or evse is None or evse not in self.cfg.evses:
            return
        st = self.client.station
        if msg.step == "started":
            await self.client.feed(st.plug, evse, 1, True)
        elif msg.step == "charging_started":
            await self.client.feed(lambda e, now: _power(st, e, True, None, now), evse)
        elif msg.step == "charging_stopped":
            await self.client.feed(lambda e, now: _power(st, e, False, msg.energy_register_wh, now), evse)
        elif msg.step == "ended":
            # the reading at contactor open first: the transaction ends with it
            await self.client.feed(lambda e, now: _power(st, e, False, msg.energy_register_wh, now), evse)
            await self.client.feed(st.plug, evse, 1, False)
        elif (
            msg.step == "authorized"
            and msg.auth_source not in ("ocpp", None)
            and (msg.id_token or msg.auth_source == "free")
        ):
            # free charging carries no token: OCPP's NoAuthorization type with an empty idToken
            token = {
                "idToken": msg.id_token or "",
                "type": "Local" if msg.auth_source == "local" else "ISO14443",
            }
            if msg.auth_source == "free":
                token = {"idToken": "", "type": "NoAuthorization"}
            await self.client.feed(lambda e, t, now: _authorized(st, e, t, now), evse, token)
        elif msg.step == "stopped" and msg.reason == "station_stop":
            # the station stops (SIGTERM, shutdown): a locally initiated reboot ends the transaction
            await self.client.feed(lambda e, now: _station_stop(st, e, now), evse)
        elif msg.step == "stopped" and msg.reason != "remote":
            await self.client.feed(st.stop_local, evse, STOP_TRIGGER.get(msg.reason, "StopAuthorized"))

    async def _on_meter(self, msg: co.SessionMeter, evse: int | None) -> None:
        if self.client is None or evse is None or evse not in self.cfg.evses or not msg.ok:
            return
        await self.client.feed(self.client.station.meter, evse, readings(msg))

    async def _on_auth_request(self, msg: co.AuthorizationRequest, evse: int | None) -> None:
        if self.client is None:
            return
        token = {"idToken": msg.id_token, "type": msg.token_type}
        await self.client.feed(self.client.station.present_token, evse, token)

    # -- core -> coordinator --------------------------------------------------------------------------
    async def _request(self, req: StationRequest) -> dict[str, Any] | None:
        bus = self.bus
        assert bus is not None
        d = req.data
        if self.pnc is not None and req.kind in pnc_bus.KINDS:
            await self.pnc.on_request(req)
            return None
        if self.smart is not None and req.kind in smart_bus.KINDS:
            await self.smart.on_request(req)
            return None
        try:
            if req.kind == "authorization":
                tok = d["idToken"]
                oplog.authorization(log, d["evse"] or 0, tok["idToken"], d["status"], d["source"])
                if d["evse"] is not None:
                    await bus.publish(
                        api.OcppAuthorization(
                            id_token=tok["idToken"],
                            token_type=tok["type"],
                            status=d["status"],
                            source=d["source"],
                        ),
                        d["evse"],
                    )
                if d["status"] == "Accepted" and d["evse"] is not None:
                    if d["source"] in ("stop", "stop-group", "masterpass"):
                        await bus.request(co.StopCharging(reason="local"), d["evse"])
                    else:
                        await bus.request(co.Authorize(id_token=tok["idToken"], source="ocpp"), d["evse"])
            elif req.kind == "remote_start":  # the core acts on the coordinator's decision (req.token)
                await bus.request(co.Authorize(id_token=d["idToken"]["idToken"], source="ocpp"), d["evse"])
                return {"status": "Accepted"}
            elif req.kind == "remote_stop":
                await bus.request(co.StopCharging(reason=str(d.get("reason", "Remote")).lower()), d["evse"])
            elif req.kind == "availability":
                evses = [d["evse"]] if "evse" in d else sorted(self.cfg.evses)
                for e in evses:
                    await bus.request(co.SetAvailability(available=d["operative"]), e)
            elif req.kind == "display":
                await bus.publish(
                    dapi.DisplayState.model_validate({k: v for k, v in d.items() if k != "evse"}), d["evse"]
                )
            elif req.kind == "reservation":
                if d.get("cancel"):
                    await bus.request(co.CancelReservation(), d["evse"])
                else:
                    expires = datetime.fromisoformat(d["expiry"].replace("Z", "+00:00"))
                    await bus.request(
                        co.Reserve(id_token=d["idToken"]["idToken"], expires_at=expires), d["evse"]
                    )
            elif req.kind == "reset_evse":
                await bus.request(co.StopCharging(reason="reset"), d["evse"])
            elif req.kind == "unlock":
                # F05: refused while an authorized transaction holds the connector (the core checks that first);
                # the coordinator also refuses while its session keeps the connector locked.
                await bus.request(co.UnlockConnector(), d["evse"])
                return {"status": "Unlocked"}
        except CommandError as err:
            log.warning("coordinator refused %s: %s", req.kind, err)
            if req.kind == "unlock":
                return {"status": "UnlockFailed"}
            if req.kind == "remote_start":  # a timeout (CommandTimeout) included
                return {"status": "Rejected", "detail": str(err)}
        return None

    # -- state publishing -----------------------------------------------------------------------------
    async def _publish_states(self) -> None:
        bus, client = self.bus, self.client
        assert bus is not None and client is not None
        st = client.station
        slot = st.active_slot
        prof = security.profiles(st).get(slot or -1, {})
        conn = api.OcppConnection(
            connected=client.connected.is_set(),
            registration=st.registration,
            csms_url=prof.get("ocppCsmsUrl", ""),
            security_profile=st.dm.get_int("SecurityCtrlr", "SecurityProfile"),
            active_slot=slot,
            queued=st.store.queue_length(),
        )
        await self._maybe(conn, None)
        for evse in self.cfg.evses:
            rec = st.tx.current(evse)
            tx = api.OcppTransaction(
                transaction_id=rec["id"] if rec else None,
                next_seq_no=rec["seq"] if rec else 0,
                authorized=bool(rec and rec.get("authorized")),
            )
            await self._maybe(tx, evse)
        await self._maybe(
            api.FirmwareStatus(status=st.firmware_status, request_id=st.firmware_request_id), None
        )

    async def _maybe(self, msg: Any, evse: int | None) -> None:
        key = f"{msg.name}:{evse}"
        if self._published.get(key) != msg:
            self._published[key] = msg
            assert self.bus is not None
            await self.bus.publish(msg, evse)

    def _status(self, cmd: api.GetOcppStatus, evse: int | None) -> api.OcppStatusReply:
        assert self.client is not None
        st = self.client.station
        return api.OcppStatusReply(
            connected=self.client.connected.is_set(),
            registration=st.registration,
            queued=st.store.queue_length(),
            stats=dict(st.stats),
        )

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve until ``stop``."""
        self.bus = bus
        self.client = OcppClient(self.cfg, on_request=self._request)
        bus.subscribe(co.EvseStatus, self._on_status)
        bus.subscribe(co.SessionEvent, self._on_session)
        bus.subscribe(co.SessionMeter, self._on_meter)
        bus.subscribe(co.AuthorizationRequest, self._on_auth_request)
        bus.serve(api.GetOcppStatus, self._status)
        self.pnc = pnc_bus.PncBridge(bus, lambda: self.client)
        self.pnc.register()
        self.smart = smart_bus.SmartBus(bus, lambda: self.client)
        self.smart.register()
        await self.pnc.publish_certificates()
        client_stop = asyncio.Event()
        task = asyncio.create_task(self.client.run(client_stop))
        await bus.set_status("ready")
        try:
            while not stop.is_set() and not task.done():
                await self._publish_states()
                await smart_bus.refresh(self.client)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await stop.wait()
            await self._settle()
        finally:
            self.smart.close()
            client_stop.set()
            await asyncio.gather(task, return_exceptions=True)

    async def _settle(self) -> None:
        """Stopping (after the coordinator, which ends its sessions): record the sessions' last events before
        the client flushes and closes its database (bounded by SETTLE_S)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_S):
                while any(self.sessions.get(e) for e in self.cfg.evses):
                    self._status_seen.clear()
                    await self._status_seen.wait()
        await asyncio.sleep(0.1)  # the handlers of the last messages received run as tasks


def _station_stop(st: Any, evse: int, now: float) -> list[Any]:
    """The station is stopping: end the transaction (ResetCommand / Reboot) with the contactor-open reading."""
    st.tx.stop(evse, "ResetCommand", "Reboot", now)
    st._pump(now)
    return list(st.take())


def _session_seen(st: Any, evse: int, session_id: str | None, now: float) -> list[Any]:
    """The coordinator's session on ``evse`` (ends a transaction its crash cut, see Transactions.after_crash)."""
    st.tx.session_seen(evse, session_id, now)
    st._pump(now)
    return list(st.take())


def _power(st: Any, evse: int, closed: bool, register_wh: float | None, now: float) -> list[Any]:
    """The coordinator closed / opened the contactor (opening: with the meter's register read then)."""
    st.tx.power(evse, closed, now, register_wh)
    st._pump(now)
    return list(st.take())


def _authorized(st: Any, evse: int, token: dict[str, Any], now: float) -> list[Any]:
    """The coordinator authorized a session itself (local list, free charging)."""
    st.tx.authorized(evse, token, None, now)
    st._pump(now)
    return list(st.take())


def config_from_station(cfg: Any) -> OcppConfig:
    """The OcppConfig of a :class:`josev.config.JosevConfig`: identity, vendor, model, serial number and EVSEs
    from the station sections, the rest from the ``[ocpp]`` table (which may override them)."""
    base: dict[str, Any] = {
        "identity": cfg.station.id,
        "vendor": cfg.station.vendor,
        "model": cfg.station.model,
        "serial_number": cfg.station.serial_number,
        "evses": {e.id: len(e.connectors) for e in cfg.evse},
    }
    table = dict(cfg.ocpp)
    if "csms_url" not in table:
        raise ValueError(
            "[ocpp] csms_url is required (ws://host/path or wss://host/path, without the identity)"
        )
    return OcppConfig.model_validate({**base, **table})


def from_config(cfg: Any) -> OcppService:
    """Service factory used by :mod:`josev.services.registry`."""
    occ = config_from_station(cfg)
    logs.secret(occ.basic_auth_password, occ.identity)  # never in a log line, at any level
    return OcppService(occ)
