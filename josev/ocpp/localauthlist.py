"""Local Authorization List (D01-D04): SendLocalList (Full / Differential with versions), GetLocalListVersion,
the LocalAuthListCtrlr variables, and the lookup the authorization block uses before the cache and the CSMS.

The list lives in its own SQLite table of the station database; every update is one SQLite transaction that
also writes the new version, so a failed update (VersionMismatch, Failed) or a ``kill -9`` halfway leaves the
old list and version intact.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from josev.ocpp.profilevars import LOCAL_LIST_MAX_BYTES, LOCAL_LIST_MAX_ENTRIES

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS local_list (token TEXT PRIMARY KEY, id_token TEXT NOT NULL, info TEXT NOT NULL)"
VERSION_KEY = "local_list_version"


def token_key(token: dict[str, Any]) -> str:
    """The key of an idToken in the list (type and value; additionalInfo does not identify it)."""
    return f"{token['type']}:{token['idToken']}"


def enabled(st: Station) -> bool:
    """LocalAuthListCtrlr.Enabled."""
    return st.dm.get_bool("LocalAuthListCtrlr", "Enabled")


def version(st: Station) -> int:
    """The version of the stored list (0: no list)."""
    return int(st.store.get(VERSION_KEY, 0))


def entries(st: Station) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The whole list: key -> (idToken, idTokenInfo)."""
    db = st.store.db
    db.execute(_SCHEMA)
    return {
        k: (json.loads(t), json.loads(i))
        for k, t, i in db.execute("SELECT token, id_token, info FROM local_list")
    }


def lookup(st: Station, token: dict[str, Any], now: float) -> dict[str, Any] | None:
    """The list's idTokenInfo of ``token`` (None when the list is disabled or does not hold it).

    An entry whose ``cacheExpiryDateTime`` has passed (station clock) answers ``Expired``."""
    if not enabled(st):
        return None
    db = st.store.db
    db.execute(_SCHEMA)
    row = db.execute("SELECT info FROM local_list WHERE token=?", (token_key(token),)).fetchone()
    if row is None:
        return None
    info: dict[str, Any] = json.loads(row[0])
    expiry = info.get("cacheExpiryDateTime")
    if expiry and info.get("status") == "Accepted":
        try:
            at = datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()
        except ValueError:
            at = None
        if at is not None and at <= st.wall(now):
            info = {**info, "status": "Expired"}
    return info


def _failed(reason: str, text: str) -> dict[str, Any]:
    log.warning("SendLocalList refused: %s", text)
    return {"status": "Failed", "statusInfo": {"reasonCode": reason, "additionalInfo": text[:512]}}


def _size(items: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> int:
    return sum(len(k) + len(json.dumps(t)) + len(json.dumps(i)) for k, (t, i) in items.items())


def send_local_list(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SendLocalList (D01): Full replaces the list, Differential adds/updates (with idTokenInfo) and removes
    (without); the version must grow for a differential update (else VersionMismatch)."""
    if not enabled(st):
        return _failed("Disabled", "LocalAuthListCtrlr.Enabled is false")
    items: list[dict[str, Any]] = req.get("localAuthorizationList") or []
    number = int(req["versionNumber"])
    per_msg = st.dm.get_int("LocalAuthListCtrlr", "ItemsPerMessage")
    if len(items) > per_msg:
        return _failed("TooManyElements", f"{len(items)} entries, ItemsPerMessage is {per_msg}")
    size = len(json.dumps(req, separators=(",", ":")))
    per_bytes = st.dm.get_int("LocalAuthListCtrlr", "BytesPerMessage")
    if size > per_bytes:
        return _failed("TooLargeElement", f"{size} bytes, BytesPerMessage is {per_bytes}")
    if number <= 0:
        return _failed("InvalidValue", "versionNumber must be greater than 0")
    keys = [token_key(x["idToken"]) for x in items]
    if len(set(keys)) != len(keys):
        return _failed("DuplicateEntries", "an idToken appears more than once")
    full = req["updateType"] == "Full"
    current = version(st)
    if not full and number <= current:
        log.warning("SendLocalList differential version %d not above %d: VersionMismatch", number, current)
        return {
            "status": "VersionMismatch",
            "statusInfo": {"reasonCode": "VersionMismatch", "additionalInfo": f"list version is {current}"},
        }
    new: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {} if full else entries(st)
    for key, item in zip(keys, items, strict=True):
        info = item.get("idTokenInfo")
        if info is None:
            if full:
                return _failed("MissingIdTokenInfo", f"{key}: a full update needs idTokenInfo")
            new.pop(key, None)
        else:
            new[key] = (item["idToken"], info)
    if len(new) > LOCAL_LIST_MAX_ENTRIES:
        return _failed("TooManyEntries", f"{len(new)} entries, the list holds {LOCAL_LIST_MAX_ENTRIES}")
    used = _size(new)
    if used > LOCAL_LIST_MAX_BYTES:
        return _failed("StorageFull", f"{used} bytes, the list holds {LOCAL_LIST_MAX_BYTES}")
    db = st.store.db
    db.execute(_SCHEMA)
    with db:
        db.execute("BEGIN IMMEDIATE")
        if full:
            db.execute("DELETE FROM local_list")
            db.executemany(
                "INSERT INTO local_list VALUES (?,?,?)",
                [(k, json.dumps(t), json.dumps(i)) for k, (t, i) in new.items()],
            )
        else:
            for key in keys:
                if key in new:
                    t, i = new[key]
                    db.execute(
                        "INSERT OR REPLACE INTO local_list VALUES (?,?,?)",
                        (key, json.dumps(t), json.dumps(i)),
                    )
                else:
                    db.execute("DELETE FROM local_list WHERE token=?", (key,))
        st.store.put(VERSION_KEY, number)
        # the variables go in the same SQLite transaction: a kill -9 never leaves them out of step with the list
        st.dm.put("LocalAuthListCtrlr", "Entries", str(len(new)))
        st.dm.put("LocalAuthListCtrlr", "Storage", str(used))
    log.info("local list version %d: %d entries (%s)", number, len(new), req["updateType"])
    return {"status": "Accepted"}


def get_local_list_version(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetLocalListVersion (D02): 0 when there is no list (or the list is disabled)."""
    return {"versionNumber": version(st) if enabled(st) else 0}
