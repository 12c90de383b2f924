"""Error handling: typed errors with bit positions, facets enforced on encode and decode, trailing bits,
length fields that exceed the stream, and the grammar ends of empty elements and full arrays."""

from __future__ import annotations

import copy
import random
import sys
from typing import Any

import pytest

from josev import exi

SAP_RES = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}}
DIN_SETUP = bytes.fromhex("809a0223e95ff78afebf9e11e020040080")  # DIN SessionSetupRes (captured)
DIN_CDRES = bytes.fromhex(
    "809a0223e95ff78afebf9e10e000408000010287c118001874038000040a1209c020308827020384c3a800"
)
ISO20_AUTH_SETUP_EMPTY_EIM = bytes.fromhex("800c04790c8adceeee09688d6cac3a6062000500")


def app_protocol(n: int) -> dict[str, Any]:
    return {
        "supportedAppProtocolReq": {
            "AppProtocol": [
                {
                    "ProtocolNamespace": "urn:din:70121:2012:MsgDef",
                    "VersionNumberMajor": 2,
                    "VersionNumberMinor": 0,
                    "SchemaID": i % 256,
                    "Priority": 1 + i % 20,
                }
                for i in range(n)
            ]
        }
    }


def bits_of(data: bytes) -> str:
    return "".join(f"{b:08b}" for b in data)


def bytes_of(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def test_unknown_schema() -> None:
    with pytest.raises(ValueError, match="unknown schema"):
        exi.decode("iso3", b"\x80")


def test_schema_by_any_spelling() -> None:
    """The schema is found by pointer for the interned name, else by text: a name built at run time, the
    namespace; anything else is refused with the argument named."""
    built = "".join(["d", "i", "n"])  # an equal but not interned str
    assert built is not "din"  # noqa: F632
    ns = exi.NAMESPACES["din"]
    want = exi.decode("din", DIN_SETUP)
    assert exi.decode(built, DIN_SETUP) == want
    assert exi.decode(ns, DIN_SETUP) == want
    assert exi.encode(built, want) == exi.encode(ns, want) == DIN_SETUP
    assert exi.encode_fragment("sap", SAP_RES) == exi.encode_fragment("".join(["s", "a", "p"]), SAP_RES)
    with pytest.raises(TypeError, match="argument 'schema': expected a schema name \\(str\\), got int"):
        exi.decode(3, DIN_SETUP)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got bytes"):
        exi.encode(b"din", want)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown schema"):
        exi.encode("DIN", want)


def test_header_must_be_0x80() -> None:
    with pytest.raises(exi.ExiError) as ei:
        exi.decode("sap", b"\x90\x40\x00\x40")
    assert ei.value.bit == 0
    assert "0x80" in ei.value.expected


def test_every_truncation_is_a_typed_error() -> None:
    for n in range(len(DIN_CDRES)):
        with pytest.raises(exi.ExiError):
            exi.decode("din", DIN_CDRES[:n])


def test_trailing_byte_rejected() -> None:
    with pytest.raises(exi.ExiError, match="unconsumed"):
        exi.decode("sap", bytes.fromhex("8040004000"))


def test_nonzero_padding_rejected() -> None:
    # 80400040: the last byte is 0b01000000 - the document ends after bit 26, so bits 27..31 are padding
    exi.decode("sap", bytes.fromhex("80400040"))
    with pytest.raises(exi.ExiError, match="padding"):
        exi.decode("sap", bytes.fromhex("80400041"))


def test_empty_element_and_its_bad_encoding() -> None:
    msg = exi.decode("iso20-cm", ISO20_AUTH_SETUP_EMPTY_EIM)
    assert msg["AuthorizationSetupRes"]["EIM_ASResAuthorizationMode"] == {}
    assert exi.encode("iso20-cm", msg) == ISO20_AUTH_SETUP_EMPTY_EIM


def test_array_end_grammar() -> None:
    """maxOccurs=20: 20 entries round-trip (the last one has an EE-only state), 21 are rejected."""
    full = exi.encode("sap", app_protocol(20))
    assert exi.decode("sap", full) == app_protocol(20)
    one = exi.encode("sap", app_protocol(1))
    assert exi.decode("sap", one) == app_protocol(1)
    with pytest.raises(exi.ExiError, match="AppProtocol"):
        exi.encode("sap", app_protocol(21))
    with pytest.raises(exi.ExiError, match="missing required"):
        exi.encode("sap", app_protocol(0))


def test_list_of_six_energy_transfer_modes() -> None:
    base = exi.decode(
        "iso2", bytes.fromhex("809802022669991e4a686c11c0012004820124")
    )  # ServiceDiscoveryRes with SupportedEnergyTransferMode (maxOccurs 6)
    modes = [
        "AC_single_phase_core",
        "AC_three_phase_core",
        "DC_core",
        "DC_extended",
        "DC_combo_core",
        "DC_unique",
    ]
    msg = copy.deepcopy(base)
    msg["V2G_Message"]["Body"]["ServiceDiscoveryRes"]["ChargeService"]["SupportedEnergyTransferMode"] = {
        "EnergyTransferMode": modes
    }
    assert exi.decode("iso2", exi.encode("iso2", msg)) == msg
    msg["V2G_Message"]["Body"]["ServiceDiscoveryRes"]["ChargeService"]["SupportedEnergyTransferMode"] = {
        "EnergyTransferMode": [*modes, "DC_core"]
    }
    with pytest.raises(exi.ExiError):
        exi.encode("iso2", msg)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].update(Priority=21), "out of range"),
        (lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].update(Priority=0), "out of range"),
        (
            lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].update(ProtocolNamespace="x" * 101),
            "length",
        ),
        (lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].update(SchemaID="1"), "integer"),
        (lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].pop("SchemaID"), "missing required"),
        (lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].update(Bogus=1), "unknown name"),
        (lambda m: m["supportedAppProtocolReq"]["AppProtocol"][0].update(ResponseCode="OK"), "unexpected"),
        (lambda m: m["supportedAppProtocolReq"].update(AppProtocol=5), "expected an object"),
    ],
)
def test_encode_facets(mutate: Any, match: str) -> None:
    m = app_protocol(2)
    mutate(m)
    with pytest.raises(exi.ExiError, match=match):
        exi.encode("sap", m)


