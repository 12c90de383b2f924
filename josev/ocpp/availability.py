"""Availability (G): StatusNotification per connector, ChangeAvailability (persisted), UnlockConnector and the
OfflineThreshold rule after a reconnect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from josev.ocpp.core import Deferred
from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

Conn = tuple[int, int]


def _avail(st: Station) -> dict[str, str]:
    return dict(st.store.get("availability", {}))


def operative(st: Station, evse: int, conn: int | None = None) -> bool:
    """True unless the station, the EVSE or the connector is set Inoperative."""
    a = _avail(st)
    keys = ["0", str(evse)] + ([f"{evse}.{conn}"] if conn is not None else [])
    return all(a.get(k, "Operative") == "Operative" for k in keys)


def hw_status(st: Station) -> dict[Conn, str]:
    """Connector status as last reported by the station (default Available)."""
    cache: dict[Conn, str] | None = getattr(st, "_hw_status", None)
    if cache is None:
        cache = {(e, c): "Available" for e, n in st.evses.items() for c in range(1, n + 1)}
        st._hw_status = cache  # type: ignore[attr-defined]
    return cache


def sent(st: Station) -> dict[Conn, str]:
    """Connector status last sent to the CSMS."""
    cache: dict[Conn, str] | None = getattr(st, "_sent_status", None)
    if cache is None:
        cache = {}
        st._sent_status = cache  # type: ignore[attr-defined]
    return cache


def effective(st: Station, evse: int, conn: int) -> str:
    """The status to report: Faulted/Occupied/Reserved from the station, Unavailable if Inoperative."""
    hw = hw_status(st).get((evse, conn), "Available")
    if hw == "Faulted":
        return hw
    if not operative(st, evse, conn) and not st.tx.current(evse):
        return "Unavailable"
    if hw == "Available":
        from josev.ocpp import reservation

        if reservation.reserved(st, evse):
            return "Reserved"
    return hw


def send_one(st: Station, evse: int, conn: int, now: float, force: bool = False) -> None:
    """Send StatusNotification for one connector if it changed (or ``force``)."""
    status = effective(st, evse, conn)
    if not force and sent(st).get((evse, conn)) == status:
        return
    if st.registration != "Accepted" and not force:
        return
    sent(st)[(evse, conn)] = status
    st.send(
        "StatusNotification",
        {"timestamp": st.timestamp(now), "connectorStatus": status, "evseId": evse, "connectorId": conn},
        now,
        during_pending=force,
    )
    _update_dm(st, evse, conn, status)


def _update_dm(st: Station, evse: int, conn: int, status: str) -> None:
    st.dm.put("Connector", "AvailabilityState", status, evse=evse, connector=conn)
    st.dm.put(
        "Connector", "Available", "true" if status != "Unavailable" else "false", evse=evse, connector=conn
    )
    evse_states = [effective(st, evse, c) for c in range(1, st.evses[evse] + 1)]
    ev = (
        "Unavailable"
        if not operative(st, evse)
        else next((x for x in ("Occupied", "Reserved") if x in evse_states), "Available")
    )
    st.dm.put("EVSE", "AvailabilityState", ev, evse=evse)
    st.dm.put("EVSE", "Available", "true" if ev != "Unavailable" else "false", evse=evse)
    cs = "Available" if operative(st, 0) else "Unavailable"
    st.dm.put("ChargingStation", "AvailabilityState", cs)
    st.dm.put("ChargingStation", "Available", "true" if cs == "Available" else "false")


def send_all(st: Station, now: float, only_changed: bool = False) -> None:
    """StatusNotification for every connector (after boot) or only the changed ones."""
    for evse, n in sorted(st.evses.items()):
        for conn in range(1, n + 1):
            send_one(st, evse, conn, now, force=not only_changed)


def after_reconnect(st: Station, offline_for: float, now: float) -> None:
    """OfflineThreshold: after a long outage report every connector, else only the changed ones."""
    threshold = st.dm.get_int("OCPPCommCtrlr", "OfflineThreshold")
    send_all(st, now, only_changed=offline_for <= threshold)


def station_status(st: Station, evse: int, conn: int, status: str, now: float) -> None:
    """The station reports a connector status (Available, Occupied, Reserved, Unavailable, Faulted)."""
    previous = hw_status(st).get((evse, conn))
    hw_status(st)[(evse, conn)] = status
    from josev.ocpp import reservation

    if status == "Faulted":
        reservation.on_availability(st, now)
    elif previous is not None and status != previous:
        reservation.on_station_status(st, evse, status)
    if st.online:
        send_one(st, evse, conn, now)


def _targets(st: Station, evse: dict[str, Any] | None) -> list[tuple[str, int | None, int | None]]:
    if evse is None:
        return [("0", None, None)]
    if "connectorId" in evse:
        return [(f"{evse['id']}.{evse['connectorId']}", evse["id"], evse["connectorId"])]
    return [(str(evse["id"]), evse["id"], None)]


def change_availability(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """ChangeAvailability (G03/G04): persisted; Scheduled while a transaction runs on the target."""
    want = req["operationalStatus"]
    evse = req.get("evse")
    if evse is not None and (
        evse["id"] not in st.evses or evse.get("connectorId", 1) not in range(1, st.evses[evse["id"]] + 1)
    ):
        return {"status": "Rejected"}
    key, ev, _conn = _targets(st, evse)[0]
    busy = [e for e in st.evses if (ev is None or e == ev) and st.tx.current(e)]
    if busy and want == "Inoperative":
        st.store.put("availability_pending", {**st.store.get("availability_pending", {}), key: want})
        return {"status": "Scheduled"}
    return {"status": "Accepted", "_after": lambda s, t: apply(s, key, want, t)}


def apply(st: Station, key: str, want: str, now: float) -> None:
    """Persist an availability change and report the resulting connector states."""
    a = _avail(st)
    a[key] = want
    st.store.put("availability", a)
    parts = key.split(".")
    data: dict[str, Any] = {"operative": want == "Operative"}
    if key != "0":
        data["evse"] = int(parts[0])
        if len(parts) > 1:
            data["connector"] = int(parts[1])
    st.emit(StationRequest("availability", data))
    from josev.ocpp import reservation

    reservation.on_availability(st, now)
    send_all(st, now, only_changed=True)


def apply_pending(st: Station, now: float) -> None:
    """Apply availability changes that were Scheduled, once their transactions ended."""
    pending: dict[str, str] = st.store.get("availability_pending", {})
    if not pending:
        return
    still = {}
    for key, want in pending.items():
        ev = int(key.split(".")[0])
        if (ev == 0 and st.tx.any_active()) or (ev != 0 and st.tx.current(ev)):
            still[key] = want
        else:
            apply(st, key, want, now)
    st.store.put("availability_pending", still or None)


def unlock_connector(st: Station, req: dict[str, Any], now: float) -> dict[str, Any] | Deferred:
    """UnlockConnector (F05): refused during an authorized transaction, else asked of the station."""
    evse, conn = req["evseId"], req["connectorId"]
    if evse not in st.evses or not 1 <= conn <= st.evses[evse]:
        return {"status": "UnknownConnector"}
    if st.tx.current(evse) and st.tx.current(evse).get("authorized"):  # type: ignore[union-attr]
        return {"status": "OngoingAuthorizedTransaction"}
    return Deferred("unlock", {"evse": evse, "connector": conn}, {"status": "UnlockFailed"})
