"""Issue 22: ISO 15118-20 only over TLS 1.3. A station with TLS ``both`` (TLS 1.2 for -2 EVs, TLS 1.3 for -20)
used to complete a whole -20 DC session over plain TCP. Now supportedAppProtocol offers -20 only on a
connection that negotiated TLS 1.3: over plain TCP and over TLS 1.2 a -20-only EV gets Failed_NoNegotiation,
a -2 EV still charges, and over TLS 1.3 -20 runs."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.secc.events import SessionStarted
from josev.secc.iso20.context import Iso20Evse
from josev.secc.tlsconfig import SeccTls, ev_context
from josev.v2g import v2gtp
from josev.v2g.codec import exi_available, make_codec
from josev.v2g.iso20.namespaces import DC_URI
from tests.util.netns import CAN_NETNS, Netns, NetnsLab

from .lab import Station, run_ev

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


def sap_over_tls12(ns: Netns, iface: str, addr: str, port: int, pki: Path) -> dict[str, Any]:
    """A TLS 1.2 client (our EV's -2 context) that offers only -20 DC in supportedAppProtocol."""
    ctx = ev_context(pki, "iso2", "both")
    codec = make_codec("exi")
    req = {
        "supportedAppProtocolReq": {
            "AppProtocol": [
                {
                    "ProtocolNamespace": DC_URI,
                    "VersionNumberMajor": 1,
                    "VersionNumberMinor": 0,
                    "SchemaID": 1,
                    "Priority": 1,
                }
            ]
        }
    }
    with ns.entered():
        idx = socket.if_nametoindex(iface)
        raw = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    raw.settimeout(10)
    raw.connect((addr, port, 0, idx))
    with ctx.wrap_socket(raw, server_hostname=None) as s:
        assert s.version() == "TLSv1.2"
        s.sendall(v2gtp.frame(v2gtp.PayloadType.EXI, codec.encode("sap", req)))
        data = b""
        while len(data) < 8 or len(data) < 8 + int.from_bytes(data[4:8], "big"):
            chunk = s.recv(4096)
            assert chunk, "closed without a response"
            data += chunk
    res: dict[str, Any] = codec.decode("sap", data[8:])
    return res


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


async def test_iso20_only_over_tls13(netns_lab: NetnsLab, pki: Path) -> None:
    ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ns)
    st = Station(1, pair.a, tls=SeccTls("both", pki).context(), tls_mode="both")
    st.ep.iso20 = Iso20Evse(st.view)
    await st.ep.start()
    try:
        plain = await run_ev(ns.name, pair.b, "iso20-dc", "--tls", "off", check=False)
        tls12 = await asyncio.to_thread(sap_over_tls12, ns, pair.b, st.ep.address, st.ep.tls_port or 0, pki)
        tls13 = await run_ev(
            ns.name, pair.b, "iso20-dc", "--tls", "iso20", "--station-tls", "both", "--pki", str(pki)
        )
        iso2_plain = await run_ev(ns.name, pair.b, "iso2-dc", "--tls", "off", "--seconds-per-loop", "1")
    finally:
        await st.ep.close()
    assert tls12 == {"supportedAppProtocolRes": {"ResponseCode": "Failed_NoNegotiation"}}
    for res in (plain,):
        r = res["results"][-1]
        assert r["outcome"] != "finished", r
        assert "NoNegotiation" in r["detail"] or "Failed" in r["detail"], r
    r13 = tls13["results"][-1]
    assert r13["outcome"] == "finished" and r13["tls"].startswith("TLSv1.3"), r13
    assert iso2_plain["results"][-1]["outcome"] == "finished"
    started = [e.protocol for e in st.events if isinstance(e, SessionStarted)]
    assert started == ["iso20", "iso2"], started  # -20 only on the TLS 1.3 connection
