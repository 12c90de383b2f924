"""Schema-informed EXI codec for supportedAppProtocol, DIN 70121, ISO 15118-2 and ISO 15118-20.

Typed wrapper over the native module ``josev._exi`` (Rust crate ``exi-codec``). Messages are plain dicts in
the JSON dialect that the open-source Josev stack uses with EXIficient: element and attribute names as keys,
lists for repeated elements, hexBinary as upper-case hex, base64Binary as base64, integers as ints, booleans
as bools; an element with attributes and simple content carries its text under ``"value"``.

>>> res = {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}
>>> data = encode("sap", {"supportedAppProtocolRes": res})
>>> data.hex()
'80400040'
>>> decode("sap", data)["supportedAppProtocolRes"]["SchemaID"]
1
"""

from __future__ import annotations

from typing import Final, Literal

from josev import _exi

__all__ = [
    "NAMESPACES",
    "SCHEMAS",
    "ExiError",
    "SchemaName",
    "decode",
    "decode_fragment",
    "encode",
    "encode_fragment",
    "schema_for_namespace",
    "version",
]

SchemaName = Literal[
    "sap", "din", "iso2", "iso20-cm", "iso20-ac", "iso20-dc", "iso20-wpt", "iso20-acdp", "xmldsig"
]

#: Schema name -> namespace of its message set.
NAMESPACES: Final[dict[str, str]] = dict(_exi.schemas())
#: The schema names, in a stable order.
SCHEMAS: Final[tuple[str, ...]] = tuple(NAMESPACES)


class ExiError(ValueError):
    """An EXI stream or message that the schema does not allow.

    ``bit`` is the bit position in the stream (for encoding: the bits written so far), ``expected`` says what
    the grammar or facet allowed at that point.
    """

    def __init__(self, message: str, bit: int = 0, expected: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.bit = bit
        self.expected = expected


def schema_for_namespace(namespace: str) -> str:
    """Schema name (``din``, ``iso2``, ...) of a message-set namespace; ``ValueError`` if unknown."""
    for name, ns in NAMESPACES.items():
        if ns == namespace or name == namespace:
            return name
    raise ValueError(f"no EXI schema for namespace {namespace!r}")


# The codec raises ExiError itself, so the functions are the native ones (no Python frame per call).
_exi.set_error_type(ExiError)

#: Decode one EXI document (``data`` starts with the 0x80 header byte) into a dict.
decode = _exi.decode
#: Encode a message dict (one root element) into an EXI document.
encode = _exi.encode
#: Decode an EXI fragment (the form Plug & Charge signs) into a dict of its elements.
decode_fragment = _exi.decode_fragment
#: Encode elements (e.g. ``{"SignedInfo": {...}}`` or a signed body) as an EXI fragment.
encode_fragment = _exi.encode_fragment


def version() -> str:
    """Version of the native codec."""
    return _exi.version()
