"""Logic unit tests: OCPP-J framing, schema/format checks, back-off, profile fallback, device model, store,
the routing table, and the sans-IO core driven with a fake clock (exactly one CALL in flight, MessageTimeout)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from josev.ocpp import backoff, routing, rpc, schemas
from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import build_station
from josev.ocpp.devmodel import DeviceModel, core_variables
from josev.ocpp.effects import SendFrame
from josev.ocpp.store import Store


def test_rpc_roundtrip_and_errors() -> None:
    frames: list[rpc.Frame] = [
        rpc.Call("1", "Heartbeat", {}),
        rpc.CallResult("2", {"a": 1}),
        rpc.CallError("3", "GenericError", "x", {}),
    ]
    for frame in frames:
        assert rpc.parse(rpc.encode(frame)) == frame
    cases = {
        "[]": "RpcFrameworkError",
        '[2, 5, "A", {}]': "RpcFrameworkError",
        '[9, "x", {}]': "MessageTypeNotSupported",
        '[2, "x", "A", []]': "FormatViolation",
        '[2, "' + "x" * 37 + '", "A", {}]': "RpcFrameworkError",
        '[3, "x"]': "RpcFrameworkError",
    }
    for text, code in cases.items():
        with pytest.raises(rpc.RpcError) as err:
            rpc.parse(text)
        assert err.value.code == code, text


@given(hs.text(max_size=200))
def test_rpc_parse_never_crashes(text: str) -> None:
    with contextlib.suppress(rpc.RpcError):
        rpc.parse(text)


def test_format_checks() -> None:
    assert schemas.is_date_time("2024-02-29T23:59:59.123+01:00")
    for bad in ["2024-02-30T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "now"]:
        assert not schemas.is_date_time(bad), bad
    assert schemas.is_uri("https://host:8443/path?q=1")
    for bad in ["host/path", "http//x", "http://", "ht tp://x"]:
        assert not schemas.is_uri(bad), bad


def test_backoff_doubles_then_stays() -> None:
    waits = [backoff.delay(i, 5, 10, 3, 0.5) for i in range(6)]
    assert waits == [10.0, 15.0, 25.0, 45.0, 45.0, 45.0]
    assert backoff.delay(0, 5, 10, 3, 0.0) == 5.0
    # both variables 0: never a hot loop (before: 0.0 s, 30,000 log lines in 15 s against a refused port)
    assert [backoff.delay(i, 0, 0, 3, 0.9) for i in range(3)] == [backoff.MIN_WAIT_S] * 3


def test_profile_cycler_falls_back() -> None:
    c = backoff.ProfileCycler(attempts_per_slot=2)
    prio = [3, 1]
    seen = []
    for _ in range(6):
        seen.append(c.current(prio))
        c.failed(prio)
    assert seen == [3, 3, 1, 1, 3, 3]


def test_device_model_precedence_and_checks(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    defs = core_variables({1: 2})
    dm = DeviceModel(store, defs, {"OCPPCommCtrlr/HeartbeatInterval": "60"})
    assert dm.get("OCPPCommCtrlr", "HeartbeatInterval") == "60"
    d, _ = dm.find({"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"})
    assert d is not None and dm.set_from_csms(d, "90") == ("Accepted", "")
    dm2 = DeviceModel(Store(tmp_path / "db"), defs, {"OCPPCommCtrlr/HeartbeatInterval": "60"})
    assert dm2.get("OCPPCommCtrlr", "HeartbeatInterval") == "90"  # persisted beats configuration
    assert dm.find({"name": "Connector", "evse": {"id": 1, "connectorId": 2}}, {"name": "AvailabilityState"})[
        0
    ]
    assert (
        dm.find({"name": "Connector", "evse": {"id": 1, "connectorId": 3}}, {"name": "X"})[1]
        == "UnknownComponent"
    )
    d, _ = dm.find({"name": "TxCtrlr"}, {"name": "TxStartPoint"})
    assert d is not None
    assert dm.check(d, "EVConnected,Authorized") is None
    assert dm.check(d, "EVConnected,EVConnected") is not None
    with pytest.raises(ValueError):
        DeviceModel(store, defs, {"Nope/Nope": "1"})


def test_store_queue_order_and_atomic_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db", durable=False)
    for i in range(5):
        store.enqueue_and_put("TransactionEvent", {"seqNo": i}, 0.0, "tx:1", {"seq": i + 1})
    assert [m.payload["seqNo"] for m in store.queued()] == [0, 1, 2, 3, 4]
    head = store.head()
    assert head is not None
    store.dequeue(head.id)
    assert store.get("tx:1") == {"seq": 5} and store.queue_length() == 4
    store.log_security("t", "A", None, keep=3)
    for i in range(5):
        store.log_security("t", f"E{i}", None, keep=3)
    assert [t for _, t, _ in store.security_log()] == ["E2", "E3", "E4"]


def test_routing_table_is_printable_and_valid() -> None:
    text = routing.describe()
    assert "RequestStartTransaction" in text and "authorization.request_start" in text
    for action in routing.TABLE:
        assert schemas.known_action(action), action


def _frames(effects: list[Any]) -> list[list[Any]]:
    return [json.loads(e.text) for e in effects if isinstance(e, SendFrame)]


def test_core_one_call_in_flight_and_timeout(tmp_path: Path) -> None:
    st = build_station(OcppConfig(identity="X", csms_url="ws://h", database=tmp_path / "c.db", evses={1: 1}))
    out = _frames(st.connected(100.0))
    assert [f[2] for f in out] == ["BootNotification"]
    assert _frames(st.tick(101.0)) == []  # nothing else while the boot is unanswered
    boot_ok = {"currentTime": "2030-01-01T00:00:00Z", "interval": 60, "status": "Accepted"}
    out = _frames(st.receive(json.dumps([3, out[0][1], boot_ok]), 101.0))
    assert [f[2] for f in out] == ["SecurityEventNotification"] or [f[2] for f in out] == [
        "StatusNotification"
    ]
    # answer everything one at a time: never two CALLs outstanding
    t = 102.0
    sent: list[str] = [out[0][2]]
    pending = out[0]
    while True:
        nxt = _frames(st.receive(json.dumps([3, pending[1], {}]), t))
        calls = [f for f in nxt if f[0] == 2]
        assert len(calls) <= 1
        if not calls:
            break
        pending = calls[0]
        sent.append(pending[2])
    # StartupOfTheDevice, and SettingSystemTime (the CSMS time moved the clock from 1970 to 2030)
    assert sorted(sent) == ["SecurityEventNotification", "SecurityEventNotification", "StatusNotification"]
    # MessageTimeout: an unanswered Heartbeat is abandoned after 30 s and the next heartbeat goes later
    hb = _frames(st.tick(t + 60))
    assert [f[2] for f in hb] == ["Heartbeat"]
    assert st.next_deadline() == pytest.approx(t + 60 + 30)
    assert _frames(st.tick(t + 60 + 30)) == []  # next heartbeat is due at t + 120
    assert st.stats["timeouts"] == 1


def test_invalid_queued_message_is_dropped_not_blocking(tmp_path: Path) -> None:
    st = build_station(OcppConfig(identity="X", csms_url="ws://h", database=tmp_path / "d.db", evses={1: 1}))
    st.store.enqueue("TransactionEvent", {"eventType": "Nonsense"}, 0.0)
    st.store.enqueue("SecurityEventNotification", {"type": "X", "timestamp": "2030-01-01T00:00:00Z"}, 0.0)
    boot = _frames(st.connected(10.0))[0]
    boot_ok = {"currentTime": "2030-01-01T00:00:00Z", "interval": 60, "status": "Accepted"}
    out = _frames(st.receive(json.dumps([3, boot[1], boot_ok]), 10.0))
    sent = [out[0][2]]
    while True:
        nxt = [f for f in _frames(st.receive(json.dumps([3, out[0][1], {}]), 10.0)) if f[0] == 2]
        if not nxt:
            break
        out = nxt
        sent.append(out[0][2])
    assert "TransactionEvent" not in sent and "SecurityEventNotification" in sent
    assert st.store.queue_length() == 0 and st.stats["dropped"] == 1
