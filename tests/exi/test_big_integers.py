"""Integers wider than 128 bits. `X509SerialNumber` is an `xs:integer` and RFC 5280 serial numbers have up to
20 octets, so an EV listing its V2G roots (CertificateInstallationReq, CertificateUpdateReq) sends 160-bit
integers. They encode and decode as Python ints of any size where the type is unbounded, byte for byte as
EXIficient does; bounded types keep their ranges; an absurd width is refused with a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev import exi
from tests.exi.helpers import needs_oracle
from tests.exi.oracle import Oracle


def install_req(serial: int) -> dict[str, Any]:
    root = {"X509IssuerName": "CN=V2GRootCA", "X509SerialNumber": serial}
    body = {
        "Id": "ID1",
        "OEMProvisioningCert": "AAAA",
        "ListOfRootCertificateIDs": {"RootCertificateID": [root]},
    }
    return {
        "V2G_Message": {
            "Header": {"SessionID": "0102030405060708"},
            "Body": {"CertificateInstallationReq": body},
        }
    }


def serial_of(msg: dict[str, Any]) -> Any:
    body = msg["V2G_Message"]["Body"]["CertificateInstallationReq"]
    return body["ListOfRootCertificateIDs"]["RootCertificateID"][0]["X509SerialNumber"]


EDGES = [0, 1, 2**127 - 1, 2**127, -(2**127), -(2**127) - 1, 2**128, 2**159 - 1, 2**160, -(2**160), 2**1023]


@pytest.mark.parametrize("n", EDGES)
def test_round_trip_document_and_fragment(n: int) -> None:
    msg = install_req(n)
    back = exi.decode("iso2", exi.encode("iso2", msg))
    assert back == msg and type(serial_of(back)) is int
    frag = {"CertificateInstallationReq": msg["V2G_Message"]["Body"]["CertificateInstallationReq"]}
    assert exi.decode_fragment("iso2", exi.encode_fragment("iso2", frag)) == frag


def test_exi_form_of_a_160_bit_serial() -> None:
    """EXI 7.1.5: sign bit 0, then the magnitude in 7-bit groups, least significant first, each in an octet
    whose high bit says another follows: 2**160 - 1 is 22 groups of 0x7f and a last group 0x3f."""
    frag = exi.encode_fragment("xmldsig", {"X509SerialNumber": 2**160 - 1})
    bits = "".join(f"{b:08b}" for b in frag)
    assert "0" + "11111111" * 22 + "00111111" in bits
    # 0x80 header; 0xa4: SE(X509SerialNumber), CH, sign 0; the 23 groups; 0x5c: EE, ED and padding
    assert frag == b"\x80\xa4" + b"\xff" * 22 + b"\x3f\x5c"


def test_bounded_types_keep_their_range_and_absurd_widths_are_refused() -> None:
    # MeterReading is xs:unsignedLong: 2**64 is out of its range, however the codec holds integers
    msg = {
        "V2G_Message": {
            "Header": {"SessionID": "0102030405060708"},
            "Body": {
                "MeteringReceiptReq": {
                    "SessionID": "0102030405060708",
                    "MeterInfo": {"MeterID": "M1", "MeterReading": 2**64},
                }
            },
        }
    }
    with pytest.raises(exi.ExiError, match="out of range"):
        exi.encode("iso2", msg)
    with pytest.raises(exi.ExiError, match="too large"):
        exi.encode("iso2", install_req(2**1100))
    # a stream whose integer runs past 1024 bits: a clear error, not a hang or a crash
    good = exi.encode_fragment("xmldsig", {"X509SerialNumber": 2**1000})
    assert good[1] == 0xA4  # SE, CH, sign: the magnitude's groups start at octet 2
    bad = good[:2] + b"\x80" * 200 + good[2:]  # 200 more (zero) groups with the continuation bit
    with pytest.raises(exi.ExiError, match="too large"):
        exi.decode_fragment("xmldsig", bad)


@needs_oracle
@pytest.mark.interop
def test_against_exificient(oracle: Oracle) -> None:
    @settings(max_examples=30, deadline=None, database=None, derandomize=True)
    @given(n=st.integers(min_value=-(2**200), max_value=2**200))
    def run(n: int) -> None:
        msg = install_req(n)
        ours = exi.encode("iso2", msg)
        assert ours.hex() == oracle.encode("iso2", msg).hex()
        assert oracle.decode("iso2", ours) == msg
        assert exi.decode("iso2", ours) == msg

    run()


def test_message_changed_while_encoding() -> None:
    """The encoder holds a reference to every value it is reading: an int subclass whose ``__str__`` (called
    to convert a wide integer, the last value of the message) empties the message while it is being encoded
    neither crashes the encoder nor changes the bytes it writes."""
    msg = install_req(2**160)
    expected = exi.encode("iso2", msg)
    body = msg["V2G_Message"]["Body"]["CertificateInstallationReq"]

    class Mutating(int):
        def __str__(self) -> str:
            roots = body["ListOfRootCertificateIDs"]["RootCertificateID"]
            roots[0].clear()
            roots.clear()
            body.clear()
            msg["V2G_Message"].clear()
            return int.__str__(self)

    msg = install_req(2**160)
    body = msg["V2G_Message"]["Body"]["CertificateInstallationReq"]
    body["ListOfRootCertificateIDs"]["RootCertificateID"][0]["X509SerialNumber"] = Mutating(2**160)
    assert exi.encode("iso2", msg) == expected
    assert msg["V2G_Message"] == {}
