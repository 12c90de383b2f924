"""Diagnostics (N01): GetLog for the diagnostics and security logs, uploaded over HTTP(S) (multipart/form-data
POST, form field ``file``), with every LogStatusNotification. Protocol part sans-IO; :func:`run_job` does I/O."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev.ocpp.effects import StartJob

if TYPE_CHECKING:
    import ssl

    from josev.ocpp.core import Station

log = logging.getLogger(__name__)


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


def upload(
    url: str, filename: str, data: bytes, ssl_context: ssl.SSLContext | None, timeout: float = 30.0
) -> int:
    """Blocking multipart/form-data POST of one file; returns the HTTP status."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "User-Agent": "josev-ocpp"},
    )
    with urllib.request.urlopen(req, timeout=timeout, context=ssl_context) as resp:
        return int(resp.status)


async def run_job(
    job: dict[str, Any],
    status: Callable[[str], None],
    diagnostics: Callable[[], bytes],
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Collect and upload; ``status`` gets Uploading then Uploaded / UploadFailure."""
    data = job["content"].encode() if job["logType"] == "SecurityLog" else diagnostics()
    for attempt in range(int(job["retries"]) + 1):
        status("Uploading")
        try:
            code = await asyncio.to_thread(upload, job["remoteLocation"], job["filename"], data, ssl_context)
            if 200 <= code < 300:
                status("Uploaded")
                return
        except (OSError, ValueError) as exc:
            log.warning("log upload attempt %d failed: %s", attempt + 1, exc)
        if attempt < int(job["retries"]):
            await asyncio.sleep(float(job["retryInterval"]))
    status("UploadFailure")


def read_file_tail(path: Path, limit: int = 1_000_000) -> bytes:
    """The last ``limit`` bytes of a log file (diagnostics source)."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read()
    except OSError:
        return b"no diagnostics log available\n"
