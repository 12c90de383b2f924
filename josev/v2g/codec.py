"""The codec seam: the session cores work on message dicts in the EXIficient JSON dialect; a :class:`Codec`
turns them into EXI bytes and back. :class:`ExiCodec` adapts the native ``josev.exi`` codec."""

from __future__ import annotations

from typing import Any, Protocol


class CodecError(ValueError):
    """Bytes that do not decode, or a dict that does not encode."""


class Codec(Protocol):
    """encode/decode between message dicts and EXI bytes for a named schema (sap, din, iso2, ...)."""

    def encode(self, schema: str, msg: dict[str, Any]) -> bytes:
        """Encode ``msg`` with the grammar of ``schema``."""
        ...

    def decode(self, schema: str, data: bytes) -> dict[str, Any]:
        """Decode ``data`` with the grammar of ``schema``."""
        ...


class ExiCodec:
    """The real EXI codec (``josev.exi``); any failure becomes :class:`CodecError`."""

    def __init__(self) -> None:
        import importlib

        # imported lazily: the native module may be missing on a fresh clone
        self._exi: Any = importlib.import_module("josev.exi")

    def encode(self, schema: str, msg: dict[str, Any]) -> bytes:
        """Encode with josev.exi."""
        try:
            return bytes(self._exi.encode(schema, msg))
        except Exception as e:  # the native codec raises its own types
            raise CodecError(f"encode {schema}: {e}") from e

    def decode(self, schema: str, data: bytes) -> dict[str, Any]:
        """Decode with josev.exi."""
        try:
            out = self._exi.decode(schema, data)
        except Exception as e:
            raise CodecError(f"decode {schema}: {e}") from e
        if not isinstance(out, dict):
            raise CodecError(f"decode {schema}: not an object")
        return out


def exi_available() -> str | None:
    """``None`` when the real codec works, else the reason it does not (for skip messages)."""
    try:
        c = ExiCodec()
        c.decode("sap", bytes.fromhex("80400040"))
    except Exception as e:
        return f"josev.exi not usable yet: {e}"
    return None


class JsonDebugCodec:
    """A debugging/testing stand-in for the EXI codec: ``schema:`` + JSON of the dict. Never for vehicles;
    it lets the shells and the simulator be exercised end to end while the EXI codec is unavailable."""

    def encode(self, schema: str, msg: dict[str, Any]) -> bytes:
        """``schema:`` followed by compact JSON."""
        import json

        return schema.encode() + b":" + json.dumps(msg, separators=(",", ":")).encode()

    def decode(self, schema: str, data: bytes) -> dict[str, Any]:
        """Check the schema tag and parse the JSON object."""
        import json

        tag, sep, rest = data.partition(b":")
        if not sep or tag.decode(errors="replace") != schema:
            raise CodecError(f"not a {schema} message")
        try:
            out = json.loads(rest)
        except (ValueError, UnicodeDecodeError) as e:
            raise CodecError(str(e)) from e
        if not isinstance(out, dict):
            raise CodecError("not an object")
        return out


def make_codec(name: str) -> Codec:
    """``exi`` (the real codec) or ``json`` (:class:`JsonDebugCodec`)."""
    if name == "exi":
        return ExiCodec()
    if name == "json":
        return JsonDebugCodec()
    raise ValueError(f"unknown codec {name!r} (exi or json)")
