"""EVSE SLAC core with a fake clock: every state, every timeout, retries, CM_VALIDATE, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev.slac.events import (
    AttemptFailed,
    KeyInstalled,
    ModemDetected,
    ModemVendor,
    SlacStatus,
    StatusChanged,
    ValidationWindow,
)
from josev.slac.evse import TRANSITIONS, EvseSlac, EvseSlacConfig, S, table
from josev.slac.frame import encode_frame
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
    CmValidateCnf,
    CmValidateReq,
    NscmGetDLinkStatusCnf,
    NscmGetDLinkStatusReq,
    NscmGetVersionCnf,
    VsOpAttributesCnf,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
)
from josev.slac.nid import nid_from_nmk
from josev.slac.timers import SlacTimings
from tests.slac.harness import Harness, Rng
from tests.slac.samples import EV, EVSE, EVSE_ID, PEV_ID, RUN

MODEM = bytes.fromhex("00b052000001")
OTHER_EV = bytes.fromhex("02cc00000009")
T = SlacTimings()


def make(vendor: ModemVendor = ModemVendor.QUALCOMM, **cfg: object) -> Harness:
    h = Harness(EvseSlac(EvseSlacConfig(mac=EVSE, evse_id=EVSE_ID, **cfg), rng=Rng()))  # type: ignore[arg-type]
    h.call("start")
    keys = h.pop(CmSetKeyReq)
    assert len(keys) == 1
    h.rx(MODEM, CmSetKeyCnf())
    if vendor is ModemVendor.QUALCOMM:
        h.rx(MODEM, VsOpAttributesCnf("QCA7000", "x", (1, 1, 0, 1)))
    elif vendor is ModemVendor.LUMISSIL:
        h.rx(MODEM, NscmGetVersionCnf((1, 2, 3, 4)))
    else:
        h.advance(T.TT_modem_probe + 0.01)
    assert h.core.modem.vendor is vendor
    return h


def plug(h: Harness) -> None:
    h.call("cp_state", "A")
    h.call("cp_state", "B")
    assert h.state() is S.WAIT_PARM
    h.rx(MODEM, CmSetKeyCnf())  # the modem confirms the session's key


def to_sounding(h: Harness, run: bytes = RUN) -> None:
    plug(h)
    h.rx(EV, CmSlacParmReq(run), dst=b"\xff" * 6)
    h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=run), dst=b"\xff" * 6)
    assert h.state() is S.SOUNDING


def profiles(h: Harness, n: int, base: int = 20) -> None:
    for i in range(n):
        h.rx(MODEM, CmAttenProfileInd(pev_mac=EV, aag=tuple([base + i % 2] * 58)))


def to_wait_match(h: Harness) -> None:
    to_sounding(h)
    profiles(h, 10)
    assert h.state() is S.WAIT_ATTEN_RSP
    h.rx(EV, CmAttenCharRsp(source_address=EV, run_id=RUN))
    assert h.state() is S.WAIT_MATCH


def match_req(run: bytes = RUN) -> CmSlacMatchReq:
    return CmSlacMatchReq(pev_mac=EV, evse_mac=EVSE, run_id=run, pev_id=PEV_ID)


def test_table_is_printable_and_every_action_exists() -> None:
    text = table()
    assert "wait_parm" in text and "CM_SLAC_MATCH.REQ" in text
    for (_state, _inp), (_nxt, action) in TRANSITIONS.items():
        assert callable(getattr(EvseSlac, "_a_" + action)), action
    assert {s for s, _ in TRANSITIONS} == set(S)


def test_start_probes_modem_and_installs_key() -> None:
    h = Harness(EvseSlac(EvseSlacConfig(mac=EVSE), rng=Rng()))
    h.call("start")
    names = [type(f.message).__name__ for f in h.sent]
    assert names == ["VsOpAttributesReq", "NscmGetVersionReq", "VsSwVerReq", "CmSetKeyReq"]
    key = h.last(CmSetKeyReq)
    assert key.nid == nid_from_nmk(key.nmk) and h.sent[-1].dst == MODEM
    h.rx(MODEM, CmSetKeyCnf(result=0))
    assert h.of(KeyInstalled)[0].nid == key.nid and h.core.key_confirmed


@pytest.mark.parametrize("vendor", list(ModemVendor))
def test_modem_detection(vendor: ModemVendor) -> None:
    h = make(vendor)
    assert h.of(ModemDetected)[-1].vendor is vendor


def test_set_key_is_retried_then_given_up() -> None:
    h = Harness(EvseSlac(EvseSlacConfig(mac=EVSE), rng=Rng()))
    h.call("start")
    h.pop(CmSetKeyReq)
    h.advance(10)
    assert len(h.pop(CmSetKeyReq)) == T.C_sequ_retry
    assert h.core.counters["set_key_timeout"] == 1


def test_plug_in_starts_matching_with_a_fresh_key() -> None:
    h = make()
    first = h.core.nmk
    plug(h)
    key = h.pop(CmSetKeyReq)[-1]
    assert h.of(KeyInstalled)[-1].nid == key.nid
    assert key.nmk != first and h.core.nmk == key.nmk
    assert h.of(StatusChanged)[-1].status is SlacStatus.MATCHING
    assert h.deadline == pytest.approx(h.now + T.TT_EVSE_SLAC_init)


def test_no_parm_req_within_slac_init_fails() -> None:
    h = make()
    plug(h)
    h.advance(T.TT_EVSE_SLAC_init - 0.01)
    assert h.state() is S.WAIT_PARM
    h.advance(0.02)
    assert h.state() is S.FAILED and h.status() is SlacStatus.FAILED
    h.call("cp_state", "A")
    assert h.state() is S.IDLE and h.status() is SlacStatus.UNMATCHED


def test_happy_path_parameters_and_keys() -> None:
    h = make()
    plug(h)
    key = h.pop(CmSetKeyReq)[-1]
    h.rx(EV, CmSlacParmReq(RUN), dst=b"\xff" * 6)
    cnf = h.last(CmSlacParmCnf)
    assert (cnf.forwarding_sta, cnf.run_id, cnf.num_sounds, cnf.timeout) == (EV, RUN, 10, 6)
    assert h.sent[-1].dst == EV
    assert h.deadline == pytest.approx(h.now + T.TT_match_sequence)
    h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=RUN), dst=b"\xff" * 6)
    assert h.deadline == pytest.approx(h.now + T.TT_EVSE_match_MNBC)
    h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=RUN), dst=b"\xff" * 6)
    h.rx(EV, CmMnbcSoundInd(sender_id=PEV_ID, count=9, run_id=RUN), dst=b"\xff" * 6)
    profiles(h, 10)
    ind = h.last(CmAttenCharInd)
    assert ind.num_sounds == 10 and ind.aag == tuple([20] * 58) and ind.source_address == EV
    assert ind.resp_id == EVSE_ID and h.state() is S.WAIT_ATTEN_RSP
    h.rx(EV, CmAttenCharRsp(source_address=EV, run_id=RUN))
    assert h.deadline == pytest.approx(h.now + T.TT_EVSE_match_session)
    h.rx(EV, match_req())
    m = h.last(CmSlacMatchCnf)
    assert (m.nmk, m.nid, m.run_id, m.pev_mac, m.evse_mac) == (key.nmk, key.nid, RUN, EV, EVSE)
    assert h.state() is S.JOINING and h.status() is SlacStatus.MATCHING
    h.advance(T.TP_link_ready_notification)
    assert h.pop(VsPlLnkStatusReq)
    h.rx(MODEM, VsPlLnkStatusCnf(0))
    assert h.state() is S.JOINING
    h.rx(MODEM, VsPlLnkStatusCnf(1))
    st = h.of(StatusChanged)[-1]
    assert (st.status, st.ev_mac, st.nid) == (SlacStatus.MATCHED, EV, key.nid)
    assert h.state() is S.MATCHED and not h.core.counters["unexpected"]


def test_lumissil_link_detection() -> None:
    h = make(ModemVendor.LUMISSIL)
    to_wait_match(h)
    h.rx(EV, match_req())
    h.advance(T.TP_link_ready_notification)
    assert h.pop(NscmGetDLinkStatusReq)
    h.rx(MODEM, NscmGetDLinkStatusCnf(1))
    assert h.status() is SlacStatus.MATCHED


def test_unknown_modem_reports_matched_after_match_cnf() -> None:
    h = make(ModemVendor.UNKNOWN)
    to_wait_match(h)
    h.rx(EV, match_req())
    assert h.status() is SlacStatus.MATCHED


def test_no_start_atten_char_within_match_sequence() -> None:
    """A host that only ever asks (CM_SLAC_PARM.REQ, then nothing) uses up its own attempts and is then ignored;
    the station fails when TT_EVSE_SLAC_init passes without another host matching (issue 22: before, it failed
    at once, so a foreign host's requests locked the car out)."""
    h = make()
    plug(h)
    for attempt in range(1, T.C_conn_max_match + 1):
        h.rx(EV, CmSlacParmReq(RUN), dst=b"\xff" * 6)
        assert h.state() is S.WAIT_START_ATTEN
        h.advance(T.TT_match_sequence + 0.001)
        assert h.of(AttemptFailed)[-1].attempt == attempt
    assert h.state() is S.WAIT_PARM and EV in h.core.blocked
    h.rx(EV, CmSlacParmReq(RUN), dst=b"\xff" * 6)
    assert h.state() is S.WAIT_PARM and h.core.counters["blocked_ev"] == 2
    h.advance(T.TT_EVSE_SLAC_init + 0.001)
    assert h.state() is S.FAILED and h.of(StatusChanged)[-1].status is SlacStatus.FAILED


def test_foreign_parm_requests_do_not_use_up_the_cars_attempts() -> None:
    h = make()
    plug(h)
    stranger = bytes.fromhex("02bad0000001")
    for _ in range(T.C_conn_max_match + 2):  # asks, then nothing, again and again
        h.rx(stranger, CmSlacParmReq(bytes(8)), dst=b"\xff" * 6)
        h.advance(T.TT_match_sequence + 0.001)
    assert h.core.attempts[stranger] == T.C_conn_max_match and stranger in h.core.blocked
    assert h.core.attempts[EV] == 0 and h.state() is S.WAIT_PARM
    assert h.of(StatusChanged)[-1].status is SlacStatus.MATCHING
    # the car on the cable now matches
    h.rx(EV, CmSlacParmReq(RUN), dst=b"\xff" * 6)
    h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=RUN), dst=b"\xff" * 6)
    profiles(h, 10)
    h.rx(EV, CmAttenCharRsp(source_address=EV, run_id=RUN))
    h.rx(EV, match_req())
    assert h.state() in (S.JOINING, S.MATCHED) and h.core.ev_mac == EV


