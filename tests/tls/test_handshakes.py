"""Real TLS handshakes on loopback between the SECC and EVCC contexts, good and refused."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import pytest

from josev.tls import evcc_context, policy_for, secc_context
from josev.tls.contexts import ISO2_CIPHERS, ISO20_CIPHERSUITES, Mode, TlsConfigError

from .conftest import Dirs, tls_pair

LOG = "josev.tls.session"


def secc(d: Path, mode: Mode = "iso2", **kw: Any) -> ssl.SSLContext:
    return secc_context(mode, d / "chains" / "secc.pem", d / "keys" / "secc_leaf.key", **kw)


def ev(d: Path, mode: Mode = "iso2", **kw: Any) -> ssl.SSLContext:
    return evcc_context(mode, d / "certs" / "v2g_root.pem", **kw)


async def test_iso2_tls12_good(pki_dirs: Dirs) -> None:
    r = await tls_pair(secc(pki_dirs.iso2), policy_for("iso2"), ev(pki_dirs.iso2), policy_for("iso2"))
    assert r.server is not None and r.client is not None
    assert r.server.version == r.client.version == "TLSv1.2"
    assert r.server.cipher == "ECDHE-ECDSA-AES128-SHA256" == ISO2_CIPHERS[0]
    assert r.client.peer_cert is not None and "DC=CPO" in r.client.peer_subject
    assert r.server.peer_cert is None  # -2: no client authentication
    assert r.payload == b"olleh"
    assert r.stats.accepted == 1 and not r.stats.refused


@pytest.mark.parametrize("profile", ["p521", "ed448"])
async def test_iso20_tls13_mutual(pki_dirs: Dirs, profile: str) -> None:
    d = getattr(pki_dirs, profile)
    server = secc(d, "iso20", oem_roots=d / "certs" / "oem_root.pem", strict=True)
    client = ev(
        d, "iso20", client_chain=d / "chains" / "oem.pem", client_key=d / "keys" / "oem_prov_leaf.key"
    )
    r = await tls_pair(server, policy_for("iso20"), client, policy_for("iso20"))
    assert r.server is not None and r.client is not None
    assert r.server.version == "TLSv1.3"
    assert r.server.cipher in ISO20_CIPHERSUITES
    assert r.server.mutual and "DC=OEM" in r.server.peer_subject
    assert r.payload == b"olleh"


async def test_iso20_without_client_cert_is_server_auth_only(pki_dirs: Dirs) -> None:
    d = pki_dirs.p521
    server = secc(d, "iso20", oem_roots=d / "certs" / "oem_root.pem")
    r = await tls_pair(server, policy_for("iso20"), ev(d, "iso20"), policy_for("iso20"))
    assert r.server is not None and not r.server.mutual


async def test_iso20_client_cert_required_but_missing(
    pki_dirs: Dirs, caplog: pytest.LogCaptureFixture
) -> None:
    d = pki_dirs.p521
    server = secc(d, "iso20", oem_roots=d / "certs" / "oem_root.pem", require_client_cert=True)
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(server, policy_for("iso20", True), ev(d, "iso20"), policy_for("iso20"))
    assert r.server is None
    assert r.stats.refused["client-cert"] == 1
    assert "presented no certificate" in caplog.text


async def test_iso20_foreign_oem_chain_refused(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    d, foreign = pki_dirs.p521, pki_dirs.rogue20
    server = secc(d, "iso20", oem_roots=d / "certs" / "oem_root.pem")
    client = ev(
        d,
        "iso20",
        client_chain=foreign / "chains" / "oem.pem",
        client_key=foreign / "keys" / "oem_prov_leaf.key",
    )
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(server, policy_for("iso20"), client, policy_for("iso20"))
    assert r.server is None
    assert r.stats.refused["chain"] == 1
    assert "refused: peer certificate rejected: unable to get local issuer certificate" in caplog.text


async def test_iso20_expired_oem_cert_refused(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    good, old = pki_dirs.iso2, pki_dirs.expired
    server = secc(good, "both", oem_roots=old / "certs" / "oem_root.pem")
    # the EV side loads its own expired chain without the pre-check (a broken EV would)
    client = ev(good, "iso20", strict=False)
    client.load_cert_chain(str(old / "chains" / "oem.pem"), str(old / "keys" / "oem_prov_leaf.key"))
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(server, policy_for("both"), client, policy_for("iso20"))
    assert r.server is None
    assert r.stats.refused["expired"] == 1
    assert "certificate has expired" in caplog.text


async def test_wrong_chain_refused_by_ev(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    server = secc(pki_dirs.rogue)  # chain to a V2G root the EV does not trust
    with caplog.at_level(logging.WARNING):
        r = await tls_pair(server, policy_for("iso2"), ev(pki_dirs.iso2), policy_for("iso2"))
    assert r.server is None and r.client is None
    assert r.client_error is not None and r.client_error.reason == "chain"
    assert "unable to get local issuer certificate" in str(r.client_error)
    # the SECC sees the EV's unknown_ca alert, or just the reset if the alert was lost
    assert r.stats.refused["chain"] + r.stats.refused["closed"] == 1


async def test_expired_secc_cert_refused_by_ev(pki_dirs: Dirs) -> None:
    d = pki_dirs.expired
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # a misconfigured SECC: no pre-check
    server.load_cert_chain(str(d / "chains" / "secc.pem"), str(d / "keys" / "secc_leaf.key"))
    r = await tls_pair(server, policy_for("both"), ev(d), policy_for("iso2"))
    assert r.client_error is not None and r.client_error.reason == "expired"
    assert "certificate has expired" in str(r.client_error)
    assert r.stats.refused["expired"] + r.stats.refused["closed"] == 1


def test_secc_refuses_to_start_with_expired_cert(pki_dirs: Dirs) -> None:
    with pytest.raises(TlsConfigError, match="expired on"):
        secc(pki_dirs.expired)


def test_secc_refuses_mismatched_key(pki_dirs: Dirs) -> None:
    with pytest.raises(TlsConfigError, match="does not belong"):
        secc_context("iso2", pki_dirs.iso2 / "chains" / "secc.pem", pki_dirs.rogue / "keys" / "secc_leaf.key")


async def test_wrong_cipher_offered_tls12(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    d = pki_dirs.iso2
    client = ev(d, ciphers=["ECDHE-ECDSA-AES256-GCM-SHA384"])
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(secc(d), policy_for("iso2"), client, policy_for("iso2"))
    assert r.server is None and r.client_error is not None
    assert r.stats.refused["cipher"] == 1
    assert "no cipher suite in common" in caplog.text


async def test_wrong_cipher_offered_tls13(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    d = pki_dirs.p521
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.minimum_version = ssl.TLSVersion.TLSv1_3
    client.check_hostname = False
    client.load_verify_locations(str(d / "certs" / "v2g_root.pem"))
    from josev.tls import _openssl

    assert _openssl.set_tls13_ciphersuites(client, "TLS_AES_128_GCM_SHA256")
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(secc(d, "iso20"), policy_for("iso20"), client, policy_for("iso20"))
    assert r.server is None and r.client_error is not None
    assert r.stats.refused["cipher"] == 1
    assert "no cipher suite in common" in caplog.text


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls_version_too_low_for_iso2(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    d = pki_dirs.iso2
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.minimum_version = ssl.TLSVersion.TLSv1_1
    client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("ALL:@SECLEVEL=0")
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(secc(d), policy_for("iso2"), client, policy_for("iso2"))
    assert r.server is None and r.client_error is not None
    assert r.stats.refused["version"] == 1
    assert "TLS version not allowed" in caplog.text


async def test_tls12_refused_by_iso20_secc(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    d = pki_dirs.p521
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(secc(d, "iso20"), policy_for("iso20"), client, policy_for("iso2"))
    assert r.server is None
    assert r.stats.refused["version"] == 1
    assert "TLS version not allowed" in caplog.text


async def test_both_mode_serves_either_generation(pki_dirs: Dirs) -> None:
    d = pki_dirs.iso2
    server = secc(d, "both", oem_roots=d / "certs" / "oem_root.pem")
    r12 = await tls_pair(server, policy_for("both"), ev(d, "iso2"), policy_for("iso2"))
    r13 = await tls_pair(server, policy_for("both"), ev(d, "iso20", strict=False), policy_for("iso20"))
    assert r12.server is not None and r12.server.version == "TLSv1.2"
    assert r13.server is not None and r13.server.version == "TLSv1.3"


async def test_refusals_do_not_stop_the_server(pki_dirs: Dirs) -> None:
    """A refused EV, then a good one, on the same listening server and context."""
    import asyncio

    from josev.tls import TlsStats, accept_tls, connect_tls

    d = pki_dirs.iso2
    ctx, pol, stats = secc(d), policy_for("iso2"), TlsStats()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await accept_tls(reader, writer, ctx, pol, handshake_timeout=3.0, stats=stats):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for _ in range(3):
            writer = (await asyncio.open_connection("127.0.0.1", port))[1]
            writer.write(b"GET / HTTP/1.0\r\n\r\n")  # not TLS at all
            await writer.drain()
            writer.close()
        _, w, info = await connect_tls("127.0.0.1", port, ev(d), pol, handshake_timeout=3.0)
        w.close()
        for _ in range(50):
            if stats.accepted == 1 and sum(stats.refused.values()) == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        server.close()
        await server.wait_closed()
    assert info.version == "TLSv1.2"
    assert stats.accepted == 1 and sum(stats.refused.values()) == 3


async def test_policy_refuses_suite_the_context_let_through(
    pki_dirs: Dirs, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: a context without the TLS 1.3 suite restriction (e.g. on a Python where
    josev.tls._openssl cannot reach OpenSSL) still cannot carry a session outside the -20 policy."""
    d = pki_dirs.p521
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # OpenSSL defaults: AES-128-GCM allowed
    server.minimum_version = ssl.TLSVersion.TLSv1_3
    server.load_cert_chain(str(d / "chains" / "secc.pem"), str(d / "keys" / "secc_leaf.key"))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(str(d / "certs" / "v2g_root.pem"))
    from josev.tls import _openssl

    assert _openssl.set_tls13_ciphersuites(client, "TLS_AES_128_GCM_SHA256")
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(server, policy_for("iso20"), client, policy_for("both"))
    assert r.server is None and r.stats.refused["policy"] == 1
    assert "cipher suite TLS_AES_128_GCM_SHA256 not allowed" in caplog.text


