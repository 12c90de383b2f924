"""Replay of the EV side of every unencrypted capture in ../shared/captures against our SECC core.

The TCP streams are reassembled from the pcapng files; each EV request is looked up by its EXI bytes in
``captured_exi.jsonl`` (EXIficient's decoding) and handed to a fresh :class:`SeccSession` per connection. The
station around the SECC (authorization, isolation, limits) is made to follow the recording (an Ongoing answer
in the capture means "not yet decided" for us too), and the SessionIDs are mapped from the recorded SECC's to
ours. Every response must have the recorded message type and the recorded response code. With the real EXI
codec (when built) the same replay runs from the raw bytes."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from josev.secc.events import SessionEnded
from josev.secc.evse import EvseView
from josev.secc.machine import SessionStore
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply
from josev.v2g import v2gtp
from josev.v2g.codec import ExiCodec, exi_available
from josev.v2g.physical import to_float

from .drive import body_name, code_of
from .pcap import tcp_connections, v2gtp_payloads

SHARED = Path(__file__).resolve().parents[3] / "shared"
CAPTURES = SHARED / "captures"
VECTORS = SHARED / "vectors" / "captured_exi.jsonl"
pytestmark = pytest.mark.skipif(not VECTORS.is_file(), reason="../shared (captures, vectors) is not present")


@cache
def vectors() -> dict[str, dict[str, Any]]:
    return {v["exi_hex"]: v for v in map(json.loads, VECTORS.read_text().splitlines())}


def sessions(capture: str) -> list[list[tuple[dict[str, Any], dict[str, Any], bytes]]]:
    """Per connection: (request vector, response vector, raw request payload)."""
    vec = vectors()
    out: list[list[tuple[dict[str, Any], dict[str, Any], bytes]]] = []
    for conn in tcp_connections(CAPTURES / capture):
        frames = v2gtp_payloads(conn.client)
        if any(t != v2gtp.PayloadType.EXI for t, _p in frames):
            out.append([])  # ISO 15118-20 payload types
            continue
        if not frames:
            continue
        reqs = [p for t, p in frames if t == v2gtp.PayloadType.EXI]
        ress = [p for t, p in v2gtp_payloads(conn.server) if t == v2gtp.PayloadType.EXI]
        if not reqs or any(p.hex() not in vec for p in reqs + ress):
            continue  # encrypted (TLS) or not V2G
        out.append([(vec[q.hex()], vec[s.hex()], q) for q, s in zip(reqs, ress, strict=False)])
    return out


def capture_names() -> list[str]:
    if not CAPTURES.is_dir():
        return []
    return sorted(p.name for p in CAPTURES.glob("*.pcapng"))


def station_for(conns: list[list[tuple[dict[str, Any], dict[str, Any], bytes]]]) -> EvseView:
    """An EVSE configured like the recorded one (energy modes, value-added services)."""
    evse = EvseView()
    for conn in conns:
        for _q, s, _raw in conn:
            body = s["exificient_json"].get("V2G_Message", {}).get("Body", {})
            sd = body.get("ServiceDiscoveryRes")
            if sd:
                cs = sd["ChargeService"]
                modes = cs.get("SupportedEnergyTransferMode", {}).get("EnergyTransferMode")
                evse.energy_modes = tuple(modes or [cs.get("EnergyTransferType", "DC_extended")])
                if "ServiceList" in sd:
                    evse.extra_services = tuple(sd["ServiceList"]["Service"])
            cpd = body.get("ChargeParameterDiscoveryRes")
            if cpd and "SAScheduleList" in cpd:
                evse.schedule_tuple_id = cpd["SAScheduleList"]["SAScheduleTuple"][0]["SAScheduleTupleID"]
            dcp = (cpd or {}).get("DC_EVSEChargeParameter")
            if dcp:
                evse.limits.max_power = to_float(dcp["EVSEMaximumPowerLimit"])
                evse.limits.max_current = to_float(dcp["EVSEMaximumCurrentLimit"])
                evse.limits.max_voltage = to_float(dcp["EVSEMaximumVoltageLimit"])
                evse.limits.min_voltage = to_float(dcp["EVSEMinimumVoltageLimit"])
            det = body.get("ServiceDetailRes")
            if det and "ServiceParameterList" in det:
                evse.service_parameters[det["ServiceID"]] = det["ServiceParameterList"]
    return evse


def follow_recording(evse: EvseView, recorded: dict[str, Any]) -> None:
    """Make the station state match what the recorded SECC answered."""
    name = body_name(recorded)
    body = next(iter(recorded.get("V2G_Message", {}).get("Body", {"x": {}}).values()))
    ongoing = body.get("EVSEProcessing") == "Ongoing"
    if name in ("AuthorizationRes", "ContractAuthenticationRes"):
        evse.authorized = None if ongoing else True
    if name == "CableCheckRes":
        evse.isolation = "Invalid" if ongoing else "Valid"
    status = body.get("DC_EVSEStatus") or body.get("AC_EVSEStatus") or {}
    note = status.get("EVSENotification")
    if note == "StopCharging":
        evse.stop_requested = True
    if note == "ReNegotiation":
        evse.limits_version += 1


def rewrite_sid(msg: dict[str, Any], sid_map: dict[str, str]) -> dict[str, Any]:
    msg = copy.deepcopy(msg)
    h = msg.get("V2G_Message", {}).get("Header")
    if h is not None and h["SessionID"].upper() in sid_map:
        h["SessionID"] = sid_map[h["SessionID"].upper()]
    return msg


def replay(capture: str, codec: ExiCodec | None) -> int:
    conns = sessions(capture)
    if any(not c for c in conns):
        pytest.skip(f"{capture}: ISO 15118-20, replayed by tests/secc/iso20/test_replay*.py")
    if not conns:
        pytest.skip(f"{capture}: encrypted (TLS) or no V2G session")
    evse = station_for(conns)
    store = SessionStore()
    supply = SimPowerSupply()
    sid_map: dict[str, str] = {}
    now = 0.0
    checked = 0
    for conn in conns:
        secc = SeccSession(evse, now, codec=codec, store=store)
        for qv, sv, raw in conn:
            req, rec = qv["exificient_json"], sv["exificient_json"]
            follow_recording(evse, rec)
            msg = rewrite_sid(req, sid_map)
            if codec is None:
                out = secc.handle_message(msg, now)
                res = out.response
                events = out.events
            else:
                schema = secc.schema
                payload = raw if msg == req else codec.encode(schema, msg)
                bout = secc.receive(v2gtp.frame(0x8001, payload), now)
                events = bout.events
                assert len(bout.send) == 1, (capture, body_name(req), events)
                res = codec.decode(schema, bout.send[0][8:])
            supply.apply(evse, events)
            assert res is not None, (capture, body_name(req), events)
            assert body_name(res) == body_name(rec), (capture, body_name(req))
            assert code_of(res) == code_of(rec), (capture, body_name(req), res, events)
            if body_name(res) == "SessionSetupRes":
                sid_map[rec["V2G_Message"]["Header"]["SessionID"].upper()] = res["V2G_Message"]["Header"][
                    "SessionID"
                ]
            now += 0.1
            checked += 1
        assert secc.closed and not any(
            isinstance(e, SessionEnded) and e.reason.startswith("FAILED") for e in events
        )
    return checked


@pytest.mark.parametrize("capture", capture_names())
def test_replay_dicts(capture: str) -> None:
    assert replay(capture, None) > 10


@pytest.mark.parametrize("capture", capture_names())
def test_replay_exi_bytes(capture: str) -> None:
    reason = exi_available()
    if reason:
        pytest.skip(reason)
    assert replay(capture, ExiCodec()) > 10
