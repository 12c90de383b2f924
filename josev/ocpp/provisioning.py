"""Provisioning (B): boot, heartbeat and clock, device-model access (Get/SetVariables, GetBaseReport,
GetReport -> NotifyReport), TriggerMessage and Reset."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from josev.ocpp import availability
from josev.ocpp.devmodel import VarDef
from josev.ocpp.effects import Reboot
from josev.ocpp.rpc import RpcError

if TYPE_CHECKING:
    from josev.ocpp.core import Outgoing, Station

log = logging.getLogger(__name__)


# -- boot ----------------------------------------------------------------------------------------------
def boot_message(st: Station, now: float) -> Outgoing:
    """The BootNotification to send now (the core calls this when a boot is due)."""
    from josev.ocpp.core import Outgoing

    st.boot_in_flight = True
    payload = {"chargingStation": dict(st.boot_info), "reason": st.boot_reason}
    return Outgoing("BootNotification", payload, on_result=_boot_result)


def _boot_result(st: Station, payload: dict[str, Any], now: float) -> None:
    st.boot_in_flight = False
    status = payload["status"]
    before = st.wall(now)
    st.set_clock(payload["currentTime"], now)
    interval = int(payload["interval"])
    first = st.registration != "Accepted"
    st.registration = status
    if status == "Accepted":
        if interval > 0:
            st.dm.put("OCPPCommCtrlr", "HeartbeatInterval", str(interval))
        st.last_sent = now
        if first:
            if st.boot_reason == "PowerUp":
                st.security_event("StartupOfTheDevice", now)
            availability.send_all(st, now)
            st.tx.on_accepted(now)
        from josev.ocpp import firmware, security

        _clock_event(st, st.wall(now) - before, now)  # after StartupOfTheDevice
        security.after_boot_accepted(st, now)
        if first:
            firmware.after_boot(st, now)
    else:
        _clock_event(st, st.wall(now) - before, now)
        st.next_boot_at = now + (
            interval if interval > 0 else st.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval")
        )


CLOCK_EVENT_S = 60.0
"""A CSMS time that moves the station clock by more than this logs the security event SettingSystemTime."""


def _adopt_time(st: Station, current_time: str, now: float) -> None:
    before = st.wall(now)
    st.set_clock(current_time, now)
    _clock_event(st, st.wall(now) - before, now)


def _clock_event(st: Station, jump: float, now: float) -> None:
    if abs(jump) > CLOCK_EVENT_S:
        st.security_event("SettingSystemTime", now, f"station clock moved by {jump:+.0f} s to CSMS time")


def send_heartbeat(st: Station, now: float, during_pending: bool = False) -> None:
    """Queue a Heartbeat; its answer sets the clock."""
    st.send(
        "Heartbeat",
        {},
        now,
        on_result=lambda s, p, t: _adopt_time(s, p["currentTime"], t),
        during_pending=during_pending,
    )


# -- device model --------------------------------------------------------------------------------------
def _value(st: Station, d: VarDef, now: float) -> str:
    if d.component == "ClockCtrlr" and d.variable == "DateTime":
        return st.timestamp(now)
    return st.dm.value(d.key)


def get_variables(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetVariables (B06)."""
    items = req["getVariableData"]
    limit = st.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables")
    if len(items) > limit:
        raise RpcError("OccurrenceConstraintViolation", f"more than ItemsPerMessage ({limit}) items")
    out = []
    for item in items:
        attr_type = item.get("attributeType", "Actual")
        d, why = st.dm.find(item["component"], item["variable"])
        res: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
        if attr_type != "Actual":
            res["attributeType"] = attr_type
        if d is None:
            res["attributeStatus"] = why
        elif attr_type != "Actual":
            res["attributeStatus"] = "NotSupportedAttributeType"
        elif d.mutability == "WriteOnly":
            res["attributeStatus"] = "Rejected"
            res["attributeStatusInfo"] = {"reasonCode": "WriteOnly"}
        else:
            res["attributeStatus"] = "Accepted"
            res["attributeValue"] = _value(st, d, now)[:2500]
        out.append(res)
    return {"getVariableResult": out}


