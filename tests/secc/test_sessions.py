"""Whole sessions, our EVCC core against our SECC core on dicts: DIN DC, ISO-2 AC, ISO-2 DC, pause/resume,
EV- and station-initiated renegotiation, station stop, authorization Ongoing loop."""

from __future__ import annotations

from typing import Any

from josev.ev.battery import Behaviour
from josev.secc import events as ev
from josev.secc.evse import EvseView
from josev.secc.machine import SessionStore

from .drive import drive


def names(run: object) -> list[str]:
    return [e[0] for e in run.exchanges]  # type: ignore[attr-defined]


def collapsed(run: object) -> list[str]:
    """Request names with consecutive repeats (Ongoing loops, charge loops) collapsed."""
    out: list[str] = []
    for n in names(run):
        if not out or out[-1] != n:
            out.append(n)
    return out


def test_din_dc_full_sequence() -> None:
    run = drive("din", behaviour=Behaviour(loops=3))
    assert run.result.outcome == "finished"
    assert collapsed(run) == [
        "supportedAppProtocolReq",
        "SessionSetupReq",
        "ServiceDiscoveryReq",
        "ServicePaymentSelectionReq",
        "ContractAuthenticationReq",
        "ChargeParameterDiscoveryReq",
        "CableCheckReq",
        "PreChargeReq",
        "PowerDeliveryReq",
        "CurrentDemandReq",
        "PowerDeliveryReq",
        "WeldingDetectionReq",
        "SessionStopReq",
    ]
    assert names(run).count("CurrentDemandReq") == 3
    assert all(code.startswith("OK") for _, _, code in run.exchanges)
    assert run.secc is not None and run.secc.closed
    kinds = [type(e).__name__ for e in run.events]
    assert kinds[0] == "SessionStarted" and kinds[-1] == "SessionEnded"
    assert "CableCheckRequested" in kinds and "WeldingDetectionRequested" in kinds


def test_iso2_ac_full_sequence() -> None:
    run = drive("iso2-ac", behaviour=Behaviour(loops=4))
    assert run.result.outcome == "finished"
    assert names(run)[-3:] == ["ChargingStatusReq", "PowerDeliveryReq", "SessionStopReq"]
    assert names(run).count("ChargingStatusReq") == 4
    assert "CableCheckReq" not in names(run)
    assert all(code.startswith("OK") for _, _, code in run.exchanges)