def _client13(d: Path, groups: str) -> ssl.SSLContext:
    from josev.tls import _openssl

    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.minimum_version = ssl.TLSVersion.TLSv1_3
    client.check_hostname = False
    client.load_verify_locations(str(d / "certs" / "v2g_root.pem"))
    assert _openssl.set_groups(client, groups)
    return client


@pytest.mark.parametrize("group", ["secp521r1", "X448"])
async def test_iso20_groups_accepted_when_strict(pki_dirs: Dirs, group: str) -> None:
    d = pki_dirs.ed448
    r = await tls_pair(
        secc(d, "iso20", strict=True), policy_for("iso20"), _client13(d, group), policy_for("iso20")
    )
    assert r.server is not None and r.server.version == "TLSv1.3"


async def test_iso20_strict_refuses_other_groups(pki_dirs: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    d = pki_dirs.p521
    with caplog.at_level(logging.WARNING, LOG):
        r = await tls_pair(
            secc(d, "iso20", strict=True),
            policy_for("iso20"),
            _client13(d, "prime256v1"),
            policy_for("iso20"),
        )
    assert r.server is None
    assert r.stats.refused["group"] == 1
    assert "no key-exchange group in common" in caplog.text
    # without strict, secp256r1-only EVs (like the open-source Josev EV) are served
    r = await tls_pair(secc(d, "iso20"), policy_for("iso20"), _client13(d, "prime256v1"), policy_for("iso20"))
    assert r.server is not None
