"""The JSON stand-in codec used by the byte-path tests (see :class:`josev.secc.codec.JsonDebugCodec`)."""

from __future__ import annotations

from josev.secc.codec import JsonDebugCodec as JsonCodec

__all__ = ["JsonCodec"]
