"""Issue 19, "debugging what a car did": the V2G log of a real session (our EV simulator against the SECC across
a veth pair) carries the real link-local addresses and ports of the session and of its SDP exchange, and the
V2G SessionID in the packet comments (read back with tshark); ``josev v2g show`` prints the decoded sequence
with timings, for our exports and for a real PLC capture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from josev.observability.pcapread import CaptureError, read_packets, v2g_frames
from josev.observability.v2glog import V2gRecorder
from josev.v2g.codec import exi_available
from tests.conftest import SHARED, needs_shared
from tests.hostile.lab import Station, run_ev
from tests.product.tshark import TSHARK, fields, needs_tshark
from tests.util.netns import CAN_NETNS, NetnsLab

ROOT = Path(__file__).resolve().parents[2]
needs_exi = pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built")


def show(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "josev", "v2g", "show", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


@needs_tshark
@needs_exi
@pytest.mark.netns
@pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)")
async def test_session_log_has_real_addresses_and_session_id(netns_lab: NetnsLab, tmp_path: Path) -> None:
    ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ns)
    rec = V2gRecorder(directory=tmp_path)
    st = Station(1, pair.a, recorder=rec)
    await st.ep.start()
    try:
        res = await run_ev(ns.name, pair.b, "iso2-dc", "--seconds-per-loop", "1", loops=3)
    finally:
        await st.ep.close()
    assert rec.flush()
    r = res["results"][-1]
    assert r["outcome"] == "finished"
    sid = r["session_id"]
    (path,) = tmp_path.glob("v2g-evse1-*.pcapng")  # noqa: ASYNC240
    ev_ip, secc_ip = pair.link_local("b"), pair.link_local("a")
    ev_mac, secc_mac = pair.mac("b").hex(":"), pair.mac("a").hex(":")

    tcp = fields(
        path, ["ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "eth.src"], "tcp.flags.syn == 1"
    )
    assert tcp[0] == [ev_ip, secc_ip, tcp[0][2], str(st.ep.tcp_port), ev_mac]  # the EV's SYN
    assert tcp[1][:4] == [secc_ip, ev_ip, str(st.ep.tcp_port), tcp[0][2]] and tcp[1][4] == secc_mac
    sdp = fields(path, ["ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport"], "udp")
    assert sdp[0][:2] == [ev_ip, "ff02::1"] and sdp[0][3] == "15118"
    assert sdp[1] == [secc_ip, ev_ip, "15118", sdp[0][2]]
    assert TSHARK is not None
    comments = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-T", "fields", "-e", "frame.comment"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"SessionID {sid}" in comments and "evse1 c1" in comments

    out = show(path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"# SessionID {sid}" in text
    assert "SDP      SECCDiscoveryReq security=no-TLS" in text
    assert f"SECCDiscoveryRes [{secc_ip}]:{st.ep.tcp_port}" in text
    assert "supportedAppProtocolRes OK_SuccessfulNegotiation urn:iso:15118:2:2013:MsgDef" in text
    assert "SessionSetupRes OK_NewSessionEstablished" in text
    lines = text.splitlines()
    assert sum("CurrentDemandReq" in x for x in lines) == 3
    assert sum("CurrentDemandRes OK" in x for x in lines) == 3
    assert all(" ms) SECC -> EV" in x for x in lines if "Res " in x)  # every response has its timing


@needs_shared
@needs_exi
def test_show_a_real_plc_capture() -> None:
    path = SHARED / "captures" / "ISO-2_DC_DS5366.pcapng"
    out = show(path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "CM_SLAC_PARM.REQ" in text and "CM_SLAC_MATCH.CNF" in text
    assert "# SessionID 9D7799360D2D747C" in text
    assert "SessionStopRes OK" in text
    frames = v2g_frames(read_packets(path.read_bytes()))
    assert sum(f.kind == "tcp" for f in frames) == sum(" c1 " in x for x in text.splitlines())


def test_show_refuses_what_is_not_a_capture(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcapng"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(4))
    with pytest.raises(CaptureError):
        read_packets(bad.read_bytes())
    bad.write_bytes(b"hello")
    out = show(bad)
    if exi_available():
        pytest.skip("the EXI codec is not built")
    assert out.returncode == 2 and "not a pcapng or pcap file" in out.stderr
