"""Logging set-up: levels per service, text or JSON lines."""

from __future__ import annotations

import json
import logging
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


class JsonLines(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg (+ exc)."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, ensure_ascii=False)


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
        root.addHandler(h)
    root.setLevel(LEVELS[level])
    for service, lvl in (per_service or {}).items():
        logging.getLogger(f"josev.{service}").setLevel(LEVELS[lvl])
