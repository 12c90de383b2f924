"""Every (state, request) pair of the DIN and ISO 15118-2 tables: allowed pairs are served, every other pair
is answered with FAILED_SequenceError and a clean session end. Also: the tables are printable and every
handler's negative response carries the code."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from josev.ev.battery import Behaviour
from josev.ev.contract import ContractCredentials
from josev.ev.evcc import Evcc
from josev.pki import PROFILES, build_pki
from josev.secc import din, iso2
from josev.secc.events import SessionEnded
from josev.secc.evse import EvseView
from josev.secc.machine import ENDED, ProtocolSpec
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply

from .drive import body_name, code_of
from .samples import din_requests, iso2_requests

PNC_NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
PNC_PKI = build_pki(PROFILES["iso2"], now=PNC_NOW)


def snapshots(protocol: str, behaviour: Behaviour) -> dict[str, SeccSession]:
    """A deep copy of the SECC in every state a full session passes through (``-pnc``: Plug & Charge over TLS)."""
    pnc = protocol.endswith("-pnc")
    protocol = protocol.removesuffix("-pnc")
    ac = protocol == "iso2-ac"
    evse = EvseView(energy_modes=("AC_three_phase_core",) if ac else ("DC_extended",))
    contract = None
    if pnc:
        evse.payment_options = ("ExternalPayment", "Contract")
        evse.pnc_roots = (PNC_PKI.cert("mo_root"),)
        evse.wall_offset = PNC_NOW.timestamp()
        evse.metering_receipt_interval = 0.0  # every loop response asks the EV to sign the meter reading
        evse.meter_wh = 1000.0
        contract = ContractCredentials(
            PNC_PKI.cert("contract_leaf").public_bytes(serialization.Encoding.DER),
            tuple(
                PNC_PKI.cert(n).public_bytes(serialization.Encoding.DER) for n in ("mo_sub_ca2", "mo_sub_ca1")
            ),
            PNC_PKI.key("contract_leaf"),
        )
    secc = SeccSession(evse, 0.0, tls=pnc)
    ev = Evcc(protocol, behaviour=behaviour, contract=contract)
    supply = SimPowerSupply()
    snaps: dict[str, SeccSession] = {}
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    while nxt is not None:
        out = secc.handle_message(nxt[1], 1.0)
        supply.apply(evse, out.events)
        if secc.engine is not None and secc.state not in snaps and not secc.closed:
            snaps[secc.state] = copy.deepcopy(secc)
        assert out.response is not None
        nxt = ev.on_response(out.response)
    return snaps


CASES: list[tuple[str, ProtocolSpec, dict[str, dict[str, Any]], Behaviour]] = [
    ("din", din.SPEC, din_requests(), Behaviour(loops=2)),
    ("iso2-ac", iso2.SPEC, iso2_requests(ac=True), Behaviour(loops=3, renegotiate_after=1)),
    ("iso2-dc", iso2.SPEC, iso2_requests(ac=False), Behaviour(loops=3, renegotiate_after=1)),
    ("iso2-dc-pnc", iso2.SPEC, iso2_requests(ac=False), Behaviour(loops=1)),
]


def pairs() -> list[tuple[str, str, str]]:
    out = []
    for proto, spec, reqs, beh in CASES:
        for state in snapshots(proto, beh):
            for name in reqs:
                out.append((proto, state, name))
        del spec
    return out


_SNAPS = {proto: snapshots(proto, beh) for proto, _s, _r, beh in CASES}


@pytest.mark.parametrize(("proto", "state", "request_name"), pairs())
def test_state_request_pair(proto: str, state: str, request_name: str) -> None:
    spec = next(c[1] for c in CASES if c[0] == proto)
    reqs = next(c[2] for c in CASES if c[0] == proto)
    secc = copy.deepcopy(_SNAPS[proto][state])
    assert secc.engine is not None
    sid = secc.engine.ctx.session_id or "00"
    msg = {
        "V2G_Message": {
            "Header": {"SessionID": sid},
            "Body": {request_name: copy.deepcopy(reqs[request_name])},
        }
    }
    out = secc.handle_message(msg, 2.0)
    assert out.response is not None
    assert body_name(out.response) == request_name[:-3] + "Res"
    code = code_of(out.response)
    if (state, request_name) in spec.table:
        assert code != "FAILED_SequenceError"
    else:
        assert code == "FAILED_SequenceError"
        assert out.close and secc.closed
        assert any(isinstance(e, SessionEnded) and e.reason == "FAILED_SequenceError" for e in out.events)
        # nothing more is answered on this connection
        again = secc.handle_message(msg, 3.0)
        assert again.response is None and again.close


def test_every_state_is_reached() -> None:
    for proto, spec, _reqs, _beh in CASES:
        reached = set(_SNAPS[proto])
        expected = {s for s in spec.states if s != ENDED}
        if proto == "iso2-ac":
            expected -= {"CableCheck", "PreCharge", "CurrentDemand", "Renegotiated", "WeldingDetection"}
        if proto.startswith("iso2-dc"):
            expected -= {"PowerDelivery", "ChargingStatus", "StoppedCharging"}
        if proto == "iso2-dc-pnc":
            expected -= {"Renegotiated"}
        else:
            expected -= {"PaymentDetails", "MeteringReceipt"}  # Plug & Charge only
        assert expected <= reached, (proto, expected - reached)
    assert "PaymentDetails" in _SNAPS["iso2-dc-pnc"]
    assert "MeteringReceipt" in _SNAPS["iso2-dc-pnc"]


def test_tables_print() -> None:
    text = iso2.SPEC.format_table()
    assert "CurrentDemand" in text and "-> " in text
    assert len(din.SPEC.format_table().splitlines()) == len(din.SPEC.table)


@pytest.mark.parametrize("modes", [("AC_three_phase_core",), ("DC_extended",)], ids=["ac-evse", "dc-evse"])
@pytest.mark.parametrize("spec", [din.SPEC, iso2.SPEC], ids=["din", "iso2"])
def test_negative_responses_carry_code_and_encode(spec: ProtocolSpec, modes: tuple[str, ...]) -> None:
    """Every handler's FAILED answer carries the code and is schema-valid for the real EXI encoder, on an AC
    and a DC EVSE (a DC car can meet an AC EVSE: that answer must still reach it)."""
    from josev.secc.machine import Engine
    from josev.v2g.codec import make_codec

    codec = make_codec("exi")
    eng = Engine(spec, EvseView(energy_modes=modes))
    for name, h in spec.handlers.items():
        for code in ("FAILED", "FAILED_SequenceError", "FAILED_UnknownSession"):
            res = h.negative(eng.ctx, code)
            assert res["ResponseCode"] == code, name
            assert name[:-3] + "Res" == h.RESPONSE
            msg = {"V2G_Message": {"Header": {"SessionID": "0102030405060708"}, "Body": {h.RESPONSE: res}}}
            assert codec.encode(spec.schema, msg), name
