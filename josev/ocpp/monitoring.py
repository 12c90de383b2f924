"""Monitoring (N02-N09): SetVariableMonitoring (UpperThreshold, LowerThreshold, Delta, Periodic,
PeriodicClockAligned), SetMonitoringBase, SetMonitoringLevel, GetMonitoringReport (NotifyMonitoringReport),
ClearVariableMonitoring, and NotifyEvent for triggered monitors.

The watched values are real: the EVSE's meter (``EVSE.Power`` / ``Voltage`` / ``Current`` from the meter
readings the station feeds the core), its ``Problem`` flag (a Faulted connector) and the availability states. The
refresher of the core updates them and evaluates every monitor after each input; periodic monitors are timers
(``mon:<id>``). A threshold monitor reports once when the value crosses it (``cleared`` false) and once when it
returns (``cleared`` true). Only monitors with a severity <= ``ActiveMonitoringLevel`` report. While offline,
events with a severity <= ``OfflineQueuingSeverity`` go to the persistent queue, the others are dropped.

Monitors are persisted (``monitors``); the preconfigured ones (a Delta monitor on every EVSE's Problem flag,
severity 2) come back with ``SetMonitoringBase FactoryDefault``.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from josev.ocpp.devmodel import VarDef
from josev.ocpp.rpc import RpcError

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

KEY = "monitors"
TIMER = "mon"
THRESHOLD = ("UpperThreshold", "LowerThreshold")
PERIODIC = ("Periodic", "PeriodicClockAligned")
CRITERIA = {
    "ThresholdMonitoring": THRESHOLD,
    "DeltaMonitoring": ("Delta",),
    "PeriodicMonitoring": PERIODIC,
}
MEASURED = {"Power": "Power.Active.Import", "Voltage": "Voltage", "Current": "Current.Import"}
"""EVSE variable -> the measurand it shows."""


def attach(st: Station) -> None:
    """Register the periodic timers and the refresher; install the preconfigured monitors on first start."""
    st.timer_handlers[TIMER] = lambda name, now: _periodic(st, int(name.partition(":")[2]), now)
    st.blocks["monitor_state"] = {}
    if st.store.get(KEY) is None:
        _save(st, _preconfigured(st))
    st.refreshers.append(lambda now: refresh(st, now))


def _preconfigured(st: Station) -> dict[int, dict[str, Any]]:
    out = {}
    for i, evse in enumerate(sorted(st.evses), start=1):
        d = st.dm.defs[f"EVSE@{evse}/Problem"]
        out[i] = _entry(i, d, "Delta", 1.0, 2, False, "PreconfiguredMonitor")
    return out


def _entry(
    mid: int, d: VarDef, type_: str, value: float, severity: int, tx: bool, kind: str
) -> dict[str, Any]:
    return {
        "id": mid,
        "key": d.key,
        "type": type_,
        "value": value,
        "severity": severity,
        "transaction": tx,
        "kind": kind,
    }


def monitors(st: Station) -> dict[int, dict[str, Any]]:
    """Every monitor by id (in memory, persisted on change)."""
    cached: dict[int, dict[str, Any]] | None = st.blocks.get(KEY)
    if cached is None:
        cached = st.blocks[KEY] = {int(k): dict(v) for k, v in (st.store.get(KEY) or {}).items()}
    return dict(cached)


def _save(st: Station, mons: dict[int, dict[str, Any]]) -> None:
    st.blocks[KEY] = dict(mons)
    st.store.put(KEY, {str(k): v for k, v in sorted(mons.items())})


# -- live values -------------------------------------------------------------------------------------------
def update_values(st: Station) -> None:
    """Copy the measured values into the device model (not persisted)."""
    from josev.ocpp import availability

    hw = availability.hw_status(st)
    measured: set[str] = st.blocks.setdefault("measured", set())
    for evse in st.evses:
        readings = st.tx.live[evse].readings
        for var, measurand in MEASURED.items():
            if measurand in readings:
                key = f"EVSE@{evse}/{var}"
                st.dm.set_live(key, f"{readings[measurand]:g}")
                measured.add(key)
        faulted = any(hw.get((evse, c)) == "Faulted" for c in range(1, st.evses[evse] + 1))
        st.dm.set_live(f"EVSE@{evse}/Problem", "true" if faulted else "false")


def _number(text: str) -> float | None:
    if text in ("true", "false"):
        return 1.0 if text == "true" else 0.0
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def refresh(st: Station, now: float) -> None:
    """Update the measured values and evaluate the threshold and delta monitors."""
    update_values(st)
    if not st.dm.get_bool("MonitoringCtrlr", "Enabled"):
        return
    state: dict[int, Any] = st.blocks["monitor_state"]
    for mid, m in monitors(st).items():
        if m["type"] in PERIODIC:
            if f"{TIMER}:{mid}" not in st.timers:
                _arm(st, m, now)
            continue
        if m["key"] not in st.dm.defs or (_is_measured(m["key"]) and m["key"] not in st.blocks["measured"]):
            continue  # no reading yet: the default 0 is not a measurement
        text = st.dm.value(m["key"])
        if m["transaction"] and not _in_transaction(st, m):
            continue
        if m["type"] in THRESHOLD:
            x = _number(text)
            if x is None:
                continue
            over = x > m["value"] if m["type"] == "UpperThreshold" else x < m["value"]
            was = state.get(mid, False)
            if over != was:
                state[mid] = over
                _event(st, m, "Alerting", text, now, cleared=not over)
        else:  # Delta: numeric change of at least value, or any change of a non-numeric value
            ref = state.get(mid)
            if ref is None:
                state[mid] = text
                continue
            if _delta_hit(text, ref, float(m["value"])):
                state[mid] = text
                _event(st, m, "Delta", text, now)


def _delta_hit(text: str, ref: str, delta: float) -> bool:
    """A numeric change of at least ``delta`` (and not none at all), or any change of a non-numeric value."""
    x, r = _number(text), _number(ref)
    if x is None or r is None:
        return text != ref
    return x != r and abs(x - r) >= delta


def _is_measured(key: str) -> bool:
    return key.startswith("EVSE@") and key.rpartition("/")[2] in MEASURED


def _in_transaction(st: Station, m: dict[str, Any]) -> bool:
    evse = st.dm.defs[m["key"]].evse
    return any(st.tx.current(e) for e in ([evse] if evse else st.evses))


def _arm(st: Station, m: dict[str, Any], now: float) -> None:
    interval = max(1.0, float(m["value"]))
    if m["type"] == "Periodic":
        at = now + interval
    else:
        at = (math.floor(st.wall(now) / interval) + 1) * interval - st.clock_offset
    st.timers[f"{TIMER}:{m['id']}"] = at


def _periodic(st: Station, mid: int, now: float) -> None:
    m = monitors(st).get(mid)
    if m is None:
        return
    update_values(st)
    if st.dm.get_bool("MonitoringCtrlr", "Enabled") and (not m["transaction"] or _in_transaction(st, m)):
        _event(st, m, "Periodic", st.dm.value(m["key"]), now)
    _arm(st, m, now)


def _event(
    st: Station, m: dict[str, Any], trigger: str, value: str, now: float, cleared: bool = False
) -> None:
    if m["severity"] > st.dm.get_int("MonitoringCtrlr", "ActiveMonitoringLevel"):
        return
    d = st.dm.defs[m["key"]]
    data: dict[str, Any] = {
        "eventId": st.store.next_counter("event_id"),
        "timestamp": st.timestamp(now),
        "trigger": trigger,
        "actualValue": value[:2500],
        "eventNotificationType": m["kind"],
        "component": d.component_json(),
        "variable": d.variable_json(),
        "variableMonitoringId": m["id"],
    }
    if trigger == "Alerting":
        data["cleared"] = cleared
    if d.evse is not None and st.tx.current(d.evse):
        data["transactionId"] = st.tx.current(d.evse)["id"]  # type: ignore[index]
    payload = {"generatedAt": st.timestamp(now), "seqNo": 0, "tbc": False, "eventData": [data]}
    log.info("monitor %d (%s %s) %s: %s", m["id"], m["type"], m["key"], trigger, value)
    if st.online:
        st.send("NotifyEvent", payload, now)
    elif m["severity"] <= st.dm.get_int("MonitoringCtrlr", "OfflineQueuingSeverity"):
        st.store.enqueue("NotifyEvent", payload, now)  # delivered with the persistent queue on reconnect
    else:
        st.stats["dropped"] += 1
        log.info("offline: monitor event of severity %d dropped", m["severity"])


# -- CSMS requests -----------------------------------------------------------------------------------------
def _limit(st: Station, instance: str, n: int) -> None:
    limit = st.dm.get_int("MonitoringCtrlr", "ItemsPerMessage", instance)
    if n > limit:
        raise RpcError("OccurrenceConstraintViolation", f"more than ItemsPerMessage ({limit}) items")


def set_variable_monitoring(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetVariableMonitoring (N04): one result per item; Accepted monitors are stored and evaluated at once."""
    items = req["setMonitoringData"]
    _limit(st, "SetVariableMonitoring", len(items))
    mons = monitors(st)
    out = []
    for item in items:
        res: dict[str, Any] = {
            "type": item["type"],
            "severity": item["severity"],
            "component": item["component"],
            "variable": item["variable"],
        }
        status, info = _check(st, mons, item)
        if status == "Accepted":
            mid = item.get("id")
            if mid is None:
                mid = max([100, *mons]) + 1
            d, _ = st.dm.find(item["component"], item["variable"])
            assert d is not None
            mons[mid] = _entry(
                mid,
                d,
                item["type"],
                float(item["value"]),
                item["severity"],
                bool(item.get("transaction")),
                "CustomMonitor",
            )
            st.blocks["monitor_state"].pop(mid, None)
            res["id"] = mid
        if info:
            res["statusInfo"] = {"reasonCode": info[0], "additionalInfo": info[1]}
        res["status"] = status
        out.append(res)
    _save(st, mons)
    for m in mons.values():  # a replaced periodic monitor starts its interval again
        if m["type"] in PERIODIC and m["id"] in [x.get("id") for x in out]:
            st.timers.pop(f"{TIMER}:{m['id']}", None)
    return {"setMonitoringResult": out}


