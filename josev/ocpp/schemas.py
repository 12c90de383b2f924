"""Payload validation against the official OCPP 2.0.1 JSON schemas shipped by the ``ocpp`` package.

The schemas declare ``format: date-time`` which the library does not enforce; this module checks it (RFC 3339
with a time zone), and checks URI fields (firmware/log locations, CSMS URLs) that the schemas only type as
strings. Errors map to the OCPP-J error codes (part 4, 4.3).
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]

from josev.ocpp.rpc import RpcError

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

URI_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "UpdateFirmwareRequest": (("firmware", "location"),),
    "GetLogRequest": (("log", "remoteLocation"),),
    "SetNetworkProfileRequest": (("connectionData", "ocppCsmsUrl"),),
}
"""Fields that must hold an absolute URI, per message schema name."""


def is_date_time(value: object) -> bool:
    """True if ``value`` is an RFC 3339 date-time with an explicit offset."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_uri(value: object) -> bool:
    """True if ``value`` is an absolute URI with a scheme and a network location."""
    if not isinstance(value, str):
        return True
    if any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    scheme_ok = re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme) is not None
    return scheme_ok and bool(parts.netloc)


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("date-time")(is_date_time)


@functools.cache
def _validator(schema_name: str) -> jsonschema.protocols.Validator | None:
    try:
        text = resources.files("ocpp.v201.schemas").joinpath(f"{schema_name}.json").read_text("utf-8")
    except FileNotFoundError:
        return None
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft6Validator)
    return cls(schema, format_checker=_FORMATS)


def known_action(action: str) -> bool:
    """True if OCPP 2.0.1 defines ``action``."""
    return _validator(f"{action}Request") is not None


_CODE_BY_VALIDATOR = {
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "additionalProperties": "FormatViolation",
}


def validate(
    action: str, payload: dict[str, Any], kind: Literal["Request", "Response"], unique_id: str = "-1"
) -> None:
    """Validate ``payload`` of ``action``; raise :class:`RpcError` with the matching OCPP-J code."""
    name = f"{action}{kind}"
    validator = _validator(name)
    if validator is None:
        raise RpcError("NotImplemented", f"unknown action {action}", unique_id, action)
    error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
    if error is not None:
        code = _CODE_BY_VALIDATOR.get(str(error.validator), "PropertyConstraintViolation")
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        raise RpcError(code, f"{where}: {error.message}"[:255], unique_id, action)
    for path in URI_FIELDS.get(name, ()):
        node: Any = payload
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None and not is_uri(node):
            raise RpcError(
                "PropertyConstraintViolation", f"{'/'.join(path)}: not an absolute URI", unique_id, action
            )
