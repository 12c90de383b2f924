"""Smart Charging messages of the OCPP core (K01-K10, K12-K14) and the limit the station applies.

CSMS -> station: SetChargingProfile (K01), ClearChargingProfile (K10), GetChargingProfiles with
ReportChargingProfiles (K09), GetCompositeSchedule (K08), RequestStartTransaction with a TxProfile (K05).
Station -> CSMS: NotifyChargingLimit / ClearedChargingLimit (K12/K13) for a local limit set by an external
EMS (:func:`set_local_limit`).

Installed profiles persist in the OCPP store (``charging_profiles``). :func:`refresh` computes the limit of
every EVSE *now* (the composite without the hardware limit, which the coordinator applies itself) and emits
a ``charging_limit`` :class:`~josev.ocpp.effects.StationRequest` when it changed, with the composite
schedule of the next 24 h; it also arms the ``sc:change`` timer for the next period boundary. TxProfiles are
bound to their transaction and removed when it ends.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from josev.ocpp.devmodel import VarDef
from josev.ocpp.effects import StationRequest
from josev.ocpp.smartcharging import composite as C
from josev.ocpp.smartcharging import profiles as P

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

KEY = "charging_profiles"
PENDING_KEY = "charging_profiles_pending"
NOMINAL_VOLTAGE_V = 230.0
SCHEDULE_HORIZON_S = 86400
"""Length of the composite schedule published with every limit change."""
CTRLR = "SmartChargingCtrlr"


def variables() -> list[VarDef]:
    """The SmartChargingCtrlr variables (registered with the device model by the connection shell)."""
    ro = "ReadOnly"
    return [
        VarDef(CTRLR, "Enabled", "boolean", default="true"),
        VarDef(CTRLR, "Available", "boolean", ro, "true"),
        VarDef(CTRLR, "Entries", "integer", ro, "0", v_instance="ChargingProfiles", max=100),
        VarDef(CTRLR, "ProfileStackLevel", "integer", ro, "100"),
        VarDef(CTRLR, "PeriodsPerSchedule", "integer", ro, "24"),
        VarDef(CTRLR, "RateUnit", "MemberList", ro, "A,W", values_list=("A", "W")),
        VarDef(CTRLR, "LimitChangeSignificance", "decimal", default="10", unit="Percent", min=0, max=100),
        VarDef(CTRLR, "NotifyChargingLimitWithSchedules", "boolean", default="false"),
        VarDef(CTRLR, "Phases3to1", "boolean", ro, "false"),
        VarDef(CTRLR, "ExternalControlSignalsEnabled", "boolean", default="true"),
        VarDef(CTRLR, "ExternalConstraintsProfileDisallowed", "boolean", ro, "true"),
    ]


@dataclass
class State:
    """Smart-charging state of a station core (installed profiles live in the store)."""

    installed: list[C.Installed]
    pending: dict[int, dict[str, Any]]
    local: dict[int, C.Limit] = field(default_factory=dict)
    applied: dict[int, tuple[float | None, int]] = field(default_factory=dict)
    version: int = 0
    """Bumped on every change of profiles or local limits (the published schedules are then renewed)."""


def synced(st: Station) -> State:
    """The state with TxProfiles bound to / expired with their transactions (before answering the CSMS)."""
    s = state(st)
    _bind_and_expire(st, s)
    return s


def state(st: Station) -> State:
    """The smart-charging state attached to ``st`` (loaded from the store on first use)."""
    s: State | None = getattr(st, "_smart", None)
    if s is None:
        rows = st.store.get(KEY, [])
        s = State(
            [C.Installed(int(r["evse"]), dict(r["profile"]), str(r.get("source", "CSO"))) for r in rows],
            {int(k): dict(v) for k, v in st.store.get(PENDING_KEY, {}).items()},
        )
        st._smart = s  # type: ignore[attr-defined]
    return s


def _save(st: Station, s: State) -> None:
    s.version += 1
    st.store.put(KEY, [{"evse": p.evse, "profile": p.profile, "source": p.source} for p in s.installed])
    st.store.put(PENDING_KEY, {str(k): v for k, v in s.pending.items()} or None)
    if f"{CTRLR}/Entries[ChargingProfiles]" in st.dm.defs:
        st.dm.put(CTRLR, "Entries", str(len(s.installed)), v_instance="ChargingProfiles")


def _enabled(st: Station) -> bool:
    key = f"{CTRLR}/Enabled"
    return key not in st.dm.defs or st.dm.value(key) == "true"


def _int_var(st: Station, var: str, default: int, instance: str | None = None) -> int:
    key = f"{CTRLR}/{var}" + (f"[{instance}]" if instance else "")
    d = st.dm.defs.get(key)
    if d is None:
        return default
    if var == "Entries":
        return int(d.max or default)
    return int(float(st.dm.value(key)))


def rate_units(st: Station) -> tuple[str, ...]:
    """The units the station accepts (SmartChargingCtrlr.RateUnit)."""
    key = f"{CTRLR}/RateUnit"
    return tuple(st.dm.value(key).split(",")) if key in st.dm.defs else ("A", "W")


def info(st: Station, evse: int, hardware: bool = True) -> C.EvseInfo:
    """Phases, voltage and hardware limit of an EVSE (EVSE 0: the station) from the device model."""
    phases_key = f"EVSE@{evse}/SupplyPhases" if evse else "ChargingStation/SupplyPhases"
    phases = int(st.dm.value(phases_key)) if phases_key in st.dm.defs else 3
    phases = phases or 3
    max_a = None
    power = st.dm.defs.get(f"EVSE@{evse}/Power")
    if hardware and power is not None and power.max:
        max_a = C.floor1(power.max / (phases * NOMINAL_VOLTAGE_V))
    if hardware and evse == 0 and max_a is None:
        totals = [
            st.dm.defs[f"EVSE@{e}/Power"].max or 0.0 for e in st.evses if f"EVSE@{e}/Power" in st.dm.defs
        ]
        if totals:
            max_a = C.floor1(sum(totals) / (phases * NOMINAL_VOLTAGE_V))
    return C.EvseInfo(phases, NOMINAL_VOLTAGE_V, max_a)


def transactions(st: Station) -> dict[int, C.Tx]:
    """The running transaction of every EVSE that has one."""
    out = {}
    for e in st.evses:
        rec = st.tx.current(e)
        if rec is not None:
            out[e] = C.Tx(str(rec["id"]), C.ts(rec["started"]))
    return out


def _locals(s: State, evse: int) -> list[C.Limit]:
    return [s.local[k] for k in (0, evse) if k in s.local]


def _context(st: Station, s: State, now: float) -> P.Context:
    return P.Context(
        evses=frozenset(st.evses),
        transactions={e: t.id for e, t in transactions(st).items()},
        installed=s.installed,
        now=st.wall(now),
        rate_units=rate_units(st),
        max_periods=_int_var(st, "PeriodsPerSchedule", 24),
        max_entries=_int_var(st, "Entries", 100, "ChargingProfiles"),
        max_stack_level=_int_var(st, "ProfileStackLevel", 100),
    )


def _refresh_after(st: Station, now: float) -> None:
    refresh(st, now)


# -- CSMS requests --------------------------------------------------------------------------------------------
def set_charging_profile(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetChargingProfile (K01-K03)."""
    if not _enabled(st):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NotEnabled"}}
    s = synced(st)
    evse, prof = int(req["evseId"]), dict(req["chargingProfile"])
    bad = P.validate(evse, prof, _context(st, s, now))
    if bad is not None:
        log.info("SetChargingProfile %s refused: %s %s", prof["id"], bad.reason, bad.info)
        return {"status": "Rejected", "statusInfo": bad.status_info()}
    s.installed = P.install(s.installed, C.Installed(evse, prof))
    _save(st, s)
    return {"status": "Accepted", "_after": _refresh_after}


