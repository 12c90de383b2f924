"""Fixtures of the TLS tests: test PKIs made once per session with josev.pki, plus a loopback pair runner."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from josev.pki import Override, build_pki, write_pki
from josev.pki.profiles import ISO2, ISO20_ED448, ISO20_P521
from josev.tls import TlsInfo, TlsPolicy, TlsRefused, TlsStats, accept_tls, connect_tls
from josev.tls.keylog import KeyDisclosure

NOW = dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class Dirs:
    """Profile folders of the session's test PKIs."""

    iso2: Path
    p521: Path
    ed448: Path
    rogue: Path
    """An iso2 PKI with its own, untrusted V2G root."""
    expired: Path
    """An iso2 PKI whose SECC leaf expired yesterday (and whose OEM leaf expired too)."""
    rogue20: Path
    """An iso20-p521 PKI with untrusted roots (for a foreign OEM chain)."""


@pytest.fixture(scope="session")
def pki_dirs(tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    root = tmp_path_factory.mktemp("pki")
    gone = Override(not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1))
    return Dirs(
        iso2=write_pki(build_pki(ISO2, now=NOW), root / "good"),
        p521=write_pki(build_pki(ISO20_P521, now=NOW), root / "good"),
        ed448=write_pki(build_pki(ISO20_ED448, now=NOW), root / "good"),
        rogue=write_pki(build_pki(ISO2, now=NOW), root / "rogue"),
        expired=write_pki(
            build_pki(ISO2, now=NOW, overrides={"secc_leaf": gone, "oem_prov_leaf": gone}), root / "expired"
        ),
        rogue20=write_pki(build_pki(ISO20_P521, now=NOW), root / "rogue20"),
    )


@dataclasses.dataclass
class PairResult:
    """Outcome of one loopback handshake."""

    server: TlsInfo | None
    client: TlsInfo | None
    client_error: TlsRefused | None
    stats: TlsStats
    payload: bytes


async def tls_pair(
    server_ctx: ssl.SSLContext,
    server_policy: TlsPolicy,
    client_ctx: ssl.SSLContext,
    client_policy: TlsPolicy,
    *,
    server_disclosure: KeyDisclosure | None = None,
    logger: logging.Logger | None = None,
) -> PairResult:
    """Real TCP + TLS on 127.0.0.1: server upgrades with accept_tls, client with connect_tls, one echo."""
    stats = TlsStats()
    server_done: asyncio.Future[TlsInfo | None] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = await accept_tls(
            reader,
            writer,
            server_ctx,
            server_policy,
            handshake_timeout=3.0,
            disclosure=server_disclosure,
            stats=stats,
            logger=logger or logging.getLogger("josev.tls.session"),
        )
        server_done.set_result(info)
        if info is not None:
            data = await asyncio.wait_for(reader.read(100), 3.0)
            writer.write(data[::-1])
            await writer.drain()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client_info: TlsInfo | None = None
    client_error: TlsRefused | None = None
    payload = b""
    try:
        try:
            reader, writer, client_info = await connect_tls(
                "127.0.0.1", port, client_ctx, client_policy, handshake_timeout=3.0
            )
            writer.write(b"hello")
            await writer.drain()
            payload = await asyncio.wait_for(reader.read(100), 3.0)
            writer.close()
        except TlsRefused as exc:
            client_error = exc
        except (ConnectionError, ssl.SSLError):
            pass
        server_info = await asyncio.wait_for(server_done, 5.0)
    finally:
        server.close()
        await server.wait_closed()
    return PairResult(server_info, client_info, client_error, stats, payload)


@pytest.fixture(autouse=True)
def _no_asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A refused peer must never surface as an asyncio error (unhandled exception, fatal transport error)."""
    yield
    bad = [r for r in caplog.get_records("call") if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
