"""The report's sans-IO core on synthetic sessions: value rules, timing rules, the car's reaction to station
actions, the JSON, and the HTML renderer's self-containment."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from josev.report.core import build_report
from josev.report.decode import Frame, decode_frames
from josev.report.model import Report, ReportMessage, StationAction
from josev.v2g.physical import pv

T0 = 1_800_000_000.0


def m(
    t: float, from_ev: bool, name: str, body: dict[str, Any] | None = None, kind: str = "iso2"
) -> ReportMessage:
    return ReportMessage(T0 + t, from_ev, kind, name, body or {}, connection=1, size=40)


def ok(name: str, **extra: Any) -> dict[str, Any]:
    return {"ResponseCode": "OK", **extra}


def cpd_req(
    max_v: float = 450, max_i: float = 125, max_p: float = 50_000, departure: int | None = None
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 30},
        "EVMaximumCurrentLimit": pv(max_i, "A"),
        "EVMaximumPowerLimit": pv(max_p, "W"),
        "EVMaximumVoltageLimit": pv(max_v, "V"),
    }
    if departure is not None:
        param["DepartureTime"] = departure
    return {"RequestedEnergyTransferMode": "DC_extended", "DC_EVChargeParameter": param}


def cd_req(v: float = 400, i: float = 50, soc: int = 40, **over: Any) -> dict[str, Any]:
    return {
        "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": soc},
        "EVTargetCurrent": pv(i, "A"),
        "EVMaximumVoltageLimit": pv(450, "V"),
        "ChargingComplete": False,
        "EVTargetVoltage": pv(v, "V"),
        **over,
    }


def cd_res(v: float = 400, i: float = 50) -> dict[str, Any]:
    return ok(
        "CurrentDemand",
        EVSEPresentVoltage=pv(v, "V"),
        EVSEPresentCurrent=pv(i, "A"),
        EVSEMaximumVoltageLimit=pv(500, "V"),
        EVSEMaximumCurrentLimit=pv(125, "A"),
    )


def session(extra_loop: list[ReportMessage] | None = None, stop: bool = True) -> list[ReportMessage]:
    """A short, clean ISO 15118-2 DC session (times in s from T0)."""
    sap = {"AppProtocol": [{"ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef", "SchemaID": 1}]}
    out = [
        m(0.0, True, "supportedAppProtocolReq", sap, kind="sap"),
        m(
            0.01,
            False,
            "supportedAppProtocolRes",
            {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1},
            "sap",
        ),
        m(0.05, True, "SessionSetupReq", {"EVCCID": "020000000001", "Header": {"SessionID": "00"}}),
        m(0.06, False, "SessionSetupRes", ok("SessionSetup", Header={"SessionID": "AB12"})),
        m(0.10, True, "ChargeParameterDiscoveryReq", cpd_req()),
        m(0.11, False, "ChargeParameterDiscoveryRes", ok("CPD", EVSEProcessing="Finished")),
        m(0.20, True, "CableCheckReq", {}),
        m(0.21, False, "CableCheckRes", ok("CC", EVSEProcessing="Finished")),
        m(0.30, True, "PreChargeReq", {"EVTargetVoltage": pv(400, "V"), "EVTargetCurrent": pv(1, "A")}),
        m(0.31, False, "PreChargeRes", ok("PC", EVSEPresentVoltage=pv(398, "V"))),
    ]
    t = 0.4
    for k in range(3):
        out += [
            m(t, True, "CurrentDemandReq", cd_req(soc=40 + k)),
            m(t + 0.01, False, "CurrentDemandRes", cd_res()),
        ]
        t += 0.1
    out += extra_loop or []
    if stop:
        t = max(x.t for x in out) - T0 + 0.1
        out += [
            m(t, True, "PowerDeliveryReq", {"ChargeProgress": "Stop"}),
            m(t + 0.01, False, "PowerDeliveryRes", ok("PD")),
            m(t + 0.1, True, "SessionStopReq", {"ChargingSession": "Terminate"}),
            m(t + 0.11, False, "SessionStopRes", ok("SS")),
        ]
    return out


def rules(r: Report) -> dict[str, Any]:
    return {f.rule: f for f in r.findings}


def test_clean_session() -> None:
    r = build_report(session(), meta={"evse": 1})
    assert r.findings == [] and r.reactions == [] and r.verdict == "pass"
    d = r.to_dict()
    json.dumps(d)  # JSON-able as is
    assert d["session"]["protocol"] == "ISO 15118-2" and d["session"]["evse"] == 1
    assert d["session"]["namespace"] == "urn:iso:15118:2:2013:MsgDef" and d["session"]["session_id"] == "AB12"
    cd = next(t for t in r.timings if t.request == "CurrentDemandReq")
    assert (cd.count, cd.ev_timeout_s, cd.performance_s, cd.over_performance) == (3, 0.25, 0.025, 0)
    assert cd.median_s == pytest.approx(0.01)
    assert d["series"]["soc"][-3:] == [40, 41, 42] or 42.0 in d["series"]["soc"]
    assert d["messages"][11]["rt_ms"] == pytest.approx(10.0)


def test_ev_values_against_limits_and_schema() -> None:
    loop = [
        m(0.70, True, "CurrentDemandReq", cd_req(v=460, i=130)),  # above its own 450 V / 125 A
        m(0.71, False, "CurrentDemandRes", cd_res()),
        m(0.80, True, "CurrentDemandReq", cd_req(soc=120)),
        m(0.81, False, "CurrentDemandRes", cd_res()),
        m(0.90, True, "CurrentDemandReq", cd_req(EVTargetCurrent={"Multiplier": 5, "Unit": "A", "Value": 1})),
        m(0.91, False, "CurrentDemandRes", cd_res()),
    ]
    r = build_report(session(loop))
    f = rules(r)
    v = f["ev-target-voltage-above-ev-max"]
    assert (v.severity, v.value, v.limit, v.message_name) == ("error", 460.0, 450.0, "CurrentDemandReq")
    assert v.t == pytest.approx(0.70) and r.messages[v.message or 0].t == T0 + 0.70
    assert v.clause.startswith("ISO 15118-2:2014 8.4")
    assert (
        f["ev-target-current-above-ev-max"].value == 130.0
        and f["ev-target-current-above-ev-max"].limit == 125.0
    )
    assert f["ev-target-current-above-evse-max"].severity == "warning"
    assert f["soc-out-of-range"].value == 120.0 and "percentValueType" in f["soc-out-of-range"].clause
    assert "Multiplier 5 outside -3..3" in f["value-outside-schema-type"].text
    assert r.verdict == "fail" and len(r.errors) == 4


def test_repeated_violation_is_one_finding_with_a_count() -> None:
    loop = []
    for k, v in enumerate((460, 470, 455)):
        loop += [
            m(0.7 + k / 10, True, "CurrentDemandReq", cd_req(v=v)),
            m(0.71 + k / 10, False, "CurrentDemandRes", cd_res()),
        ]
    f = rules(build_report(session(loop)))["ev-target-voltage-above-ev-max"]
    assert f.value == 460.0 and "(in 3 messages, worst 470; the first is shown)" in f.text


def test_departure_time_must_count_down() -> None:
    msgs = session()
    msgs[4] = m(0.10, True, "ChargeParameterDiscoveryReq", cpd_req(departure=3600))
    later = [
        m(
            100.0, True, "ChargeParameterDiscoveryReq", cpd_req(departure=3500)
        ),  # consistent: 3600 - 100 ≈ 3500
        m(100.01, False, "ChargeParameterDiscoveryRes", ok("CPD", EVSEProcessing="Finished")),
        m(130.0, True, "ChargeParameterDiscoveryReq", cpd_req(departure=7200)),  # jumps by an hour
        m(130.01, False, "ChargeParameterDiscoveryRes", ok("CPD", EVSEProcessing="Finished")),
    ]
    f = rules(build_report(msgs + later))["departure-inconsistent"]
    assert f.t == pytest.approx(130.0) and f.value == pytest.approx(3730.0, abs=1)


def test_timing_rules() -> None:
    loop = [
        m(0.70, True, "CurrentDemandReq", cd_req()),
        m(1.00, False, "CurrentDemandRes", cd_res()),  # 300 ms: beyond the EV's 250 ms
        m(46.0, True, "CurrentDemandReq", cd_req()),  # 45 s after the last response
        m(46.01, False, "CurrentDemandRes", cd_res()),
        m(107.1, True, "CurrentDemandReq", cd_req()),  # 61 s
        m(107.11, False, "CurrentDemandRes", cd_res()),
        m(107.2, True, "CurrentDemandReq", cd_req()),
        m(107.25, True, "CurrentDemandReq", cd_req()),  # before the answer to the previous one
        m(107.26, False, "CurrentDemandRes", cd_res()),
    ]
    f = rules(build_report(session(loop)))
    late = f["station-response-after-ev-timeout"]
    assert late.subject == "station" and late.value == pytest.approx(0.3) and late.limit == 0.25
    assert f["ev-sequence-performance"].value == pytest.approx(45.0)
    assert "[V2G2-485]" in f["ev-sequence-performance"].clause
    assert (
        f["ev-sequence-timeout"].value == pytest.approx(61.09)
        and f["ev-sequence-timeout"].severity == "error"
    )
    assert f["request-while-waiting"].t == pytest.approx(107.25)


def test_cable_check_loop_past_its_timer() -> None:
    msgs = session()[:6]
    t = 0.2
    while t < 42:
        msgs += [
            m(t, True, "CableCheckReq"),
            m(t + 0.01, False, "CableCheckRes", ok("CC", EVSEProcessing="Ongoing")),
        ]
        t += 1.0
    f = rules(build_report(msgs))
    loop = f["ev-cablecheck-loop-too-long"]
    assert loop.limit == 40.0 and loop.value == pytest.approx(41.0) and "[V2G2-700]" in loop.clause
    assert f["no-session-stop"].severity == "warning"


def test_din_and_iso20_limits() -> None:
    din = [
        m(0.0, True, "CurrentDemandReq", cd_req(), kind="din"),
        m(0.3, False, "CurrentDemandRes", cd_res(), kind="din"),
    ]
    r = build_report(din)
    assert r.timings[0].clause == "DIN SPEC 70121 9.6.2 Table 75" and r.timings[0].performance_s is None
    assert rules(r)["station-response-after-ev-timeout"].limit == 0.25
    iso20 = [
        m(0.0, True, "DC_ChargeLoopReq", {"Scheduled_DC_CLReqControlMode": {
            "EVTargetCurrent": {"Value": 50, "Exponent": 0}, "EVTargetVoltage": {"Value": 48, "Exponent": 1},
            "EVMaximumVoltage": {"Value": 45, "Exponent": 1}}, "DisplayParameters": {"PresentSOC": 50}}, "iso20-dc"),
        m(0.1, False, "DC_ChargeLoopRes", {"ResponseCode": "OK", "EVSEPresentVoltage": {"Value": 400, "Exponent": 0},
                                            "EVSEPresentCurrent": {"Value": 50, "Exponent": 0}}, "iso20-dc"),
    ]  # fmt: skip
    r = build_report(iso20)
    f = rules(r)["ev-target-voltage-above-ev-max"]
    assert f.value == 480.0 and f.limit == 450.0 and f.clause.startswith("ISO 15118-20:2022 8.3")
    assert r.timings[0].ev_timeout_s == 0.5 and r.timings[0].clause == "ISO 15118-20:2022 Table 215"
    assert r.series["soc"] == [50.0, None] and r.series["evse_present_power"] == [None, 20000.0]


# ------------------------------------------------------------------------------------------ station actions


def _stop_at(t: float) -> list[ReportMessage]:
    return [
        m(t, True, "SessionStopReq", {"ChargingSession": "Terminate"}),
        m(t + 0.01, False, "SessionStopRes", ok("SS")),
    ]


def test_failed_response_ev_stops_or_goes_on() -> None:
    base = session(stop=False)
    failed = [
        m(0.70, True, "CurrentDemandReq", cd_req()),
        m(0.71, False, "CurrentDemandRes", {"ResponseCode": "FAILED"}),
    ]
    good = build_report(
        base + failed + _stop_at(0.8), [StationAction(T0 + 0.71, "failed", "CurrentDemandReq")]
    )
    (r,) = good.reactions
    assert (r.severity, r.rule) == ("ok", "ev-stops-after-failed") and r.value == pytest.approx(
        0.09, abs=1e-3
    )
    assert "with SessionStopReq" in r.text
    bad_msgs = (
        base
        + failed
        + [m(0.9, True, "CurrentDemandReq", cd_req()), m(0.91, False, "CurrentDemandRes", cd_res())]
    )
    bad = build_report(bad_msgs, [StationAction(T0 + 0.71, "failed", "CurrentDemandReq")])
    (r,) = bad.reactions
    assert (r.severity, r.rule, r.message_name) == ("error", "ev-continued-after-failed", "CurrentDemandReq")
    assert r.t == pytest.approx(0.9) and bad.verdict == "fail"
    # without an announced action the FAILED code is evaluated all the same
    (r,) = build_report(bad_msgs).reactions
    assert r.rule == "ev-continued-after-failed"
    slow = build_report(
        base + failed + _stop_at(3.5), [StationAction(T0 + 0.71, "failed", "CurrentDemandReq")]
    )
    assert slow.reactions[0].severity == "error" and slow.reactions[0].limit == 2.0


def test_no_response_ev_gives_up_or_ignores_its_timeout() -> None:
    base = [*session(stop=False), m(0.70, True, "CurrentDemandReq", cd_req())]
    act = StationAction(T0 + 0.70, "no_response", "CurrentDemandReq")
    (r,) = build_report(base, [act]).reactions
    assert (r.severity, r.rule, r.limit) == ("ok", "ev-stops-after-msg-timeout", 0.25)
    later = [m(1.5, True, "CurrentDemandReq", cd_req()), m(1.51, False, "CurrentDemandRes", cd_res())]
    (r,) = build_report(base + later, [act]).reactions
    assert (r.severity, r.rule) == ("error", "ev-ignored-msg-timeout")
    # late but within the timeout: the EV goes on
    ps = [
        *session(stop=False)[:8],
        m(0.30, True, "PowerDeliveryReq", {"ChargeProgress": "Start"}),
        m(1.30, False, "PowerDeliveryRes", ok("PD")),
    ]
    act = StationAction(T0 + 0.30, "late", "PowerDeliveryReq", {"delay": 1.0})
    (r,) = build_report([*ps, m(1.4, True, "CurrentDemandReq", cd_req())], [act]).reactions
    assert (r.severity, r.rule, r.limit) == ("ok", "ev-accepts-late-response", 5.0)
    (r,) = build_report(ps, [act]).reactions
    assert (r.severity, r.rule) == ("warning", "ev-gave-up-before-timeout")


def test_stop_charging_within_notification_max_delay() -> None:
    base = session(stop=False)
    asked = [m(0.70, True, "CurrentDemandReq", cd_req()),
             m(0.71, False, "CurrentDemandRes", {**cd_res(), "DC_EVSEStatus": {
                 "NotificationMaxDelay": 2, "EVSENotification": "StopCharging"}})]  # fmt: skip
    act = StationAction(T0 + 0.71, "stop_charging", "CurrentDemandReq")
    stop = [
        m(1.5, True, "PowerDeliveryReq", {"ChargeProgress": "Stop"}),
        m(1.51, False, "PowerDeliveryRes", ok("PD")),
    ]
    (r,) = build_report(base + asked + stop, [act]).reactions
    assert (r.severity, r.limit) == ("ok", 2.0) and r.value == pytest.approx(0.79)
    late = [m(3.0, True, "PowerDeliveryReq", {"ChargeProgress": "Stop"})]
    (r,) = build_report(base + asked + late, [act]).reactions
    assert r.severity == "error" and r.value == pytest.approx(2.29)
    (r,) = build_report(base + asked, [act]).reactions
    assert r.severity == "error" and "never sent PowerDeliveryReq(Stop)" in r.text
    # DIN spells stop ReadyToChargeState=false; `within` overrides NotificationMaxDelay
    din_stop = [m(4.0, True, "PowerDeliveryReq", {"ReadyToChargeState": False})]
    act = StationAction(T0 + 0.71, "stop_charging", "CurrentDemandReq", {"within": 5})
    (r,) = build_report(base + asked + din_stop, [act]).reactions
    assert r.severity == "ok" and r.limit == 5.0


def test_ongoing_retry_drop_link_and_unknown_kind() -> None:
    base = session(stop=False)[:6]
    retry = [m(0.2, True, "ChargeParameterDiscoveryReq", cpd_req())]
    act = StationAction(T0 + 0.11, "ongoing", "ChargeParameterDiscoveryReq")
    assert build_report(base + retry, [act]).reactions[0].severity == "ok"
    wrong = [m(0.2, True, "CableCheckReq")]
    (r,) = build_report(base + wrong, [act]).reactions
    assert r.severity == "error" and "it must repeat the request" in r.text
    drop = StationAction(T0 + 0.11, "drop_link")
    assert build_report(base, [drop]).reactions[0].severity == "ok"
    assert build_report(base + wrong, [drop]).reactions[0].severity == "warning"
    (r,) = build_report(base, [StationAction(T0 + 0.11, "sing", "x")]).reactions
    assert r.severity == "info" and r.rule == "unknown-station-action"
    d = build_report(base, [act]).to_dict()
    assert d["actions"] == [
        {"t": T0 + 0.11, "kind": "ongoing", "request": "ChargeParameterDiscoveryReq", "detail": {}}
    ]


# ------------------------------------------------------------------------------------------ decoding, layering


class Sap:
    def decode(self, schema: str, payload: bytes) -> dict[str, Any]:
        if payload == b"bad":
            raise ValueError("EXI: unexpected end of stream")
        return {"supportedAppProtocolReq": {"AppProtocol": []}}


def test_decode_raw_bytes_and_broken_payloads() -> None:
    frames = [
        Frame(T0, True, "tcp", b"GET / HTTP/1.1\r\n", 1),
        Frame(T0 + 1, True, "tcp", b"\x01\xfe\x80\x01\x00\x00\x00\x03bad", 1),
        Frame(T0 + 2, True, "tcp", b"\x01\xfe\x80\x01\x00\x00\x00\x09bad", 1),
        Frame(T0 + 3, True, "tcp", b"\x01\xfe\x80\x01\x00\x00\x00\x02ok", 1),
    ]
    msgs = decode_frames(frames, Sap())
    assert [x.kind for x in msgs] == ["raw", "undecodable", "raw", "sap"]
    assert msgs[0].error == "starts with 47 45 54 20 2f 20 48 54; a V2GTP header starts with 01 fe"
    assert msgs[1].error == "EXI: unexpected end of stream"
    assert msgs[2].error == "length field 9 != 3"
    f = rules(build_report(msgs))
    assert f["not-v2gtp"].severity == "error" and f["exi-undecodable"].message == 1


def test_the_core_does_not_import_plotly() -> None:
    import josev.report

    pkg = Path(
        josev.report.__file__
    ).parent  # the installed package (the board roots test an installed wheel)
    for name in ("model", "core", "rules", "timing", "reaction", "quantities", "limits", "decode"):
        path = pkg / f"{name}.py"
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [x for x in names if x.startswith("plotly") or x == "josev.report.html"], path


def test_html_is_self_contained() -> None:
    pytest.importorskip("plotly")
    from josev.report.html import render_html

    text = render_html(build_report(session(), [StationAction(T0 + 0.5, "drop_link")]))
    head, plotly_js_and_rest = text.split('<script type="text/javascript">', 1)
    rest = plotly_js_and_rest.split("</script>", 1)[1]  # plotly.js itself, embedded, is skipped
    assert len(plotly_js_and_rest) - len(rest) > 1_000_000
    assert "<script src=" not in head + rest and "https://" not in head + rest
    assert 'id="plot-voltage"' in text and 'id="plot-response-times"' in text
    assert "Plotly.newPlot" in text and "CurrentDemandReq" in text and "drop_link" in text


def test_station_action_round_trip() -> None:
    a = StationAction(T0 + 1.5, "late", "PowerDeliveryReq", {"delay": 3.0})
    assert StationAction.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    with pytest.raises(ValueError, match="needs a number 't' and a text 'kind'"):
        StationAction.from_dict({"t": "soon", "kind": "late"})
    with pytest.raises(ValueError, match="'detail' of a station action must be an object"):
        StationAction.from_dict({"t": 1, "kind": "late", "detail": [1]})
