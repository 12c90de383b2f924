"""The scenario's record as the conformance report reads it (sans-IO): every scenario kind maps to one reaction
rule (:func:`josev.secc.scenario.toreport.to_report`), the runner hands each (EVSE, connection) its own actions
once, and the report judges the EV's reaction to each built-in scenario by value (rule, verdict, measured time
against the allowed one, clause)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from josev.report.core import build_report
from josev.report.model import Finding, ReportMessage, StationAction
from josev.secc import scenario as sc
from josev.secc.scenario.toreport import to_report
from josev.v2g.physical import pv

from .test_scenarios import cd_res

T0 = 1_800_000_000.0


def m(t: float, from_ev: bool, name: str, body: dict[str, Any] | None = None) -> ReportMessage:
    return ReportMessage(T0 + t, from_ev, "iso2", name, body or {}, connection=1, size=40)


def cd_req(i: float = 125.0) -> dict[str, Any]:
    return {
        "EVTargetCurrent": pv(i, "A"),
        "EVTargetVoltage": pv(400.0, "V"),
        "DC_EVStatus": {"EVRESSSOC": 40},
    }


def body(msg: dict[str, Any]) -> dict[str, Any]:
    return dict(next(iter(msg["V2G_Message"]["Body"].values())))


def start() -> list[ReportMessage]:
    sap = {"AppProtocol": [{"ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef", "SchemaID": 1}]}
    return [
        ReportMessage(T0, True, "sap", "supportedAppProtocolReq", sap, 1, 40),
        ReportMessage(
            T0 + 0.01,
            False,
            "sap",
            "supportedAppProtocolRes",
            {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1},
            1,
            40,
        ),
        m(0.05, True, "SessionSetupReq", {"EVCCID": "020000000001"}),
        m(0.06, False, "SessionSetupRes", {"ResponseCode": "OK"}),
    ]


def loops(
    runner: sc.ScenarioRunner, targets: list[float], *, t: float = 1.0
) -> tuple[list[ReportMessage], float]:
    """Charge loops 0.1 s apart through the scenario of connection c1 of EVSE 1: the EV asks ``targets``; the
    station's answers as the scenario rewrote them."""
    script = runner._sessions[(1, "c1")]
    out = []
    for i in targets:
        out.append(m(t, True, "CurrentDemandReq", cd_req(i)))
        plan = script.on_exchange("iso2", "CurrentDemand", cd_res(), t, T0 + t + 0.001)
        res = plan.response if plan.response is not None else cd_res()
        out.append(m(t + 0.001 + plan.delay_s, False, "CurrentDemandRes", body(res)))
        t += 0.1
    return out, t


def runner_of(name: str) -> sc.ScenarioRunner:
    r = sc.ScenarioRunner(sc.resolve(name))
    r.session(0.0, T0, 1, "c1")
    return r


def one(actions: list[StationAction], msgs: list[ReportMessage]) -> Finding:
    (f,) = build_report(msgs, actions).reactions
    return f


