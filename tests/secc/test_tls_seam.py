"""The seam left for issue 7: with a TLS context the endpoint also listens with TLS, SDP announces it to an
EV asking for TLS, and a session runs over it (here: supportedAppProtocol + SessionSetup with a throw-away
self-signed certificate; the V2G PKI, cipher policy and -20 are issue 7)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from josev.ev import messages as m
from josev.secc.evse import EvseView
from josev.secc.server import EvseEndpoint
from josev.v2g import sdp, v2gtp
from josev.v2g.codec import exi_available, make_codec
from tests.util.netns import NetnsLab

pytestmark = [pytest.mark.netns]


def _context(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SECC test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return ctx


async def test_tls_listener_announced_and_served(netns_lab: NetnsLab, tmp_path: Path) -> None:
    codec_name = "exi" if exi_available() is None else "json"
    codec = make_codec(codec_name)
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    ep = EvseEndpoint(1, pair.a, EvseView(), codec, tls=_context(tmp_path))
    await ep.start()
    try:
        assert ep.tls_port is not None and 49152 <= ep.tls_port <= 65535
        # the SDP logic as the endpoint configured it
        srv = sdp.SdpServer(ep.address, ep.tcp_port, ep.tls_port)
        res = sdp.decode_response(srv.handle(sdp.encode_request(sdp.SdpRequest(0x00, 0x00))) or b"")
        assert (res.port, res.security) == (ep.tls_port, sdp.Security.TLS)
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(
            f"{ep.address}%{pair.a}", ep.tls_port, ssl=client, family=socket.AF_INET6
        )
        writer.write(v2gtp.frame(0x8001, codec.encode("sap", m.sap_request("iso2"))))
        await writer.drain()
        d = v2gtp.Deframer()
        frames: list[v2gtp.Frame] = []
        while not frames:
            frames = d.feed(await asyncio.wait_for(reader.read(4096), 5))
        sap_res = codec.decode("sap", frames[0].payload)
        assert sap_res["supportedAppProtocolRes"]["ResponseCode"] == "OK_SuccessfulNegotiation"
        writer.close()
        assert writer.get_extra_info("cipher") is not None
    finally:
        await ep.close()
