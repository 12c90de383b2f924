"""V2GTP framing, SDP and supportedAppProtocol against the public vectors and edge cases."""

from __future__ import annotations

import re
import struct

import pytest

from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.v2g import sap, sdp, v2gtp

from .jsoncodec import JsonCodec

SDP_1 = bytes.fromhex("01fe9000000000021000")
SDP_2 = bytes.fromhex("01fe900100000014fe80000000000000664d70fffe0103bfd74e1000")


def test_sdp_request_vector() -> None:
    req = sdp.decode_request(SDP_1)
    assert req == sdp.SdpRequest(0x10, 0x00)
    assert sdp.encode_request(req) == SDP_1


def test_sdp_response_vector() -> None:
    res = sdp.decode_response(SDP_2)
    assert res == sdp.SdpResponse("fe80::664d:70ff:fe01:3bf", 55118, 0x10, 0x00)
    assert sdp.encode_response(res) == SDP_2


def test_sdp_server_answers_plain_tcp() -> None:
    srv = sdp.SdpServer("fe80::1", 61000)
    out = srv.handle(SDP_1)
    assert out is not None
    assert sdp.decode_response(out) == sdp.SdpResponse("fe80::1", 61000, sdp.Security.NO_TLS)


def test_sdp_server_tls_seam() -> None:
    tls_req = bytes.fromhex("01fe9000000000020000")
    assert sdp.decode_response(sdp.SdpServer("fe80::1", 61000).handle(tls_req) or b"").security == 0x10
    srv = sdp.SdpServer("fe80::1", 61000, tls_port=61001)
    assert sdp.decode_response(srv.handle(tls_req) or b"").port == 61001
    enforced = sdp.SdpServer("fe80::1", 61000, tls_port=61001, enforce_tls=True)
    assert sdp.decode_response(enforced.handle(SDP_1) or b"").security == 0x00


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x01",
        bytes.fromhex("02fd9000000000021000"),
        bytes.fromhex("01fe9001000000021000"),
        bytes.fromhex("01fe900000000003100000"),
        bytes.fromhex("01fe90000000000210"),
        bytes.fromhex("01fe9000000000021010"),  # UDP transport: not offered
        SDP_1 + b"\x00",
    ],
)
def test_sdp_server_drops_bad_datagrams(bad: bytes) -> None:
    srv = sdp.SdpServer("fe80::1", 61000)
    assert srv.handle(bad) is None
    assert srv.dropped == 1 and srv.answered == 0


def test_v2gtp_frame_roundtrip_in_pieces() -> None:
    data = v2gtp.frame(0x8001, b"abc") + v2gtp.frame(0x8001, b"") + v2gtp.frame(0x8001, b"x" * 300)
    d = v2gtp.Deframer()
    got = []
    for i in range(len(data)):
        got += d.feed(data[i : i + 1])
    assert [f.payload for f in got] == [b"abc", b"", b"x" * 300]
    assert d.buffered == 0


def test_v2gtp_unknown_payload_type_is_discarded() -> None:
    d = v2gtp.Deframer()
    got = d.feed(v2gtp.frame(0x1234, b"zz") + v2gtp.frame(0x8001, b"ok"))
    assert [f.payload for f in got] == [b"ok"] and d.discarded == 1


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (
            bytes([0x02, 0xFD]) + struct.pack("!HI", 0x8001, 1),
            "bad V2GTP protocol version 0x02, inverse 0xfd (must be 0x01, 0xfe)",
        ),
        (
            bytes([0x01, 0xFF]) + struct.pack("!HI", 0x8001, 1),
            "bad V2GTP protocol version 0x01, inverse 0xff (must be 0x01, 0xfe)",
        ),
        (
            bytes([0x01, 0xFE]) + struct.pack("!HI", 0x8001, v2gtp.DEFAULT_MAX_PAYLOAD + 1),
            "V2GTP payload length 65537 exceeds the maximum 65536",
        ),
    ],
)
def test_v2gtp_fatal_headers(header: bytes, reason: str) -> None:
    d = v2gtp.Deframer()
    good = v2gtp.frame(0x8001, b"ok")
    with pytest.raises(v2gtp.V2gtpError) as ei:
        d.feed(good + header[:3])
        d.feed(header[3:] + b"\x00")
    assert ei.value.fatal and ei.value.reason == reason and d.broken == reason
    with pytest.raises(v2gtp.V2gtpError, match=f"V2GTP stream already broken: {re.escape(reason)}"):
        d.feed(b"more")
    # the whole-frame parser (SDP datagrams, the exi CLI) reports the same fault in the same words
    with pytest.raises(v2gtp.V2gtpError, match=re.escape(reason)):
        v2gtp.parse_datagram(header + b"\x00")


def test_v2gtp_whole_frame_errors() -> None:
    with pytest.raises(v2gtp.V2gtpError, match=r"^V2GTP frame too short \(3 bytes, header is 8\)$"):
        v2gtp.parse_frame(b"\x01\xfe\x80")
    with pytest.raises(v2gtp.V2gtpError, match=r"^V2GTP length field 5 but 2 payload bytes$"):
        v2gtp.parse_frame(v2gtp.frame(0x9000, b"12345")[:-3])
    with pytest.raises(v2gtp.V2gtpError, match=r"^V2GTP header must be 8 bytes, got 7$"):
        v2gtp.parse_header(bytes(7))
    assert v2gtp.parse_header(v2gtp.frame(0x9001, b"x" * 20)[:8]) == (0x9001, 20)


