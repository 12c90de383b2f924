"""The -20 state table: printable, consistent with the handlers, and every (state, request) pair outside it
answered with FAILED_SequenceError (schema-valid, session ended)."""

from __future__ import annotations

import pytest

from josev.secc.events import ProtocolViolation, SessionEnded
from josev.secc.iso20 import HANDLERS, SPEC, STATES, TABLE
from josev.secc.machine import ENDED

from .helpers import EXI, SID, code, engine, req

PAIRS = [(s, r) for s in STATES if s != ENDED for r in HANDLERS]
OUTSIDE = [(s, r) for s, r in PAIRS if (s, r) not in TABLE]


def test_table_is_printable_and_consistent() -> None:
    text = SPEC.format_table()
    assert "SessionSetup" in text and "-> AuthorizationSetup" in text
    assert len(text.splitlines()) == len(TABLE)
    for (state, request), nexts in TABLE.items():
        assert state in STATES and request in HANDLERS
        assert nexts and nexts <= set(STATES)
    assert {r for _, r in TABLE} == set(HANDLERS)  # every handler is reachable


def test_every_state_is_reachable_from_the_initial_one() -> None:
    seen, todo = {SPEC.initial}, [SPEC.initial]
    while todo:
        s = todo.pop()
        for (state, _r), nexts in TABLE.items():
            if state == s:
                for n in nexts - seen:
                    seen.add(n)
                    todo.append(n)
    assert seen == set(STATES)


def test_handlers_declare_request_response_and_schema() -> None:
    for name, h in HANDLERS.items():
        assert name == h.REQUEST and name[:-3] + "Res" == h.RESPONSE
        assert (
            "iso20-ac" if name.startswith("AC_") else "iso20-dc" if name.startswith("DC_") else "iso20-cm"
        ) == h.SCHEMA


@pytest.mark.parametrize(("state", "request_name"), OUTSIDE)
def test_request_outside_the_table_is_a_sequence_error(state: str, request_name: str) -> None:
    eng = engine(state, service=2)
    step = eng.step(req(request_name), 1.0)
    assert code(step.response) == "FAILED_SequenceError"
    assert next(iter(step.response or {})) == request_name[:-3] + "Res"
    assert step.end and eng.ended
    assert any(isinstance(e, ProtocolViolation) for e in step.events)
    assert any(isinstance(e, SessionEnded) and e.reason == "FAILED_SequenceError" for e in step.events)
    if EXI:
        import josev.exi

        josev.exi.encode(step.schema, step.response or {})  # the negative answer is schema-valid


@pytest.mark.parametrize(
    ("state", "request_name"), [p for p in PAIRS if p in TABLE and p[1] != "SessionSetupReq"]
)
def test_request_inside_the_table_with_a_foreign_session_id(state: str, request_name: str) -> None:
    eng = engine(state, service=2)
    step = eng.step(req(request_name, "1111111111111111"), 1.0)
    assert code(step.response) == "FAILED_UnknownSession"
    assert eng.ended


def test_ended_engine_answers_nothing() -> None:
    eng = engine("SessionSetup")
    eng.state = ENDED
    step = eng.step(req("SessionSetupReq", EVCCID="X"), 0.0)
    assert step.response is None and step.end


@pytest.mark.parametrize(
    "msg",
    [
        None,
        [],
        {"A": {}, "B": {}},
        {"SessionSetupReq": 5},
        {"SessionSetupReq": {"EVCCID": "X"}},
        {"SessionSetupReq": {"Header": {"SessionID": "XYZ", "TimeStamp": 1}, "EVCCID": "X"}},
        {"SessionSetupReq": {"Header": {"SessionID": SID}, "EVCCID": "X"}},
        {"NotARequest": {"Header": {"SessionID": SID, "TimeStamp": 1}}},
    ],
)
def test_malformed_messages_end_the_session_without_an_answer(msg: object) -> None:
    eng = engine()
    step = eng.step(msg, 0.0)
    assert step.response is None and step.end
    assert [type(e).__name__ for e in step.events] == ["SessionEnded"]
