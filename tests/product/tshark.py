"""Test support: read capture files with tshark (Wireshark's CLI) as rows of fields."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt-get install tshark)")


def fields(path: Path, names: list[str], display_filter: str = "") -> list[list[str]]:
    """One row per packet with the named fields (empty string when absent), checksums validated."""
    assert TSHARK is not None
    cmd = [
        TSHARK,
        "-n",
        "-r",
        str(path),
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=f",
    ]
    if display_filter:
        cmd += ["-Y", display_filter]
    for n in names:
        cmd += ["-e", n]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    return [row + [""] * (len(names) - len(row)) for row in rows]
