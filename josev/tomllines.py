"""Where each key of a TOML document is: the line of every table header and ``key = value``.

``tomllib`` gives values without positions; configuration errors must name the line of the offending key.
:func:`key_lines` scans the text once and maps each key path, with array-of-tables indices as ``tomllib``
returns them (``("evse", 1, "phases")``), to its 1-based line. :func:`line_of` finds the line of a path, or of
its nearest ancestor that is written in the file (a missing key is reported at its table's header).
Multi-line strings and arrays are skipped; keys inside inline tables map to the inline table's line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path_ = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_key(text: str) -> tuple[list[str], str] | None:
    """Parse a (dotted, possibly quoted) key at the start of ``text``: (parts, rest after the key)."""
    parts: list[str] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        if text[i] in "\"'":
            q = text[i]
            j = text.find(q, i + 1)
            if j < 0:
                return None
            parts.append(text[i + 1 : j])
            i = j + 1
        else:
            m = _BARE.match(text, i)
            if not m:
                return None
            parts.append(m.group(0))
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        return parts, text[i:]


def _value_state(value: str, depth: int, triple: str | None) -> tuple[int, str | None]:
    """Track open brackets and multi-line strings across the value's text (comments stripped)."""
    i = 0
    n = len(value)
    while i < n:
        if triple:
            j = value.find(triple, i)
            if j < 0:
                return depth, triple
            i = j + 3
            triple = None
            continue
        c = value[i]
        if value.startswith('"""', i) or value.startswith("'''", i):
            triple = value[i : i + 3]
            i += 3
            continue
        if c in "\"'":
            j = i + 1
            while j < n and value[j] != c:
                j += 2 if (c == '"' and value[j] == "\\") else 1
            i = j + 1
            continue
        if c == "#":
            return depth, None
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth, triple


def key_lines(text: str) -> dict[Path_, int]:
    """Line (1-based) of every table header and key in ``text``."""
    out: dict[Path_, int] = {}
    counts: dict[Path_, int] = {}  # resolved path of an array of tables -> number of its tables so far
    table: Path_ = ()
    depth = 0
    triple: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if depth > 0 or triple:
            depth, triple = _value_state(raw, depth, triple)
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            is_array = line.startswith("[[")
            inner = line[2:] if is_array else line[1:]
            parsed = _split_key(inner)
            if parsed is None:
                continue
            parts = parsed[0]
            resolved: list[str | int] = []
            for k, part in enumerate(parts):
                resolved.append(part)
                key = tuple(resolved)
                last = k == len(parts) - 1
                if last and is_array:
                    counts[key] = counts.get(key, 0) + 1
                    out.setdefault(key, lineno)
                    resolved.append(counts[key] - 1)
                elif key in counts:
                    resolved.append(counts[key] - 1)
            table = tuple(resolved)
            out.setdefault(table, lineno)
            continue
        parsed = _split_key(line)
        if parsed is None:
            continue
        parts, rest = parsed
        if not rest.startswith("="):
            continue
        path = table
        for part in parts:
            path = (*path, part)
            out.setdefault(path, lineno)
        depth, triple = _value_state(rest[1:], 0, None)
    return out


def line_of(lines: dict[Path_, int], path: Sequence[str | int]) -> int | None:
    """The line of ``path``, else of its nearest ancestor found in the file (None: nowhere, e.g. defaults)."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None
