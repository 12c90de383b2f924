"""The thin websocket shell around :class:`~josev.ocpp.core.Station`: connects (security profiles 1, 2 and 3),
feeds frames and timers into the core, carries out its effects, reconnects with the OCPP-J back-off and falls
back across network profiles."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from josev.observability import oplog
from josev.ocpp import backoff, certificates, reprovision, security, transfers
from josev.ocpp.config import OcppConfig
from josev.ocpp.core import Station
from josev.ocpp.devmodel import DeviceModel, core_variables
from josev.ocpp.effects import Effect, Reboot, Reconnect, SendFrame, StartJob, StationRequest
from josev.ocpp.store import Store

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"
OCPP_TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-GCM-SHA384"
)
"""TLS 1.2 suites OCPP 2.0.1 requires (part 2, A00.FR.318/319); TLS 1.3 suites are always allowed."""

DRAIN_S = 5.0
"""How long a reconnect or reboot waits for the answer to the CALL in flight."""
FLUSH_S = 3.0
"""How long a stopping client keeps delivering its queue while the CSMS is connected."""
RequestHandler = Callable[[StationRequest], Awaitable[dict[str, Any] | None]]


def tls_context(root_pems: list[str], client_cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """Client TLS context of security profile 2: TLS >= 1.2, the OCPP suites, CSMS roots, host-name check;
    with ``client_cert`` (chain file, key file) that of profile 3 (TLS with a client certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(OCPP_TLS12_CIPHERS)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if root_pems:
        ctx.load_verify_locations(cadata="\n".join(root_pems))
    if client_cert is not None:
        ctx.load_cert_chain(client_cert[0], client_cert[1])
    return ctx


def tls_failure(exc: BaseException) -> str | None:
    """InvalidTLSVersion / InvalidTLSCipherSuite when the TLS handshake failed on the version or the suites
    (the CSMS offers only TLS < 1.2 or none of the OCPP suites)."""
    for err in (exc, exc.__cause__, exc.__context__):
        if not isinstance(err, ssl.SSLError):
            continue
        text = str(err).upper()
        if any(k in text for k in ("UNSUPPORTED_PROTOCOL", "PROTOCOL_VERSION", "WRONG_VERSION_NUMBER")):
            return "InvalidTLSVersion"
        if any(k in text for k in ("HANDSHAKE_FAILURE", "NO_SHARED_CIPHER", "NO_CIPHERS", "WRONG_CIPHER")):
            return "InvalidTLSCipherSuite"
    return None


def client_cert_refused(exc: BaseException) -> bool:
    """A connect failure that means the CSMS did not accept the client certificate."""
    text = str(exc).upper()
    if isinstance(exc, ssl.SSLError) and "ALERT" in text:
        return True
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError) and "ALERT" in str(cause).upper():
        return True
    return (
        isinstance(exc, (ConnectionResetError, EOFError)) or "DID NOT RECEIVE A VALID HTTP RESPONSE" in text
    )


def basic_auth(identity: str, password: str, encoding: str = "text") -> str:
    """The Authorization header value; ``hex`` sends a 40-hex password as its raw bytes (legacy CSMS)."""
    secret = bytes.fromhex(password) if encoding == "hex" else password.encode()
    return "Basic " + base64.b64encode(identity.encode() + b":" + secret).decode()