def test_encode_enum_and_binary_facets() -> None:
    bad_enum = {"supportedAppProtocolRes": {"ResponseCode": "OK", "SchemaID": 1}}
    with pytest.raises(exi.ExiError) as ei:
        exi.encode("sap", bad_enum)
    assert "OK_SuccessfulNegotiation" in ei.value.expected
    msg = exi.decode("din", DIN_SETUP)
    msg["V2G_Message"]["Header"]["SessionID"] = "00" * 9  # hexBinary maxLength 8
    with pytest.raises(exi.ExiError, match="binary length 9"):
        exi.encode("din", msg)
    msg["V2G_Message"]["Header"]["SessionID"] = "XYZ"
    with pytest.raises(exi.ExiError, match="invalid hex"):
        exi.encode("din", msg)


def test_key_order_does_not_matter() -> None:
    m = {"supportedAppProtocolRes": {"SchemaID": 1, "ResponseCode": "OK_SuccessfulNegotiation"}}
    assert exi.encode("sap", m) == exi.encode("sap", SAP_RES)


def test_decode_binary_length_facet() -> None:
    """SessionID (hexBinary, maxLength 8) with a length field of 9 is rejected at the length."""
    b = bits_of(DIN_SETUP)
    assert b[8:15] == "1001101"  # DocContent: V2G_Message (7-bit code)
    assert b[17:26] == "000001000"  # CH, then unsigned length 8
    patched = b[:18] + "00001001" + b[26:]
    with pytest.raises(exi.ExiError, match="binary length 9") as ei:
        exi.decode("din", bytes_of(patched))
    assert ei.value.bit == 18


def test_decode_length_beyond_stream_allocates_nothing() -> None:
    b = bits_of(DIN_SETUP)
    huge = "11111111" + "11111111" + "11111111" + "01111111"  # 7-bit groups: 2^28 - 1
    with pytest.raises(exi.ExiError, match="exceeds the stream"):
        exi.decode("din", bytes_of(b[:18] + huge + b[26:]))


def test_decode_nbit_above_maximum() -> None:
    """SAP Priority is 1..20 in 5 bits: the value 32 (code 31) is rejected on decode."""
    data = exi.encode("sap", app_protocol(1))
    b = bits_of(data)
    good = b
    # find the Priority field: encode with Priority 1 and 2 and diff the bit strings
    other = app_protocol(1)
    other["supportedAppProtocolReq"]["AppProtocol"][0]["Priority"] = 2
    b2 = bits_of(exi.encode("sap", other))
    pos = next(i for i, (x, y) in enumerate(zip(good, b2, strict=True)) if x != y)
    start = pos - 4  # 5-bit field whose last bit differs (0 -> 1)
    assert good[start : start + 5] == "00000"
    with pytest.raises(exi.ExiError, match="above maximum") as ei:
        exi.decode("sap", bytes_of(good[:start] + "11111" + good[start + 5 :]))
    assert ei.value.bit == start


def test_mutation_fuzz_never_crashes() -> None:
    rng = random.Random(1234)
    seeds = [DIN_SETUP, DIN_CDRES, ISO20_AUTH_SETUP_EMPTY_EIM]
    schemas = ["din", "din", "iso20-cm"]
    for _ in range(3000):
        i = rng.randrange(len(seeds))
        data = bytearray(seeds[i])
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        try:
            msg = exi.decode(schemas[i], bytes(data))
        except exi.ExiError:
            continue
        again = exi.encode(schemas[i], msg)
        assert exi.decode(schemas[i], again) == msg