def clear_charging_profile(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """ClearChargingProfile (K10): by id, or by EVSE / purpose / stack level; station-set profiles stay."""
    s = synced(st)
    cso = [p for p in s.installed if p.source == "CSO"]
    if "chargingProfileId" in req:
        gone = [p for p in cso if p.id == req["chargingProfileId"]]
    else:
        crit = req.get("chargingProfileCriteria") or {}
        gone = [
            p
            for p in cso
            if P.matches(
                p,
                evse=crit.get("evseId"),
                purpose=crit.get("chargingProfilePurpose"),
                stack=crit.get("stackLevel"),
            )
        ]
    if not gone:
        return {"status": "Unknown"}
    s.installed = [p for p in s.installed if p not in gone]
    _save(st, s)
    return {"status": "Accepted", "_after": _refresh_after}


def get_charging_profiles(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetChargingProfiles (K09): Accepted and ReportChargingProfiles per EVSE and source, or NoProfiles."""
    s = synced(st)
    crit = req["chargingProfile"]
    ids = crit.get("chargingProfileId")
    found = [
        p
        for p in s.installed
        if P.matches(
            p,
            evse=req.get("evseId"),
            purpose=None if ids else crit.get("chargingProfilePurpose"),
            stack=None if ids else crit.get("stackLevel"),
            ids=ids,
            sources=crit.get("chargingLimitSource"),
        )
    ]
    if not found:
        return {"status": "NoProfiles"}
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for p in found:
        groups.setdefault((p.evse, p.source), []).append(p.profile)
    request_id = req["requestId"]

    def report(s2: Station, t: float) -> None:
        keys = sorted(groups)
        for n, (evse, source) in enumerate(keys):
            payload: dict[str, Any] = {
                "requestId": request_id,
                "chargingLimitSource": source,
                "evseId": evse,
                "chargingProfile": groups[(evse, source)],
            }
            if n < len(keys) - 1:
                payload["tbc"] = True
            s2.send("ReportChargingProfiles", payload, t)

    return {"status": "Accepted", "_after": report}


def composite_for(st: Station, evse: int, duration: int, unit: str, now: float) -> C.Composite:
    """The composite schedule of ``evse`` from the station's time ``now`` on, with local and hardware limits."""
    s = synced(st)
    txs = transactions(st)
    return C.composite(
        s.installed,
        evse,
        float(int(st.wall(now))),
        duration,
        unit,
        info(st, evse),
        txs.get(evse),
        _locals(s, evse),
    )


def get_composite_schedule(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetCompositeSchedule (K08)."""
    evse = int(req["evseId"])
    if evse != 0 and evse not in st.evses:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    units = rate_units(st)
    unit = req.get("chargingRateUnit", units[0])
    if unit not in units:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedRateUnit"}}
    comp = composite_for(st, evse, int(req["duration"]), unit, now)
    return {"status": "Accepted", "schedule": comp.to_ocpp()}


def request_start(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """RequestStartTransaction (F01/F02) with an optional chargingProfile (K05): the TxProfile is bound to the
    transaction the request starts (or already running on the EVSE)."""
    from josev.ocpp import authorization

    prof = req["chargingProfile"]
    target = authorization._pick_evse(st, req.get("evseId"))
    if prof["chargingProfilePurpose"] != "TxProfile" or "transactionId" in prof or target is None:
        info_text = "the chargingProfile must be a TxProfile without transactionId"
        if target is None:
            info_text = "no EVSE for the transaction"
        return {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "InvalidProfile", "additionalInfo": info_text},
        }
    s = state(st)
    ctx = _context(st, s, now)
    ctx = dataclasses.replace(ctx, transactions={**ctx.transactions, target: "(pending)"})
    bad = P.validate(target, {**prof, "transactionId": "(pending)"}, ctx)
    if bad is not None:
        return {"status": "Rejected", "statusInfo": bad.status_info()}
    out = authorization.request_start(st, {k: v for k, v in req.items() if k != "chargingProfile"}, now)
    if out["status"] == "Accepted":
        s.pending[target] = dict(prof)
        _save(st, s)
        inner = out.get("_after")

        def after(s2: Station, t: float) -> None:
            if inner is not None:
                inner(s2, t)
            refresh(s2, t)

        out["_after"] = after
    return out


# -- local limits (external EMS) -------------------------------------------------------------------------------
def set_local_limit(st: Station, evse: int, limit: C.Limit | None, now: float) -> str | None:
    """An external EMS sets (or clears, None) a local limit on ``evse`` (0: the whole station).

    Notifies the CSMS (NotifyChargingLimit when the limit changes by more than LimitChangeSignificance, with
    the schedule when NotifyChargingLimitWithSchedules; ClearedChargingLimit when it is removed) and applies
    it. Returns why it was refused, or None."""
    if evse != 0 and evse not in st.evses:
        return f"EVSE {evse} does not exist"
    if limit is not None and limit.unit not in ("A", "W"):
        return f"unit {limit.unit} (A or W)"
    key = f"{CTRLR}/ExternalControlSignalsEnabled"
    if key in st.dm.defs and st.dm.value(key) != "true":
        return "SmartChargingCtrlr.ExternalControlSignalsEnabled is false"
    s = state(st)
    s.version += 1
    old = s.local.get(evse)
    if limit is None:
        if old is None:
            return None
        del s.local[evse]
        payload: dict[str, Any] = {"chargingLimitSource": old.source}
        if evse:
            payload["evseId"] = evse
        st.send("ClearedChargingLimit", payload, now)
    else:
        s.local[evse] = limit
        sig_key = f"{CTRLR}/LimitChangeSignificance"
        significance = float(st.dm.value(sig_key)) / 100 if sig_key in st.dm.defs else 0.0
        changed = (
            old is None
            or old.unit != limit.unit
            or abs(limit.value - old.value) > significance * max(abs(old.value), 1e-9)
        )
        if changed:
            msg: dict[str, Any] = {"chargingLimit": {"chargingLimitSource": limit.source}}
            if evse:
                msg["evseId"] = evse
            with_sched = f"{CTRLR}/NotifyChargingLimitWithSchedules"
            if evse and with_sched in st.dm.defs and st.dm.value(with_sched) == "true":
                msg["chargingSchedule"] = [
                    {
                        "id": 1,
                        "startSchedule": st.timestamp(now),
                        "chargingRateUnit": limit.unit,
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": C.floor1(limit.value)}],
                    }
                ]
            st.send("NotifyChargingLimit", msg, now)
    refresh(st, now)
    return None


# -- applying ------------------------------------------------------------------------------------------------
def _bind_and_expire(st: Station, s: State) -> bool:
    txs = transactions(st)
    changed = False
    for evse, prof in list(s.pending.items()):
        tx = txs.get(evse)
        if evse not in st.evses:
            del s.pending[evse]  # the EVSE left the configuration
            changed = True
        elif tx is not None:
            del s.pending[evse]
            s.installed = P.install(s.installed, C.Installed(evse, {**prof, "transactionId": tx.id}))
            changed = True
        elif st.tx.live[evse].token is None and st.tx.live[evse].remote_start_id is None:
            del s.pending[evse]  # the remote start did not lead to a transaction
            changed = True
    live_ids = {t.id for t in txs.values()}
    keep = [p for p in s.installed if p.purpose != "TxProfile" or p.profile.get("transactionId") in live_ids]
    if len(keep) != len(s.installed):
        s.installed = keep
        changed = True
    if changed:
        _save(st, s)
    return changed


def limit_now(st: Station, evse: int, now: float) -> float | None:
    """The current limit (A per phase) OCPP puts on ``evse`` now; None: OCPP does not limit it."""
    s = state(st)
    txs = transactions(st)
    limit, _ = C.limit_at(
        s.installed, evse, st.wall(now), "A", info(st, evse, hardware=False), txs.get(evse), _locals(s, evse)
    )
    return limit


def _significance(st: Station) -> float:
    key = f"{CTRLR}/LimitChangeSignificance"
    return float(st.dm.value(key)) / 100 if key in st.dm.defs else 0.1


def refresh(st: Station, now: float) -> None:
    """Bind/expire TxProfiles, emit a ``charging_limit`` request for every EVSE whose limit changed, and arm the
    timer for the next period boundary."""
    s = state(st)
    _bind_and_expire(st, s)
    for evse in sorted(st.evses):
        amps = limit_now(st, evse, now) if _enabled(st) else None
        if s.applied.get(evse) == (amps, s.version):
            continue
        s.applied[evse] = (amps, s.version)
        comp = composite_for(st, evse, SCHEDULE_HORIZON_S, "A", now)
        st.emit(
            StationRequest(
                "charging_limit",
                {
                    "evse": evse,
                    "amps": amps,
                    "schedule": comp.to_ocpp(),
                    "clock_offset": st.clock_offset,
                    "significance": _significance(st),
                },
            )
        )
    starts = [t.start for t in transactions(st).values()]
    nxt = C.next_change(s.installed, st.wall(now), tx_starts=starts)
    if nxt is None:
        st.timers.pop("sc:change", None)
    else:
        st.timers["sc:change"] = nxt - st.clock_offset + 0.001


def on_timer(st: Station, name: str, now: float) -> None:
    """The ``sc:change`` timer: a period boundary was reached."""
    refresh(st, now)
