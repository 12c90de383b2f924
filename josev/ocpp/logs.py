"""Diagnostics (N01): GetLog for the diagnostics and security logs, uploaded over HTTP(S) (multipart/form-data
POST, form field ``file``), with every LogStatusNotification. Sans-IO: the upload job runs in the shell (:mod:`josev.ocpp.transfers`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from josev.ocpp.effects import StartJob

if TYPE_CHECKING:
    from josev.ocpp.core import Station


def get_log(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetLog (N01): answer with the file name, then upload in a job."""
    kind = req["logType"]
    rid = req["requestId"]
    filename = f"{'security' if kind == 'SecurityLog' else 'diagnostics'}-{rid}.log"
    busy = st.log_status in ("Uploading", "AcceptedCanceled")
    content = ""
    if kind == "SecurityLog":
        lo, hi = _when(req["log"].get("oldestTimestamp")), _when(req["log"].get("latestTimestamp"))
        content = "".join(
            f"{ts} {t} {info or ''}\n"
            for ts, t, info in st.store.security_log()
            if (lo is None or _when(ts) >= lo) and (hi is None or _when(ts) <= hi)  # type: ignore[operator]
        )
    job = {
        "requestId": rid,
        "logType": kind,
        "filename": filename,
        "remoteLocation": req["log"]["remoteLocation"],
        "retries": req.get("retries", 1),
        "retryInterval": req.get("retryInterval", 10),
        "content": content,
        "oldest": req["log"].get("oldestTimestamp"),
        "latest": req["log"].get("latestTimestamp"),
    }

    def go(s: Station, t: float) -> None:
        s.log_request_id = rid
        s.emit(StartJob("log", job))

    return {"status": "AcceptedCanceled" if busy else "Accepted", "filename": filename, "_after": go}


def _when(ts: str | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def report(st: Station, request_id: int, status: str, now: float) -> None:
    """A log job reached ``status``: LogStatusNotification."""
    st.log_status = status
    st.log_request_id = request_id
    st.send("LogStatusNotification", {"status": status, "requestId": request_id}, now)
