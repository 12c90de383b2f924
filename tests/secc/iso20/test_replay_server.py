"""Replay of the ISO 15118-20 captures through the real SECC server path: an
:class:`~josev.secc.server.EvseEndpoint` with -20 and a TLS 1.3 listener (a PKI made by ``josev pki``) on a veth
interface; the EV side of each capture (its V2GTP frames, unchanged) is sent over a real TLS 1.3 connection to
the endpoint's link-local address, and every answer must have the recorded payload type, message type, response
code and EVSEProcessing. The station follows the recording where it has a choice (see ``test_replay``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from josev.pki import build_pki, write_pki
from josev.pki.profiles import ISO20_P521
from josev.secc import v2gtp
from josev.secc.codec import ExiCodec
from josev.secc.iso20.context import DYNAMIC, SCHEDULED, Iso20Config
from josev.secc.server import EvseEndpoint
from josev.secc.session import SessionConfig
from josev.tls import connect_tls, evcc_context, policy_for, secc_context
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
