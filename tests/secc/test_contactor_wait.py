"""PowerDelivery waits for the contactor as a state of the core, for DIN, ISO 15118-2 and -20: the request makes
the core emit ``ContactorRequested`` and send nothing; ``contactor_result`` then sends the response the core
builds only now (OK, or FAILED_ContactorError / DIN FAILED_PowerDeliveryNotApplied, which ends the session).
The bytes are the real EXI codec's; the service on a real mosquitto and our EV over veth are in
test_contactor_gate.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from josev.secc.events import ContactorRequested, PowerDeliveryRequested, SessionEnded
from josev.secc.iso20 import services
from josev.secc.session import SeccSession, SessionConfig
from josev.v2g import sap, v2gtp
from josev.v2g.codec import exi_available, make_codec

from .iso20.test_handlers import _pd, _ready
from .samples import din_requests, iso2_requests
from .test_table import _SNAPS

pytestmark = pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built")
EXI = make_codec("exi")


def _v2g(secc: SeccSession, name: str, body: dict[str, Any]) -> dict[str, Any]:
    assert secc.engine is not None
    sid = secc.engine.ctx.session_id
    return {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {name: copy.deepcopy(body)}}}


def _din() -> tuple[SeccSession, dict[str, Any], str]:
    body = {**din_requests()["PowerDeliveryReq"], "ReadyToChargeState": True}
    secc = copy.deepcopy(_SNAPS["din"]["PreCharge"])
    return secc, _v2g(secc, "PowerDeliveryReq", body), "FAILED_PowerDeliveryNotApplied"


def _iso2() -> tuple[SeccSession, dict[str, Any], str]:
    body = {**iso2_requests(ac=False)["PowerDeliveryReq"], "ChargeProgress": "Start"}
    secc = copy.deepcopy(_SNAPS["iso2-dc"]["PreCharge"])
    return secc, _v2g(secc, "PowerDeliveryReq", body), "FAILED_ContactorError"


def _iso20() -> tuple[SeccSession, dict[str, Any], str]:
    eng = _ready(services.AC)
    secc = SeccSession(eng.ctx.station, 0.0)
    secc.engine, secc.protocol = eng, sap.AppProtocol.ISO20  # negotiated: the engine stands in PowerDelivery
    return secc, _pd("Start"), "FAILED_ContactorError"


CASES = {"din": _din, "iso2": _iso2, "iso20": _iso20}


def _held(proto: str) -> tuple[SeccSession, str]:
    secc, req, failed = CASES[proto]()
    assert secc.engine is not None
    secc.codec = EXI
    secc.config = SessionConfig(contactor_wait=True)
    secc.engine.contactor_wait = True
    state = secc.state
    out = secc.handle_message(req, 5.0)
    assert out.response is None and not out.close  # held: nothing goes to the EV yet
    assert PowerDeliveryRequested("Start") in out.events and ContactorRequested(True) in out.events
    assert secc.contactor is True and secc.state == state
    return secc, failed


def _code(frame: bytes, schema: str) -> tuple[int, str]:
    msg = EXI.decode(schema, frame[8:])
    res = msg["V2G_Message"]["Body"]["PowerDeliveryRes"] if "V2G_Message" in msg else msg["PowerDeliveryRes"]
    return int.from_bytes(frame[2:4], "big"), str(res["ResponseCode"])


PTYPE = {"din": v2gtp.PayloadType.EXI, "iso2": v2gtp.PayloadType.EXI, "iso20": v2gtp.PayloadType.EXI_20_MAIN}


@pytest.mark.parametrize("proto", sorted(CASES))
def test_contactor_confirmed_sends_ok_and_goes_on(proto: str) -> None:
    secc, _failed = _held(proto)
    out = secc.contactor_result(True, 5.5)
    assert len(out.send) == 1 and not out.close and not secc.closed
    assert _code(out.send[0], secc.schema) == (PTYPE[proto], "OK")
    assert secc.contactor is None and secc.state in ("CurrentDemand", "ChargeLoop")
    assert secc.next_timer == 5.5 + secc.config.timers.sequence  # the sequence timer runs from the answer
    assert secc.contactor_result(True, 6.0).send == []  # nothing is held any more


@pytest.mark.parametrize("proto", sorted(CASES))
def test_contactor_refused_sends_the_failure_code_and_ends(proto: str) -> None:
    secc, failed = _held(proto)
    out = secc.contactor_result(False, 5.5)
    assert len(out.send) == 1 and out.close and secc.closed and secc.state == "Ended"
    assert _code(out.send[0], secc.schema) == (PTYPE[proto], failed)
    ended = [e for e in out.events if isinstance(e, SessionEnded)]
    assert [e.reason for e in ended] == [failed] and ended[0].detail == "contactor not confirmed"
    assert secc.connection_lost(6.0) == []  # already over: no second end


@pytest.mark.parametrize("proto", sorted(CASES))
def test_request_while_the_contactor_switches_is_a_sequence_error(proto: str) -> None:
    secc, _failed = _held(proto)
    _s, again, _f = CASES[proto]()
    if "V2G_Message" in again:
        assert secc.engine is not None
        again["V2G_Message"]["Header"]["SessionID"] = secc.engine.ctx.session_id
    out = secc.handle_message(again, 5.2)
    assert out.close and out.response is not None and "FAILED_SequenceError" in repr(out.response)


def test_without_contactor_wait_the_response_leaves_at_once() -> None:
    secc, req, _failed = _iso2()
    out = secc.handle_message(req, 5.0)
    assert out.response is not None and "'OK'" in repr(out.response)
    assert not any(isinstance(e, ContactorRequested) for e in out.events)