def test_iso2_dc_full_sequence() -> None:
    run = drive("iso2-dc", behaviour=Behaviour(loops=5))
    assert run.result.outcome == "finished"
    n = collapsed(run)
    assert n[:7] == [
        "supportedAppProtocolReq",
        "SessionSetupReq",
        "ServiceDiscoveryReq",
        "PaymentServiceSelectionReq",
        "AuthorizationReq",
        "ChargeParameterDiscoveryReq",
        "CableCheckReq",
    ]
    assert names(run).count("CurrentDemandReq") == 5
    assert n[-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    targets = [e for e in run.events if isinstance(e, ev.EvTargets) and e.phase == "charge"]
    assert len(targets) == 5 and targets[0].current > 0


def test_authorization_ongoing_loop_until_coordinator_authorizes() -> None:
    evse = EvseView()

    class Manual:
        def apply(self, evse: EvseView, events: list[ev.Event]) -> None:
            for e in events:
                if isinstance(e, ev.CableCheckRequested):
                    evse.isolation = "Valid"
                if isinstance(e, ev.EvTargets):
                    evse.present_voltage = e.voltage
                    evse.present_current = e.current if e.phase == "charge" else 0.0

    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 8:
            evse.authorized = True

    run = drive("iso2-dc", evse, supply=Manual(), hook=hook)  # type: ignore[arg-type]
    auth = [x for x in run.exchanges if x[0] == "AuthorizationReq"]
    assert len(auth) == 5  # requests 4..8: four Ongoing, then Finished
    assert run.result.outcome == "finished"


def test_authorization_rejected_ends_with_failed() -> None:
    evse = EvseView(authorized=False)

    class Nothing:
        def apply(self, evse: EvseView, events: list[ev.Event]) -> None:
            pass

    run = drive_fail("iso2-dc", evse, Nothing())
    assert run[-1] == ("AuthorizationReq", "AuthorizationRes", "FAILED")


def drive_fail(protocol: str, evse: EvseView, supply: object) -> list[tuple[str, str, str]]:
    from josev.ev.evcc import EvError

    exchanges: list[tuple[str, str, str]] = []
    try:
        run = drive(protocol, evse, supply=supply)  # type: ignore[arg-type]
        exchanges = run.exchanges
    except EvError:
        pass
    # re-run capturing exchanges up to the failure
    from josev.ev.evcc import Evcc
    from josev.secc.session import SeccSession

    from .drive import body_name, code_of

    e = Evcc(protocol)
    s = SeccSession(evse, 0.0)
    nxt: tuple[str, dict[str, Any]] | None = e.start()
    while nxt is not None:
        out = s.handle_message(nxt[1], 0.0)
        assert out.response is not None
        exchanges.append((body_name(nxt[1]), body_name(out.response), code_of(out.response)))
        if out.close:
            break
        nxt = e.on_response(out.response)
    assert s.closed
    return exchanges


def test_pause_and_resume_joins_old_session() -> None:
    store = SessionStore()
    evse = EvseView()
    first = drive("iso2-dc", evse, behaviour=Behaviour(loops=10, pause_after=2), store=store)
    assert first.result.outcome == "paused"
    sid = first.result.session_id
    assert sid is not None and sid in store.paused
    ended = [e for e in first.events if isinstance(e, ev.SessionEnded)]
    assert ended[-1].paused
    second = drive("iso2-dc", evse, behaviour=Behaviour(loops=2), store=store, resume=sid)
    assert second.exchanges[1] == ("SessionSetupReq", "SessionSetupRes", "OK_OldSessionJoined")
    assert second.result.session_id == sid
    assert second.result.outcome == "finished"
    assert sid not in store.paused


def test_unknown_session_id_on_setup_gets_new_session() -> None:
    run = drive("iso2-ac", behaviour=Behaviour(loops=1), resume=None)
    assert run.exchanges[1][2] == "OK_NewSessionEstablished"


def test_ev_initiated_renegotiation_dc() -> None:
    run = drive("iso2-dc", behaviour=Behaviour(loops=6, renegotiate_after=2))
    assert run.result.outcome == "finished" and run.result.renegotiations == 1
    n = names(run)
    i = n.index("ChargeParameterDiscoveryReq", n.index("CurrentDemandReq"))
    assert n[i + 1] == "PowerDeliveryReq"  # standard EV: straight back to PowerDelivery Start


def test_ev_initiated_renegotiation_ac() -> None:
    run = drive("iso2-ac", behaviour=Behaviour(loops=5, renegotiate_after=2))
    assert run.result.outcome == "finished" and run.result.renegotiations == 1


def test_station_initiated_renegotiation_when_limits_change() -> None:
    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 12 and evse.limits_version == 0:
            evse.limits.max_power = 20_000.0
            evse.limits_version += 1

    run = drive("iso2-dc", behaviour=Behaviour(loops=8), hook=hook)
    assert run.result.renegotiations == 1
    cpds = [e for e in run.events if isinstance(e, ev.EvChargeParameters)]
    assert len(cpds) == 2


def test_station_stop_notification_stops_charging() -> None:
    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 11:
            evse.stop_requested = True

    run = drive("din", behaviour=Behaviour(loops=50), hook=hook)
    assert run.result.outcome == "finished"
    assert run.result.loops < 5


def test_vendor_namespace_is_skipped() -> None:
    run = drive("din", behaviour=Behaviour(loops=1, offer=("urn:tesla:din:2018:MsgDef",)))
    assert run.exchanges[0][2] == "OK_SuccessfulNegotiation"
    assert run.result.outcome == "finished"