def test_every_scenario_kind_maps_to_a_reaction_rule() -> None:
    T = sc.TakenAction
    taken = [
        T(1.0, "delay", "CurrentDemand", "answered 0.4 s late", {"delay_s": 0.4}),
        T(2.0, "code", "ChargeParameterDiscovery", "ResponseCode OK -> FAILED", {"code": "FAILED"}),
        T(3.0, "code", "Authorization", "x", {"code": "WARNING_EIMAuthorizationFailure"}),
        T(4.0, "ongoing", "CableCheck", "EVSEProcessing Ongoing for 5 s", {"for_s": 5.0}),
        T(
            9.0,
            "ongoing",
            "CableCheck",
            "real answer after 40 repeated requests",
            {"end": True, "repeats": 40},
        ),
        T(
            10.0,
            "notify",
            "CurrentDemand",
            "EVSENotification StopCharging",
            {"notification": "StopCharging", "max_delay_s": 0},
        ),
        T(
            11.0,
            "notify",
            "DC_ChargeLoop",
            "EVSENotification Pause",
            {"notification": "Pause", "max_delay_s": 0},
        ),
        T(
            12.0,
            "notify",
            "CurrentDemand",
            "EVSENotification ReNegotiation",
            {"notification": "ReNegotiation", "max_delay_s": 0},
        ),
        T(
            13.0,
            "status",
            "CurrentDemand",
            "EVSEStatusCode EVSE_EmergencyShutdown",
            {"status_code": "EVSE_EmergencyShutdown"},
        ),
        T(
            14.0,
            "status",
            "CableCheck",
            "EVSEIsolationStatus Fault, ResponseCode OK -> FAILED",
            {"isolation": "Fault", "code": "FAILED"},
        ),
        T(15.0, "limit", "CurrentDemand", "current_a 40", {"current_a": 40.0}),
        T(15.5, "limit", "ChargeParameterDiscovery", "EVSEMaximumCurrentLimit 200 -> 40 A"),
        T(16.0, "close_tcp", "CurrentDemand", "TCP connection dropped instead of answering", {"close": True}),
        T(17.0, "link_down", "CurrentDemand", "link down for 3 s instead of answering", {"for_s": 3.0}),
    ]
    got = to_report(taken)
    assert [(a.t, a.kind, a.request) for a in got] == [
        (1.0, "late", "CurrentDemandReq"),
        (2.0, "failed", "ChargeParameterDiscoveryReq"),
        (3.0, "code", "AuthorizationReq"),
        (4.0, "ongoing", "CableCheckReq"),
        (10.0, "stop_charging", "CurrentDemandReq"),
        (11.0, "stop_charging", "DC_ChargeLoopReq"),
        (12.0, "renegotiate", "CurrentDemandReq"),
        (13.0, "stop_charging", "CurrentDemandReq"),
        (14.0, "failed", "CableCheckReq"),
        (15.0, "limit", "CurrentDemandReq"),
        (16.0, "drop_link", "CurrentDemandReq"),
        (17.0, "drop_link", "CurrentDemandReq"),
    ]
    d = {a.t: dict(a.detail) for a in got}
    assert d[1.0] == {"scenario": "delay", "note": "answered 0.4 s late", "delay": 0.4}
    assert d[4.0] == {
        "scenario": "ongoing",
        "note": "EVSEProcessing Ongoing for 5 s",
        "for": 5.0,
        "until": 9.0,
        "repeats": 40,
    }
    assert d[13.0]["status_code"] == "EVSE_EmergencyShutdown" and d[15.0]["current_a"] == 40.0
    assert d[17.0]["link_down_s"] == 3.0 and d[2.0]["code"] == "FAILED"
    # the report's JSON carries them as they are (the scenario's words included)
    assert StationAction.from_dict(got[0].to_dict()) == got[0]


def test_the_runner_hands_each_connection_its_own_actions_once() -> None:
    runner = sc.ScenarioRunner(sc.resolve("failed-charge-parameter-discovery"))
    a, b = runner.session(0.0, T0, 1, "c1"), runner.session(0.0, T0, 2, "c1")
    runner.session(0.0, T0, 1, "c2")
    res = {
        "V2G_Message": {
            "Body": {"ChargeParameterDiscoveryRes": {"ResponseCode": "OK", "EVSEProcessing": "Finished"}}
        }
    }
    a.on_exchange("iso2", "ChargeParameterDiscovery", res, 1.0, T0 + 1.0)
    b.on_exchange("din", "ChargeParameterDiscovery", res, 1.0, T0 + 2.0)
    (x,) = runner.report_actions(1, "c1")
    assert (x.t, x.kind, x.request, x.detail["code"]) == (
        T0 + 1.0,
        "failed",
        "ChargeParameterDiscoveryReq",
        "FAILED",
    )
    assert runner.report_actions(1, "c1") == []  # taken once
    assert [y.t for y in runner.report_actions(2, "c1")] == [T0 + 2.0]
    assert runner.report_actions(1, "c2") == [] and runner.report_actions(9, "c9") == []


