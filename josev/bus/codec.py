"""Payload encoding on the bus: JSON (default) or CBOR, marked by the MQTT 5 content type."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import cbor2
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ValidationError

from josev.api.base import SCHEMA_VERSION
from josev.bus.settings import PayloadFormat

JSON = "application/json"
CBOR = "application/cbor"
CONTENT_TYPES: dict[PayloadFormat, str] = {"json": JSON, "cbor": CBOR}

T = TypeVar("T", bound=BaseModel)


class PayloadError(ValueError):
    """A payload that does not decode or does not validate against its model."""


_SHARED: dict[PayloadFormat, Properties] = {}


def shared_properties(fmt: PayloadFormat) -> Properties:
    """Read-only PUBLISH properties for ``fmt`` (built once; never mutate the result)."""
    props = _SHARED.get(fmt)
    if props is None:
        props = _SHARED[fmt] = properties(fmt)
    return props


def properties(fmt: PayloadFormat, packet: int = PacketTypes.PUBLISH) -> Properties:
    """New MQTT 5 properties marking the content type and the schema version."""
    props = Properties(packet)
    props.ContentType = CONTENT_TYPES[fmt]
    props.UserProperty = [("schema", str(SCHEMA_VERSION))]
    return props


def encode(msg: BaseModel, fmt: PayloadFormat) -> bytes:
    """Serialise a model."""
    if fmt == "cbor":
        return cbor2.dumps(msg.model_dump(mode="json"))
    return msg.model_dump_json().encode()


def _content_type(props: Properties | None) -> str:
    return getattr(props, "ContentType", None) or JSON if props is not None else JSON


def decode_any(payload: bytes | bytearray, props: Properties | None) -> Any:
    """Decode a payload to plain Python data according to its content type."""
    ctype = _content_type(props)
    try:
        if ctype == CBOR:
            return cbor2.loads(payload)
        if ctype == JSON:
            return json.loads(payload)
    except (ValueError, cbor2.CBORDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"undecodable {ctype} payload: {exc}") from exc
    raise PayloadError(f"unsupported content type {ctype!r}")


def decode(cls: type[T], payload: bytes | bytearray, props: Properties | None) -> T:
    """Decode and validate a payload into ``cls``."""
    try:
        if _content_type(props) == JSON:
            return cls.model_validate_json(payload)
        return cls.model_validate(decode_any(payload, props))
    except ValidationError as exc:
        raise PayloadError(f"invalid {cls.__name__}: {exc.error_count()} error(s): {_short(exc)}") from exc


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