def test_fragment_round_trip_signed_info() -> None:
    signed_info = {
        "SignedInfo": {
            "CanonicalizationMethod": {"Algorithm": "http://www.w3.org/TR/canonical-exi/"},
            "SignatureMethod": {"Algorithm": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"},
            "Reference": [
                {
                    "URI": "#id1",
                    "Transforms": {"Transform": [{"Algorithm": "http://www.w3.org/TR/canonical-exi/"}]},
                    "DigestMethod": {"Algorithm": "http://www.w3.org/2001/04/xmlenc#sha256"},
                    "DigestValue": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                }
            ],
        }
    }
    for schema in ("iso2", "iso20-cm"):
        data = exi.encode_fragment(schema, signed_info)
        assert data[0] == 0x80
        assert exi.decode_fragment(schema, data) == signed_info


@pytest.mark.parametrize(
    "value",
    [1.5, {1, 2}, object(), b"\x00", [[[]]], {"x": None}],
    ids=["float", "set", "object", "bytes", "nested-list", "dict"],
)
def test_wrong_python_types_are_typed_errors(value: Any) -> None:
    msg = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": value}}
    with pytest.raises(exi.ExiError):
        exi.encode("sap", msg)


def test_deep_nesting_and_bad_roots_are_typed_errors() -> None:
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(500):
        cur["AppProtocol"] = {}
        cur = cur["AppProtocol"]
    with pytest.raises(exi.ExiError):
        exi.encode("sap", {"supportedAppProtocolReq": deep})
    with pytest.raises(exi.ExiError, match="exactly one root"):
        exi.encode("sap", {})
    with pytest.raises(exi.ExiError, match="unknown name"):
        exi.encode("sap", {"V2G_Message": {}})
    with pytest.raises(exi.ExiError):
        exi.encode("sap", {1: 2})  # type: ignore[dict-item]


def test_none_and_null_mean_absent() -> None:
    from josev.exi.codec import JosevExiCodec

    m = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": None}}
    short = exi.encode("sap", m)
    assert exi.decode("sap", short) == {
        "supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation"}
    }
    ns = "urn:iso:15118:2:2010:AppProtocol"
    text = '{"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": null}}'
    assert JosevExiCodec().encode(text, ns) == short


def test_bytes_accepted_for_binary_fields() -> None:
    msg = exi.decode("din", DIN_SETUP)
    msg["V2G_Message"]["Header"]["SessionID"] = bytes.fromhex("8FA57FDE2BFAFE78")
    assert exi.encode("din", msg) == DIN_SETUP


def test_empty_string_value_both_encodings() -> None:
    """An empty string element: EXIficient writes no character event (escape + second-level EE, the form we
    emit); a codec that writes CH with a zero-length string (cbexigen-style) is accepted too."""
    m = {
        "supportedAppProtocolReq": {
            "AppProtocol": [
                {
                    "ProtocolNamespace": "",
                    "VersionNumberMajor": 2,
                    "VersionNumberMinor": 0,
                    "SchemaID": 1,
                    "Priority": 1,
                }
            ]
        }
    }
    exificient_form = bytes.fromhex("8008008000010010")
    ch_form = bytes.fromhex("800010020000040040")
    assert exi.encode("sap", m) == exificient_form
    assert exi.decode("sap", exificient_form) == m
    assert exi.decode("sap", ch_form) == m


def test_empty_value_where_the_type_needs_one_is_rejected() -> None:
    # SessionID (hexBinary) may be empty in DIN? its type has maxLength 8 and no minLength: empty is fine
    msg = exi.decode("din", DIN_SETUP)
    msg["V2G_Message"]["Header"]["SessionID"] = ""
    assert exi.decode("din", exi.encode("din", msg)) == msg
    # an integer element cannot be empty: the second-level EE is rejected on decode
    data = bits_of(exi.encode("sap", SAP_RES))
    # header (8) | doc code (2) | SE(ResponseCode) (1) | CH (1) | enum (2) | EE (1) | SE(SchemaID) (2: optional)
    pos = 8 + 2 + 1 + 1 + 2 + 1 + 2
    assert data[pos - 2 : pos] == "00" and data[pos] == "0"  # SE(SchemaID) code 0, then its CH code 0
    patched = data[:pos] + "1" + "000" + "0"  # escape + second-level EE in SchemaID's value state, then EE
    with pytest.raises(exi.ExiError, match="needs a value"):
        exi.decode("sap", bytes_of(patched))


@pytest.mark.skipif(
    sys.maxsize >= 2**32, reason="32-bit platforms only (run by make dist-test in its i386 root)"
)
def test_decode_stream_beyond_32_bit_positions() -> None:
    """On a 32-bit platform a stream of 512 MiB has more bits than ``usize`` counts: the codec refuses it by its
    length (it used to wrap the bit count to 8 and read it as a 1-byte stream)."""
    data = b"\x80".ljust(2**29 + 1, b"\0")
    with pytest.raises(exi.ExiError, match="too long: its bit positions do not fit in 32 bits"):
        exi.decode("iso2", data)
