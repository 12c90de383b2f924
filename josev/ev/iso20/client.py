"""The -20 EV simulator's network side: one session over TLS 1.3 (``josev.tls`` EV contexts) or plain TCP."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable

from josev.ev.battery import Battery
from josev.ev.client import LOOP_REQUESTS, repeating
from josev.ev.evcc import EvError, EvResult
from josev.ev.iso20.evcc import Ev20Connection, Evcc20, Iso20Behaviour
from josev.secc.codec import Codec, CodecError
from josev.secc.v2gtp import V2gtpError
from josev.tls import TlsInfo, TlsPolicy, TlsRefused, connect_tls, policy_for


async def run_session(
    host: str,
    port: int,
    protocol: str,
    codec: Codec,
    *,
    tls: ssl.SSLContext | None = None,
    policy: TlsPolicy | None = None,
    battery: Battery | None = None,
    behaviour: Iso20Behaviour | None = None,
    resume: str | None = None,
    message_timeout: float = 5.0,
    on_message: Callable[[str], None] | None = None,
) -> tuple[EvResult, TlsInfo | None]:
    """Connect (TLS when ``tls`` is given, -20 policy by default) and run one session to its end."""
    evcc = Evcc20(protocol, battery, behaviour, resume_session=resume)
    conn = Ev20Connection(evcc, codec)
    info: TlsInfo | None = None
    try:
        if tls is not None:
            reader, writer, info = await connect_tls(host, port, tls, policy or policy_for("iso20"))
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), message_timeout)
    except (TlsRefused, OSError, TimeoutError) as e:
        evcc.result.outcome = "failed"
        evcc.result.detail = f"{type(e).__name__}: {e}"
        return evcc.result, None
    if info is not None:
        evcc.result.tls = f"{info.version} {info.cipher}"
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
    return evcc.result, info