def test_a_car_that_sounds_and_fails_still_fails_the_station() -> None:
    h = make()
    for attempt in range(1, T.C_conn_max_match + 1):
        if attempt == 1:
            to_sounding(h)
        else:
            h.rx(EV, CmSlacParmReq(RUN), dst=b"\xff" * 6)
            h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=RUN), dst=b"\xff" * 6)
        h.advance(T.TT_EVSE_match_MNBC + 0.001)  # no profiles: the attempt fails
        assert h.of(AttemptFailed)[-1].attempt == attempt
    assert h.state() is S.FAILED and h.of(StatusChanged)[-1].status is SlacStatus.FAILED


def test_sounding_timeout_reports_what_arrived() -> None:
    h = make()
    to_sounding(h)
    profiles(h, 3)
    h.advance(T.TT_EVSE_match_MNBC + 0.001)
    ind = h.last(CmAttenCharInd)
    assert ind.num_sounds == 3 and ind.aag == tuple([20] * 58)  # mean of 20, 21, 20 rounds to 20


def test_sounding_without_profiles_fails_attempt() -> None:
    h = make()
    to_sounding(h)
    h.advance(T.TT_EVSE_match_MNBC + 0.001)
    assert h.state() is S.WAIT_PARM and h.of(AttemptFailed)


