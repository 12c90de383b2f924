"""Issue 13: the OCPP core runs on monotonic time; the wall clock only places it on the UNIX scale.

The system clock is stepped back by an hour (``time.time`` patched, as an NTP correction or an operator would
move it) while the station is connected, with a Heartbeat in flight that the CSMS does not answer. The
in-flight timeout (MessageTimeout, 2 s) still fires after about 2 s, heartbeats keep their 1 s interval, and the
timestamps the station sends stay on the CSMS's time.

Before: the core's ``now`` was ``time.time()``: after the step the in-flight deadline lay an hour ahead, so the
unanswered Heartbeat blocked every CALL and no heartbeat followed for an hour.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest

from josev.ocpp.connection import SteadyClock
from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms

STEP_S = -3600.0


async def heartbeat_times(csms: ScriptedCsms, n: int, timeout: float) -> list[float]:
    """Monotonic arrival times of the next ``n`` heartbeats."""
    out = []
    seen = len(csms.actions("Heartbeat"))
    for i in range(n):
        await csms.wait_for("Heartbeat", count=seen + i + 1, timeout=timeout)
        out.append(time.monotonic())
    return out


def test_steady_clock_ignores_wall_steps() -> None:
    wall, mono = [1_700_000_000.0], [100.0]
    clock = SteadyClock(lambda: wall[0], lambda: mono[0])
    assert clock() == 1_700_000_000.0
    mono[0] += 5.0
    wall[0] += 5.0 + STEP_S  # the system clock stepped back meanwhile
    assert clock() == 1_700_000_005.0


async def test_wall_clock_step_back_disturbs_no_timer(
    csms: ScriptedCsms, station: StationUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    station.st.dm.put("OCPPCommCtrlr", "HeartbeatInterval", "1")
    before = await heartbeat_times(csms, 2, timeout=5)
    assert 0.5 < before[1] - before[0] < 2.0

    csms.hold.add("Heartbeat")  # the next Heartbeat stays unanswered: in flight, MessageTimeout 2 s
    held = len(csms.actions("Heartbeat"))
    await csms.wait_for("Heartbeat", count=held + 1, timeout=5)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + STEP_S)
    stepped = time.monotonic()
    csms.hold.discard("Heartbeat")
    # the in-flight Heartbeat times out ~2 s after it was sent; heartbeats go on every second
    after = await heartbeat_times(csms, 3, timeout=6)
    assert after[0] - stepped < 4.0, after[0] - stepped
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert all(0.5 < g < 2.0 for g in gaps), gaps
    # timestamps stay on the CSMS's clock (the real one), not an hour back
    await station.feed("connector_status", 1, 1, "Occupied")
    sent = await csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Occupied")
    stamp = datetime.fromisoformat(sent["timestamp"].replace("Z", "+00:00"))
    assert abs((stamp - datetime.now(UTC)).total_seconds()) < 30, sent["timestamp"]
