"""Station scenarios (issue 21), the parts without sockets: the file format and its errors (each naming the
file and line), ``josev station --scenario list`` / a bad file at the command line (the station does not
start), and the sans-IO engine on response dicts (n-th request, protocols, persistent limits, the held Ongoing
answer, the record)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from josev.cli.station import app
from josev.secc import scenario as sc
from josev.v2g.physical import pv

BUILTIN = sorted(p.stem for p in sc.BUILTIN_DIR.glob("*.toml"))


def test_every_builtin_parses_and_is_listed_with_its_description() -> None:
    res = CliRunner().invoke(app, ["--scenario", "list"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == len(BUILTIN) >= 14
    for s in sc.builtin():
        assert s.description, s.name
        line = next(x for x in lines if x.split()[0] == s.name)
        assert line.split(None, 1)[1] == s.description
    kinds = {a.kind for s in sc.builtin() for a in s.actions}
    assert kinds == set(sc.model.KINDS)  # every kind has a built-in scenario


BAD = [
    (
        'description = "x"\n\n[[action]]\nkind = "code"\nrequest = "CurentDemand"\ncode = "FAILED"\n',
        ":5: unknown request 'CurentDemand'",
    ),
    (
        'description = "x"\n[[action]]\nkind = "delay"\nrequest = "CurrentDemand"\ndelay_s = 1\n'
        '[[action]]\nkind = "code"\nrequest = "PreCharge"\ncode = "FAILED"\nfor_s = 3\n',
        ":10: unknown field 'for_s' for kind 'code'",
    ),
    ('[[action]]\nkind = "explode"\nrequest = "PreCharge"\n', ":2: unknown kind 'explode'"),
    (
        '[[action]]\nkind = "delay"\nrequest = "PreCharge"\n',
        ":1: a 'delay' action needs delay_s or timeout_margin_s",
    ),
    ('[[action]]\nkind = "delay"\nrequest = "PreCharge"\ndelay_s = "late"\n', ":4: delay_s must be a number"),
    (
        '[[action]]\nkind = "code"\nrequest = "PreCharge"\ncode = "BROKEN"\n',
        ":4: code 'BROKEN' must start with",
    ),
    (
        '[[action]]\nkind = "code"\nrequest = "PreCharge"\ncode = "FAILED"\nnth = 0\n',
        ":5: nth must be a whole number",
    ),
    (
        '[[action]]\nkind = "notify"\nrequest = "CurrentDemand"\nprotocols = ["iso20"]\nnotification = "Pause"\n',
        ":3: request 'CurrentDemand' is not part of iso20",
    ),
    ('[station]\ntls = "iso2"\nspeed = 3\n', ":3: unknown station setting 'speed'"),
    ('[station]\ntls = "tls9"\n', ":2: unknown tls 'tls9'"),
    ('colour = "red"\n[station]\ntls = "iso2"\n', ":1: unknown key 'colour'"),
    ('[[action]]\nkind = "code"\nrequest = "PreCharge"\ncode = "FAILED"\nnth = \n', "not valid TOML"),
    ('description = "nothing to do"\n', "has no [[action]] and no [station] settings"),
]


@pytest.mark.parametrize(("text", "error"), BAD, ids=[e for _, e in BAD])
def test_a_bad_scenario_file_names_the_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(path)
    assert str(e.value).startswith(str(path)), e.value
    assert error in str(e.value), e.value


def test_a_bad_scenario_file_stops_the_station_before_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('description = "x"\n\n[[action]]\nkind = "ongoing"\nrequest = "CableChek"\nfor_s = 5\n')
    res = CliRunner().invoke(app, ["--sim", "--iface", "lo", "--scenario", str(path)])
    assert res.exit_code == 2
    assert f"error: {path}:5: unknown request 'CableChek'" in res.output
    assert "station ready" not in res.output
    res = CliRunner().invoke(app, ["--sim", "--iface", "lo", "--scenario", "no-such-one"])
    assert res.exit_code == 2 and "no built-in scenario 'no-such-one'" in res.output


def cd_res(max_i: float = 125.0, code: str = "OK") -> dict[str, Any]:
    """A DIN / ISO-2 CurrentDemandRes as the cores produce it."""
    body = {
        "ResponseCode": code,
        "DC_EVSEStatus": {
            "NotificationMaxDelay": 0,
            "EVSENotification": "None",
            "EVSEIsolationStatus": "Valid",
            "EVSEStatusCode": "EVSE_Ready",
        },
        "EVSEPresentVoltage": pv(400.0, "V"),
        "EVSEPresentCurrent": pv(100.0, "A"),
        "EVSEMaximumCurrentLimit": pv(max_i, "A"),
        "EVSEMaximumPowerLimit": pv(50_000.0, "W"),
    }
    return {"V2G_Message": {"Header": {"SessionID": "00AB"}, "Body": {"CurrentDemandRes": body}}}


def res_body(msg: dict[str, Any]) -> dict[str, Any]:
    return dict(next(iter(msg["V2G_Message"]["Body"].values())))


def script(text: str) -> sc.SessionScript:
    return sc.ScenarioRunner(sc.parse(text, name="t")).session(100.0, 1_000.0)


def test_engine_acts_on_the_nth_request_of_its_protocols_only() -> None:
    s = script(
        '[[action]]\nkind = "notify"\nrequest = "ChargeLoop"\nprotocols = ["iso2"]\nnth = 2\n'
        'notification = "StopCharging"\nmax_delay_s = 3\n'
    )
    din = s.runner.session(0.0, 0.0)  # a DIN session on the same station: no action
    for n in range(4):
        assert din.on_exchange("din", "CurrentDemand", cd_res(), float(n), 0).response is None
    assert s.on_exchange("iso2", "CurrentDemand", cd_res(), 101.0, 1_001.0).response is None  # 1st of iso2
    plan = s.on_exchange("iso2", "CurrentDemand", cd_res(), 102.0, 1_002.5)
    assert plan.response is not None
    st = res_body(plan.response)["DC_EVSEStatus"]
    assert (st["EVSENotification"], st["NotificationMaxDelay"]) == ("StopCharging", 3)
    assert s.on_exchange("iso2", "CurrentDemand", cd_res(), 103.0, 1_003.0).response is None  # once only
    assert [(a.t, a.kind, a.request, a.detail) for a in s.taken] == [
        (1_002.5, "notify", "CurrentDemand", "EVSENotification StopCharging")
    ]
    assert s.runner.record == s.taken
    out = s.summary()
    assert out["scenario"] == "t" and out["protocol"] == "iso2" and len(out["actions"]) == 1
    json.dumps(out)


def test_engine_limit_step_caps_every_later_answer_and_delay_uses_the_standard_timeout() -> None:
    s = script(
        '[[action]]\nkind = "limit"\nrequest = "CurrentDemand"\nnth = 2\ncurrent_a = 40\n'
        '[[action]]\nkind = "delay"\nrequest = "CurrentDemand"\nnth = 3\ntimeout_margin_s = 0.15\n'
    )
    assert s.on_exchange("din", "CurrentDemand", cd_res(), 100.1, 0).response is None
    for n in (2, 3, 4):
        plan = s.on_exchange("din", "CurrentDemand", cd_res(), 100.0 + n, 0)
        assert plan.response is not None
        assert res_body(plan.response)["EVSEMaximumCurrentLimit"] == pv(40.0, "A")
        assert plan.delay_s == (pytest.approx(0.4) if n == 3 else 0.0)  # 0.25 s + 0.15 s
    plan = s.on_exchange("din", "CurrentDemand", cd_res(max_i=30.0), 105.0, 0)
    assert plan.response is None  # already below the cap: unchanged
    assert [a.kind for a in s.taken] == ["limit", "delay"]
    assert s.taken[1].detail == "answered 0.4 s late (EV timeout 0.25 s, margin +0.15 s)"


def test_engine_holds_the_real_answer_while_it_says_ongoing() -> None:
    s = script('[[action]]\nkind = "ongoing"\nrequest = "CableCheck"\nfor_s = 2\n')
    real = {
        "V2G_Message": {
            "Header": {"SessionID": "01"},
            "Body": {"CableCheckRes": {"ResponseCode": "OK", "EVSEProcessing": "Finished"}},
        }
    }
    plan = s.on_exchange("iso2", "CableCheck", real, 10.0, 0)
    assert plan.response is not None and res_body(plan.response)["EVSEProcessing"] == "Ongoing"
    assert res_body(real)["EVSEProcessing"] == "Finished"  # the core's dict is not touched
    assert s.holding
    again = s.held_answer("CableCheck", 11.0, 0)
    assert again is not None and res_body(again)["EVSEProcessing"] == "Ongoing"
    final = s.held_answer("CableCheck", 12.5, 0)
    assert final is not None and res_body(final)["EVSEProcessing"] == "Finished"
    assert not s.holding and s.held_answer("CableCheck", 13.0, 0) is None  # back to the core
    assert [a.detail for a in s.taken] == [
        "EVSEProcessing Ongoing for 2 s",
        "real answer after 2 repeated requests",
    ]


def test_engine_status_code_and_drop_actions() -> None:
    s = script(
        '[[action]]\nkind = "status"\nrequest = "CableCheck"\nisolation = "Fault"\ncode = "FAILED"\n'
        '[[action]]\nkind = "close_tcp"\nrequest = "CurrentDemand"\nnth = 2\n'
        '[[action]]\nkind = "status"\nrequest = "ChargeLoop"\nprotocols = ["iso20"]\nstatus_code = "EVSE_EmergencyShutdown"\n'
    )
    cc = {
        "V2G_Message": {
            "Header": {"SessionID": "01"},
            "Body": {"CableCheckRes": cd_res()["V2G_Message"]["Body"]["CurrentDemandRes"]},
        }
    }
    plan = s.on_exchange("din", "CableCheck", cc, 1.0, 0)
    assert plan.response is not None
    body = res_body(plan.response)
    assert body["ResponseCode"] == "FAILED" and body["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Fault"
    assert not s.on_exchange("din", "CurrentDemand", cd_res(), 2.0, 0).close
    assert s.on_exchange("din", "CurrentDemand", cd_res(), 3.0, 0).close
    s20 = s.runner.session(0.0, 0.0)
    loop = {"DC_ChargeLoopRes": {"Header": {}, "ResponseCode": "OK"}}
    plan = s20.on_exchange("iso20-dc", "DC_ChargeLoop", loop, 1.0, 0)
    assert plan.response is not None
    assert plan.response["DC_ChargeLoopRes"]["EVSEStatus"] == {
        "NotificationMaxDelay": 0,
        "EVSENotification": "Terminate",
    }
    assert [a.kind for a in s.runner.record] == ["status", "close_tcp", "status"]


def test_the_docs_list_every_builtin_with_its_description() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ev-testing-scenarios.md").read_text()
    for s in sc.builtin():
        kinds = ", ".join(sorted({a.kind for a in s.actions})) or "station"
        assert f"| `{s.name}` | {kinds} | {s.description} |" in doc, s.name
    for kind in sc.model.KINDS:
        assert f"| `{kind}` |" in doc, kind


def test_engine_after_s_acts_on_the_first_request_that_late_in_the_session() -> None:
    s = script('[[action]]\nkind = "code"\nrequest = "CurrentDemand"\nafter_s = 2.5\ncode = "FAILED"\n')
    for t in (100.5, 101.5, 102.4):
        assert s.on_exchange("iso2", "CurrentDemand", cd_res(), t, 0).response is None
    plan = s.on_exchange("iso2", "CurrentDemand", cd_res(), 102.6, 0)  # 2.6 s after the session started
    assert plan.response is not None and res_body(plan.response)["ResponseCode"] == "FAILED"
    assert s.on_exchange("iso2", "CurrentDemand", cd_res(), 103.0, 0).response is None


def test_the_session_record_reads_back_as_station_actions(tmp_path: Path) -> None:
    from josev.secc.scenario.hook import ConnectionHook
    from josev.v2g.codec import make_codec

    s = script('[[action]]\nkind = "close_tcp"\nrequest = "CurrentDemand"\n')
    s.on_exchange("din", "CurrentDemand", cd_res(), 101.0, 1_700_000_000.25)
    path = ConnectionHook(s, make_codec("json")).write(tmp_path / "logs" / "v2g-evse1-AB-x.pcapng")
    assert path == tmp_path / "logs" / "v2g-evse1-AB-x.scenario.json"
    assert sc.read_record(path) == [
        sc.TakenAction(
            1_700_000_000.25, "close_tcp", "CurrentDemand", "TCP connection dropped instead of answering"
        )
    ]
