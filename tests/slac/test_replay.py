"""Replay real SLAC sessions (../shared captures) against our EVSE and EV cores.

The EVSE core gets the captured EV host's and modem's frames and must answer the way the captured EVSE did
(same run id, CM_ATTEN_CHAR.IND, CM_SLAC_MATCH.CNF); the EV core gets the captured EVSE's answers and must
end up installing the captured NMK in its modem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from josev.slac.errors import FrameError
from josev.slac.ev import E, EvSlac, EvSlacConfig, Validate
from josev.slac.evse import EvseSlac, EvseSlacConfig, S
from josev.slac.frame import Frame, encode_frame, parse_frame
from josev.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
)
from tests.slac.harness import Harness
from tests.slac.pcapng import ethernet_frames

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "captures"
SESSIONS = ["ISO-2_DC_DS5366.pcapng", "DIN_DC_DS5366_Josev.pcapng", "ISO-20_BPT_AC_DS5366_Josev.pcapng"]
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared is not present")


def session(name: str) -> list[Frame]:
    """The frames of the last complete matching run of a capture."""
    frames = []
    for raw in ethernet_frames(CAPTURES / name):
        try:
            frames.append(parse_frame(raw))
        except FrameError:
            continue
    match = [i for i, f in enumerate(frames) if isinstance(f.message, CmSlacMatchCnf)][-1]
    run_id = frames[match].message.run_id  # type: ignore[attr-defined]
    first = min(i for i, f in enumerate(frames) if getattr(f.message, "run_id", None) == run_id)
    return frames[first : match + 1]


@pytest.mark.parametrize("name", SESSIONS)
def test_our_evse_answers_a_captured_ev(name: str) -> None:
    frames = session(name)
    parm_cnf = next(f for f in frames if isinstance(f.message, CmSlacParmCnf))
    evse_mac, ev_mac = parm_cnf.src, parm_cnf.dst
    h = Harness(EvseSlac(EvseSlacConfig(mac=evse_mac)))
    h.call("start")
    h.rx(bytes.fromhex("00b052000001"), CmSetKeyCnf())
    h.call("cp_state", "B")
    h.sent.clear()
    ev_kinds = (
        CmSlacParmReq,
        CmStartAttenCharInd,
        CmMnbcSoundInd,
        CmAttenProfileInd,
        CmAttenCharRsp,
        CmSlacMatchReq,
    )
    for f in frames:
        if isinstance(f.message, ev_kinds):
            h.now += 0.02
            h.rx_raw(encode_frame(f.dst, f.src, f.message))
    run_id = parm_cnf.message.run_id  # type: ignore[attr-defined]
    cnf = h.last(CmSlacParmCnf)
    assert cnf.run_id == run_id and cnf.forwarding_sta == ev_mac
    atten = h.last(CmAttenCharInd)
    assert atten.num_sounds == 10 and len(atten.aag) == 58 and atten.source_address == ev_mac
    match = h.last(CmSlacMatchCnf)
    assert (match.pev_mac, match.evse_mac, match.run_id, match.nmk) == (ev_mac, evse_mac, run_id, h.core.nmk)
    assert h.state() in (S.JOINING, S.MATCHED)
    assert not (set(h.core.counters) - {"rx", "unexpected"}), h.core.counters


@pytest.mark.parametrize("name", SESSIONS)
def test_our_ev_joins_a_captured_evse(name: str) -> None:
    frames = session(name)
    parm_req = next(f for f in frames if isinstance(f.message, CmSlacParmReq))
    run_id = parm_req.message.run_id  # type: ignore[attr-defined]
    ev_mac = parm_req.src

    def rng(n: int) -> bytes:
        return run_id if n == 8 else bytes(n)

    h = Harness(EvSlac(EvSlacConfig(mac=ev_mac, validate=Validate.NEVER), rng=rng))
    h.call("start")
    assert h.last(CmSlacParmReq).run_id == run_id
    answers = {type(f.message): f for f in frames if f.dst == ev_mac}
    h.rx_raw(encode_frame(ev_mac, answers[CmSlacParmCnf].src, answers[CmSlacParmCnf].message))
    h.advance(0.2 + 13 * 0.02)
    assert h.state() is E.WAIT_ATTEN_CHAR
    ind = answers[CmAttenCharInd]
    h.rx_raw(encode_frame(ev_mac, ind.src, ind.message))
    assert h.last(CmAttenCharRsp).run_id == run_id
    req = h.last(CmSlacMatchReq)
    assert req.evse_mac == ind.src and req.run_id == run_id
    cnf = answers[CmSlacMatchCnf]
    h.rx_raw(encode_frame(ev_mac, cnf.src, cnf.message))
    key = h.last(CmSetKeyReq)
    assert key.nmk == cnf.message.nmk and key.nid == cnf.message.nid  # type: ignore[attr-defined]
    assert h.state() is E.JOINING