def test_v2gtp_rx_splitter_never_raises() -> None:
    sp = v2gtp.RxSplitter()
    a, b = v2gtp.frame(0x8001, b"abc"), v2gtp.frame(0x1234, b"z" * 70_000)  # unknown type, past any limit
    assert sp.feed(a + b[:5]) == [a]
    assert sp.feed(b[5:] + a, max_frames=1) == [b]
    assert sp.feed(b"") == [a]
    assert sp.feed(b"GET / HTTP/1.1\r\n") == [b"GET / HTTP/1.1\r\n"]  # not V2GTP: logged as it came
    assert sp.buf == bytearray()


def test_session_closes_on_bad_header_and_oversize() -> None:
    s = SeccSession(EvseView(), 0.0, codec=JsonCodec())
    out = s.receive(bytes([0x01, 0xFE]) + struct.pack("!HI", 0x8001, 10**6), 0.0)
    assert out.close and not out.send
    assert out.events[0].reason == "v2gtp_error"  # type: ignore[union-attr]


def test_session_closes_on_undecodable_payload() -> None:
    s = SeccSession(EvseView(), 0.0, codec=JsonCodec())
    out = s.receive(v2gtp.frame(0x8001, b"\x80\x00garbage"), 0.0)
    assert out.close and not out.send and out.events[0].reason == "decode_error"  # type: ignore[union-attr]


def test_session_ignores_other_payload_types() -> None:
    s = SeccSession(EvseView(), 0.0, codec=JsonCodec())
    out = s.receive(v2gtp.frame(0x8002, b"-20 message"), 0.0)
    assert not out.close and not out.send


SAP_ISO_DIN = {
    "supportedAppProtocolReq": {
        "AppProtocol": [
            {
                "ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef",
                "VersionNumberMajor": 2,
                "VersionNumberMinor": 0,
                "SchemaID": 111,
                "Priority": 1,
            },
            {
                "ProtocolNamespace": "urn:din:70121:2012:MsgDef",
                "VersionNumberMajor": 2,
                "VersionNumberMinor": 0,
                "SchemaID": 222,
                "Priority": 2,
            },
        ]
    }
}
SAP_TESLA = {
    "supportedAppProtocolReq": {
        "AppProtocol": [
            {
                "ProtocolNamespace": "urn:din:70121:2012:MsgDef",
                "VersionNumberMajor": 2,
                "VersionNumberMinor": 0,
                "SchemaID": 1,
                "Priority": 2,
            },
            {
                "ProtocolNamespace": "urn:tesla:din:2018:MsgDef",
                "VersionNumberMajor": 0,
                "VersionNumberMinor": 7,
                "SchemaID": 2,
                "Priority": 1,
            },
        ]
    }
}


def test_sap_priority() -> None:
    n = sap.negotiate(SAP_ISO_DIN)
    assert n.protocol is sap.AppProtocol.ISO2
    assert n.response == {
        "supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 111}
    }
    n = sap.negotiate(SAP_ISO_DIN, enabled=(sap.AppProtocol.DIN,))
    assert n.protocol is sap.AppProtocol.DIN and n.schema_id == 222


def test_sap_skips_vendor_namespace() -> None:
    n = sap.negotiate(SAP_TESLA)
    assert n.protocol is sap.AppProtocol.DIN and n.schema_id == 1


def test_sap_minor_deviation_and_major_mismatch() -> None:
    req = {
        "supportedAppProtocolReq": {
            "AppProtocol": [
                {
                    "ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef",
                    "VersionNumberMajor": 2,
                    "VersionNumberMinor": 1,
                    "SchemaID": 3,
                    "Priority": 1,
                }
            ]
        }
    }
    assert sap.negotiate(req).response["supportedAppProtocolRes"]["ResponseCode"] == sap.OK_MINOR
    req["supportedAppProtocolReq"]["AppProtocol"][0]["VersionNumberMajor"] = 3
    assert sap.negotiate(req).response == {"supportedAppProtocolRes": {"ResponseCode": sap.FAILED}}


def test_sap_only_20_offered_fails() -> None:
    req = {
        "supportedAppProtocolReq": {
            "AppProtocol": [
                {
                    "ProtocolNamespace": "urn:iso:std:iso:15118:-20:AC",
                    "VersionNumberMajor": 1,
                    "VersionNumberMinor": 0,
                    "SchemaID": 1,
                    "Priority": 1,
                }
            ]
        }
    }
    assert sap.negotiate(req).protocol is None


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"supportedAppProtocolReq": 1},
        {"supportedAppProtocolReq": {"AppProtocol": [{"Priority": 1}]}},
        {"supportedAppProtocolReq": {"AppProtocol": [1]}},
        {
            "supportedAppProtocolReq": {
                "AppProtocol": [dict(SAP_TESLA["supportedAppProtocolReq"]["AppProtocol"][0], Priority=True)]
            }
        },
    ],
)
def test_sap_malformed(bad: dict[str, object]) -> None:
    with pytest.raises(sap.SapError):
        sap.negotiate(bad)
