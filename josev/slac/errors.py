"""Typed errors of the SLAC stack.

Parsing errors derive from :class:`FrameError` (a :class:`RemoteProtocolError`: the peer sent it). The cores
never raise them out of ``receive``: they count the frame under :attr:`FrameError.counter` and drop it.
"""

from __future__ import annotations


class SlacError(Exception):
    """Base of every SLAC error."""


class LocalProtocolError(SlacError):
    """We were asked to do something the protocol does not allow (a bug on our side)."""


class RemoteProtocolError(SlacError):
    """The peer sent something the protocol does not allow."""


class FrameError(RemoteProtocolError):
    """A received frame could not be parsed."""

    counter = "malformed"
    """Name of the receive counter this error is counted under."""


class TruncatedFrame(FrameError):
    """The frame ends before a field the message requires."""

    counter = "truncated"


class NotHomePlug(FrameError):
    """The frame is not a HomePlug AV management message (wrong ethertype)."""

    counter = "not_homeplug"


class UnsupportedVersion(FrameError):
    """The management message version (MMV) is not one we speak."""

    counter = "malformed"


class UnknownMessageType(FrameError):
    """The MMTYPE is not one of the messages this codec knows."""

    counter = "unknown_mmtype"


class FragmentedFrame(FrameError):
    """The message is fragmented (FMI says more than one fragment); SLAC messages never are."""

    counter = "malformed"


class BadField(FrameError):
    """A field carries a value the message definition does not allow (wrong OUI, length field, ...)."""

    counter = "malformed"
