"""The Schema-informed Element Fragment grammar (EXI 1.0 section 8.5.3): an element whose qname the schema
declares several times with different types, encoded as a fragment. In ISO 15118-2 that is `eMAID` (the
signed EMAIDType of CertificateInstallationRes/CertificateUpdateRes, the plain eMAIDType elsewhere), the one
element of those responses that the provisioning service signs besides the three unambiguous ones. The bytes
must equal EXIficient's, or a signature made by one implementation does not verify in the other."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev import _exi, exi
from tests.exi.helpers import needs_oracle
from tests.exi.oracle import Oracle

#: EXIficient 1.55 (the jar of PyPI iso15118) for {"eMAID": {"Id": "id1", "value": "DEJSVC000000001"}}:
#: SE(eMAID) 236/8 bits; ElementFragment_0: AT({MsgDataTypes}Id) 4/9 bits "id1"; CH[untyped] 256/9 bits
#: "DEJSVC000000001"; ElementFragment_1: EE 244/8 bits; FragmentContent: ED 244/8 bits.
EMAID_EXIFICIENT = bytes.fromhex("80ec0202b4b218c00451115294d590cc0c0c0c0c0c0c0c0c7d3d00")
EMAID = {"eMAID": {"Id": "id1", "value": "DEJSVC000000001"}}


def test_emaid_fragment_bytes_and_back() -> None:
    assert exi.encode_fragment("iso2", EMAID) == EMAID_EXIFICIENT
    assert exi.decode_fragment("iso2", EMAID_EXIFICIENT) == EMAID


def test_emaid_fragment_forms_and_errors() -> None:
    # the text alone (no Id): CH then EE; the same text as a map decodes as a map
    bare = exi.encode_fragment("iso2", {"eMAID": "DEJSVC000000001"})
    assert exi.decode_fragment("iso2", bare) == {"eMAID": {"value": "DEJSVC000000001"}}
    assert exi.encode_fragment("iso2", {"eMAID": {"value": "DEJSVC000000001"}}) == bare
    # empty content: EE straight after the attributes
    empty = exi.encode_fragment("iso2", {"eMAID": {"Id": "id1"}})
    assert exi.decode_fragment("iso2", empty) == {"eMAID": {"Id": "id1"}}
    # the eMAID next to other signed elements in one fragment
    two = {"eMAID": {"Id": "id1", "value": "DEJSVC000000001"}, "DHpublickey": {"Id": "id2", "value": "AAAA"}}
    assert exi.decode_fragment("iso2", exi.encode_fragment("iso2", two)) == two
    with pytest.raises(exi.ExiError, match="not an attribute of the schema"):
        exi.encode_fragment("iso2", {"eMAID": {"Id": "id1", "GenChallenge": "AAAA", "value": "DE1"}})
    with pytest.raises(exi.ExiError, match="expected a string"):
        exi.encode_fragment("iso2", {"eMAID": {"Id": "id1", "value": 7}})
    # a child element inside eMAID (ElementFragment_0 code of SE(F_0)) is refused with its code
    bad = bytearray(EMAID_EXIFICIENT)
    bad[2] = 0x05  # AT code 4 -> 10 (SE(F_0) after AT(A_0..A_9) and AT(*))
    with pytest.raises(exi.ExiError, match="element fragment grammar"):
        exi.decode_fragment("iso2", bytes(bad))


EMAID_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-", min_size=14, max_size=15)
ID_TEXT = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,12}\Z")


@needs_oracle
@pytest.mark.interop
def test_emaid_fragment_against_exificient(oracle: Oracle) -> None:
    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(ident=ID_TEXT, value=EMAID_TEXT)
    def run(ident: str, value: str) -> None:
        msg = {"eMAID": {"Id": ident, "value": value}}
        ours = exi.encode_fragment("iso2", msg)
        theirs = oracle.encode("iso2", msg)
        assert ours.hex() == theirs.hex()
        assert exi.decode_fragment("iso2", theirs) == msg
        # plain EXIficient on the XML text of the same element (our XML rendering: qualified Id) agrees
        assert oracle.encode_xml("iso2", _exi.to_xml("iso2", msg, True), True).hex() == ours.hex()

    run()
