"""Key disclosure: key log file (only when enabled, mode 0600) and dsV2Gshark UDP datagrams."""

from __future__ import annotations

import os
import socket
import ssl
import stat
from pathlib import Path

import pytest

from josev.tls import KeyDisclosure, UdpDisclosure, evcc_context, policy_for, secc_context
from josev.tls.contexts import Mode
from josev.tls.keylog import (
    DISCLOSURE_PORT,
    KeyLogLine,
    KeyLogTail,
    disclosure_datagrams,
    parse_disclosure,
    parse_keylog_line,
)

from .conftest import Dirs, tls_pair
from .pcap import udp6

SHARED = Path(__file__).resolve().parents[3] / "shared"


def _ctxs(
    d: Path, mode: Mode, server_keylog: Path | None = None, client_keylog: Path | None = None
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    s = secc_context(mode, d / "chains" / "secc.pem", d / "keys" / "secc_leaf.key", keylog=server_keylog)
    c = evcc_context(mode, d / "certs" / "v2g_root.pem", keylog=client_keylog)
    return s, c


async def test_keylog_off_by_default(pki_dirs: Dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    s, c = _ctxs(pki_dirs.iso2, "iso2")
    assert s.keylog_filename is None and c.keylog_filename is None
    r = await tls_pair(s, policy_for("iso2"), c, policy_for("iso2"))
    assert r.server is not None
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("mode", "labels"),
    [
        ("iso2", {"CLIENT_RANDOM"}),
        (
            "iso20",
            {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "EXPORTER_SECRET",
                "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_TRAFFIC_SECRET_0",
            },
        ),
    ],
)
async def test_keylog_written_when_enabled(
    pki_dirs: Dirs, tmp_path: Path, mode: Mode, labels: set[str]
) -> None:
    d = pki_dirs.iso2 if mode == "iso2" else pki_dirs.p521
    skl, ckl = tmp_path / "secc.keys", tmp_path / "ev.keys"
    s, c = _ctxs(d, mode, skl, ckl)
    r = await tls_pair(s, policy_for(mode), c, policy_for(mode))
    assert r.server is not None
    assert stat.S_IMODE(skl.stat().st_mode) == 0o600
    server_lines = [parse_keylog_line(x) for x in skl.read_text().splitlines() if not x.startswith("#")]
    client_lines = [parse_keylog_line(x) for x in ckl.read_text().splitlines() if not x.startswith("#")]
    assert all(server_lines) and {kl.label for kl in server_lines if kl} == labels
    # both ends derived the same secrets: the lines are right, not just well-formed
    assert sorted(map(str, server_lines)) == sorted(map(str, client_lines))


@pytest.mark.parametrize(("mode", "count"), [("iso2", 1), ("iso20", 5)])
async def test_udp_disclosure_datagrams(pki_dirs: Dirs, tmp_path: Path, mode: Mode, count: int) -> None:
    rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    rx.bind(("::1", 0))
    rx.settimeout(2.0)
    udp = UdpDisclosure(target=("::1", rx.getsockname()[1]), source_port=0)
    disclosure = KeyDisclosure(udp=udp)  # private temp key log only
    private = disclosure.path
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    d = pki_dirs.iso2 if mode == "iso2" else pki_dirs.p521
    s = secc_context(mode, d / "chains" / "secc.pem", d / "keys" / "secc_leaf.key", keylog=private)
    c = evcc_context(mode, d / "certs" / "v2g_root.pem", keylog=tmp_path / "ev.keys")
    try:
        r = await tls_pair(s, policy_for(mode), c, policy_for(mode), server_disclosure=disclosure)
        assert r.server is not None
        got = []
        for _ in range(count):
            payload, _addr = rx.recvfrom(2048)
            assert not payload.endswith(b"\n")
            lines = parse_disclosure(payload)
            assert len(lines) == 1
            got.append(str(lines[0]))
        expected = [x for x in (tmp_path / "ev.keys").read_text().splitlines() if x and not x.startswith("#")]
        assert sorted(got) == sorted(expected)
        assert udp.sent == count
    finally:
        disclosure.close()
        rx.close()
    assert not private.exists()


def test_keylog_tail_waits_for_complete_lines(tmp_path: Path) -> None:
    f = tmp_path / "k"
    f.write_text("")
    tail = KeyLogTail(f)
    line = "CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48
    with f.open("a") as fh:
        fh.write("# comment\n" + line[:50])
    assert tail.read_new() == []
    with f.open("a") as fh:
        fh.write(line[50:] + "\n")
    assert [str(x) for x in tail.read_new()] == [line]
    assert tail.read_new() == []


def test_line_parser_rejects_garbage() -> None:
    assert parse_keylog_line("CLIENT_RANDOM 00 11") is None
    assert parse_keylog_line("SOMETHING " + "ab" * 32 + " " + "cd" * 48) is None
    assert parse_keylog_line("CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 32) is None  # TLS 1.2 needs 48 bytes
    assert parse_disclosure(b"\xff\xfe") == []
    assert parse_disclosure(b"hello world") == []
    kl = KeyLogLine("SERVER_TRAFFIC_SECRET_0", "ab" * 32, "cd" * 48)
    assert parse_disclosure(disclosure_datagrams([kl])[0]) == [kl]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (captures) is not present")
@pytest.mark.parametrize(
    "capture", ["ISO-2_DC_PnC_TLS_Contract_DS5366_RiseV2G.pcapng", "ISO-20_TLS13_DC_DS5366_Josev.pcapng"]
)
def test_disclosure_format_matches_field_captures(capture: str) -> None:
    """The DS5366's disclosure datagrams parse with our parser and have exactly the shape we send."""
    found = [(sp, dp, p) for sp, dp, p in udp6(SHARED / "captures" / capture) if parse_disclosure(p)]
    assert found
    for sport, dport, payload in found:
        assert (sport, dport) == (DISCLOSURE_PORT, DISCLOSURE_PORT)
        (kl,) = parse_disclosure(payload)
        # re-encoding with our formatter gives the same bytes, modulo the hex case the DS5366 uses
        assert disclosure_datagrams([kl])[0] == payload.lower().replace(
            kl.label.lower().encode(), kl.label.encode()
        )
