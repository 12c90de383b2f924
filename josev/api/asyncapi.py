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
            "bindings": {"mqtt": {"qos": 1, "retain": True}},
        },
        "ErrorReply": {
            "name": "ErrorReply",
            "summary": _doc(base.ErrorReply),
            "payload": ref(base.ErrorReply),
            "headers": {"type": "object", "properties": {"status": {"const": "error"}}},
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
        mqtt_binding: dict[str, Any] = {"qos": 1, "retain": cls.kind == "state"}
        message: dict[str, Any] = {
            "name": cls.__name__,
            "title": cls.__name__,
            "summary": _doc(cls),
            "contentType": "application/json",
            "payload": ref(cls),
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
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render_files() -> dict[str, str]:
    """Every generated file, relative path -> content."""
    doc = build()
    files = {"asyncapi.json": json.dumps(doc, indent=2, sort_keys=False) + "\n"}
    for cls in api_messages():
        schema = cls.model_json_schema()
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
