"""State diagrams (Mermaid) generated from the protocol tables (DIN SPEC 70121, ISO 15118-2, ISO 15118-20),
for the docs.

``python -m josev.secc.diagram --update docs/secc.md docs/iso20.md`` rewrites the blocks between the
``<!-- BEGIN <name>-table -->`` / ``<!-- END <name>-table -->`` markers (``din``, ``iso2``, ``iso20``) of each
page; a test checks the pages are current.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from josev.secc.machine import ENDED, ProtocolSpec


def mermaid(spec: ProtocolSpec[Any]) -> str:
    """A ``stateDiagram-v2`` of ``spec``: one edge per (state, next state), labelled with the requests."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (state, req), nexts in spec.table.items():
        for nxt in sorted(nexts):
            edges[(state, nxt)].append(req.removesuffix("Req"))
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    for (a, b), reqs in edges.items():
        dst = "[*]" if b == ENDED else b
        lines.append(f"    {a} --> {dst}: {', '.join(reqs)}")
    return "\n".join(lines)


def specs() -> dict[str, ProtocolSpec[Any]]:
    """The documented protocols."""
    from josev.secc import din, iso2, iso20

    return {"din": din.SPEC, "iso2": iso2.SPEC, "iso20": iso20.SPEC}


def render(name: str, spec: ProtocolSpec[Any]) -> str:
    """The generated Markdown block: the diagram and the table."""
    rows = "\n".join(f"| {s} | {r} | {', '.join(sorted(n))} |" for (s, r), n in spec.table.items())
    return f"```mermaid\n{mermaid(spec)}\n```\n\n| state | request | next state(s) |\n|---|---|---|\n{rows}\n"


def update(text: str) -> str:
    """``text`` with every marked block regenerated."""
    for name, spec in specs().items():
        pat = re.compile(rf"(<!-- BEGIN {name}-table -->\n).*?(<!-- END {name}-table -->)", re.S)
        m = pat.search(text)
        if m is not None:
            text = text[: m.start()] + m.group(1) + render(name, spec) + m.group(2) + text[m.end() :]
    return text


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--update":
        for arg in sys.argv[2:]:
            p = Path(arg)
            p.write_text(update(p.read_text()))
    else:
        for n, s in specs().items():
            print(render(n, s))