class SteadyClock:
    """The OCPP core's time: seconds on the UNIX scale, read from the monotonic clock.

    The wall clock is read once, when the client starts, to put the monotonic seconds on the UNIX scale; after
    that a step of the system clock (NTP, an operator, an RTC resync: an hour back or forward) moves nothing:
    heartbeats, retries, timeouts, sampling and the other timers of the core keep their intervals. Timestamps
    are this time plus the core's CSMS offset (:meth:`josev.ocpp.core.Station.set_clock`), which the
    BootNotification and every Heartbeat response reset to the CSMS's clock."""

    def __init__(
        self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        self.base = wall() - monotonic()

    def __call__(self) -> float:
        return self._monotonic() + self.base


def build_station(cfg: OcppConfig, clock: Callable[[], float] | None = None) -> Station:
    """Open the store and device model and create the core (also used after an in-process reboot)."""
    cfg.database.parent.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.database, durable=cfg.durable)
    initial = dict(cfg.variables)
    initial.setdefault("SecurityCtrlr/Identity", cfg.identity)
    initial.setdefault("SecurityCtrlr/SecurityProfile", str(cfg.security_profile))
    if cfg.basic_auth_password:
        initial.setdefault("SecurityCtrlr/BasicAuthPassword", cfg.basic_auth_password)
    dm = DeviceModel(store, core_variables(cfg.evses, cfg.model, cfg.vendor), initial)
    if not store.get("network_profiles"):
        security.save_profiles(
            store,
            {
                1: {
                    "ocppVersion": "OCPP20",
                    "ocppTransport": "JSON",
                    "ocppCsmsUrl": cfg.csms_url,
                    "messageTimeout": 30,
                    "securityProfile": cfg.security_profile,
                    "ocppInterface": "Wired0",
                }
            },
        )
    for warning in reprovision.check(store, cfg):  # a CSMS setting edited after the first start
        log.warning(warning)
    boot: dict[str, Any] = {"model": cfg.model, "vendorName": cfg.vendor}
    if cfg.serial_number:
        boot["serialNumber"] = cfg.serial_number
    if cfg.firmware_version:
        boot["firmwareVersion"] = cfg.firmware_version
    died = _note_start(store)
    st = Station(store, dm, evses=cfg.evses, boot_info=boot)
    st.key_dir = cfg.key_dir or cfg.workdir / "keys"
    _import_config_roots(cfg, store, dm)
    now = (clock or SteadyClock())()
    st.tx.reschedule(now)  # sampling runs from the start, also when the CSMS cannot be reached
    if died:
        st.tx.after_crash(now)
    return st


def _import_config_roots(cfg: OcppConfig, store: Store, dm: DeviceModel) -> None:
    """The CSMS roots of the configuration (``csms_root_certificates``) are installed certificates like those
    the CSMS installs: GetInstalledCertificateIds lists them, DeleteCertificate removes them (each file is
    imported once: a root the CSMS deleted stays deleted until the file changes)."""
    imported = list(store.get("config_roots_imported", []))
    changed = False
    for path in cfg.csms_root_certificates:
        try:
            pem = path.read_text()
            cert = x509.load_pem_x509_certificate(pem.encode())
        except (OSError, ValueError) as exc:
            log.error("csms_root_certificates: %s is not a readable PEM certificate: %s", path, exc)
            continue
        digest = hashlib.sha256(pem.encode()).hexdigest()
        if digest in imported:
            continue
        store.cert_put(security.hash_data(cert), "CSMSRootCertificate", pem)
        imported.append(digest)
        changed = True
    if changed:
        store.put("config_roots_imported", imported)
        dm.put("SecurityCtrlr", "CertificateEntries", str(len(store.certs())))


