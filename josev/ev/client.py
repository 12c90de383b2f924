"""The EV simulator's network side: SDP client (multicast on the PLC interface) and the V2GTP TCP client
driving an :class:`~josev.ev.evcc.Evcc`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from josev.ev.battery import Battery, Behaviour
from josev.ev.contract import ContractCredentials, ProvisioningCredentials
from josev.ev.evcc import Evcc, EvConnection, EvError, EvResult
from josev.v2g import sdp
from josev.v2g.codec import Codec, CodecError
from josev.v2g.netif import ifindex, wait_link_local
from josev.v2g.v2gtp import V2gtpError

LOOP_REQUESTS = frozenset({"CurrentDemandReq", "ChargingStatusReq", "AC_ChargeLoopReq", "DC_ChargeLoopReq"})


def repeating(messages: list[str]) -> bool:
    """The request just produced repeats the previous one (an Ongoing or PreCharge loop, not a charge loop)."""
    return len(messages) >= 2 and messages[-1] == messages[-2] and messages[-1] not in LOOP_REQUESTS


async def discover(
    iface: str,
    *,
    security: int = sdp.Security.NO_TLS,
    retries: int = 50,
    interval: float = 0.25,
    port: int = sdp.SDP_PORT,
) -> sdp.SdpResponse:
    """Send SDP requests to ff02::1 on ``iface`` until a SECC answers (ISO 15118-2: up to 50 tries)."""
    await wait_link_local(iface)
    idx = ifindex(iface)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    s.bind(("::", 0, 0, idx))
    s.setblocking(False)
    loop = asyncio.get_running_loop()
    req = sdp.encode_request(sdp.SdpRequest(security, sdp.Transport.TCP))
    try:
        for _ in range(retries):
            await loop.sock_sendto(s, req, (sdp.SDP_MULTICAST, port, 0, idx))
            end = time.monotonic() + interval
            while (left := end - time.monotonic()) > 0:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(s, 256), left)
                except TimeoutError:
                    break
                with contextlib.suppress(sdp.SdpError):
                    return sdp.decode_response(data)
        raise TimeoutError(f"no SDP response on {iface} after {retries} requests")
    finally:
        s.close()


async def run_session(
    iface: str,
    protocol: str,
    codec: Codec,
    *,
    battery: Battery | None = None,
    behaviour: Behaviour | None = None,
    resume: str | None = None,
    message_timeout: float = 5.0,
    target: sdp.SdpResponse | None = None,
    on_message: Callable[[str], None] | None = None,
    tls: ssl.SSLContext | None = None,
    contract: ContractCredentials | None = None,
    provisioning: ProvisioningCredentials | None = None,
    renew_within_s: float = 0.0,
) -> EvResult:
    """Discover the SECC (unless ``target`` is given), connect and run one session to its end.

    With ``tls`` (e.g. :func:`josev.tls.evcc_context` ``("iso2", ...)``) SDP asks for TLS and the session runs
    over TLS on the announced port; a refused handshake is a failed result with the reason."""
    security = sdp.Security.TLS if tls is not None else sdp.Security.NO_TLS
    res = target or await discover(iface, security=security)
    evcc = Evcc(
        protocol,
        battery,
        behaviour,
        resume_session=resume,
        contract=contract,
        provisioning=provisioning,
        wall=time.time() if provisioning is not None else None,
        renew_within_s=renew_within_s,
    )
    conn = EvConnection(evcc, codec)
    if tls is not None and res.security != sdp.Security.TLS:
        evcc.result.outcome = "failed"
        evcc.result.detail = "the SECC did not offer TLS"
        return evcc.result
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                f"{res.address}%{iface}",
                res.port,
                family=socket.AF_INET6,
                ssl=tls,
                server_hostname="" if tls is not None else None,
            ),
            message_timeout + 1.0,
        )
    except (OSError, TimeoutError, ssl.SSLError) as e:
        evcc.result.outcome = "failed"
        evcc.result.detail = f"connect: {type(e).__name__}: {e}"
        return evcc.result
    if tls is not None:
        sslobj = writer.get_extra_info("ssl_object")
        evcc.result.tls = f"{sslobj.version()} {sslobj.cipher()[0]}" if sslobj is not None else ""
        peer = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        if peer:  # the SECC certificate the handshake checked against the V2G root: it signs the SalesTariff
            from cryptography import x509

            key = x509.load_der_x509_certificate(peer).public_key()
            if isinstance(key, ec.EllipticCurvePublicKey):
                evcc.secc_key = key
    await exchange(conn, evcc, reader, writer, message_timeout, on_message)
    return evcc.result


class _Conn(Protocol):
    def start(self) -> bytes: ...

    def receive(self, data: bytes, now: float) -> list[bytes]: ...


async def exchange(
    conn: _Conn,
    evcc: Any,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    message_timeout: float,
    on_message: Callable[[str], None] | None = None,
) -> None:
    """Drive one V2G session over an open connection until the EV is done (DIN / ISO-2 and ISO 15118-20):
    time each response, pace repeated and charge-loop requests like a car, record failures in
    ``evcc.result``, and close the connection."""
    try:
        writer.write(conn.start())
        await writer.drain()
        sent = time.perf_counter()
        while not evcc.done:
            data = await asyncio.wait_for(reader.read(65536), message_timeout)
            got = time.perf_counter()
            if not data:
                evcc.result.outcome = "failed"
                evcc.result.detail = "SECC closed the connection"
                break
            name = evcc.result.messages[-1] if evcc.result.messages else "supportedAppProtocolReq"
            evcc.result.latency_ms.setdefault(name, []).append((got - sent) * 1e3)
            outs = conn.receive(data, time.monotonic())
            if outs and repeating(evcc.result.messages):
                await asyncio.sleep(evcc.behaviour.repeat_interval_s)
            elif (
                outs
                and evcc.behaviour.loop_interval_s
                and evcc.result.messages[-1:]
                and (evcc.result.messages[-1] in LOOP_REQUESTS)
            ):
                await asyncio.sleep(evcc.behaviour.loop_interval_s)  # a real car's charge-loop period
            for out in outs:
                writer.write(out)
            await writer.drain()
            sent = time.perf_counter()
            if on_message is not None and evcc.result.messages:
                on_message(evcc.result.messages[-1])
    except (EvError, CodecError, V2gtpError, TimeoutError, ConnectionError, ssl.SSLError) as e:
        if evcc.result.outcome == "running":
            evcc.result.outcome = "failed"
            evcc.result.detail = f"{type(e).__name__}: {e}"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
