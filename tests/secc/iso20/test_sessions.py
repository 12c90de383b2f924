"""Whole -20 sessions: our EV core against our SECC core (through the real EXI codec when it is built), the
byte-level connection (SAP, -20 payload types, legacy hand-over to DIN / ISO 15118-2, timers)."""

from __future__ import annotations

from typing import Any

import pytest

from josev.ev.evcc import Evcc, EvConnection
from josev.ev.iso20 import Iso20Behaviour
from josev.ev.iso20.evcc import Ev20Connection, Evcc20
from josev.secc.events import SessionEnded
from josev.secc.iso20.context import Iso20Context, Iso20Evse
from josev.secc.iso20.events import StandbyChanged, shared_events
from josev.secc.machine import Engine, SessionStore
from josev.secc.session import SeccSession, SessionConfig
from josev.secc.timers import SeccTimers
from josev.v2g import v2gtp
from josev.v2g.codec import ExiCodec, JsonDebugCodec

from .helpers import EXI, drive, station

COMBOS = [(p, d) for p in ("iso20-ac", "iso20-dc", "iso20-ac-bpt", "iso20-dc-bpt") for d in (False, True)]


@pytest.mark.parametrize(("protocol", "dynamic"), COMBOS)
def test_complete_session(protocol: str, dynamic: bool) -> None:
    run = drive(protocol, Iso20Behaviour(dynamic=dynamic, loops=4), codec=EXI)
    assert run.ev.result.outcome == "finished", run.ev.result.detail
    assert all(c.startswith("OK") for _, _, c in run.exchanges)
    names = [q for q, _, _ in run.exchanges]
    assert names.count("AC_ChargeLoopReq" if "-ac" in protocol else "DC_ChargeLoopReq") == 4
    if "-dc" in protocol:
        assert {"DC_CableCheckReq", "DC_PreChargeReq", "DC_WeldingDetectionReq"} <= set(names)
    assert run.ev.battery.soc > 30.0
    assert run.engine.ended


@pytest.mark.parametrize("protocol", ["iso20-ac-bpt", "iso20-dc-bpt"])
def test_bpt_discharge_scheduled_and_dynamic(protocol: str) -> None:
    run = drive(protocol, Iso20Behaviour(loops=3, discharge=True), codec=EXI)
    assert run.ev.result.outcome == "finished", run.ev.result.detail
    assert run.ev.battery.soc < 30.0  # the EV gave energy back
    st = station()
    st.power_setpoint = -5000.0  # dynamic: the coordinator asks for discharge
    run = drive(protocol, Iso20Behaviour(loops=3, dynamic=True), st=st, codec=EXI)
    assert run.ev.result.outcome == "finished"
    assert run.ev.battery.soc < 30.0


def test_pause_and_resume_with_the_same_session_id() -> None:
    store = SessionStore()
    run = drive("iso20-dc", Iso20Behaviour(loops=10, pause_after=2), store=store)
    assert run.ev.result.outcome == "paused"
    sid = run.ev.result.session_id
    assert sid in store.paused
    again = drive("iso20-dc", Iso20Behaviour(loops=2), store=store, resume=sid)
    assert again.ev.result.outcome == "finished"
    assert again.exchanges[0][2] == "OK_OldSessionJoined"


def test_service_renegotiation_changes_the_service() -> None:
    beh = Iso20Behaviour(loops=2, service_renegotiate_after=1, renegotiate_to="iso20-ac-bpt")
    run = drive("iso20-ac", beh, codec=EXI)
    assert run.ev.result.outcome == "finished" and run.ev.result.renegotiations == 1
    assert [q for q, _, _ in run.exchanges].count("ServiceSelectionReq") == 2
    assert run.engine.ctx.selection is not None and run.engine.ctx.selection.bpt


def test_standby_in_dynamic_mode() -> None:
    run = drive(
        "iso20-dc-bpt", Iso20Behaviour(dynamic=True, loops=6, standby_after=2, standby_loops=2), codec=EXI
    )
    assert run.ev.result.outcome == "finished"
    flips = [e.standby for e in run.events if isinstance(e, StandbyChanged)]
    assert flips == [True, False]


