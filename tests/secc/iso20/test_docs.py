"""docs/iso20.md carries the current state diagram and table."""

from __future__ import annotations

from pathlib import Path

from josev.secc.diagram import mermaid, update
from josev.secc.iso20 import SPEC

DOC = Path(__file__).resolve().parents[3] / "docs" / "iso20.md"


def test_page_is_current() -> None:
    text = DOC.read_text()
    assert update(text) == text, "run: python -m josev.secc.diagram --update docs/iso20.md"
    assert "stateDiagram-v2" in text and "ChargeLoop --> Standby" in mermaid(SPEC)
