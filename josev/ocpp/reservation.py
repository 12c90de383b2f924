"""Reservation (H01-H04): ReserveNow for one EVSE, for any EVSE, by connector type; CancelReservation;
ReservationStatusUpdate on expiry and removal; which tokens a reserved EVSE admits (idToken or groupIdToken)
and the consumption of a reservation by the reserving driver (the TransactionEvent carries reservationId).

Reservations are persisted (``reservations`` in the store) and survive a restart; their expiry is a timer of
the core (``resv``). EVSE-specific reservations are mirrored to the coordinator (StationRequest
``reservation``) so its EVSE state shows Reserved; reservations for no EVSE are kept here only: once as many
free EVSEs remain as there are such reservations, those EVSEs are reported Reserved and refuse other tokens.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

KEY = "reservations"
TIMER = "resv"


def _all(st: Station) -> dict[int, dict[str, Any]]:
    return {int(k): dict(v) for k, v in st.store.get(KEY, {}).items()}


def _save(st: Station, res: dict[int, dict[str, Any]]) -> None:
    st.store.put(KEY, {str(k): v for k, v in sorted(res.items())} or None)


def reservations(st: Station) -> dict[int, dict[str, Any]]:
    """Every reservation by id: ``idToken``, ``groupIdToken``, ``evse`` (None: any), ``connectorType``,
    ``expiry`` (RFC 3339) and ``at`` (station clock, UNIX seconds)."""
    return _all(st)


def attach(st: Station) -> None:
    """Register the expiry timer and, after a restart, re-arm it and mirror the reservations to the station."""
    st.timer_handlers[TIMER] = lambda name, now: expire(st, now)
    for rid, r in _all(st).items():
        if r["evse"] is not None:
            st.emit(StationRequest("reservation", _mirror(r, rid)))
    _arm(st)


def _mirror(r: dict[str, Any], rid: int) -> dict[str, Any]:
    return {"evse": r["evse"], "idToken": r["idToken"], "expiry": r["expiry"], "reservationId": rid}


def _arm(st: Station) -> None:
    res = _all(st)
    if res:
        st.timers[TIMER] = min(r["at"] for r in res.values()) - st.clock_offset
    else:
        st.timers.pop(TIMER, None)


# -- EVSE state ----------------------------------------------------------------------------------------
def _connector_types(st: Station, evse: int) -> set[str]:
    return {
        st.dm.get("Connector", "ConnectorType", evse=evse, connector=c) for c in range(1, st.evses[evse] + 1)
    }


def _busy(st: Station, evse: int) -> bool:
    lv = st.tx.live[evse]
    return lv.connected or lv.token is not None or st.tx.current(evse) is not None


def _hw(st: Station, evse: int) -> str:
    from josev.ocpp import availability

    states = {availability.hw_status(st).get((evse, c), "Available") for c in range(1, st.evses[evse] + 1)}
    if "Faulted" in states:
        return "Faulted"
    if not availability.operative(st, evse):
        return "Unavailable"
    if "Occupied" in states or _busy(st, evse):
        return "Occupied"
    return "Available"


def _specific(st: Station, evse: int) -> tuple[int, dict[str, Any]] | None:
    for rid, r in _all(st).items():
        if r["evse"] == evse:
            return rid, r
    return None


def _free(st: Station, connector_type: str | None = None) -> list[int]:
    """EVSEs that are available and not reserved (optionally with a connector of ``connector_type``)."""
    return [
        e
        for e in sorted(st.evses)
        if _hw(st, e) == "Available"
        and _specific(st, e) is None
        and (connector_type is None or connector_type in _connector_types(st, e))
    ]


def _unassigned(st: Station) -> list[tuple[int, dict[str, Any]]]:
    return [(rid, r) for rid, r in sorted(_all(st).items()) if r["evse"] is None]


def _held_by_unassigned(st: Station, evse: int) -> bool:
    """True when ``evse`` must be kept for the reservations for no EVSE (no more free EVSEs than those)."""
    pending = _unassigned(st)
    if not pending or evse not in _free(st):
        return False
    return len(_free(st)) <= len(pending)


def reserved(st: Station, evse: int) -> bool:
    """True when ``evse`` shows Reserved (its own reservation, or held for reservations for no EVSE)."""
    return _specific(st, evse) is not None or _held_by_unassigned(st, evse)


# -- tokens ------------------------------------------------------------------------------------------------
def _matches(r: dict[str, Any], token: dict[str, Any], group: str | None) -> bool:
    t = r["idToken"]
    if t["idToken"] == token.get("idToken") and t["type"] == token.get("type"):
        return True
    g = (r.get("groupIdToken") or {}).get("idToken")
    return bool(g) and g == group


def admits(st: Station, evse: int, token: dict[str, Any], group: str | None) -> tuple[bool, int | None]:
    """(may ``token`` charge at ``evse``, the reservation it consumes there)."""
    own = _specific(st, evse)
    if own is not None:
        rid, r = own
        return (True, rid) if _matches(r, token, group) else (False, None)
    for rid, r in _unassigned(st):
        if _matches(r, token, group) and (
            r.get("connectorType") is None or r["connectorType"] in _connector_types(st, evse)
        ):
            return True, rid
    return (not _held_by_unassigned(st, evse)), None


def refuses(st: Station, evse: int | None, token: dict[str, Any]) -> bool:
    """True when ``token`` cannot charge at ``evse`` whatever its group: refused without asking the CSMS."""
    if evse is None or evse not in st.evses or admits(st, evse, token, None)[0]:
        return False
    own = _specific(st, evse)
    pending = [own[1]] if own is not None else [r for _, r in _unassigned(st)]
    return not any(r.get("groupIdToken") for r in pending)


def consume(st: Station, evse: int, rid: int, now: float) -> None:
    """The reserving driver starts at ``evse``: the reservation ends and the transaction carries its id."""
    res = _all(st)
    r = res.pop(rid, None)
    if r is None:
        return
    _save(st, res)
    _arm(st)
    st.tx.live[evse].reservation_id = rid
    if r["evse"] is not None:
        st.emit(StationRequest("reservation", {"evse": r["evse"], "cancel": True, "reservationId": rid}))
    log.info("reservation %d used at EVSE %d", rid, evse)


# -- CSMS requests -----------------------------------------------------------------------------------------
def _wall(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _refusal(states: list[str]) -> str:
    """ReserveNowStatus when no EVSE can take the reservation: Faulted / Unavailable if every one is, else
    Occupied."""
    if states and all(s == "Faulted" for s in states):
        return "Faulted"
    if states and all(s in ("Faulted", "Unavailable") for s in states):
        return "Unavailable"
    return "Occupied"


def reserve_now(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """ReserveNow (H01): a specific EVSE, any EVSE, or any EVSE with a connector type."""
    if not st.dm.get_bool("ReservationCtrlr", "Enabled"):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "Disabled"}}
    rid, evse, ctype = int(req["id"]), req.get("evseId"), req.get("connectorType")
    at = _wall(req["expiryDateTime"])
    if at is None or at <= st.wall(now):
        return {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "InvalidValue", "additionalInfo": "expired"},
        }
    res = _all(st)
    previous = res.pop(rid, None)  # H01.FR.02: the same id replaces the reservation
    if previous is not None:
        _save(st, res)
    if evse is not None:
        if evse not in st.evses:
            return {
                "status": "Rejected",
                "statusInfo": {"reasonCode": "UnknownEvse", "additionalInfo": f"no EVSE {evse}"},
            }
        if ctype is not None and ctype not in _connector_types(st, evse):
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownConnectorType"}}
        state = _hw(st, evse)
        if state != "Available" or _specific(st, evse) is not None or _held_by_unassigned(st, evse):
            if previous is not None:
                res[rid] = previous
                _save(st, res)
            return {"status": state if state in ("Faulted", "Unavailable") else "Occupied"}
    else:
        if not st.dm.get_bool("ReservationCtrlr", "NonEvseSpecific"):
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NoEvseSpecified"}}
        fitting = [e for e in sorted(st.evses) if ctype is None or ctype in _connector_types(st, e)]
        if not fitting:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownConnectorType"}}
        free = _free(st, ctype)
        if len(free) <= len([1 for _, r in _unassigned(st) if r.get("connectorType") in (None, ctype)]):
            if previous is not None:
                res[rid] = previous
                _save(st, res)
            return {"status": _refusal([_hw(st, e) for e in fitting])}
    entry: dict[str, Any] = {
        "idToken": req["idToken"],
        "evse": evse,
        "connectorType": ctype,
        "expiry": req["expiryDateTime"],
        "at": at,
    }
    if req.get("groupIdToken"):
        entry["groupIdToken"] = req["groupIdToken"]
    res[rid] = entry
    _save(st, res)
    log.info(
        "reservation %d for %s at EVSE %s until %s", rid, req["idToken"]["idToken"], evse, entry["expiry"]
    )

    def after(s: Station, t: float) -> None:
        _arm(s)
        if evse is not None:
            s.emit(StationRequest("reservation", _mirror(entry, rid)))
        _report(s, t)

    return {"status": "Accepted", "_after": after}


def cancel_reservation(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """CancelReservation (H02): Accepted for a known id (no status update follows), else Rejected."""
    rid = int(req["reservationId"])
    if rid not in _all(st):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownReservation"}}
    return {"status": "Accepted", "_after": lambda s, t: _remove(s, rid, t, None)}


def _remove(st: Station, rid: int, now: float, update: str | None) -> None:
    res = _all(st)
    r = res.pop(rid, None)
    if r is None:
        return
    _save(st, res)
    _arm(st)
    if r["evse"] is not None:
        st.emit(StationRequest("reservation", {"evse": r["evse"], "cancel": True, "reservationId": rid}))
    if update is not None:
        payload = {"reservationId": rid, "reservationUpdateStatus": update}
        if st.online:
            st.send("ReservationStatusUpdate", payload, now)
        else:  # the CSMS must learn that the reservation is gone: delivered with the queue after reconnecting
            st.store.enqueue("ReservationStatusUpdate", payload, now)
    _report(st, now)


def _report(st: Station, now: float) -> None:
    from josev.ocpp import availability

    availability.send_all(st, now, only_changed=True)


def expire(st: Station, now: float) -> None:
    """The expiry timer: every reservation past its expiryDateTime ends with ReservationStatusUpdate Expired."""
    wall = st.wall(now)
    for rid, r in sorted(_all(st).items()):
        if r["at"] <= wall:
            log.info("reservation %d expired", rid)
            _remove(st, rid, now, "Expired")
    _arm(st)


def on_station_status(st: Station, evse: int, status: str) -> None:
    """The station reports an EVSE Available while its reservation holds (e.g. the coordinator dropped its
    mirror when another vehicle plugged in and left): mirror the reservation again."""
    own = _specific(st, evse)
    if status == "Available" and own is not None:
        st.emit(StationRequest("reservation", _mirror(own[1], own[0])))


def on_availability(st: Station, now: float) -> None:
    """An EVSE became Faulted or Inoperative: its reservation is removed (ReservationStatusUpdate Removed)."""
    for rid, r in sorted(_all(st).items()):
        if r["evse"] is not None and _hw(st, r["evse"]) in ("Faulted", "Unavailable"):
            log.info("reservation %d removed: EVSE %d is %s", rid, r["evse"], _hw(st, r["evse"]))
            _remove(st, rid, now, "Removed")
