"""The reference station's CSMS stand-in answers the notifications of the four OCA profiles (instead of a
NotImplemented CALLERROR that would make the station retry a queued NotifyEvent / ReservationStatusUpdate)."""

from __future__ import annotations

import json

from josev.sim.csms import CALLRESULT, CsmsSim


def test_stand_in_answers_the_oca_notifications() -> None:
    sim = CsmsSim()
    calls = {
        "ReservationStatusUpdate": {"reservationId": 1, "reservationUpdateStatus": "Expired"},
        "NotifyEvent": {"generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "eventData": []},
        "NotifyMonitoringReport": {"requestId": 1, "seqNo": 0, "generatedAt": "2026-01-01T00:00:00Z"},
        "NotifyDisplayMessages": {"requestId": 1},
    }
    for i, (action, payload) in enumerate(calls.items()):
        reply = json.loads(sim.answer("cs1", json.dumps([2, str(i), action, payload])) or "")
        assert reply == [CALLRESULT, str(i), {}], action
    assert sim.actions("cs1") == list(calls)
