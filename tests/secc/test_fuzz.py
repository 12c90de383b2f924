"""Fuzzing of the SECC input path: V2GTP deframing, SDP, the session on bytes and on decoded dicts. Whatever
the EV sends, the core answers or ends the session; it never raises."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from josev.ev.battery import Behaviour
from josev.ev.evcc import Evcc
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply
from josev.v2g import sdp, v2gtp

from .jsoncodec import JsonCodec

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_deframer_never_raises_other_errors(chunks: list[bytes]) -> None:
    d = v2gtp.Deframer(max_payload=256)
    for c in chunks:
        try:
            for f in d.feed(c):
                assert len(f.payload) <= 256
        except v2gtp.V2gtpError as e:
            assert e.fatal
            break


@FAST
@given(st.binary(max_size=64))
def test_sdp_server_never_raises(data: bytes) -> None:
    srv = sdp.SdpServer("fe80::1", 1234)
    out = srv.handle(data)
    if out is not None:
        assert sdp.decode_response(out).port == 1234


@FAST
@given(st.binary(max_size=40))
def test_sdp_valid_header_random_payload(payload: bytes) -> None:
    sdp.SdpServer("fe80::1", 1234).handle(v2gtp.frame(0x9000, payload))


@FAST
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_session_bytes_never_raise(chunks: list[bytes]) -> None:
    s = SeccSession(EvseView(), 0.0, codec=JsonCodec())
    for i, c in enumerate(chunks):
        out = s.receive(c, float(i))
        if out.close:
            assert s.closed
            break


def _valid_run(protocol: str) -> list[dict[str, Any]]:
    """The requests of a normal session (to mutate)."""
    evse = EvseView(energy_modes=("AC_three_phase_core",) if protocol == "iso2-ac" else ("DC_extended",))
    secc = SeccSession(evse, 0.0)
    ev = Evcc(protocol, behaviour=Behaviour(loops=2))
    supply = SimPowerSupply()
    reqs = []
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    while nxt is not None:
        reqs.append(copy.deepcopy(nxt[1]))
        out = secc.handle_message(nxt[1], 0.0)
        supply.apply(evse, out.events)
        assert out.response is not None
        nxt = ev.on_response(out.response)
    return reqs


RUNS = {p: _valid_run(p) for p in ("din", "iso2-ac", "iso2-dc")}


def _mutate(obj: Any, path: list[int], value: Any, drop: bool) -> Any:
    """Replace or drop the element picked by ``path`` (indices into sorted keys / list positions)."""
    if not path or not isinstance(obj, dict | list) or not obj:
        return value
    if isinstance(obj, dict):
        keys = sorted(obj)
        k = keys[path[0] % len(keys)]
        if drop and len(path) == 1:
            obj = dict(obj)
            del obj[k]
            return obj
        return {**obj, k: _mutate(obj[k], path[1:], value, drop)}
    i = path[0] % len(obj)
    return [*obj[:i], _mutate(obj[i], path[1:], value, drop), *obj[i + 1 :]]


@FAST
@given(
    st.sampled_from(sorted(RUNS)),
    st.integers(0, 200),
    st.lists(st.integers(0, 50), min_size=1, max_size=6),
    json_values,
    st.booleans(),
)
def test_mutated_sessions_end_cleanly(
    protocol: str, at: int, path: list[int], value: Any, drop: bool
) -> None:
    reqs = RUNS[protocol]
    at %= len(reqs)
    evse = EvseView(energy_modes=("AC_three_phase_core",) if protocol == "iso2-ac" else ("DC_extended",))
    secc = SeccSession(evse, 0.0)
    supply = SimPowerSupply()
    sid: str | None = None
    for i, req in enumerate(reqs):
        msg = copy.deepcopy(req)
        if sid and "V2G_Message" in msg:
            msg["V2G_Message"]["Header"]["SessionID"] = sid
        if i == at:
            msg = _mutate(msg, path, value, drop)
        out = secc.handle_message(msg, float(i))
        supply.apply(evse, out.events)
        if out.response is not None and "V2G_Message" in out.response:
            sid = out.response["V2G_Message"]["Header"]["SessionID"]
            name = next(iter(out.response["V2G_Message"]["Body"]))
            assert name.endswith("Res")
        if out.close:
            assert secc.closed
            return


def _prefix(protocol: str, k: int) -> tuple[SeccSession, EvseView, SimPowerSupply]:
    """A session on the byte path (V2GTP frames, JSON stand-in codec) after the first ``k`` valid requests."""
    evse = EvseView(energy_modes=("AC_three_phase_core",) if protocol == "iso2-ac" else ("DC_extended",))
    codec = JsonCodec()
    s = SeccSession(evse, 0.0, codec=codec)
    supply = SimPowerSupply()
    sid: str | None = None
    for i, req in enumerate(RUNS[protocol][:k]):
        msg = copy.deepcopy(req)
        if sid and "V2G_Message" in msg:
            msg["V2G_Message"]["Header"]["SessionID"] = sid
        out = s.receive(v2gtp.frame(0x8001, codec.encode(s.schema, msg)), float(i))
        supply.apply(evse, out.events)
        assert not out.close and len(out.send) == 1, (protocol, i, out.events)
        res = out.trace[-1][1]
        if "V2G_Message" in res:
            sid = res["V2G_Message"]["Header"]["SessionID"]
    return s, evse, supply


@FAST
@given(
    st.sampled_from(sorted(RUNS)),
    st.integers(1, 200),
    st.lists(json_values, max_size=4),
    st.lists(st.binary(max_size=80), max_size=3),
)
def test_frames_after_a_valid_prefix_never_raise(
    protocol: str, k: int, msgs: list[Any], chunks: list[bytes]
) -> None:
    """Past SAP and into the session (k valid requests), then random JSON frames, then random bytes."""
    k = 1 + k % (len(RUNS[protocol]) - 1)
    s, evse, supply = _prefix(protocol, k)
    assert s.schema != "sap"  # the fuzz below reaches the protocol handlers, not only SAP
    t = float(k)
    for m in msgs:
        try:
            body = json.dumps(m).encode()
        except ValueError:
            body = b"{"
        out = s.receive(v2gtp.frame(0x8001, s.schema.encode() + b":" + body), t)
        supply.apply(evse, out.events)
        t += 1
        if out.close:
            assert s.closed
            return
    for c in chunks:
        out = s.receive(c, t)
        t += 1
        if out.close:
            assert s.closed
            return
