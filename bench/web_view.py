"""Live view costs: what the SECC spends per decoded message when ``publish_messages`` is on (building the
V2gMessage event and its JSON payload), what the view spends per bus message (validate, mask, keep, encode the
update once for every page), and the memory a full view holds. ``python -m bench web_view``."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from josev.api import coordinator as co
from josev.api import secc as api
from josev.bus import codec
from josev.secc.msgstream import MessageStream
from josev.web.hub import LiveModel
from josev.web.server import encode_event

N = 5000

CD_REQ: dict[str, Any] = {
    "V2G_Message": {
        "Header": {"SessionID": "0A1B2C3D4E5F6071"},
        "Body": {
            "CurrentDemandReq": {
                "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 42},
                "EVTargetCurrent": {"Multiplier": 0, "Unit": "A", "Value": 125},
                "EVMaximumVoltageLimit": {"Multiplier": 0, "Unit": "V", "Value": 450},
                "EVMaximumCurrentLimit": {"Multiplier": 0, "Unit": "A", "Value": 125},
                "EVMaximumPowerLimit": {"Multiplier": 1, "Unit": "W", "Value": 5000},
                "BulkChargingComplete": False,
                "ChargingComplete": False,
                "RemainingTimeToFullSoC": {"Multiplier": 0, "Unit": "s", "Value": 1800},
                "EVTargetVoltage": {"Multiplier": -1, "Unit": "V", "Value": 4100},
            }
        },
    }
}


def per_us(n: int, fn: Any) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def full_model() -> LiveModel:
    m = LiveModel()
    for i in range(2000):
        ev = MessageStream.event("iso2", CD_REQ, "c1", i)
        m.feed(api.V2gMessage.topic(1), ev.model_dump(mode="json"), float(i))
        m.feed(api.HlcEvent.topic(1), {"step": "power_delivery", "detail": "Start"}, float(i))
        target = {"phase": "charge", "voltage_v": 410.0, "current_a": 125.0, "soc_percent": 42}
        m.feed(api.EvTarget.topic(1), target, float(i))
        m.feed(co.SessionMeter.topic(1), {"ok": True, "power_w": 50000.0, "session_energy_wh": i}, float(i))
    return m


def main() -> None:
    stream = MessageStream(rate=1e9)
    event_us = per_us(N, lambda i: codec.encode(stream.event("iso2", CD_REQ, "c1", i), "json"))
    payload = MessageStream.event("iso2", CD_REQ, "c1", 0).model_dump(mode="json")
    m = LiveModel()
    feed_us = per_us(
        N, lambda i: [encode_event(u) for u in m.feed(api.V2gMessage.topic(1), payload, float(i))]
    )
    size = len(codec.encode(MessageStream.event("iso2", CD_REQ, "c1", 0), "json"))
    tracemalloc.start()
    model = full_model()
    snap = len(encode_event(model.snapshot()))
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"SECC, per decoded message (CurrentDemandReq): {event_us:.1f} us for the event and its JSON ({size} bytes)"
    )
    print(
        f"view, per V2gMessage from the bus: {feed_us:.1f} us (validate, mask, keep, encode the update once)"
    )
    print(
        f"full view ({len(model.messages)} messages, {len(model.events)} events,"
        f" {sum(len(p) for s in model.curves.values() for p in s.values())} curve points):"
        f" {current / 1e6:.2f} MB Python heap, snapshot {snap / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    main()
