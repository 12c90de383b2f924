"""Drop-in replacement for the EXIficient jar of the open-source Josev stack (its ``IEXICodec`` contract)."""

from __future__ import annotations

from josev import _exi
from josev.exi import ExiError, schema_for_namespace


class JosevExiCodec:
    """Implements ``encode(json_str, namespace) -> bytes``, ``decode(bytes, namespace) -> json_str`` and
    ``get_version()`` like ``ExificientEXICodec`` does, with the same JSON dialect.

    The namespace selects the schema: ``urn:iso:15118:2:2010:AppProtocol``, ``urn:din:70121:2012:MsgDef``,
    ``urn:iso:15118:2:2013:MsgDef`` or ``urn:iso:std:iso:15118:-20:<CommonMessages|AC|DC|WPT|ACDP>``.
    Errors raise :class:`josev.exi.ExiError` (a ``ValueError``).
    """

    def encode(self, message: str, namespace: str) -> bytes:
        """Encode a JSON message to EXI."""
        return _exi.encode_json(schema_for_namespace(namespace), message)

    def decode(self, stream: bytes, namespace: str) -> str:
        """Decode an EXI stream to a JSON message."""
        return _exi.decode_json(schema_for_namespace(namespace), bytes(stream))

    def get_version(self) -> str:
        """Version of the codec."""
        return f"josev-exi {_exi.version()}"


__all__ = ["ExiError", "JosevExiCodec"]