def test_atten_char_is_retried_c_sequ_retry_times() -> None:
    h = make()
    to_sounding(h)
    profiles(h, 10)
    h.pop(CmAttenCharInd)
    h.advance(T.TT_match_response * (T.C_sequ_retry + 1) + 0.01)
    assert len(h.pop(CmAttenCharInd)) == T.C_sequ_retry
    assert h.state() is S.WAIT_PARM and "CM_ATTEN_CHAR.RSP" in h.of(AttemptFailed)[-1].reason


def test_match_session_timeout() -> None:
    h = make()
    to_wait_match(h)
    h.advance(T.TT_EVSE_match_session - 0.01)
    assert h.state() is S.WAIT_MATCH
    h.advance(0.02)
    assert h.state() is S.WAIT_PARM


def test_validate_counts_bcb_toggles() -> None:
    h = make()
    to_wait_match(h)
    h.rx(EV, CmValidateReq(timer=0))
    assert h.last(CmValidateCnf) == CmValidateCnf(0, 1)
    h.rx(EV, CmValidateReq(timer=8))
    assert h.state() is S.VALIDATING
    win = h.of(ValidationWindow)[-1]
    assert win.open and win.duration == pytest.approx(0.9)
    for letter in "CBCB":
        h.advance(0.2)
        h.call("cp_state", letter)
    assert h.state() is S.VALIDATING and h.status() is SlacStatus.MATCHING
    h.advance(0.2)
    cnf = h.last(CmValidateCnf)
    assert (cnf.toggle_num, cnf.result) == (2, 2)
    assert h.of(ValidationWindow)[-1] == ValidationWindow(False, win.start, win.duration, 2)
    assert h.state() is S.WAIT_MATCH
    h.rx(EV, match_req())
    assert h.state() is S.JOINING


