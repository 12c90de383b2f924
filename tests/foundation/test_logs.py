"""Logging set-up: JSON lines, per-service levels, a log file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from josev import logs


def test_json_lines_and_per_service_levels(tmp_path: Path) -> None:
    f = tmp_path / "josev.log"
    try:
        logs.setup("warning", json_lines=True, file=f, per_service={"ocpp": "debug"})
        logging.getLogger("josev.ocpp.tx").debug("queued %d", 3)
        logging.getLogger("josev.hal").info("hidden")
        logging.getLogger("josev.hal").error("shown")
        try:
            raise ValueError("bad")
        except ValueError:
            logging.getLogger("josev.secc").exception("failed")
        for h in logging.getLogger().handlers:
            h.flush()
        records = [json.loads(line) for line in f.read_text().splitlines()]
        assert [(r["logger"], r["level"], r["msg"]) for r in records] == [
            ("josev.ocpp.tx", "debug", "queued 3"),
            ("josev.hal", "error", "shown"),
            ("josev.secc", "error", "failed"),
        ]
        assert "ValueError: bad" in records[2]["exc"]
    finally:
        logging.getLogger("josev.ocpp").setLevel(logging.NOTSET)
        logs.setup("warning")
