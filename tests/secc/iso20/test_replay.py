"""Replay of the ISO 15118-20 captures in ../shared/captures against our -20 SECC core, from the raw bytes.

``ISO-20_BPT_AC_DS5366_Josev`` is plain TCP (AC BPT, scheduled); the two DC captures (TLS 1.3, one with mutual
authentication; DC, dynamic) are decrypted with the secrets disclosed in the capture itself
(:func:`josev.tls.decrypt.decrypt_session`). Each EV request (its V2GTP frame, unchanged) goes through an
:class:`~josev.secc.session.SeccSession` (the one connection core); every answer must have the recorded payload type,
message type, response code and EVSEProcessing. The station follows the recording where it has a choice: the
SessionID and ScheduleTupleID the recorded SECC assigned, the numbering of its parameter sets, and when its
isolation test finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from josev.secc.iso20 import SPEC as ISO20
from josev.secc.iso20.context import DYNAMIC, SCHEDULED, Iso20Config
from josev.secc.session import SeccSession, SessionConfig
from josev.v2g import v2gtp
from josev.v2g.codec import ExiCodec
from tests.secc.pcap import tcp_connections, v2gtp_payloads

from .helpers import EXI, station

SHARED = Path(__file__).resolve().parents[4] / "shared"
CAPTURES = SHARED / "captures"
pytestmark = [
    pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared (captures) is not present"),
    pytest.mark.skipif(not EXI, reason="the EXI codec is not built"),
]

Frames = list[tuple[int, bytes]]


def plain(name: str) -> tuple[Frames, Frames]:
    (conn,) = [c for c in tcp_connections(CAPTURES / name) if v2gtp_payloads(c.client)]
    return v2gtp_payloads(conn.client), v2gtp_payloads(conn.server)


def decrypted(name: str) -> tuple[Frames, Frames]:
    from josev.tls.decrypt import decrypt_session
    from josev.tls.keylog import parse_disclosure
    from tests.tls.pcap import tcp6_streams, udp6

    path = CAPTURES / name
    keylog = [kl for _, _, p in udp6(path) for kl in parse_disclosure(p)]
    streams = tcp6_streams(path)
    (c2s,) = [k for k in streams if k[1][1] == 55119]
    s = decrypt_session(streams[c2s], streams[(c2s[1], c2s[0])], keylog)
    return v2gtp_payloads(s.client_app), v2gtp_payloads(s.server_app)


def _decode(codec: ExiCodec, ptype: int, payload: bytes) -> dict[str, Any]:
    return codec.decode(ISO20.payload_schemas.get(ptype, "sap"), payload)


def replay(ev: Frames, secc: Frames) -> list[str]:
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
    mine = DYNAMIC if dynamic else SCHEDULED
    other = SCHEDULED if dynamic else DYNAMIC
    modes = (mine, other) if pset == 1 else (other, mine)
    conn = SeccSession(
        st,
        0.0,
        codec=codec,
        config=SessionConfig(new_session_id=lambda: sid),
        iso20=Iso20Config(control_modes=modes),
    )
    seen: list[str] = []
    assert len(ev) == len(secc)
    for i, ((ptype, payload), (rtype, _rp)) in enumerate(zip(ev, secc, strict=True)):
        want = next(iter(recorded[i].values()))
        name = next(iter(recorded[i]))
        if name == "DC_CableCheckRes":
            st.view.isolation = "Valid" if want["EVSEProcessing"] == "Finished" else "Invalid"
        if name == "DC_PreChargeRes":
            st.view.present_voltage = 460.0
        out = conn.receive(v2gtp.frame(ptype, payload), float(i))
        assert len(out.send) == 1, f"no answer to {next(iter(requests[i]))}: {out.events}"
        got_type = int.from_bytes(out.send[0][2:4], "big")
        got = _decode(codec, got_type, out.send[0][8:])
        assert got_type == rtype, name
        assert next(iter(got)) == name
        body = next(iter(got.values()))
        assert body.get("ResponseCode") == want.get("ResponseCode"), (name, body)
        assert body.get("EVSEProcessing") == want.get("EVSEProcessing"), name
        seen.append(name)
    assert conn.closed and conn.state == "Ended"
    return seen


def test_replay_iso20_ac_bpt_capture() -> None:
    seen = replay(*plain("ISO-20_BPT_AC_DS5366_Josev.pcapng"))
    assert seen.count("AC_ChargeLoopRes") >= 10 and seen[-1] == "SessionStopRes"


@pytest.mark.parametrize(
    "name", ["ISO-20_TLS13_DC_DS5366_Josev.pcapng", "ISO-20_mTLS_DC_DS5366_Josev.pcapng"]
)
def test_replay_iso20_dc_tls_captures(name: str) -> None:
    seen = replay(*decrypted(name))
    assert {"DC_CableCheckRes", "DC_PreChargeRes", "DC_ChargeLoopRes", "DC_WeldingDetectionRes"} <= set(seen)
    assert seen[-1] == "SessionStopRes"


def test_replay_vectors_decode_and_answer_in_kind() -> None:
    """Every -20 request vector of captured_exi.jsonl decodes with our codec to EXIficient's reading."""
    import json

    codec = ExiCodec()
    n = 0
    for line in (SHARED / "vectors" / "captured_exi.jsonl").read_text().splitlines():
        v = json.loads(line)
        if v["family"] in ("cm", "ac") and v["message"].endswith("Req"):
            schema = "iso20-cm" if v["family"] == "cm" else "iso20-ac"
            assert codec.decode(schema, bytes.fromhex(v["exi_hex"])) == v["exificient_json"]
            n += 1
    assert n >= 20
