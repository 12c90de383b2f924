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
    edges = {(state, nxt) for (state, _req), nexts in SPEC.table.items() for nxt in nexts}
    assert out.count(" --> ") == len(edges) + 1  # one edge per (state, next state), plus the initial arrow
    for (state, req), nexts in SPEC.table.items():  # every request labels its edge
        for nxt in nexts:
            dst = "[*]" if nxt == "Ended" else nxt
            line = next(x for x in out.splitlines() if x.strip().startswith(f"{state} --> {dst}:"))
            assert req.removesuffix("Req") in line
