"""Contactor supervision table: every (state, input) pair and the timing."""

from __future__ import annotations

import pytest

from josev.coordinator.contactor import CTABLE, CIn, ContactorSupervisor, CSt


def test_table_total() -> None:
    assert set(CTABLE) == {(s, i) for s in CSt for i in CIn}


@pytest.mark.parametrize(("state", "inp"), list(CTABLE))
def test_every_pair(state: CSt, inp: CIn) -> None:
    sup = ContactorSupervisor(0.5)
    sup.state = state
    fault = sup.feed(inp, 1.0)
    nxt, want = CTABLE[(state, inp)]
    assert fault == want
    assert sup.state is nxt
    assert (sup.deadline is not None) == (
        nxt in (CSt.CLOSING, CSt.OPENING) and (nxt is not state or inp in (CIn.CMD_CLOSE, CIn.CMD_OPEN))
    )


def test_welding_detected_after_open() -> None:
    sup = ContactorSupervisor(0.5)
    assert sup.command(True, 0.0) is None
    assert sup.feedback(True, 0.05) is None
    assert sup.state is CSt.CLOSED
    assert sup.command(False, 1.0) is None
    assert sup.poll(1.4) is None
    assert sup.poll(1.5) == "contactor_welded"


def test_normal_open_and_failure_to_close() -> None:
    sup = ContactorSupervisor(0.5)
    sup.feedback(False, 0.0)
    sup.command(True, 0.0)
    assert sup.poll(0.6) == "contactor_failed_to_close" and sup.state is CSt.OPEN
    sup2 = ContactorSupervisor(0.5)
    sup2.command(True, 0.0)
    sup2.feedback(True, 0.1)
    sup2.command(False, 1.0)
    sup2.feedback(False, 1.1)
    assert sup2.state is CSt.OPEN and sup2.poll(5.0) is None


def test_stale_report_after_a_quick_close_open_is_not_a_weld() -> None:
    # close, then open before the HAL reported "closed"; the "closed" report arrives after the open command
    sup = ContactorSupervisor(0.5)
    sup.feedback(False, 0.0)
    sup.command(True, 1.0)
    sup.command(False, 1.02)
    assert sup.feedback(True, 1.021) is None  # stale
    assert sup.feedback(False, 1.03) is None
    assert sup.state is CSt.OPEN and sup.poll(2.0) is None


def test_close_open_without_any_report() -> None:
    sup = ContactorSupervisor(0.5)
    sup.feedback(False, 0.0)
    sup.command(True, 1.0)
    sup.command(False, 1.001)  # the HAL never saw it closed: no report at all
    assert sup.poll(1.6) is None and sup.state is CSt.OPEN


def test_uncommanded_changes() -> None:
    sup = ContactorSupervisor()
    sup.feedback(False, 0)
    assert sup.feedback(True, 1) == "contactor_welded"
    sup = ContactorSupervisor()
    sup.command(True, 0)
    sup.feedback(True, 0.1)
    assert sup.feedback(False, 2) == "contactor_dropped"