def system_boot_id() -> str | None:
    """This system boot's identity (Linux ``boot_id``), None where the platform has none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _note_start(store: Store) -> bool:
    """Record this start; set the BootNotification reason unless a reset set it (RemoteReset...): PowerUp when
    the system booted since the last run (or we cannot tell), ApplicationReset when only josev restarted.
    Returns True when the last run died without stopping (power cut, kill -9): its transactions were cut."""
    last = store.get("run")
    boot_id = system_boot_id()
    if store.get("boot_reason") is None:
        same_boot = last is not None and boot_id is not None and last.get("boot_id") == boot_id
        store.put("boot_reason", "ApplicationReset" if same_boot else "PowerUp")
    store.put("run", {"boot_id": boot_id, "clean": False})
    return last is not None and not last.get("clean", False)


def note_clean_stop(store: Store) -> None:
    """The run stops in order: its open transactions go on after the restart."""
    last = store.get("run") or {}
    store.put("run", {"boot_id": last.get("boot_id"), "clean": True})


class OcppClient:
    """Runs one :class:`Station` against its CSMS until stopped."""

    def __init__(
        self,
        cfg: OcppConfig,
        on_request: RequestHandler | None = None,
        install: transfers.InstallHook | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_request = on_request
        self.install = install or transfers.default_install
        self.rand = rand
        self.clock = clock or SteadyClock()
        """The core's time (:class:`SteadyClock`): every input to the core carries it."""
        self.station = build_station(cfg, self.clock)
        self.ws: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.reboots = 0
        self.connect_attempts = 0
        self._level = 1
        self._wake = asyncio.Event()
        self._leave = asyncio.Event()
        """Set when the websocket session must end (reboot, reconnect)."""
        self._answered = asyncio.Event()
        self._last_call_sent: str | None = None
        self._rebooting = False
        self.closed = False
        """The client has stopped and closed its database."""
        self._reboot: Reboot | None = None
        self._reconnect = False
        self._jobs: set[asyncio.Task[None]] = set()
        self._requests: asyncio.Queue[StationRequest] = asyncio.Queue()
        self._current_job: dict[str, asyncio.Task[None]] = {}
        self._request_worker: asyncio.Task[None] | None = None

    # -- inputs from the station side ----------------------------------------------------------------
    async def feed(self, fn: Callable[..., list[Effect]], *args: Any) -> None:
        """Call a station-side input of the core (e.g. ``client.station.plug``) with ``now`` appended."""
        if self.closed:
            log.error(
                "station input %s after the OCPP client stopped: not recorded", getattr(fn, "__name__", fn)
            )
            return
        await self._dispatch(fn(*args, self.clock()))
        self._wake.set()

    # -- helpers ---------------------------------------------------------------------------------------
    def _root_pems(self) -> list[str]:
        pems = security.certificates_pem(self.station, "CSMSRootCertificate")
        pems += [p.read_text() for p in self.cfg.csms_root_certificates]
        return pems

    def _priority(self) -> list[int]:
        prof = security.profiles(self.station)
        floor = self.station.dm.get_int("SecurityCtrlr", "SecurityProfile")
        out = []
        for s in self.station.dm.get_list("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            if int(s) in prof and int(prof[int(s)]["securityProfile"]) >= floor:
                out.append(int(s))
        return out or sorted(prof)

    async def _open(self, slot: int) -> ClientConnection:
        prof = security.profiles(self.station)[slot]
        dm = self.station.dm
        url = prof["ocppCsmsUrl"].rstrip("/") + "/" + quote(self.cfg.identity, safe="")
        headers = {}
        level = int(prof["securityProfile"])
        password = dm.value("SecurityCtrlr/BasicAuthPassword")
        if password and level < 3:  # profile 3 authenticates with the client certificate only
            headers["Authorization"] = basic_auth(self.cfg.identity, password, self.cfg.password_encoding)
        client_cert = None
        if level >= 3:
            client_cert = certificates.client_certificate(self.station)
            if client_cert is None:
                raise ConnectionError("security profile 3 needs an installed ChargingStationCertificate")
        ctx = tls_context(self._root_pems(), client_cert) if url.startswith("wss://") else None
        if level >= 2 and ctx is None:
            raise ConnectionError(f"security profile {level} needs a wss:// URL")
        self._level = level
        ping = dm.get_int("OCPPCommCtrlr", "WebSocketPingInterval")
        ws = await connect(
            url,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            additional_headers=headers,
            ssl=ctx,
            open_timeout=float(prof.get("messageTimeout", 30)),
            ping_interval=ping or None,
            ping_timeout=ping or None,
            close_timeout=2.0,
            max_size=2**20,
            user_agent_header="josev-ocpp",
        )
        if ws.subprotocol != SUBPROTOCOL:
            await ws.close(1002, "subprotocol ocpp2.0.1 required")
            raise ConnectionError("CSMS did not accept subprotocol ocpp2.0.1")
        return ws

    # -- main loop -------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, reconnect, until ``stop`` is set."""
        cycler = backoff.ProfileCycler(
            self.station.dm.get_int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts")
        )
        attempt = 0
        failures = oplog.CsmsFailures(log)
        # timers run whether or not the CSMS is reachable: meter values, clock-aligned samples and
        # EVConnectionTimeOut are due offline too (their messages queue, flagged offline)
        ticker = asyncio.create_task(self._ticker(stop))
        try:
            while not stop.is_set():
                priority = self._priority()
                slot = cycler.current(priority)
                self.connect_attempts += 1
                try:
                    self.ws = await self._open(slot)
                except (OSError, InvalidHandshake, ConnectionError, TimeoutError, ssl.SSLError) as exc:
                    self._connect_failed(exc)
                    cycler.failed(priority)
                    dm = self.station.dm
                    wait = backoff.delay(
                        attempt,
                        dm.get_int("OCPPCommCtrlr", "RetryBackOffWaitMinimum"),
                        dm.get_int("OCPPCommCtrlr", "RetryBackOffRandomRange"),
                        dm.get_int("OCPPCommCtrlr", "RetryBackOffRepeatTimes"),
                        self.rand(),
                    )
                    attempt += 1
                    failures.failed(slot, exc, wait, time.monotonic())
                    await self._sleep(stop, wait)
                    continue
                attempt = 0
                failures.connected()
                cycler.succeeded()
                oplog.csms_connected(log, security.profiles(self.station).get(slot, {}), slot)
                await self._session(self.ws, slot, stop)
                self.ws = None
                if self._reboot is not None:
                    await self._do_reboot()
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            for task in self._jobs:
                task.cancel()
            if self._request_worker is not None:
                self._request_worker.cancel()
            note_clean_stop(self.station.store)
            self.closed = True
            self.station.store.close()

    def _connect_failed(self, exc: Exception) -> None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            self.station.security_event("InvalidCsmsCertificate", self.clock(), str(exc)[:255])
        elif isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
            self.station.security_event("FailedToAuthenticateAtCsms", self.clock(), str(exc)[:255])
        elif (kind := tls_failure(exc)) is not None:
            self.station.security_event(kind, self.clock(), str(exc)[:255])
        elif self._level >= 3 and client_cert_refused(exc):
            # profile 3: the CSMS refused our certificate (TLS alert, or the connection closed right after
            # the TLS 1.3 handshake, when the server checks the certificate)
            self.station.security_event(
                "FailedToAuthenticateAtCsms", self.clock(), f"client certificate refused: {exc}"[:255]
            )

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()

    async def _session(self, ws: ClientConnection, slot: int, stop: asyncio.Event) -> None:
        self.connected.set()
        self._reconnect = False
        self._leave.clear()
        await self._dispatch(self.station.connected(self.clock(), slot))
        self._wake.set()
        reader = asyncio.create_task(self._reader(ws))
        leave = asyncio.create_task(self._until_leave())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, leave, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() and not reader.done():
                await self._flush()
        finally:
            for t in (reader, leave, stopper):
                t.cancel()
            await asyncio.gather(reader, leave, stopper, return_exceptions=True)
            self.connected.clear()
            with contextlib.suppress(Exception):
                await ws.close()
            await self._dispatch(self.station.disconnected(self.clock()))
            self._wake.set()

    async def _flush(self) -> None:
        """Stopping while connected: deliver what is queued (transaction events first of all) for up to
        FLUSH_S before the connection and the database close; what remains is sent after the restart."""
        st = self.station
        deadline = time.monotonic() + FLUSH_S
        while (
            (st.store.queue_length() or st.in_flight is not None)
            and st.online
            and time.monotonic() < deadline
        ):
            self._wake.set()
            await asyncio.sleep(0.02)

    async def _until_leave(self) -> None:
        """Return when the session must end (reconnect, reboot), once the CALL in flight is answered (or
        DRAIN_S passed): closing under it would send it again on the next connection (the CSMS would get
        e.g. a security event twice). Nothing new is sent meanwhile (:meth:`_dispatch`)."""
        await self._leave.wait()
        first = self.station.in_flight
        if first is None or first.unique_id != self._last_call_sent:
            return  # nothing sent is waiting for an answer (a CALL made after the decision was held back)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                while first is not None and self.station.in_flight is first:
                    self._answered.clear()
                    await self._answered.wait()

    async def _reader(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                await self._dispatch(self.station.receive(message, self.clock()))
                self._wake.set()
                self._answered.set()

    async def _ticker(self, stop: asyncio.Event) -> None:
        """Feed the core's timers for the client's whole life (online and offline)."""
        while not stop.is_set():
            deadline = None if self._rebooting else self.station.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            self._wake.clear()
            # asyncio.timeout, not wait_for: wait_for of 3.11 can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if not self._rebooting and self._reboot is None:
                try:
                    await self._dispatch(self.station.tick(self.clock()))
                except Exception:  # a failing timer must not stop the others
                    log.exception("timer processing failed")

    async def _dispatch(self, effects: list[Effect]) -> None:
        # what the core just wrote goes to disk now (the store's thread), whether a frame follows or not
        self.station.store.sync_soon()
        for eff in effects:
            if isinstance(eff, SendFrame):
                is_call = eff.text.startswith("[2,")
                if self._leave.is_set() and is_call:
                    continue  # leaving: a new CALL waits for the next connection (see _until_leave)
                if is_call:
                    self._last_call_sent = str(json.loads(eff.text)[1])
                ws = self.ws
                if ws is not None:
                    # what the frame reports (a queued event and its seqNo, an accepted setting) is on disk
                    # before the CSMS hears of it; the loop runs on meanwhile (the fsync is the store's thread's)
                    await self.station.store.synced()
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(eff.text)
            elif isinstance(eff, StationRequest):
                # answered by a worker, in order, so a slow station never blocks the receive loop
                self._requests.put_nowait(eff)
                if self._request_worker is None or self._request_worker.done():
                    self._request_worker = asyncio.create_task(self._serve_requests())
            elif isinstance(eff, Reboot):
                self._reboot = eff
                self._leave.set()
                self._wake.set()
            elif isinstance(eff, Reconnect):
                self._reconnect = True
                self._leave.set()
                self._wake.set()
            elif isinstance(eff, StartJob):
                previous = self._current_job.get(eff.kind)
                if previous is not None and not previous.done():
                    previous.cancel()  # a new UpdateFirmware / GetLog replaces the running one
                task = asyncio.create_task(self._job(eff))
                self._current_job[eff.kind] = task
                self._jobs.add(task)
                task.add_done_callback(self._jobs.discard)

    async def _serve_requests(self) -> None:
        while True:
            req = await self._requests.get()
            await self._station_request(req)

    async def _station_request(self, req: StationRequest) -> None:
        if self.on_request is None:
            reply: dict[str, Any] | None = {"status": "Unlocked"} if req.kind == "unlock" else None
        else:
            try:
                reply = await self.on_request(req)
            except Exception:
                log.exception("station request %s failed", req.kind)
                reply = None
        if req.token is not None and reply is not None:
            await self._dispatch(self.station.complete(req.token, reply, self.clock()))

    async def _job(self, eff: StartJob) -> None:
        rid = int(eff.data["requestId"])

        def status(s: str) -> None:
            effects = self.station.job_status(eff.kind, rid, s, self.clock())
            task = asyncio.get_running_loop().create_task(self._dispatch(effects))
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
            self._wake.set()

        ctx = ssl.create_default_context() if self._root_pems() == [] else tls_context(self._root_pems())
        try:
            if eff.kind == "firmware":
                await transfers.run_firmware_job(
                    eff.data,
                    status,
                    self.cfg.workdir,
                    self.install,
                    lambda: self.station.wall(self.clock()),
                    ctx,
                )
            else:
                diag = self.cfg.diagnostics_log
                await transfers.run_log_job(
                    eff.data,
                    status,
                    lambda: transfers.read_file_tail(diag) if diag else b"josev diagnostics\n",
                    ctx,
                )
        except Exception:
            log.exception("%s job failed", eff.kind)

    async def _do_reboot(self) -> None:
        """In-process reboot: rebuild the core from its persistent state (the service may exit instead)."""
        reason = self._reboot.reason if self._reboot else ""
        log.warning("rebooting (%s)", reason)
        self._reboot = None
        self.reboots += 1
        self._rebooting = True
        try:
            note_clean_stop(self.station.store)
            self.station.store.close()
            if self.cfg.reboot_command:
                await run_reboot_hook(self.cfg.reboot_command, reason)
            self.station = build_station(self.cfg, self.clock)
        finally:
            self._rebooting = False
            self._wake.set()


async def run_reboot_hook(cmd: list[str], reason: str, timeout: float = 60.0) -> bool:
    """Run the configured reboot command (it may end this process); False when it failed."""
    env = dict(os.environ, JOSEV_REBOOT_REASON=reason)
    try:
        proc = await asyncio.create_subprocess_exec(*cmd, env=env)
        rc = await asyncio.wait_for(proc.wait(), timeout)
    except (OSError, TimeoutError) as exc:
        log.error("reboot command %s failed: %s; restarting the OCPP client in-process", cmd, exc)
        return False
    if rc != 0:
        log.error("reboot command %s exited with %s; restarting the OCPP client in-process", cmd, rc)
        return False
    return True


def default_workdir(cfg: OcppConfig) -> Path:
    """Where firmware images are kept."""
    return cfg.workdir
