"""The SECC page's state diagrams and tables are generated from the code and must be current."""

from __future__ import annotations

from pathlib import Path

from josev.secc.diagram import mermaid, update
from josev.secc.iso2 import SPEC

DOC = Path(__file__).resolve().parents[2] / "docs" / "secc.md"


def test_secc_page_is_current() -> None:
    text = DOC.read_text()
    assert update(text) == text, "run: python -m josev.secc.diagram --update docs/secc.md"


def test_mermaid_has_every_transition() -> None:
    out = mermaid(SPEC)
    n = sum(len(v) for v in SPEC.table.values())
    assert out.count(" --> ") == n + 1