def test_validate_refuses_a_bad_request() -> None:
    h = make()
    to_wait_match(h)
    h.rx(EV, CmValidateReq(timer=0, result=0))
    assert h.last(CmValidateCnf).result == 3 and h.state() is S.WAIT_MATCH


def test_link_never_up_within_match_join() -> None:
    h = make()
    to_wait_match(h)
    h.rx(EV, match_req())
    h.advance(T.TT_match_join + 0.5)
    assert h.state() is S.WAIT_PARM and "TT_match_join" in h.of(AttemptFailed)[-1].reason


def test_repeated_match_req_is_answered_again() -> None:
    h = make()
    to_wait_match(h)
    h.rx(EV, match_req())
    h.rx(EV, match_req())
    assert len(h.pop(CmSlacMatchCnf)) == 2 and h.state() is S.JOINING


def test_unplug_after_match_changes_the_key() -> None:
    h = make()
    to_wait_match(h)
    h.rx(EV, match_req())
    h.rx(MODEM, VsPlLnkStatusCnf(1))
    used = h.core.nmk
    h.pop(CmSetKeyReq)
    h.call("cp_state", "E")
    assert h.status() is SlacStatus.UNMATCHED and h.state() is S.IDLE
    assert h.pop(CmSetKeyReq)[-1].nmk != used
    h.call("cp_state", "B")
    assert h.state() is S.WAIT_PARM and h.core.nmk != used


