"""All captured messages and all public vectors: decode to exactly EXIficient's JSON and re-encode to the
identical bytes; the BAD vectors are rejected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev import _exi, exi
from josev.exi.codec import JosevExiCodec
from tests.exi.helpers import FAMILY_SCHEMA, captured, needs_shared, public_vectors

CAPTURED = captured()
PUBLIC = public_vectors()


@needs_shared
def test_captured_count() -> None:
    assert len(CAPTURED) == 786
    assert {d["family"] for d in CAPTURED} == set(FAMILY_SCHEMA)


@needs_shared
@pytest.mark.parametrize(
    "vec", CAPTURED, ids=[f"{i}-{d['family']}-{d['message']}" for i, d in enumerate(CAPTURED)]
)
def test_captured_vector(vec: dict[str, Any]) -> None:
    schema = FAMILY_SCHEMA[vec["family"]]
    data = bytes.fromhex(vec["exi_hex"])
    assert exi.decode(schema, data) == vec["exificient_json"]
    assert exi.encode(schema, vec["exificient_json"]) == data


@needs_shared
@pytest.mark.parametrize("vec", [v for v in PUBLIC if v["decoded"] is not None], ids=lambda v: v["id"])
def test_public_vector(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["hex"])
    assert exi.decode(vec["schema"], data) == vec["decoded"]
    assert exi.encode(vec["schema"], vec["decoded"]) == data


@needs_shared
def test_public_vector_count() -> None:
    ids = {v["id"] for v in PUBLIC}
    assert len(PUBLIC) == 32
    assert {"BAD-1", "BAD-2", "I20-9", "I20-10"} <= ids


@needs_shared
@pytest.mark.parametrize("vec", [v for v in PUBLIC if v["decoded"] is None], ids=lambda v: v["id"])
def test_bad_vector_rejected(vec: dict[str, Any]) -> None:
    with pytest.raises(exi.ExiError) as ei:
        exi.decode(vec["schema"], bytes.fromhex(vec["hex"]))
    assert ei.value.bit > 8
    assert ei.value.expected


@needs_shared
def test_josev_codec_contract_on_captures() -> None:
    codec = JosevExiCodec()
    assert codec.get_version().startswith("josev-exi ")
    import json

    for vec in CAPTURED[:: max(1, len(CAPTURED) // 60)]:
        data = bytes.fromhex(vec["exi_hex"])
        text = codec.decode(data, vec["namespace"])
        assert json.loads(text) == vec["exificient_json"]
        assert codec.encode(text, vec["namespace"]) == data
        assert codec.encode(json.dumps(vec["exificient_json"]), vec["namespace"]) == data


@needs_shared
def test_wrong_schema_is_rejected_not_garbage() -> None:
    """Bytes of one family decoded with another grammar must fail rather than "succeed" into garbage
    wherever the grammar makes that detectable (unconsumed or invalid bits)."""
    rejected = 0
    total = 0
    for vec in CAPTURED:
        if vec["family"] not in ("ac", "cm"):
            continue
        other = "iso20-cm" if vec["family"] == "ac" else "iso20-ac"
        total += 1
        try:
            exi.decode(other, bytes.fromhex(vec["exi_hex"]))
        except exi.ExiError:
            rejected += 1
    assert total == 43
    assert rejected >= 40


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    schema=st.sampled_from(exi.SCHEMAS),
    pick=st.integers(0, 10_000),
    seed=st.integers(0, 2**63 - 1),
    size=st.integers(0, 4),
)
def test_round_trip_property(schema: str, pick: int, seed: int, size: int) -> None:
    """Any schema-valid message of any root element round-trips through dict, JSON text and fragment form."""
    roots = _exi.root_elements(schema)
    msg = _exi.random_message(schema, pick % len(roots), seed, size)
    if msg is None:
        return
    data = exi.encode(schema, msg)
    assert exi.decode(schema, data) == msg
    assert _exi.encode_json(schema, _exi.decode_json(schema, data)) == data
    assert exi.decode_fragment(schema, exi.encode_fragment(schema, msg)) == msg