def _check(
    st: Station, mons: dict[int, dict[str, Any]], item: dict[str, Any]
) -> tuple[str, tuple[str, str] | None]:
    d, why = st.dm.find(item["component"], item["variable"])
    if d is None:
        return why, None
    if not st.dm.get_bool("MonitoringCtrlr", "Enabled"):
        return "Rejected", ("Disabled", "MonitoringCtrlr.Enabled is false")
    if not d.monitorable:
        return "Rejected", ("NotMonitorable", f"{d.key} does not support monitoring")
    if not 0 <= item["severity"] <= 9:
        return "Rejected", ("InvalidValue", "severity must be 0..9")
    numeric = d.data_type in ("integer", "decimal", "boolean")
    if item["type"] in THRESHOLD and not numeric:
        return "UnsupportedMonitorType", ("NotNumeric", f"{d.key} is a {d.data_type}")
    if item["type"] in PERIODIC and item["value"] <= 0:
        return "Rejected", ("InvalidValue", "the interval must be positive")
    if item["type"] == "Delta" and item["value"] < 0:
        return "Rejected", ("InvalidValue", "the delta must not be negative")
    mid = item.get("id")
    if mid is not None and mid not in mons:
        return "Rejected", ("UnknownMonitor", f"no monitor {mid}")
    if mid is not None and mons[mid]["kind"] == "HardWiredMonitor":
        return "Rejected", ("HardWired", "a hard-wired monitor cannot be changed")
    for other in mons.values():
        if (other["key"], other["type"], other["severity"]) == (d.key, item["type"], item["severity"]) and (
            other["id"] != mid and float(other["value"]) == float(item["value"])
        ):
            return "Duplicate", None
    return "Accepted", None


