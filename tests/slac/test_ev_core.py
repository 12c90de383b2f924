"""EV SLAC core with a fake clock: retries, sounding schedule, choice, validation, joining."""

from __future__ import annotations

import pytest

from josev.slac.ev import E, EvSlac, EvSlacConfig, Validate
from josev.slac.events import AttemptFailed, EvMatched, SlacStatus, StatusChanged, ToggleRequest
from josev.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmMnbcSoundInd,
    CmSetKeyReq,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateCnf,
    CmValidateReq,
    VsOpAttributesCnf,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
)
from josev.slac.timers import SlacTimings
from tests.slac.harness import Harness, Rng
from tests.slac.samples import EV, EVSE, EVSE_ID, NID, NMK, PEV_ID

EVSE2 = bytes.fromhex("02aa00000002")
MODEM = bytes.fromhex("00b052000001")
T = SlacTimings()


def make(validate: Validate = Validate.NEVER, qca: bool = True) -> Harness:
    h = Harness(EvSlac(EvSlacConfig(mac=EV, pev_id=PEV_ID, validate=validate), rng=Rng()))
    h.call("probe_modem")
    if qca:
        h.rx(MODEM, VsOpAttributesCnf("QCA7000", "x", (1, 1, 0, 1)))
    else:
        h.advance(T.TT_modem_probe + 0.01)
    h.sent.clear()
    h.call("start")
    return h


def answer_parm(h: Harness, *evses: bytes) -> None:
    run = h.core.run_id
    for mac in evses:
        h.rx(mac, CmSlacParmCnf(forwarding_sta=EV, run_id=run))


def sound(h: Harness) -> None:
    h.advance(T.TT_match_response)  # end of the CNF collection window: sounding starts
    h.advance(0.5)
    assert h.state() is E.WAIT_ATTEN_CHAR


def atten(h: Harness, mac: bytes, db: int) -> None:
    h.rx(
        mac,
        CmAttenCharInd(
            source_address=EV, run_id=h.core.run_id, num_sounds=10, aag=(db,) * 58, resp_id=EVSE_ID
        ),
    )


def test_parm_req_retries_then_new_runs_then_failed() -> None:
    h = make()
    h.advance(T.TT_match_response * (T.C_EV_match_retry + 1) * T.C_conn_max_match + 0.01)
    reqs = h.pop(CmSlacParmReq)
    assert len(reqs) == (1 + T.C_EV_match_retry) * T.C_conn_max_match
    assert len({r.run_id for r in reqs}) == T.C_conn_max_match
    assert h.state() is E.FAILED and h.of(StatusChanged)[-1].status is SlacStatus.FAILED
    assert len(h.of(AttemptFailed)) == T.C_conn_max_match


def test_retry_uses_same_run_id() -> None:
    h = make()
    first = h.pop(CmSlacParmReq)[0]
    h.advance(T.TT_match_response + 1e-6)
    again = h.pop(CmSlacParmReq)
    assert again == [first] and h.sent == []


def test_sounding_schedule() -> None:
    h = make()
    answer_parm(h, EVSE)
    h.sent.clear()
    h.advance(T.TT_match_response)
    start = h.now
    h.advance(1.0)
    frames = [(f.dst, f.message) for f in h.sent]
    starts = [m for _, m in frames if isinstance(m, CmStartAttenCharInd)]
    sounds = [m for _, m in frames if isinstance(m, CmMnbcSoundInd)]
    assert len(starts) == T.C_EV_start_atten_char_inds and len(sounds) == T.C_EV_match_MNBC
    assert [s.count for s in sounds] == list(range(9, -1, -1))
    assert all(d == b"\xff" * 6 for d, _ in frames) and starts[0].num_sounds == 10
    assert h.state() is E.WAIT_ATTEN_CHAR
    # 13 frames, 12 intervals of TP_EV_batch_msg_interval, then TT_EV_atten_results
    assert h.deadline == pytest.approx(start + 12 * T.TP_EV_batch_msg_interval + T.TT_EV_atten_results)


