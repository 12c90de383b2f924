"""The coordinator's link to the HAL: timeouts while the HAL is not up are not faults, and a HAL that comes up
(late start, restart) gets the pilot and an open contactor again; a closed contactor is never re-closed."""

from __future__ import annotations

from hal.types import PilotMode, PilotOutput
from josev.api.base import CommandError, CommandTimeout
from josev.coordinator.hallink import HalLink
from josev.coordinator.outputs import ContactorCmd, PilotCmd

PWM = PilotCmd(PilotOutput(PilotMode.PWM, 26.7))


def test_timeouts_sent_before_the_hal_was_up_are_excused() -> None:
    link = HalLink()
    assert link.excused(CommandTimeout("no reply"), hal_was_up=False)
    assert not link.excused(CommandTimeout("no reply"), hal_was_up=True)
    assert not link.excused(CommandError("internal", "pilot failed"), hal_was_up=False)


def test_ready_transitions() -> None:
    link = HalLink()
    assert not link.on_status("starting")
    assert link.on_status("ready")
    assert not link.on_status("ready")  # retained again: no new transition
    assert not link.on_status("stopped") and not link.ready
    assert link.on_status("ready")  # restarted


def test_resend_pilot_and_open_contactor_only() -> None:
    link = HalLink()
    assert link.resend(1) == []
    link.record(1, ContactorCmd(False))
    link.record(1, PWM)
    assert link.resend(1) == [ContactorCmd(False), PWM]  # contactor first, then pilot
    link.record(1, ContactorCmd(True))
    assert link.resend(1) == [PWM]
    assert link.resend(2) == []
