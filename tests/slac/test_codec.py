"""Frame codec: round trips, fixed figures, typed rejection of bad frames, fuzzing, real captures."""

from __future__ import annotations

import contextlib
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev.slac import errors
from josev.slac.frame import encode_frame, parse_frame, peek_mmtype
from josev.slac.messages import ALL, REGISTRY, CmSlacMatchReq, CmSlacParmReq, Message, MMType
from josev.slac.messages.base import MMV_AV_1_0
from josev.slac.nid import nid_from_nmk, security_level_of
from tests.slac.pcapng import ethernet_frames
from tests.slac.samples import EV, EVSE, RUN, SAMPLES

SHARED = Path(__file__).resolve().parents[3] / "shared"


OPTIONAL_TAIL = {"VsSwVerReq": 4, "VsSwVerCnf": 5, "VsOpAttributesCnf": 70, "NscmGetVersionCnf": 2}
"""Trailing bytes the decoder does not need (optional cookies, reserved and unused report fields)."""


def unpadded(dst: bytes, src: bytes, msg: Message) -> bytes:
    head = dst + src + b"\x88\xe1" + struct.pack("<BH", msg.MMV, msg.mmtype())
    if msg.MMV != MMV_AV_1_0:
        head += b"\x00\x00"
    return head + msg.encode()


def test_every_message_class_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(ALL)
    assert len(REGISTRY) == len(ALL)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(msg: Message) -> None:
    raw = encode_frame(EVSE, EV, msg)
    assert len(raw) >= 60
    frame = parse_frame(raw)
    assert frame.message == msg
    assert (frame.dst, frame.src) == (EVSE, EV)
    assert peek_mmtype(raw) == msg.mmtype()


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_truncation_is_a_typed_error(msg: Message) -> None:
    raw = unpadded(EVSE, EV, msg)
    required = len(raw) - OPTIONAL_TAIL.get(type(msg).__name__, 0)
    for cut in range(required):
        with pytest.raises(errors.FrameError):
            parse_frame(raw[:cut])
    assert parse_frame(raw).message == msg


def test_mmtype_figures() -> None:
    # HomePlug AV / ISO 15118-3 MMTYPE values; low two bits are the mode
    assert CmSlacParmReq.mmtype() == 0x6064
    assert {c.__name__: c.mmtype() for c in ALL if c.BASE == MMType.CM_ATTEN_CHAR} == {
        "CmAttenCharInd": 0x606E,
        "CmAttenCharRsp": 0x606F,
    }
    assert REGISTRY[0x607C] is CmSlacMatchReq
    assert REGISTRY[0xA0B9].__name__ == "VsPlLnkStatusCnf"
    assert REGISTRY[0xAC9D].__name__ == "NscmGetDLinkStatusCnf"


def test_fixed_layouts() -> None:
    req = CmSlacMatchReq(pev_mac=EV, evse_mac=EVSE, run_id=RUN)
    body = req.encode()
    assert len(body) == 0x3E + 4 and body[2:4] == b"\x3e\x00"
    raw = encode_frame(b"\xff" * 6, EV, CmSlacParmReq(RUN))
    assert raw[12:19] == bytes.fromhex("88e10164600000") and raw[19:21] == b"\x00\x00"


def test_nid_derivation_known_vector() -> None:
    # The HomePlug AV default NMK ("HomePlugAV0123" -> NMK-HS) has the well-known NID B0F2E695666B03.
    nmk = bytes.fromhex("50D3E4933F855B7040784DF815AA8DB7")
    assert nid_from_nmk(nmk).hex() == "b0f2e695666b03"
    secure = nid_from_nmk(nmk, 1)
    assert secure[:6] == bytes.fromhex("b0f2e695666b") and security_level_of(secure) == 1
    assert security_level_of(nid_from_nmk(nmk)) == 0
    with pytest.raises(ValueError):
        nid_from_nmk(b"short")


def test_bad_frames_raise_typed_errors() -> None:
    good = encode_frame(EVSE, EV, CmSlacParmReq(RUN))
    with pytest.raises(errors.NotHomePlug):
        parse_frame(good[:12] + b"\x86\xdd" + good[14:])
    with pytest.raises(errors.UnsupportedVersion):
        parse_frame(good[:14] + b"\x07" + good[15:])
    with pytest.raises(errors.FragmentedFrame):
        parse_frame(good[:17] + b"\x10\x00" + good[19:])
    with pytest.raises(errors.UnknownMessageType):
        parse_frame(good[:15] + b"\x38\x60" + good[17:])
    qca = encode_frame(EVSE, EV, SAMPLES[20])  # VsPlLnkStatusCnf
    with pytest.raises(errors.BadField):
        parse_frame(qca[:17] + b"\x00\x16\xe8" + qca[20:])
    match = bytearray(encode_frame(EVSE, EV, CmSlacMatchReq(pev_mac=EV, evse_mac=EVSE, run_id=RUN)))
    match[21] = 0x40
    with pytest.raises(errors.BadField):
        parse_frame(bytes(match))


def test_vlan_tag_is_accepted() -> None:
    raw = encode_frame(EVSE, EV, CmSlacParmReq(RUN))
    tagged = raw[:12] + b"\x81\x00\x00\x02" + raw[12:]
    frame = parse_frame(tagged)
    assert frame.vlan == 2 and frame.message == CmSlacParmReq(RUN)


def test_building_rejects_wrong_lengths() -> None:
    with pytest.raises(ValueError):
        CmSlacParmReq(b"123")
    with pytest.raises(ValueError):
        encode_frame(b"\x00", EV, CmSlacParmReq(RUN))


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(errors.FrameError):
        parse_frame(data)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated_valid_frames(msg: Message, data: st.DataObject) -> None:
    raw = bytearray(unpadded(EVSE, EV, msg))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        frame = parse_frame(bytes(raw[:cut]))
    except errors.FrameError:
        return
    # whatever parsed must re-encode to a frame that parses to the same message
    assert parse_frame(encode_frame(frame.dst, frame.src, frame.message)).message == frame.message


@pytest.mark.skipif(not (SHARED / "captures").is_dir(), reason="../shared is not present")
def test_real_captures_parse() -> None:
    known = 0
    kinds: Counter[str] = Counter()
    for path in sorted((SHARED / "captures").glob("*.pcapng")):
        for raw in ethernet_frames(path):
            mmtype = peek_mmtype(raw) if raw[12:14] != b"\x81\x00" else peek_mmtype(raw[:12] + raw[16:])
            if mmtype is None:
                continue
            if mmtype not in REGISTRY:
                with pytest.raises(errors.UnknownMessageType):
                    parse_frame(raw)
                continue
            frame = parse_frame(raw)
            known += 1
            kinds[type(frame.message).__name__] += 1
    assert known > 300
    for name in ("CmSetKeyReq", "CmSlacParmCnf", "CmMnbcSoundInd", "CmAttenProfileInd", "CmSlacMatchCnf"):
        assert kinds[name] > 0, name
