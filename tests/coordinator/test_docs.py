"""The coordinator page shows the state table the code has."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_docgen_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from josev.coordinator.docgen import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "stateDiagram-v2" in out
    assert "| HLC | HLC_FAILED | (v2g_retry ? HLC : (fallback ? EF_PAUSE : FINISHED)) | hlc_fail |" in out