def test_ev_schedule_renegotiation() -> None:
    run = drive("iso20-ac", Iso20Behaviour(loops=4, schedule_renegotiate_after=2), codec=EXI)
    assert run.ev.result.outcome == "finished" and run.ev.result.renegotiations == 1
    assert [q for q, _, _ in run.exchanges].count("ScheduleExchangeReq") == 2


def test_station_limit_change_makes_the_ev_renegotiate_the_schedule() -> None:
    def hook(i: int, st: Iso20Evse, eng: Engine[Iso20Context]) -> None:
        if i == 12:
            st.view.limits.ac_max_current = 10.0
            st.view.limits_version += 1

    run = drive("iso20-ac", Iso20Behaviour(loops=5), hook=hook)
    assert run.ev.result.outcome == "finished" and run.ev.result.renegotiations == 1
    assert run.engine.ctx.offered_pmax == pytest.approx(230 * 10 * 3)


def test_station_stop_terminates() -> None:
    def hook(i: int, st: Iso20Evse, eng: Engine[Iso20Context]) -> None:
        if eng.state == "ChargeLoop" and i > 14:
            st.view.stop_requested = True

    run = drive("iso20-dc", Iso20Behaviour(loops=50), hook=hook)
    assert run.ev.result.outcome == "finished" and run.ev.result.loops < 50


def test_authorization_ongoing_loop() -> None:
    st = station(authorized=None)

    def hook(i: int, s: Iso20Evse, eng: Engine[Iso20Context]) -> None:
        if i == 6:
            s.view.authorized = True

    run = drive("iso20-ac", Iso20Behaviour(loops=1), st=st, hook=hook, auto_authorize=False)
    assert run.ev.result.outcome == "finished"
    assert [q for q, _, _ in run.exchanges].count("AuthorizationReq") == 5


# --- byte level -------------------------------------------------------------------------------------


def _codec() -> Any:
    return ExiCodec() if EXI else JsonDebugCodec()


def _pump(conn: SeccSession, first: bytes, ev: Any, now: float = 0.0) -> list[int]:
    """Run EV bytes through the connection until the EV is done; returns the payload types the SECC sent."""
    from josev.sim.supply import SimPowerSupply

    sup = SimPowerSupply()
    types: list[int] = []
    data = [first]
    while data:
        out = conn.receive(b"".join(data), now)
        sup.apply(conn.evse, shared_events(out.events))
        types += [int.from_bytes(f[2:4], "big") for f in out.send]
        data = ev.receive(b"".join(out.send), now) if out.send else []
        now += 0.01
    return types


@pytest.mark.parametrize("protocol", ["iso20-ac", "iso20-dc-bpt"])
def test_connection_uses_the_payload_type_of_each_schema(protocol: str) -> None:
    codec = _codec()
    conn = SeccSession(station(), 0.0, codec=codec)
    ev = Ev20Connection(Evcc20(protocol, behaviour=Iso20Behaviour(loops=2)), codec)
    types = _pump(conn, ev.start(), ev)
    assert ev.evcc.result.outcome == "finished"
    assert types[0] == v2gtp.PayloadType.EXI
    loop_type = v2gtp.PayloadType.EXI_20_AC if "-ac" in protocol else v2gtp.PayloadType.EXI_20_DC
    assert set(types[1:]) == {v2gtp.PayloadType.EXI_20_MAIN, loop_type}
    assert conn.protocol == "iso20" and conn.closed


@pytest.mark.parametrize("protocol", ["din", "iso2-dc", "iso2-ac"])
def test_connection_hands_din_and_iso2_to_the_legacy_session(protocol: str) -> None:
    codec = _codec()
    modes = ("AC_three_phase_core",) if protocol == "iso2-ac" else ("DC_extended",)
    st = station(bpt=False)
    st.view.energy_modes = modes
    conn = SeccSession(st, 0.0, codec=codec)
    ev = EvConnection(Evcc(protocol), codec)
    from josev.sim.supply import SimPowerSupply

    sup = SimPowerSupply()
    data = [ev.start()]
    now = 0.0
    while data:
        out = conn.receive(b"".join(data), now)
        sup.apply(st.view, shared_events(out.events))
        data = ev.receive(b"".join(out.send), now) if out.send else []
        now += 0.01
    assert ev.evcc.result.outcome == "finished", ev.evcc.result.detail
    assert conn.protocol == ("din" if protocol == "din" else "iso2")


