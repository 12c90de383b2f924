"""Display messages (O01-O06): SetDisplayMessage, GetDisplayMessages (NotifyDisplayMessages),
ClearDisplayMessage with priorities, states, schedules (start/end date-time), transaction-bound messages and
the display component's EVSE; and the per-EVSE view the display shows (CSMS messages plus the tariff and cost
lines of :mod:`josev.ocpp.tariffcost`), emitted as StationRequest ``display`` whenever it changes.

Messages are persisted (``display_messages``). A message past its endDateTime, or bound to a transaction that
ended, is removed. The view is recomputed on every core input (a refresher of the core) and at the next
schedule boundary (timer ``disp``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from josev.ocpp import tariffcost
from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

KEY = "display_messages"
TIMER = "disp"
ORDER = {"AlwaysFront": 0, "InFront": 1, "NormalCycle": 2}
STATES = ("Charging", "Faulted", "Idle", "Unavailable")
"""MessageStateEnumType values this station can tell apart (all of them)."""


def attach(st: Station) -> None:
    """Register the schedule timer and the view refresher."""
    st.timer_handlers[TIMER] = lambda name, now: None  # the refresher runs after every tick
    st.blocks["display_shown"] = {}
    st.refreshers.append(lambda now: refresh(st, now))


def _wall(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def messages(st: Station) -> dict[int, dict[str, Any]]:
    """The stored MessageInfo objects by id (kept in memory, persisted on change)."""
    cached: dict[int, dict[str, Any]] | None = st.blocks.get(KEY)
    if cached is None:
        cached = st.blocks[KEY] = {int(k): dict(v) for k, v in st.store.get(KEY, {}).items()}
    return dict(cached)


def _save(st: Station, msgs: dict[int, dict[str, Any]]) -> None:
    st.blocks[KEY] = dict(msgs)
    st.store.put(KEY, {str(k): v for k, v in sorted(msgs.items())} or None)


def evse_state(st: Station, evse: int) -> str:
    """The MessageStateEnumType of an EVSE now."""
    from josev.ocpp import availability

    status = availability.effective(st, evse, 1)
    if status in ("Faulted", "Unavailable"):
        return status
    return "Charging" if st.tx.current(evse) else "Idle"


def _for_evse(m: dict[str, Any], evse: int) -> bool:
    target = ((m.get("display") or {}).get("evse") or {}).get("id")
    return target is None or target == evse


def _shown(st: Station, m: dict[str, Any], evse: int, wall: float) -> bool:
    start, end = _wall(m.get("startDateTime")), _wall(m.get("endDateTime"))
    if start is not None and wall < start:
        return False
    if end is not None and wall >= end:
        return False
    if m.get("state") and m["state"] != evse_state(st, evse):
        return False
    tid = m.get("transactionId")
    if tid is not None:
        found = st.tx.by_id(tid)
        if found is None or found[0] != evse:
            return False
    return _for_evse(m, evse)


def view(st: Station, evse: int, now: float) -> dict[str, Any]:
    """What the display at ``evse`` shows: lines in display order plus the tariff/cost values."""
    wall = st.wall(now)
    active = [m for m in messages(st).values() if _shown(st, m, evse, wall)]
    active.sort(key=lambda m: (ORDER[m["priority"]], m["id"]))
    out: list[dict[str, Any]] = []
    for m in active:
        line: dict[str, Any] = {
            "text": m["message"]["content"],
            "format": m["message"]["format"],
            "priority": m["priority"],
            "source": "csms",
            "message_id": m["id"],
        }
        if m["message"].get("language"):
            line["language"] = m["message"]["language"]
        out.append(line)
    tc_lines, values = tariffcost.lines(st, evse)
    front = [x for x in out if x["priority"] == "AlwaysFront"]
    rest = [x for x in out if x["priority"] != "AlwaysFront"]
    return {"lines": front + tc_lines + rest, **values}


def refresh(st: Station, now: float) -> None:
    """Drop ended messages, emit the views that changed and arm the next schedule boundary."""
    wall = st.wall(now)
    msgs = messages(st)
    gone = [
        i
        for i, m in msgs.items()
        if ((end := _wall(m.get("endDateTime"))) is not None and wall >= end)
        or (m.get("transactionId") is not None and st.tx.by_id(m["transactionId"]) is None)
    ]
    if gone:
        for i in gone:
            log.info("display message %d removed (ended)", i)
            msgs.pop(i)
        _save(st, msgs)
    shown: dict[int, dict[str, Any]] = st.blocks["display_shown"]
    for evse in sorted(st.evses):
        v = view(st, evse, now)
        if shown.get(evse) != v:
            shown[evse] = v
            st.emit(StationRequest("display", {"evse": evse, **v}))
    bounds = [
        t
        for m in msgs.values()
        for t in (_wall(m.get("startDateTime")), _wall(m.get("endDateTime")))
        if t is not None and t > wall
    ]
    if bounds:
        st.timers[TIMER] = min(bounds) - st.clock_offset
    else:
        st.timers.pop(TIMER, None)


# -- CSMS requests -----------------------------------------------------------------------------------------
def set_display_message(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetDisplayMessage (O01/O02/O06): format, priority and state checked against what the display supports."""
    m = req["message"]
    if not st.dm.get_bool("DisplayMessageCtrlr", "Enabled"):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "Disabled"}}
    fmt = m["message"]["format"]
    if fmt not in st.dm.get_list("DisplayMessageCtrlr", "SupportedFormats"):
        return {
            "status": "NotSupportedMessageFormat",
            "statusInfo": {"reasonCode": "UnsupportedFormat", "additionalInfo": f"{fmt} cannot be shown"},
        }
    if m["priority"] not in st.dm.get_list("DisplayMessageCtrlr", "SupportedPriorities"):
        return {"status": "NotSupportedPriority"}
    if m.get("state") is not None and m["state"] not in STATES:
        return {"status": "NotSupportedState"}
    tid = m.get("transactionId")
    if tid is not None and st.tx.by_id(tid) is None:
        return {"status": "UnknownTransaction"}
    target = ((m.get("display") or {}).get("evse") or {}).get("id")
    if target is not None and target not in st.evses:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    start, end = _wall(m.get("startDateTime")), _wall(m.get("endDateTime"))
    if end is not None and (end <= st.wall(now) or (start is not None and end <= start)):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidSchedule"}}
    msgs = messages(st)
    msgs[m["id"]] = m  # the same id replaces the message (O01.FR.?)
    if len(msgs) > st.dm.get_int("DisplayMessageCtrlr", "DisplayMessages"):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "TooManyMessages"}}
    _save(st, msgs)
    log.info("display message %d (%s): %s", m["id"], m["priority"], m["message"]["content"][:80])
    return {"status": "Accepted"}


def get_display_messages(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetDisplayMessages (O03/O04): Accepted and NotifyDisplayMessages, or Unknown when nothing matches."""
    ids = req.get("id")
    found = [
        m
        for i, m in sorted(messages(st).items())
        if (not ids or i in ids)
        and req.get("priority") in (None, m["priority"])
        and req.get("state") in (None, m.get("state"))
    ]
    if not found:
        return {"status": "Unknown"}
    rid = req["requestId"]

    def notify(s: Station, t: float) -> None:
        s.send("NotifyDisplayMessages", {"requestId": rid, "messageInfo": found, "tbc": False}, t)

    return {"status": "Accepted", "_after": notify}


def clear_display_message(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """ClearDisplayMessage (O05)."""
    msgs = messages(st)
    if msgs.pop(req["id"], None) is None:
        return {"status": "Unknown"}
    _save(st, msgs)
    return {"status": "Accepted"}
