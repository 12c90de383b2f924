"""Render the coordinator's state table into ``docs/coordinator.md`` (between marker comments).

``python -m josev.coordinator.docgen docs/coordinator.md`` rewrites the generated part (a test checks that the
page matches the code); ``python -m josev.coordinator.docgen`` prints it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from josev.coordinator.contactor import CTABLE
from josev.coordinator.dc import render_markdown as render_dc
from josev.coordinator.states import STATE_DOC, St
from josev.coordinator.status import detailed_status, ocpp_status
from josev.coordinator.table import render_markdown, render_mermaid

BEGIN = "<!-- generated:state-table:begin (python -m josev.coordinator.docgen docs/coordinator.md) -->"
END = "<!-- generated:state-table:end -->"


def render_section() -> str:
    """The generated part of the page."""
    parts = ["### State diagram", "", "```mermaid", render_mermaid().rstrip(), "```", ""]
    parts += [
        "### States and status",
        "",
        "| state | OCPP status | detailed status | meaning |",
        "|---|---|---|---|",
    ]
    for s in St:
        parts.append(f"| {s.name} | {ocpp_status(s)} | {detailed_status(s, False, False)} | {STATE_DOC[s]} |")
    parts += ["", "### Transition table", "", render_markdown().rstrip(), ""]
    parts += ["### Contactor supervision", "", "| state | input | next | fault |", "|---|---|---|---|"]
    for (cs, ci), (nxt, fault) in CTABLE.items():
        parts.append(f"| {cs.name} | {ci.name} | {nxt.name} | {fault or '-'} |")
    parts += ["", "### DC output (DC EVSEs)", "", render_dc().rstrip(), ""]
    parts.append(
        "Every other (phase, input) pair stays put; a request (CABLE_CHECK, PRECHARGE, POWER_ON) there is refused."
    )
    return "\n".join(parts) + "\n"


def splice(page: str) -> str:
    """``page`` with the generated part replaced."""
    head, sep, rest = page.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError("page lacks the generated-section markers")
    return f"{head}{BEGIN}\n\n{render_section()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    """Rewrite the page given as the only argument; without one, print the generated part (diagram, states,
    transition table, guards, contactor and DC tables) as Markdown on stdout."""
    if not argv:
        sys.stdout.write(render_section())
        return 0
    path = Path(argv[0])
    path.write_text(splice(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