def test_limit_step_the_target_follows_or_not() -> None:
    r = runner_of("limit-step")
    good, _ = loops(r, [125, 125, 125, 40, 40, 40])
    acts = r.report_actions(1, "c1")
    f = one(acts, start() + good)
    assert (f.severity, f.rule, f.value, f.limit) == ("ok", "ev-target-follows-limit", 1.0, 2.0)
    assert f.clause.startswith("ISO 15118-2:2014 8.4 (CurrentDemandRes EVSEMaximumCurrentLimit")
    assert f.message_name == "CurrentDemandReq" and f.t == pytest.approx(1.3)
    r = runner_of("limit-step")
    slow, _ = loops(r, [125, 125, 125, 125, 125, 40])
    f = one(r.report_actions(1, "c1"), start() + slow)
    assert (f.severity, f.value, f.limit) == ("error", 3.0, 2.0)
    r = runner_of("limit-step")
    never, _ = loops(r, [125] * 6)
    f = one(r.report_actions(1, "c1"), start() + never)
    assert f.severity == "error" and "none of the EV's 3 following" in f.text and "125 A > 40 A" in f.text


def test_pause_and_emergency_shutdown_stop_at_once() -> None:
    for name in ("pause", "emergency-shutdown"):
        r = runner_of(name)
        msgs, t = loops(r, [125, 125, 125])
        stop = [m(t + 0.05, True, "PowerDeliveryReq", {"ChargeProgress": "Stop"})]
        acts = r.report_actions(1, "c1")
        assert [a.kind for a in acts] == ["stop_charging"], acts
        f = one(acts, start() + msgs + stop)
        assert (f.severity, f.rule, f.limit) == ("ok", "ev-stops-when-asked", 2.0), f
        assert f.value == pytest.approx(0.149, abs=1e-3)
        assert f.clause == "ISO 15118-2:2014 8.5 (EVSENotification, NotificationMaxDelay)"
        # NotificationMaxDelay 0: one more charge loop is already a violation
        r = runner_of(name)
        msgs, t = loops(r, [125, 125, 125, 125])
        f = one(
            r.report_actions(1, "c1"),
            start() + msgs + [m(t, True, "PowerDeliveryReq", {"ChargeProgress": "Stop"})],
        )
        assert f.severity == "error" and "next request was CurrentDemandReq" in f.text, f


def test_late_answer_beyond_the_timeout_the_ev_must_stop() -> None:
    r = runner_of("late-charge-loop-outside")
    msgs, t = loops(r, [125, 125, 125])
    (a,) = r.report_actions(1, "c1")
    assert (a.kind, a.detail["delay"]) == ("late", pytest.approx(0.4))
    f = one([a], start() + msgs[:-1])  # the EV gave up before the late answer: nothing more
    assert (f.severity, f.rule, f.limit) == ("ok", "ev-stops-after-msg-timeout", 0.25)
    assert f.clause == "ISO 15118-2:2014 Table 109, [V2G2-436]: V2G_EVCC_Msg_Timeout"
    f = one([a], start() + msgs + [m(t + 0.4, True, "CurrentDemandReq", cd_req())])  # it took the late answer
    assert (f.severity, f.rule, f.limit) == ("error", "ev-ignored-msg-timeout", 0.25)
    assert f.value is not None and f.value > 0.4


def test_ongoing_the_ev_keeps_polling_until_the_real_answer() -> None:
    r = sc.ScenarioRunner(sc.resolve("ongoing-cable-check"))
    s = r.session(0.0, T0, 1, "c1")
    res = {"V2G_Message": {"Body": {"CableCheckRes": {"ResponseCode": "OK", "EVSEProcessing": "Finished"}}}}
    msgs = [m(1.0, True, "CableCheckReq")]
    s.on_exchange("iso2", "CableCheck", res, 1.0, T0 + 1.0)
    msgs.append(m(1.001, False, "CableCheckRes", {"ResponseCode": "OK", "EVSEProcessing": "Ongoing"}))
    t = 1.5
    while s.holding:
        msgs.append(m(t, True, "CableCheckReq"))
        answer = s.held_answer("CableCheck", t, T0 + t)
        assert answer is not None
        msgs.append(m(t + 0.001, False, "CableCheckRes", body(answer)))
        t += 0.5
    msgs.append(m(t, True, "PreChargeReq"))
    (a,) = r.report_actions(1, "c1")
    assert a.detail["until"] == pytest.approx(T0 + 6.0) and a.detail["repeats"] == 10
    f = one([a], start() + msgs)
    assert (f.severity, f.rule, f.limit) == ("ok", "ev-retries-after-ongoing", 40.0), f
    assert f.value == pytest.approx(5.0) and f.message_name == "PreChargeReq"
    assert "V2G_EVCC_CableCheck_Timeout" in f.clause and "[V2G2-700]" in f.clause
    # an EV that gives up after 2 s while the station still says Ongoing: a warning (its timer is 40 s)
    early = [x for x in msgs if x.t < T0 + 3.1]
    f = one([a], start() + early)
    assert f.severity == "warning" and f.value == pytest.approx(2.0)
    assert "gave up before V2G_EVCC_CableCheck_Timeout" in f.text


