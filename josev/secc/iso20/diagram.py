"""The -20 state diagram (Mermaid) and table, generated from :data:`josev.secc.iso20.TABLE` for the docs.

``python -m josev.secc.iso20.diagram --update docs/iso20.md`` rewrites the block between
``<!-- BEGIN iso20-table -->`` and ``<!-- END iso20-table -->``; a test checks that the page is current.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

from josev.secc.iso20 import SPEC
from josev.secc.iso20.context import ENDED, Iso20Spec

MARK = re.compile(r"(<!-- BEGIN iso20-table -->\n).*?(<!-- END iso20-table -->)", re.S)


def mermaid(spec: Iso20Spec = SPEC) -> str:
    """A ``stateDiagram-v2``: one edge per (state, next state), labelled with the requests."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (state, req), nexts in spec.table.items():
        for nxt in sorted(nexts):
            edges[(state, nxt)].append(req.removesuffix("Req"))
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    for (a, b), reqs in edges.items():
        lines.append(f"    {a} --> {'[*]' if b == ENDED else b}: {', '.join(reqs)}")
    return "\n".join(lines)


def render(spec: Iso20Spec = SPEC) -> str:
    """The generated Markdown block: the diagram and the table."""
    rows = "\n".join(f"| {s} | {r} | {', '.join(sorted(n))} |" for (s, r), n in spec.table.items())
    return f"```mermaid\n{mermaid(spec)}\n```\n\n| state | request | next state(s) |\n|---|---|---|\n{rows}\n"


def update(text: str) -> str:
    """``text`` with the marked block regenerated."""
    m = MARK.search(text)
    if m is None:
        return text
    return text[: m.start()] + m.group(1) + render() + m.group(2) + text[m.end() :]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        p = Path(sys.argv[2])
        p.write_text(update(p.read_text()))
    else:
        print(render())