def clear_variable_monitoring(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """ClearVariableMonitoring (N06)."""
    ids = req["id"]
    _limit(st, "ClearVariableMonitoring", len(ids))
    mons = monitors(st)
    out = []
    for mid in ids:
        if mid not in mons:
            out.append({"id": mid, "status": "NotFound"})
        elif mons[mid]["kind"] == "HardWiredMonitor":
            out.append({"id": mid, "status": "Rejected"})
        else:
            mons.pop(mid)
            st.timers.pop(f"{TIMER}:{mid}", None)
            out.append({"id": mid, "status": "Accepted"})
    _save(st, mons)
    return {"clearMonitoringResult": out}


def set_monitoring_base(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetMonitoringBase (N03): All keeps everything; FactoryDefault drops the custom monitors and restores the
    preconfigured ones; HardWiredOnly keeps only hard-wired monitors (this station has none)."""
    base = req["monitoringBase"]
    mons = monitors(st)
    if base == "FactoryDefault":
        mons = {i: m for i, m in mons.items() if m["kind"] == "HardWiredMonitor"} | _preconfigured(st)
    elif base == "HardWiredOnly":
        mons = {i: m for i, m in mons.items() if m["kind"] == "HardWiredMonitor"}
    for name in [t for t in st.timers if t.startswith(TIMER + ":")]:
        if int(name.partition(":")[2]) not in mons:
            del st.timers[name]
    _save(st, mons)
    st.dm.put("MonitoringCtrlr", "ActiveMonitoringBase", base)
    return {"status": "Accepted"}


def set_monitoring_level(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetMonitoringLevel (N05): only monitors with a severity <= the level report."""
    level = req["severity"]
    if not 0 <= level <= 9:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}
    st.dm.put("MonitoringCtrlr", "ActiveMonitoringLevel", str(level))
    return {"status": "Accepted"}


def _matches(d: VarDef, wanted: list[dict[str, Any]] | None) -> bool:
    if not wanted:
        return True
    for cv in wanted:
        comp, var = cv["component"], cv.get("variable")
        if comp["name"] != d.component or comp.get("instance") not in (None, d.c_instance):
            continue
        evse = comp.get("evse")
        if evse and (evse["id"] != d.evse or evse.get("connectorId") not in (None, d.connector)):
            continue
        if var and (var["name"] != d.variable or var.get("instance") not in (None, d.v_instance)):
            continue
        return True
    return False


def get_monitoring_report(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetMonitoringReport (N02): NotifyMonitoringReport split by ItemsPerMessage[GetReport]."""
    types = {t for c in req.get("monitoringCriteria") or CRITERIA for t in CRITERIA[c]}
    wanted = req.get("componentVariable")
    by_var: dict[str, list[dict[str, Any]]] = {}
    for mid, m in sorted(monitors(st).items()):
        d = st.dm.defs.get(m["key"])
        if d is None or m["type"] not in types or not _matches(d, wanted):
            continue
        by_var.setdefault(d.key, []).append(
            {
                "id": mid,
                "transaction": m["transaction"],
                "value": m["value"],
                "type": m["type"],
                "severity": m["severity"],
            }
        )
    if not by_var:
        return {"status": "EmptyResultSet"}
    entries = [
        {
            "component": st.dm.defs[k].component_json(),
            "variable": st.dm.defs[k].variable_json(),
            "variableMonitoring": v,
        }
        for k, v in by_var.items()
    ]
    rid = req["requestId"]

    def send(s: Station, t: float) -> None:
        per = max(1, s.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"))
        chunks = [entries[i : i + per] for i in range(0, len(entries), per)]
        for seq, chunk in enumerate(chunks):
            s.send(
                "NotifyMonitoringReport",
                {
                    "requestId": rid,
                    "seqNo": seq,
                    "generatedAt": s.timestamp(t),
                    "tbc": seq < len(chunks) - 1,
                    "monitor": chunk,
                },
                t,
            )

    return {"status": "Accepted", "_after": send}
