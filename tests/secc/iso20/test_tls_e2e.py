"""Our -20 EV against our -20 SECC through real bytes (EXI + V2GTP) over real TLS 1.3 connections on loopback
(mutual authentication with the OEM provisioning certificate): AC, DC, AC BPT and DC BPT, each scheduled and
dynamic; plus a refused TLS 1.2 EV and a pause/resume across two TLS connections. The SECC side is the one
network shell (:meth:`josev.secc.server.EvseEndpoint.serve_stream`) behind a loopback listener."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from josev.ev.iso20 import Iso20Behaviour
from josev.ev.iso20.client import run_session
from josev.pki import build_pki, write_pki
from josev.pki.profiles import ISO20_P521
from josev.secc.iso20.context import Iso20Evse
from josev.secc.iso20.events import Iso20Event, shared_events
from josev.secc.machine import SessionStore
from josev.secc.server import EvseEndpoint
from josev.sim.supply import SimPowerSupply
from josev.tls import TlsStats, evcc_context, secc_context
from josev.tls.contexts import Mode
from josev.v2g.codec import ExiCodec

from .helpers import EXI, station

pytestmark = pytest.mark.skipif(not EXI, reason="the EXI codec is not built")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pki(build_pki(ISO20_P521, now=dt.datetime.now(dt.UTC)), tmp_path_factory.mktemp("pki20"))


@dataclass
class Secc:
    """A -20 SECC on 127.0.0.1 serving one EVSE over TLS 1.3."""

    port: int
    station: Iso20Evse
    store: SessionStore
    stats: TlsStats
    endpoint: EvseEndpoint
    events: list[Iso20Event] = field(default_factory=list)


@pytest.fixture
async def secc(pki: Path) -> AsyncIterator[Secc]:
    ctx = secc_context(
        "iso20",
        pki / "chains" / "secc.pem",
        pki / "keys" / "secc_leaf.key",
        oem_roots=pki / "certs" / "oem_root.pem",
    )
    st, codec, supply = station(), ExiCodec(), SimPowerSupply()
    holder: list[Secc] = []

    def on_events(_evse: int, events: list[Iso20Event]) -> None:
        supply.apply(st.view, shared_events(events))
        holder[0].events += events

    ep = EvseEndpoint(1, "lo", st.view, codec, tls=ctx, tls_mode="iso20", iso20=st, on_events=on_events)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ep.serve_stream(reader, writer, tls=True)

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    holder.append(Secc(server.sockets[0].getsockname()[1], st, ep.store, ep.tls_stats, ep))
    try:
        yield holder[0]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5.0)


def ev_tls(pki: Path, mode: Mode = "iso20") -> ssl.SSLContext:
    """Our EV's context, presenting the OEM provisioning chain (mutual TLS)."""
    return evcc_context(
        mode,
        pki / "certs" / "v2g_root.pem",
        client_chain=pki / "chains" / "oem.pem",
        client_key=pki / "keys" / "oem_prov_leaf.key",
    )


COMBOS = [(p, d) for p in ("iso20-ac", "iso20-dc", "iso20-ac-bpt", "iso20-dc-bpt") for d in (False, True)]


@pytest.mark.parametrize(
    ("protocol", "dynamic"), COMBOS, ids=[f"{p}-{'dyn' if d else 'sched'}" for p, d in COMBOS]
)
async def test_ev_charges_over_tls13(secc: Secc, pki: Path, protocol: str, dynamic: bool) -> None:
    beh = Iso20Behaviour(dynamic=dynamic, loops=3, standby_after=1 if dynamic else None, standby_loops=1)
    result, info = await asyncio.wait_for(
        run_session("127.0.0.1", secc.port, protocol, ExiCodec(), tls=ev_tls(pki), behaviour=beh),
        20.0,
    )
    assert result.outcome == "finished", result.detail
    assert info is not None and info.version == "TLSv1.3"
    assert info.cipher in ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
    assert secc.endpoint.last_tls is not None
    assert secc.endpoint.last_tls.mutual  # the EV authenticated with its OEM provisioning certificate
    loop_req = "AC_ChargeLoopReq" if "-ac" in protocol else "DC_ChargeLoopReq"
    assert result.messages.count(loop_req) >= 3
    assert secc.stats.accepted == 1


async def test_pause_and_resume_over_two_tls_connections(secc: Secc, pki: Path) -> None:
    first, _ = await run_session(
        "127.0.0.1",
        secc.port,
        "iso20-dc-bpt",
        ExiCodec(),
        tls=ev_tls(pki),
        behaviour=Iso20Behaviour(loops=9, pause_after=1),
    )
    assert first.outcome == "paused" and first.session_id in secc.store.paused
    second, _ = await run_session(
        "127.0.0.1",
        secc.port,
        "iso20-dc-bpt",
        ExiCodec(),
        tls=ev_tls(pki),
        behaviour=Iso20Behaviour(loops=2),
        resume=first.session_id,
    )
    assert second.outcome == "finished" and second.session_id == first.session_id


async def test_tls12_ev_is_refused_and_the_secc_keeps_serving(
    secc: Secc, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    old, info = await run_session("127.0.0.1", secc.port, "iso20-ac", ExiCodec(), tls=ev_tls(pki, "iso2"))
    assert old.outcome == "failed" and info is None
    await asyncio.sleep(0.05)
    assert secc.stats.refused["version"] + secc.stats.refused["cipher"] + secc.stats.refused["handshake"] >= 1
    assert any("refused" in r.getMessage() for r in caplog.records)
    ok, _ = await run_session(
        "127.0.0.1", secc.port, "iso20-ac", ExiCodec(), tls=ev_tls(pki), behaviour=Iso20Behaviour(loops=1)
    )
    assert ok.outcome == "finished"
