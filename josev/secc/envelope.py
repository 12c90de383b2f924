"""The ``V2G_Message`` envelope of DIN SPEC 70121 and ISO 15118-2 as data of the one engine's
:class:`~josev.secc.machine.ProtocolSpec`: how a request is split (Header with the SessionID, one Body element),
how a response is wrapped, the per-connection :class:`~josev.secc.machine.Context`, schema and payload type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from josev.secc.evse import EvseView
from josev.secc.machine import Context, EngineSetup, Handler, MalformedMessage, ProtocolSpec, Split
from josev.v2g.v2gtp import PayloadType


def split_message(msg: Any) -> Split:
    """Split a ``V2G_Message`` dict (DIN, ISO 15118-2) or raise :class:`MalformedMessage`."""
    if not isinstance(msg, dict) or not isinstance(msg.get("V2G_Message"), dict):
        raise MalformedMessage("not a V2G_Message")
    v2g = msg["V2G_Message"]
    header, body = v2g.get("Header"), v2g.get("Body")
    if not isinstance(header, dict) or not isinstance(header.get("SessionID"), str):
        raise MalformedMessage("missing Header/SessionID")
    if not isinstance(body, dict) or len(body) != 1:
        raise MalformedMessage("Body must hold exactly one message")
    name, content = next(iter(body.items()))
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise MalformedMessage(f"{name} is not an object")
    return header["SessionID"].upper(), name, content, header


def v2g_wrapper(zero_sid: str) -> Callable[[Context, str, dict[str, Any], float], dict[str, Any]]:
    """The response wrapper of DIN / ISO 15118-2: a ``V2G_Message`` with the SessionID (``zero_sid`` before
    one is assigned) and a relayed Signature, if any."""

    def wrap(ctx: Context, name: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        header: dict[str, Any] = {"SessionID": ctx.session_id or zero_sid}
        if ctx.response_signature is not None:
            header["Signature"] = ctx.response_signature
            ctx.response_signature = None
        return {"V2G_Message": {"Header": header, "Body": {name: body}}}

    return wrap


def v2g_context(setup: EngineSetup) -> Context:
    """The per-connection context of DIN / ISO 15118-2."""
    evse: EvseView = setup.evse
    ctx = Context(setup.protocol, evse, setup.timers, setup.store, setup.new_session_id, tls=setup.tls)
    ctx.limits_version_seen = evse.limits_version
    ctx.schedule_version_seen = evse.schedule_version
    ctx.schedule_id = evse.schedule_tuple_id
    return ctx


def v2g_spec(
    name: str,
    states: tuple[str, ...],
    table: Mapping[tuple[str, str], frozenset[str]],
    handlers: Mapping[str, Handler],
    *,
    zero_sid: str,
    contactor_failed: str = "FAILED_ContactorError",
) -> ProtocolSpec[Context]:
    """The spec of a ``V2G_Message`` protocol (DIN, ISO 15118-2): schema = ``name``, payload type 0x8001."""
    return ProtocolSpec(
        name,
        name,
        states,
        "SessionSetup",
        table,
        handlers,
        v2g_context,
        split=split_message,
        wrap=v2g_wrapper(zero_sid),
        payload_schemas={PayloadType.EXI: name},
        contactor_failed=contactor_failed,
    )
