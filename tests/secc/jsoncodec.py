"""The JSON stand-in codec used by the byte-path tests (see :class:`josev.v2g.codec.JsonDebugCodec`)."""

from __future__ import annotations

from josev.v2g.codec import JsonDebugCodec as JsonCodec

__all__ = ["JsonCodec"]
