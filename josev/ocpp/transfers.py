"""The OCPP shell's file transfers: firmware download, verification and installation (L01) and log upload
(N01) over HTTP(S), with their retries and waits. The protocol side (what to fetch, which statuses to report)
is in the sans-IO modules :mod:`josev.ocpp.firmware` and :mod:`josev.ocpp.logs`; these workers run outside the
receive loop and report each status through a callback."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev.ocpp.firmware import verify_signature

if TYPE_CHECKING:
    import ssl

log = logging.getLogger(__name__)

InstallHook = Callable[[Path], Awaitable[str]]
"""Installs a verified image; returns ``Installed``, ``InstallRebooting`` or ``InstallationFailed``."""


def download(url: str, dest: Path, ssl_context: ssl.SSLContext | None, timeout: float = 30.0) -> None:
    """Blocking HTTP(S) GET of ``url`` into ``dest`` (run in a thread)."""
    req = urllib.request.Request(url, headers={"User-Agent": "josev-ocpp"})
    with urllib.request.urlopen(req, timeout=timeout, context=ssl_context) as resp, dest.open("wb") as out:
        while chunk := resp.read(65536):
            out.write(chunk)


async def run_firmware_job(
    job: dict[str, Any],
    status: Callable[[str], None],
    workdir: Path,
    install: InstallHook,
    wall: Callable[[], float],
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Download, verify and install; ``status`` is called with every FirmwareStatus."""
    fw = job["firmware"]
    retrieve = datetime.fromisoformat(fw["retrieveDateTime"].replace("Z", "+00:00")).timestamp()
    if retrieve > wall() + 1:
        status("DownloadScheduled")
        await asyncio.sleep(retrieve - wall())
    dest = workdir / f"firmware-{job['requestId']}.bin"
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    for attempt in range(int(job["retries"]) + 1):
        status("Downloading")
        try:
            await asyncio.to_thread(download, fw["location"], dest, ssl_context)
            break
        except (OSError, ValueError) as exc:
            log.warning("firmware download attempt %d failed: %s", attempt + 1, exc)
            if attempt == int(job["retries"]):
                status("DownloadFailed")
                return
            await asyncio.sleep(float(job["retryInterval"]))
    status("Downloaded")
    data = await asyncio.to_thread(dest.read_bytes)
    if not verify_signature(data, fw["signature"], fw["signingCertificate"]):
        status("InvalidSignature")
        dest.unlink(missing_ok=True)
        return
    status("SignatureVerified")
    if "installDateTime" in fw:
        at = datetime.fromisoformat(fw["installDateTime"].replace("Z", "+00:00")).timestamp()
        if at > wall() + 1:
            status("InstallScheduled")
            await asyncio.sleep(at - wall())
    status("Installing")
    try:
        result = await install(dest)
    except Exception:
        log.exception("firmware install hook failed")
        result = "InstallationFailed"
    status(result)


async def default_install(path: Path) -> str:
    """Default hook: keeps the verified image as ``<workdir>/installed.bin`` (integrators replace this)."""
    target = path.with_name("installed.bin")
    await asyncio.to_thread(path.replace, target)
    return "Installed"


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


async def run_log_job(
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
