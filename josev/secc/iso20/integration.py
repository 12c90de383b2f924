"""What the SECC server, SAP/SDP and service need to offer ISO 15118-20 (the seams of issue 7).

* :func:`make_connection` builds the per-connection core for an EVSE with -20 enabled: an
  :class:`~josev.secc.iso20.connection.Iso20Connection`, which answers SAP with the -20 namespaces added and hands
  DIN / ISO 15118-2 sessions to the usual :class:`~josev.secc.session.SeccSession` (same ``receive`` /
  ``on_timer`` / ``connection_lost`` / ``next_timer`` / ``closed`` interface).
* :func:`serve_connection` is the I/O loop of one accepted (TLS) stream around such a core.
* :func:`accept` upgrades an accepted TCP stream to TLS 1.3 with the -20 policy (refusals are logged by
  :mod:`josev.tls.session`) and then serves it.
* :func:`sdp_security` says what SDP must announce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable

from josev.secc.iso20.connection import Iso20Connection, Iso20Output
from josev.secc.iso20.context import Iso20Config, Iso20Evse
from josev.secc.iso20.events import Iso20Event
from josev.secc.machine import SessionStore
from josev.secc.session import SessionConfig
from josev.tls import TlsInfo, TlsPolicy, TlsStats, accept_tls, policy_for
from josev.v2g import sdp
from josev.v2g.codec import Codec
from josev.v2g.iso20.namespaces import NAMESPACES

__all__ = ["NAMESPACES", "accept", "make_connection", "sdp_security", "serve_connection"]

log = logging.getLogger("josev.secc.iso20")
READ_SIZE = 65536
EventSink = Callable[[list[Iso20Event]], None]


def make_connection(
    station: Iso20Evse,
    now: float,
    codec: Codec,
    *,
    config: SessionConfig | None = None,
    iso20: Iso20Config | None = None,
    store: SessionStore | None = None,
    families: tuple[str, ...] = ("AC", "DC"),
    iso20_allowed: bool = True,
) -> Iso20Connection:
    """The connection core of an EVSE that offers -20 next to DIN / ISO 15118-2 (``iso20_allowed``: the
    connection runs over TLS 1.3; without it only DIN / ISO 15118-2 are negotiated)."""
    return Iso20Connection(
        station,
        now,
        codec=codec,
        config=config,
        iso20=iso20,
        store=store,
        families=families,
        iso20_allowed=iso20_allowed,
    )


def sdp_security(tls_configured: bool) -> sdp.Security:
    """-20 requires TLS: announce TLS whenever a TLS listener exists."""
    return sdp.Security.TLS if tls_configured else sdp.Security.NO_TLS


def _emit(sink: EventSink | None, events: list[Iso20Event]) -> None:
    if sink is not None and events:
        try:
            sink(events)
        except Exception:  # a broken consumer must not kill the session
            log.exception("event consumer failed")


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    conn: Iso20Connection,
    *,
    on_events: EventSink | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Move bytes between the stream and ``conn`` until the session ends; never raises for a broken peer."""

    def handle(out: Iso20Output) -> bool:
        for frame in out.send:
            writer.write(frame)
        _emit(on_events, out.events)
        return out.close

    try:
        while not conn.closed:
            deadline = conn.next_timer
            timeout = None if deadline is None else max(0.0, deadline - clock())
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
            except TimeoutError:
                if handle(conn.on_timer(clock())):
                    break
                continue
            if not data:
                _emit(on_events, conn.connection_lost(clock()))
                break
            close = handle(conn.receive(data, clock()))
            await writer.drain()
            if close:
                break
    except (ConnectionError, OSError, ssl.SSLError) as e:
        _emit(on_events, conn.connection_lost(clock()))
        log.info("connection error %s", e)
    except asyncio.CancelledError:
        _emit(on_events, conn.connection_lost(clock()))
        raise
    except Exception:  # never let one broken session take the service down
        log.exception("session crashed; closing the connection")
        _emit(on_events, conn.connection_lost(clock()))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ctx: ssl.SSLContext,
    conn_factory: Callable[[TlsInfo], Iso20Connection],
    *,
    policy: TlsPolicy | None = None,
    stats: TlsStats | None = None,
    on_events: EventSink | None = None,
    handshake_timeout: float = 5.0,
) -> TlsInfo | None:
    """TLS 1.3 handshake (policy ``iso20`` unless given), then :func:`serve_connection`; None when refused."""
    info = await accept_tls(
        reader, writer, ctx, policy or policy_for("iso20"), handshake_timeout=handshake_timeout, stats=stats
    )
    if info is None:
        return None
    conn = conn_factory(info)
    if info.version != "TLSv1.3":  # a policy that also admits TLS 1.2 (-2 EVs): never -20 on it
        conn.iso20_allowed = False
    await serve_connection(reader, writer, conn, on_events=on_events)
    return info
