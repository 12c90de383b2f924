"""The coordinator page shows the state table the code has."""

from __future__ import annotations

from pathlib import Path

from josev.coordinator.docgen import splice
from josev.coordinator.states import In, St

PAGE = Path(__file__).resolve().parents[2] / "docs" / "coordinator.md"


def test_doc_matches_code() -> None:
    text = PAGE.read_text()
    assert splice(text) == text, "run: python -m josev.coordinator.docgen docs/coordinator.md"


def test_doc_mentions_every_state_and_input() -> None:
    text = PAGE.read_text()
    for s in St:
        assert f"| {s.name} |" in text
    for i in In:
        assert f"| {i.name} |" in text