def set_variables(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetVariables (B05)."""
    items = req["setVariableData"]
    limit = st.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables")
    if len(items) > limit:
        raise RpcError("OccurrenceConstraintViolation", f"more than ItemsPerMessage ({limit}) items")
    out = []
    changed: list[VarDef] = []
    for item in items:
        attr_type = item.get("attributeType", "Actual")
        d, why = st.dm.find(item["component"], item["variable"])
        res: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
        if attr_type != "Actual":
            res["attributeType"] = attr_type
        if d is None:
            res["attributeStatus"] = why
        elif attr_type != "Actual":
            res["attributeStatus"] = "NotSupportedAttributeType"
        else:
            status, reason = st.dm.set_from_csms(d, item["attributeValue"])
            res["attributeStatus"] = status
            if reason:
                res["attributeStatusInfo"] = {"reasonCode": reason}
            if status in ("Accepted", "RebootRequired"):
                changed.append(d)
        out.append(res)
    result: dict[str, Any] = {"setVariableResult": out}
    if changed:
        result["_after"] = lambda s, t: _after_set(s, changed, t)
    return result


def _after_set(st: Station, changed: list[VarDef], now: float) -> None:
    from josev.ocpp import security

    for d in changed:
        if d.component == "SecurityCtrlr" and d.variable == "BasicAuthPassword":
            security.password_changed(st, now)
        elif d.component in ("SecurityCtrlr", "ISO15118Ctrlr"):
            st.security_event("ReconfigurationOfSecurityParameters", now, f"{d.key} changed by the CSMS")
        elif d.component in ("SampledDataCtrlr", "AlignedDataCtrlr"):
            st.tx.reschedule(now)


_SUMMARY = ("AvailabilityState",)


def _select(st: Station, base: str) -> list[VarDef]:
    defs = list(st.dm.defs.values())
    if base == "FullInventory":
        return defs
    if base == "ConfigurationInventory":
        return [d for d in defs if d.mutability != "ReadOnly"]
    return [d for d in defs if d.variable in _SUMMARY]


def _send_report(st: Station, request_id: int, defs: list[VarDef], now: float) -> None:
    per = max(1, st.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"))
    chunks = [defs[i : i + per] for i in range(0, len(defs), per)] or [[]]
    generated = st.timestamp(now)
    for seq, chunk in enumerate(chunks):
        payload: dict[str, Any] = {
            "requestId": request_id,
            "generatedAt": generated,
            "seqNo": seq,
            "tbc": seq < len(chunks) - 1,
        }
        items = []
        for d in chunk:
            item = st.dm.report_item(d)
            if "value" in item["variableAttribute"][0]:
                item["variableAttribute"][0]["value"] = _value(st, d, now)
            items.append(item)
        if items:
            payload["reportData"] = items
        st.send("NotifyReport", payload, now, during_pending=True)


def get_base_report(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetBaseReport (B07): answer, then NotifyReport split by ItemsPerMessage[GetReport]."""
    defs = _select(st, req["reportBase"])
    if not defs:
        return {"status": "EmptyResultSet"}
    rid = req["requestId"]
    return {"status": "Accepted", "_after": lambda s, t: _send_report(s, rid, defs, t)}


def get_report(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetReport (B08): the componentVariable filter and the criteria Problem/Available/Enabled/Active."""
    defs = list(st.dm.defs.values())
    wanted = req.get("componentVariable")
    if wanted:
        keep = []
        for d in defs:
            for cv in wanted:
                comp, var = cv["component"], cv.get("variable")
                if comp["name"] != d.component or comp.get("instance") not in (None, d.c_instance):
                    continue
                evse = comp.get("evse")
                if evse and (evse["id"] != d.evse or evse.get("connectorId") not in (None, d.connector)):
                    continue
                if var and (var["name"] != d.variable or var.get("instance") not in (None, d.v_instance)):
                    continue
                keep.append(d)
                break
        defs = keep
    criteria = req.get("componentCriteria")
    if criteria:  # components whose Active / Available / Enabled / Problem variable is true (any of them)
        comps = {
            (d.component, d.c_instance, d.evse, d.connector)
            for d in st.dm.defs.values()
            if d.variable in criteria and d.v_instance is None and _value(st, d, now) == "true"
        }
        defs = [d for d in defs if (d.component, d.c_instance, d.evse, d.connector) in comps]
    if not defs:
        return {"status": "EmptyResultSet"}
    rid = req["requestId"]
    return {"status": "Accepted", "_after": lambda s, t: _send_report(s, rid, defs, t)}


# -- trigger message -----------------------------------------------------------------------------------
def trigger_message(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """TriggerMessage (F06)."""
    what = req["requestedMessage"]
    evse = req.get("evse")
    if what == "BootNotification":
        if st.registration == "Accepted":
            return {"status": "Rejected"}

        def boot(s: Station, t: float) -> None:
            s.next_boot_at = t
            s.boot_reason = "Triggered"

        return {"status": "Accepted", "_after": boot}
    if what == "Heartbeat":
        return {"status": "Accepted", "_after": lambda s, t: send_heartbeat(s, t, during_pending=True)}
    if what == "StatusNotification":
        if evse is None or "connectorId" not in evse:
            return {"status": "Rejected"}
        if evse["id"] not in st.evses or not 1 <= evse["connectorId"] <= st.evses[evse["id"]]:
            return {"status": "Rejected"}
        return {
            "status": "Accepted",
            "_after": lambda s, t: availability.send_one(s, evse["id"], evse["connectorId"], t, True),
        }
    if what == "MeterValues":
        if evse is not None and evse["id"] not in st.evses:
            return {"status": "Rejected"}
        ids = [evse["id"]] if evse else sorted(st.evses)
        return {"status": "Accepted", "_after": lambda s, t: s.tx.send_meter_values(ids, "Trigger", t)}
    if what == "TransactionEvent":
        ids = [evse["id"]] if evse else sorted(st.evses)
        if not any(st.tx.current(i) for i in ids):
            return {"status": "Rejected"}
        return {"status": "Accepted", "_after": lambda s, t: s.tx.triggered(ids, t)}
    if what == "FirmwareStatusNotification":

        def fw(s: Station, t: float) -> None:
            p: dict[str, Any] = {"status": s.firmware_status}
            if s.firmware_status != "Idle" and s.firmware_request_id is not None:
                p["requestId"] = s.firmware_request_id
            s.send("FirmwareStatusNotification", p, t, during_pending=True)

        return {"status": "Accepted", "_after": fw}
    if what == "LogStatusNotification":

        def lg(s: Station, t: float) -> None:
            p: dict[str, Any] = {"status": s.log_status}
            if s.log_status != "Idle" and s.log_request_id is not None:
                p["requestId"] = s.log_request_id
            s.send("LogStatusNotification", p, t, during_pending=True)

        return {"status": "Accepted", "_after": lg}
    if what in ("SignChargingStationCertificate", "SignV2GCertificate"):
        from josev.ocpp import certificates

        return certificates.trigger(st, what)
    return {"status": "NotImplemented"}


# -- reset ---------------------------------------------------------------------------------------------
def reset(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """Reset (B11/B12): Immediate or OnIdle, whole station or one EVSE."""
    kind = req["type"]
    evse = req.get("evseId")
    if evse is not None:
        if evse not in st.evses:
            return {"status": "Rejected"}
        if kind == "OnIdle" and st.tx.current(evse):
            st.tx.pending_evse_reset.add(evse)
            return {"status": "Scheduled"}

        def evse_reset(s: Station, t: float) -> None:
            s.tx.stop_for_reset(evse, t)
            from josev.ocpp.effects import StationRequest

            s.emit(StationRequest("reset_evse", {"evse": evse}))

        return {"status": "Accepted", "_after": evse_reset}
    if kind == "OnIdle" and st.tx.any_active():
        st.pending_reset = "OnIdle"
        return {"status": "Scheduled"}
    return {"status": "Accepted", "_after": do_reboot}


def do_reboot(st: Station, now: float) -> None:
    """End every transaction (ImmediateReset), log the security event and ask the shell to reboot."""
    for evse in st.evses:
        st.tx.stop_for_reset(evse, now)
    st.security_event("ResetOrReboot", now, "Reset requested by CSMS")
    st.store.put("boot_reason", "RemoteReset")
    st.emit(Reboot("RemoteReset"))