def test_renegotiation_the_ev_renegotiates_or_stops() -> None:
    r = runner_of("renegotiate")
    msgs, t = loops(r, [125, 125, 125])
    (a,) = r.report_actions(1, "c1")
    again = [m(t + 0.05, True, "PowerDeliveryReq", {"ChargeProgress": "Renegotiate"})]
    f = one([a], start() + msgs + again)
    assert (f.severity, f.rule, f.limit) == ("ok", "ev-renegotiates-when-asked", 2.0)
    assert f.value == pytest.approx(0.149, abs=1e-3) and "ReNegotiation" in f.clause
    f = one([a], start() + msgs + [m(t + 0.05, True, "SessionStopReq")])
    assert f.severity == "warning" and "instead of renegotiating" in f.text


def test_the_html_report_shows_the_reaction_measured_against_allowed() -> None:
    pytest.importorskip("plotly")
    from josev.report.html import render_html

    r = runner_of("limit-step")
    msgs, _ = loops(r, [125, 125, 125, 125, 125, 40])
    text = render_html(build_report(start() + msgs, r.report_actions(1, "c1")))
    section = text.split("<h2>Scenario reaction</h2>", 1)[1].split("<h2>Timing</h2>", 1)[0]
    assert "<th>measured / allowed</th>" in section
    assert '<code>ev-target-follows-limit</code></td><td class="num">3 / 2</td>' in section
    assert "current_a 40" in section  # the scenario's own words among the action's detail


def test_after_a_dropped_connection_the_next_session_judges_how_the_ev_came_back() -> None:
    r = runner_of("drop-tcp")
    _, t = loops(r, [125, 125, 125])
    (drop,) = r.report_actions(1, "c1")
    assert (drop.kind, drop.detail["scenario"]) == ("drop_link", "close_tcp")
    # the EV's next connection on EVSE 1, 2.5 s later: SDP, then supportedAppProtocolReq
    r.session(10.0, T0 + t + 2.5, 1, "c2")
    r.session(10.0, T0 + t + 2.6, 2, "c1")  # another EVSE: not concerned
    (back,) = r.report_actions(1, "c2")
    assert (back.kind, back.t, back.detail["dropped_at"]) == ("reconnect", drop.t, drop.t)
    assert r.report_actions(2, "c1") == []
    sdp = [m(t + 2.5, True, "SECCDiscoveryReq"), m(t + 2.51, False, "SECCDiscoveryRes")]
    again = [replace(x, t=x.t + t + 2.52) for x in start()]
    f = one([back], sdp + again)
    assert (f.severity, f.rule, f.limit) == ("ok", "ev-reconnects-after-drop", None), f
    assert f.value == pytest.approx(2.5 + 0.1, abs=0.01) and f.message_name == "SECCDiscoveryReq"
    assert "SECCDiscoveryReq then supportedAppProtocolReq" in f.text
    f = one([back], [replace(x, t=x.t + t + 2.52) for x in start()[2:]])  # straight to SessionSetupReq
    assert f.severity == "warning" and "it must start with SDP" in f.text
    # a connection long after the drop is a new car, not the EV coming back
    r = runner_of("drop-tcp")
    loops(r, [125, 125, 125])
    r.session(100.0, T0 + 1_000.0, 1, "c2")
    assert r.report_actions(1, "c2") == []
