"""Logging set-up: levels per service, text or JSON lines, and no secret in any line.

Text lines are for a person (``josev.observability.oplog`` writes the operator's lines); JSON lines carry the
same message plus the structured fields of the record (``event``, ``evse``, ``energy_wh``...) as keys.

Every handler gets a :class:`Redactor`: HTTP ``Authorization`` headers (websockets logs the Basic-auth
header of the CSMS connection at DEBUG), PEM private keys, and the secrets registered with :func:`secret`
(the configured Basic-auth password, as text and as it appears base64-encoded in the header) are replaced by
``<redacted>`` in the message, in its arguments and in tracebacks, at every level.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

REDACTED = "<redacted>"
_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*['\"]?)(basic|bearer|digest)\s+[^\s'\",]+"),
    re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|$)", re.S),
    re.compile(r"(?i)((?:password|passphrase|secret)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
]
_SECRETS: set[str] = set()


def secret(value: str | None, identity: str | None = None) -> None:
    """Never log ``value`` (and, with ``identity``, its HTTP Basic ``identity:value`` base64 form)."""
    if not value:
        return
    _SECRETS.add(value)
    if identity is not None:
        _SECRETS.add(base64.b64encode(f"{identity}:{value}".encode()).decode())


_PASSWORD_VALUE = re.compile(r'(["\']attributeValue["\']\s*:\s*["\'])[^"\']*')


def redact(text: str) -> str:
    """``text`` with every known secret and secret-looking value replaced."""
    for s in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    if "BasicAuthPassword" in text:  # an OCPP frame setting the password (SetVariables)
        text = _PASSWORD_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    for i, pat in enumerate(_PATTERNS):
        text = pat.sub(REDACTED if i == 1 else (lambda m: m.group(1) + REDACTED), text)
    return text


class Redactor(logging.Filter):
    """Redacts secrets from each record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what is there
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, the record's structured fields (+ exc)."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for k, v in fields.items():
                obj.setdefault(k, v)
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            obj["exc"] = record.exc_text
        return json.dumps(obj, ensure_ascii=False, default=str)


def setup(
    level: str = "info",
    *,
    json_lines: bool = False,
    file: Path | None = None,
    per_service: Mapping[str, str] | None = None,
) -> None:
    """Configure the root logger; ``per_service`` maps a service name to its level (logger ``josev.<name>``)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    fmt: logging.Formatter = (
        JsonLines() if json_lines else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file))
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(Redactor())
        root.addHandler(h)
    root.setLevel(LEVELS[level])
    for service, lvl in (per_service or {}).items():
        logging.getLogger(f"josev.{service}").setLevel(LEVELS[lvl])
