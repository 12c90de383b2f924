"""Replay of the ISO 15118-20 captures through the real SECC server path: an
:class:`~josev.secc.server.EvseEndpoint` with -20 and a TLS 1.3 listener (a PKI made by ``josev pki``) on a veth
interface; the EV side of each capture (its V2GTP frames, unchanged) is sent over a real TLS 1.3 connection to
the endpoint's link-local address, and every answer must have the recorded payload type, message type, response
code and EVSEProcessing. The station follows the recording where it has a choice (see ``test_replay``). Also:
hostile peers on the TLS listener (not TLS, TLS 1.2, garbage V2GTP after the handshake) are refused or closed
and counted, and the next EV charges."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from josev.pki import build_pki, write_pki
from josev.pki.profiles import ISO20_P521
from josev.secc.iso20.context import DYNAMIC, SCHEDULED, Iso20Config
from josev.secc.server import EvseEndpoint
from josev.secc.session import SessionConfig
from josev.tls import connect_tls, evcc_context, policy_for, secc_context
from josev.v2g import v2gtp
from josev.v2g.codec import ExiCodec
from tests.util.netns import CAN_NETNS, NetnsLab

from .helpers import station
from .test_replay import CAPTURES, Frames, _decode, decrypted, plain

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pki(build_pki(ISO20_P521, now=dt.datetime.now(dt.UTC)), tmp_path_factory.mktemp("pki"))


async def replay_over_tls(lab: NetnsLab, pki: Path, ev: Frames, secc: Frames) -> list[str]:
    codec = ExiCodec()
    recorded = [_decode(codec, t, p) for t, p in secc]
    requests = [_decode(codec, t, p) for t, p in ev]
    by_name = {next(iter(r)): next(iter(r.values())) for r in recorded}
    sid = by_name["SessionSetupRes"]["Header"]["SessionID"]
    st = station()
    sched = by_name["ScheduleExchangeRes"].get("Scheduled_SEResControlMode")
    if sched:
        st.view.schedule_tuple_id = sched["ScheduleTuple"][0]["ScheduleTupleID"]
    chosen = next(r for r in requests if "ServiceSelectionReq" in r)["ServiceSelectionReq"]
    pset = chosen["SelectedEnergyTransferService"]["ParameterSetID"]
    dynamic = (
        "Dynamic_SEReqControlMode"
        in next(r for r in requests if "ScheduleExchangeReq" in r)["ScheduleExchangeReq"]
    )
    mine, other = (DYNAMIC, SCHEDULED) if dynamic else (SCHEDULED, DYNAMIC)
    modes = (mine, other) if pset == 1 else (other, mine)
    pair = lab.veth(None, lab.netns("ev"))
    ctx = secc_context(
        "iso20",
        pki / "chains" / "secc.pem",
        pki / "keys" / "secc_leaf.key",
        oem_roots=pki / "certs" / "oem_root.pem",
    )
    ep = EvseEndpoint(
        1,
        pair.a,
        st.view,
        codec,
        config=SessionConfig(new_session_id=lambda: sid),
        iso20=st,
        iso20_config=Iso20Config(control_modes=modes, price_levels=False),
        tls=ctx,
        tls_mode="iso20",
    )
    await ep.start()
    seen: list[str] = []
    try:
        assert ep.tls_port is not None
        cctx = evcc_context(
            "iso20",
            pki / "certs" / "v2g_root.pem",
            client_chain=pki / "chains" / "oem.pem",
            client_key=pki / "keys" / "oem_prov_leaf.key",
        )
        reader, writer, info = await connect_tls(
            f"{ep.address}%{pair.a}", ep.tls_port, cctx, policy_for("iso20")
        )
        assert info.version == "TLSv1.3"
        buf = b""
        for i, ((ptype, payload), (rtype, _rp)) in enumerate(zip(ev, secc, strict=True)):
            want = next(iter(recorded[i].values()))
            name = next(iter(recorded[i]))
            if name == "DC_CableCheckRes":
                st.view.isolation = "Valid" if want["EVSEProcessing"] == "Finished" else "Invalid"
            if name == "DC_PreChargeRes":
                st.view.present_voltage = 460.0
            writer.write(v2gtp.frame(ptype, payload))
            await writer.drain()
            while len(buf) < 8 or len(buf) < 8 + int.from_bytes(buf[4:8], "big"):
                data = await asyncio.wait_for(reader.read(65536), 5.0)
                assert data, f"connection closed before the answer to {next(iter(requests[i]))}"
                buf += data
            n = 8 + int.from_bytes(buf[4:8], "big")
            frame, buf = buf[:n], buf[n:]
            got_type = int.from_bytes(frame[2:4], "big")
            got = _decode(codec, got_type, frame[8:])
            assert got_type == rtype, name
            assert next(iter(got)) == name
            body = next(iter(got.values()))
            assert body.get("ResponseCode") == want.get("ResponseCode"), (name, body)
            assert body.get("EVSEProcessing") == want.get("EVSEProcessing"), name
            seen.append(name)
        writer.close()
    finally:
        await ep.close()
    assert ep.stats.sessions_ended.get("terminate") == 1, ep.stats.sessions_ended
    assert ep.tls_stats.accepted == 1
    return seen


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared (captures) is not present")
async def test_replay_iso20_ac_bpt_capture_over_the_server(netns_lab: NetnsLab, pki: Path) -> None:
    seen = await replay_over_tls(netns_lab, pki, *plain("ISO-20_BPT_AC_DS5366_Josev.pcapng"))
    assert seen.count("AC_ChargeLoopRes") >= 10 and seen[-1] == "SessionStopRes"


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared (captures) is not present")
@pytest.mark.parametrize(
    "name", ["ISO-20_TLS13_DC_DS5366_Josev.pcapng", "ISO-20_mTLS_DC_DS5366_Josev.pcapng"]
)
async def test_replay_iso20_dc_captures_over_the_server(netns_lab: NetnsLab, pki: Path, name: str) -> None:
    seen = await replay_over_tls(netns_lab, pki, *decrypted(name))
    assert {"DC_CableCheckRes", "DC_PreChargeRes", "DC_ChargeLoopRes", "DC_WeldingDetectionRes"} <= set(seen)
    assert seen[-1] == "SessionStopRes"


async def test_hostile_peers_on_the_tls_listener_do_not_hurt_the_next_ev(
    netns_lab: NetnsLab, pki: Path
) -> None:
    """A peer that is not TLS, a TLS 1.2 EV, and a TLS peer sending garbage V2GTP are refused / closed, counted,
    and the endpoint then serves a real session over the same listener."""
    import ssl

    from josev.secc.iso20.context import Iso20Evse

    pair = netns_lab.veth(None, netns_lab.netns("ev"))
    st = Iso20Evse(station().view, bpt=None)
    ctx = secc_context(
        "iso20",
        pki / "chains" / "secc.pem",
        pki / "keys" / "secc_leaf.key",
        oem_roots=pki / "certs" / "oem_root.pem",
    )
    from josev.secc.iso20.events import shared_events
    from josev.sim.supply import SimPowerSupply

    supply = SimPowerSupply()
    ep = EvseEndpoint(
        1,
        pair.a,
        st.view,
        ExiCodec(),
        iso20=st,
        tls=ctx,
        tls_mode="iso20",
        on_events=lambda _no, evs: supply.apply(st.view, shared_events(evs)),
    )
    await ep.start()
    host = f"{ep.address}%{pair.a}"
    try:
        assert ep.tls_port is not None
        # 1. plain bytes on the TLS port
        r, w = await asyncio.open_connection(host, ep.tls_port)
        w.write(b"\x01\xfe\x80\x01\x00\x00\x00\x02hi" * 3)
        await w.drain()
        data = await asyncio.wait_for(r.read(), 10)  # at most a TLS alert, then closed; never a V2GTP answer
        assert not data.startswith(b"\x01\xfe"), data
        w.close()
        # 2. a TLS 1.2-only EV
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            await asyncio.wait_for(
                asyncio.open_connection(host, ep.tls_port, ssl=old, server_hostname=""), 10
            )
        # 3. a good TLS handshake, then garbage V2GTP
        cctx = evcc_context(
            "iso20",
            pki / "certs" / "v2g_root.pem",
            client_chain=pki / "chains" / "oem.pem",
            client_key=pki / "keys" / "oem_prov_leaf.key",
        )
        r, w, _ = await connect_tls(host, ep.tls_port, cctx, policy_for("iso20"))
        w.write(b"\x02\xfd\x80\x01\x00\x00\x00\x00garbage")
        await w.drain()
        assert await asyncio.wait_for(r.read(), 10) == b""  # closed by the SECC (bad V2GTP header)
        w.close()
        # the endpoint still serves a real -20 session
        from josev.ev.iso20 import Iso20Behaviour
        from josev.ev.iso20.client import run_session

        res, info = await asyncio.wait_for(
            run_session(
                host, ep.tls_port, "iso20-dc", ExiCodec(), tls=cctx, behaviour=Iso20Behaviour(loops=2)
            ),
            20,
        )
        assert res.outcome == "finished", res.detail
        assert info is not None and info.version == "TLSv1.3"
    finally:
        await ep.close()
    assert ep.stats.errors == 0
    assert ep.tls_stats.accepted == 2 and sum(ep.tls_stats.refused.values()) >= 2, ep.tls_stats
    assert ep.stats.sessions_ended.get("v2gtp_error") == 1, ep.stats.sessions_ended
