"""Generate the AsyncAPI 3.0 document of the bus (and one JSON Schema per message) from the models.

``josev api asyncapi --out docs/api`` writes ``asyncapi.json`` and ``schemas/<service>.<kind>.<name>.json``;
CI regenerates them and fails when the committed copies drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import josev
from josev.api import base, topics

REF = "#/components/schemas/{model}"
MQTT_BINDING_VERSION = "0.2.0"

FAULT_CODES = (
    "pilot_short", "pilot_fault", "diode_fault", "rcd_trip", "meter_lost", "lock_failed", "hal_safe_state",
    "contactor_welded", "contactor_failed_to_close", "contactor_dropped",
    "isolation_timeout", "isolation_fault", "over_voltage", "dc_voltage_persists",
)  # fmt: skip
"""Fault reasons the coordinator reports in ``EvseStatus.faults``; a HAL error adds ``hal_<code>``."""


def enumerations() -> dict[tuple[str, str], dict[str, Any]]:
    """(model, field) -> the JSON Schema that makes an open string field of the models an enumeration."""
    from josev.coordinator.states import St

    fault = {
        "anyOf": [
            {"type": "string", "enum": list(FAULT_CODES)},
            {"type": "string", "pattern": "^hal_[a-z0-9_]+$", "description": "A HAL error: hal_<code>."},
        ]
    }
    return {
        ("EvseStatus", "state"): {"type": "string", "enum": [s.value for s in St]},
        ("EvseStatus", "faults"): {"type": "array", "items": fault},
    }


def _enums(schema: dict[str, Any], model: str) -> None:
    """Apply :func:`enumerations` to the schema of ``model`` (in place, keeping title and description)."""
    for (m, field), enum in enumerations().items():
        prop = schema.get("properties", {}).get(field) if m == model else None
        if prop is not None:
            keep = {k: v for k, v in prop.items() if k in ("title", "description", "default")}
            prop.clear()
            prop.update(enum | keep)


def _headers(kind: str) -> dict[str, Any]:
    """The MQTT 5 user properties of a message, as AsyncAPI message headers."""
    props: dict[str, Any] = {
        "schema": {
            "type": "string",
            "const": str(base.SCHEMA_VERSION),
            "description": "User property: the payload schema version; other versions are refused.",
        }
    }
    if kind == "reply":
        props["status"] = {
            "type": "string",
            "enum": ["ok", "error"],
            "description": "User property: ok (the reply payload) or error (an ErrorReply payload).",
        }
    return {"type": "object", "properties": props, "required": sorted(props)}


def _operation_binding(kind: str, qos: int = 1) -> dict[str, Any]:
    """QoS and retain of the publishes of an operation (MQTT binding of the operation, not the message)."""
    return {
        "mqtt": {"qos": qos, "retain": kind in ("state", "status"), "bindingVersion": MQTT_BINDING_VERSION}
    }


def api_messages() -> list[type[base.Message]]:
    """The messages of the public API (those defined in ``josev.api`` modules)."""
    return [c for c in base.all_messages() if c.__module__.startswith("josev.api.")]


def _key(cls: type[base.Message]) -> str:
    return f"{cls.service}.{cls.kind}.{cls.name}"


def _doc(cls: type[BaseModel]) -> str:
    return " ".join((cls.__doc__ or "").split())


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a dict."""
    msgs = api_messages()
    models: list[type[BaseModel]] = [base.ServiceStatus, base.ErrorReply, *msgs]
    for cls in msgs:
        if issubclass(cls, base.Command):
            models.append(cls.reply)
    unique = list(dict.fromkeys(models))
    key_map, schema = models_json_schema([(m, "validation") for m in unique], ref_template=REF)
    schemas: dict[str, Any] = dict(sorted(schema.get("$defs", {}).items()))
    for name, sch in schemas.items():
        _enums(sch, name)

    def ref(model: type[BaseModel]) -> dict[str, str]:
        return dict(key_map[(model, "validation")])

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {
        "ServiceStatus": {
            "name": "ServiceStatus",
            "title": "Service liveness",
            "summary": _doc(base.ServiceStatus),
            "payload": ref(base.ServiceStatus),
            "headers": _headers("status"),
            "bindings": {"mqtt": {"payloadFormatIndicator": 1, "bindingVersion": MQTT_BINDING_VERSION}},
        },
        "ErrorReply": {
            "name": "ErrorReply",
            "summary": _doc(base.ErrorReply),
            "payload": ref(base.ErrorReply),
            "headers": _headers("reply")
            | {
                "properties": _headers("reply")["properties"]
                | {"status": {"type": "string", "const": "error"}}
            },
            "correlationId": {"location": "$message.header#/correlationData"},
        },
    }
    for svc in sorted({c.service for c in msgs} | {"system"}):
        channels[f"{svc}.status"] = {
            "address": topics.status_topic(svc),
            "summary": f"Retained liveness of the {svc} service (last will: stopped).",
            "messages": {"ServiceStatus": {"$ref": "#/components/messages/ServiceStatus"}},
        }
        operations[f"{svc}.status.send"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{svc}.status"},
            "summary": f"{svc} publishes its status.",
            "bindings": _operation_binding("status"),
        }
    for cls in msgs:
        key = _key(cls)
        scope = "{evse}" if cls.per_evse else topics.STATION_SCOPE
        address = f"{topics.ROOT}/{cls.service}/{scope}/{cls.kind}/{cls.name}"
        channel: dict[str, Any] = {
            "address": address,
            "title": cls.__name__,
            "summary": _doc(cls),
            "messages": {cls.__name__: {"$ref": f"#/components/messages/{key}"}},
        }
        if cls.per_evse:
            channel["parameters"] = {"evse": {"description": "EVSE scope: evse1, evse2, ..."}}
        channels[key] = channel
        mqtt_binding: dict[str, Any] = {"payloadFormatIndicator": 1, "bindingVersion": MQTT_BINDING_VERSION}
        if issubclass(cls, base.Command):
            mqtt_binding["correlationData"] = {"type": "string", "format": "binary"}
            mqtt_binding["responseTopic"] = {
                "type": "string",
                "description": "Where the reply goes: josev/v1/<caller>/reply/<id>.",
            }
        message: dict[str, Any] = {
            "name": cls.__name__,
            "title": cls.__name__,
            "summary": _doc(cls),
            "contentType": "application/json",
            "payload": ref(cls),
            "headers": _headers(cls.kind),
            "bindings": {"mqtt": mqtt_binding},
            "x-josev-kind": cls.kind,
            "x-josev-per-evse": cls.per_evse,
        }
        if issubclass(cls, base.Command):
            message["correlationId"] = {"location": "$message.header#/correlationData"}
            message["x-josev-callers"] = sorted(cls.callers)
            reply_key = f"{key}.reply"
            messages[reply_key] = {
                "name": cls.reply.__name__,
                "summary": _doc(cls.reply),
                "payload": ref(cls.reply),
                "headers": _headers("reply"),
                "correlationId": {"location": "$message.header#/correlationData"},
            }
            channels[reply_key] = {
                "address": None,
                "summary": (
                    f"Reply to {cls.__name__}, sent to the command's MQTT 5 response topic, which must be "
                    f"{topics.reply_topic('<caller>', '<client>', cls.service)} (only {cls.service} may write "
                    "it; other response topics get no reply)."
                ),
                "messages": {
                    cls.reply.__name__: {"$ref": f"#/components/messages/{reply_key}"},
                    "ErrorReply": {"$ref": "#/components/messages/ErrorReply"},
                },
            }
            operations[f"{key}.receive"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"{cls.service} executes {cls.__name__} (callers: {', '.join(sorted(cls.callers))}).",
                "bindings": _operation_binding(cls.kind),
                "reply": {
                    "address": {"location": "$message.header#/responseTopic"},
                    "channel": {"$ref": f"#/channels/{reply_key}"},
                },
            }
        else:
            operations[f"{key}.send"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"{cls.service} publishes {cls.__name__}.",
                "bindings": _operation_binding(cls.kind, cls.qos),
            }
        messages[key] = message
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "josev station bus",
            "version": f"{topics.VERSION} (schema {base.SCHEMA_VERSION})",
            "description": (
                "Typed messages between the services of a josev charging station over MQTT 5 on a local "
                "mosquitto. State messages are retained (last value wins); events are not; commands carry an "
                "MQTT 5 response topic and correlation data and are answered by exactly one reply or an "
                "ErrorReply (user property status=ok|error). Payloads are JSON, or CBOR when the content type "
                "says application/cbor. Every message carries the user property schema="
                f"{base.SCHEMA_VERSION}."
            ),
            "x-josev-version": josev.__version__.split("+")[0],
        },
        "defaultContentType": "application/json",
        "servers": {
            "station": {
                "host": "localhost:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": (
                    "The station's private mosquitto (localhost / unix socket, one user per service). Client "
                    "ids must start with 'josev-'; on this (services) listener the broker replaces them by the "
                    "user name. The tools listener (port + 1) serves the users cli and bench."
                ),
                "security": [{"$ref": "#/components/securitySchemes/userPassword"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "securitySchemes": {
                "userPassword": {
                    "type": "userPassword",
                    "description": (
                        "One MQTT user per service with its password in the broker's credentials file "
                        "(<broker directory>/credentials, written by `josev run` / `josev broker config`); "
                        "an ACL lets each user publish only its own topics and send only the commands it may "
                        "call (x-josev-callers). Anonymous access is refused."
                    ),
                }
            },
        },
    }


def render_files() -> dict[str, str]:
    """Every generated file, relative path -> content."""
    doc = build()
    files = {"asyncapi.json": json.dumps(doc, indent=2, sort_keys=False) + "\n"}
    for cls in api_messages():
        schema = cls.model_json_schema()
        _enums(schema, cls.__name__)
        schema["title"] = cls.__name__
        schema["x-josev-topic"] = f"{topics.ROOT}/{cls.service}/{{scope}}/{cls.kind}/{cls.name}"
        files[f"schemas/{_key(cls)}.json"] = json.dumps(schema, indent=2) + "\n"
    return files


def write(out: Path) -> list[Path]:
    """Write the generated files below ``out``; returns them."""
    written = []
    for rel, text in render_files().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    for stale in (out / "schemas").glob("*.json"):
        if stale not in written:
            stale.unlink()
    return written


def drift(out: Path) -> list[str]:
    """Files below ``out`` that differ from what the models generate (empty: up to date)."""
    problems = []
    expected = render_files()
    for rel, text in expected.items():
        path = out / rel
        if not path.exists():
            problems.append(f"missing {path}")
        elif path.read_text() != text:
            problems.append(f"outdated {path}")
    for path in sorted((out / "schemas").glob("*.json")):
        if f"schemas/{path.name}" not in expected:
            problems.append(f"stale {path}")
    return problems
