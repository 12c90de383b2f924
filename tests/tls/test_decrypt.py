"""Offline decryption from disclosed secrets: the encrypted field captures, and our own sessions recorded by a
TCP relay between our EV and SECC contexts."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from cryptography import x509

from josev.pki import load_pki
from josev.tls import _openssl, accept_tls, connect_tls, evcc_context, policy_for, secc_context
from josev.tls.contexts import Mode
from josev.tls.decrypt import DecryptError, decrypt_session
from josev.tls.keylog import KeyLogLine, parse_disclosure, parse_keylog_line

from .conftest import Dirs
from .pcap import tcp6_streams, udp6

SHARED = Path(__file__).resolve().parents[3] / "shared"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (captures) is not present")

CAPTURES = {
    "ISO-20_TLS13_DC_DS5366_Josev.pcapng": ("TLSv1.3", {0x8001, 0x8002, 0x8004}),
    "ISO-20_mTLS_DC_DS5366_Josev.pcapng": ("TLSv1.3", {0x8001, 0x8002, 0x8004}),
    "ISO-2_DC_PnC_TLS_Contract_DS5366_RiseV2G.pcapng": ("TLSv1.2", {0x8001}),
    "ISO-2_DC_PnC_TLS_CertInstallation_DS5366_RiseV2G.pcapng": ("TLSv1.2", {0x8001}),
    "ISO-2_DC_PnC_TLS_CertUpdate_DS5366_RiseV2G.pcapng": ("TLSv1.2", {0x8001}),
    "ISO-2_AC_PnC_TLS_Contract_MeteringReceipt_DS5366_RiseV2G.pcapng": ("TLSv1.2", {0x8001}),
}


def v2gtp_types(stream: bytes) -> list[int]:
    """Payload types of a V2GTP stream; asserts the framing consumes it exactly."""
    i, types = 0, []
    while i < len(stream):
        assert stream[i : i + 2] == b"\x01\xfe", f"no V2GTP header at {i}"
        ptype, length = struct.unpack_from(">HI", stream, i + 2)
        types.append(ptype)
        i += 8 + length
    assert i == len(stream)
    return types


def _capture(name: str) -> tuple[bytes, bytes, list[KeyLogLine]]:
    path = SHARED / "captures" / name
    keylog = [kl for _, _, p in udp6(path) for kl in parse_disclosure(p)]
    streams = tcp6_streams(path)
    (c2s,) = [k for k in streams if k[1][1] == 55119]
    return streams[c2s], streams[(c2s[1], c2s[0])], keylog


@needs_shared
@pytest.mark.parametrize("name", list(CAPTURES))
def test_decrypt_field_capture(name: str) -> None:
    version, ptypes = CAPTURES[name]
    client, server, keylog = _capture(name)
    s = decrypt_session(client, server, keylog)
    assert s.version == version
    assert s.cipher == ("TLS_AES_256_GCM_SHA384" if version == "TLSv1.3" else "ECDHE-ECDSA-AES128-SHA256")
    ev, secc = v2gtp_types(s.client_app), v2gtp_types(s.server_app)
    assert set(ev) == set(secc) == ptypes
    assert ev[0] == secc[0] == 0x8001  # supportedAppProtocol first
    assert len(ev) == len(secc) > 30  # one response per request, a whole session


@needs_shared
def test_wrong_or_missing_secret_is_an_error() -> None:
    client, server, keylog = _capture("ISO-20_TLS13_DC_DS5366_Josev.pcapng")
    bad = [
        KeyLogLine(k.label, k.client_random, ("00" if k.secret[:2] != "00" else "11") + k.secret[2:])
        for k in keylog
    ]
    with pytest.raises(DecryptError, match="does not authenticate"):
        decrypt_session(client, server, bad)
    with pytest.raises(DecryptError, match=r"no TLS 1\.3 handshake secrets"):
        decrypt_session(client, server, [])
    client2, server2, keylog2 = _capture("ISO-2_DC_PnC_TLS_Contract_DS5366_RiseV2G.pcapng")
    bad2 = [KeyLogLine(k.label, k.client_random, "ff" + k.secret[2:]) for k in keylog2]
    with pytest.raises(DecryptError, match="master secret does not match"):
        decrypt_session(client2, server2, bad2)


@needs_shared
def test_our_secc_profile_matches_the_field_test_pki(pki_dirs: Dirs) -> None:
    """The SECC chain in the ISO-2 PnC capture (dSPACE test PKI) has the extension profile ours has."""
    from josev.tls.decrypt import CT_HANDSHAKE, records

    _, server, _ = _capture("ISO-2_DC_PnC_TLS_Contract_DS5366_RiseV2G.pcapng")
    hs = b"".join(f for t, _, f in records(server)[:6] if t == CT_HANDSHAKE)
    i, field = 0, list[x509.Certificate]()
    while i + 4 <= len(hs) and not field:
        mtype, length = hs[i], int.from_bytes(hs[i + 1 : i + 4], "big")
        body, j = hs[i + 4 : i + 4 + length], 3
        while mtype == 11 and j < len(body):
            n = int.from_bytes(body[j : j + 3], "big")
            field.append(x509.load_der_x509_certificate(body[j + 3 : j + 3 + n]))
            j += 3 + n
        i += 4 + length
    ours = load_pki(pki_dirs.iso2)

    def profile(c: x509.Certificate) -> tuple[object, ...]:
        bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
        ku = c.extensions.get_extension_for_class(x509.KeyUsage)
        dc = [a.value for a in c.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)]
        exts = sorted(e.oid.dotted_string for e in c.extensions)
        return (
            bc.critical,
            bc.value.ca,
            bc.value.path_length,
            ku.critical,
            str(ku.value),
            dc,
            exts,
            c.signature_algorithm_oid,
        )

    assert [profile(c) for c in field] == [
        profile(ours.cert(n)) for n in ("secc_leaf", "cpo_sub_ca2", "cpo_sub_ca1")
    ]


async def _relay_session(
    d: Path, mode: Mode, ev_suites: str | None = None
) -> tuple[bytes, bytes, Path, bytes]:
    """EV -> relay -> SECC over loopback; the relay records both directions; the EV logs its secrets."""
    keylog = d.parent.parent / f"relay-{mode}-{ev_suites}.keys"
    keylog.unlink(missing_ok=True)
    server_ctx = secc_context(mode, d / "chains" / "secc.pem", d / "keys" / "secc_leaf.key")
    client_ctx = evcc_context(mode, d / "certs" / "v2g_root.pem", keylog=keylog)
    if ev_suites:
        assert _openssl.set_tls13_ciphersuites(client_ctx, ev_suites)
    up, down = bytearray(), bytearray()

    async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, sink: bytearray) -> None:
        while data := await r.read(65536):
            sink += data
            w.write(data)
            await w.drain()
        w.close()

    async def relay(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", secc_port)
        await asyncio.gather(pump(r, uw, up), pump(ur, w, down), return_exceptions=True)

    async def secc_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if await accept_tls(r, w, server_ctx, policy_for(mode), handshake_timeout=3.0):
            w.write((await r.read(100))[::-1])
            await w.drain()
            w.close()

    secc_srv = await asyncio.start_server(secc_handler, "127.0.0.1", 0)
    secc_port = secc_srv.sockets[0].getsockname()[1]
    relay_srv = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        port = relay_srv.sockets[0].getsockname()[1]
        reader, writer, _ = await connect_tls(
            "127.0.0.1", port, client_ctx, policy_for(mode), handshake_timeout=3.0
        )
        writer.write(b"\x01\xfe\x80\x01\x00\x00\x00\x03abc")
        await writer.drain()
        echo = await asyncio.wait_for(reader.read(100), 3.0)
        writer.close()
        await asyncio.sleep(0.05)
    finally:
        relay_srv.close()
        secc_srv.close()
    return bytes(up), bytes(down), keylog, echo


@pytest.mark.parametrize(
    ("mode", "suites", "cipher"),
    [
        ("iso2", None, "ECDHE-ECDSA-AES128-SHA256"),
        ("iso20", None, "TLS_AES_256_GCM_SHA384"),
        ("iso20", "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    ],
)
async def test_decrypt_our_own_session(pki_dirs: Dirs, mode: Mode, suites: str | None, cipher: str) -> None:
    d = pki_dirs.iso2 if mode == "iso2" else pki_dirs.p521
    up, down, keylog, echo = await _relay_session(d, mode, suites)
    lines = [kl for x in keylog.read_text().splitlines() if (kl := parse_keylog_line(x))]
    s = decrypt_session(up, down, lines)
    assert s.cipher == cipher
    assert s.client_app == b"\x01\xfe\x80\x01\x00\x00\x00\x03abc"
    assert s.server_app == echo == s.client_app[::-1]