def test_connection_prefers_the_evs_priority_and_families() -> None:
    codec = _codec()
    conn = SeccSession(station(), 0.0, codec=codec, families=("DC",))
    sap_req = {
        "supportedAppProtocolReq": {
            "AppProtocol": [
                {
                    "ProtocolNamespace": "urn:iso:std:iso:15118:-20:AC",
                    "VersionNumberMajor": 1,
                    "VersionNumberMinor": 0,
                    "SchemaID": 1,
                    "Priority": 1,
                },
                {
                    "ProtocolNamespace": "urn:iso:std:iso:15118:-20:DC",
                    "VersionNumberMajor": 1,
                    "VersionNumberMinor": 0,
                    "SchemaID": 2,
                    "Priority": 2,
                },
            ]
        }
    }
    out = conn.receive(v2gtp.frame(v2gtp.PayloadType.EXI, codec.encode("sap", sap_req)), 0.0)
    res = codec.decode("sap", out.send[0][8:])
    assert res["supportedAppProtocolRes"]["SchemaID"] == 2 and conn.family == "DC"


def test_connection_timers() -> None:
    cfg = SessionConfig(timers=SeccTimers(communication_setup=2.0, sequence=5.0))
    codec = _codec()
    conn = SeccSession(station(), 0.0, codec=codec, config=cfg)
    assert conn.next_timer == 2.0
    out = conn.on_timer(2.5)
    assert out.close and [e.reason for e in out.events if isinstance(e, SessionEnded)] == [
        "communication_setup_timeout"
    ]
    conn = SeccSession(station(), 0.0, codec=codec, config=cfg)
    ev = Ev20Connection(Evcc20("iso20-ac"), codec)
    out = conn.receive(ev.start(), 0.0)
    out = conn.receive(ev.receive(b"".join(out.send), 0.0)[0], 0.1)  # SessionSetup
    assert conn.state == "AuthorizationSetup" and conn.next_timer == pytest.approx(5.1)
    out = conn.on_timer(6.0)
    assert out.close and [e.reason for e in out.events if isinstance(e, SessionEnded)] == ["sequence_timeout"]


def test_connection_bad_bytes_end_cleanly() -> None:
    codec = _codec()
    conn = SeccSession(station(), 0.0, codec=codec)
    out = conn.receive(b"\x02\xfd\x80\x01\x00\x00\x00\x01x", 0.0)
    assert out.close and [e.reason for e in out.events if isinstance(e, SessionEnded)] == ["v2gtp_error"]
    conn = SeccSession(station(), 0.0, codec=codec)
    ev = Ev20Connection(Evcc20("iso20-ac"), codec)
    conn.receive(ev.start(), 0.0)
    out = conn.receive(v2gtp.frame(v2gtp.PayloadType.EXI_20_MAIN, b"\x80\xff\xff"), 0.0)
    assert out.close and [e.reason for e in out.events if isinstance(e, SessionEnded)] == ["decode_error"]
    assert conn.connection_lost(1.0) == []


def test_connection_reports_an_encode_failure_as_our_error() -> None:
    """A -20 response the encoder refuses (our bug) ends the session with one LocalError, not a silent close."""
    from josev.secc.events import LocalError
    from josev.v2g.codec import CodecError

    real = _codec()

    class Refusing:
        def decode(self, schema: str, data: bytes) -> Any:
            return real.decode(schema, data)

        def encode(self, schema: str, msg: Any) -> bytes:
            if "SessionSetupRes" in msg:
                raise CodecError("refused by the test")
            return bytes(real.encode(schema, msg))

    conn = SeccSession(station(), 0.0, codec=Refusing())
    ev = Ev20Connection(Evcc20("iso20-ac"), real)
    out = conn.receive(ev.start(), 0.0)  # supportedAppProtocolRes
    assert out.send and not out.close
    out = conn.receive(b"".join(ev.receive(b"".join(out.send), 0.0)), 0.1)  # SessionSetupReq
    assert out.close and not out.send
    errors = [e for e in out.events if isinstance(e, LocalError)]
    assert len(errors) == 1 and "refused by the test" in errors[0].detail
    assert [e.reason for e in out.events if isinstance(e, SessionEnded)] == ["encode_error"]