def test_chooses_lowest_attenuation_and_joins() -> None:
    h = make()
    answer_parm(h, EVSE, EVSE2)
    sound(h)
    atten(h, EVSE, 40)
    atten(h, EVSE2, 18)
    rsps = h.pop(CmAttenCharRsp)
    assert len(rsps) == 2 and rsps[0].source_address == EV
    # both answered: the EV decides at once
    req = h.last(CmSlacMatchReq)
    assert req.evse_mac == EVSE2 and req.pev_mac == EV and h.sent[-1].dst == EVSE2
    h.rx(EVSE2, CmSlacMatchCnf(pev_mac=EV, evse_mac=EVSE2, run_id=h.core.run_id, nid=NID, nmk=NMK))
    key = h.last(CmSetKeyReq)
    assert (key.nmk, key.nid) == (NMK, NID) and h.of(EvMatched)[0].nmk == NMK
    h.advance(T.TP_link_ready_notification)
    assert h.pop(VsPlLnkStatusReq)
    h.rx(MODEM, VsPlLnkStatusCnf(1))
    assert h.state() is E.MATCHED and h.of(StatusChanged)[-1].status is SlacStatus.MATCHED


def test_atten_results_timeout_with_partial_answers() -> None:
    h = make()
    answer_parm(h, EVSE, EVSE2)
    sound(h)
    atten(h, EVSE, 30)
    h.advance(T.TT_EV_atten_results)
    assert h.last(CmSlacMatchReq).evse_mac == EVSE


def test_match_req_retries_then_next_candidate() -> None:
    h = make()
    answer_parm(h, EVSE, EVSE2)
    sound(h)
    atten(h, EVSE, 20)
    atten(h, EVSE2, 60)
    h.advance(T.TT_match_response * (T.C_EV_match_retry + 1) + 1e-6)
    reqs = h.pop(CmSlacMatchReq)
    assert [r.evse_mac for r in reqs] == [EVSE] * (T.C_EV_match_retry + 1) + [EVSE2]


def test_validation_success() -> None:
    h = make(Validate.ALWAYS)
    answer_parm(h, EVSE)
    sound(h)
    atten(h, EVSE, 20)
    assert h.last(CmValidateReq) == CmValidateReq(timer=0)
    h.rx(EVSE, CmValidateCnf(0, 1))
    second = h.last(CmValidateReq)
    assert second.timer == 8  # (2 x 1 toggle + 1) x 300 ms = 900 ms = (8 + 1) x 100 ms
    assert h.of(ToggleRequest) == [ToggleRequest(1, 0.3)]
    h.advance(0.9)
    h.rx(EVSE, CmValidateCnf(1, 2))
    assert h.last(CmSlacMatchReq).evse_mac == EVSE


def test_validation_not_required_goes_to_match() -> None:
    h = make(Validate.ALWAYS)
    answer_parm(h, EVSE)
    sound(h)
    atten(h, EVSE, 20)
    h.rx(EVSE, CmValidateCnf(0, 4))
    assert h.state() is E.WAIT_MATCH_CNF


def test_validation_mismatch_tries_next_evse() -> None:
    h = make(Validate.AMBIGUOUS)
    answer_parm(h, EVSE, EVSE2)
    sound(h)
    atten(h, EVSE, 20)
    atten(h, EVSE2, 21)  # within 3 dB: ambiguous, validate
    h.rx(EVSE, CmValidateCnf(0, 1))
    h.rx(EVSE, CmValidateCnf(0, 2))  # zero toggles seen: not the EVSE we are plugged into
    assert h.core.counters["validation_mismatch"] == 1
    assert h.core.chosen is not None and h.core.chosen.mac == EVSE2 and h.state() is E.VALIDATE_READY


def test_foreign_frames_counted() -> None:
    h = make()
    h.rx(EVSE, CmSlacParmCnf(forwarding_sta=EV, run_id=bytes(8)))
    h.rx(EVSE, CmSlacParmCnf(forwarding_sta=EVSE2, run_id=h.core.run_id))
    h.rx(EVSE, CmAttenCharInd(source_address=EV, run_id=h.core.run_id, num_sounds=1, aag=(1,)))
    h.rx_raw(b"\x00" * 10)
    c = h.core.counters
    assert (c["foreign_run_id"], c["foreign_ev"], c["foreign_evse"], c["truncated"]) == (1, 1, 1, 1)
    assert h.state() is E.WAIT_PARM_CNF


def test_stop_returns_to_idle() -> None:
    h = make()
    h.call("stop")
    assert h.state() is E.IDLE and h.deadline is None