def test_link_lost_restarts_matching() -> None:
    h = make()
    to_wait_match(h)
    h.rx(EV, match_req())
    h.rx(MODEM, VsPlLnkStatusCnf(1))
    h.advance(1.01)
    assert h.pop(VsPlLnkStatusReq)
    h.rx(MODEM, VsPlLnkStatusCnf(0))
    assert h.state() is S.WAIT_PARM and h.status() is SlacStatus.MATCHING


def test_ev_restarting_with_a_new_run_id_is_answered() -> None:
    h = make()
    to_wait_match(h)
    new_run = bytes(8)
    h.rx(EV, CmSlacParmReq(new_run), dst=b"\xff" * 6)
    assert h.state() is S.WAIT_START_ATTEN and h.core.run_id == new_run


def test_bad_and_foreign_frames_are_counted_not_fatal() -> None:
    h = make()
    to_sounding(h)
    good = encode_frame(EVSE, MODEM, CmAttenProfileInd(pev_mac=EV, aag=tuple([20] * 58)))
    h.rx_raw(good[:30])  # truncated
    h.rx_raw(good[:12] + b"\x08\x00" + good[14:])  # not HomePlug
    h.rx_raw(good[:14] + b"\x09" + good[15:])  # bad MMV
    h.rx_raw(good[:15] + b"\x38\x60" + good[17:])  # unknown MMTYPE
    h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=bytes(8)), dst=b"\xff" * 6)  # foreign run id
    h.rx(OTHER_EV, CmStartAttenCharInd(forwarding_sta=OTHER_EV, run_id=RUN), dst=b"\xff" * 6)  # other EV
    h.rx(MODEM, CmAttenProfileInd(pev_mac=OTHER_EV, aag=(1,) * 58))  # sound of another EV
    h.rx(EV, CmSlacParmCnf(forwarding_sta=EV, run_id=RUN))  # wrong MMTYPE for an EVSE
    h.rx(EV, CmSlacMatchCnf(pev_mac=EV, evse_mac=EVSE, run_id=RUN, nid=bytes(7), nmk=bytes(16)))
    h.rx(EV, CmStartAttenCharInd(forwarding_sta=EV, run_id=RUN), dst=bytes.fromhex("020000000077"))
    h.rx(EV, CmSlacParmReq(RUN, security_type=1), dst=b"\xff" * 6)  # unsupported
    h.rx(OTHER_EV, CmSlacParmReq(bytes(8)), dst=b"\xff" * 6)  # a second EV (crosstalk): its own session
    h.rx(EV, match_req())  # right EV, wrong state
    c = h.core.counters
    assert (c["truncated"], c["not_homeplug"], c["malformed"], c["unknown_mmtype"]) == (1, 1, 1, 1)
    assert (c["foreign_run_id"], c["foreign_ev"], c["wrong_mmtype"]) == (1, 2, 2)
    assert set(h.core.sessions) == {EV, OTHER_EV}
    assert (c["not_for_us"], c["unsupported"], c["unexpected"]) == (1, 1, 1)
    assert h.state() is S.SOUNDING and not h.core.profiles
    profiles(h, 10)
    assert h.last(CmAttenCharInd).aag == tuple([20] * 58)  # the session went on untouched


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=120), max_size=12), st.integers(0, 3))
def test_fuzz_frames_in_any_state_never_raise(frames: list[bytes], stage: int) -> None:
    h = make()
    if stage == 1:
        plug(h)
    elif stage == 2:
        to_sounding(h)
    elif stage == 3:
        to_wait_match(h)
    before = h.state()
    for raw in frames:
        h.rx_raw(b"\xff" * 6 + EV + b"\x88\xe1" + raw)
    assert h.state() in (
        before,
        S.WAIT_START_ATTEN,
        S.SOUNDING,
        S.WAIT_ATTEN_RSP,
        S.WAIT_MATCH,
        S.JOINING,
        S.VALIDATING,
        S.WAIT_PARM,
        S.IDLE,
        S.MATCHED,
    )
